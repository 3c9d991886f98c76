"""Server configurations: typed constructors and the standard ``mcp.json`` loader.

A server config is a TypedDict tagged by ``transport``: :class:`StdioServerConfig` (a local program spoken to over
stdin/stdout) or :class:`HttpServerConfig` (a remote streamable HTTP endpoint). Build them in Python with
:func:`stdio_server` / :func:`http_server` and check a whole set with :func:`validate_servers`, or read the
``mcpServers`` file written by Claude Desktop, Cursor, Claude Code (and VS Code's ``servers``) with
:func:`load_config` / :func:`parse_config`. The file format adds, on top of the TypedDict keys:

- ``"type"`` as an alias of ``"transport"``; the transport is inferred from ``"command"`` (stdio) or ``"url"``
  (streamable HTTP) when absent. Accepted spellings: ``stdio``, ``streamable_http``, ``streamable-http``,
  ``streamableHttp``, ``http``. The deprecated SSE transport is not supported.
- ``"startupTimeout"`` as an alias of ``"startup_timeout"``. Timeouts are in **seconds**, never milliseconds.
- ``"disabled": true`` skips a server; keys starting with ``_`` or ``x-`` are comments and ignored.
- ``${VAR}`` and ``${VAR:-default}`` are expanded from the environment in command, args, env values, cwd, url and
  header values (``:-`` also applies when VAR is set but empty, as in the shell); ``$$`` is a literal ``$``.

Every problem raises :class:`~mcpexec.errors.ConfigError` naming the server and field and saying how to fix it.
"""

from __future__ import annotations

import difflib
import json
import keyword
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, cast
from urllib.parse import urlsplit

from mcpexec.errors import ConfigError

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_STARTUP_TIMEOUT",
    "StdioServerConfig",
    "HttpServerConfig",
    "ServerConfig",
    "stdio_server",
    "http_server",
    "parse_config",
    "load_config",
    "validate_servers",
    "server_timeout",
    "server_startup_timeout",
]

DEFAULT_CALL_TIMEOUT: float = 60.0
"""Seconds one tool call may take when the server config sets no ``timeout``."""

DEFAULT_STARTUP_TIMEOUT: float = 30.0
"""Seconds to start a server, initialize the session and list its tools when no ``startup_timeout`` is set."""


class StdioServerConfig(TypedDict):
    """A local MCP server started as a subprocess and spoken to over stdin/stdout."""

    transport: Literal["stdio"]
    command: str
    args: NotRequired[list[str]]
    env: NotRequired[dict[str, str]]
    cwd: NotRequired[str]
    timeout: NotRequired[float]  # per-call timeout in seconds (default DEFAULT_CALL_TIMEOUT)
    startup_timeout: NotRequired[float]  # seconds to start + initialize + list tools (DEFAULT_STARTUP_TIMEOUT)


class HttpServerConfig(TypedDict):
    """A remote MCP server reached over the streamable HTTP transport."""

    transport: Literal["streamable_http"]
    url: str
    headers: NotRequired[dict[str, str]]
    timeout: NotRequired[float]  # per-call timeout in seconds (default DEFAULT_CALL_TIMEOUT)
    startup_timeout: NotRequired[float]  # seconds to connect + initialize + list tools (DEFAULT_STARTUP_TIMEOUT)


ServerConfig: TypeAlias = StdioServerConfig | HttpServerConfig

_Transport: TypeAlias = Literal["stdio", "streamable_http"]
# spellings after .lower() and "-" -> "_"
_TRANSPORTS: dict[str, _Transport] = {"stdio": "stdio", "http": "streamable_http", "streamablehttp": "streamable_http"}
_TRANSPORTS["streamable_http"] = "streamable_http"
_STDIO_KEYS = ("transport", "command", "args", "env", "cwd", "timeout", "startup_timeout")
_HTTP_KEYS = ("transport", "url", "headers", "timeout", "startup_timeout")
_ALIASES = {"type": "transport", "startupTimeout": "startup_timeout"}
_SHAPE = '{"mcpServers": {"my_server": {"command": "npx", "args": ["-y", "some-mcp-server"]}}}'
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_REF_RE = re.compile(r"\$\$|\$\{([^}]*)(\})?")
_REF_BODY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-([^$]*))?", re.DOTALL)


def stdio_server(
    command: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    startup_timeout: float | None = None,
) -> StdioServerConfig:
    """Build a validated stdio server config, e.g. ``stdio_server("npx", "-y", "some-mcp-server")``."""
    path = os.fspath(cwd) if isinstance(cwd, os.PathLike) else cwd
    options = _given(args=list(args) or None, env=env, cwd=path, timeout=timeout, startup_timeout=startup_timeout)
    return cast(StdioServerConfig, _build(None, {"transport": "stdio", "command": command, **options}, None))


