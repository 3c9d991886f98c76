"""PII tokenization with data-flow rules, on the host side of the bridge (pure Python, no I/O).

Tool results are tokenized before they enter the sandbox, so neither the sandbox nor the model sees real values;
tool arguments are detokenized just before a call, after the data-flow rules allow it::

    server "crm" --result--> tokenize(source="crm") --> sandbox sees "[EMAIL_1]"
    sandbox --args "[EMAIL_1]"--> detokenize(destination="mail") --rules crm -> mail?--> real value --> "mail"

**Tokens** are ``[KIND_N]``: ``KIND`` is the detector's kind normalised to ``[A-Z][A-Z0-9_]*`` and ``N`` a
positive decimal without leading zeros, so a token parses unambiguously (``N`` is the last ``_<digits>``). A
:class:`PIITokenizer` is one session: the same real value of the same kind always gets the same token, numbers are
never reused (not even after :meth:`~PIITokenizer.forget`, so a stale token in the sandbox can never be restored
into a different value), and every token remembers the server(s) it came from.

**Look-alikes.** Only tokens this tokenizer issued are ever restored; any other ``[KIND_N]`` text is left alone.
Text from a server that already looks like a token is handled on the way *in*, so that every issued token the
sandbox sees was put there by the tokenizer: if it names an issued token, the literal text is itself tokenized (a
"literal" token that restores to the same text and is exempt from flow rules, since it is no PII); otherwise it
passes through and its name is reserved, so it is never issued later. Round trips are exact either way.

**Flow rules** (:func:`allow_flow`, :func:`deny_flow`) match server names with :func:`fnmatch.fnmatchcase` globs.
The *last* matching rule wins (put general rules first, exceptions after); when none matches, ``default_flow``
decides. A token may always go back to a server it came from (that server already has the value). A token seen from
several servers may go to a destination only if every one of its sources may (taint semantics: deny wins).

Detection: :data:`DEFAULT_DETECTORS` (``EMAIL``, ``PHONE``, ``CREDIT_CARD`` Luhn-checked, ``IBAN`` mod-97-checked,
``IP_ADDRESS`` checked with :mod:`ipaddress`) or any callable ``str -> Iterable[Span]``, e.g. a Presidio analyzer
through :func:`detector_from_analyzer`. Overlapping detections resolve to the longest. A detector that raises or
returns a malformed span fails the whole call (:class:`~mcpexec.errors.MCPExecError`): nothing passes untokenized.

The vault lives in memory only: ``repr()`` shows counts, never values, and pickling/copying is refused.
"""

from __future__ import annotations

import bisect
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, NoReturn, Protocol, cast

from mcpexec._pii_detectors import (
    DEFAULT_DETECTORS,
    Detector,
    PatternDetector,
    Span,
    count_digits,
    iban_valid,
    luhn_valid,
)
from mcpexec.errors import MCPExecError, PolicyDenied, UsageError

__all__ = [
    "DEFAULT_DETECTORS",
    "Detector",
    "FlowRule",
    "PIITokenizer",
    "Span",
    "TOKEN_PATTERN",
    "allow_flow",
    "deny_flow",
    "detector_from_analyzer",
    "iban_valid",
    "luhn_valid",
]

TOKEN_PATTERN = re.compile(r"\[([A-Z][A-Z0-9_]*)_([1-9][0-9]*)\]")
"""The token grammar ``[KIND_N]``; a match is a token only if this tokenizer issued it."""

_LITERAL_KIND = "LITERAL"


# --- flow rules ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowRule:
    """Whether values from servers matching ``source`` may be sent to servers matching ``destination`` (globs)."""

    source: str
    destination: str
    allow: bool
    name: str = ""
    """Shown in :class:`~mcpexec.errors.PolicyDenied` messages; defaults to ``"<source> -> <destination>: deny"``."""

    def __post_init__(self) -> None:
        for label, pattern in (("source", self.source), ("destination", self.destination)):
            if not isinstance(pattern, str) or not pattern:  # pyright: ignore[reportUnnecessaryIsInstance]
                raise UsageError(f"FlowRule {label} must be a non-empty glob over server names, got {pattern!r}")
        if not self.name:
            verdict = "allow" if self.allow else "deny"
            object.__setattr__(self, "name", f"{self.source} -> {self.destination}: {verdict}")

    def matches(self, source: str, destination: str) -> bool:
        """Whether this rule applies to a flow from server ``source`` to server ``destination``."""
        return fnmatchcase(source, self.source) and fnmatchcase(destination, self.destination)


