"""The guest runtime: what generated wrappers and agent code import inside a sandbox. **Standard library only.**

The sandbox receives this package as ``mcpexec.runtime`` (nothing else of mcpexec), so the generated
``servers/`` package can write ``from mcpexec.runtime import call_mcp_tool`` in any sandbox and on the host alike.

Tool calls go through one pluggable *tool caller*: inside a sandbox the executor installs the bridge to the host;
on the host, :func:`set_tool_caller` lets a script or a test route wrapper calls to an ``MCPHub``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

TYPE_CHECKING = False  # ``typing`` costs ~5 ms at every sandbox start; type checkers read the real names
if TYPE_CHECKING:
    from typing import Any, TypeAlias
else:
    Any = TypeAlias = object

__all__ = [
    "ToolCaller",
    "ToolResult",
    "ToolSearcher",
    "NoToolCaller",
    "call_mcp_tool",
    "merge_arguments",
    "remove_skill",
    "save_skill",
    "search_tools",
    "set_searcher",
    "set_skill_host",
    "set_tool_caller",
]

ToolResult: TypeAlias = Any
"""What a tool without an ``outputSchema`` returns: its result as Python data.

Structured content comes back as ``dict``/``list`` data, text that is a JSON object or array is parsed, other text
is a ``str``; images, audio and resources are small objects with ``data``/``mime_type`` or ``uri``/``text``
attributes; several content blocks come back as a list of those; no content is ``None``.
"""

ToolCaller: TypeAlias = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
"""``async (server, tool, arguments) -> value``: performs one MCP tool call."""

ToolSearcher: TypeAlias = Callable[..., Any]
"""``(query, detail_level, limit, **options) -> results``: the host's tool search (see ``mcpexec.search``)."""

_caller: ToolCaller | None = None
_searcher: ToolSearcher | None = None
_skill_host: Callable[..., Any] | None = None


class NoToolCaller(RuntimeError):
    """A wrapper was called where no tool caller is installed (outside a sandbox session)."""


def set_tool_caller(caller: ToolCaller | None) -> ToolCaller | None:
    """Install the function that performs tool calls; returns the previous one (``None`` uninstalls)."""
    global _caller
    previous, _caller = _caller, caller
    return previous


async def call_mcp_tool(server: str, tool: str, arguments: Mapping[str, Any] | None = None) -> Any:
    """Call ``tool`` on ``server`` with ``arguments`` and return its result as Python data."""
    caller = _caller
    if caller is None:
        raise NoToolCaller(
            f"cannot call {server}.{tool}: no tool caller is installed. Generated wrappers run inside "
            "mcpexec's execute_code; on the host, install one with mcpexec.runtime.set_tool_caller()."
        )
    return await caller(server, tool, dict(arguments or {}))


def merge_arguments(
    arguments: object,
    keywords: Mapping[str, Any],
    renamed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The tool arguments of a wrapper call: the positional dict (seed style) and/or the keyword arguments.

    ``renamed`` maps Python keyword names back to the tool's own parameter names (for names such as ``per-page``
    or ``from`` that cannot be keywords). A key given both ways is an error, not a silent override.
    """
    if arguments is not None and not isinstance(arguments, Mapping):
        raise TypeError(
            f"tool arguments must be a dict of parameter names to values, not {type(arguments).__name__}; "
            "call the tool as tool(name=value, ...) or tool({'name': value, ...})"
        )
    merged: dict[str, Any] = dict(arguments or {})  # pyright: ignore[reportUnknownArgumentType]
    for name, value in keywords.items():
        key = renamed.get(name, name) if renamed else name
        if key in merged:
            raise TypeError(f"argument {key!r} given twice (in the dict and as a keyword)")
        merged[key] = value
    return merged


def set_searcher(searcher: ToolSearcher | None) -> ToolSearcher | None:
    """Install the function that answers :func:`search_tools`; returns the previous one."""
    global _searcher
    previous, _searcher = _searcher, searcher
    return previous


def search_tools(query: str = "", detail_level: str = "name_only", limit: int = 10, **options: Any) -> Any:
    """Find tools: ``detail_level`` is ``"name_only"``, ``"with_description"`` or ``"full"``.

    An empty query lists tools (``offset=`` pages through them; ``server=`` restricts to one server). Results are
    ``"server.tool"`` names, or dicts with the import line to use (``from servers.<server> import <tool>``).
    """
    searcher = _searcher
    if searcher is None:
        raise NoToolCaller(
            "search_tools is not connected to a tool catalog: it runs inside mcpexec's execute_code; on the host, "
            "use mcpexec.search.ToolIndex (or install one with mcpexec.runtime.set_searcher())."
        )
    return searcher(query, detail_level, limit, **options)


def set_skill_host(host: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """Install the function that saves and removes skills (``(action, **fields) -> result``); returns the
    previous one."""
    global _skill_host
    previous, _skill_host = _skill_host, host
    return previous


def _require_skill_host() -> Callable[..., Any]:
    if _skill_host is None:
        raise NoToolCaller("skills are saved from inside mcpexec's execute_code (on the host: executor.skills)")
    return _skill_host


def save_skill(name: str, source: str, *, description: str, example: str | None = None) -> str:
    """Save a reusable function for later cells and sessions; returns the line that imports it.

    ``source`` must define a function called ``name``; it is compiled, imported and, with ``example`` (a call such
    as ``"await check_pending_orders('orders-2026')"``), run here before it is saved. Afterwards:
    ``from skills.<name> import <name>``. Saving again under the same name replaces the skill.
    """
    return str(_require_skill_host()("save", name=name, source=source, description=description, example=example))


def remove_skill(name: str) -> None:
    """Delete a saved skill."""
    _require_skill_host()("remove", name=name)
