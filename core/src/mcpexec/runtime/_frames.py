"""The bridge wire format, shared by host and guest: newline-delimited JSON objects ``{"id", "type", ...}``.

Guest → host: ``ready``, ``exec_result``, ``tool_call`` (``server``, ``tool``, ``arguments``), ``search``.
Host → guest: ``exec`` (``code``), ``tool_result`` (``ok`` and ``result`` | ``error``), ``search_result``.
Frames travel on a private channel — a socket the guest inherits, or (E2B) the guest's original stdin/stdout,
which it takes over before any user code runs — never mixed with what user code prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from mcpexec import errors

__all__ = ["MAX_FRAME_BYTES", "FrameError", "decode", "encode", "error_payload", "remote_error"]

MAX_FRAME_BYTES = 256 * 1024 * 1024
"""The largest frame either side accepts (a tool result of a few hundred MB is a bug, not data)."""

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_ascii_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class FrameError(ValueError):
    """A frame is not a JSON object with a string ``type``, or is too large."""


def encode(frame: dict[str, Any], *, ascii_only: bool = False) -> bytes:
    """One frame as a line of UTF-8 JSON (``ascii_only``: non-ASCII escaped, for channels that decode text in
    chunks). Raises ``ValueError``/``TypeError`` for data JSON cannot carry."""
    encoder = _ascii_encoder if ascii_only else _encoder
    data = (encoder.encode(frame) + "\n").encode("utf-8", "surrogatepass")
    if len(data) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(data)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return data


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line into a frame; :class:`FrameError` when it is not a frame."""
    try:
        frame = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"not a JSON frame: {exc}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):  # pyright: ignore[reportUnknownMemberType]
        raise FrameError("a frame must be a JSON object with a string 'type'")
    return frame  # pyright: ignore[reportUnknownVariableType]


def _scalar_or_list(value: object) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    return isinstance(value, list | tuple) and all(
        v is None or isinstance(v, str | bool | int | float) for v in cast(tuple[object, ...], value)
    )


def error_payload(exc: BaseException) -> dict[str, Any]:
    """An exception as an error payload ``{"type", "message", "attributes"}`` (see :func:`remote_error`)."""
    if isinstance(exc, errors.MCPExecError):
        name, message = type(exc).__name__, str(exc)
    else:
        name, message = "MCPExecError", f"{type(exc).__name__}: {exc}"
    attributes = {k: v for k, v in vars(exc).items() if not k.startswith("_") and _scalar_or_list(v)}
    return {"type": name, "message": message, "attributes": attributes}


def remote_error(data: object) -> BaseException:
    """The exception an error payload describes. Only :mod:`mcpexec.errors` classes are rebuilt (with their
    attributes); anything else becomes a plain :class:`~mcpexec.errors.MCPExecError`."""
    payload: Mapping[str, Any] = cast(Mapping[str, Any], data) if isinstance(data, Mapping) else {}
    name = str(payload.get("type", "MCPExecError"))
    message = str(payload.get("message", "the host reported an error"))
    cls: object = getattr(errors, name, None) if name in errors.__all__ else None
    if not (isinstance(cls, type) and issubclass(cls, errors.MCPExecError)):
        return errors.MCPExecError(f"{name}: {message}")
    error = cls.__new__(cls)
    error.args = (message,)
    attributes: object = payload.get("attributes")
    if isinstance(attributes, Mapping):
        for key, value in cast(Mapping[object, object], attributes).items():
            if isinstance(key, str) and key.isidentifier() and not key.startswith("_"):
                setattr(error, key, tuple(cast(list[object], value)) if isinstance(value, list) else value)
    return error
