"""Search text analysis and fusion details: acronym plurals, abbreviations, argument values and their kinds,
and the rescaling of semantic scores for linear fusion. Queries are generic ones written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpexec.catalog import Catalog
from mcpexec.search import ToolIndex
from mcpexec.search._embed import rescaled
from mcpexec.search._text import analyze, argument_values, split_words

REAL_CATALOG = Path(__file__).parent / "data" / "real_catalog.json"


@pytest.fixture(scope="module")
def index() -> ToolIndex:
    return ToolIndex(Catalog.load(REAL_CATALOG))


def _names(index: ToolIndex, query: str, limit: int) -> list[str]:
    return [tool.qualified_name for tool, _score in index.rank(query)[:limit]]


# -- words -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("PRs", ["pr"]),
        ("URLs", ["url"]),
        ("getPRs", ["get", "pr", "getprs"]),
        ("listMRsByID", ["list", "mr", "by", "id", "listmrsbyid"]),
        ("HTTPRequest", ["http", "request", "httprequest"]),  # an acronym before a word still splits off
        ("Ls as", ["ls", "as"]),
    ],
)
def test_an_acronym_plural_is_one_word(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("PR", "pull request"),
        ("MRs", "merge requests"),
        ("repo", "repository"),
        ("k8s", "Kubernetes"),
        ("DB", "database"),
    ],
)
def test_abbreviations_meet_the_words_they_stand_for(short: str, full: str) -> None:
    assert analyze(short) == analyze(full)


def test_abbreviations_rank_like_the_full_words(index: ToolIndex) -> None:
    assert _names(index, "list open PRs", 3) == _names(index, "list open pull requests", 3)
    assert _names(index, "merge the MR", 1) == ["gitlab.merge_merge_request"]


# -- argument values -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "rest", "kinds"),
    [
        ("open https://news.example.com/a?b=1 now", "open now", ["url", "link"]),
        ("browse to example.org", "browse to", ["url", "link"]),
        ("write to bob@example.com.", "write to .", ["email"]),  # not a URL: the address holds the domain
        ("assign ABC-42 to me", "assign to me", ["issue"]),
        ("read ~/notes/todo.md", "read", ["path", "file", "directory"]),
        ("what is in /etc/nginx", "what is in", ["path", "file", "directory"]),
        ("diff src/app.py", "diff", ["path", "file", "directory"]),
        ("open report.xlsx", "open report.xlsx", ["file"]),  # a file name stays: its extension says what it is
        ("fork octo/api and/or its wiki", "fork octo/api and/or its wiki", []),  # no path
    ],
)
def test_argument_values_give_way_to_their_kinds(query: str, rest: str, kinds: list[str]) -> None:
    words, found = argument_values(query)
    assert words.split() == rest.split()
    assert found == analyze(" ".join(kinds))


def test_a_value_kind_lifts_the_tools_that_take_it(index: ToolIndex) -> None:
    navigate = "playwright.browser_navigate"
    assert navigate in _names(index, "load https://example.com/pricing in the browser", 3)
    assert navigate not in _names(index, "load example pricing in the browser", 10)
    link = "atlassian.jira_create_remote_issue_link"
    assert link in _names(index, "attach https://wiki.example.com/runbook to ABC-42", 20)
    assert link not in _names(index, "attach runbook to ABC-42", 20)
    assert "filesystem.read_text_file" in _names(index, "read the first lines of ~/logs/app.txt", 5)


def test_a_query_of_values_only_still_searches(index: ToolIndex) -> None:
    assert index.rank("https://github.com")  # nothing left once the URL goes: its own words are used


# -- fusion ----------------------------------------------------------------------------------------------------------


def test_rescaled_maps_the_best_to_one_and_drops_the_floor() -> None:
    scores = [0.9, 0.5, 0.7, 0.1, 0.3]
    assert rescaled(scores, [0, 1, 2, 3, 4], depth=3) == pytest.approx({0: 1.0, 2: 0.5})
    # fewer candidates than the depth: all kept, the floor a step (range / count) below the worst
    assert rescaled(scores, [1, 3], depth=3) == pytest.approx({1: 1.0, 3: 1 / 3})
    assert rescaled(scores, [], depth=3) == {}


def test_rescaled_gives_tools_tied_for_the_best_the_same_full_score() -> None:
    assert rescaled([0.2, 0.2, 0.2, 0.2], [0, 1, 2, 3], depth=2) == {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}
    assert rescaled([0.5, 0.5, 0.5, 0.1], [0, 1, 2, 3], depth=2) == {0: 1.0, 1: 1.0, 2: 1.0}


def test_the_embedding_weight_balances_the_two_rankings() -> None:
    catalog = Catalog.from_wire(
        {
            "files": [
                {"name": "read_file", "description": "Read a file.", "inputSchema": {"type": "object"}},
                {"name": "write_file", "description": "Write a file.", "inputSchema": {"type": "object"}},
                {"name": "remove_file", "description": "Remove a file.", "inputSchema": {"type": "object"}},
            ]
        }
    )

    def favours_remove(texts: list[str]) -> list[list[float]]:  # the query's semantic ranking: remove, write, read
        return [[1.0, 0.0] if "emove" in t or "the" in t else [0.6, 0.8] if "rite" in t else [0.0, 1.0] for t in texts]

    def ranked(weight: float) -> list[str]:
        index = ToolIndex(catalog, embedder=favours_remove, embedding_weight=weight)
        return [tool.name for tool, _score in index.rank("read the file")]

    assert ranked(0.0) == ["read_file", "remove_file", "write_file"]  # lexical only (ties in name order)
    assert ranked(0.5)[0] == "read_file"
    assert ranked(3.0)[0] == "remove_file"
