"""``MCPHub``: one client session per MCP server, held for the life of an ``async with`` block.

The hub starts every configured server concurrently and keeps going when one fails (its status says why, with
the tail of its stderr). It lists tools page by page into a :class:`~mcpexec.catalog.Catalog`, calls tools with a
timeout, restarts a server that died on the next call to it, refreshes the catalog when a server says its tool
list changed, and counts calls, errors and bytes per server and tool. Leaving the block stops every server
process, also when the body raised or was cancelled.

Each server connection lives in a task of its own (``_ServerHandle.run``), because the SDK's transports are
context managers that must be entered and left by the same task.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self, cast

import anyio
import anyio.abc

from ._compat import (
    SDK_LISTING,
    Connection,
    ConnectionLost,
    MalformedResult,
    RemoteError,
    ServerInfo,
    connect,
    map_exception,
)
from ._stderr import StderrLog
from .catalog import Catalog, ToolSpec
from .config import ServerConfig, server_startup_timeout, server_timeout, validate_servers
from .errors import ServerError, ToolCallError, ToolTimeout
from .results import normalize_result

__all__ = ["MCPHub", "ServerState", "ServerStatus", "ToolStats"]

logger = logging.getLogger(__name__)

ServerState = Literal["starting", "ready", "failed", "stopped"]

_MAX_PAGES = 1000
_STDERR_TRIM_INTERVAL = 2.0  # seconds between checks that a server's stderr log stays bounded


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """A server's state as the hub sees it."""

    name: str
    state: ServerState
    error: str | None = None
    stderr_tail: str = ""
    info: ServerInfo | None = None
    tool_count: int = 0
    restarts: int = 0


@dataclass(slots=True)
class ToolStats:
    """Counters for one tool (or, summed, one server)."""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    seconds: float = 0.0

    def add(self, other: ToolStats) -> None:
        """Add ``other``'s counts to these."""
        self.calls += other.calls
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.bytes_out += other.bytes_out
        self.bytes_in += other.bytes_in
        self.seconds += other.seconds


_size_encoder = json.JSONEncoder(ensure_ascii=False, default=str)


def json_size(value: Any) -> int:
    """The size of ``value`` as UTF-8 JSON, in bytes (for the byte counters)."""
    text = _size_encoder.encode(value)
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _describe(exc: BaseException) -> str:
    """A one-line description of a (possibly grouped) startup exception."""
    while isinstance(exc, BaseExceptionGroup):
        leaves: tuple[BaseException, ...] = cast(BaseExceptionGroup[BaseException], exc).exceptions
        if len(leaves) != 1:
            return "; ".join(_describe(leaf) for leaf in leaves)
        exc = leaves[0]
    if isinstance(exc, Exception):
        exc = map_exception(exc)
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc} (install it or fix 'command')"
    if isinstance(exc, ConnectionLost):
        return f"closed the connection during start-up (it probably exited; see its stderr): {exc}"
    if isinstance(exc, RemoteError):
        return f"refused the handshake: {exc.message}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Attempt:
    """The events of one connection attempt (a restart makes a new one)."""

    def __init__(self) -> None:
        self.stop = anyio.Event()
        self.settled = anyio.Event()
        self.done = anyio.Event()


