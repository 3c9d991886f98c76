"""The guest's end of the private protocol channel: a socket inherited from the host.

The event loop reads the socket itself (``add_reader``): a response resolves the asyncio future of the tool call
that asked for it within the same loop iteration, and ``exec`` requests are queued for the loop. A synchronous
request (``search_tools``, ``save_skill``) cannot wait for the loop, which may be the very thread it blocks — the
cell's own code — or be blocked by it (a cell joining a thread that searches). So a blocking requester takes the
reading over until its answer arrives: one reader at a time (the loop's callback or a blocked requester), whoever
reads hands each frame to the request it answers, and the loop's reader pauses while another thread reads. An
async request made in another event loop (a skill's example runs in one, on a thread of its own, while the cell's
loop waits for it) is made as a blocking request on a worker thread of that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import select
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._frames import MAX_FRAME_BYTES, FrameError, decode, encode

__all__ = ["ChannelClosed", "GuestChannel", "PipeEnds"]

_CHUNK = 1 << 16
_LOOP = -1  # the reader role held by the event loop's callback (thread ids are never negative)


class ChannelClosed(ConnectionError):
    """The host closed the channel (the session is ending)."""


class PipeEnds:
    """The channel over two pipe file descriptors (E2B: the guest's original stdin and stdout), with the socket
    calls the channel uses."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd

    def fileno(self) -> int:
        return self._read_fd

    def recv(self, size: int, flags: int = 0) -> bytes:
        if flags & socket.MSG_DONTWAIT and not select.select([self._read_fd], [], [], 0)[0]:
            raise BlockingIOError
        return os.read(self._read_fd, size)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._write_fd, view) :]

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class GuestChannel:
    """Frames to and from the host over ``sock`` (a blocking socket, or :class:`PipeEnds`); start with
    :meth:`start` from inside the event loop. ``ascii_only``: escape non-ASCII in frames sent (for hosts that
    decode the channel's text chunk by chunk)."""

    def __init__(self, sock: socket.socket | PipeEnds, *, ascii_only: bool = False) -> None:
        self._sock = sock
        self._ascii_only = ascii_only
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Callable[[dict[str, Any] | None], None]] = {}
        self._state = threading.Condition()  # guards _pending, _closed and the reader role below
        self._closed = False
        self._reader: int | None = None  # who reads the socket now: _LOOP, a thread id, or nobody
        self._watching = False  # whether the loop's reader callback is registered
        self._buffer = bytearray()  # the start of a frame not yet complete (owned by the reader)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._execs: asyncio.Queue[dict[str, Any] | None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._execs = asyncio.Queue()
        self._watch()

    def send(self, frame: dict[str, Any]) -> None:
        data = encode(frame, ascii_only=self._ascii_only)
        with self._send_lock:
            self._sock.sendall(data)

    # -- reading -----------------------------------------------------------------------------------------------

    def _watch(self) -> None:
        """(Re)start reading in the event loop (loop thread only)."""
        assert self._loop is not None
        with self._state:
            if self._watching or self._closed:
                return
            self._watching = True
        self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def _unwatch(self) -> None:
        """Stop reading in the event loop (loop thread only; called with ``_state`` held)."""
        if self._watching:
            self._watching = False
            assert self._loop is not None
            self._loop.remove_reader(self._sock.fileno())

    def _on_readable(self) -> None:
        """The loop's reader callback: read what is there without blocking, and dispatch complete frames."""
        with self._state:
            if self._reader is not None:  # a blocked requester is reading; it restarts us when it is done
                self._unwatch()
                return
            self._reader = _LOOP
        try:
            self._receive(socket.MSG_DONTWAIT)
        finally:
            with self._state:
                self._reader = None
                self._state.notify_all()

    def _receive(self, flags: int = 0) -> bool:
        """Read once (the caller holds the reader role) and dispatch every complete frame; ``False`` once the
        channel is closed."""
        try:
            data = self._sock.recv(_CHUNK, flags)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._close()
            return False
        if self._buffer:  # a frame split over reads: only its last piece is searched for the newline
            self._buffer += data
            if b"\n" in data:
                data = bytes(self._buffer)
                self._buffer.clear()
            else:
                data = b""
        lines = data.split(b"\n")
        self._buffer += lines.pop()
        for line in lines:
            try:
                frame = decode(line)
            except FrameError as exc:
                print(f"mcpexec runtime: bad frame from the host: {exc}", file=sys.__stderr__)
                continue
            self._dispatch(frame)
        if len(self._buffer) > MAX_FRAME_BYTES:
            print("mcpexec runtime: oversized frame from the host", file=sys.__stderr__)
            self._close()
            return False
        return True

    def _dispatch(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "exec":
            self._to_loop(frame)
            return
        request_id = frame.get("id")
        with self._state:
            resolve = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if resolve is not None:
            resolve(frame)

    def _in_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _call_in_loop(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function(*args)`` in the loop: now when this is the loop thread, else as soon as it can."""
        assert self._loop is not None
        if self._in_loop_thread():
            function(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the guest is exiting
                self._loop.call_soon_threadsafe(function, *args)

    def _to_loop(self, item: dict[str, Any] | None) -> None:
        assert self._execs is not None
        self._call_in_loop(self._execs.put_nowait, item)

    def _close(self) -> None:
        with self._state:
            if self._closed:
                return
            self._closed = True
            waiting, self._pending = list(self._pending.values()), {}
            if self._in_loop_thread():
                self._unwatch()
            self._state.notify_all()
        for resolve in waiting:
            resolve(None)
        self._to_loop(None)
        if not self._in_loop_thread():
            self._call_in_loop(self._stop_watching)

    def _stop_watching(self) -> None:
        with self._state:
            self._unwatch()

    async def next_exec(self) -> dict[str, Any] | None:
        """The next ``exec`` request, or ``None`` once the host has closed the channel."""
        assert self._execs is not None
        return await self._execs.get()

    # -- requests ----------------------------------------------------------------------------------------------

    def _register(self, frame: dict[str, Any], resolve: Callable[[dict[str, Any] | None], None]) -> int:
        request_id = next(self._ids)
        with self._state:
            if self._closed:
                raise ChannelClosed("the host closed the session")
            self._pending[request_id] = resolve
        try:
            self.send({**frame, "id": request_id})
        except BaseException:
            with self._state:
                self._pending.pop(request_id, None)
            raise
        return request_id

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its response without blocking the event loop."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # another loop (a skill's example runs in one while the cell's loop waits for it)
            return await asyncio.to_thread(self.request_blocking, frame)
        future: asyncio.Future[dict[str, Any] | None] = loop.create_future()

        def settle(response: dict[str, Any] | None) -> None:
            if not future.done():
                future.set_result(response)

        request_id = self._register(frame, lambda response: self._call_in_loop(settle, response))
        try:
            response = await future
        finally:
            with self._state:
                self._pending.pop(request_id, None)
        if response is None:
            raise ChannelClosed("the host closed the session")
        return response

    def request_blocking(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request and block this thread until its response arrives (for synchronous helpers).

        Works from any thread, the event loop's included: the caller reads the socket itself unless another
        reader is at it (then that one hands the response over)."""
        box: list[dict[str, Any] | None] = []

        def resolve(response: dict[str, Any] | None) -> None:
            with self._state:
                box.append(response)
                self._state.notify_all()

        request_id = self._register(frame, resolve)
        try:
            self._wait_reading(box)
        finally:
            with self._state:
                self._pending.pop(request_id, None)
        if not box or box[0] is None:
            raise ChannelClosed("the host closed the session")
        return box[0]

    def _wait_reading(self, box: list[dict[str, Any] | None]) -> None:
        """Until ``box`` is filled: read the socket while no one else does, else wait for the reader."""
        me = threading.get_ident()
        while True:
            with self._state:
                while not box and not self._closed and self._reader is not None:
                    self._state.wait()
                if box or self._closed:
                    return
                self._reader = me
            try:
                while not box and self._receive():
                    pass
            finally:
                with self._state:
                    self._reader = None
                    self._state.notify_all()
                    resume = not self._watching and not self._closed
                if resume and self._loop is not None:
                    self._call_in_loop(self._watch)
