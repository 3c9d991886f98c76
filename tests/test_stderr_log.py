"""A server's stderr log stays bounded and keeps its newest lines."""

from __future__ import annotations

import os
import subprocess
import sys

from mcpexec._stderr import StderrLog


def _child_writes(log: StderrLog, code: str) -> None:
    subprocess.run([sys.executable, "-c", code], stderr=log.file, check=True, timeout=30)


def test_tail_returns_the_last_lines_decoded() -> None:
    log = StderrLog()
    try:
        _child_writes(log, "import sys\nfor i in range(100): print(f'line {i}', file=sys.stderr)")
        _child_writes(log, "import sys; sys.stderr.buffer.write(b'bad \\xff byte\\n')")
        tail = log.tail(max_lines=3)
        assert tail.splitlines() == ["line 98", "line 99", "bad \ufffd byte"]
    finally:
        log.close()
    assert log.tail() == ""


def test_trim_keeps_the_newest_bytes_and_later_writes_append() -> None:
    log = StderrLog(limit=100_000, keep=1_000)
    try:
        _child_writes(log, "import sys\nfor i in range(50_000): print(f'noise {i}', file=sys.stderr)")
        assert os.fstat(log.file.fileno()).st_size > 100_000
        log.trim()
        size = os.fstat(log.file.fileno()).st_size
        assert size <= 1_000 + 100
        assert log.tail(max_lines=1) == "noise 49999"
        _child_writes(log, "import sys; print('after the trim', file=sys.stderr)")
        assert log.tail(max_lines=2).splitlines() == ["noise 49999", "after the trim"]
        assert os.fstat(log.file.fileno()).st_size == size + len("after the trim\n")
    finally:
        log.close()


def test_small_logs_are_not_trimmed() -> None:
    log = StderrLog(limit=10_000, keep=100)
    try:
        _child_writes(log, "import sys; print('short', file=sys.stderr)")
        log.trim()
        assert log.tail() == "short"
    finally:
        log.close()
