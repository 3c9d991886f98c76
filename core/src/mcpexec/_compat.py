"""Every difference between the `mcp` SDK generations, in one place.

LangChain users are on `mcp` 1.x, LlamaIndex users on 2.x. Nothing outside this module imports version quirks:
it opens a client connection for a server config and speaks plain wire-format JSON dicts (camelCase, as on the
wire) to the rest of mcpexec, and it maps the SDK's exceptions to the three neutral ones below.

Differences handled here:

- 1.x ``ClientSession(read, write)`` + ``initialize()``; 2.x high-level ``Client`` (``server/discover`` probe with
  fallback to ``initialize``), with its response cache switched off (we relist on change ourselves).
- 1.x ``McpError`` / 2.x ``MCPError``; ``streamable_http_client`` yields three streams in 1.x, two in 2.x;
  ``httpx`` (1.x) vs ``httpx2`` (2.x) behind ``create_mcp_http_client``.
- Models: 1.x camelCase attributes, 2.x snake_case; we only ever read ``model_dump(by_alias=True, mode="json")``.
- ``tools/list_changed``: a notification to the message handler (handshake era, both generations), or only a
  ``subscriptions/listen`` stream in the 2026 protocol era (2.x ``Client.listen``).
- Test servers: 2.x ``mcp.server.mcpserver.MCPServer`` vs 1.x ``mcp.server.fastmcp.FastMCP``.
- ``tools/call``: on 2.x results stay wire dicts end to end (:mod:`mcpexec._wire_call`); on 1.x the typed result is
  dumped.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any, cast

import anyio
import anyio.abc

from ._wire_call import SDK_LISTING, WireToolCaller, to_wire
from .config import ServerConfig

__all__ = [
    "SDK_LISTING",
    "MCP_VERSION",
    "IS_MCP2",
    "ConnectionLost",
    "RemoteError",
    "MalformedResult",
    "ServerInfo",
    "Connection",
    "connect",
    "map_exception",
    "server_class",
    "to_wire",
]

logger = logging.getLogger(__name__)


def _parse_version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


MCP_VERSION: tuple[int, ...] = _parse_version(importlib.metadata.version("mcp"))
IS_MCP2: bool = MCP_VERSION >= (2,)

_CONNECTION_CLOSED = -32000  # the SDKs' code for "Connection closed"
_LIST_CHANGED = "notifications/tools/list_changed"


class ConnectionLost(Exception):
    """The transport to the server closed (the server died or hung up)."""


class RemoteError(Exception):
    """The server (or the SDK on its behalf) answered a request with a JSON-RPC error."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MalformedResult(Exception):
    """The server's answer did not match the protocol or the tool's output schema."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a server said about itself when we connected."""

    name: str = ""
    version: str = ""
    protocol_version: str = ""
    capabilities: dict[str, Any] = field(default_factory=dict[str, Any])
    instructions: str | None = None

    @property
    def tools_list_changed(self) -> bool:
        """Whether the server announces tool-list changes."""
        tools: Any = self.capabilities.get("tools")
        return isinstance(tools, Mapping) and bool(cast(Mapping[str, Any], tools).get("listChanged"))


@functools.cache
def _mcp_error_types() -> tuple[type[BaseException], ...]:
    """The SDK's JSON-RPC error class (2.x ``MCPError``, 1.x ``McpError``), looked up on first use."""
    exceptions: Any = importlib.import_module("mcp.shared.exceptions")
    names = ("MCPError", "McpError")
    return tuple(getattr(exceptions, n) for n in names if hasattr(exceptions, n))


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    ConnectionError,
)


def _single_leaf(exc: Exception) -> Exception:
    """The one exception inside (nested) groups of one, else ``exc`` itself."""
    leaf: Exception = exc
    while isinstance(leaf, ExceptionGroup):
        leaves: tuple[Exception, ...] = cast(ExceptionGroup[Exception], leaf).exceptions
        if len(leaves) != 1:
            break
        leaf = leaves[0]
    return cast(Exception, leaf)  # a group of several stays a group


def map_exception(raised: Exception) -> Exception:
    """Translate an SDK exception raised by a request into one of ours (a group of one is unwrapped first)."""
    exc = _single_leaf(raised)
    if isinstance(exc, _mcp_error_types()):
        error: Any = getattr(exc, "error", None)
        code: int | None = getattr(error, "code", None)
        message: str = getattr(error, "message", None) or str(exc)
        if code == _CONNECTION_CLOSED:
            return ConnectionLost(message)
        return RemoteError(code, message)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return ConnectionLost(f"{type(exc).__name__}: {exc}".rstrip(": "))
    if hasattr(exc, "error_count") and hasattr(exc, "errors"):  # pydantic ValidationError: one line per problem
        validation: Any = exc
        problems: list[dict[str, Any]] = list(validation.errors())
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in problems[:5]]
        return MalformedResult(f"{len(problems)} validation error(s): " + "; ".join(parts))
    # Both SDKs raise RuntimeError when structured content fails the tool's outputSchema, and pydantic's
    # ValidationError (a ValueError) when a result does not parse.
    if isinstance(exc, RuntimeError | ValueError):
        return MalformedResult(str(exc))
    return exc


