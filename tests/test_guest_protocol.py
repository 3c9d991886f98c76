"""The guest runtime's pieces on their own: frames, error payloads, output capture, the cell runner, the channel."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

import mcpexec.sandbox._connection as connection_module
from mcpexec import errors
from mcpexec.runtime._cell import CellRunner
from mcpexec.runtime._channel import ChannelClosed, GuestChannel
from mcpexec.runtime._frames import MAX_FRAME_BYTES, FrameError, decode, encode, error_payload, remote_error
from mcpexec.runtime._output import Capture


def test_frames_round_trip_and_refuse_what_is_not_a_frame() -> None:
    frame = {"type": "tool_call", "id": 3, "arguments": {"text": "naïve ✓", "n": [1, 2.5, None]}}
    line = encode(frame)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decode(line) == frame
    for bad in (b"not json\n", b"[1, 2]\n", b'{"id": 1}\n', b'{"type": 5}\n', b"\xff\xfe\n"):
        with pytest.raises(FrameError):
            decode(bad)
    with pytest.raises(ValueError, match="Out of range float"):
        encode({"type": "x", "value": float("nan")})
    assert MAX_FRAME_BYTES >= 64 * 1024 * 1024


def test_error_payloads_rebuild_mcpexec_errors_with_their_attributes() -> None:
    original = errors.ToolTimeout(server="github", tool="create_issue", timeout=2.5)
    rebuilt = remote_error(error_payload(original))
    assert type(rebuilt) is errors.ToolTimeout
    assert isinstance(rebuilt, errors.ToolCallError)
    assert (rebuilt.server, rebuilt.tool, rebuilt.timeout) == ("github", "create_issue", 2.5)  # type: ignore[attr-defined]
    assert str(rebuilt) == str(original)
    denied = remote_error(error_payload(errors.UnknownToolError("no such tool", server="s", suggestions=["a", "b"])))
    assert isinstance(denied, errors.UnknownToolError)
    assert denied.suggestions == ("a", "b")


def test_error_payloads_never_name_a_class_outside_the_error_tree() -> None:
    for name in ("SystemExit", "os.system", "__import__", "MCPExecError.__subclasses__", "_rebuild", "Sequence"):
        rebuilt = remote_error({"type": name, "message": "boom", "attributes": {"__class__": "x", "_private": 1}})
        assert type(rebuilt) is errors.MCPExecError
        assert "boom" in str(rebuilt)
    assert type(remote_error("garbage")) is errors.MCPExecError
    foreign = error_payload(KeyError("k"))
    assert foreign["type"] == "MCPExecError"
    assert "KeyError" in foreign["message"]


def test_capture_keeps_head_and_tail_and_saves_everything_when_over_the_cap(tmp_path: Path) -> None:
    spill = tmp_path / "out" / "cell-1.stdout.txt"
    capture = Capture(1000, str(spill))
    text = "".join(f"{i:06d}\n" for i in range(2000))
    for start in range(0, len(text), 333):
        capture.write_bytes(text[start : start + 333].encode())
    result = capture.finish()
    assert result.truncated
    assert result.total_chars == len(text)
    assert result.text.startswith("000000\n")
    assert result.text.endswith("001999\n")
    assert f"{len(text) - 1000:,} characters omitted" in result.text
    assert result.saved_to == str(spill)
    assert spill.read_text() == text


def test_capture_under_the_cap_is_exact_and_decodes_split_utf8(tmp_path: Path) -> None:
    capture = Capture(100, str(tmp_path / "never.txt"))
    data = "héllo ✓\n".encode()
    for i in range(len(data)):
        capture.write_bytes(data[i : i + 1])
    result = capture.finish()
    assert result == type(result)("héllo ✓\n", False, 8, None)
    assert not (tmp_path / "never.txt").exists()


def test_capture_says_when_the_full_output_could_not_be_saved(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    capture = Capture(10, str(blocker / "cell.txt"))
    capture.write_bytes(b"x" * 100)
    result = capture.finish()
    assert result.truncated
    assert result.saved_to is None
    assert "could not be saved" in result.text


def test_cell_runner_awaits_only_code_that_awaits() -> None:
    async def scenario() -> None:
        runner = CellRunner({})
        defined = await runner.run("async def f():\n    return 5\nf()")
        assert defined.value is not None
        assert defined.value.startswith("<coroutine object f")  # the coroutine is the value; it was not run
        await runner.run("_.close()")
        awaited = await runner.run("await f()")
        assert awaited.value == "5"
        gathered = await runner.run("import asyncio\nsum(await asyncio.gather(f(), f()))")
        assert gathered.value == "10"
        unprintable = await runner.run("class X:\n    def __repr__(self):\n        raise ValueError('no')\nX()")
        assert unprintable.value == "<repr() failed: ValueError: no>"
        huge = await runner.run("'x' * 50_000")
        assert huge.value is not None
        assert len(huge.value) < 11_000
        assert "more characters" in huge.value

    asyncio.run(scenario())


class _FakeHost:
    """The host's end of a guest channel, in a thread: answers each request with its own fields plus ``answer``.

    Replies are written a few bytes at a time and several at once, so the guest sees frames split over reads and
    reads holding more than one frame."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        reader = self.sock.makefile("rb")
        pending: list[bytes] = []
        for line in reader:
            frame = json.loads(line)
            self.requests.append(frame)
            if frame["type"] == "hang_up":
                break
            reply = {"type": "reply", "id": frame["id"], "answer": frame.get("question")}
            pending.append(json.dumps(reply).encode() + b"\n")
            if frame.get("batch") and len(pending) < 2:
                continue  # answered together with the next request
            data = b"".join(pending)
            pending.clear()
            for start in range(0, len(data), 7):
                self.sock.sendall(data[start : start + 7])
        self.sock.close()

    def exec_frame(self, code: str) -> None:
        self.sock.sendall(json.dumps({"type": "exec", "id": 99, "code": code}).encode() + b"\n")

    def join(self) -> None:
        self._thread.join(5)


