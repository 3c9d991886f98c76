"""The labelled query set for the tool-search benchmark (``tests/data/search_queries.jsonl``).

Each line is one JSON object::

    {"id": "q001", "query": "...", "expected": ["server.tool_name", ...], "kind": "...", "split": "dev" | "heldout"}

``expected`` names catalog tools as ``<server>.<ToolSpec.name>`` (the MCP tool name, not the identifier) in
``tests/data/real_catalog.json``, and lists every tool that serves the task equally well. The queries were written
from the tools' descriptions only, blind to any ranking code, so the set measures the search honestly.

Kinds:
    task                plain task phrasing ("unstage everything in ~/code/api")
    cue                 the action exists on several servers; a cue picks one ("on GitLab", "in Confluence")
    jargon              domain terms ("MR", "PR", "k8s", "KQL", "RBAC")
    multi_step          a larger task whose first step is the expected tool
    negation_or_detail  a precise variant that one tool's parameters allow ("only the closed ...")

Split: a query is held out iff its number (``q017`` -> 17) ends in 3, 6 or 9 (30 %). Held-out queries are not to be
looked at while tuning the search.

No-shared-word rule (at least 60 % of the queries must pass, so the set does not reward plain word overlap with tool
names): a tool name is split on ``_ - . /`` and camelCase boundaries and lowercased; a query is lowercased and split
into runs of ``[a-z0-9]``; both sides drop the words in :data:`STOPWORDS`. A query *shares* a word when any of its
words equals (exactly, no stemming) a word of any of its expected tools' names.

These checks read the committed files only: offline, no server is started.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mcpexec.catalog import Catalog

DATA = Path(__file__).resolve().parent / "data"
QUERIES = DATA / "search_queries.jsonl"
CATALOG = DATA / "real_catalog.json"

KINDS = frozenset({"task", "cue", "jargon", "multi_step", "negation_or_detail"})
SPLITS = frozenset({"dev", "heldout"})
KEYS = {"id", "query", "expected", "kind", "split"}
HELDOUT_LAST_DIGITS = frozenset({3, 6, 9})

MIN_QUERIES = 220
MIN_CUE = 40
MIN_PER_SERVER = 3
HELDOUT_RANGE = (0.25, 0.35)
MIN_NO_SHARED_FRACTION = 0.60
MIN_WORDS, MAX_WORDS = 3, 25
# Two queries whose content-word sets overlap this much (Jaccard) count as near-duplicates.
MAX_JACCARD = 0.6

# Function words only: verbs and nouns that appear in tool names ("get", "list", "file") stay content words.
# The one- and two-letter entries are the pieces contractions split into ("what's" -> "what", "s").
_STOPWORD_TEXT = """
a an the and or but nor of to in on at for from by with into onto about as is are was were be been being am
do does did it its this that these those there here i me my mine we us our ours you your yours he him his she
her they them their what which who whom whose when where why how all any some every each no not only just also
than then so if can could would should will shall may might must please s t m re ve ll d up out off via vs etc
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_NAME_SEPARATORS = re.compile(r"[_\-./\s]+")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_QUERY_WORDS = re.compile(r"[a-z0-9]+")


def name_words(tool_name: str) -> set[str]:
    """Content words of an MCP tool name: ``"API-post-page"`` -> ``{"api", "post", "page"}``."""
    words = {w.lower() for part in _NAME_SEPARATORS.split(tool_name) for w in _CAMEL_PARTS.findall(part)}
    return words - STOPWORDS


def query_words(query: str) -> set[str]:
    """Content words of a query: lowercase runs of letters and digits, minus stopwords."""
    return set(_QUERY_WORDS.findall(query.lower())) - STOPWORDS


def shares_word(query: str, expected: list[str]) -> bool:
    words = query_words(query)
    return any(words & name_words(ref.split(".", 1)[1]) for ref in expected)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    lines = QUERIES.read_text(encoding="utf-8").splitlines()
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        assert line.strip(), f"line {number} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"line {number} is not an object"
        parsed.append(row)
    return parsed


@pytest.fixture(scope="module")
def catalog_refs() -> dict[str, str]:
    """``"server.name"`` -> server, for every tool of the committed catalog."""
    return {f"{t.server}.{t.name}": t.server for t in Catalog.load(CATALOG).tools()}