class _HttpErrors:
    """Remembers the last HTTP error status (the SDKs turn a 401 into a bare "error response")."""

    def __init__(self) -> None:
        self._last: str | None = None

    async def __call__(self, response: Any) -> None:
        if response.status_code >= 400:
            request = response.request
            self._last = f"HTTP {response.status_code} {response.reason_phrase} from {request.method} {request.url}"

    def explain(self, error: Exception) -> Exception:
        """``error`` with the last HTTP error status added to its message (once), if there was one."""
        detail, self._last = self._last, None
        if detail is None or not isinstance(error, RemoteError | ConnectionLost | MalformedResult):
            return error
        if isinstance(error, RemoteError):
            return RemoteError(error.code, f"{error.message} ({detail})")
        return type(error)(f"{error} ({detail})")


def _explained(exc: Exception, http_errors: _HttpErrors | None) -> Exception:
    mapped = map_exception(exc)
    return http_errors.explain(mapped) if http_errors is not None else mapped


class Connection:
    """One live client connection to one MCP server, speaking wire-format dicts."""

    def __init__(self, session: Any, info: ServerInfo, http_errors: _HttpErrors | None = None) -> None:
        self._session = session
        self.info = info
        self._http_errors = http_errors
        self._wire_calls = WireToolCaller.for_client(session)  # None on 1.x: its ClientSession has no .session

    @property
    def wire_results(self) -> bool:
        """Whether tool results stay wire dicts from the server to the caller (2.x), rather than being parsed into
        the SDK's models and dumped again (1.x)."""
        return self._wire_calls is not None

    async def list_tools_page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``tools/list``: the tools as wire dicts and the next cursor (``None`` on the last page)."""
        try:
            if IS_MCP2 and hasattr(self._session, "session"):
                result = await self._session.list_tools(cursor=cursor) if cursor else await self._session.list_tools()
            else:
                types: Any = importlib.import_module("mcp.types")
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                result = await self._session.list_tools(params=params)
        except Exception as exc:
            raise _explained(exc, self._http_errors) from exc
        wire = to_wire(result)
        tools = wire.get("tools")
        if not isinstance(tools, list):
            raise MalformedResult("tools/list result has no 'tools' list")
        next_cursor = wire.get("nextCursor")
        items: list[Any] = tools  # pyright: ignore[reportUnknownVariableType]
        return [t for t in items if isinstance(t, dict)], next_cursor if isinstance(next_cursor, str) else None

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, output_schema: Mapping[str, Any] | str | None = SDK_LISTING
    ) -> dict[str, Any]:
        """``tools/call``; the result as a wire dict (``content``, ``structuredContent``, ``isError``).

        ``output_schema``: the tool's output schema as listed (``None``: it declared none), or ``SDK_LISTING`` for
        a tool not listed yet (the SDK looks it up). Structured content that does not match it is refused."""
        try:
            if self._wire_calls is not None:
                return await self._wire_calls.call(name, arguments, output_schema)
            result = await self._session.call_tool(name, dict(arguments))
        except Exception as exc:
            raise _explained(exc, self._http_errors) from exc
        return to_wire(result)


def _is_list_changed(message: Any) -> bool:
    inner = getattr(message, "root", message)
    return getattr(inner, "method", None) == _LIST_CHANGED


def _stdio_params(config: Mapping[str, Any]) -> Any:
    mcp: Any = importlib.import_module("mcp")
    return mcp.StdioServerParameters(
        command=config["command"],
        args=list(config.get("args", [])),
        env=dict(config["env"]) if "env" in config else None,
        cwd=config.get("cwd"),
    )


async def _open_streams(
    stack: AsyncExitStack, config: Mapping[str, Any], errlog: IO[Any], http_errors: _HttpErrors
) -> tuple[Any, Any]:
    """Enter the transport for ``config`` and return its (read, write) streams."""
    if config["transport"] == "stdio":
        stdio: Any = importlib.import_module("mcp.client.stdio")
        streams: Any = await stack.enter_async_context(stdio.stdio_client(_stdio_params(config), errlog=errlog))
        return streams[0], streams[1]
    http_utils: Any = importlib.import_module("mcp.shared._httpx_utils")
    http_client: Any = http_utils.create_mcp_http_client(headers=dict(config.get("headers", {})))
    hooks: dict[str, list[Any]] = dict(http_client.event_hooks)
    hooks["response"] = [*hooks.get("response", []), http_errors]
    http_client.event_hooks = hooks
    await stack.enter_async_context(http_client)
    shttp: Any = importlib.import_module("mcp.client.streamable_http")
    streams = await stack.enter_async_context(shttp.streamable_http_client(config["url"], http_client=http_client))
    return streams[0], streams[1]  # 1.x yields a third item (session-id getter)


def _server_info(init: Any, protocol_version: str | None) -> ServerInfo:
    wire = to_wire(init)
    server_info: dict[str, Any] = wire.get("serverInfo") or {}
    return ServerInfo(
        name=str(server_info.get("name", "")),
        version=str(server_info.get("version", "")),
        protocol_version=str(protocol_version or wire.get("protocolVersion", "")),
        capabilities=dict(wire.get("capabilities") or {}),
        instructions=wire.get("instructions"),
    )


async def _listen_for_changes(client: Any, on_tools_changed: Callable[[], None]) -> None:
    """2026 protocol era: tool-list changes arrive only on a ``subscriptions/listen`` stream."""
    try:
        async with client.listen(tools_list_changed=True) as subscription:
            async for _event in subscription:
                on_tools_changed()
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as exc:  # the stream is an optimisation; calls keep working without it
        logger.debug("tools/list_changed subscription ended: %s", exc)


@asynccontextmanager
async def connect(
    config: ServerConfig,
    *,
    errlog: IO[Any],
    on_tools_changed: Callable[[], None],
    on_closed: Callable[[], None],
) -> AsyncGenerator[Connection]:
    """Start (stdio) or reach (HTTP) the server, complete the handshake and yield a :class:`Connection`.

    ``errlog`` receives a stdio server's stderr (it must be a real file). ``on_tools_changed`` is called whenever
    the server says its tool list changed, ``on_closed`` when the server hangs up by itself; both run in the
    connection's own tasks and must not raise. Exceptions raised while connecting are mapped where they can be
    (an HTTP error status is named) and otherwise propagate; the caller describes them.
    """

    async def message_handler(message: Any) -> None:
        if _is_list_changed(message):
            on_tools_changed()

    http_errors = _HttpErrors() if config["transport"] == "streamable_http" else None
    async with AsyncExitStack() as stack:
        read, write = await _open_streams(stack, config, errlog, http_errors or _HttpErrors())
        task_group: anyio.abc.TaskGroup = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(task_group.cancel_scope.cancel)  # runs before the task group is left (LIFO)
        read = _watch_for_hangup(stack, read, on_closed)
        mcp: Any = importlib.import_module("mcp")
        if IS_MCP2:
            client: Any = mcp.Client(_PreopenedTransport(read, write), cache=None, message_handler=message_handler)
            try:
                await stack.enter_async_context(client)
            except Exception as exc:
                raise _explained(exc, http_errors) from exc
            info = _server_info(client.session.initialize_result, client.protocol_version)
            if client.session.initialize_result is None:  # 2026 era: no initialize, a discover result
                info = ServerInfo(
                    name=getattr(client.server_info, "name", "") or "",
                    version=getattr(client.server_info, "version", "") or "",
                    protocol_version=client.protocol_version,
                    capabilities=to_wire(client.server_capabilities),
                    instructions=client.instructions,
                )
            if info.tools_list_changed:  # handshake-era servers refuse the listen request: harmless
                task_group.start_soon(_listen_for_changes, client, on_tools_changed)
            yield Connection(client, info, http_errors)
        else:
            session: Any = await stack.enter_async_context(
                mcp.ClientSession(read, write, message_handler=message_handler)
            )
            try:
                init = await session.initialize()
            except Exception as exc:
                raise _explained(exc, http_errors) from exc
            yield Connection(session, _server_info(init, None), http_errors)


class _HangupWatch(anyio.abc.ObjectReceiveStream[Any]):
    """The transport's read stream, seen through a proxy that notices the server hanging up (a stdio server
    exiting while idle) as soon as the session's reader does — at once, not on the next call — without adding a
    hop per message: ``on_closed`` runs when the stream ends by itself."""

    def __init__(self, source: Any, on_closed: Callable[[], None]) -> None:
        self._source = source
        self._on_closed: Callable[[], None] | None = on_closed

    async def receive(self) -> Any:
        try:
            return await self._source.receive()
        except anyio.EndOfStream:
            on_closed, self._on_closed = self._on_closed, None
            if on_closed is not None:
                on_closed()
            raise

    def close(self) -> None:
        self._on_closed = None
        self._source.close()

    async def aclose(self) -> None:
        self._on_closed = None
        await self._source.aclose()

    def __getattr__(self, name: str) -> Any:  # statistics(), clone(), ... of the underlying stream
        return getattr(self._source, name)


def _watch_for_hangup(stack: AsyncExitStack, source: Any, on_closed: Callable[[], None]) -> Any:
    """The read stream to give the session: ``on_closed`` runs when the server hangs up (see :class:`_HangupWatch`)."""
    stack.callback(source.close)  # the session closes only the stream it was given
    return _HangupWatch(source, on_closed)


class _PreopenedTransport:
    """A 2.x ``Transport`` over streams we already opened (so 1.x and 2.x share the transport code)."""

    def __init__(self, read: Any, write: Any) -> None:
        self._streams = (read, write)

    async def __aenter__(self) -> tuple[Any, Any]:
        return self._streams

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def server_class() -> Any:
    """The SDK's high-level server class (2.x ``MCPServer``, 1.x ``FastMCP``), for the bundled servers."""
    try:
        return importlib.import_module("mcp.server.mcpserver").MCPServer
    except ImportError:
        return importlib.import_module("mcp.server.fastmcp").FastMCP
