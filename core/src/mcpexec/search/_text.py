"""Text analysis for tool search: word splitting, a light stemmer, stopwords, abbreviations and synonym groups.

Tool names are split on snake, kebab, dotted, slashed and camel case (``getFileContents`` → get file contents),
common abbreviations are spelled out (PR → pull request, k8s → kubernetes), words are lower-cased and reduced by
a small suffix stemmer (create/creates/created/creating/creation → creat), and query words can be widened with
curated synonym groups of the vocabulary tools use (fetch ~ get, ticket ~ issue). Argument values in a request
(URLs, paths, issue keys) give way to words naming their kind. Everything here is deterministic and
dependency-free.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "STOPWORDS",
    "analyze",
    "argument_values",
    "expand",
    "negated",
    "plain_words",
    "split_words",
    "stem",
    "without_negated",
]

# one pass: acronyms before a capitalized word (HTTPRequest -> HTTP, Request), capitalized/lower words, digits
_WORD = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

STOPWORDS = frozenset(
    """
    a an the and or but if then else of to in on at by for from with without into onto over under about as is are
    was were be been being am do does did done doing have has had having i me my mine we us our ours you your yours
    he him his she her they them their it its this that these those there here what which who whom whose when where
    why how any each every some such no not only own same so than too very can could will would shall should
    may might must just also please pls want wanna need needs like let lets me thanks thank
    hey hi okay ok right currently again once really quick quickly something thing things via
    """.split()  # noqa: SIM905 - a word list reads best as one string
)


_NEGATED = re.compile(r"(?i)\b(?:not|never|rather than|instead of|except|excluding)\b[^.,;:!?()]*")


def without_negated(query: str) -> str:
    """``query`` without what it rules out ("the local README, not the one on GitHub" → "the local README,")."""
    return _NEGATED.sub(" ", query)


def negated(query: str) -> str:
    """What ``query`` rules out (the spans :func:`without_negated` removes)."""
    return " ".join(match.group(0) for match in _NEGATED.finditer(query))


_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _acronym_singular(word: str) -> str:
    """``PRs`` → ``PR``: an acronym's plural keeps the acronym (other words go to the stemmer)."""
    return word[:-1] if len(word) > 2 and word[-1] == "s" and word[-2].isupper() else word


def _token_words(token: str) -> list[str]:
    """A token's lower-case words; a camel-cased one also as a whole (GitHub → git, hub, github), so brand
    names written either way still meet."""
    if token.islower() and token.isalpha():  # most words: nothing to split
        return [token]
    parts = [_acronym_singular(part).lower() for part in _WORD.findall(token)]
    if len(parts) > 1:
        parts.append(token.lower())
    return parts


def split_words(text: str) -> list[str]:
    """Lower-case words of ``text``, splitting camelCase, acronyms, digits and every punctuation."""
    return [word for token in _TOKEN.findall(text) for word in _token_words(token)]


def plain_words(text: str) -> list[str]:
    """Lower-case alphanumeric runs of ``text``, not split further (``GitHub`` stays ``github``)."""
    return [token.lower() for token in _TOKEN.findall(text)]


_SUFFIXES = ("ations", "ation", "ings", "ing", "ions", "ion", "ments", "ment", "ed", "es", "s")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic suffix stemmer (good enough to match inflections of the same word)."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ss"):
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    return word


_TERMS: dict[str, list[str]] = {}  # token as written -> its index terms; bounded by the vocabulary


# Abbreviations software people write for the full words tools spell out (and the other way round): both sides
# of the match are normalized to the full words, so "PR" meets "pull request" at full weight.
_ABBREVIATIONS = {
    short: full.split()
    for short, full in (
        ("pr", "pull request"),
        ("mr", "merge request"),
        ("repo", "repository"),
        ("db", "database"),
        ("dir", "directory"),
        ("env", "environment"),
        ("config", "configuration"),
        ("cfg", "configuration"),
        ("k8s", "kubernetes"),
        ("vm", "virtual machine"),
        ("msg", "message"),
        ("org", "organization"),
        ("perm", "permission"),
        ("doc", "document"),
        ("docs", "documents"),
        ("ns", "namespace"),
        ("svc", "service"),
        ("stats", "statistics"),
        ("img", "image"),
        ("pic", "picture"),
        ("pwd", "password"),
        ("creds", "credentials"),
        ("tz", "timezone"),
        ("info", "information"),
        ("auth", "authentication"),
        ("dm", "direct message"),
        ("deps", "dependencies"),
        ("dep", "dependency"),
        ("app", "application"),
        ("ui", "user interface"),
    )
}