def http_server(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    startup_timeout: float | None = None,
) -> HttpServerConfig:
    """Build a validated streamable HTTP server config, e.g. ``http_server("https://example.com/mcp")``."""
    options = _given(headers=headers, timeout=timeout, startup_timeout=startup_timeout)
    return cast(HttpServerConfig, _build(None, {"transport": "streamable_http", "url": url, **options}, None))


def parse_config(data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> dict[str, ServerConfig]:
    """Validate a parsed ``mcp.json`` object (``{"mcpServers": {...}}`` or VS Code's ``{"servers": {...}}``).

    ``${VAR}`` references are expanded from ``environ`` (default ``os.environ``). Disabled servers are left out;
    the others are returned normalized, in file order.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    top = _mapping(None, None, data, f"the config must be a JSON object like {_SHAPE}")
    keys = [key for key in ("mcpServers", "servers") if key in top]
    if len(keys) != 1:
        problem = f'missing "mcpServers" (found: {", ".join(top) or "nothing"})'
        if keys:
            problem = 'both "mcpServers" and "servers" are given; keep one'
        raise ConfigError(f"{problem}; expected {_SHAPE}", field="mcpServers")
    section = _mapping(None, keys[0], top[keys[0]], f"must map server names to configs, e.g. {_SHAPE}")
    if not section:
        raise ConfigError(f"no servers configured; add at least one, e.g. {_SHAPE}", field=keys[0])
    servers: dict[str, ServerConfig] = {}
    for name, value in section.items():
        raw = _mapping(name, None, value, f"each server must be an object, e.g. {_SHAPE}")
        disabled = raw.pop("disabled", False)
        if not isinstance(disabled, bool):
            raise ConfigError(f"must be true or false (unquoted), got {_kind(disabled)}", server=name, field="disabled")
        if disabled:
            continue
        _check_name(name)
        fields: dict[str, object] = {}
        spelled: dict[str, str] = {}  # canonical key -> key as written, for error messages
        for key, item in raw.items():
            if key.startswith(("_", "x-")):
                continue
            canon = _ALIASES.get(key, key)
            if canon in fields:
                raise ConfigError(f"{spelled.get(canon, canon)!r} is given too; keep only one", server=name, field=key)
            fields[canon] = item
            spelled[canon] = key
        servers[name] = _build(name, fields, env, spelled)
    if not servers:
        raise ConfigError('every server is disabled; enable at least one (remove "disabled": true)', field=keys[0])
    _check_unique(servers)
    return servers


def load_config(source: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> dict[str, ServerConfig]:
    """Read an ``mcp.json`` / ``claude_desktop_config.json`` file (``~`` expanded) and :func:`parse_config` it."""
    path: str = os.fspath(source)
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}; check the path, or create it with {_SHAPE}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        data = json.loads(text, object_pairs_hook=_JSONObject)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg} (JSON allows no comments "
            'and no trailing commas; put notes in a "_comment" key)'
        ) from exc
    return parse_config(data, environ=environ)


def validate_servers(servers: Mapping[str, ServerConfig]) -> dict[str, ServerConfig]:
    """Check server configs built in Python (names and fields) and return a normalized copy.

    Unlike :func:`parse_config`, values are taken literally: no ``${VAR}`` expansion and no file-only aliases.
    """
    checked: dict[str, ServerConfig] = {}
    example = "e.g. {'fs': stdio_server('npx', '-y', 'some-mcp-server')}"
    for name, config in _mapping(None, None, servers, f"servers must map names to configs, {example}").items():
        _check_name(name)
        checked[name] = _build(
            name, _mapping(name, None, config, "must be made by stdio_server() or http_server()"), None
        )
    if not checked:
        raise ConfigError(f"no servers configured; add at least one, {example}")
    _check_unique(checked)
    return checked


def server_timeout(config: ServerConfig) -> float:
    """The per-call timeout of a server, in seconds."""
    return config.get("timeout", DEFAULT_CALL_TIMEOUT)


def server_startup_timeout(config: ServerConfig) -> float:
    """The start + initialize + list-tools timeout of a server, in seconds."""
    return config.get("startup_timeout", DEFAULT_STARTUP_TIMEOUT)


# --- internals --------------------------------------------------------------------------------------------------


def _given(**options: object) -> dict[str, object]:
    return {key: value for key, value in options.items() if value is not None}


class _JSONObject(dict[str, Any]):
    """A decoded JSON object that remembers keys given more than once (``json`` silently keeps the last)."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        keys = [key for key, _ in pairs]
        self.duplicates = [key for key in self if keys.count(key) > 1]


def _mapping(server: str | None, field: str | None, value: object, expected: str) -> dict[str, object]:
    """Copy a mapping with string keys (non-empty in env and headers), rejecting keys a JSON file gave twice."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{expected}; got {_kind(value)}", server=server, field=field)
    mapping = cast(Mapping[object, object], value)
    for key in cast(list[str], getattr(mapping, "duplicates", [])):
        if field is None and key.startswith(("_", "x-")):  # repeated comment keys are fine
            continue
        if server is None and field is not None:  # the server section: the key is a server name
            raise ConfigError("duplicate server name in the file; rename or remove one of them", server=key)
        raise ConfigError("is given twice; keep one", server=server, field=f"{field}.{key}" if field else key)
    out: dict[str, object] = {}
    for key, item in mapping.items():
        if not isinstance(key, str) or (not key and field in ("env", "headers")):
            raise ConfigError(f"keys must be non-empty strings, got {key!r}", server=server, field=field)
        out[key] = item
    return out


def _build(
    server: str | None, raw: Mapping[str, object], environ: Mapping[str, str] | None, spelled: Mapping[str, str] = {}
) -> ServerConfig:
    """Validate and normalize one server's fields; expand ``${VAR}`` only when ``environ`` is given (file input)."""
    transport = _transport(server, raw, spelled.get("transport", "transport"))
    known, other = (_STDIO_KEYS, _HTTP_KEYS) if transport == "stdio" else (_HTTP_KEYS, _STDIO_KEYS)
    for key in raw:
        if key in other and key not in known:
            message = f"does not apply to a {transport} server; remove it or fix the transport"
            raise ConfigError(message, server=server, field=spelled.get(key, key))
        if key not in known:
            candidates = [*known, *_ALIASES] if environ is not None else known
            close = difflib.get_close_matches(key, candidates, n=1)
            message = f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            message += f"; known keys: {', '.join(known)}"
            if environ is not None:
                message += ' (also type, startupTimeout, disabled; keys starting with "_" or "x-" are ignored)'
            raise ConfigError(message, server=server, field=key)
    required = known[1]
    if required not in raw:
        raise ConfigError(f'missing "{required}": add it, {_EXAMPLES[required]}', server=server, field=required)
    config: dict[str, object] = {"transport": transport}
    for key in known[1:]:
        if key in raw:
            config[key] = _CHECKS[key](server, spelled.get(key, key), raw[key], environ)
    return cast(ServerConfig, config)


def _transport(server: str | None, raw: Mapping[str, object], field: str) -> _Transport:
    value = raw.get("transport")
    if value is None:
        if "command" in raw and "url" in raw:
            message = 'has both "command" and "url"; keep "command" (+ "args") for a local stdio server or "url"'
            raise ConfigError(message + " for a remote streamable HTTP server", server=server, field="transport")
        if "url" in raw:
            return "streamable_http"
        if "command" not in raw:
            message = f'missing "command" (a local server, {_EXAMPLES["command"]}) or "url" (a remote one)'
            raise ConfigError(message, server=server, field="command")
        return "stdio"
    accepted = "'stdio' or 'streamable_http' (also 'streamable-http', 'streamableHttp', 'http')"
    norm = value.strip().lower().replace("-", "_") if isinstance(value, str) else None
    if norm is not None and norm in _TRANSPORTS:
        return _TRANSPORTS[norm]
    if norm == "sse":
        message = "the deprecated SSE transport is not supported; use streamable HTTP instead: set"
        message += ' "type": "http" and point "url" at the server\'s streamable HTTP endpoint (often .../mcp)'
        raise ConfigError(message, server=server, field=field)
    shown = repr(value) if isinstance(value, str) else _kind(value)
    raise ConfigError(f"unknown transport {shown}; use {accepted}", server=server, field=field)


def _kind(value: object) -> str:
    """How a value reads in JSON terms, for error messages."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float | str):
        return f"the {'string' if isinstance(value, str) else 'number'} {value!r}"
    return "an object" if isinstance(value, Mapping) else "a list" if isinstance(value, list | tuple) else "a value"


def _string(server: str | None, field: str, value: object, environ: Mapping[str, str] | None) -> str:
    if not isinstance(value, str):
        hint = f'; quote it: "{json.dumps(value)}"' if isinstance(value, int | float) else ""
        raise ConfigError(f"must be a string, got {_kind(value)}{hint}", server=server, field=field)
    return value if environ is None else _expand(server, field, value, environ)


def _nonempty(server: str | None, field: str, value: object, environ: Mapping[str, str] | None) -> str:
    text = _string(server, field, value, environ)
    if not text.strip():
        raise ConfigError(f"is empty; set it, {_EXAMPLES[field]}", server=server, field=field)
    return text


def _string_list(server: str | None, field: str, value: object, environ: Mapping[str, str] | None) -> list[str]:
    if isinstance(value, str):
        message = f"must be a list of strings, not one string; write {json.dumps(value.split())}"
        raise ConfigError(message, server=server, field=field)
    if not isinstance(value, list | tuple):
        message = f'must be a list of strings, e.g. ["-y", "some-mcp-server"]; got {_kind(value)}'
        raise ConfigError(message, server=server, field=field)
    return [_string(server, f"{field}[{i}]", item, environ) for i, item in enumerate(cast(Sequence[object], value))]


def _string_map(server: str | None, field: str, value: object, environ: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, item in _mapping(server, field, value, f"must be an object of strings, {_EXAMPLES[field]}").items():
        out[key] = _string(server, f"{field}.{key}", item, environ)
    return out


def _url(server: str | None, field: str, value: object, environ: Mapping[str, str] | None) -> str:
    url = _string(server, field, value, environ)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ConfigError(f"malformed URL {url!r} ({exc}); {_EXAMPLES[field]}", server=server, field=field) from exc
    if parts.scheme not in ("http", "https"):
        hint = f" (did you mean 'http://{url}'?)" if "://" not in url else ""
        message = f"URL {url!r} must start with http:// or https://{hint}; {_EXAMPLES[field]}"
        raise ConfigError(message, server=server, field=field)
    if not parts.hostname or any(c.isspace() for c in url):
        message = f"malformed URL {url!r} (no host, or whitespace); {_EXAMPLES[field]}"
        raise ConfigError(message, server=server, field=field)
    return url


def _timeout(server: str | None, field: str, value: object, environ: Mapping[str, str] | None) -> float:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or number <= 0:
        hint = " (write the number without quotes)" if isinstance(value, str) else ""
        message = f"must be a number of seconds > 0, e.g. 120; got {_kind(value)}{hint}"
        raise ConfigError(message, server=server, field=field)
    return float(number)


def _expand(server: str | None, field: str, value: str, environ: Mapping[str, str]) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$`` in one string value."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = _REF_BODY_RE.fullmatch(match.group(1)) if match.group(2) else None
        if body is None:
            message = f"malformed variable reference {match.group(0)!r}; write ${{NAME}} or ${{NAME:-default}}"
            message += " (NAME: letters, digits, '_'; no nesting), or $$ for a literal '$'"
            raise ConfigError(message, server=server, field=field)
        name, default = body.group(1), body.group(2)
        found = environ.get(name)
        if default is not None and not found:
            return default
        if found is None:
            message = f"environment variable {name!r} is not set; export it (export {name}=...)"
            raise ConfigError(f"{message} or give a default with ${{{name}:-default}}", server=server, field=field)
        return found

    return _REF_RE.sub(replace, value)


def _identifier(name: str) -> str:
    return name.lower().replace("-", "_")


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        suggestion = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")
        suggestion = (suggestion if suggestion[:1].isalpha() else "server_" + suggestion)[:64]
        raise ConfigError(
            "invalid server name: names become Python package names (servers.<name>), so they must start with a "
            f"letter and hold only letters, digits, '_' and '-' (at most 64); rename it, e.g. to {suggestion!r}",
            server=name,
        )
    if keyword.iskeyword(_identifier(name)):
        message = f"invalid server name: {_identifier(name)!r} is a Python keyword and cannot be a package name"
        raise ConfigError(f"{message}; rename it, e.g. to {name + '_server'!r}", server=name)


def _check_unique(servers: Mapping[str, ServerConfig]) -> None:
    seen: dict[str, str] = {}
    for name in servers:
        ident = _identifier(name)
        if ident in seen:
            message = f"duplicate server name: {seen[ident]!r} and {name!r} both become the Python package name"
            raise ConfigError(f"{message} {ident!r}; rename one of them", server=name)
        seen[ident] = name


_Check: TypeAlias = Callable[[str | None, str, object, Mapping[str, str] | None], object]
_CHECKS: dict[str, _Check] = {
    "command": _nonempty,
    "args": _string_list,
    "env": _string_map,
    "cwd": _nonempty,
    "url": _url,
    "headers": _string_map,
    "timeout": _timeout,
    "startup_timeout": _timeout,
}
_EXAMPLES = {
    "command": 'e.g. "command": "npx", "args": ["-y", "some-mcp-server"]',
    "cwd": 'e.g. "cwd": "/path/to/project" (or remove it)',
    "url": 'e.g. "url": "https://example.com/mcp" or "http://localhost:8000/mcp"',
    "env": 'e.g. {"API_KEY": "${API_KEY}"}',
    "headers": 'e.g. {"Authorization": "Bearer ${TOKEN}"}',
}
