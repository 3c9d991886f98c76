"""Capturing a cell's stdout and stderr in the guest: Python-level writes, writes to fd 1/2 and subprocess output.

fd 1 and fd 2 are pointed at pipes that reader threads drain into the current cell's :class:`Capture`, so
everything that reaches those descriptors is captured in order, whoever wrote it. Each capture keeps a head and
a tail up to its cap; when more arrives, the whole stream is also saved to a workspace file and the text the
model sees says how much was left out and where the rest is.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
import threading
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["Capture", "CapturedText", "OutputRedirect"]

_SPILL_LIMIT_BYTES = 64 * 1024 * 1024
_FLUSH_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class CapturedText:
    """What one stream produced during one cell, as shown to the model."""

    text: str
    truncated: bool
    total_chars: int
    saved_to: str | None


class Capture:
    """One stream of one cell: keeps head + tail within ``cap`` characters, spills everything to ``spill_path``."""

    def __init__(self, cap: int, spill_path: str) -> None:
        self._cap = max(cap, 0)
        self._spill_path = spill_path
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head: list[str] = []
        self._head_chars = 0
        self._tail = ""
        self._total = 0
        self._raw: list[bytes] | None = []  # every byte until the cap is exceeded, then the spill file takes over
        self._spill: BinaryIO | None = None
        self._spill_bytes = 0
        self._spill_error: str | None = None
        self._lock = threading.Lock()

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            self._add(self._decoder.decode(data), data)

    def _add(self, text: str, raw: bytes) -> None:
        self._total += len(text)
        head_room = self._cap * 3 // 4 - self._head_chars
        if head_room > 0:
            self._head.append(text[:head_room])
            self._head_chars += min(len(text), head_room)
            text = text[head_room:]
        if text:
            keep = self._cap - self._cap * 3 // 4
            self._tail = (self._tail + text)[-keep:] if keep else ""
        self._save(raw)

    def _save(self, raw: bytes) -> None:
        if self._raw is not None:
            self._raw.append(raw)
            if self._total <= self._cap:
                return
            pending, self._raw = b"".join(self._raw), None
            try:
                os.makedirs(os.path.dirname(self._spill_path) or ".", exist_ok=True)
                self._spill = open(self._spill_path, "wb")  # noqa: SIM115  # closed in finish()
            except OSError as exc:
                self._spill_error = f"could not be saved ({exc.strerror or exc})"
                return
            raw = pending
        spill = self._spill
        if spill is None or self._spill_error:
            return
        room = _SPILL_LIMIT_BYTES - self._spill_bytes
        try:
            spill.write(raw[:room])
        except OSError as exc:
            self._spill_error = f"was only partly saved ({exc.strerror or exc})"
        self._spill_bytes += min(len(raw), max(room, 0))
        if len(raw) > room and not self._spill_error:
            self._spill_error = f"was saved only up to {_SPILL_LIMIT_BYTES // (1024 * 1024)} MB"

    def finish(self) -> CapturedText:
        """The captured text, with a marker where characters were left out."""
        with self._lock:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                self._add(rest, b"")
            if self._spill is not None:
                with contextlib.suppress(OSError):
                    self._spill.close()
            head = "".join(self._head)
            shown = len(head) + len(self._tail)
            if self._total <= shown:
                return CapturedText(head + self._tail, False, self._total, None)
            where = self._spill_path
            if self._spill_error:
                saved, note = (None, f"the full output {self._spill_error}")
                if "only" in self._spill_error:
                    saved, note = where, f"the full output {self._spill_error} in {where}"
            else:
                saved, note = where, f"full output saved to {where}"
            marker = f"\n[... {self._total - shown:,} characters omitted; {note} ...]\n"
            return CapturedText(head + marker + self._tail, True, self._total, saved)


class _Reader(threading.Thread):
    """Drains one pipe into whichever capture is current; recognises the flush sentinel."""

    def __init__(self, fd: int, owner: OutputRedirect, stream: str) -> None:
        super().__init__(name=f"mcpexec-{stream}", daemon=True)
        self._fd = fd
        self._owner = owner
        self._stream = stream
        self.sentinel = b""
        self.flushed = threading.Event()

    def run(self) -> None:
        carry = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            data = carry + chunk
            sentinel = self.sentinel
            if sentinel and (at := data.find(sentinel)) >= 0:
                self._owner.deliver(self._stream, data[:at])
                carry = b""
                self.sentinel = b""
                self.flushed.set()
                rest = data[at + len(sentinel) :]
                if rest:
                    self._owner.deliver(self._stream, rest)
                continue
            keep = len(sentinel) - 1 if sentinel else 0
            if keep > 0:
                data, carry = data[:-keep], data[-keep:]
            else:
                carry = b""
            if data:
                self._owner.deliver(self._stream, data)


class OutputRedirect:
    """Points fd 1 and 2 at pipes drained into per-cell captures. Create once per guest process."""

    def __init__(self, cap_stdout: int, cap_stderr: int, spill_dir: str) -> None:
        self._caps = {"stdout": cap_stdout, "stderr": cap_stderr}
        self._spill_dir = spill_dir
        self._cell = 1
        self._captures = {name: self._new_capture(name) for name in self._caps}
        self._readers: dict[str, _Reader] = {}
        for fd, name in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            reader = _Reader(read_end, self, name)
            reader.start()
            self._readers[name] = reader
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True, errors="backslashreplace")  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]

    def _new_capture(self, name: str) -> Capture:
        return Capture(self._caps[name], f"{self._spill_dir}/cell-{self._cell}.{name}.txt")

    def deliver(self, stream: str, data: bytes) -> None:
        self._captures[stream].write_bytes(data)

    def finish_cell(self) -> dict[str, CapturedText]:
        """Flush everything written so far into this cell's captures and start the next cell's."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, name in ((1, "stdout"), (2, "stderr")):
            reader = self._readers[name]
            reader.flushed.clear()
            reader.sentinel = b"\x00mcpexec-flush-" + os.urandom(8).hex().encode() + b"\x00"
            try:
                os.write(fd, reader.sentinel)
            except OSError:
                continue
            reader.flushed.wait(_FLUSH_TIMEOUT_S)
        done = self._captures
        self._cell += 1
        self._captures = {name: self._new_capture(name) for name in self._caps}
        return {name: capture.finish() for name, capture in done.items()}
