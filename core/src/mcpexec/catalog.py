"""Tool catalog: MCP tool definitions as plain dataclasses, Python identifier rules, and JSON snapshots.

The hub hands the catalog wire-format tool dicts (camelCase, as the MCP SDK's ``model_dump(by_alias=True)`` gives);
everything in them is untrusted. Unusable entries are skipped and reported in :attr:`Catalog.warnings`.
This module does not import ``mcp``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import keyword
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mcpexec.errors import SnapshotError, UnknownToolError

__all__ = [
    "Catalog",
    "ToolSpec",
    "ToolAnnotations",
    "SnapshotError",
    "UnknownToolError",
    "python_identifier",
    "assign_identifiers",
    "server_identifier",
]

SNAPSHOT_FORMAT = "mcpexec.catalog"
SNAPSHOT_VERSION = 1
_MAX_LEN = 64
_HASH_LEN = 8
# Lower-case names only: identifiers are always lower case. Hard-coded (not read from ``builtins``) so the
# mapping is the same on every interpreter; the hard keywords are added from ``keyword`` for safety.
_BUILTINS = """
    abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex
    copyright credits delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr globals
    hasattr hash help hex id input int isinstance issubclass iter len license list locals map max memoryview min next
    object oct open ord pow print property quit range repr reversed round set setattr slice sorted staticmethod str sum
    super tuple vars zip
