"""Turning a ``tools/call`` result (wire-format dict) into a Python value.

Rules, in order:

1. ``isError`` → :class:`~mcpexec.errors.ToolCallError` carrying the server's own text.
2. ``structuredContent`` present → that value (already JSON data). When the tool's ``outputSchema`` is the
   wrapper the Python SDK generates for a non-object return type (``{"result": ...}``, titled
   ``<function>Output``), the wrapped value itself is returned.
3. Otherwise the content blocks: one block gives one value, several give a list. A text block whose text is a
   JSON object or array is parsed; other text stays ``str`` (``"42"`` is not turned into a number). Images, audio,
   embedded resources and resource links become the small frozen dataclasses below. No content → ``None``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from .errors import ToolCallError

__all__ = [
    "AudioContent",
    "ImageContent",
    "ResourceContent",
    "ResourceLink",
    "error_message",
    "normalize_result",
    "wrapped_result_schema",
]


@dataclass(frozen=True, slots=True)
class _Media:
    data: bytes
    mime_type: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mime_type={self.mime_type!r}, {len(self.data)} bytes)"


@dataclass(frozen=True, slots=True, repr=False)
class ImageContent(_Media):
    """An image a tool returned: raw ``data`` bytes and their ``mime_type``."""


@dataclass(frozen=True, slots=True, repr=False)
class AudioContent(_Media):
    """An audio clip a tool returned: raw ``data`` bytes and their ``mime_type``."""


@dataclass(frozen=True, slots=True)
class ResourceContent:
    """A resource embedded in a result: ``text`` or ``blob`` is set."""

    uri: str
    mime_type: str | None = None
    text: str | None = None
    blob: bytes | None = None


@dataclass(frozen=True, slots=True)
class ResourceLink:
    """A link to a resource the client may read later."""

    uri: str
    name: str | None = None
    mime_type: str | None = None
    description: str | None = None


def _decode_base64(data: object) -> bytes:
    if not isinstance(data, str):
        return b""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return data.encode()


def _parse_text(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _block_value(block: Mapping[str, Any]) -> Any:
    kind = block.get("type")
    if kind == "text":
        return _parse_text(str(block.get("text", "")))
    if kind == "image":
        return ImageContent(_decode_base64(block.get("data")), str(block.get("mimeType", "")))
    if kind == "audio":
        return AudioContent(_decode_base64(block.get("data")), str(block.get("mimeType", "")))
    if kind == "resource":
        raw: Any = block.get("resource") or {}
        if not isinstance(raw, Mapping):
            return dict(block)
        resource = cast(Mapping[str, Any], raw)
        blob = resource.get("blob")
        return ResourceContent(
            uri=str(resource.get("uri", "")),
            mime_type=_str_or_none(resource.get("mimeType")),
            text=_str_or_none(resource.get("text")),
            blob=_decode_base64(blob) if isinstance(blob, str) else None,
        )
    if kind == "resource_link":
        return ResourceLink(
            uri=str(block.get("uri", "")),
            name=_str_or_none(block.get("name")),
            mime_type=_str_or_none(block.get("mimeType")),
            description=_str_or_none(block.get("description")),
        )
    return dict(block)  # an unknown block type is passed through rather than lost


def _content_blocks(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = result.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str):
        return []
    items: Sequence[Any] = content  # pyright: ignore[reportUnknownVariableType]
    return [block for block in items if isinstance(block, Mapping)]


def error_message(result: Mapping[str, Any]) -> str:
    """The server's own text for an ``isError`` result (all text blocks joined)."""
    texts = [str(b.get("text", "")) for b in _content_blocks(result) if b.get("type") == "text"]
    message = "\n".join(t for t in texts if t).strip()
    if not message and "structuredContent" in result:
        message = json.dumps(result["structuredContent"], ensure_ascii=False)
    return message or "the tool reported an error without a message"


def wrapped_result_schema(tool: str, output_schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The schema of the wrapped value when ``output_schema`` is the SDK's ``{"result": ...}`` wrapper, else None.

    The `mcp` SDK (FastMCP / MCPServer) wraps a tool's non-object return value as ``{"result": value}`` and names
    the schema ``<function>Output`` (usually ``<tool>Output``); an object schema titled ``...Output`` whose only
    property is the required ``result`` is recognised as that wrapper.
    """
    title = output_schema.get("title") if output_schema is not None else None
    if output_schema is None or not isinstance(title, str) or not title.endswith("Output"):
        return None
    properties: Any = output_schema.get("properties")
    if not isinstance(properties, Mapping) or set(cast(Mapping[str, Any], properties)) != {"result"}:
        return None
    if output_schema.get("required") != ["result"]:
        return None
    inner: Any = cast(Mapping[str, Any], properties)["result"]
    return dict(cast(Mapping[str, Any], inner)) if isinstance(inner, Mapping) else {}


def normalize_result(
    result: Mapping[str, Any],
    *,
    server: str,
    tool: str,
    output_schema: Mapping[str, Any] | None = None,
    unwrap: bool = False,
) -> Any:
    """The Python value of a wire-format ``tools/call`` result (see the module docstring for the rules).

    The SDK's ``{"result": ...}`` wrapper is unwrapped when ``unwrap`` is true or ``output_schema`` (the tool's
    declared output schema) is that wrapper (see :func:`wrapped_result_schema`).
    """
    if result.get("isError") is True:
        raise ToolCallError(error_message(result), server=server, tool=tool)
    if "structuredContent" in result:
        structured = result["structuredContent"]
        wrapped = unwrap or wrapped_result_schema(tool, output_schema) is not None
        if wrapped and isinstance(structured, Mapping):
            return cast(Mapping[str, Any], structured).get("result")
        return structured
    values = [_block_value(block) for block in _content_blocks(result)]
    if not values:
        return None
    return values[0] if len(values) == 1 else values
