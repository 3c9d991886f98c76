"""A running cell's timeout that can stop while the host waits for someone else (a human approving a call)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator

import anyio

__all__ = ["CellClock"]


class CellClock:
    """The timeout of one cell (its cancel scope's deadline), paused while any :meth:`paused` block is open."""

    def __init__(self, scope: anyio.CancelScope) -> None:
        self._scope = scope
        self._pauses = 0
        self._left = 0.0

    @contextlib.contextmanager
    def paused(self) -> Generator[None]:
        """Stop the clock while inside; nested and concurrent pauses end when the last one does."""
        if self._pauses == 0:
            self._left = self._scope.deadline - anyio.current_time()
            self._scope.deadline = math.inf
        self._pauses += 1
        try:
            yield
        finally:
            self._pauses -= 1
            if self._pauses == 0:
                self._scope.deadline = anyio.current_time() + max(self._left, 0.0)