# Argument values in a request are no search words, but their kind is: a URL asks for a tool that takes a URL.
_VALUES = (  # in this order: an e-mail address holds a domain, a URL holds a path
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]*\w"), "email"),
    (re.compile(r"\bhttps?://\S+|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|app|ai|co)\b"), "url link"),
    (re.compile(r"\b[A-Z][A-Z0-9]+-[0-9]+\b"), "issue"),  # an issue key: PAY-123
    (
        re.compile(r"(?<![\w/])(?:~|\.{1,2})?/[\w./~*-]+|\b[\w.-]+(?:/[\w.*-]+)+\.[a-z][a-z0-9]{1,4}\b"),
        "path file directory",
    ),
)
_FILE_NAME = re.compile(r"\b[\w*-]+\.[a-z][a-z0-9]{1,4}\b")  # kept: its extension tells the kind (report.xlsx)


def argument_values(query: str) -> tuple[str, list[str]]:
    """``query`` without its URLs, e-mail addresses, issue keys and paths, and the analyzed words naming the kinds
    of value it holds (``go to https://example.com`` → ``go to``, [url, link])."""
    kinds: list[str] = []
    for pattern, words in _VALUES:
        blanked = pattern.sub(" ", query)
        if blanked != query:
            kinds += analyze(words)
            query = blanked
    if _FILE_NAME.search(query):
        kinds += analyze("file")
    return query, list(dict.fromkeys(kinds))


def _terms(token: str) -> list[str]:
    # stopwords go, and numbers: in a request they are arguments (issue 42, port 5432), not what selects a tool
    whole = _ABBREVIATIONS.get(token.lower())  # k8s, before it splits into k, 8, s
    words = whole or [full for word in _token_words(token) for full in _ABBREVIATIONS.get(word, [word])]
    terms = [stem(w) for w in words if w not in STOPWORDS and not w.isdigit()]
    if len(_TERMS) < 200_000:
        _TERMS[token] = terms
    return terms


def analyze(text: str) -> list[str]:
    """The index terms of ``text``: split, stopwords dropped, stemmed."""
    cache = _TERMS
    analyzed: list[str] = []
    for token in _TOKEN.findall(text):
        terms = cache.get(token)
        analyzed += terms if terms is not None else _terms(token)
    return analyzed


# Groups of words tools and users use for the same thing. A query word widens to the rest of its group(s).
_SYNONYM_GROUPS = [
    "get fetch retrieve read show view display obtain open see check inspect describe",
    "list enumerate browse all show",
    "create add new make insert generate open file post register spin provision",
    "delete remove drop destroy erase purge discard trash wipe",
    "update edit modify change set patch alter rename adjust",
    "search find query lookup locate grep filter look",
    "send post message notify tell ping share announce broadcast reply",
    "run execute start launch trigger invoke kick",
    "stop cancel kill terminate abort halt",
    "issue bug ticket defect task",
    "pull merge",  # a pull request is a merge request
    "repository project codebase",
    "file document",
    "folder directory",
    "comment note reply feedback discussion",
    "user member person people account collaborator teammate assignee",
    "commit revision change",
    "page wiki article",
    "database collection",
    "spreadsheet sheet workbook worksheet excel xlsx",
    "image picture photo screenshot",
    "time clock date timezone",
    "pod container workload",
    "cluster kubernetes kube",
    "log logs",
    "error exception crash",
    "unstage reset",
    "stage add",
    "navigate browse visit goto url",
    "remember memory knowledge graph entity entities",
    "blob storage bucket",
    "contact lead customer",
    "diff difference compare",
    "history log",
    "permission role access",
    "label tag",
    "release tag version",
    "workflow pipeline action job",
    "sprint iteration milestone",
]


def _build_synonyms() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for group in _SYNONYM_GROUPS:
        terms = {stem(w) for w in group.split()}
        for term in terms:
            table.setdefault(term, set()).update(terms)
    return {term: frozenset(others - {term}) for term, others in table.items()}


_SYNONYMS = _build_synonyms()


def expand(terms: list[str]) -> dict[str, float]:
    """Query term weights: each analyzed term 1.0, its synonyms ``0.35`` (never above a term's own weight)."""
    weights: dict[str, float] = {}
    for term in terms:
        weights[term] = 1.0
    for term in terms:
        for synonym in _SYNONYMS.get(term, ()):
            if synonym not in weights:
                weights[synonym] = 0.35
    return weights
