"""``SyncMCPHub``: the blocking façade of :class:`~mcpexec.hub.MCPHub`, for scripts and notebooks."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from ._sync import SyncBridge
from .catalog import Catalog
from .config import ServerConfig
from .hub import MCPHub, ServerStatus, ToolStats

__all__ = ["SyncMCPHub"]


class SyncMCPHub:
    """The blocking façade of :class:`MCPHub` for scripts: ``with SyncMCPHub(servers) as hub: hub.call_tool(...)``.

    It runs the async hub on mcpexec's one sync bridge (an event loop in a background thread).
    """

    def __init__(self, servers: Mapping[str, ServerConfig], **options: Any) -> None:
        """``options`` are those of :class:`MCPHub`."""
        self._hub = MCPHub(servers, **options)
        self._bridge = SyncBridge()

    def __enter__(self) -> Self:
        self._bridge.__enter__()
        try:
            self._bridge.enter(self._hub)
        except BaseException:
            self._bridge.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bridge.__exit__(exc_type, exc, tb)

    @property
    def hub(self) -> MCPHub:
        """The async hub underneath."""
        return self._hub

    @property
    def catalog(self) -> Catalog:
        """See :attr:`MCPHub.catalog`."""
        return self._hub.catalog

    def status(self) -> dict[str, ServerStatus]:
        """See :meth:`MCPHub.status`."""
        return self._hub.status()

    def stats(self) -> dict[str, dict[str, ToolStats]]:
        """See :meth:`MCPHub.stats`."""
        return self._hub.stats()

    def refresh(self, server: str | None = None) -> Catalog:
        """See :meth:`MCPHub.refresh`."""
        return self._bridge.call(functools.partial(self._hub.refresh, server))

    def call_tool(
        self, server: str, tool: str, arguments: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """See :meth:`MCPHub.call_tool`."""
        return self._bridge.call(functools.partial(self._hub.call_tool, server, tool, arguments, timeout=timeout))

    def call_tool_raw(
        self, server: str, tool: str, arguments: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """See :meth:`MCPHub.call_tool_raw`."""
        return self._bridge.call(functools.partial(self._hub.call_tool_raw, server, tool, arguments, timeout=timeout))