"""
_SHADOWING = frozenset({"match", "case", "type", *_BUILTINS.split(), *(k for k in keyword.kwlist if k.islower())})
_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def _transliterate(ch: str) -> str:
    if ch.isascii():
        return ch if ch.isalnum() else "_"
    if unicodedata.category(ch) == "Nd":
        return str(unicodedata.decimal(ch))
    if unicodedata.category(ch).startswith("L"):
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.category(c).startswith("M"))
        if base and base.isascii() and base.isalnum():
            return base
    return "_"


def python_identifier(name: str) -> str:
    """Return the base Python identifier for one MCP name (before collision handling); always lower-case ASCII."""
    text = "".join(_transliterate(ch) for ch in unicodedata.normalize("NFKC", name))
    text = _CAMEL.sub(r"\1_\2", _ACRONYM.sub(r"\1_\2", text))
    ident = _NON_ALNUM.sub("_", text).lower().strip("_") or "tool"
    if ident[0].isdigit():
        ident = "t_" + ident
    if ident in _SHADOWING:
        ident += "_"
    if len(ident) > _MAX_LEN:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
        ident = ident[: _MAX_LEN - _HASH_LEN - 1].rstrip("_") + "_" + digest
    return ident


def server_identifier(server: str) -> str:
    """Return the package name for a server (same rules as :func:`python_identifier`)."""
    return python_identifier(server)


def assign_identifiers(names: Iterable[str], *, reserved: Collection[str] = ()) -> dict[str, str]:
    """Map each distinct MCP name to a unique identifier, independently of input order.

    Names sharing a base identifier are sorted; the first keeps the base (unless it is reserved) and the others
    get ``_2``, ``_3``, ... skipping anything taken or reserved.
    """
    groups: dict[str, list[str]] = {}
    for name in set(names):
        groups.setdefault(python_identifier(name), []).append(name)
    taken = set(reserved) | {base for base in groups if base not in reserved}
    result: dict[str, str] = {}
    for base in sorted(groups):
        members = sorted(groups[base])
        if base not in reserved:
            result[members.pop(0)] = base
        n = 1
        for name in members:
            while True:
                n += 1
                suffix = f"_{n}"
                candidate = base[: _MAX_LEN - len(suffix)].rstrip("_") + suffix
                if candidate not in taken:
                    break
            taken.add(candidate)
            result[name] = candidate
    return result


def _is_valid_identifier(ident: str) -> bool:
    return ident.isidentifier() and not keyword.iskeyword(ident) and not ident.startswith("_")


@dataclass(frozen=True, slots=True)
class ToolAnnotations:
    """Behaviour hints a server declared for a tool (``None``: not declared)."""

    title: str | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None


# ToolAnnotations attribute -> wire-format key
_HINTS = {
    "read_only": "readOnlyHint",
    "destructive": "destructiveHint",
    "idempotent": "idempotentHint",
    "open_world": "openWorldHint",
}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One MCP tool of one server, converted once from the wire format."""

    server: str
    name: str
    identifier: str
    title: str | None
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: ToolAnnotations = field(default_factory=ToolAnnotations)

    def __hash__(self) -> int:
        return hash((self.server, self.name, self.identifier))

    @property
    def qualified_name(self) -> str:
        """``server.name``."""
        return f"{self.server}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        """Return the snapshot form of this tool (JSON-compatible)."""
        a = self.annotations
        return {
            "server": self.server,
            "name": self.name,
            "identifier": self.identifier,
            "title": self.title,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "annotations": {"title": a.title, **{k: getattr(a, k) for k in _HINTS}},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolSpec:
        """Rebuild a tool from :meth:`to_json` output; raises :class:`SnapshotError` naming what is wrong."""
        return _tool_from_json(data, "tool")


_KINDS: dict[type, str] = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _describe(value: object) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _expect(value: object, kinds: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kinds):
        raise SnapshotError(f"{where}: expected {what}, got {_describe(value)}")
    return value


def _tool_from_json(data: object, where: str) -> ToolSpec:
    tool = cast(Mapping[str, object], _expect(data, Mapping, where, "an object"))

    def get(key: str, kinds: type | tuple[type, ...], what: str, default: object = None, required: bool = False) -> Any:
        if key not in tool:
            if required:
                raise SnapshotError(f"{where}: missing {key!r}")
            return default
        return _expect(tool[key], kinds, f"{where}.{key}", what)

    name = get("name", str, "a string", required=True)
    identifier = get("identifier", str, "a string", required=True)
    if not _is_valid_identifier(identifier):
        raise SnapshotError(f"{where}.identifier: {identifier!r} is not a valid public Python identifier")
    raw = cast(Mapping[str, object], get("annotations", dict, "an object", {}))
    hints: dict[str, Any] = {}
    for key in ("title", *_HINTS):
        kind, what = (str, "a string") if key == "title" else (bool, "a boolean")
        hints[key] = _expect(raw.get(key), (kind, type(None)), f"{where}.annotations.{key}", f"{what} or null")
    return ToolSpec(
        server=get("server", str, "a string", required=True),
        name=name,
        identifier=identifier,
        title=get("title", (str, type(None)), "a string or null"),
        description=get("description", str, "a string", ""),
        input_schema=get("input_schema", dict, "an object", required=True),
        output_schema=get("output_schema", (dict, type(None)), "an object or null"),
        annotations=ToolAnnotations(**hints),
    )


def _json_copy(value: object) -> dict[str, Any] | None:
    """Deep-copy a JSON object through JSON (drops aliasing, proves it serializes); ``None`` if it is not one."""
    if not isinstance(value, dict):
        return None
    try:
        return cast(dict[str, Any], json.loads(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError, RecursionError):
        return None


def _parse_wire(server: str, wire_tools: object) -> tuple[list[ToolSpec], list[str]]:
    """Convert one server's wire tool dicts; return the usable tools and warnings about the rest."""
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(f"server {server!r}: {message}")

    if not isinstance(wire_tools, (list, tuple)):
        warn(f"tool list is {_describe(wire_tools)}, not an array; no tools loaded")
        return [], warnings
    entries: dict[str, Mapping[str, object]] = {}
    for index, raw in enumerate(cast(Sequence[object], wire_tools)):
        if not isinstance(raw, Mapping):
            warn(f"tool #{index} skipped: it is {_describe(raw)}, not an object")
            continue
        entry = cast(Mapping[str, object], raw)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            warn(f"tool #{index} skipped: 'name' is {_describe(name)}, not a non-empty string")
        elif name in entries:
            warn(f"duplicate tool name {name!r} (tool #{index}) skipped; the first definition is kept")
        else:
            entries[name] = entry
    idents = assign_identifiers(entries, reserved={"__init__"})
    tools: list[ToolSpec] = []
    for name, entry in entries.items():

        def text(key: str, value: object, tool: str = name) -> str | None:
            if value is not None and not isinstance(value, str):
                warn(f"tool {tool!r}: {key} is {_describe(value)}, not a string; ignored")
                return None
            return value

        input_schema = _json_copy(entry.get("inputSchema"))
        if input_schema is None:
            warn(f"tool {name!r}: inputSchema is missing or not a JSON object; using {{'type': 'object'}}")
            input_schema = {"type": "object"}
        output_schema = _json_copy(entry.get("outputSchema"))
        if output_schema is None and entry.get("outputSchema") is not None:
            warn(f"tool {name!r}: outputSchema is not a JSON object; ignored")
        raw_ann = entry.get("annotations")
        ann: Mapping[str, object] = cast(Mapping[str, object], raw_ann) if isinstance(raw_ann, Mapping) else {}
        if raw_ann is not None and not isinstance(raw_ann, Mapping):
            warn(f"tool {name!r}: annotations is {_describe(raw_ann)}, not an object; ignored")
        hints: dict[str, bool | None] = {}
        for attr, key in _HINTS.items():
            value = ann.get(key)
            if value is not None and not isinstance(value, bool):
                warn(f"tool {name!r}: annotations.{key} is {_describe(value)}, not a boolean; ignored")
                value = None
            hints[attr] = value
        annotations = ToolAnnotations(title=text("annotations.title", ann.get("title")), **hints)
        tools.append(
            ToolSpec(
                server=server,
                name=name,
                identifier=idents[name],
                title=text("title", entry.get("title")) or annotations.title,
                description=text("description", entry.get("description")) or "",
                input_schema=input_schema,
                output_schema=output_schema,
                annotations=annotations,
            )
        )
    return tools, warnings


