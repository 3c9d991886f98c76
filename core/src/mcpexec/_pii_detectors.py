"""Built-in PII detectors: one precompiled pattern per kind plus a validator (Luhn, mod-97, ``ipaddress``).

Each detector is a :class:`PatternDetector`: a callable ``text -> Iterable[Span]``. A cheap gate (minimum length,
a character the text must contain) skips most strings before the regex runs; a candidate the regex finds is kept
only when its validator accepts it (the validator may accept a prefix, e.g. an IBAN followed by another word).
Patterns are anchored on "not inside a larger word or number" lookarounds so that ids (``ORD-1234``), dates,
versions, timestamps and amounts do not match; bare digit runs are never phones unless written ``+<digits>``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEFAULT_DETECTORS", "Detector", "PatternDetector", "Span", "count_digits", "iban_valid", "luhn_valid"]

Span = tuple[int, int, str]
"""``(start, end, kind)``: ``text[start:end]`` is a value of kind ``kind`` (e.g. ``"EMAIL"``)."""

Detector = Callable[[str], Iterable[Span]]
"""Any callable returning the spans of PII it finds in a string."""

_NOT_DIGITS = re.compile(r"[^0-9]+")
_DIGIT_SET = frozenset("0123456789")


def count_digits(text: str) -> int:
    """How many ASCII digits ``text`` holds (the gates below need it; computed once per string)."""
    return len(_NOT_DIGITS.sub("", text))


@dataclass(frozen=True, slots=True)
class PatternDetector:
    """A regex finds candidates, ``accept(candidate)`` returns the length of the valid prefix (0 rejects).

    The gate fields let callers skip the regex: a text shorter than ``min_length``, with fewer than ``min_digits``
    digits, or (when ``needs`` is set) without any of the characters in ``needs`` cannot hold a match.
    """

    kind: str
    pattern: re.Pattern[str]
    accept: Callable[[str], int]
    min_length: int
    min_digits: int
    needs: str = ""

    def __call__(self, text: str) -> list[Span]:
        return self.scan(text, count_digits(text))

    def scan(self, text: str, digits: int) -> list[Span]:
        """The spans in ``text``, which holds ``digits`` ASCII digits."""
        if len(text) < self.min_length or digits < self.min_digits:
            return []
        if self.needs and not any(c in text for c in self.needs):
            return []
        spans: list[Span] = []
        for match in self.pattern.finditer(text):
            length = self.accept(match.group())
            if length:
                spans.append((match.start(), match.start() + length, self.kind))
        return spans


def _whole(check: Callable[[str], bool]) -> Callable[[str], int]:
    return lambda candidate: len(candidate) if check(candidate) else 0


# --- EMAIL -----------------------------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"[^\W_][\w.%+'-]{0,63}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}(?![\w@])",
)

# --- PHONE -----------------------------------------------------------------------------------------------------------

_PHONE = re.compile(
    r"""
    (?<![\w+@./-])                                                     # not inside a word, number, id
    (?:
        \+[1-9]\d{0,2}(?:[ .-]?(?:\(\d{1,5}\)|\d{1,8})){1,7}            # international: +44 20 7946 0958
      | (?:1[ .-])?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}  # North America: (555) 123-4567
      | (?<!\d[ .-])                                                     # not a group of a longer number
        (?:\(0[1-9]\d{0,3}\)[ .-]?|0[1-9]\d{0,3}[ .-])\d{2,8}(?:[ .-]\d{2,8}){0,4}  # trunk 0: 020 7946 0958
    )
    (?![\w@]|[.,/:-]?\d)
    """,
    re.VERBOSE | re.ASCII,
)
_DATE_START = re.compile(r"\(?\d{1,2}[ ./-]\d{1,2}[ ./-](?:19|20)\d{2}(?!\d)", re.ASCII)


def _phone_ok(candidate: str) -> bool:
    digits = count_digits(candidate.replace("(0)", ""))
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    if candidate.lstrip("(").startswith("0"):
        return 9 <= digits <= 12 and not _DATE_START.match(candidate)
    return True  # North American shape: exactly 10 or 11 digits by construction


# --- CREDIT_CARD -----------------------------------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w.,-])[2-6](?:[ -]?\d){12,18}(?!\w|[.,-]\d)", re.ASCII)


def luhn_valid(number: str) -> bool:
    """Whether a string of digits passes the Luhn checksum."""
    total = 0
    for i, char in enumerate(reversed(number)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(candidate: str) -> bool:
    separators = set(candidate) - _DIGIT_SET
    if len(separators) > 1:
        return False
    if separators:
        groups = candidate.split(separators.pop())
        if any(not 3 <= len(g) <= 7 for g in groups):
            return False
    digits = _NOT_DIGITS.sub("", candidate)
    if digits[0] == "2" and not 2221 <= int(digits[:4]) <= 2720:  # Mastercard 2-series
        return False
    return len(set(digits)) > 1 and luhn_valid(digits)


# --- IBAN ------------------------------------------------------------------------------------------------------------

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# Lengths from the SWIFT IBAN registry; a country not listed is accepted at any length from 15 to 34.
_IBAN_REGISTRY = (
    "15:NO 16:BE 18:DK,FI,FO,GL,NL 19:MK,SI 20:AT,BA,EE,KZ,LT,LU,XK 21:CH,HR,LI,LV "
    "22:BG,BH,CR,DE,GB,GE,IE,ME,RS,VA 23:AE,GI,IL,IQ,TL 24:AD,CZ,ES,MD,PK,RO,SA,SE,SK,TN,VG 25:PT,ST 26:IS,TR "
    "27:FR,GR,IT,MC,MR,SM 28:AL,AZ,BY,CY,DO,GT,HU,LB,PL,SV 29:BR,EG,PS,QA,UA 30:JO,KW,MU 31:MT,SC 32:LC"
)
_IBAN_LENGTHS: Mapping[str, int] = {
    country: int(length)
    for entry in _IBAN_REGISTRY.split()
    for length, countries in [entry.split(":")]
    for country in countries.split(",")
}


def iban_valid(iban: str) -> bool:
    """Whether a compact (no spaces) IBAN passes the ISO 13616 mod-97 check."""
    if not 15 <= len(iban) <= 34 or not iban.isascii() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban_accept(candidate: str) -> int:
    # Candidate ends are tried at group boundaries, longest first: "DE89 3704 0044 0532 0130 00 EUR" -> drop "EUR".
    ends = [len(candidate)] + [i for i in range(len(candidate) - 1, 0, -1) if candidate[i] == " "]
    expected = _IBAN_LENGTHS.get(candidate[:2])
    for end in ends:
        compact = candidate[:end].replace(" ", "")
        if expected is not None and len(compact) != expected:
            continue
        if iban_valid(compact):
            return end
    return 0


# --- IP_ADDRESS ------------------------------------------------------------------------------------------------------

_IP = re.compile(
    r"(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?![\w:]))",
    re.ASCII,
)


def _ip_accept(candidate: str) -> int:
    candidate = candidate.rstrip(".")
    try:
        if ":" in candidate:
            if _DIGIT_SET.isdisjoint(candidate):  # "::" or "dead::beef" in prose/code are not worth a token
                return 0
            ipaddress.IPv6Address(candidate)
        else:
            ipaddress.IPv4Address(candidate)
    except ValueError:
        return 0
    return len(candidate)


DEFAULT_DETECTORS: Mapping[str, Detector] = MappingProxyType(
    {
        "EMAIL": PatternDetector("EMAIL", _EMAIL, len, 6, 0, needs="@"),
        "PHONE": PatternDetector("PHONE", _PHONE, _whole(_phone_ok), 9, 8),
        "CREDIT_CARD": PatternDetector("CREDIT_CARD", _CARD, _whole(_card_ok), 13, 13),
        "IBAN": PatternDetector("IBAN", _IBAN, _iban_accept, 15, 2),
        "IP_ADDRESS": PatternDetector("IP_ADDRESS", _IP, _ip_accept, 3, 1, needs=".:"),
    }
)
"""The built-in detectors by name; each reports spans of its own name as kind."""
