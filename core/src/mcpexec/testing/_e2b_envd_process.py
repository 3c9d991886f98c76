"""envd's ``process.Process`` Connect service, on the generated server stubs shipped in the ``e2b`` package.

The sandbox is the one the request's ``E2b-Sandbox-Id`` names (the dispatcher has already checked it is alive and
the access token). A Start request's ``connect-timeout-ms`` is the command's timeout, as with envd: when it elapses
the command is killed and the Start stream ends with ``deadline_exceeded`` (connectrpc's server parses the header but
does not enforce it). A Connect stream's timeout only ends that stream. Streams send a keepalive event every
``Keepalive-Ping-Interval`` seconds of silence.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from e2b.envd.process import process_pb
from e2b.envd.process.process_connect import Process, ProcessASGIApplication
from protobuf import Oneof

from mcpexec.testing._e2b_faults import EXCHANGE, ResetConnection
from mcpexec.testing._e2b_process import Marker, QueueItem, RunningProcess
from mcpexec.testing._e2b_state import FakeSandbox, FakeState

__all__ = ["ProcessService", "process_app", "sandbox_of"]

_SIGNALS = {process_pb.Signal.SIGKILL: signal.SIGKILL, process_pb.Signal.SIGTERM: signal.SIGTERM}


def sandbox_of(state: FakeState, ctx: RequestContext[Any, Any]) -> FakeSandbox:
    """The live sandbox a request is for (``unavailable`` if it died since the dispatcher looked)."""
    sandbox_id = ctx.request_headers.get("e2b-sandbox-id", "")
    sandbox = state.alive(sandbox_id)
    if sandbox is None:
        raise ConnectError(Code.UNAVAILABLE, f"The sandbox {sandbox_id} was not found")
    return sandbox


def _timeout_s(ctx: RequestContext[Any, Any]) -> float | None:
    remaining = ctx.timeout_ms
    return None if remaining is None else max(remaining, 0.0) / 1000.0


def _keepalive_s(ctx: RequestContext[Any, Any]) -> float | None:
    try:
        value = float(ctx.request_headers.get("keepalive-ping-interval", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def _selected(sandbox: FakeSandbox, selector: process_pb.ProcessSelector | None) -> RunningProcess:
    process = sandbox.find(selector)
    if process is None:
        what = "unknown" if selector is None or selector.selector is None else selector.selector.value
        raise ConnectError(Code.NOT_FOUND, f"process with {what} not found")
    return process


def _ended_stream(marker: Marker, sandbox: FakeSandbox) -> None:
    """React to a marker: raise the error the stream ends with, or return for a clean end without an end event."""
    if marker is Marker.DEADLINE:
        raise ConnectError(Code.DEADLINE_EXCEEDED, "context deadline exceeded: the command's timeout elapsed")
    if marker is Marker.RESET:
        exchange = EXCHANGE.get()
        if exchange is not None:
            exchange.reset = True
        raise ResetConnection
    if marker in (Marker.GONE, Marker.ERROR):
        raise ConnectError(
            Code.UNAVAILABLE, f"the connection to sandbox {sandbox.sandbox_id} ended before the stream completed"
        )


async def _events(
    sandbox: FakeSandbox,
    process: RunningProcess,
    queue: asyncio.Queue[QueueItem],
    *,
    timeout_s: float | None,
    keepalive_s: float | None,
) -> AsyncIterator[process_pb.ProcessEvent]:
    """The start event, then the process's events until its end (or the stream's own end)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    try:
        yield process.start_event()
        while True:
            waits = [w for w in (None if deadline is None else deadline - loop.time(), keepalive_s) if w is not None]
            try:
                item = await (asyncio.wait_for(queue.get(), min(waits)) if waits else queue.get())
            except TimeoutError:
                if deadline is not None and loop.time() >= deadline:
                    raise ConnectError(Code.DEADLINE_EXCEEDED, "context deadline exceeded") from None
                yield process_pb.ProcessEvent(event=Oneof("keepalive", process_pb.ProcessEvent.KeepAlive()))
                continue
            if isinstance(item, Marker):
                _ended_stream(item, sandbox)
                return
            yield item
            if item.event is not None and item.event.field == "end":
                return
    finally:
        process.unsubscribe(queue)


