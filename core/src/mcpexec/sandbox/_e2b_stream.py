"""The guest protocol over an E2B background command: host → guest by stdin, guest → host by stdout chunks.

E2B delivers stdout in arbitrary chunks (a line split in several, several lines in one) through a callback that
must never raise (an exception there silently stops delivery), and each stdin write is a request of its own.
This stream turns that into an anyio byte stream for :class:`~mcpexec.sandbox._connection.GuestConnection`,
which reassembles frames by newline; the guest sends ASCII-only frames, so chunks decoded to text by the SDK
never split a character. Writes are ordered by the connection's send lock (one request at a time).
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from typing import Any

import anyio
import anyio.abc

__all__ = ["STDIN_CHUNK_BYTES", "CommandStream"]

STDIN_CHUNK_BYTES = 1 << 20
"""The most one stdin write carries: envd refuses messages over 4 MiB, and bytes travel base64-encoded."""


class CommandStream(anyio.abc.ByteStream):
    """A byte stream over one E2B command started with ``stdin=True``: :meth:`feed` is its ``on_stdout``."""

    def __init__(self, *, request_timeout: float | None = None) -> None:
        self._incoming, self._outgoing = anyio.create_memory_object_stream[bytes](math.inf)
        self._pending = b""
        self._commands: Any = None
        self._pid: int | None = None
        self._request_timeout = request_timeout
        self.stderr_tail: deque[str] = deque(maxlen=64)

    def attach(self, commands: Any, pid: int) -> None:
        """Bind to the sandbox's ``commands`` and the guest's pid (once the command has started)."""
        self._commands = commands
        self._pid = pid

    def feed(self, text: str) -> None:
        """``on_stdout``: never raises (E2B would stop delivering output)."""
        with contextlib.suppress(Exception):
            self._incoming.send_nowait(text.encode("utf-8", "surrogatepass"))

    def feed_stderr(self, text: str) -> None:
        """``on_stderr``: kept for error messages (the guest's own stderr is captured; this is start-up trouble)."""
        with contextlib.suppress(Exception):
            self.stderr_tail.append(text)

    def end(self) -> None:
        """The command has ended: readers get ``EndOfStream`` once what arrived is read."""
        self._incoming.close()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._pending:
            try:
                self._pending = await self._outgoing.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise anyio.EndOfStream from None
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        """Write ``item`` to the guest's stdin, in pieces E2B accepts (a request carries at most a few MB)."""
        if self._commands is None or self._pid is None:
            raise anyio.ClosedResourceError
        for start in range(0, len(item), STDIN_CHUNK_BYTES):
            piece = item[start : start + STDIN_CHUNK_BYTES]
            try:
                await self._commands.send_stdin(self._pid, piece, request_timeout=self._request_timeout)
            except Exception as exc:  # the SDK's own errors: the guest is gone or unreachable
                raise anyio.BrokenResourceError(f"could not write to the sandbox's guest: {exc}") from exc

    async def send_eof(self) -> None:
        if self._commands is not None and self._pid is not None:
            with contextlib.suppress(Exception):
                await self._commands.close_stdin(self._pid, request_timeout=self._request_timeout)

    def close(self) -> None:
        """Close both ends of the buffer (a guest that never started, or one being torn down)."""
        self._incoming.close()
        self._outgoing.close()

    async def aclose(self) -> None:
        self.close()
