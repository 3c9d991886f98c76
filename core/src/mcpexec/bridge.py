"""The host side of tool calls made inside the sandbox — where trust is enforced.

For each ``tool_call`` frame: look the tool up in the catalog, restore PII tokens in the arguments (checking the
data-flow rules), validate the arguments against the input schema (an error names the field and what was
expected), ask the :class:`~mcpexec.policy.Policy`, forward to :class:`~mcpexec.hub.MCPHub`, tokenize PII in the
result and send back the wire-format result — the guest turns it into Python values. Every call is recorded for
the cell's :class:`~mcpexec.execution.ExecutionResult` and the audit log. Searches are answered from the
:class:`~mcpexec.search.ToolIndex`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

import jsonschema.exceptions

from mcpexec._schemas import UNCHECKABLE, PerSchema, compiled
from mcpexec.audit import AuditLog
from mcpexec.catalog import Catalog, ToolSpec
from mcpexec.errors import MCPExecError, PolicyDenied, ToolArgumentError, ToolCallError
from mcpexec.execution import CallStatus, ToolCallRecord
from mcpexec.hub import json_size
from mcpexec.policy import Approver, Policy, PolicyDecision
from mcpexec.results import error_message, wrapped_result_schema
from mcpexec.runtime._frames import error_payload

__all__ = ["Bridge", "Tokenizer", "ToolBackend", "validate_arguments"]


class ToolBackend(Protocol):
    """What the bridge forwards to (an :class:`~mcpexec.hub.MCPHub`)."""

    @property
    def catalog(self) -> Catalog: ...

    async def call_tool_raw(
        self, server: str, tool: str, arguments: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]: ...


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(error: jsonschema.exceptions.ValidationError) -> str:
    where = _where(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        prefix = f"{where}." if where else ""
        return f"missing required argument {prefix}{missing!r}"
    if error.validator == "additionalProperties":
        return f"{'in ' + where + ': ' if where else ''}{error.message}"
    value = repr(error.instance)
    if len(value) > 80:
        value = value[:77] + "..."
    expected = error.message.split(" is ", 1)[-1] if " is " in error.message else error.message
    return f"argument {where or '(all)'!r} is {value}: {expected}"


def validate_arguments(tool: ToolSpec, arguments: Mapping[str, Any]) -> None:
    """Raise :class:`ToolArgumentError` naming each bad argument and what the schema expects."""
    validator = compiled(tool.input_schema)
    if validator is None:
        return
    try:
        if validator.is_valid(arguments):
            return
        problems = sorted(validator.iter_errors(dict(arguments)), key=lambda e: (list(e.absolute_path), e.message))
    except UNCHECKABLE:
        return
    if problems:
        shown = [_explain(p) for p in problems[:5]]
        if len(problems) > 5:
            shown.append(f"and {len(problems) - 5} more")
        raise ToolArgumentError("; ".join(shown), server=tool.server, tool=tool.name)


_is_result_wrapper: PerSchema[bool] = PerSchema(
    lambda schema: wrapped_result_schema("", schema) is not None  # the check reads the schema alone
)


def _wraps_result(tool: ToolSpec) -> bool:
    """Whether the tool's structured result is the SDK's ``{"result": ...}`` wrapper (cached per schema)."""
    return tool.output_schema is not None and _is_result_wrapper(tool.output_schema)


class Tokenizer(Protocol):
    """PII tokenization as the bridge uses it (see :class:`mcpexec.pii.PIITokenizer`)."""

    def tokenize(self, value: Any, *, source: str) -> Any: ...

    def detokenize(self, value: Any, *, destination: str) -> Any: ...


class Bridge:
    """Answers the guest's tool calls and searches; implements ``GuestRequests``.

    Each call: look up → restore PII tokens (data-flow rules) → validate → policy (rules, budgets, approval) →
    call the server → tokenize PII in the result → record (and audit) the call.
    """

    def __init__(
        self,
        backend: ToolBackend,
        *,
        search: Callable[..., list[Any]] | None = None,
        skills: Callable[[str, dict[str, Any]], Awaitable[Any]] | None = None,
        validate: bool = True,
        call_timeout: float | None = None,
        policy: Policy | None = None,
        pii: Tokenizer | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        """``search`` answers ``search_tools`` (like ``ToolIndex.search``); ``skills`` saves and removes skills;
        ``validate`` checks arguments against input schemas;
        ``call_timeout`` overrides each server's configured tool-call timeout; ``policy`` decides which calls
        may happen; ``pii`` tokenizes personal data in results and restores it in arguments; ``audit`` logs."""
        self._backend = backend
        self._search = search
        self._skills = skills
        self._validate = validate
        self._call_timeout = call_timeout
        self.policy = policy or Policy()
        self._pii = pii
        self._audit = audit
        self.approver: Approver | None = None
        """Who approves calls in the current execution, instead of the policy's own ``approve`` (see
        :meth:`mcpexec.CodeExecutor.execute`)."""
        self.pause_clock: Callable[[], AbstractContextManager[None]] | None = None
        """Stops the cell's timeout while a call waits for approval (set by the executor for its sandbox)."""
        self.waiting_for_approval = 0
        self._records: list[ToolCallRecord] = []
        self._execution_calls = 0
        self.session_calls = 0
        self.denied_calls = 0

    @contextlib.contextmanager
    def _waiting_for_approval(self) -> Generator[None]:
        self.waiting_for_approval += 1
        try:
            if self.pause_clock is None:
                yield
            else:
                with self.pause_clock():
                    yield
        finally:
            self.waiting_for_approval -= 1

    def take_records(self) -> tuple[ToolCallRecord, ...]:
        """The calls recorded since the last take (one cell's worth); starts the next execution's budget."""
        records, self._records = tuple(self._records), []
        self._execution_calls = 0
        return records

    def _scrub(self, text: str, server: str) -> str:
        """Error text on its way to the sandbox: personal data in it is tokenized too."""
        return str(self._pii.tokenize(text, source=server)) if self._pii is not None else text

    def _check_arguments(self, spec: ToolSpec, arguments: Mapping[str, Any], prefix: str = "") -> None:
        """Validate ``arguments`` against the tool's input schema (when validating); the error is scrubbed."""
        if self._validate:
            try:
                validate_arguments(spec, arguments)
            except ToolArgumentError as exc:
                message = self._scrub(prefix + exc.message, spec.server)
                raise ToolArgumentError(message, server=spec.server, tool=spec.name) from None

    def _edited(self, decision: PolicyDecision, server: str) -> dict[str, Any]:
        """The audit fields of arguments a reviewer edited (tokenized like everything from the host's side)."""
        if decision.arguments is None:
            return {}
        edited = dict(decision.arguments)
        return {"edited_arguments": self._pii.tokenize(edited, source=server) if self._pii is not None else edited}

    async def tool_call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        decision = PolicyDecision("allowed")
        status: CallStatus = "ok"
        error: str | None = None
        result: dict[str, Any] = {}
        try:
            spec = self._backend.catalog.get(server, tool)
            real = self._pii.detokenize(arguments, destination=server) if self._pii is not None else arguments
            self._check_arguments(spec, real)
            approver = self.approver
            settled = self.policy.check(
                spec, execution_calls=self._execution_calls, session_calls=self.session_calls, approver=approver
            )
            if settled is None:
                with self._waiting_for_approval():
                    settled = await self.policy.ask(spec, real, approver=approver)
            decision = settled
            if decision.outcome == "denied":
                raise PolicyDenied(decision.reason)
            if decision.arguments is not None:  # the reviewer edited the call: it goes out as they wrote it
                real = dict(decision.arguments)
                self._check_arguments(spec, real, "the reviewer's arguments: ")
            self._execution_calls += 1
            self.session_calls += 1
            result = await self._backend.call_tool_raw(server, tool, real, timeout=self._call_timeout)
            if self._pii is not None:
                result = self._pii.tokenize(result, source=server)
            if result.get("isError") is True:
                raise ToolCallError(error_message(result), server=server, tool=tool)
        except MCPExecError as exc:
            status = "denied" if isinstance(exc, PolicyDenied) else "error"
            if isinstance(exc, PolicyDenied):
                decision = PolicyDecision("denied", exc.reason)
                self.denied_calls += 1
            error = self._scrub(str(exc), server)
            payload = error_payload(exc)
            payload["message"] = error
            return {"ok": False, "error": payload}
        finally:
            duration = time.perf_counter() - started
            self._records.append(ToolCallRecord(server, tool, status, duration, error, decision.outcome))
            if self._audit is not None:
                self._audit.record(
                    "tool_call",
                    server=server,
                    tool=tool,
                    arguments=arguments,
                    decision=decision.outcome,
                    reason=decision.reason or None,
                    **self._edited(decision, server),
                    status=status,
                    error=error,
                    result_bytes=json_size(result) if status == "ok" else 0,
                    duration_s=round(duration, 6),
                )
        if _wraps_result(spec):
            return {"ok": True, "result": result, "unwrap": True}
        return {"ok": True, "result": result}

    async def search(self, query: str, detail_level: str, limit: int, options: dict[str, Any]) -> dict[str, Any]:
        if self._search is None:
            raise MCPExecError("tool search is not available in this session")
        allowed = {k: v for k, v in options.items() if k in ("server", "offset")}
        if unknown := sorted(set(options) - set(allowed)):
            raise MCPExecError(f"search_tools got unknown options {unknown}; it accepts server= and offset=")
        return {"ok": True, "result": self._search(query, detail_level, limit, **allowed)}

    async def skill(self, action: str, fields: dict[str, Any]) -> dict[str, Any]:
        if self._skills is None:
            raise MCPExecError("skills are not available in this session")
        return {"ok": True, "result": await self._skills(action, fields)}
