"""``tools/call`` on an `mcp` 2.x ``Client`` that stays in wire format (the hub's per-call hot path).

``Client.call_tool`` validates a result twice (against the negotiated protocol's wire types, then into the
version-free ``CallToolResult`` model) and the hub then dumps that model back to the dict it forwards. Here the
request goes through the session's public ``send_request`` with a plain-dict result type: the protocol
validation still runs — a malformed result is still refused — and so does the check of structured content
against the tool's output schema (with the schema the caller listed, or the session's own
``validate_tool_result`` for a tool the caller has not seen), but no model is built and dumped again. What only
``Client.call_tool`` knows how to do is left to it:

- an ``input_required`` result (the server needs input, or asks to be polled) is continued through
  ``Client.call_tool`` seeded with the server's ``requestState`` — its driver runs the rounds; nothing ran twice,
  since a server that asks for input has not completed the call;
- a ``HEADER_MISMATCH`` refusal (the server wants the tool listed again) is retried by ``Client.call_tool``, which
  re-lists and resends — the refused request did not run either.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Final

from ._schemas import first_problem

__all__ = ["SDK_LISTING", "WireToolCaller", "to_wire"]

SDK_LISTING: Final = "sdk-listing"
"""``output_schema`` for a tool the caller has not listed: the session checks with the schema it knows."""

_HEADER_MISMATCH = -32020  # mcp_types.HEADER_MISMATCH: the request's headers disagree with the tool's listing


def to_wire(model: Any) -> dict[str, Any]:
    """A pydantic model of either SDK generation as wire-format JSON (camelCase keys, no ``None``)."""
    if model is None:
        return {}
    dumped: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


class WireToolCaller:
    """Calls tools on one 2.x ``Client`` and returns wire-format results (camelCase dicts, no ``None`` values).

    Exceptions are the SDK's own (the caller maps them): ``MCPError`` for error responses, pydantic's
    ``ValidationError`` for a result that is not a ``tools/call`` result, ``RuntimeError`` for structured content
    that does not match the output schema.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        types: Any = importlib.import_module("mcp.types")
        pydantic: Any = importlib.import_module("pydantic")
        self._request = types.CallToolRequest
        self._params = types.CallToolRequestParams
        self._result = types.CallToolResult
        self._wire: Any = pydantic.TypeAdapter(dict[str, Any])
        self._mcp_error: type[Exception] = importlib.import_module("mcp.shared.exceptions").MCPError

    @classmethod
    def for_client(cls, client: Any) -> WireToolCaller | None:
        """A caller for ``client``, or ``None`` when its session lacks the public methods this path needs."""
        session: Any = getattr(client, "session", None)
        needed = ("send_request", "validate_tool_result")
        if session is None or not all(callable(getattr(session, name, None)) for name in needed):
            return None
        try:
            return cls(client)
        except (ImportError, AttributeError):
            return None

    async def call(
        self, name: str, arguments: Mapping[str, Any], output_schema: Mapping[str, Any] | str | None = SDK_LISTING
    ) -> dict[str, Any]:
        """One ``tools/call``; the result as the server sent it (validated), ``None`` values dropped.

        ``output_schema``: the tool's listed output schema (``None``: it has none), or :data:`SDK_LISTING`."""
        session: Any = self._client.session
        request = self._request(params=self._params(name=name, arguments=dict(arguments)))
        try:
            raw: dict[str, Any] = await session.send_request(request, self._wire)
        except self._mcp_error as exc:
            if getattr(getattr(exc, "error", None), "code", None) != _HEADER_MISMATCH:
                raise
            return to_wire(await self._client.call_tool(name, dict(arguments)))
        if raw.get("resultType") == "input_required":
            state = raw.get("requestState")
            continued = await self._client.call_tool(
                name, dict(arguments), request_state=state if isinstance(state, str) else None
            )
            return to_wire(continued)
        if raw.get("isError") is not True:
            await self._check_output(session, name, raw, output_schema)
        return {key: value for key, value in raw.items() if value is not None}

    async def _check_output(
        self, session: Any, name: str, raw: dict[str, Any], output_schema: Mapping[str, Any] | str | None
    ) -> None:
        """Structured content against the output schema; ``RuntimeError`` (as the SDK raises) when it fails."""
        if isinstance(output_schema, str):
            checked = (
                self._result.model_construct(structured_content=raw["structuredContent"])
                if "structuredContent" in raw
                else self._result.model_construct()
            )
            await session.validate_tool_result(name, checked)
        elif output_schema is not None:
            if "structuredContent" not in raw:
                raise RuntimeError(f"Tool {name} has an output schema but did not return structured content")
            problem = first_problem(output_schema, raw["structuredContent"])
            if problem is not None:
                raise RuntimeError(f"Invalid structured content returned by tool {name}: {problem}")
