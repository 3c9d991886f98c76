"""The one escaping table through which every piece of server-provided text reaches generated code.

Server text (names, titles, descriptions, enum values, defaults, schema keys) is untrusted. It appears in generated
source only inside string literals built here: never as an identifier, never in a comment, never unescaped. A
literal built here is a plain (non-raw) double-quoted or triple-double-quoted string in which

- ``\\`` and ``"`` are always escaped, so no text can close the literal or start an escape of its own;
- line breaks are ``\\n``/``\\r`` escapes in one-line literals; in docstrings ``\\n`` stays a real newline (which
  is harmless inside a triple-quoted string whose quotes are all escaped) and ``\\r`` is escaped;
- NUL, every other control character (category Cc), format characters such as bidirectional overrides (Cf,
  "Trojan Source"), line/paragraph separators (Zl, Zp), unassigned code points and lone surrogates become
  ``\\x``/``\\u``/``\\U`` escapes, so the source stays valid UTF-8 and reads the same to a reviewer and to Python.

Reading a one-line literal back (``ast.literal_eval``) gives the original text exactly. Docstrings differ in one
point: a lone surrogate, which CPython cannot store in a class docstring (it encodes ``__doc__`` as UTF-8), becomes
U+FFFD there.
"""

from __future__ import annotations

import unicodedata

__all__ = ["docstring_literal", "string_literal"]

_ALWAYS = {"\\": "\\\\", '"': '\\"', "\r": "\\r", "\t": "\\t"}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape_char(ch: str, *, keep_newline: bool) -> str:
    if keep_newline and "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    if ch in _ALWAYS:
        return _ALWAYS[ch]
    if ch == "\n":
        return "\n" if keep_newline else "\\n"
    if ch.isascii() and ch.isprintable():
        return ch
    if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
        code = ord(ch)
        if code <= 0xFF:
            return f"\\x{code:02x}"
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        return f"\\U{code:08x}"
    return ch


def _escape(text: str, *, keep_newline: bool) -> str:
    return "".join(_escape_char(ch, keep_newline=keep_newline) for ch in text)


def string_literal(text: str) -> str:
    """A one-line Python string literal whose value is exactly ``text``."""
    return '"' + _escape(text, keep_newline=False) + '"'


def docstring_literal(text: str, indent: str = "") -> str:
    """A triple-quoted docstring literal for ``text``; with ``indent``, laid out for a function body.

    Without ``indent`` the value is exactly ``text``. With it, non-empty continuation lines are indented and the
    closing quotes go on a line of their own: ``inspect.cleandoc`` (what ``help()`` shows) gives ``text`` back.
    """
    body = _escape(text, keep_newline=True)
    if indent and "\n" in body:
        lines = body.split("\n")
        body = "\n".join([lines[0], *((indent + line) if line.strip() else "" for line in lines[1:])])
        body += "\n" + indent
    return '"""' + body + '"""'
