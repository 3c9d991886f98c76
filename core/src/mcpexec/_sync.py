"""The one sync bridge: every synchronous entry point of mcpexec runs its async work through :class:`SyncBridge`.

A bridge owns an event loop in a background thread (anyio's blocking portal), so sync callers can hold async
objects (an open :class:`~mcpexec.hub.MCPHub`) across many calls. It refuses to be used from inside a running
event loop, where blocking would deadlock: use the async API there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, ExitStack
from types import TracebackType
from typing import Self, TypeVar, TypeVarTuple, Unpack

from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["SyncBridge", "run_sync"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _refuse_inside_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        "the synchronous mcpexec API was called from inside a running event loop; "
        "use the async API there (e.g. 'async with MCPHub(...)')"
    )


class SyncBridge:
    """An event loop in a background thread, for the sync façades. Use as a context manager."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None

    def __enter__(self) -> Self:
        _refuse_inside_event_loop()
        self._portal = self._stack.enter_context(start_blocking_portal())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._portal = None
        self._stack.__exit__(exc_type, exc, tb)

    @property
    def portal(self) -> BlockingPortal:
        if self._portal is None:
            raise RuntimeError("the sync bridge is not open; use it inside a 'with' block")
        return self._portal

    def call(self, func: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``await func(*args)`` on the bridge's loop and return its result."""
        return self.portal.call(func, *args)

    def enter(self, manager: AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager on the bridge's loop; it is left when the bridge closes."""
        return self._stack.enter_context(self.portal.wrap_async_context_manager(manager))


def run_sync(func: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
    """Run one coroutine function to completion from synchronous code."""
    with SyncBridge() as bridge:
        return bridge.call(func, *args)