def test_word_rules() -> None:
    assert name_words("API-post-page") == {"api", "post", "page"}
    assert name_words("sql_server_firewall-rule_create") == {"sql", "server", "firewall", "rule", "create"}
    assert name_words("get-annotated-message") == {"get", "annotated", "message"}
    assert name_words("getFileContents") == {"get", "file", "contents"}
    assert name_words("hubspot-list-objects") == {"hubspot", "list", "objects"}
    assert query_words("Who last touched the billing service's README?") == {
        "last",
        "touched",
        "billing",
        "service",
        "readme",
    }
    assert shares_word("unstage everything in ~/code/api", ["git.git_reset"]) is False
    assert shares_word("list the branches", ["github.list_branches"]) is True
    # Exact words only: "branches" does not match "branch".
    assert shares_word("which branches contain abc123", ["git.git_branch"]) is False


def test_enough_rows_with_the_right_shape(rows: list[dict[str, Any]]) -> None:
    assert len(rows) >= MIN_QUERIES
    for row in rows:
        assert set(row) == KEYS, row
        assert isinstance(row["id"], str)
        assert re.fullmatch(r"q\d{3,}", row["id"]), row["id"]
        assert isinstance(row["query"], str)
        assert row["query"] == row["query"].strip(), row["id"]
        assert MIN_WORDS <= len(row["query"].split()) <= MAX_WORDS, row["id"]
        assert isinstance(row["expected"], list), row["id"]
        assert row["expected"], row["id"]
        assert all(isinstance(ref, str) for ref in row["expected"]), row["id"]
        assert len(set(row["expected"])) == len(row["expected"]), row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert row["split"] in SPLITS, row["id"]


def test_ids_are_unique_and_in_order(rows: list[dict[str, Any]]) -> None:
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert [int(i[1:]) for i in ids] == list(range(1, len(ids) + 1))


def test_queries_are_unique(rows: list[dict[str, Any]]) -> None:
    normalized = [" ".join(row["query"].lower().split()) for row in rows]
    duplicates = [q for q, n in Counter(normalized).items() if n > 1]
    assert not duplicates


def test_no_near_duplicates(rows: list[dict[str, Any]]) -> None:
    words = [(row["id"], query_words(row["query"])) for row in rows]
    near = [
        (id_a, id_b)
        for (id_a, a), (id_b, b) in itertools.combinations(words, 2)
        if len(a & b) / len(a | b) >= MAX_JACCARD
    ]
    assert not near


def test_expected_tools_exist(rows: list[dict[str, Any]], catalog_refs: dict[str, str]) -> None:
    unknown = [(row["id"], ref) for row in rows for ref in row["expected"] if ref not in catalog_refs]
    assert not unknown


def test_enough_cue_queries(rows: list[dict[str, Any]]) -> None:
    kinds = Counter(row["kind"] for row in rows)
    assert kinds["cue"] >= MIN_CUE
    assert set(kinds) == KINDS


def test_every_server_is_covered(rows: list[dict[str, Any]], catalog_refs: dict[str, str]) -> None:
    per_server: Counter[str] = Counter()
    for row in rows:
        per_server.update({catalog_refs[ref] for ref in row["expected"]})
    servers = set(catalog_refs.values())
    thin = {server: per_server[server] for server in servers if per_server[server] < MIN_PER_SERVER}
    assert not thin


def test_heldout_split(rows: list[dict[str, Any]], catalog_refs: dict[str, str]) -> None:
    for row in rows:
        held = int(row["id"][1:]) % 10 in HELDOUT_LAST_DIGITS
        assert row["split"] == ("heldout" if held else "dev"), row["id"]
    heldout = [row for row in rows if row["split"] == "heldout"]
    low, high = HELDOUT_RANGE
    assert low <= len(heldout) / len(rows) <= high
    # Spread: every kind and every server appears in the held-out part.
    assert {row["kind"] for row in heldout} == KINDS
    assert {catalog_refs[ref] for row in heldout for ref in row["expected"]} == set(catalog_refs.values())


def test_most_queries_share_no_word_with_the_tool_name(rows: list[dict[str, Any]]) -> None:
    sharing = sum(shares_word(row["query"], row["expected"]) for row in rows)
    assert 1 - sharing / len(rows) >= MIN_NO_SHARED_FRACTION
