"""The guest's end of the private protocol channel: a socket inherited from the host.

A reader thread parses host frames: ``exec`` requests are queued for the event loop, responses resolve the
request that asked for them — an asyncio future (tool calls from async code) or a thread event (the synchronous
``search_tools``), so a blocking request never stalls on the loop it blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._frames import MAX_FRAME_BYTES, FrameError, decode, encode

__all__ = ["ChannelClosed", "GuestChannel"]


class ChannelClosed(ConnectionError):
    """The host closed the channel (the session is ending)."""


class GuestChannel:
    """Frames to and from the host over ``sock``; start with :meth:`start` from inside the event loop."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, Callable[[dict[str, Any] | None], None]] = {}
        self._pending_lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._execs: asyncio.Queue[dict[str, Any] | None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._execs = asyncio.Queue()
        threading.Thread(target=self._read_forever, name="mcpexec-channel", daemon=True).start()

    def send(self, frame: dict[str, Any]) -> None:
        data = encode(frame)
        with self._send_lock:
            self._sock.sendall(data)

    # -- reading -----------------------------------------------------------------------------------------------

    def _read_forever(self) -> None:
        reader = self._sock.makefile("rb", buffering=1 << 16)
        try:
            while line := reader.readline(MAX_FRAME_BYTES + 1):
                if not line.endswith(b"\n"):
                    print("mcpexec runtime: oversized or truncated frame from the host", file=sys.__stderr__)
                    break
                try:
                    self._dispatch(decode(line))
                except FrameError as exc:
                    print(f"mcpexec runtime: bad frame from the host: {exc}", file=sys.__stderr__)
        except OSError:
            pass
        finally:
            self._close()

    def _dispatch(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "exec":
            self._to_loop(frame)
            return
        request_id = frame.get("id")
        with self._pending_lock:
            resolve = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if resolve is not None:
            resolve(frame)

    def _to_loop(self, item: dict[str, Any] | None) -> None:
        assert self._loop is not None
        assert self._execs is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: the guest is exiting
            self._loop.call_soon_threadsafe(self._execs.put_nowait, item)

    def _close(self) -> None:
        with self._pending_lock:
            self._closed = True
            waiting, self._pending = list(self._pending.values()), {}
        for resolve in waiting:
            resolve(None)
        self._to_loop(None)

    async def next_exec(self) -> dict[str, Any] | None:
        """The next ``exec`` request, or ``None`` once the host has closed the channel."""
        assert self._execs is not None
        return await self._execs.get()

    # -- requests ----------------------------------------------------------------------------------------------

    def _register(self, frame: dict[str, Any], resolve: Callable[[dict[str, Any] | None], None]) -> int:
        request_id = next(self._ids)
        with self._pending_lock:
            if self._closed:
                raise ChannelClosed("the host closed the session")
            self._pending[request_id] = resolve
        try:
            self.send({**frame, "id": request_id})
        except BaseException:
            with self._pending_lock:
                self._pending.pop(request_id, None)
            raise
        return request_id

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its response without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any] | None] = loop.create_future()

        def resolve(response: dict[str, Any] | None) -> None:
            def settle() -> None:
                if not future.done():
                    future.set_result(response)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle)

        request_id = self._register(frame, resolve)
        try:
            response = await future
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        if response is None:
            raise ChannelClosed("the host closed the session")
        return response

    def request_blocking(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request and block this thread until its response arrives (for synchronous helpers)."""
        done = threading.Event()
        box: list[dict[str, Any] | None] = []

        def resolve(response: dict[str, Any] | None) -> None:
            box.append(response)
            done.set()

        self._register(frame, resolve)
        done.wait()
        if not box or box[0] is None:
            raise ChannelClosed("the host closed the session")
        return box[0]