@pytest.fixture
def channel_pair() -> Iterator[tuple[GuestChannel, _FakeHost]]:
    guest_end, host_end = socket.socketpair()
    host = _FakeHost(host_end)
    yield GuestChannel(guest_end), host
    guest_end.close()
    host.join()


def test_channel_answers_async_and_blocking_requests_from_any_thread(
    channel_pair: tuple[GuestChannel, _FakeHost],
) -> None:
    channel, host = channel_pair

    async def scenario() -> None:
        channel.start()
        # async requests, gathered (two of them answered in one write)
        answers = await asyncio.gather(
            channel.request({"type": "ask", "question": 1, "batch": True}),
            channel.request({"type": "ask", "question": 2}),
            *(channel.request({"type": "ask", "question": n}) for n in range(3, 8)),
        )
        assert [a["answer"] for a in answers] == list(range(1, 8))
        # a blocking request from the loop's own thread (a cell calling search_tools)
        assert channel.request_blocking({"type": "ask", "question": "loop"})["answer"] == "loop"
        # ... while async requests are in flight: their answers are read by the blocked caller and handed over
        in_flight = asyncio.ensure_future(channel.request({"type": "ask", "question": "async", "batch": True}))
        await asyncio.sleep(0.05)
        assert channel.request_blocking({"type": "ask", "question": "blocking"})["answer"] == "blocking"
        assert (await in_flight)["answer"] == "async"
        # from another thread while the loop is blocked (a cell joining a thread that searches)
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(channel.request_blocking({"type": "ask", "question": "t"})))
        thread.start()
        thread.join(5)
        assert len(box) == 1
        assert box[0]["answer"] == "t"

        # async requests made in another event loop, on a thread the loop is blocked joining (a skill's example)
        async def elsewhere() -> list[dict[str, Any]]:
            return await asyncio.gather(*(channel.request({"type": "ask", "question": f"other {n}"}) for n in range(3)))

        other: list[list[dict[str, Any]]] = []
        thread = threading.Thread(target=lambda: other.append(asyncio.run(elsewhere())))
        thread.start()
        thread.join(5)
        assert [a["answer"] for a in other[0]] == ["other 0", "other 1", "other 2"]
        # from other threads while the loop runs, alongside async requests
        threaded = [
            asyncio.to_thread(channel.request_blocking, {"type": "ask", "question": f"thread {n}"}) for n in range(4)
        ]
        mixed = await asyncio.gather(*threaded, *(channel.request({"type": "ask", "question": n}) for n in range(4)))
        assert [m["answer"] for m in mixed] == [f"thread {n}" for n in range(4)] + list(range(4))
        # the loop reads again after the threads' reading: exec requests and async answers still arrive
        host.exec_frame("print(1)")
        assert (await channel.next_exec()) == {"type": "exec", "id": 99, "code": "print(1)"}
        assert (await channel.request({"type": "ask", "question": "again"}))["answer"] == "again"
        # the host hangs up: waiting requests fail, and so do new ones; the exec queue ends
        with pytest.raises(ChannelClosed):
            await channel.request({"type": "hang_up"})
        assert await channel.next_exec() is None
        with pytest.raises(ChannelClosed):
            channel.request_blocking({"type": "ask", "question": "late"})

    asyncio.run(scenario())


