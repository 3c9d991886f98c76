"""A stdio server's stderr, kept as a bounded tail for error reports.

The server writes straight into an unlinked temporary file opened for appending (the SDK needs a real file
descriptor for the child's stderr). :meth:`StderrLog.trim` keeps the file from growing without bound: when it
passes ``limit`` bytes, only the last ``keep`` bytes stay. Because the file is in append mode, the server's
later writes land after the kept tail.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Any

__all__ = ["StderrLog"]

_DROPPED = b"[... earlier stderr output dropped ...]\n"


class StderrLog:
    """An append-only, self-trimming log file for one server process."""

    def __init__(self, *, limit: int = 1 << 20, keep: int = 64 << 10) -> None:
        created, path = tempfile.mkstemp(prefix="mcpexec-stderr-")
        try:
            # reopened for appending: O_APPEND lives on the open file description the child shares
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        finally:
            os.close(created)
            os.unlink(path)
        self._file: IO[Any] = open(fd, "ab+", buffering=0)  # noqa: SIM115 - closed in close()
        self._limit = limit
        self._keep = keep

    @property
    def file(self) -> IO[Any]:
        """The file to hand to the server process as its stderr."""
        return self._file

    @property
    def closed(self) -> bool:
        return self._file.closed

    def _size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def trim(self) -> None:
        """Cut the file down to its last ``keep`` bytes once it is larger than ``limit``."""
        if self._file.closed:
            return
        fd = self._file.fileno()
        size = self._size()
        if size <= self._limit:
            return
        tail = os.pread(fd, self._keep, size - self._keep)
        os.ftruncate(fd, 0)
        os.write(fd, _DROPPED + tail)

    def tail(self, max_lines: int = 40, max_bytes: int = 8192) -> str:
        """The last lines written (decoded as UTF-8, undecodable bytes replaced)."""
        if self._file.closed:
            return ""
        size = self._size()
        start = max(0, size - max_bytes)
        data = os.pread(self._file.fileno(), size - start, start)
        lines = data.decode("utf-8", errors="replace").splitlines()
        if start > 0 and lines:
            lines = lines[1:]  # the first line is probably cut
        return "\n".join(lines[-max_lines:])

    def close(self) -> None:
        self._file.close()