class ProcessService(Process):
    """The methods of envd's process service, over the fake's state."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def start(
        self, request: process_pb.StartRequest, ctx: RequestContext[process_pb.StartRequest, process_pb.StartResponse]
    ) -> AsyncIterator[process_pb.StartResponse]:
        sandbox = sandbox_of(self._state, ctx)
        if request.has_field("pty"):
            raise ConnectError(Code.UNIMPLEMENTED, "PTY processes are not supported by the fake E2B")
        config = request.process or process_pb.ProcessConfig()
        if not config.cmd:
            raise ConnectError(Code.INVALID_ARGUMENT, "process config has no cmd")
        queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        timeout_s = _timeout_s(ctx)
        try:
            process = sandbox.launch(
                config,
                tag=request.tag if request.has_field("tag") else None,
                stdin=request.stdin if request.has_field("stdin") else True,
                timeout_s=timeout_s,
                first=queue,
            )
        except OSError as exc:
            raise ConnectError(Code.INVALID_ARGUMENT, f"error starting process: {exc}") from exc
        async for event in _events(sandbox, process, queue, timeout_s=None, keepalive_s=_keepalive_s(ctx)):
            yield process_pb.StartResponse(event=event)

    async def connect(
        self,
        request: process_pb.ConnectRequest,
        ctx: RequestContext[process_pb.ConnectRequest, process_pb.ConnectResponse],
    ) -> AsyncIterator[process_pb.ConnectResponse]:
        sandbox = sandbox_of(self._state, ctx)
        process = _selected(sandbox, request.process)
        queue = process.subscribe()
        async for event in _events(sandbox, process, queue, timeout_s=_timeout_s(ctx), keepalive_s=_keepalive_s(ctx)):
            yield process_pb.ConnectResponse(event=event)

    async def list(
        self, request: process_pb.ListRequest, ctx: RequestContext[process_pb.ListRequest, process_pb.ListResponse]
    ) -> process_pb.ListResponse:
        sandbox = sandbox_of(self._state, ctx)
        return process_pb.ListResponse(
            processes=[process_pb.ProcessInfo(config=p.config, pid=p.pid, tag=p.tag) for p in sandbox.running()]
        )

    async def update(
        self,
        request: process_pb.UpdateRequest,
        ctx: RequestContext[process_pb.UpdateRequest, process_pb.UpdateResponse],
    ) -> process_pb.UpdateResponse:
        _selected(sandbox_of(self._state, ctx), request.process)
        if request.has_field("pty"):
            raise ConnectError(Code.FAILED_PRECONDITION, "the process has no PTY (the fake E2B runs none)")
        return process_pb.UpdateResponse()

    async def _write(self, process: RunningProcess, data: process_pb.ProcessInput | None) -> None:
        match data.input if data is not None else None:
            case Oneof(field="stdin", value=chunk):
                if not process.has_stdin:
                    raise ConnectError(Code.FAILED_PRECONDITION, "stdin is not enabled or was closed")
                try:
                    await process.write_stdin(chunk)
                except OSError as exc:
                    raise ConnectError(Code.INTERNAL, f"error writing to stdin: {exc}") from exc
            case Oneof(field="pty"):
                raise ConnectError(Code.FAILED_PRECONDITION, "the process has no PTY (the fake E2B runs none)")
            case _:
                pass

    async def send_input(
        self,
        request: process_pb.SendInputRequest,
        ctx: RequestContext[process_pb.SendInputRequest, process_pb.SendInputResponse],
    ) -> process_pb.SendInputResponse:
        process = _selected(sandbox_of(self._state, ctx), request.process)
        await self._write(process, request.input)
        return process_pb.SendInputResponse()

    async def stream_input(
        self,
        request: AsyncIterator[process_pb.StreamInputRequest],
        ctx: RequestContext[process_pb.StreamInputRequest, process_pb.StreamInputResponse],
    ) -> process_pb.StreamInputResponse:
        sandbox = sandbox_of(self._state, ctx)
        process: RunningProcess | None = None
        async for message in request:
            match message.event:
                case Oneof(field="start", value=start):
                    process = _selected(sandbox, start.process)
                case Oneof(field="data", value=data):
                    if process is None:
                        raise ConnectError(Code.INVALID_ARGUMENT, "the input stream must begin with a start event")
                    await self._write(process, data.input)
                case _:
                    pass
        return process_pb.StreamInputResponse()

    async def send_signal(
        self,
        request: process_pb.SendSignalRequest,
        ctx: RequestContext[process_pb.SendSignalRequest, process_pb.SendSignalResponse],
    ) -> process_pb.SendSignalResponse:
        process = _selected(sandbox_of(self._state, ctx), request.process)
        signum = _SIGNALS.get(request.signal)
        if signum is None:
            raise ConnectError(Code.INVALID_ARGUMENT, f"unsupported signal {request.signal}")
        process.kill(signum, "signal")
        self._state.notify()
        return process_pb.SendSignalResponse()

    async def close_stdin(
        self,
        request: process_pb.CloseStdinRequest,
        ctx: RequestContext[process_pb.CloseStdinRequest, process_pb.CloseStdinResponse],
    ) -> process_pb.CloseStdinResponse:
        process = _selected(sandbox_of(self._state, ctx), request.process)
        process.close_stdin()
        return process_pb.CloseStdinResponse()


def process_app(state: FakeState) -> ProcessASGIApplication:
    return ProcessASGIApplication(ProcessService(state))
