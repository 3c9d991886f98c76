"""Tool search with progressive disclosure: ``search_tools(query, detail_level, limit)``.

Three detail levels, as in the seed:

- ``"name_only"``: ``["github.create_issue", ...]`` (server and tool identifier; tiny);
- ``"with_description"``: name, server, a one-line description and the import line;
- ``"full"``: also the title, the whole description, input/output schemas, annotations and the generated signature.

Ranking is lexical by default (BM25F over tool names split on snake/camel/kebab case, titles, descriptions,
parameter names and the server name, with light stemming and curated synonyms; no model, no download). Pass any
embedding function as ``embedder`` to fuse a semantic ranking with the lexical one (a weighted sum of scores).
The same index works on the host, offline from a catalog snapshot, and behind the sandbox's guest proxy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from mcpexec.catalog import Catalog, ToolSpec
from mcpexec.codegen import server_modules
from mcpexec.codegen._render import render_tool
from mcpexec.errors import UsageError
from mcpexec.search._bm25 import BM25FIndex, FieldSpec
from mcpexec.search._embed import EmbeddingRanker, rescaled
from mcpexec.search._entries import entry_metadata, entry_text
from mcpexec.search._text import (
    analyze,
    argument_values,
    expand,
    negated,
    plain_words,
    split_words,
    stem,
    without_negated,
)

__all__ = ["DetailLevel", "ServerSummary", "ToolIndex", "DETAIL_LEVELS", "MAX_LIMIT", "entry_metadata", "entry_text"]

DetailLevel = Literal["name_only", "with_description", "full"]
DETAIL_LEVELS: tuple[str, ...] = get_args(DetailLevel)
MAX_LIMIT = 200
COORDINATION = 0.5
VALUE_KIND_WEIGHT = 0.8  # the query weight of words naming a value's kind (a URL: url, link)
NAME_BONUS = 0.5  # a tool whose whole name the request spells out (``get issue`` for get_issue) scores x1.5
FUSION_DEPTH = 100

FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec(weight=3.0, b=0.3),
    "server": FieldSpec(weight=1.5, b=0.0),
    "title": FieldSpec(weight=1.5, b=0.3),
    "lead": FieldSpec(weight=1.2, b=0.5),  # the description's first sentence
    "description": FieldSpec(weight=1.0, b=0.75),
    "parameters": FieldSpec(weight=0.4, b=0.75),
}


@dataclass(frozen=True, slots=True)
class ServerSummary:
    """A server for browsing: its package name, tool count and a few example tools."""

    server: str
    module: str
    tools: int
    examples: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"server": self.server, "module": self.module, "tools": self.tools, "examples": list(self.examples)}


def _lead(description: str) -> str:
    text = description.strip()
    for stop in (". ", ".\n", "\n\n"):
        cut = text.find(stop)
        if cut != -1:
            text = text[: cut + 1]
    return text[:300]


def _one_line(tool: ToolSpec) -> str:
    text = _lead(tool.description) or (tool.title or "")
    line = " ".join(text.split())
    return line if len(line) <= 160 else line[:159] + "…"


def _parameter_pieces(tool: ToolSpec) -> list[str]:
    """One text per parameter: its name and the start of its description."""
    properties: object = tool.input_schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    pieces: list[str] = []
    for key, value in cast(Mapping[str, object], properties).items():
        description = cast(Mapping[str, object], value).get("description") if isinstance(value, Mapping) else None
        pieces.append(f"{key} {description[:200]}" if isinstance(description, str) else str(key))
    return pieces


def _document(
    tool: ToolSpec, name: list[str], vocabulary: Mapping[str, int], pieces: dict[str, list[str]]
) -> dict[str, list[str]]:
    """The fields of one tool (``name``: its analyzed name). ``pieces`` caches analyzed parameter texts,
    which real catalogs repeat across hundreds of tools (the same ``tenant`` parameter on every tool of a server)."""
    parameters: list[str] = []
    for piece in _parameter_pieces(tool):
        analyzed = pieces.get(piece)
        if analyzed is None:
            analyzed = pieces[piece] = analyze(piece)
        parameters += analyzed
    return {
        "name": name + _compound_parts(tool.name, vocabulary),
        "server": analyze(tool.server),
        "title": analyze(tool.title or ""),
        "lead": analyze(_lead(tool.description)),
        "description": analyze(tool.description),
        "parameters": parameters,
    }


def _vocabulary(tools: list[ToolSpec]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tool in tools:
        for word in split_words(f"{tool.name} {tool.title or ''} {_lead(tool.description)}"):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _compound_parts(name: str, vocabulary: Mapping[str, int]) -> list[str]:
    """Index terms for glued words in a tool name (``activitylog`` → activity, log; ``webapp`` → web, app): a
    word splits where both parts are words the catalog uses on their own."""
    parts: list[str] = []
    for word in split_words(name):
        if len(word) < 6 or word.isdigit():
            continue
        best: tuple[int, str, str] | None = None
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            if vocabulary.get(head, 0) >= 2 and vocabulary.get(tail, 0) >= 2:
                shortest = min(len(head), len(tail))
                if best is None or shortest > best[0]:
                    best = (shortest, head, tail)
        if best is not None:
            parts += analyze(f"{best[1]} {best[2]}")
    return parts


def _embedding_text(tool: ToolSpec) -> str:
    name = " ".join(split_words(tool.name))
    return f"{tool.server}: {name}. {tool.title or ''} {tool.description[:500]}".strip()


def _server_cues(catalog: Catalog) -> dict[str, set[str]]:
    """Words that name each server in a request: its own name's words, and words that many of its tool names
    share but other servers' tool names seldom use (``jira``/``confluence`` for an Atlassian server, ``browser``
    for Playwright, ``kubectl`` for Kubernetes) - learned from the catalog, not listed by hand."""
    cues: dict[str, set[str]] = {server: set(split_words(server)) for server in catalog.servers}
    per_server: dict[str, dict[str, int]] = {}
    everywhere: dict[str, int] = {}
    for server in catalog.servers:
        counts = per_server.setdefault(server, {})
        for tool in catalog.tools(server):
            for word in set(split_words(tool.name)):
                counts[word] = counts.get(word, 0) + 1
                everywhere[word] = everywhere.get(word, 0) + 1
    total = len(catalog)
    for server, counts in per_server.items():
        size = len(catalog.tools(server))
        for word, count in counts.items():
            elsewhere = everywhere[word] - count
            if len(word) >= 3 and count >= max(3, 0.3 * size) and elsewhere <= 0.002 * total:
                cues[server].add(word)
    return cues


def _mentioned_servers(cues: Mapping[str, set[str]], words: list[str]) -> set[str]:
    """Servers a request names: a cue word, or a word of 4+ letters that starts one (``mongo`` for mongodb)."""
    mentioned: set[str] = set()
    for server, server_cues in cues.items():
        for word in words:
            if word in server_cues or (len(word) >= 4 and any(c.startswith(word) for c in server_cues)):
                mentioned.add(server)
                break
    return mentioned


def _check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def _check_offset(offset: object) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise UsageError(f"offset must be a non-negative integer, got {offset!r}")
    return offset


def _check_query(query: object) -> str:
    if not isinstance(query, str):
        raise UsageError(f"query must be a string, got {type(query).__name__}")
    return query


class ToolIndex:
    """A search index over a :class:`~mcpexec.catalog.Catalog` (build once; rebuild when the catalog changes)."""

    def __init__(self, catalog: Catalog, *, embedder: object | None = None, embedding_weight: float = 1.0) -> None:
        """``embedder``: optional embedding function (see :mod:`mcpexec.search._embed`), fused with BM25F by a
        weighted sum of both scores, each scaled to at most 1, the semantic one weighing ``embedding_weight``."""
        self.catalog = catalog
        self._tools: list[ToolSpec] = list(catalog)
        self._modules = server_modules(catalog)
        vocabulary = _vocabulary(self._tools)
        pieces: dict[str, list[str]] = {}
        names = [analyze(t.name) for t in self._tools]
        self._name_terms = [frozenset(name) for name in names]
        documents = [_document(t, name, vocabulary, pieces) for t, name in zip(self._tools, names, strict=True)]
        self._lexical = BM25FIndex(documents, FIELDS)
        self._server_cues = _server_cues(catalog)
        self._embedding = (
            EmbeddingRanker(embedder, [_embedding_text(t) for t in self._tools]) if embedder is not None else None
        )
        self._embedding_weight = embedding_weight
        self._signatures: dict[tuple[str, str], str] = {}

    # -- ranking -----------------------------------------------------------------------------------------------

    def rank(self, query: str, *, server: str | None = None) -> list[tuple[ToolSpec, float]]:
        """Every matching tool with its score, best first (ties broken by server order and name)."""
        candidates = self._candidate_ids(server)
        words, kinds = argument_values(query)
        terms = analyze(words) or analyze(query)
        # a server the request rules out ("..., not the one on GitHub") is demoted, and its name is no search word
        ruled_out = _mentioned_servers(self._server_cues, plain_words(negated(query)))
        if ruled_out:
            cue_terms = {stem(w) for s in ruled_out for w in self._server_cues[s]}
            terms = [t for t in terms if t not in cue_terms] or terms
        if not terms and self._embedding is None:
            return []
        weights = expand(terms)
        for kind in kinds:
            weights.setdefault(kind, VALUE_KIND_WEIGHT)
        lexical = self._lexical.scores(weights, coordination=COORDINATION) if terms else {}
        mentioned = _mentioned_servers(self._server_cues, plain_words(without_negated(query))) - ruled_out
        asked = set(terms)
        lexical = {i: s * self._boost(i, asked, mentioned, ruled_out) for i, s in lexical.items() if i in candidates}
        if self._embedding is None:
            scores = lexical
        else:
            # linear fusion: the lexical scores over the best one, plus the semantic ones rescaled over the best
            # FUSION_DEPTH tools (so the weight means the same whatever the embedder's similarity range)
            semantic = rescaled(self._embedding.scores(query), sorted(candidates), FUSION_DEPTH)
            best = max(lexical.values(), default=0.0) or 1.0
            weight = self._embedding_weight
            scores = {i: lexical.get(i, 0.0) / best + weight * semantic.get(i, 0.0) for i in lexical.keys() | semantic}
        ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [(self._tools[i], score) for i, score in ordered if score > 0 and not math.isnan(score)]

    def _boost(self, doc_id: int, asked: set[str], mentioned: set[str], ruled_out: set[str]) -> float:
        """The lexical score's multiplier: a whole-name match (``get issue`` for get_issue), a server the request
        names ("in our Jira", "on GitLab"), a server it rules out."""
        boost = 1.0
        name = self._name_terms[doc_id]
        if name and name <= asked:
            boost *= 1.0 + NAME_BONUS
        server = self._tools[doc_id].server
        if server in mentioned:
            boost *= 1.6
        elif server in ruled_out:
            boost *= 0.5
        return boost

    def _candidate_ids(self, server: str | None) -> set[int]:
        if server is None:
            return set(range(len(self._tools)))
        if server not in self._modules and server not in self._modules.values():
            known = ", ".join(self.catalog.servers) or "none"
            raise UsageError(f"unknown server {server!r} (servers: {known})")
        return {i for i, tool in enumerate(self._tools) if server in (tool.server, self._modules.get(tool.server))}

    # -- progressive disclosure --------------------------------------------------------------------------------

    def search(
        self,
        query: str = "",
        detail_level: str = "name_only",
        limit: int = 10,
        *,
        server: str | None = None,
        offset: int = 0,
    ) -> list[Any]:
        """Search (or, with an empty query, list) tools at one of the three detail levels.

        ``limit`` 1 to 200 results from ``offset``; ``server`` restricts to one server (its name or package name).
        """
        if detail_level not in DETAIL_LEVELS:
            raise UsageError(f"detail_level must be one of {', '.join(DETAIL_LEVELS)}; got {detail_level!r}")
        limit = _check_limit(limit)
        offset = _check_offset(offset)
        query = _check_query(query)
        if query.strip():
            tools = [tool for tool, _score in self.rank(query, server=server)]
        else:
            tools = [self._tools[i] for i in sorted(self._candidate_ids(server))]
        return [self.describe(tool, detail_level) for tool in tools[offset : offset + limit]]

    def describe(self, tool: ToolSpec, detail_level: str = "with_description") -> Any:
        """One tool at a detail level (the shape :meth:`search` returns)."""
        module = self._modules[tool.server]
        if detail_level == "name_only":
            return f"{module}.{tool.identifier}"
        entry: dict[str, Any] = {
            "name": tool.identifier,
            "server": tool.server,
            "description": _one_line(tool),
            "import": f"from servers.{module} import {tool.identifier}",
        }
        if detail_level == "full":
            entry["tool"] = tool.name
            entry["title"] = tool.title
            entry["description"] = tool.description
            entry["signature"] = self.signature(tool)
            entry["input_schema"] = tool.input_schema
            entry["output_schema"] = tool.output_schema
            annotations = tool.annotations
            entry["annotations"] = {
                key: value
                for key, value in (
                    ("read_only", annotations.read_only),
                    ("destructive", annotations.destructive),
                    ("idempotent", annotations.idempotent),
                    ("open_world", annotations.open_world),
                )
                if value is not None
            }
        return entry

    def signature(self, tool: ToolSpec) -> str:
        """The generated wrapper's keyword signature (rendered on first use, then cached)."""
        key = (tool.server, tool.name)
        if key not in self._signatures:
            self._signatures[key] = render_tool(tool).signature
        return self._signatures[key]

    # -- browsing ----------------------------------------------------------------------------------------------

    def list_servers(self) -> list[ServerSummary]:
        """Every server with its tool count and a few example tool names."""
        return [
            ServerSummary(
                server=server,
                module=self._modules[server],
                tools=len(tools := self.catalog.tools(server)),
                examples=tuple(t.identifier for t in tools[:5]),
            )
            for server in self.catalog.servers
        ]

    def list_tools(self, server: str) -> list[str]:
        """The tool names (identifiers) of one server."""
        return [self._tools[i].identifier for i in sorted(self._candidate_ids(server))]