def allow_flow(source: str, destination: str, *, name: str = "") -> FlowRule:
    """A rule allowing values from ``source`` servers to reach ``destination`` servers (globs)."""
    return FlowRule(source, destination, True, name)


def deny_flow(source: str, destination: str, *, name: str = "") -> FlowRule:
    """A rule forbidding values from ``source`` servers to reach ``destination`` servers (globs)."""
    return FlowRule(source, destination, False, name)


# --- analyzer adapter ------------------------------------------------------------------------------------------------


class AnalyzerResultLike(Protocol):
    """What an analyzer reports per finding (Presidio's ``RecognizerResult`` has these attributes)."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def entity_type(self) -> str: ...


class AnalyzerLike(Protocol):
    """An object with Presidio's ``AnalyzerEngine.analyze(text=..., language=...)`` shape."""

    def analyze(self, *, text: str, language: str) -> Iterable[AnalyzerResultLike]: ...


def detector_from_analyzer(
    engine: AnalyzerLike,
    language: str = "en",
    *,
    entities: Iterable[str] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> Detector:
    """Adapt a Presidio-like analyzer into a :data:`Detector` (Presidio itself is not imported).

    ``entities`` keeps only those entity types; ``kinds`` renames them (``{"EMAIL_ADDRESS": "EMAIL"}``).
    """
    wanted = None if entities is None else frozenset(entities)
    rename = dict(kinds or {})

    def detect(text: str) -> Iterable[Span]:
        spans: list[Span] = []
        for result in engine.analyze(text=text, language=language):
            kind = result.entity_type
            if wanted is None or kind in wanted:
                spans.append((result.start, result.end, rename.get(kind, kind)))
        return spans

    detect.__name__ = f"analyzer:{type(engine).__name__}"
    return detect


# --- tokenizer -------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    kind: str
    value: str
    literal: bool
    sources: dict[str, None] = field(default_factory=dict[str, None])  # insertion-ordered set


_KIND_JUNK = re.compile(r"[^A-Z0-9_]+")


def _normalize_kind(kind: str) -> str:
    cleaned = _KIND_JUNK.sub("_", kind.upper()).strip("_").lstrip("0123456789_")
    return cleaned or "PII"


def _resolve(spans: list[tuple[int, int, str, int]]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans, longest first (ties: earlier start, then earlier detector), in text order."""
    spans.sort()
    if all(a[1] <= b[0] for a, b in itertools.pairwise(spans)):  # the usual case: nothing overlaps
        return [(start, end, kind) for start, end, kind, _ in spans]
    spans.sort(key=lambda s: (s[0] - s[1], s[0], s[3]))
    starts: list[int] = []  # kept spans, sorted by start (they never overlap, so ends are sorted too)
    kept: list[tuple[int, int, str]] = []
    for start, end, kind, _ in spans:
        i = bisect.bisect_right(starts, start)
        if (i and kept[i - 1][1] > start) or (i < len(kept) and kept[i][0] < end):
            continue
        starts.insert(i, start)
        kept.insert(i, (start, end, kind))
    return kept


class PIITokenizer:
    """Replace PII in tool results by stable tokens and restore it in tool arguments, enforcing flow rules."""

    def __init__(
        self,
        detectors: Mapping[str, Detector] | Sequence[str] | None = None,
        *,
        flow_rules: Sequence[FlowRule] = (),
        default_flow: Literal["allow", "deny"] = "allow",
    ) -> None:
        self._detectors = _select_detectors(detectors)
        # Built-in detectors share one digit count per string and skip strings their gates rule out.
        self._builtin = tuple(
            (index, detector, detector.min_length, detector.min_digits, tuple(detector.needs))
            for index, (_, detector) in enumerate(self._detectors)
            if isinstance(detector, PatternDetector)
        )
        self._custom = tuple(
            (index, name, detector)
            for index, (name, detector) in enumerate(self._detectors)
            if not isinstance(detector, PatternDetector)
        )
        self._rules = tuple(flow_rules)
        for rule in self._rules:
            if not isinstance(rule, FlowRule):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise UsageError(f"flow_rules takes FlowRule objects (allow_flow/deny_flow), got {rule!r}")
        if default_flow not in ("allow", "deny"):
            raise UsageError(f"default_flow must be 'allow' or 'deny', got {default_flow!r}")
        self._default_flow = default_flow
        self._lock = threading.RLock()
        self._by_token: dict[str, _Entry] = {}
        self._by_value: dict[tuple[str, str, bool], str] = {}
        self._counters: dict[str, int] = {}
        self._reserved: set[str] = set()
        self._kinds: dict[str, str] = {}
        self._verdicts: dict[tuple[str, str], FlowRule | None] = {}

    # -- public API

    @property
    def detector_names(self) -> tuple[str, ...]:
        """The names of the detectors in use, in order."""
        return tuple(name for name, _ in self._detectors)

    @property
    def flow_rules(self) -> tuple[FlowRule, ...]:
        """The data-flow rules, in order (the last matching one wins)."""
        return self._rules

    def tokenize(self, value: Any, *, source: str) -> Any:
        """A copy of JSON-like ``value`` with each detected substring of each string replaced by its token.

        Dict keys and non-string scalars are kept; lists, tuples and dicts are rebuilt. ``source`` is the server the
        value came from; every token produced (or re-used) records it.
        """
        _check_server("source", source)
        with self._lock:
            return self._walk(value, lambda text: self._tokenize_text(text, source))

    def detokenize(self, value: Any, *, destination: str) -> Any:
        """A copy of JSON-like ``value`` with every issued token (whole string or embedded) replaced by its value.

        Raises :class:`~mcpexec.errors.PolicyDenied` naming the rule, token and servers when a token's source may
        not flow to ``destination``; nothing is restored then. Text that only looks like a token is left as is.
        """
        _check_server("destination", destination)
        with self._lock:
            return self._walk(value, lambda text: self._detokenize_text(text, destination))

    def flow_allowed(self, source: str, destination: str) -> bool:
        """Whether values from server ``source`` may be sent to server ``destination``."""
        return source == destination or self._verdict(source, destination)[0]

    def tokens(self) -> int:
        """How many tokens this tokenizer has issued and still holds."""
        return len(self._by_token)

    def describe(self, token: str) -> str:
        """The kind and source(s) of an issued token, never its value: ``"EMAIL from crm, sheets"``."""
        entry = self._by_token.get(token)
        if entry is None:
            raise UsageError(f"{token!r} is not a token issued by this tokenizer")
        kind = f"literal text that looked like a token ({_LITERAL_KIND})" if entry.literal else entry.kind
        return f"{kind} from {', '.join(entry.sources)}"

    def forget(self) -> None:
        """Drop every real value; numbers stay used, so old tokens are never re-issued for other values."""
        with self._lock:
            self._by_token.clear()
            self._by_value.clear()

    def __repr__(self) -> str:
        names = ", ".join(self.detector_names)
        return (
            f"<PIITokenizer detectors=[{names}] tokens={len(self._by_token)} rules={len(self._rules)} "
            f"default_flow={self._default_flow!r}>"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("PIITokenizer holds real PII values in memory only; it cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        self.__reduce__()

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce__()

    # -- walking

    def _walk(self, value: Any, on_text: Callable[[str], str]) -> Any:
        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return on_text(item)
            if isinstance(item, dict):
                return {key: walk(sub) for key, sub in cast(dict[Any, Any], item).items()}
            if isinstance(item, list):
                return [walk(sub) for sub in cast(list[Any], item)]
            if isinstance(item, tuple):
                return tuple(walk(sub) for sub in cast(tuple[Any, ...], item))
            return item

        return walk(value)

    # -- tokenizing

    def _tokenize_text(self, text: str, source: str) -> str:
        found: list[tuple[int, int, str, int]] = []
        literals: list[tuple[int, int, str, int]] = []
        name = ""
        try:
            if self._builtin:
                length = len(text)
                digits = count_digits(text)
                for index, detector, min_length, min_digits, needs in self._builtin:
                    if length < min_length or digits < min_digits or (needs and not any(map(text.__contains__, needs))):
                        continue
                    name = detector.kind
                    for start, end, kind in detector.scan(text, digits):
                        found.append((start, end, kind, index))
            for index, name, detector in self._custom:
                found.extend(_checked_spans(name, detector(text), len(text), index))
        except MCPExecError:
            raise
        except Exception as exc:
            # The exception text may quote the value: keep it in __cause__ (host side), out of the message.
            raise MCPExecError(
                f"PII detector {name!r} failed ({type(exc).__name__}); the value was not passed on"
            ) from exc
        if "[" in text:
            for match in TOKEN_PATTERN.finditer(text):
                if match.group() in self._by_token:  # would restore into another value: quote it
                    literals.append((match.start(), match.end(), "", -1))
                else:  # never issue it, so it stays inert text
                    self._reserved.add(match.group())
        if not found and not literals:
            return text
        spans = _resolve(found + literals)
        pieces: list[str] = []
        position = 0
        for start, end, kind in spans:
            pieces.append(text[position:start])
            pieces.append(self._issue(kind, text[start:end], source))
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def _issue(self, kind: str, value: str, source: str) -> str:
        literal = not kind
        if literal:
            kind = _LITERAL_KIND
        else:
            normalized = self._kinds.get(kind)
            if normalized is None:
                normalized = self._kinds[kind] = _normalize_kind(kind)
            kind = normalized
        key = (kind, value, literal)
        token = self._by_value.get(key)
        if token is None:
            number = self._counters.get(kind, 0)
            while True:
                number += 1
                token = f"[{kind}_{number}]"
                if token not in self._reserved:
                    break
            self._counters[kind] = number
            self._by_value[key] = token
            self._by_token[token] = _Entry(kind, value, literal)
        self._by_token[token].sources[source] = None
        return token

    # -- detokenizing

    def _detokenize_text(self, text: str, destination: str) -> str:
        if "[" not in text:
            return text

        def restore(match: re.Match[str]) -> str:
            token = match.group()
            entry = self._by_token.get(token)
            if entry is None:
                return token
            if not entry.literal:
                self._check_flow(token, entry, destination)
            return entry.value

        return TOKEN_PATTERN.sub(restore, text)

    def _check_flow(self, token: str, entry: _Entry, destination: str) -> None:
        for source in entry.sources:
            if source == destination:
                continue
            allowed, rule = self._verdict(source, destination)
            if allowed:
                continue
            sources = ", ".join(entry.sources)
            if rule is None:
                why = f"default data-flow policy 'deny' (no rule matches {source} -> {destination})"
            else:
                why = f"data-flow rule {rule.name!r}"
            raise PolicyDenied(f"{why} forbids sending {token} (from {sources}) to {destination}")

    def _verdict(self, source: str, destination: str) -> tuple[bool, FlowRule | None]:
        key = (source, destination)
        if key in self._verdicts:
            rule = self._verdicts[key]
        else:
            rule = next((r for r in reversed(self._rules) if r.matches(source, destination)), None)
            self._verdicts[key] = rule
        if rule is None:
            return self._default_flow == "allow", None
        return rule.allow, rule


# --- helpers ---------------------------------------------------------------------------------------------------------


def _check_server(label: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise UsageError(f"{label} must be a non-empty server name, got {name!r}")


def _select_detectors(detectors: Mapping[str, Detector] | Sequence[str] | None) -> tuple[tuple[str, Detector], ...]:
    known = ", ".join(DEFAULT_DETECTORS)
    if detectors is None:
        return tuple(DEFAULT_DETECTORS.items())
    if isinstance(detectors, str):
        raise UsageError(f"detectors takes a list of names, not one string {detectors!r}; known: {known}")
    if isinstance(detectors, Mapping):
        chosen = list(detectors.items())
        for name, detector in chosen:
            if not callable(detector):
                raise UsageError(f"detector {name!r} is not callable: {detector!r}")
        return tuple(chosen)
    unknown = [name for name in detectors if name not in DEFAULT_DETECTORS]
    if unknown:
        raise UsageError(f"unknown PII detector(s) {', '.join(map(repr, unknown))}; known: {known}")
    return tuple((name, DEFAULT_DETECTORS[name]) for name in dict.fromkeys(detectors))


def _checked_spans(name: str, spans: Iterable[Span], length: int, index: int) -> list[tuple[int, int, str, int]]:
    checked: list[tuple[int, int, str, int]] = []
    for span in spans:
        try:
            start, end, kind = span
        except (TypeError, ValueError):
            raise MCPExecError(f"PII detector {name!r} returned {span!r}, not a (start, end, kind) span") from None
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(kind, str)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise MCPExecError(f"PII detector {name!r} returned {span!r}, not a (start, end, kind) span")
        if not 0 <= start <= end <= length:
            raise MCPExecError(f"PII detector {name!r} returned span {span!r} outside a text of length {length}")
        if start < end:
            checked.append((start, end, kind, index))
    return checked