class _ServerHandle:
    """One server: its config, its current connection (if any) and the task that holds it."""

    def __init__(self, name: str, config: ServerConfig, hub: MCPHub) -> None:
        self.name = name
        self.config = config
        self._hub = hub
        self.connection: Connection | None = None
        self.state: ServerState = "stopped"
        self.error: str | None = None
        self.restarts = 0
        self.wire_tools: list[dict[str, Any]] = []
        self._errlog: StderrLog | None = None
        self._attempt: _Attempt | None = None
        self._lock = anyio.Lock()
        self._refresh_pending = False

    # -- status ------------------------------------------------------------------------------------------------

    def stderr_tail(self, max_lines: int = 40) -> str:
        """The last lines the server wrote to stderr (stdio servers only)."""
        return self._errlog.tail(max_lines) if self._errlog is not None else ""

    def status(self) -> ServerStatus:
        info = self.connection.info if self.connection is not None else None
        return ServerStatus(
            name=self.name,
            state=self.state,
            error=self.error,
            stderr_tail=self.stderr_tail() if self.state == "failed" else "",
            info=info,
            tool_count=len(self.wire_tools),
            restarts=self.restarts,
        )

    def _set_state(self, state: ServerState, error: str | None = None) -> None:
        self.state = state
        self.error = error
        self._hub._notify_status(self.status())  # pyright: ignore[reportPrivateUsage]

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Start a connection task and wait until it is ready or has failed."""
        attempt = _Attempt()
        self._attempt = attempt
        self._set_state("starting")
        task_group.start_soon(self._hold, attempt, name=f"mcpexec server {self.name}")
        await attempt.settled.wait()

    async def _hold(self, attempt: _Attempt) -> None:
        """Hold one connection open until asked to stop or until it is lost."""
        if self._errlog is not None:
            self._errlog.close()
        self._errlog = errlog = StderrLog()
        timeout = server_startup_timeout(self.config)
        failure: str | None = None
        ready = False
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + timeout) as startup:
                async with connect(
                    self.config,
                    errlog=errlog.file,
                    on_tools_changed=self._tools_changed,
                    on_closed=lambda: self._hung_up(attempt),
                ) as connection:
                    self.wire_tools = await _list_all_tools(connection)
                    startup.deadline = math.inf
                    self.connection, ready = connection, True
                    self._set_state("ready")
                    attempt.settled.set()
                    while not attempt.stop.is_set():
                        with anyio.move_on_after(_STDERR_TRIM_INTERVAL):
                            await attempt.stop.wait()
                        errlog.trim()
            if startup.cancelled_caught and not ready:
                failure = f"did not start within {timeout:g} s (raise startup_timeout if it is slow)"
        except Exception as exc:  # every startup failure is reported, never raised into the hub
            failure = _describe(exc)
            url = self.config.get("url")
            if isinstance(url, str) and url not in failure:
                failure += f" (url {url})"
            logger.debug("server %s failed", self.name, exc_info=True)
        finally:
            if self._attempt is attempt:
                self.connection = None
                if failure is not None and not ready:
                    self._set_state("failed", failure)
                elif self.state != "failed":
                    self._set_state("stopped")
            attempt.settled.set()
            attempt.done.set()

    async def stop(self) -> None:
        """Ask the current connection task to close its connection, and wait until it has."""
        attempt = self._attempt
        if attempt is None:
            return
        attempt.stop.set()
        with anyio.CancelScope(shield=True):
            await attempt.done.wait()

    def request_stop(self) -> None:
        """Ask the current connection task to close its connection (without waiting)."""
        if self._attempt is not None:
            self._attempt.stop.set()

    def mark_lost(self, reason: str) -> None:
        """The connection broke: close it; the next call restarts the server."""
        if self.state != "failed":
            self._set_state("failed", reason)
        self.request_stop()

    def _hung_up(self, attempt: _Attempt) -> None:
        """The server closed the connection by itself (e.g. the process exited while idle).

        Only the state changes here: calls in flight still get their "connection closed" error from the SDK,
        and the next call stops this attempt and restarts the server.
        """
        if self._attempt is attempt and not attempt.stop.is_set() and self.state == "ready":
            self._set_state("failed", "the server closed the connection (it probably exited; see its stderr)")

    async def ensure_connected(self, task_group: anyio.abc.TaskGroup) -> Connection:
        """The live connection, restarting the server (bounded retries with backoff) if it is down."""
        if self.connection is not None and self.state == "ready":
            return self.connection
        async with self._lock:
            hub = self._hub
            for attempt in range(hub.max_restarts + 1):
                if self.connection is not None and self.state == "ready":
                    return self.connection
                if attempt:
                    await anyio.sleep(min(hub.restart_backoff * 2 ** (attempt - 1), 5.0))
                await self.stop()
                self.restarts += 1
                await self.start(task_group)
                if self.connection is not None:
                    hub._update_catalog(self)  # pyright: ignore[reportPrivateUsage]
                    return self.connection
            raise ServerError(
                f"unavailable after {hub.max_restarts + 1} restart attempts: {self.error}",
                server=self.name,
                stderr_tail=self.stderr_tail(),
            )

    def close_log(self) -> None:
        if self._errlog is not None:
            self._errlog.close()

    # -- list changes ------------------------------------------------------------------------------------------

    def _tools_changed(self) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            self._hub._schedule_refresh(self)  # pyright: ignore[reportPrivateUsage]

    async def refresh(self) -> None:
        """Relist the server's tools (after a list-changed notification or on request)."""
        self._refresh_pending = False
        connection = self.connection
        if connection is None:
            return
        try:
            self.wire_tools = await _list_all_tools(connection)
        except ConnectionLost as exc:
            self.mark_lost(f"connection lost while listing tools: {exc}")
            return
        except (RemoteError, MalformedResult) as exc:
            logger.warning("server %s: relisting tools failed: %s", self.name, exc)
            return
        self._hub._update_catalog(self)  # pyright: ignore[reportPrivateUsage]


