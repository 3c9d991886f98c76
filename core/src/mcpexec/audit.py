"""The audit log: every cell and every tool call, as JSON lines, to a file, a logger or a callback.

Events (each has ``ts``, seconds since the epoch, and ``event``)::

    {"event": "cell", "cell": 3, "code": "...", "duration_s": 0.41, "outcome": "ok" | "<ErrorType>",
     "tool_calls": 2, "state_lost": false}
    {"event": "tool_call", "server": "crm", "tool": "create_contact", "arguments": {...}, "decision": "allowed" |
     "approved" | "denied", "reason": "...", "status": "ok" | "error" | "denied", "error": "...",
     "result_bytes": 812, "duration_s": 0.012}

Arguments are logged as the sandbox sent them: with PII tokenization on they hold tokens, never the real values.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from mcpexec.errors import UsageError

__all__ = ["AuditLog", "AuditSink"]

AuditSink = str | os.PathLike[str] | logging.Logger | Callable[[dict[str, Any]], None]
"""Where events go: a file path (JSON lines, appended), a :class:`logging.Logger` (one INFO record per event,
the JSON line as its message) or a callable given each event as a dict."""


class AuditLog:
    """Writes audit events to one sink; safe to use from several tasks and threads."""

    def __init__(self, sink: AuditSink) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._logger: logging.Logger | None = None
        self._callback: Callable[[dict[str, Any]], None] | None = None
        if isinstance(sink, str | os.PathLike):
            self._path = Path(cast("str | os.PathLike[str]", sink))
            if self._path.is_dir():
                raise UsageError(f"audit log {self._path} is a directory; give a file path")
        elif isinstance(sink, logging.Logger):
            self._logger = sink
        elif callable(sink):
            self._callback = sink
        else:
            raise UsageError(f"audit sink must be a file path, a logging.Logger or a callable, not {sink!r}")

    def record(self, event: str, **fields: Any) -> None:
        """Write one event (``fields`` must be JSON data; anything else is written as its ``repr``)."""
        entry: dict[str, Any] = {"ts": round(time.time(), 6), "event": event, **fields}
        if self._callback is not None:
            self._callback(entry)
            return
        line = json.dumps(entry, ensure_ascii=False, default=repr, separators=(",", ":"))
        if self._logger is not None:
            self._logger.info(line)
            return
        assert self._path is not None
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)

    @staticmethod
    def read(path: str | os.PathLike[str]) -> list[Mapping[str, Any]]:
        """The events of a JSON-lines audit file (for tests and tooling)."""
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
