"""The host side of tool calls made inside the sandbox.

For each ``tool_call`` frame: look the tool up in the catalog, validate the arguments against its input schema
(an error names the field and what was expected), forward to :class:`~mcpexec.hub.MCPHub`, and send back the
wire-format result — the guest turns it into Python values. Every call is recorded for the cell's
:class:`~mcpexec.execution.ExecutionResult`. Searches are answered from the :class:`~mcpexec.search.ToolIndex`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import jsonschema.validators
import referencing.exceptions

from mcpexec.catalog import Catalog, ToolSpec
from mcpexec.errors import MCPExecError, ToolArgumentError, ToolCallError, UnknownToolError
from mcpexec.execution import CallStatus, ToolCallRecord
from mcpexec.results import error_message, wrapped_result_schema
from mcpexec.runtime._frames import error_payload
from mcpexec.search import ToolIndex

__all__ = ["Bridge", "ToolBackend", "validate_arguments"]


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


_validators: dict[tuple[str, str, int], jsonschema.protocols.Validator | None] = {}


def _validator(tool: ToolSpec) -> jsonschema.protocols.Validator | None:
    key = (tool.server, tool.name, id(tool.input_schema))
    if key not in _validators:
        schema = tool.input_schema
        try:
            cls: type[jsonschema.protocols.Validator] = jsonschema.validators.validator_for(  # pyright: ignore[reportUnknownMemberType]
                schema, default=jsonschema.Draft202012Validator
            )
            cls.check_schema(schema)
            validator: jsonschema.protocols.Validator | None = cls(schema)
        except (jsonschema.exceptions.SchemaError, jsonschema.exceptions.UnknownType, TypeError, ValueError):
            validator = None  # a schema the server got wrong is not the caller's fault: let the server judge
        if len(_validators) > 10_000:
            _validators.clear()
        _validators[key] = validator
    return _validators[key]


def validate_arguments(tool: ToolSpec, arguments: Mapping[str, Any]) -> None:
    """Raise :class:`ToolArgumentError` naming each bad argument and what the schema expects."""
    validator = _validator(tool)
    if validator is None:
        return
    try:
        problems = sorted(validator.iter_errors(dict(arguments)), key=lambda e: (list(e.absolute_path), e.message))
    except (referencing.exceptions.Unresolvable, jsonschema.exceptions.SchemaError, RecursionError, LookupError):
        return
    if problems:
        shown = [_explain(p) for p in problems[:5]]
        if len(problems) > 5:
            shown.append(f"and {len(problems) - 5} more")
        raise ToolArgumentError("; ".join(shown), server=tool.server, tool=tool.name)


class Bridge:
    """Answers the guest's tool calls and searches; implements ``GuestRequests``."""

    def __init__(
        self,
        backend: ToolBackend,
        *,
        index: Callable[[], ToolIndex] | None = None,
        validate: bool = True,
        call_timeout: float | None = None,
    ) -> None:
        """``index`` returns the current search index; ``validate`` checks arguments against input schemas;
        ``call_timeout`` overrides each server's configured tool-call timeout."""
        self._backend = backend
        self._index = index
        self._validate = validate
        self._call_timeout = call_timeout
        self._records: list[ToolCallRecord] = []

    def take_records(self) -> tuple[ToolCallRecord, ...]:
        """The calls recorded since the last take (one cell's worth)."""
        records, self._records = tuple(self._records), []
        return records

    def _record(self, server: str, tool: str, status: CallStatus, started: float, error: str | None) -> None:
        self._records.append(ToolCallRecord(server, tool, status, time.perf_counter() - started, error))

    async def tool_call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            spec = self._backend.catalog.get(server, tool)
            if self._validate:
                validate_arguments(spec, arguments)
            result = await self._backend.call_tool_raw(server, tool, arguments, timeout=self._call_timeout)
            if result.get("isError") is True:
                raise ToolCallError(error_message(result), server=server, tool=tool)
        except (MCPExecError, UnknownToolError) as exc:
            self._record(server, tool, "error", started, str(exc))
            return {"ok": False, "error": error_payload(exc)}
        self._record(server, tool, "ok", started, None)
        response: dict[str, Any] = {"ok": True, "result": result}
        wrapped = wrapped_result_schema(tool, spec.output_schema)
        if wrapped is not None:
            response["output_schema"] = cast(dict[str, Any], spec.output_schema)
        return response

    async def search(self, query: str, detail_level: str, limit: int, options: dict[str, Any]) -> dict[str, Any]:
        if self._index is None:
            raise MCPExecError("tool search is not available in this session")
        allowed = {k: v for k, v in options.items() if k in ("server", "offset")}
        if unknown := sorted(set(options) - set(allowed)):
            raise MCPExecError(f"search_tools got unknown options {unknown}; it accepts server= and offset=")
        return {"ok": True, "result": self._index().search(query, detail_level, limit, **allowed)}
