"""The guest process: serves ``exec`` requests from the host, one cell at a time, in one persistent namespace.

Started by the sandbox as ``python -I -S -c <bootstrap>``; the bootstrap calls :func:`main` with the channel's
file descriptor and the session options. Tool calls and searches made by the cell travel to the host on the
channel; the cell's stdout/stderr are captured by :mod:`._output` and returned in the ``exec_result`` frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from . import set_searcher, set_skill_host, set_tool_caller
from ._cell import CellRunner
from ._channel import ChannelClosed, GuestChannel, PipeEnds
from ._frames import remote_error
from ._output import OutputRedirect
from ._skills import forget_module, verify_skill

__all__ = ["DEFAULT_OPTIONS", "main", "main_stdio"]

DEFAULT_OPTIONS: dict[str, Any] = {"max_stdout_chars": 20_000, "max_stderr_chars": 8_000, "output_dir": ".mcpexec"}


_PLAIN = frozenset({str, int, bool, type(None)})  # exact types that are JSON as they are (the common case)


def _check_json(value: object, where: str) -> None:
    """Arguments must be JSON data: say which one is not, before anything reaches the host."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}, which JSON cannot carry; use None or a number")
        return
    if isinstance(value, Mapping):
        for key, item in cast(Mapping[object, object], value).items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; JSON keys are strings")
            _check_json(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(cast(list[object], value)):
            _check_json(item, f"{where}[{index}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}, which a tool cannot receive; pass JSON data "
        "(dict, list, str, int, float, bool, None)"
    )


class _Bridge:
    """The tool caller and searcher installed in :mod:`mcpexec.runtime` for this guest."""

    def __init__(self, channel: GuestChannel) -> None:
        self._channel = channel
        self._normalize: Callable[..., Any] | None = None

    async def call_tool(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        for key, value in arguments.items():
            if type(value) not in _PLAIN:
                _check_json(value, f"argument {key!r} of {server}.{tool}")
        response = await self._channel.request(
            {"type": "tool_call", "server": server, "tool": tool, "arguments": arguments}
        )
        if not response.get("ok"):
            raise remote_error(response.get("error"))
        normalize_result = self._normalize
        if normalize_result is None:  # imported on first use: keeps the guest's start fast
            from mcpexec.results import normalize_result

            self._normalize = normalize_result
        return normalize_result(
            cast(Mapping[str, Any], response.get("result") or {}),
            server=server,
            tool=tool,
            unwrap=response.get("unwrap") is True,
        )

    def skill(self, action: str, **fields: Any) -> Any:
        name = str(fields.get("name", ""))
        if action == "save":
            verify_skill(name, str(fields.get("source", "")), fields.get("example"))
        _check_json(fields, "skill fields")
        response = self._channel.request_blocking({"type": "skill", "action": action, **fields})
        if not response.get("ok"):
            raise remote_error(response.get("error"))
        forget_module(name)
        return response.get("result")

    def search(self, query: str, detail_level: str, limit: int, **options: Any) -> Any:
        _check_json(options, "search options")
        response = self._channel.request_blocking(
            {"type": "search", "query": query, "detail_level": detail_level, "limit": limit, "options": options}
        )
        if not response.get("ok"):
            raise remote_error(response.get("error"))
        return response.get("result")


async def _serve(channel: GuestChannel, output: OutputRedirect) -> None:
    channel.start()
    bridge = _Bridge(channel)
    set_tool_caller(bridge.call_tool)
    set_searcher(bridge.search)
    set_skill_host(bridge.skill)
    namespace: dict[str, Any] = sys.modules["__main__"].__dict__
    for name in [n for n in namespace if not n.startswith("__")]:  # the bootstrap's own names
        del namespace[name]
    runner = CellRunner(namespace)
    channel.send({"type": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
    while (request := await channel.next_exec()) is not None:
        started = time.perf_counter()
        outcome = await runner.run(str(request.get("code", "")))
        captured = output.finish_cell()
        frame: dict[str, Any] = {
            "type": "exec_result",
            "id": request.get("id"),
            "cell": runner.count,
            "value": outcome.value,
            "error": outcome.error.to_json() if outcome.error else None,
            "duration_s": time.perf_counter() - started,
        }
        for name, text in captured.items():
            frame[name] = text.text
            frame[f"{name}_truncated"] = text.truncated
            frame[f"{name}_saved_to"] = text.saved_to
        try:
            channel.send(frame)
        except (OSError, ChannelClosed):
            return


def main(fd: int, options_json: str = "{}") -> None:
    """Serve the host on the socket ``fd`` until it closes the channel."""
    sock = socket.socket(fileno=fd)
    try:
        _serve_channel(GuestChannel(sock), options_json)
    finally:
        sock.close()


def main_stdio(options_json: str = "{}") -> None:
    """Serve the host on this process's stdin and stdout (E2B) until it closes stdin.

    The channel takes the original descriptors over before any user code runs: stdin then reads ``/dev/null``
    and fd 1/2 are captured like everywhere else, so nothing user code writes can reach the channel. The guest
    leads a process group of its own, so the host can stop it with everything it started."""
    with contextlib.suppress(OSError):
        os.setsid()
    ends = PipeEnds(os.dup(0), os.dup(1))  # os.dup: not inherited by subprocesses
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        _serve_channel(GuestChannel(ends, ascii_only=True), options_json)
    finally:
        ends.close()


def _serve_channel(channel: GuestChannel, options_json: str) -> None:
    options = {**DEFAULT_OPTIONS, **json.loads(options_json)}
    if hasattr(signal, "SIGXFSZ"):  # past the file-size limit a write fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.environ.setdefault("HOME", os.getcwd())
    output = OutputRedirect(
        int(options["max_stdout_chars"]),
        int(options["max_stderr_chars"]),
        f"{options['output_dir']}/output",
    )
    asyncio.run(_serve(channel, output))
