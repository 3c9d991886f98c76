"""The host's end of the guest protocol, over any byte stream (a socketpair locally, stdin/stdout on E2B).

Frames from the guest are untrusted: anything malformed is dropped (and counted), requests are served
concurrently (bounded), and the guest can only ask for what :class:`GuestRequests` offers.

Requests are answered by worker tasks that stay for the session (an idle one is woken, or a new one started while
fewer than ``MAX_CONCURRENT_REQUESTS`` answer; past the bound, requests wait for the first worker to be free while
reading goes on), so the bound needs no semaphore. Who reads depends on the channel:

- a socket on asyncio (the local sandbox): the event loop itself, through a reader callback registered once —
  no task wakes to read, and the socket is not re-registered with the selector for every frame;
- any other stream (E2B, in-memory; trio): the workers, taking turns — the worker that reads a request answers
  it itself, at once, after handing the reading to another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

import anyio
import anyio.abc
import anyio.lowlevel

from mcpexec.errors import MCPExecError, SandboxCrashed, UsageError
from mcpexec.runtime._frames import MAX_FRAME_BYTES, FrameError, decode, encode, error_payload

__all__ = ["GuestConnection", "GuestRequests"]

logger = logging.getLogger("mcpexec.sandbox")

MAX_CONCURRENT_REQUESTS = 128
MAX_WAITING_REQUESTS = 100_000
"""Requests read but not answered yet, past which the guest is flooding the host: the session is closed."""
MAX_WAITING_BYTES = 256 * 1024 * 1024
"""The same bound on the waiting requests' size (their frames' bytes)."""
_CHUNK = 1 << 16
_HUNG_UP = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError)


class GuestRequests(Protocol):
    """What the guest may ask the host for; each returns a response payload (``{"ok": ..., ...}``)."""

    async def tool_call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]: ...

    async def search(self, query: str, detail_level: str, limit: int, options: dict[str, Any]) -> dict[str, Any]: ...

    async def skill(self, action: str, fields: dict[str, Any]) -> dict[str, Any]: ...


def _text(frame: Mapping[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise UsageError(f"frame field {key!r} must be a string")
    return value


class _FrameTooLarge(Exception):
    pass


def _nonblocking_socket(stream: anyio.abc.ByteStream) -> socket.socket | None:
    raw: object = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    return raw if isinstance(raw, socket.socket) and not raw.getblocking() else None


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio event loop, or ``None`` on another backend."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class GuestConnection:
    """Serves one guest: run :meth:`serve` in a task group, then :meth:`wait_ready` and :meth:`execute`.

    Over a socket (the local sandbox) frames are read and written on the socket itself, which spares every frame
    the checkpoint (one more trip through the event loop) that anyio's stream methods begin with; other streams
    (E2B, in-memory) go through the stream.
    """

    def __init__(self, stream: anyio.abc.ByteStream, handler: GuestRequests) -> None:
        self._stream = stream
        self._socket = _nonblocking_socket(stream)
        self._buffer = bytearray()  # the start of a frame not yet complete
        self._handler = handler
        self._send_lock = anyio.Lock(fast_acquire=True)  # no extra trip through the event loop per frame
        self._ids = itertools.count(1)
        self._results: dict[int, anyio.Event] = {}
        self._frames: dict[int, dict[str, Any]] = {}
        self._ready = anyio.Event()
        self._closed = anyio.Event()
        self._requests: deque[tuple[dict[str, Any], int]] = deque()  # waiting for a worker, with their sizes
        self._waiting_bytes = 0
        self._idle: list[anyio.Event] = []  # one per idle worker: set it to wake that worker
        self._workers = 0
        self._answering = 0  # workers answering a request now
        self._reading = False  # a worker is reading frames
        self._hung_up = anyio.Event()
        self._tasks: anyio.abc.TaskGroup | None = None
        self._watching: asyncio.AbstractEventLoop | None = None  # the loop whose reader callback reads the socket
        self.ready_info: dict[str, Any] = {}
        self.dropped_frames = 0
        self.failure: str | None = None
        """Why the channel broke, when a frame could not be sent."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def close(self) -> None:
        """Hang up on the guest (it exits when its channel closes)."""
        self._hang_up()
        if self._socket is not None:
            anyio.notify_closing(self._socket)  # a read waiting on it ends with ClosedResourceError
        await self._stream.aclose()

    async def send(self, frame: dict[str, Any]) -> None:
        data = encode(frame)
        if not self._send_lock.locked():  # nobody is waiting to finish a frame: write now, no lock needed
            data = self._send_now(data)
            if not data:
                return
        async with self._send_lock:  # taken at once when free, so the rest follows what was just written
            data = self._send_now(data)
            if data:  # the socket buffer is full: the stream waits until it drains
                await self._stream.send(data)

    def _send_now(self, data: bytes) -> bytes:
        """Write what the socket takes without waiting; the rest (all of it, on a stream that is no socket)."""
        if self._socket is None:
            return data
        try:
            sent = self._socket.send(data)
        except BlockingIOError:
            return data
        return data[sent:]

    async def _receive(self) -> bytes:
        """The next bytes from the guest (``EndOfStream`` when it hung up)."""
        sock = self._socket
        if sock is None:
            return await self._stream.receive(_CHUNK)
        waited = False
        while True:
            try:
                data = sock.recv(_CHUNK)
            except BlockingIOError:
                await anyio.wait_readable(sock)
                waited = True
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not waited:  # a guest that keeps the socket full must not keep the event loop to itself
                await anyio.lowlevel.checkpoint()
            if not data:
                raise anyio.EndOfStream
            return data

    async def _receive_lines(self) -> list[bytes]:
        """The next complete frames (lines, newline stripped); ``_FrameTooLarge`` past ``MAX_FRAME_BYTES``."""
        while True:
            if lines := self._lines(await self._receive()):
                return lines

    def _lines(self, data: bytes) -> list[bytes]:
        """The frames ``data`` completes (lines, newline stripped); ``_FrameTooLarge`` past ``MAX_FRAME_BYTES``."""
        if self._buffer:  # a frame split over reads: only its last piece is searched for the newline
            self._buffer += data
            if b"\n" not in data:
                data = b""
            else:
                data = bytes(self._buffer)
                self._buffer.clear()
        lines = data.split(b"\n")
        self._buffer += lines.pop()
        if len(self._buffer) > MAX_FRAME_BYTES or (lines and len(lines[0]) > MAX_FRAME_BYTES):
            raise _FrameTooLarge(f"guest sent a frame over {MAX_FRAME_BYTES} bytes; closing the session")
        return lines

    def _on_readable(self) -> None:
        """The event loop's reader callback (a socket on asyncio): read once, dispatch, call workers."""
        assert self._socket is not None
        try:
            data = self._socket.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._hang_up()
            return
        try:
            lines = self._lines(data)
        except _FrameTooLarge as exc:
            self._hang_up(str(exc))
            return
        for line in lines:
            self._dispatch(line)
        if self._requests:
            self._call_workers()

    def _watch(self) -> bool:
        """Let the event loop read the socket (asyncio only); ``False`` when the workers must read."""
        loop = _asyncio_loop()
        if loop is None or self._socket is None:
            return False
        try:
            loop.add_reader(self._socket.fileno(), self._on_readable)
        except (NotImplementedError, ValueError, OSError):  # a loop without add_reader, or a closed socket
            return False
        self._watching = loop
        self._reading = True  # for good: workers only answer
        return True

    def _stop_watching(self) -> None:
        loop, self._watching = self._watching, None
        if loop is not None and self._socket is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):  # closed socket or loop
                loop.remove_reader(self._socket.fileno())

    def _hang_up(self, warning: str | None = None) -> None:
        """Stop reading and end :meth:`serve` (logging ``warning``, when the guest did something wrong)."""
        if warning is not None:
            logger.warning("%s", warning)
        self._stop_watching()
        self._hung_up.set()

    async def serve(self) -> None:
        """Read guest frames and answer its requests until the guest hangs up."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                if not self._watch():
                    self._workers = 1
                    tasks.start_soon(self._work)
                try:
                    await self._hung_up.wait()
                finally:
                    self._stop_watching()
                tasks.cancel_scope.cancel()
        finally:
            self._closed.set()
            for event in self._results.values():
                event.set()

    def _flooded(self) -> None:
        """More requests wait than the bounds allow: the guest floods the channel (a bug, or an attack on the
        host's memory). Hang up, saying why — the cell ends with that reason."""
        reason = (
            f"the sandbox sent more requests than can wait for an answer (at most {MAX_WAITING_REQUESTS:,}, "
            f"{MAX_WAITING_BYTES // 2**20} MiB); the session was closed — make fewer tool calls at once"
        )
        if self.failure is None:
            self.failure = reason
        self._hang_up(reason)

    def _dispatch(self, line: bytes) -> None:
        if self._hung_up.is_set():  # the rest of a read after the session was closed
            return
        try:
            frame = decode(line)
        except FrameError:
            self.dropped_frames += 1
            return
        kind = frame["type"]
        if kind == "exec_result":
            exec_id = frame.get("id")
            if isinstance(exec_id, int) and exec_id in self._results:
                self._frames[exec_id] = frame
                self._results[exec_id].set()
            else:
                self.dropped_frames += 1
        elif kind in ("tool_call", "search", "skill") and isinstance(frame.get("id"), int):
            if len(self._requests) >= MAX_WAITING_REQUESTS or self._waiting_bytes + len(line) > MAX_WAITING_BYTES:
                self._flooded()
                return
            self._requests.append((frame, len(line)))
            self._waiting_bytes += len(line)
        elif kind == "ready":
            self.ready_info = frame
            self._ready.set()
        else:
            self.dropped_frames += 1

    def _call_workers(self) -> None:
        """Wake (or start) as many workers as the waiting requests and the reading need."""
        needed = len(self._requests) + (0 if self._reading else 1)
        while needed > 0 and self._idle:
            self._idle.pop().set()
            needed -= 1
        while needed > 0 and self._workers <= MAX_CONCURRENT_REQUESTS and self._tasks is not None:
            self._workers += 1
            self._tasks.start_soon(self._work)
            needed -= 1

    async def _work(self) -> None:
        """A worker: answer a waiting request (handing the reading on first), or read frames, or wait to be woken."""
        while True:
            if self._requests and self._answering < MAX_CONCURRENT_REQUESTS:
                frame, size = self._requests.popleft()
                self._waiting_bytes -= size
                self._answering += 1
                self._call_workers()
                try:
                    await self._answer(frame)
                finally:
                    self._answering -= 1
            elif not self._reading:
                self._reading = True
                try:
                    lines = await self._receive_lines()
                except _HUNG_UP:
                    self._hang_up()
                    return
                except _FrameTooLarge as exc:
                    self._hang_up(str(exc))
                    return
                finally:
                    self._reading = False
                for line in lines:
                    self._dispatch(line)
            else:
                wake = anyio.Event()
                self._idle.append(wake)
                await wake.wait()

    async def _request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The handler's answer to one guest request (validated here: the frame is untrusted)."""
        kind = frame["type"]
        if kind == "tool_call":
            arguments: object = frame.get("arguments")
            if not isinstance(arguments, dict):
                raise UsageError("tool arguments must be a JSON object")
            return await self._handler.tool_call(_text(frame, "server"), _text(frame, "tool"), arguments)  # pyright: ignore[reportUnknownArgumentType]
        if kind == "skill":
            fields = {k: v for k, v in frame.items() if k not in ("type", "id", "action")}
            return await self._handler.skill(_text(frame, "action"), fields)
        options: object = frame.get("options") or {}
        limit = frame.get("limit", 10)
        if not isinstance(options, dict) or not isinstance(limit, int):
            raise UsageError("search options must be a JSON object and limit an integer")
        query, detail_level = _text(frame, "query"), _text(frame, "detail_level")
        return await self._handler.search(query, detail_level, limit, options)  # pyright: ignore[reportUnknownArgumentType]

    async def _answer(self, frame: dict[str, Any]) -> None:
        reply = {"tool_call": "tool_result", "search": "search_result", "skill": "skill_result"}[frame["type"]]
        try:
            payload = await self._request(frame)
        except Exception as exc:  # an answer must always go back, or the guest waits forever
            payload = {"ok": False, "error": error_payload(exc)}
        try:
            await self.send({**payload, "type": reply, "id": frame["id"]})
        except (ValueError, TypeError) as exc:  # a result JSON cannot carry (NaN, ...)
            error = error_payload(MCPExecError(f"the result could not be sent to the sandbox: {exc}"))
            await self._send_quietly({"type": reply, "id": frame["id"], "ok": False, "error": error})
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            await self._broken(f"an answer could not be sent to the sandbox ({exc})")

    async def _broken(self, reason: str) -> None:
        """The channel cannot carry frames any more: hang up, so the cell ends now rather than at its timeout."""
        if self.failure is None:
            self.failure = reason
        with contextlib.suppress(Exception):
            await self.close()

    async def _send_quietly(self, frame: dict[str, Any]) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await self.send(frame)

    async def wait_ready(self) -> dict[str, Any]:
        """Wait until the guest says it is ready (bound the wait with a cancel scope)."""
        async with anyio.create_task_group() as waiting:

            async def ready() -> None:
                await self._ready.wait()
                waiting.cancel_scope.cancel()

            async def hung_up() -> None:
                await self._closed.wait()
                waiting.cancel_scope.cancel()

            waiting.start_soon(ready)
            waiting.start_soon(hung_up)
        if not self._ready.is_set():
            raise SandboxCrashed("the sandbox process exited before it was ready")
        return self.ready_info

    async def execute(self, code: str) -> dict[str, Any]:
        """Run one cell and return the guest's ``exec_result`` frame; :class:`SandboxCrashed` if it hangs up."""
        exec_id = next(self._ids)
        done = self._results[exec_id] = anyio.Event()
        try:
            if self.closed:
                raise SandboxCrashed("the sandbox session has ended")
            try:
                await self.send({"type": "exec", "id": exec_id, "code": code})
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise SandboxCrashed(f"the sandbox process is gone ({exc})") from exc
            await done.wait()
            frame = self._frames.pop(exec_id, None)
            if frame is None:
                raise SandboxCrashed("the sandbox process died while running the cell")
            return frame
        finally:
            self._results.pop(exec_id, None)
            self._frames.pop(exec_id, None)
