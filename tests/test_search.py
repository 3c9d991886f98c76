"""``mcpexec.search.ToolIndex``: the three detail levels, listing and paging, errors, ranking on real tool definitions,
optional embeddings (a plain callable, LangChain, LlamaIndex), browsing, the guest proxy and offline snapshots.

The ranking checks use generic queries written here (the held-out benchmark lives elsewhere and is not used).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import testserver_config

from mcpexec import runtime
from mcpexec.catalog import Catalog
from mcpexec.codegen import generate_package, server_modules
from mcpexec.errors import UsageError
from mcpexec.hub import MCPHub
from mcpexec.search import DETAIL_LEVELS, MAX_LIMIT, ServerSummary, ToolIndex
from mcpexec.search._text import split_words

REAL_CATALOG = Path(__file__).parent / "data" / "real_catalog.json"
FULL_KEYS = {
    "name",
    "server",
    "description",
    "import",
    "tool",
    "title",
    "signature",
    "input_schema",
    "output_schema",
    "annotations",
}
NONSENSE = "zxqv blorft quuxle"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(REAL_CATALOG)


@pytest.fixture(scope="module")
def index(catalog: Catalog) -> ToolIndex:
    return ToolIndex(catalog)


def _tool(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    schema = extra.pop("inputSchema", {"type": "object", "properties": {}})
    return {"name": name, "description": description, "inputSchema": schema, **extra}


# A small catalog whose names use camelCase and kebab-case (the real catalog has no camelCase tool names).
SMALL = Catalog.from_wire(
    {
        "code-host": [
            _tool("getFileContents", "Return what is stored at a path of a repository."),
            _tool("listPullRequests", "Enumerate the open proposals of a repository."),
            _tool("createIssue", "Open a ticket in the tracker."),
            _tool("delete-repository", "Remove a repository for good."),
            _tool("HTTPRequestLog", "The raw traffic of the server."),
        ],
        "chat": [
            _tool("post_message", "Send text to a channel."),
            _tool("archive_channel", "Hide a channel from the sidebar."),
        ],
    }
)


@contextmanager
def imported_from(directory: Path) -> Iterator[None]:
    """``directory`` first on ``sys.path``; every ``servers`` module imported meanwhile is forgotten afterwards."""

    def forget() -> None:
        for name in [n for n in sys.modules if n == "servers" or n.startswith("servers.")]:
            del sys.modules[name]

    forget()
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        forget()


# -- detail levels -----------------------------------------------------------------------------------------------


def test_name_only_gives_module_dot_identifier_strings() -> None:
    index = ToolIndex(SMALL)
    results = index.search("", "name_only", 200)
    assert results == [  # catalog order: servers as given, then tool names sorted
        "code_host.http_request_log",
        "code_host.create_issue",
        "code_host.delete_repository",
        "code_host.get_file_contents",
        "code_host.list_pull_requests",
        "chat.archive_channel",
        "chat.post_message",
    ]
    assert index.search("file contents", "name_only", 1) == ["code_host.get_file_contents"]
    assert index.search("file contents") == index.search("file contents", "name_only")  # the default level


def test_with_description_has_exactly_name_server_one_line_description_and_import() -> None:
    long_first_sentence = "Fetch " + "a very long clause " * 20 + "and stop. Second sentence."
    catalog = Catalog.from_wire(
        {
            "my-server": [
                _tool("getThing", "Return the thing.\n\nMore detail on\nseveral lines."),
                _tool("longOne", long_first_sentence),
                _tool("titled", "", title="Only a title"),
                _tool("multi_line", "First line\ncontinues here without a period\n\nthen a paragraph"),
            ]
        }
    )
    index = ToolIndex(catalog)
    entries = {e["name"]: e for e in index.search("", "with_description", 10)}
    for entry in entries.values():
        assert set(entry) == {"name", "server", "description", "import"}
        assert entry["server"] == "my-server"
        assert entry["import"] == f"from servers.my_server import {entry['name']}"
        assert "\n" not in entry["description"]
        assert len(entry["description"]) <= 160
    assert entries["get_thing"]["description"] == "Return the thing."
    assert entries["titled"]["description"] == "Only a title"
    assert entries["multi_line"]["description"] == "First line continues here without a period"
    long_line = entries["long_one"]["description"]
    assert len(long_line) == 160
    assert long_line.endswith("…")
    assert long_line.startswith("Fetch a very long clause a very long clause")


def test_with_description_lines_are_short_for_every_real_tool(index: ToolIndex, catalog: Catalog) -> None:
    entries = index.search("", "with_description", MAX_LIMIT) + index.search(
        "", "with_description", MAX_LIMIT, offset=200
    )
    entries += index.search("", "with_description", MAX_LIMIT, offset=400)
    entries += index.search("", "with_description", MAX_LIMIT, offset=600)
    assert len(entries) == len(catalog)
    for entry in entries:
        assert "\n" not in entry["description"], entry
        assert 0 < len(entry["description"]) <= 160, entry


@pytest.mark.anyio
async def test_full_detail_from_a_real_server(tmp_path: Path) -> None:
    with anyio.fail_after(30):
        async with MCPHub({"test": testserver_config()}) as hub:
            catalog = hub.catalog
    index = ToolIndex(catalog)
    [entry] = index.search("create issue", "full", 1)
    assert set(entry) == FULL_KEYS
    tool = catalog.get("test", "create_issue")
    assert entry["name"] == "create_issue"
    assert entry["server"] == "test"
    assert entry["tool"] == "create_issue"
    assert entry["title"] == "Create issue"
    assert entry["description"] == tool.description  # the whole description at this level
    assert entry["import"] == "from servers.test import create_issue"
    assert entry["signature"].startswith("async def create_issue(*, owner: str, repo: str, title: str")
    assert entry["input_schema"] == tool.input_schema
    assert entry["input_schema"]["required"] == ["owner", "repo", "title"]
    assert entry["output_schema"] == tool.output_schema
    assert entry["output_schema"] is not None
    assert entry["annotations"] == {"read_only": False, "destructive": False}  # only the hints the server set
    [add] = index.search("add two numbers", "full", 1)
    assert add["name"] == "add"
    assert add["annotations"] == {"read_only": True}
    assert add["title"] is None
    [echo] = index.search("echo the text back", "full", 1)
    assert echo["name"] == "echo"
    assert echo["annotations"] == {}

    # the signature is the keyword overload of the generated wrapper, and every import line works
    package = generate_package(catalog, tmp_path / "servers")
    source = (package.root / "test" / "create_issue.py").read_text(encoding="utf-8")
    assert entry["signature"] + ": ..." in source
    with imported_from(tmp_path):
        for listed in index.search("", "with_description", MAX_LIMIT):
            namespace: dict[str, Any] = {}
            exec(listed["import"], namespace)  # the import line the index hands to the agent
            function = namespace[listed["name"]]
            assert inspect.iscoroutinefunction(function)
            assert function.__module__ == f"servers.test.{listed['name']}"


def test_every_import_line_of_the_real_catalog_imports(index: ToolIndex, catalog: Catalog, tmp_path: Path) -> None:
    generate_package(catalog, tmp_path / "servers")
    modules = server_modules(catalog)
    full = index.search("create an issue on github", "full", 1)[0]
    assert full["signature"].startswith("async def create_issue(*, ")
    assert "owner: str" in full["signature"]
    with imported_from(tmp_path):
        offset = 0
        while page := index.search("", "with_description", MAX_LIMIT, offset=offset):
            for entry in page:
                namespace: dict[str, Any] = {}
                exec(entry["import"], namespace)
                function = namespace[entry["name"]]
                assert inspect.iscoroutinefunction(function)
                assert function.__module__ == f"servers.{modules[entry['server']]}.{entry['name']}"
            offset += len(page)
    assert offset == len(catalog)


# -- listing, paging, server filter ------------------------------------------------------------------------------


def test_empty_query_lists_every_tool_in_catalog_order_in_pages(index: ToolIndex, catalog: Catalog) -> None:
    modules = server_modules(catalog)
    expected = [f"{modules[t.server]}.{t.identifier}" for t in catalog]
    for size in (1, 7, 50, MAX_LIMIT):
        pages: list[list[str]] = []
        offset = 0
        while page := index.search("", "name_only", size, offset=offset):
            assert len(page) <= size
            pages.append(page)
            offset += size
        listed = [name for page in pages for name in page]
        assert listed == expected
        assert len(set(listed)) == len(listed) == len(catalog)
    assert index.search("   ", "name_only", 3) == expected[:3]  # whitespace is an empty query
    assert index.search("", "name_only", 5, offset=len(catalog) - 2) == expected[-2:]
    assert index.search("", "name_only", 5, offset=10_000) == []


def test_server_filter_by_server_name_or_package_name() -> None:
    index = ToolIndex(SMALL)
    by_name = index.search("", "name_only", 10, server="code-host")
    by_module = index.search("", "name_only", 10, server="code_host")
    assert by_name == by_module
    assert len(by_name) == 5
    assert all(name.startswith("code_host.") for name in by_name)
    assert index.search("channel", "name_only", 10, server="chat") == ["chat.archive_channel", "chat.post_message"]
    assert index.search("channel", "name_only", 10, server="code-host") == []


def test_server_filter_restricts_ranked_results(index: ToolIndex) -> None:
    for server in ("github", "gitlab", "atlassian"):
        results = index.search("create an issue", "with_description", 20, server=server)
        assert results
        assert {e["server"] for e in results} == {server}
    assert index.search("create an issue", "name_only", 1, server="github") == ["github.create_issue"]
    assert index.search("create an issue", "name_only", 1, server="gitlab") == ["gitlab.create_issue"]


def test_unknown_server_is_a_usage_error_listing_the_servers(index: ToolIndex, catalog: Catalog) -> None:
    with pytest.raises(UsageError, match=r"unknown server 'githib'") as caught:
        index.search("create issue", server="githib")
    for server in catalog.servers:
        assert server in str(caught.value)
    with pytest.raises(UsageError, match="unknown server"):
        index.search("", server="nope")
    with pytest.raises(UsageError, match="unknown server"):
        index.list_tools("nope")


# -- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"detail_level": "short"}, r"detail_level must be one of name_only, with_description, full; got 'short'"),
        ({"detail_level": "NAME_ONLY"}, r"detail_level must be one of"),
        ({"limit": 0}, r"limit must be an integer from 1 to 200, got 0"),
        ({"limit": 201}, r"limit must be an integer from 1 to 200, got 201"),
        ({"limit": "5"}, r"limit must be an integer from 1 to 200, got '5'"),
        ({"limit": True}, r"limit must be an integer from 1 to 200, got True"),
        ({"limit": 2.0}, r"limit must be an integer"),
        ({"offset": -1}, r"offset must be a non-negative integer, got -1"),
        ({"offset": "1"}, r"offset must be a non-negative integer"),
        ({"query": 5}, r"query must be a string, got int"),
        ({"query": None}, r"query must be a string, got NoneType"),
        ({"query": b"create issue"}, r"query must be a string, got bytes"),
    ],
)
def test_bad_arguments_are_usage_errors(arguments: dict[str, Any], message: str) -> None:
    index = ToolIndex(SMALL)
    call: dict[str, Any] = {"query": "file", **arguments}
    with pytest.raises(UsageError, match=message) as caught:
        index.search(**call)
    assert isinstance(caught.value, ValueError)


def test_detail_levels_and_limits_are_exported() -> None:
    assert DETAIL_LEVELS == ("name_only", "with_description", "full")
    assert MAX_LIMIT == 200
    index = ToolIndex(SMALL)
    assert len(index.search("", "name_only", MAX_LIMIT)) == len(SMALL)


# -- ranking on the real catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("browser take screenshot", "playwright.browser_take_screenshot"),
        ("kubectl logs", "kubernetes.kubectl_logs"),
        ("get current time", "time.get_current_time"),
        ("convert time", "time.convert_time"),
        ("create entities", "memory.create_entities"),
        ("list directory", "filesystem.list_directory"),
        ("read text file", "filesystem.read_text_file"),
        ("install helm chart", "kubernetes.install_helm_chart"),
        ("jira create issue", "atlassian.jira_create_issue"),
        ("git status", "git.git_status"),
        ("browser navigate", "playwright.browser_navigate"),
        ("batch read objects", "hubspot.hubspot_batch_read_objects"),
        # a tool's literal (kebab-case) name
        ("drop-collection", "mongodb.drop_collection"),
        ("hubspot-list-objects", "hubspot.hubspot_list_objects"),
        ("API-retrieve-a-block", "notion.api_retrieve_a_block"),
        ("get-current-time", "time.get_current_time"),
    ],
)
def test_the_words_of_a_tool_name_rank_that_tool_first(index: ToolIndex, query: str, expected: str) -> None:
    assert index.search(query, "name_only", 3)[0] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("get issue", "get_issue"),
        ("get pull request", "github.get_pull_request"),
        ("get file contents", "get_file_contents"),
        ("git commit", "git.git_commit"),
        ("list issues", "list_issues"),
    ],
)
def test_exact_name_words_of_common_tools_rank_them_first(index: ToolIndex, query: str, expected: str) -> None:
    top = index.search(query, "name_only", 1)[0]
    assert top == expected or top.endswith("." + expected)


def test_split_names_are_found_by_their_words() -> None:
    index = ToolIndex(SMALL)
    assert index.search("file contents", "name_only", 1) == ["code_host.get_file_contents"]
    assert index.search("pull requests", "name_only", 1) == ["code_host.list_pull_requests"]
    assert index.search("delete repository", "name_only", 1) == ["code_host.delete_repository"]
    assert index.search("http request log", "name_only", 1) == ["code_host.http_request_log"]  # acronym split
    assert index.search("getFileContents", "name_only", 1) == ["code_host.get_file_contents"]  # camel in the query


def test_kebab_names_of_real_servers_are_found_by_their_words(index: ToolIndex) -> None:
    assert "mongodb.drop_collection" in index.search("drop collection", "name_only", 3)
    assert "notion.api_retrieve_a_block" in index.search("retrieve a block", "name_only", 3)
    assert "hubspot.hubspot_list_objects" in index.search("list objects", "name_only", 3)
    assert "everything.get_tiny_image" in index.search("tiny image", "name_only", 3)


def test_inflections_are_stemmed(index: ToolIndex) -> None:
    create_issue = {"github.create_issue", "gitlab.create_issue", "atlassian.jira_create_issue"}
    for query in ("create issue", "creating issues", "created issue", "creates an issue"):
        assert set(index.search(query, "name_only", 3)) == create_issue, query
    assert index.search("screenshots", "name_only", 1) == ["playwright.browser_take_screenshot"]
    assert index.search("navigating", "name_only", 1) == ["playwright.browser_navigate"]


def test_synonyms_widen_the_query() -> None:
    index = ToolIndex(SMALL)
    # none of these words is in the tools' text: only their synonyms are
    assert index.search("fetch file contents", "name_only", 1) == ["code_host.get_file_contents"]
    assert index.search("open a new bug", "name_only", 1) == ["code_host.create_issue"]
    assert index.search("erase repo", "name_only", 1) == ["code_host.delete_repository"]
    fetched = index.search("fetch", "name_only", 10)
    assert fetched
    assert fetched[0] == "code_host.get_file_contents"


def test_synonyms_on_the_real_catalog(index: ToolIndex) -> None:
    assert index.search("fetch current time", "name_only", 1) == ["time.get_current_time"]
    assert index.search("remove entities", "name_only", 1) == ["memory.delete_entities"]
    assert index.search("erase relations", "name_only", 1) == ["memory.delete_relations"]
    modules = server_modules(index.catalog)
    by_name = {f"{modules[t.server]}.{t.identifier}": t for t in index.catalog}
    fetched = [by_name[name] for name in index.search("fetch", "name_only", 20)]
    assert len(fetched) == 20
    # some hits are get_* tools that never say "fetch"
    found_by_synonym = [
        t
        for t in fetched
        if "get" in split_words(t.name) and "fetch" not in split_words(f"{t.name} {t.title or ''} {t.description}")
    ]
    assert found_by_synonym


def test_a_server_cue_flips_the_winner_between_confusable_servers(index: ToolIndex) -> None:
    plain = index.search("create an issue", "with_description", 3)
    assert {e["server"] for e in plain} == {"github", "gitlab", "atlassian"}  # all three trackers compete
    on_gitlab = index.search("create an issue on gitlab", "with_description", 1)[0]
    on_github = index.search("create an issue on github", "with_description", 1)[0]
    assert (on_gitlab["server"], on_gitlab["name"]) == ("gitlab", "create_issue")
    assert (on_github["server"], on_github["name"]) == ("github", "create_issue")
    assert index.search("open a ticket on gitlab", "name_only", 1) == ["gitlab.create_issue"]


def test_ranking_is_deterministic(catalog: Catalog, index: ToolIndex) -> None:
    queries = ["create an issue on github", "read a file", "delete the branch", "send a message", "list all pods"]
    first = [index.search(q, "name_only", 50) for q in queries]
    assert [index.search(q, "name_only", 50) for q in queries] == first
    assert [ToolIndex(catalog).search(q, "name_only", 50) for q in queries] == first  # a fresh index agrees
    script = (
        "import json, sys\n"
        "from mcpexec.catalog import Catalog\n"
        "from mcpexec.search import ToolIndex\n"
        "index = ToolIndex(Catalog.load(sys.argv[1]))\n"
        "print(json.dumps([index.search(q, 'name_only', 50) for q in json.loads(sys.argv[2])]))\n"
    )
    for seed in ("1", "2"):  # str hashing differs between processes; the ranking must not
        result = subprocess.run(
            [sys.executable, "-c", script, str(REAL_CATALOG), json.dumps(queries)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(result.stdout) == first


def test_nonsense_and_stopword_queries_find_nothing(index: ToolIndex) -> None:
    assert index.search(NONSENSE) == []
    assert index.search("the of and", "with_description") == []
    assert index.rank(NONSENSE) == []
    assert ToolIndex(Catalog.from_wire({})).search("anything") == []
    assert ToolIndex(Catalog.from_wire({})).search("") == []


def test_rank_scores_are_positive_and_descending(index: ToolIndex) -> None:
    ranked = index.rank("create an issue on github")
    scores = [score for _tool, score in ranked]
    assert scores
    assert all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert ranked[0][0].qualified_name == "github.create_issue"


# -- optional embeddings -------------------------------------------------------------------------------------------


class HashingEmbedder:
    """A tiny deterministic bag-of-words embedder: each word adds 1 to the bucket its CRC-32 falls in.

    ``related`` maps a phrase to words: a text containing the phrase also counts those words (ten times), the way a
    real model "knows" that two expressions are related although they share no word.
    """

    def __init__(self, dimensions: int = 256, related: dict[str, str] | None = None) -> None:
        self.dimensions = dimensions
        self.related = related or {}
        self.calls: list[int] = []

    def __call__(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        vectors: list[list[float]] = []
        for text in texts:
            words = split_words(text)
            joined = " ".join(words)
            for phrase, related in self.related.items():
                if phrase in joined:
                    words += split_words(related) * 10
            vector = [0.0] * self.dimensions
            for word in words:
                vector[zlib.crc32(word.encode()) % self.dimensions] += 1.0
            vectors.append(vector)
        return vectors


def test_callable_embedder_builds_once_and_embeds_each_query(catalog: Catalog) -> None:
    embedder = HashingEmbedder()
    index = ToolIndex(catalog, embedder=embedder)
    assert sum(embedder.calls) == len(catalog)  # every tool embedded once, when the index is built
    built = len(embedder.calls)
    results = index.search(NONSENSE, "name_only", 5)
    assert len(results) == 5  # no lexical match, but the semantic ranking still answers
    assert embedder.calls[built:] == [1]  # then one text per query
    assert index.search(NONSENSE, "name_only", 5) == results  # deterministic


def test_an_embedder_that_favours_a_tool_lifts_it(catalog: Catalog, index: ToolIndex) -> None:
    query = "create an issue"
    lexical = index.search(query, "name_only", 10)
    assert len(lexical) == 10
    modules = server_modules(catalog)
    target = next(t for t in catalog if f"{modules[t.server]}.{t.identifier}" == lexical[6])  # 7th lexically
    phrase = " ".join(split_words(target.description)[:8])
    assert [t for t in catalog if phrase in " ".join(split_words(t.description))] == [target]
    favouring = ToolIndex(catalog, embedder=HashingEmbedder(related={phrase: query}))
    fused = favouring.search(query, "name_only", 10)
    # semantic rank 1 plus lexical rank 7 beats every tool but those ranked very high by both
    assert fused.index(lexical[6]) < 4
    plain = ToolIndex(catalog, embedder=HashingEmbedder()).search(query, "name_only", 10)
    assert fused.index(lexical[6]) < (plain.index(lexical[6]) if lexical[6] in plain else 10)  # the embedder's doing


def test_fusion_keeps_the_lexical_candidates_and_adds_semantic_ones(catalog: Catalog, index: ToolIndex) -> None:
    fused_index = ToolIndex(catalog, embedder=HashingEmbedder())
    for query in ("take screenshot", "kubectl logs", "create an issue on github"):
        lexical = index.search(query, "name_only", 10)
        fused = fused_index.search(query, "name_only", MAX_LIMIT)
        assert set(lexical) <= set(fused)
        assert set(fused) - set(index.search(query, "name_only", MAX_LIMIT))  # semantic-only candidates too
        assert fused[0] == lexical[0]  # both rankings agree on the obvious winner
    silent = ToolIndex(catalog, embedder=HashingEmbedder(), embedding_weight=0.0)
    for query in ("take screenshot", "read a file", "delete the branch"):
        assert silent.search(query, "name_only", 50) == index.search(query, "name_only", 50)


def test_embedder_respects_the_server_filter(catalog: Catalog) -> None:
    fused = ToolIndex(catalog, embedder=HashingEmbedder())
    results = fused.search(NONSENSE, "with_description", 50, server="time")
    assert sorted(e["name"] for e in results) == ["convert_time", "get_current_time"]
    assert {e["server"] for e in fused.search("create issue", "with_description", 30, server="gitlab")} == {"gitlab"}


def test_langchain_embeddings(catalog: Catalog, index: ToolIndex) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    fused = ToolIndex(catalog, embedder=DeterministicFakeEmbedding(size=32))
    results = fused.search(NONSENSE, "with_description", 5)
    assert len(results) == 5
    assert fused.search(NONSENSE, "with_description", 5) == results
    query = "create an issue on github"
    lexical = index.search(query, "name_only", 10)
    ranked = fused.search(query, "name_only", MAX_LIMIT)
    assert set(lexical) <= set(ranked)
    silent = ToolIndex(catalog, embedder=DeterministicFakeEmbedding(size=32), embedding_weight=0.0)
    assert silent.search(query, "name_only", 50) == index.search(query, "name_only", 50)


def test_llamaindex_embeddings(catalog: Catalog, index: ToolIndex) -> None:
    from llama_index.core.embeddings import MockEmbedding

    fused = ToolIndex(catalog, embedder=MockEmbedding(embed_dim=8))
    results = fused.search(NONSENSE, "name_only", 5)
    assert len(results) == 5
    query = "kubectl logs"
    assert set(index.search(query, "name_only", 10)) <= set(fused.search(query, "name_only", MAX_LIMIT))
    silent = ToolIndex(catalog, embedder=MockEmbedding(embed_dim=8), embedding_weight=0.0)
    assert silent.search(query, "name_only", 50) == index.search(query, "name_only", 50)


def test_an_embedder_that_cannot_tell_tools_apart_keeps_the_lexical_winner(catalog: Catalog, index: ToolIndex) -> None:
    from llama_index.core.embeddings import MockEmbedding

    fused = ToolIndex(catalog, embedder=MockEmbedding(embed_dim=8))
    for query in ("convert time", "create an issue on github", "take screenshot"):
        assert fused.search(query, "name_only", 1) == index.search(query, "name_only", 1)


@pytest.mark.parametrize("embedder", [42, "not an embedder", object()])
def test_an_object_that_is_no_embedder_is_a_usage_error(embedder: object) -> None:
    with pytest.raises(UsageError, match="embedder must be a callable texts -> vectors, a LangChain Embeddings"):
        ToolIndex(SMALL, embedder=embedder)


def test_an_embedder_returning_the_wrong_number_of_vectors_is_a_usage_error() -> None:
    def short(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0]] * (len(texts) - 1)

    with pytest.raises(UsageError, match=r"embedder returned 6 vectors for 7 texts"):
        ToolIndex(SMALL, embedder=short)


# -- browsing ------------------------------------------------------------------------------------------------------


def test_list_servers_gives_module_count_and_examples(index: ToolIndex, catalog: Catalog) -> None:
    summaries = index.list_servers()
    assert [s.server for s in summaries] == list(catalog.servers)
    assert sum(s.tools for s in summaries) == len(catalog)
    for summary in summaries:
        assert isinstance(summary, ServerSummary)
        assert summary.tools == len(catalog.tools(summary.server))
        assert summary.examples == tuple(index.list_tools(summary.server)[:5])
        assert 0 < len(summary.examples) <= 5
        assert summary.to_json() == {
            "server": summary.server,
            "module": summary.module,
            "tools": summary.tools,
            "examples": list(summary.examples),
        }
    github = next(s for s in summaries if s.server == "github")
    assert (github.module, github.tools) == ("github", 85)
    small = {s.server: s for s in ToolIndex(SMALL).list_servers()}
    assert small["code-host"].module == "code_host"
    assert small["chat"].examples == ("archive_channel", "post_message")


def test_list_tools_gives_a_servers_identifiers(index: ToolIndex, catalog: Catalog) -> None:
    assert index.list_tools("time") == ["convert_time", "get_current_time"]
    assert index.list_tools("notion") == [t.identifier for t in catalog.tools("notion")]
    assert "api_retrieve_a_block" in index.list_tools("notion")
    small = ToolIndex(SMALL)
    assert small.list_tools("code_host") == small.list_tools("code-host")
    empty = ToolIndex(Catalog.from_wire({"empty": []}))
    assert empty.list_tools("empty") == []
    assert empty.list_servers() == [ServerSummary(server="empty", module="empty", tools=0, examples=())]


# -- the guest proxy -----------------------------------------------------------------------------------------------


@pytest.fixture
def no_searcher() -> Iterator[None]:
    previous = runtime.set_searcher(None)
    try:
        yield
    finally:
        runtime.set_searcher(previous)


@pytest.mark.usefixtures("no_searcher")
def test_guest_search_tools_proxies_to_the_installed_searcher(index: ToolIndex) -> None:
    assert runtime.set_searcher(index.search) is None
    query = "create an issue on gitlab"
    assert runtime.search_tools(query, "with_description", 3) == index.search(query, "with_description", 3)
    assert runtime.search_tools(query) == index.search(query)
    assert runtime.search_tools("", "name_only", 2, server="time") == ["time.convert_time", "time.get_current_time"]
    assert runtime.search_tools("", "name_only", 1, offset=1, server="time") == ["time.get_current_time"]
    with pytest.raises(UsageError, match="detail_level must be one of"):
        runtime.search_tools(query, "everything", 3)
    assert runtime.set_searcher(None) == index.search


@pytest.mark.usefixtures("no_searcher")
def test_guest_search_tools_without_a_searcher_says_what_to_do() -> None:
    with pytest.raises(runtime.NoToolCaller, match="search_tools is not connected to a tool catalog") as caught:
        runtime.search_tools("create an issue")
    assert "execute_code" in str(caught.value)
    assert "ToolIndex" in str(caught.value)
    assert "set_searcher" in str(caught.value)


# -- offline, from a snapshot --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_saved_catalog_searches_like_the_live_server(tmp_path: Path) -> None:
    with anyio.fail_after(30):
        async with MCPHub({"test": testserver_config()}) as hub:
            live = ToolIndex(hub.catalog)
            hub.catalog.save(tmp_path / "catalog.json")
            queries = ["create an issue", "add two numbers", "echo", "slow", "", NONSENSE]
            expected = {
                (query, level): live.search(query, level, MAX_LIMIT) for query in queries for level in DETAIL_LEVELS
            }
    offline = ToolIndex(Catalog.load(tmp_path / "catalog.json"))
    assert offline.catalog == live.catalog
    for (query, level), results in expected.items():
        assert offline.search(query, level, MAX_LIMIT) == results, (query, level)
    assert offline.list_servers() == live.list_servers()


def test_a_server_the_request_rules_out_is_demoted(index: ToolIndex) -> None:
    wanted = index.search("get file contents from github", "name_only", 1)
    assert wanted == ["github.get_file_contents"]
    for query in ("get file contents, not from github", "get file contents rather than from GitHub"):
        top = index.search(query, "name_only", 3)
        assert top, query
        assert all(not name.startswith("github.") for name in top), (query, top)
    assert index.search("create an issue but not on github", "name_only", 1)[0].endswith("create_issue")


def test_brand_names_meet_however_they_are_cased(index: ToolIndex) -> None:
    # "GitHub" in a request is the github server, not mcp-server-git; "Mongo" names mongodb
    for query in ("create an issue on GitHub", "create an issue on github"):
        assert index.search(query, "name_only", 1) == ["github.create_issue"], query
    assert all(name.startswith("mongodb.") for name in index.search("drop a database in Mongo", "name_only", 3))