async def _list_all_tools(connection: Connection) -> list[dict[str, Any]]:
    """Every page of ``tools/list`` (a repeated cursor or an endless listing is cut off, not looped on)."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        page, cursor = await connection.list_tools_page(cursor)
        tools.extend(page)
        if cursor is None or cursor in seen:
            break
        seen.add(cursor)
    return tools


class MCPHub:
    """Holds one MCP client session per configured server.

    Use as ``async with MCPHub(servers) as hub:``; ``servers`` maps names to configs (see :mod:`mcpexec.config`).
    """

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        max_restarts: int = 2,
        restart_backoff: float = 0.2,
        on_status: Callable[[ServerStatus], None] | None = None,
    ) -> None:
        """``max_restarts``: extra start attempts per call when a server is down; ``restart_backoff``: the first
        pause between attempts in seconds (doubling); ``on_status`` is told of every server state change."""
        self._configs = validate_servers(servers)
        self.max_restarts = max_restarts
        self.restart_backoff = restart_backoff
        self._on_status = on_status
        self._handles = {name: _ServerHandle(name, config, self) for name, config in self._configs.items()}
        self._catalog = Catalog()
        self._stats: dict[tuple[str, str], ToolStats] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._catalog_listeners: list[Callable[[Catalog], None]] = []

    # -- context management ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("MCPHub is already open; it cannot be entered twice")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            async with anyio.create_task_group() as starters:
                for handle in self._handles.values():
                    starters.start_soon(handle.start, task_group)
        except BaseException:
            await self._shutdown()
            raise
        self._rebuild_catalog()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        """Stop every server. The body's own exception (or cancellation) propagates unchanged, never grouped."""
        task_group = self._task_group
        if task_group is None:
            return
        self._task_group = None
        for handle in self._handles.values():
            handle.request_stop()
        task_group.cancel_scope.cancel()  # the SDK's process shutdown is shielded: cancelling cannot leak them
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            for handle in self._handles.values():
                handle.close_log()

    def _require_open(self) -> anyio.abc.TaskGroup:
        if self._task_group is None:
            raise RuntimeError("MCPHub is not open: use it inside 'async with MCPHub(...) as hub:'")
        return self._task_group

    # -- catalog -----------------------------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The tools of every ready server (kept up to date on list-changed notifications)."""
        return self._catalog

    def on_catalog_changed(self, listener: Callable[[Catalog], None]) -> None:
        """Call ``listener`` with the new catalog whenever a server's tool list changes."""
        self._catalog_listeners.append(listener)

    def _rebuild_catalog(self) -> None:
        self._catalog = Catalog.from_wire({name: h.wire_tools for name, h in self._handles.items()})

    def _update_catalog(self, handle: _ServerHandle) -> None:
        before = self._catalog
        self._catalog = before.with_server(handle.name, handle.wire_tools)
        if self._catalog != before:
            for listener in self._catalog_listeners:
                listener(self._catalog)

    def _schedule_refresh(self, handle: _ServerHandle) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(handle.refresh)

    async def refresh(self, server: str | None = None) -> Catalog:
        """Relist tools now (one server or all ready ones) and return the updated catalog."""
        self._require_open()
        handles = [self._handle(server)] if server is not None else list(self._handles.values())
        for handle in handles:
            await handle.refresh()
        return self._catalog

    # -- status ------------------------------------------------------------------------------------------------

    @property
    def servers(self) -> tuple[str, ...]:
        """Configured server names, in configuration order."""
        return tuple(self._handles)

    def status(self) -> dict[str, ServerStatus]:
        """Every server's current status."""
        return {name: handle.status() for name, handle in self._handles.items()}

    def _notify_status(self, status: ServerStatus) -> None:
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:  # a progress display must never break the hub
                logger.exception("on_status callback failed")

    def _handle(self, server: str) -> _ServerHandle:
        try:
            return self._handles[server]
        except KeyError:
            known = ", ".join(self._handles) or "none"
            raise ServerError(f"no such server (configured: {known})", server=server) from None

    # -- calls -------------------------------------------------------------------------------------------------

    async def call_tool_raw(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Call a tool and return its result as a wire-format dict, ``isError`` results included.

        Raises :class:`ToolTimeout` after ``timeout`` seconds (default: the server's configured timeout),
        :class:`ServerError` when the server is down or dies during the call, :class:`ToolCallError` for a
        protocol error or a malformed result.
        """
        task_group = self._require_open()
        handle = self._handle(server)
        limit = server_timeout(handle.config) if timeout is None else timeout
        if not limit > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        args = dict(arguments or {})
        stats = ToolStats(calls=1, bytes_out=json_size(args))
        started = time.perf_counter()
        try:
            connection = await handle.ensure_connected(task_group)
            spec = self._catalog.find(server, tool)
            output_schema = SDK_LISTING if spec is None else spec.output_schema
            result = await self._call(handle, connection, tool, args, limit, output_schema)
            stats.bytes_in = json_size(result)
            if result.get("isError") is True:
                stats.errors += 1
            return result
        except ToolTimeout:
            stats.timeouts += 1
            stats.errors += 1
            raise
        except (ServerError, ToolCallError):
            stats.errors += 1
            raise
        finally:
            stats.seconds = time.perf_counter() - started
            self._stats.setdefault((server, tool), ToolStats()).add(stats)

    @staticmethod
    async def _call(
        handle: _ServerHandle,
        connection: Connection,
        tool: str,
        args: dict[str, Any],
        limit: float,
        output_schema: Mapping[str, Any] | str | None,
    ) -> dict[str, Any]:
        """One ``tools/call`` with its timeout, SDK-neutral errors mapped to ours."""
        server = handle.name
        try:
            with anyio.move_on_after(limit) as scope:
                return await connection.call_tool(tool, args, output_schema=output_schema)
        except ConnectionLost as exc:
            handle.mark_lost(f"connection lost during a call to {tool!r}: {exc}")
            raise ServerError(
                f"died or hung up during a call to {tool!r} (it will be restarted on the next call)",
                server=server,
                stderr_tail=handle.stderr_tail(),
            ) from exc
        except RemoteError as exc:
            raise ToolCallError(exc.message, server=server, tool=tool) from exc
        except MalformedResult as exc:
            raise ToolCallError(f"malformed result: {exc}", server=server, tool=tool) from exc
        assert scope.cancelled_caught
        raise ToolTimeout(server=server, tool=tool, timeout=limit)

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call a tool and return its result as a Python value (see :mod:`mcpexec.results`).

        An ``isError`` result raises :class:`ToolCallError` with the server's message.
        """
        result = await self.call_tool_raw(server, tool, arguments, timeout=timeout)
        spec = self._catalog.find(server, tool)  # None: a tool the catalog has not seen (yet), no schema to unwrap by
        output_schema = None if spec is None else spec.output_schema
        return normalize_result(result, server=server, tool=tool, output_schema=output_schema)

    def tool(self, server: str, name: str) -> ToolSpec:
        """The catalog entry of one tool."""
        return self._catalog.get(server, name)

    # -- counters ----------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, ToolStats]]:
        """Counters per server, then per tool (copies)."""
        out: dict[str, dict[str, ToolStats]] = {}
        for (server, tool), stats in sorted(self._stats.items()):
            copy = ToolStats()
            copy.add(stats)
            out.setdefault(server, {})[tool] = copy
        return out

    def server_stats(self, server: str) -> ToolStats:
        """Counters summed over one server's tools."""
        total = ToolStats()
        for (name, _tool), stats in self._stats.items():
            if name == server:
                total.add(stats)
        return total
