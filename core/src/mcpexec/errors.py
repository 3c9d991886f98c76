"""The one exception tree of mcpexec.

::

    MCPExecError                  base of everything mcpexec raises on purpose
    ├── ConfigError               bad server configuration (names the server and field)
    ├── ServerError               a server failed to start, died, or broke the protocol
    ├── ToolCallError             a tool call failed (isError, malformed result, ...)
    │   ├── ToolTimeout           a tool call ran past its timeout
    │   └── ToolArgumentError     arguments do not match the tool's input schema (also a ValueError)
    ├── SandboxError              the sandbox failed
    │   ├── ExecutionTimeout      a cell ran past its timeout
    │   └── SandboxCrashed        the sandbox process died
    ├── PolicyDenied              a policy refused a call
    ├── UsageError                an mcpexec API was called with a bad argument (also a ValueError)
    ├── SnapshotError             a catalog snapshot is missing or malformed
    └── UnknownToolError          no such server or tool in the catalog (also a LookupError)

Exceptions from third-party libraries are mapped to these at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "ExecutionTimeout",
    "MCPExecError",
    "PolicyDenied",
    "SandboxCrashed",
    "SnapshotError",
    "SandboxError",
    "ServerError",
    "ToolCallError",
    "ToolArgumentError",
    "ToolTimeout",
    "UnknownToolError",
    "UsageError",
]


def _rebuild(cls: type[MCPExecError], args: tuple[object, ...], state: dict[str, object]) -> MCPExecError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class MCPExecError(Exception):
    """Base class of every error mcpexec raises on purpose."""

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take keyword-only arguments; rebuild from args + attributes so errors pickle and copy
        # (they cross process boundaries in worker pools and sandboxes).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigError(MCPExecError, ValueError):
    """A server configuration is invalid.

    ``server`` and ``field`` name where the problem is (either may be ``None`` for file-level problems).
    """

    def __init__(self, message: str, *, server: str | None = None, field: str | None = None) -> None:
        where = ""
        if server is not None:
            where = f"server {server!r}"
            if field is not None:
                where += f", field {field!r}"
        elif field is not None:
            where = f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)
        self.server = server
        self.field = field


class ServerError(MCPExecError):
    """An MCP server could not be started, died, or broke the protocol.

    ``stderr_tail`` holds the last lines the server wrote to stderr, when known.
    """

    def __init__(self, message: str, *, server: str, stderr_tail: str = "") -> None:
        text = f"server {server!r}: {message}"
        if stderr_tail.strip():
            text += "\n--- server stderr (tail) ---\n" + stderr_tail.rstrip()
        super().__init__(text)
        self.server = server
        self.stderr_tail = stderr_tail


class ToolCallError(MCPExecError):
    """A tool call failed; ``message`` is the server's own text when it gave one."""

    def __init__(self, message: str, *, server: str, tool: str) -> None:
        super().__init__(f"{server}.{tool}: {message}")
        self.message = message
        self.server = server
        self.tool = tool


class ToolTimeout(ToolCallError):
    """A tool call ran past its timeout; the server session stays usable."""

    def __init__(self, *, server: str, tool: str, timeout: float) -> None:
        super().__init__(
            f"no result within {timeout:g} s (raise the timeout if the tool is slow)", server=server, tool=tool
        )
        self.timeout = timeout


class ToolArgumentError(ToolCallError, ValueError):
    """The arguments of a tool call do not match the tool's input schema; the message names each bad field."""


class SandboxError(MCPExecError):
    """The sandbox failed to start or run code."""


class ExecutionTimeout(SandboxError):
    """A cell ran past its wall-clock timeout and was killed."""


class SandboxCrashed(SandboxError):
    """The sandbox process died; its state is lost."""


class PolicyDenied(MCPExecError):
    """A policy refused a tool call; ``reason`` says which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnapshotError(MCPExecError):
    """A catalog snapshot is missing, not JSON, or not a supported ``mcpexec.catalog`` document."""


class UnknownToolError(MCPExecError, LookupError):
    """No such server or tool in the catalog; the message lists close matches."""

    def __init__(self, message: str, *, server: str, name: str | None = None, suggestions: Sequence[str] = ()) -> None:
        if suggestions:
            message += "; did you mean " + ", ".join(repr(s) for s in suggestions) + "?"
        super().__init__(message)
        self.server = server
        self.name = name
        self.suggestions = tuple(suggestions)


class UsageError(MCPExecError, ValueError):
    """An mcpexec function was called with a bad argument; the message says which and what is accepted."""
