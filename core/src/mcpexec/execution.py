"""What one ``execute_code`` cell produced: :class:`ExecutionResult`, and its compact text for the model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mcpexec.hub import ToolStats

__all__ = ["ExecutionError", "ExecutionResult", "ExecutorStats", "ToolCallRecord"]

CallStatus = Literal["ok", "error", "denied"]


@dataclass(frozen=True, slots=True)
class ExecutionError:
    """Why a cell failed: the exception type and message, and a traceback of the agent's code only.

    ``type`` is the Python exception name for errors raised by user code (``KeyError``, ``ToolCallError``, ...),
    or ``ExecutionTimeout`` / ``SandboxCrashed`` when the sandbox stopped the cell.
    """

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutionError:
        return cls(str(data.get("type", "Error")), str(data.get("message", "")), str(data.get("traceback", "")))


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call the cell made through the bridge; ``decision`` is the policy's (``allowed``, ``approved`` or
    ``denied``)."""

    server: str
    tool: str
    status: CallStatus
    duration_s: float
    error: str | None = None
    decision: str = "allowed"


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """The outcome of one cell.

    ``value`` is the ``repr`` of the cell's last expression (like a REPL), ``None`` when there is none.
    ``stdout``/``stderr`` are capped; when a stream was cut, its ``*_truncated`` flag is set, the text carries a
    marker saying how much was left out, and ``saved_output`` lists the workspace files holding it in full.
    ``state_lost`` says the sandbox session was restarted, so variables and imports of earlier cells are gone
    (workspace files are kept).
    """

    stdout: str = ""
    stderr: str = ""
    value: str | None = None
    error: ExecutionError | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    duration_s: float = 0.0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    saved_output: tuple[str, ...] = ()
    state_lost: bool = False
    cell: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        """The compact rendering an agent reads: output, value, error, and a one-line summary of tool calls."""
        parts: list[str] = []
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.stderr:
            parts.append("[stderr]\n" + self.stderr.rstrip("\n"))
        if self.value is not None:
            parts.append(f"Out: {self.value}")
        if self.error is not None:
            error = f"Error: {self.error.type}: {self.error.message}".rstrip(": ")
            if self.error.traceback and self.error.type not in ("ExecutionTimeout", "SandboxCrashed"):
                error = self.error.traceback.rstrip("\n")
            parts.append(error)
        parts.extend(f"[{note}]" for note in self.notes)
        if self.tool_calls:
            counts = Counter(f"{c.server}.{c.tool}" for c in self.tool_calls)
            names = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.most_common(5))
            if len(counts) > 5:
                names += f", +{len(counts) - 5} more"
            failed = sum(c.status != "ok" for c in self.tool_calls)
            summary = f"[{len(self.tool_calls)} tool call{'s' if len(self.tool_calls) != 1 else ''}: {names}"
            parts.append(summary + (f"; {failed} failed or denied]" if failed else "]"))
        return "\n".join(parts) if parts else "(no output)"


@dataclass(frozen=True, slots=True)
class ExecutorStats:
    """What a :class:`~mcpexec.executor.CodeExecutor` has done: counters per ``"server.tool"`` (calls, errors,
    timeouts, bytes each way, seconds), cells run, calls the policy denied, and the tokens of everything that
    reached the model (cell results and searches), counted by ``tokenizer``."""

    cells: int
    tools: dict[str, ToolStats]
    denied_calls: int
    tokens_to_model: int
    tokenizer: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
