"""What a skill is made of, checked without running it: name rules, source analysis, and the ``SKILL.md`` format.

Names: a skill's name is a Python identifier (``check_pending_orders``): it is the folder, the package under
``skills`` and the function. The Agent Skills ``name`` field allows only lowercase letters, digits and single
hyphens, so ``SKILL.md`` carries the hyphenated spelling (``check-pending-orders``). To keep the two a bijection,
a name has no double and no trailing underscore. Readers accept either spelling in ``SKILL.md``.

``SKILL.md`` front matter is written as a strict YAML subset: ``name`` plain, ``description`` and
``metadata.example`` as JSON strings (valid YAML double-quoted scalars). The reader accepts the YAML that people
write by hand (plain, single- or double-quoted, folded and literal blocks, comments) for the keys it needs.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import keyword
import re
import sys
import tokenize
import unicodedata

from mcpexec.catalog import python_identifier
from mcpexec.errors import UsageError

__all__ = [
    "agent_skills_name",
    "check_description",
    "check_example",
    "check_name",
    "check_source",
    "parse_skill_md",
    "render_skill_md",
]

MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_EXAMPLE = 4096
MAX_SOURCE = 512 * 1024
MAX_SKILL_MD = 256 * 1024
# Names the agent's code already uses at top level (the generated packages and the guest runtime's globals).
RESERVED = frozenset({"servers", "skills", "mcpexec", "call_mcp_tool", "search_tools", "save_skill"})
# Builtins that ``site`` adds: refused whether or not the host ran ``site``, like the rest of ``builtins``.
_SITE_BUILTINS = frozenset({"copyright", "credits", "exit", "help", "license", "quit"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})  # YAML 1.1 plain scalars
_KEY = re.compile(r"""(["']?)([A-Za-z0-9_-]+)\1[ \t]*:(?:[ \t]+(.*))?$""")
_BLOCK_HEADER = re.compile(r"([|>])([1-9][+-]?|[+-][1-9]?|)(?:[ \t]+#.*)?$")


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid skill name, else raise :class:`UsageError` saying why and what to use."""
    if not isinstance(name, str):
        raise UsageError(f"a skill name is a string, got {type(name).__name__}")
    if _NAME.fullmatch(name) and "__" not in name and not name.endswith("_"):
        hint = ""
    else:
        hint = re.sub("_+", "_", python_identifier(name)).strip("_")[:MAX_NAME].rstrip("_") or "my_skill"
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"skill name {name!r} is not allowed: use a lowercase Python identifier (a letter, then letters, digits"
            f" or underscores; at most {MAX_NAME} characters), e.g. {hint!r}"
        )
    if "__" in name or name.endswith("_"):
        raise UsageError(
            f"skill name {name!r} is not allowed: no double or trailing underscores (the name must map to an Agent"
            f" Skills name of single hyphens), e.g. {hint!r}"
        )
    why = ""
    if keyword.iskeyword(name):
        why = "a Python keyword"
    elif name in RESERVED:
        why = "reserved by mcpexec"
    elif name in sys.stdlib_module_names:
        why = "the name of a standard library module"
    elif name in vars(builtins) or name in _SITE_BUILTINS:
        why = "a Python builtin (importing it would shadow the builtin)"
    if why:
        raise UsageError(f"skill name {name!r} is not allowed: it is {why}; choose a more specific name")
    return name


def agent_skills_name(name: str) -> str:
    """The Agent Skills spelling of a skill name: ``check_pending_orders`` -> ``check-pending-orders``."""
    return name.replace("_", "-")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} contains a lone surrogate; pass valid Unicode text") from None
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"), None)
    if bad is not None:
        raise UsageError(f"{what} contains the control character {bad!r}; remove it")


def check_description(description: object) -> str:
    """Return the description stripped of surrounding whitespace; :class:`UsageError` unless it is one paragraph."""
    if not isinstance(description, str):
        raise UsageError(f"a skill description is a string, got {type(description).__name__}")
    text = description.replace("\r\n", "\n").strip()
    if not text:
        raise UsageError("a skill description is required: say what the skill does and when to use it")
    if len(text) > MAX_DESCRIPTION:
        raise UsageError(f"the skill description has {len(text)} characters; shorten it to {MAX_DESCRIPTION} or less")
    if re.search(r"\n[ \t]*\n", text):
        raise UsageError("the skill description must be a single paragraph; remove the blank lines")
    _check_text(text, "the skill description")
    return text


def check_example(example: object) -> str | None:
    """Return the example (``None`` when empty); :class:`UsageError` unless it is short Python code that compiles."""
    if example is None:
        return None
    if not isinstance(example, str):
        raise UsageError(f"a skill example is a string of Python code, got {type(example).__name__}")
    text = example.replace("\r\n", "\n").strip("\n").rstrip()
    if not text.strip():
        return None
    if len(text) > MAX_EXAMPLE:
        raise UsageError(f"the skill example has {len(text)} characters; shorten it to {MAX_EXAMPLE} or less")
    _check_text(text, "the skill example")
    try:
        compile(text, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UsageError(
            f"the skill example is not valid Python ({_syntax_message(exc)}); pass code, e.g. a call"
        ) from None
    return text


def _syntax_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
    if isinstance(exc, RecursionError | MemoryError):
        return "nested too deeply"
    return str(exc)


def check_source(name: str, source: object) -> str:
    """Validate a skill's module source without running it; return the function's signature.

    The source must compile, be UTF-8 without a foreign coding declaration, and define a top-level function (sync
    or async) called ``name``. The signature keeps the annotations as written.
    """
    if not isinstance(source, str):
        raise UsageError(f"skill source is a string of Python code, got {type(source).__name__}")
    if len(source) > MAX_SOURCE:
        raise UsageError(f"skill source has {len(source)} characters; keep a skill under {MAX_SOURCE} characters")
    try:
        data = source.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("skill source contains a lone surrogate; pass valid Unicode text") from None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise UsageError(f"skill source has a bad coding declaration ({exc.msg}); remove it") from None
    if encoding not in ("utf-8", "utf-8-sig"):
        raise UsageError(f"skill source declares the encoding {encoding!r}; skills are UTF-8: remove the declaration")
    filename = f"skills/{name}/__init__.py"
    try:
        tree = ast.parse(source, filename)
        compile(tree, filename, "exec", dont_inherit=True)  # the checks ast.parse skips ('return' outside...)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UsageError(
            f"skill source does not compile: {_syntax_message(exc)}; fix the code and save again"
        ) from None
    functions = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name  # the last one wins
    ]
    if not functions:
        defined = sorted(
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not node.name.startswith("_")
        )
        found = f" (it defines {', '.join(defined)})" if defined else ""
        raise UsageError(
            f"skill source must define a top-level function named {name!r}{found}: rename the function or the skill"
        )
    return _signature(functions[-1])


def _param(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg
    if arg.annotation is not None:
        text += ": " + ast.unparse(arg.annotation)
        if default is not None:
            text += " = " + ast.unparse(default)
    elif default is not None:
        text += "=" + ast.unparse(default)
    return text


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    parts: list[str] = []
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        parts.append(_param(arg, default))
        if i == len(a.posonlyargs) - 1:
            parts.append("/")
    if a.vararg is not None:
        parts.append("*" + _param(a.vararg, None))
    elif a.kwonlyargs:
        parts.append("*")
    parts += [_param(arg, default) for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    if a.kwarg is not None:
        parts.append("**" + _param(a.kwarg, None))
    type_params: list[ast.AST] = getattr(node, "type_params", [])  # Python 3.12+
    generic = f"[{', '.join(ast.unparse(p) for p in type_params)}]" if type_params else ""
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {node.name}{generic}({', '.join(parts)}){returns}"


# -- SKILL.md ----------------------------------------------------------------------------------------------------

_UNSAFE_IN_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")  # not printable in YAML, or a YAML line break


def _quoted(text: str) -> str:
    """A string as JSON, which is also a YAML double-quoted scalar (characters YAML treats specially escaped)."""
    return _UNSAFE_IN_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _code_block(text: str) -> str:
    fence = _fence(text)
    return f"{fence}python\n{text}\n{fence}"


def render_skill_md(name: str, description: str, signature: str, example: str | None) -> str:
    """The ``SKILL.md`` of a skill: front matter for tools, then markdown for people and agents."""
    plain = agent_skills_name(name)
    front = [
        "---",
        f"name: {_quoted(plain) if plain in _YAML_WORDS else plain}",
        f"description: {_quoted(description)}",
    ]
    if example is not None:
        front += ["metadata:", f"  example: {_quoted(example)}"]
    body = [
        f"# {name}",
        "",
        description,
        "",
        "## Signature",
        "",
        _code_block(signature),
        "",
        "## Usage",
        "",
        _code_block(f"from skills.{name} import {name}"),
    ]
    if example is not None:
        body += ["", "## Example", "", _code_block(example)]
    body += [
        "",
        "The code is `__init__.py` next to this file. mcpexec writes this file from its front matter and the code:",
        "edits below the front matter are replaced when the skill is saved again.",
    ]
    return "\n".join([*front, "---", "", *body]) + "\n"


_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
    "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def _fold(lines: list[str]) -> str:
    """YAML line folding of a flow scalar's lines: a single break becomes a space, each empty line a newline."""
    out = lines[0]
    empty = 0
    for i, line in enumerate(lines[1:], 1):
        if not line and i < len(lines) - 1:
            empty += 1
            continue
        out += ("\n" * empty if empty else " ") + line
        empty = 0
    return out


def _double_quoted(text: str) -> tuple[str, str]:
    """Parse a double-quoted scalar at the start of ``text``; return (value, the rest after the closing quote)."""
    lines: list[str] = []
    line = ""
    keep = 0  # characters of ``line`` that came from escapes: trailing-space stripping stops there
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            break
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt == "\n":  # an escaped line break joins the lines without a space
                rest = text[i + 2 :]
                i += 2 + len(rest) - len(rest.lstrip(" \t"))
                continue
            if nxt in _ESCAPES:
                line += _ESCAPES[nxt]
                i += 2
            elif nxt in _HEX_ESCAPES:
                digits = text[i + 2 : i + 2 + _HEX_ESCAPES[nxt]]
                if len(digits) != _HEX_ESCAPES[nxt] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ValueError(f"bad escape \\{nxt}{digits} in a double-quoted string")
                line += chr(int(digits, 16)) if int(digits, 16) <= sys.maxunicode else "\ufffd"
                i += 2 + len(digits)
            else:
                raise ValueError(f"unknown escape \\{nxt} in a double-quoted string")
            keep = len(line)
            continue
        if ch == "\n":
            lines.append(line[:keep] + line[keep:].rstrip(" \t"))
            line, keep = "", 0
            rest = text[i + 1 :]
            i += 1 + len(rest) - len(rest.lstrip(" \t"))
            continue
        line += ch
        i += 1
    else:
        raise ValueError("a double-quoted string is not closed")
    return _join_surrogates(_fold([*lines, line])), text[i + 1 :]


def _join_surrogates(text: str) -> str:
    """``\\ud83d\\ude00`` (JSON's way to write astral characters) -> the one character."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16") if re.search("[\ud800-\udfff]", text) else text


def _single_quoted(text: str) -> tuple[str, str]:
    match = re.match(r"'((?:[^']|'')*)'", text, re.DOTALL)
    if match is None:
        raise ValueError("a single-quoted string is not closed")
    lines = [line.strip(" \t") if i else line.rstrip(" \t") for i, line in enumerate(match.group(1).split("\n"))]
    return _fold(lines).replace("''", "'"), text[match.end() :]


def _block(header: re.Match[str], lines: list[str], parent_indent: int) -> str:
    style, indicators = header.groups()
    chomp = "".join(c for c in indicators if c in "+-")
    explicit = "".join(c for c in indicators if c.isdigit())
    indent = parent_indent + int(explicit) if explicit else 0
    if not indent:
        indent = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=parent_indent + 1)
    body = [line[indent:] if line.strip() else "" for line in lines]
    while body and not body[-1]:
        body.pop()
    trailing = len(lines) - len(body)
    if style == "|":
        text = "\n".join(body)
    else:  # folded: a break between normal lines is a space, empty lines and more-indented lines keep breaks
        leading = next((i for i, line in enumerate(body) if line), len(body))
        text = "\n" * leading
        empty, previous_more = 0, True
        for i, line in enumerate(body[leading:]):
            if not line:
                empty += 1
                continue
            more = line.startswith((" ", "\t"))
            if i:
                text += "\n" * (empty + 1) if more or previous_more else "\n" * empty or " "
            text += line
            empty, previous_more = 0, more
    if chomp == "-" or not body:
        return text
    return text + ("\n" * (trailing + 1) if chomp == "+" else "\n")


def _scalar(first: str, more: list[str], parent_indent: int) -> str:
    """One scalar value: ``first`` is the text after ``key:``, ``more`` the lines that continue it."""
    header = _BLOCK_HEADER.match(first)
    if header:
        return _block(header, more, parent_indent)
    if first.startswith(("'", '"')):
        text = "\n".join([first, *more])
        value, rest = _double_quoted(text) if first.startswith('"') else _single_quoted(text)
        if rest.strip() and not rest.strip().startswith("#"):
            raise ValueError(f"unexpected text after a quoted string: {rest.strip()[:40]!r}")
        return value
    lines = [re.sub(r"(^|[ \t])#.*", "", line).strip() for line in [first, *more]]
    while lines and not lines[-1]:
        lines.pop()
    return _fold(lines)


def _entries(lines: list[str], indent: int) -> dict[str, tuple[str, list[str]]]:
    """Split mapping lines at ``indent`` into {key: (text after the colon, continuation lines)}."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in lines:
        stripped = line.strip()
        own_indent = len(line) - len(line.lstrip(" "))
        if current is not None and (not stripped or own_indent > indent):
            current.append(line)
            continue
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY.match(line[indent:]) if own_indent == indent else None
        if match is None:
            raise ValueError(f"cannot read the front matter line {line.strip()[:60]!r} (expected 'key: value')")
        key = match.group(2)
        if key in entries:
            raise ValueError(f"the front matter has {key!r} twice")
        current = []
        entries[key] = ((match.group(3) or "").strip(), current)
    return entries


def parse_skill_md(text: str) -> tuple[str, str, str | None]:
    """Read ``(name, description, example)`` from a ``SKILL.md``; ``ValueError`` says what is wrong.

    ``name`` comes back as written (hyphens or underscores); nothing is validated beyond the format.
    """
    if "\x00" in text:
        raise ValueError("SKILL.md contains a NUL character")
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    if lines[0].rstrip() != "---":
        raise ValueError("SKILL.md must start with a '---' line opening the front matter")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise ValueError("the SKILL.md front matter is not closed by a '---' line")
    entries = _entries(lines[1:end], 0)
    found: dict[str, str | None] = {}
    for key in ("name", "description"):
        if key not in entries:
            raise ValueError(f"the SKILL.md front matter has no {key!r}")
        found[key] = _scalar(*entries[key], 0)
    found["example"] = None
    if "metadata" in entries:
        first, more = entries["metadata"]
        nested = [line for line in more if line.strip()]
        if first or not nested:
            raise ValueError("'metadata' in the SKILL.md front matter must be a mapping of 'key: value' lines")
        indent = len(nested[0]) - len(nested[0].lstrip(" "))
        metadata = _entries(more, indent)
        if "example" in metadata:
            found["example"] = _scalar(*metadata["example"], indent)
    return found["name"] or "", found["description"] or "", found["example"]