def test_channel_survives_a_bad_frame_and_closes_on_an_oversized_one(
    channel_pair: tuple[GuestChannel, _FakeHost], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    channel, host = channel_pair
    import mcpexec.runtime._channel as channel_module

    monkeypatch.setattr(channel_module, "MAX_FRAME_BYTES", 64)

    async def scenario() -> None:
        channel.start()
        host.sock.sendall(b"not a frame\n")
        assert (await channel.request({"type": "ask", "question": "still here"}))["answer"] == "still here"
        waiting = asyncio.ensure_future(channel.next_exec())
        host.sock.sendall(b'{"type": "exec", "code": "' + b"x" * 100)
        assert await asyncio.wait_for(waiting, 5) is None

    asyncio.run(scenario())
    assert "bad frame from the host" in capfd.readouterr().err


class _Gate:
    """A request handler whose tool calls wait at a gate, counting how many are answered at once."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.full = anyio.Event()  # set once ``limit`` calls wait at the gate
        self.limit = 0
        self.now = 0
        self.most = 0

    async def tool_call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self.now += 1
        self.most = max(self.most, self.now)
        if self.now >= self.limit:
            self.full.set()
        try:
            await self.open.wait()
        finally:
            self.now -= 1
        return {"ok": True, "result": {"content": [{"type": "text", "text": arguments["n"]}]}}

    async def search(self, query: str, detail_level: str, limit: int, options: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "result": [query]}

    async def skill(self, action: str, fields: dict[str, Any]) -> dict[str, Any]:
        raise errors.MCPExecError("no skills here")


@pytest.mark.anyio
async def test_host_connection_bounds_concurrent_requests_and_keeps_reading() -> None:
    from mcpexec.sandbox._connection import MAX_CONCURRENT_REQUESTS, GuestConnection

    host_end, guest_end = socket.socketpair()
    guest_end.setblocking(False)
    gate = _Gate()
    gate.limit = MAX_CONCURRENT_REQUESTS
    calls = MAX_CONCURRENT_REQUESTS + 20
    received: list[dict[str, Any]] = []
    buffer = b""

    async def read_frames(count: int) -> None:
        nonlocal buffer
        with anyio.fail_after(10):
            while len(received) < count:
                await anyio.wait_readable(guest_end)
                buffer += guest_end.recv(1 << 20)
                *lines, buffer = buffer.split(b"\n")
                received.extend(decode(line) for line in lines)

    try:
        stream = await anyio.abc.UNIXSocketStream.from_socket(host_end)
        connection = GuestConnection(stream, gate)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(connection.serve)
            # every request in one write (the host reads them in one go), then a search and a cell's result
            burst = b"".join(
                encode({"type": "tool_call", "id": i, "server": "s", "tool": "t", "arguments": {"n": str(i)}})
                for i in range(calls)
            )
            guest_end.sendall(burst + encode({"type": "ready"}))
            with anyio.fail_after(10):
                await connection.wait_ready()  # read although every answering worker is busy
                await gate.full.wait()
            await anyio.sleep(0.05)
            assert gate.most == MAX_CONCURRENT_REQUESTS  # the bound holds; the rest wait
            gate.open.set()
            await read_frames(calls)
            guest_end.sendall(encode({"type": "search", "id": 10_000, "query": "q", "detail_level": "name_only"}))
            await read_frames(calls + 1)
            await connection.close()
            tasks.cancel_scope.cancel()
    finally:
        guest_end.close()
        host_end.close()
    results = {frame["id"]: frame for frame in received}
    assert sorted(results) == [*range(calls), 10_000]  # each request answered exactly once
    assert all(results[i]["result"]["content"][0]["text"] == str(i) for i in range(calls))
    assert results[10_000] == {"type": "search_result", "id": 10_000, "ok": True, "result": ["q"]}


def test_a_guest_on_stdin_stdout_keeps_user_output_off_the_channel(tmp_path: Path) -> None:
    from mcpexec.catalog import Catalog
    from mcpexec.sandbox._lib import bootstrap_stdio, sync_guest_lib

    lib = sync_guest_lib(tmp_path / "lib", Catalog([]))
    options = {"output_dir": str(tmp_path / "out")}
    guest = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", bootstrap_stdio(str(lib), options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert guest.stdin is not None
    assert guest.stdout is not None
    try:
        assert decode(guest.stdout.readline())["type"] == "ready"
        forged = json.dumps({"type": "exec_result", "id": 1, "value": "forged"})
        code = (
            f"import os, subprocess, sys\nforged = {forged!r}\n"
            "print(forged)\n"
            "os.write(1, (forged + '\\n').encode())\n"
            "subprocess.run([sys.executable, '-c', 'import sys; print(sys.argv[1])', forged])\n"
            "print(input.__name__, sys.stdin.read() == '')\n"
            "'naïve ✓'"
        )
        guest.stdin.write(encode({"type": "exec", "id": 1, "code": code}))
        guest.stdin.flush()
        line = guest.stdout.readline()
        assert line.isascii()  # a host decoding the channel's text chunk by chunk cannot split a character
        result = decode(line)
        assert result["type"] == "exec_result"
        assert result["value"] == repr("naïve ✓"), result["error"]
        assert result["stdout"].count('"forged"') == 3  # all three came back as output, none as a frame
        assert result["stdout"].endswith("input True\n")
        guest.stdin.close()  # the host hangs up: the guest exits
        assert guest.wait(10) == 0
        assert guest.stdout.read() == b""
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait(10)
        for stream in (guest.stdin, guest.stdout, guest.stderr):
            if stream is not None:
                stream.close()


class _PlainStream(anyio.abc.ByteStream):
    """A socket stream seen only as a byte stream (as E2B's is): the host's workers read it, not a callback."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self._inner = inner

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._inner.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._inner.send(item)

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()


@asynccontextmanager
async def _host_connection(reader: str, handler: Any) -> AsyncIterator[tuple[Any, socket.socket]]:
    """A host connection over a socketpair, read by the event loop or (as E2B's stream is) by its workers; and
    the guest's end of the pair."""
    host_end, guest_end = socket.socketpair()
    try:
        stream: anyio.abc.ByteStream = await anyio.abc.UNIXSocketStream.from_socket(host_end)
        yield (
            connection_module.GuestConnection(stream if reader == "event-loop" else _PlainStream(stream), handler),
            guest_end,
        )
    finally:
        guest_end.close()
        host_end.close()


@pytest.fixture(params=["event-loop", "workers"])
def reader(request: pytest.FixtureRequest) -> str:
    """Who reads the guest's frames on the host: the event loop (a socket on asyncio) or the workers."""
    return str(request.param)


@pytest.mark.anyio
async def test_host_connection_reassembles_split_frames_drops_garbage_and_hangs_up_on_an_oversized_frame(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "MAX_FRAME_BYTES", 4096)
    async with _host_connection(reader, _Gate()) as (connection, guest_end):
        request = encode({"type": "search", "id": 1, "query": "split", "detail_level": "name_only"})
        answers: list[dict[str, Any]] = []

        async def guest() -> None:
            guest_end.sendall(b"garbage\n" + request[:10])
            await anyio.sleep(0.05)
            guest_end.sendall(request[10:])
            answer = b""
            while not answer.endswith(b"\n"):
                await anyio.wait_readable(guest_end)
                answer += guest_end.recv(4096)
            answers.append(decode(answer))
            guest_end.sendall(b'{"type": "ready", "pad": "' + b"x" * 5000)  # no newline yet, and past the limit

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(guest)
                await connection.serve()  # returns once the oversized frame has hung up the session
    assert answers == [{"type": "search_result", "id": 1, "ok": True, "result": ["split"]}]
    assert connection.dropped_frames == 1
    assert connection.closed


@pytest.mark.anyio
async def test_a_guest_flooding_the_host_with_requests_gets_its_session_closed(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "MAX_WAITING_REQUESTS", 20)
    gate = _Gate()  # never opened: every request the host starts to answer waits, the rest queue up
    async with _host_connection(reader, gate) as (connection, guest_end):
        flood = b"".join(
            encode({"type": "tool_call", "id": i, "server": "s", "tool": "t", "arguments": {"n": str(i)}})
            for i in range(connection_module.MAX_CONCURRENT_REQUESTS + 100)
        )
        guest_end.sendall(flood)
        with anyio.fail_after(10):
            await connection.serve()  # returns: the host hung up instead of queueing without end
    assert connection.failure is not None
    assert "more requests than can wait for an answer (at most 20" in connection.failure
    assert gate.most <= connection_module.MAX_CONCURRENT_REQUESTS