class Catalog:
    """Immutable-ish collection of ToolSpecs grouped by server, in a stable order.

    Servers keep the order given; tools are sorted by name within a server. Equality compares servers and tools,
    not warnings.
    """

    __slots__ = ("_by_ident", "_by_name", "_servers", "_tools", "_warnings")

    def __init__(
        self, tools: Iterable[ToolSpec] = (), *, warnings: Iterable[str] = (), servers: Iterable[str] = ()
    ) -> None:
        """Build from tools; ``servers`` lists servers (possibly without tools) ahead of those the tools name.

        Raises ``ValueError`` for a duplicate tool name or identifier within a server, or an invalid identifier.
        """
        order = dict.fromkeys(servers)
        self._by_name: dict[str, dict[str, ToolSpec]] = {}
        self._by_ident: dict[str, dict[str, ToolSpec]] = {}
        for tool in tools:
            order.setdefault(tool.server)
            names = self._by_name.setdefault(tool.server, {})
            idents = self._by_ident.setdefault(tool.server, {})
            if tool.name in names:
                raise ValueError(f"duplicate tool {tool.qualified_name!r}")
            if not _is_valid_identifier(tool.identifier) or tool.identifier in idents:
                raise ValueError(f"{tool.qualified_name!r}: identifier {tool.identifier!r} is invalid or taken")
            names[tool.name] = idents[tool.identifier] = tool
        self._servers = tuple(order)
        self._tools = {s: tuple(sorted(self._by_name.get(s, {}).values(), key=lambda t: t.name)) for s in order}
        self._warnings = tuple(warnings)

    @classmethod
    def from_wire(cls, servers: Mapping[str, Sequence[Mapping[str, Any]]]) -> Catalog:
        """Build from ``server -> wire-format tool dicts``; bad entries are skipped with a warning."""
        tools: list[ToolSpec] = []
        warnings: list[str] = []
        names: list[str] = []
        for server, wire_tools in cast(Mapping[object, object], servers).items():
            if not isinstance(server, str):
                warnings.append(f"server name {server!r} is not a string; skipped")
                continue
            names.append(server)
            got, warned = _parse_wire(server, wire_tools)
            tools += got
            warnings += warned
        return cls(tools, warnings=warnings, servers=names)

    @property
    def servers(self) -> tuple[str, ...]:
        """Server names, in the order given."""
        return self._servers

    @property
    def warnings(self) -> tuple[str, ...]:
        """Problems met while building the catalog (skipped tools, replaced schemas, ...)."""
        return self._warnings

    def _check_server(self, server: str) -> None:
        if server not in self._tools:
            close = difflib.get_close_matches(server, self._servers, n=3)
            raise UnknownToolError(f"unknown server {server!r}", server=server, suggestions=close)

    def _lookup(self, table: dict[str, dict[str, ToolSpec]], server: str, key: str, what: str) -> ToolSpec:
        self._check_server(server)
        tool = table.get(server, {}).get(key)
        if tool is None:
            close = difflib.get_close_matches(key, list(table.get(server, {})), n=3)
            raise UnknownToolError(
                f"server {server!r} has no {what} {key!r}", server=server, name=key, suggestions=close
            )
        return tool

    def tools(self, server: str | None = None) -> tuple[ToolSpec, ...]:
        """All tools (server order, then name), or one server's tools."""
        if server is None:
            return tuple(t for s in self._servers for t in self._tools[s])
        self._check_server(server)
        return self._tools[server]

    def get(self, server: str, name: str) -> ToolSpec:
        """The tool ``name`` of ``server``; :class:`UnknownToolError` (a ``LookupError``) if absent."""
        return self._lookup(self._by_name, server, name, "tool")

    def find(self, server: str, name: str) -> ToolSpec | None:
        """The tool ``name`` of ``server``, or ``None`` if the catalog does not have it."""
        return self._by_name.get(server, {}).get(name)

    def by_identifier(self, server: str, identifier: str) -> ToolSpec:
        """The tool of ``server`` whose Python identifier is ``identifier``."""
        return self._lookup(self._by_ident, server, identifier, "tool with identifier")

    def with_server(self, server: str, wire_tools: Sequence[Mapping[str, Any]]) -> Catalog:
        """A new catalog with ``server``'s tools replaced (appended if new); its old warnings are dropped."""
        tools, warnings = _parse_wire(server, wire_tools)
        others = [t for t in self.tools() if t.server != server]
        prefix = f"server {server!r}: "
        kept = [w for w in self._warnings if not w.startswith(prefix)]
        return Catalog([*others, *tools], warnings=[*kept, *warnings], servers=(*self._servers, server))

    def __len__(self) -> int:
        return sum(len(t) for t in self._tools.values())

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self.tools())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(cast(tuple[object, ...], key)) != 2:
            return False
        server, name = cast(tuple[object, object], key)
        return isinstance(server, str) and isinstance(name, str) and name in self._by_name.get(server, {})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return self._servers == other._servers and self._tools == other._tools

    def __repr__(self) -> str:
        return f"Catalog(servers={list(self._servers)!r}, tools={len(self)})"

    def to_json(self) -> dict[str, Any]:
        """``{"format": "mcpexec.catalog", "version": 1, "servers": {server: [tool, ...]}}``."""
        servers = {s: [t.to_json() for t in self._tools[s]] for s in self._servers}
        return {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "servers": servers}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        """Validate and rebuild a catalog from :meth:`to_json` output; :class:`SnapshotError` names what is wrong."""
        doc = cast(Mapping[str, object], _expect(data, Mapping, "snapshot", "a JSON object"))
        if doc.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"snapshot: format is {doc.get('format')!r}, expected {SNAPSHOT_FORMAT!r}")
        version = doc.get("version")
        if type(version) is not int or version != SNAPSHOT_VERSION:
            raise SnapshotError(f"snapshot: unsupported version {version!r} (this mcpexec reads {SNAPSHOT_VERSION})")
        servers = cast(Mapping[str, object], _expect(doc.get("servers"), dict, "snapshot.servers", "an object"))
        tools: list[ToolSpec] = []
        for server, entries in servers.items():
            where = f"snapshot.servers[{server!r}]"
            _expect(server, str, where, "a string key")
            seen: dict[str, set[str]] = {"name": set(), "identifier": set()}
            for index, raw in enumerate(cast(list[object], _expect(entries, list, where, "an array"))):
                tool = _tool_from_json(raw, f"{where}[{index}]")
                if tool.server != server:
                    raise SnapshotError(f"{where}[{index}].server: {tool.server!r} does not match {server!r}")
                for key, value in (("name", tool.name), ("identifier", tool.identifier)):
                    if value in seen[key]:
                        raise SnapshotError(f"{where}[{index}].{key}: duplicate {value!r}")
                    seen[key].add(value)
                tools.append(tool)
        return cls(tools, servers=servers)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the snapshot atomically (temp file + ``os.replace``) as indented UTF-8 JSON.

        Output bytes depend only on the catalog. Keys keep their order (not sorted): schema property order is
        the generated functions' parameter order, and server order is part of the catalog.
        """
        target = Path(path)
        try:
            data = (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates in a name: escape everything instead
            data = (json.dumps(self.to_json(), indent=2) + "\n").encode("ascii")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # mkstemp makes the file private (0600); a snapshot gets the existing file's mode, else rw-r--r--
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Catalog:
        """Read a snapshot written by :meth:`save`; :class:`SnapshotError` if missing, not JSON, or malformed."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise SnapshotError(f"snapshot file not found: {os.fspath(path)}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"cannot read snapshot {os.fspath(path)}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{os.fspath(path)}: invalid JSON at line {exc.lineno}, column {exc.colno}"
            raise SnapshotError(f"{where}: {exc.msg}") from exc
        except RecursionError as exc:
            raise SnapshotError(f"{os.fspath(path)}: JSON nested too deeply") from exc
        try:
            return cls.from_json(data)
        except SnapshotError as exc:
            raise SnapshotError(f"{os.fspath(path)}: {exc}") from None
