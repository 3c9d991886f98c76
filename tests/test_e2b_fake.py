"""``mcpexec.testing.FakeE2B``: the real ``e2b`` SDK (``e2b_code_interpreter.AsyncSandbox`` and ``e2b.AsyncSandbox``)
against the local fake of E2B — commands, stdin, files, timeouts, kills, and the injected faults."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from e2b import AsyncSandbox as BaseAsyncSandbox
from e2b import (
    AuthenticationException,
    CommandExitException,
    FileNotFoundException,
    Sandbox,
    SandboxException,
    SandboxNotRunningException,
    SandboxQuery,
    SandboxUnreachableException,
    TimeoutException,
)
from e2b_code_interpreter import AsyncSandbox

import mcpexec.testing
from mcpexec.testing import FakeE2B

pytestmark = pytest.mark.anyio

PUBLIC = [
    "Chunking",
    "DropMode",
    "FakeE2B",
    "Isolation",
    "KillReason",
    "ProcessRecord",
    "SandboxRecord",
    "SdkKwargs",
]


@pytest.fixture
def fake() -> Iterator[FakeE2B]:
    with FakeE2B() as server:
        yield server
    assert server.alive() == []


async def create(fake: FakeE2B, **options: object) -> AsyncSandbox:
    options.setdefault("timeout", 60)
    return await AsyncSandbox.create(**options, **fake.sdk_kwargs())  # type: ignore[arg-type]


def test_public_api_is_pinned() -> None:
    assert sorted(mcpexec.testing.__all__) == PUBLIC
    assert (mcpexec.testing.__doc__ or "").strip()
    assert (FakeE2B.__doc__ or "").strip()


async def test_run_returns_stdout_stderr_and_exit_code(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake, metadata={"owner": "tests"})
        result = await sandbox.commands.run("echo hi; echo oops >&2")
        assert (result.stdout, result.stderr, result.exit_code) == ("hi\n", "oops\n", 0)
        with pytest.raises(CommandExitException) as failed:
            await sandbox.commands.run("echo partial; exit 3")
        assert (failed.value.exit_code, failed.value.stdout) == (3, "partial\n")
        assert (await sandbox.commands.run("python3 -c 'print(6 * 7)'")).stdout == "42\n"

        record = fake.sandbox(sandbox.sandbox_id)
        assert fake.created == [sandbox.sandbox_id]
        assert (record.template, dict(record.metadata), record.timeout, record.alive) == (
            "code-interpreter-v1",
            {"owner": "tests"},
            60,
            True,
        )
        assert [p.args[-1] for p in record.processes][:2] == ["echo hi; echo oops >&2", "echo partial; exit 3"]
        assert [p.exit_code for p in record.processes] == [0, 3, 0]
        assert record.running() == ()


async def test_envs_from_create_and_from_run_and_cwd(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake, envs={"A": "from-create", "B": "from-create"})
        result = await sandbox.commands.run('echo "$A $B $C $HOME"', envs={"B": "from-run", "C": "c"})
        assert result.stdout == "from-create from-run c /home/user\n"
        await sandbox.files.make_dir("/home/user/work")
        assert (await sandbox.commands.run("pwd", cwd="/home/user/work")).stdout == "/home/user/work\n"
        with pytest.raises(SandboxException):
            await sandbox.commands.run("pwd", cwd="/home/user/missing")
        process = fake.sandbox(sandbox.sandbox_id).processes[0]
        assert dict(process.envs) == {"B": "from-run", "C": "c"}
        assert process.cmd == "/bin/bash"
        assert process.args[:2] == ("-l", "-c")


@pytest.mark.parametrize("isolation", ["bwrap", "none"])
async def test_files_round_trip_is_what_commands_see(isolation: str) -> None:
    with FakeE2B(isolation="auto" if isolation == "bwrap" else "none") as fake:
        if fake.isolation != isolation:
            pytest.skip(f"bubblewrap does not run here: {fake.isolation_error}")
        with anyio.fail_after(20):
            sandbox = await create(fake)
            await sandbox.files.write("/home/user/x.txt", "first\n")
            infos = await sandbox.files.write_files(
                [{"path": "dir/y.txt", "data": "second\n"}, {"path": "/home/user/z.bin", "data": b"\x00\xff"}]
            )
            assert [i.path for i in infos] == ["/home/user/dir/y.txt", "/home/user/z.bin"]
            home = "/home/user" if isolation == "bwrap" else "."
            shown = await sandbox.commands.run(f"cat {home}/x.txt dir/y.txt && wc -c < z.bin")
            assert shown.stdout == "first\nsecond\n2\n"
            await sandbox.commands.run(f"echo made by a command > {home}/dir/made.txt")
            assert await sandbox.files.read("dir/made.txt") == "made by a command\n"
            assert await sandbox.files.read("/home/user/z.bin", format="bytes") == bytearray(b"\x00\xff")
            assert (fake.sandbox(sandbox.sandbox_id).home / "x.txt").read_text() == "first\n"


async def test_filesystem_service(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake)
        assert await sandbox.files.make_dir("a/b")
        assert not await sandbox.files.make_dir("/home/user/a/b")
        await sandbox.files.write("a/b/f.txt", "data")
        assert await sandbox.files.exists("a/b/f.txt")
        assert not await sandbox.files.exists("a/nope")
        info = await sandbox.files.get_info("/home/user/a/b/f.txt")
        assert (info.name, info.type.value if info.type else None, info.size) == ("f.txt", "file", 4)
        listed = await sandbox.files.list("a", depth=2)
        assert [e.path for e in listed] == ["/home/user/a/b", "/home/user/a/b/f.txt"]
        moved = await sandbox.files.rename("a/b/f.txt", "/tmp/g.txt")
        assert moved.path == "/tmp/g.txt"
        assert (await sandbox.commands.run("cat /tmp/g.txt")).stdout == "data"
        await sandbox.files.remove("a")
        assert not await sandbox.files.exists("a")
        with pytest.raises(FileNotFoundException):
            await sandbox.files.read("a/b/f.txt")
        with pytest.raises(SandboxException):
            await sandbox.files.write("/etc/not-in-the-sandbox", "x")


@pytest.mark.parametrize("chunking", ["natural", "random"])
async def test_background_command_with_stdin(chunking: str) -> None:
    with FakeE2B(chunking="random" if chunking == "random" else "natural", seed=7) as fake, anyio.fail_after(20):
        sandbox = await create(fake)
        chunks: list[str] = []
        handle = await sandbox.commands.run("cat", background=True, stdin=True, on_stdout=chunks.append, timeout=0)
        lines = [f"line {i} é\n" for i in range(40)]
        for line in lines[:20]:
            await handle.send_stdin(line)
        stream = sandbox.commands.stream_input(handle.pid)
        for line in lines[20:]:
            await stream.send(line)
        await stream.close()
        await handle.close_stdin()
        result = await handle.wait()
        assert result.stdout == "".join(lines) == "".join(chunks)
        if chunking == "random":
            assert any(not chunk.endswith("\n") for chunk in chunks), "random chunking should split lines"
        assert fake.sandbox(sandbox.sandbox_id).processes[0].stdin


async def test_kill_a_command(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake)
        handle = await sandbox.commands.run("sleep 30", background=True)
        assert [p.pid for p in await sandbox.commands.list()] == [handle.pid]
        assert await handle.kill()
        with pytest.raises(CommandExitException) as ended:
            await handle.wait()
        assert ended.value.exit_code == -1
        assert not await sandbox.commands.kill(handle.pid)
        process = fake.sandbox(sandbox.sandbox_id).processes[0]
        assert (process.running, process.killed_by, process.status) == (False, "signal", "signal: killed")
        assert await sandbox.commands.list() == []

        # a signal other than SIGKILL reaches the command itself, which may handle it
        said: list[str] = []
        script = "trap 'echo bye; exit 7' TERM; echo ready; sleep 30 & wait"
        handle = await sandbox.commands.run(script, background=True, on_stdout=said.append)
        await fake.until(lambda: "ready" in "".join(said))
        fake.kill_process(handle.pid, signum=signal.SIGTERM)
        with pytest.raises(CommandExitException) as ended:
            await handle.wait()
        assert (ended.value.exit_code, ended.value.stdout) == (7, "ready\nbye\n")


async def test_command_timeout_kills_the_command(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake)
        started = time.monotonic()
        with pytest.raises(TimeoutException):
            await sandbox.commands.run("sleep 30", timeout=1)
        assert time.monotonic() - started < 5
        await fake.until(lambda: not fake.sandbox(sandbox.sandbox_id).running())
        process = fake.sandbox(sandbox.sandbox_id).processes[0]
        assert (process.killed_by, process.exit_code) == ("timeout", -1)
        # timeout=0 means no limit: a background command outlives the default 60 s only by that; here, just alive
        handle = await sandbox.commands.run("sleep 30", background=True, timeout=0)
        assert fake.sandbox(sandbox.sandbox_id).running()[0].pid == handle.pid


async def test_sandbox_timeout_lapses_and_kills_it(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake)
        handle = await sandbox.commands.run("sleep 30", background=True, timeout=0)
        again = await AsyncSandbox.connect(sandbox.sandbox_id, **fake.sdk_kwargs())
        assert (await again.commands.run("echo connected")).stdout == "connected\n"
        await sandbox.set_timeout(1)
        assert fake.sandbox(sandbox.sandbox_id).timeout == 1
        await fake.until(lambda: sandbox.sandbox_id not in fake.alive())
        assert fake.killed == {sandbox.sandbox_id: "timeout"}
        with pytest.raises(SandboxNotRunningException):
            await handle.wait()
        assert not await sandbox.is_running()
        with pytest.raises(SandboxNotRunningException):
            await sandbox.commands.run("echo too late")
        record = fake.sandbox(sandbox.sandbox_id)
        assert record.processes[0].killed_by == "sandbox"
        assert not record.root.exists()


async def test_kill_and_info_through_the_api(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake, metadata={"k": "v"})
        other = await BaseAsyncSandbox.create(timeout=30, **fake.sdk_kwargs())
        info = await sandbox.get_info()
        assert (info.sandbox_id, info.metadata, info.template_id) == (
            sandbox.sandbox_id,
            {"k": "v"},
            AsyncSandbox.default_template,
        )
        paginator = AsyncSandbox.list(query=SandboxQuery(metadata={"k": "v"}), **fake.sdk_kwargs())
        assert [s.sandbox_id for s in await paginator.next_items()] == [sandbox.sandbox_id]

        handle = await sandbox.commands.run("sleep 30", background=True, timeout=0)
        await sandbox.kill()
        assert fake.killed == {sandbox.sandbox_id: "api"}
        assert fake.alive() == [other.sandbox_id]
        with pytest.raises(SandboxNotRunningException):
            await handle.wait()
        assert not await AsyncSandbox.kill(sandbox.sandbox_id, **fake.sdk_kwargs())
        assert not fake.sandbox(sandbox.sandbox_id).root.exists()
        await other.kill()


async def test_refused_creations(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        fake.refuse_creations()
        with pytest.raises(SandboxException, match="500"):
            await create(fake)
        fake.refuse_creations(2, status=503, retry_after=0)  # the SDK retries a 503 (3 times by default)
        sandbox = await create(fake)
        assert (fake.refused, fake.created) == (3, [sandbox.sandbox_id])


async def test_dropped_stream(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake)
        for how in ("reset", "error", "eof"):
            chunks: list[str] = []
            handle = await sandbox.commands.run(
                "while true; do echo tick; sleep 0.02; done", background=True, timeout=0, on_stdout=chunks.append
            )
            await fake.until(lambda: bool(chunks))  # noqa: B023 -- awaited within the iteration
            fake.drop_stream(handle.pid, how=how)
            with pytest.raises(Exception) as dropped:  # noqa: PT011 -- each mode ends differently, checked below
                await handle.wait()
            if how == "error":
                assert isinstance(dropped.value, SandboxUnreachableException)
            elif how == "eof":
                assert "without an end event" in str(dropped.value)
            assert not isinstance(dropped.value, CommandExitException)
            assert fake.sandbox(sandbox.sandbox_id).running()[-1].pid == handle.pid
            reattached = await sandbox.commands.connect(handle.pid)
            fake.kill_process(handle.pid)
            with pytest.raises(CommandExitException):
                await reattached.wait()
            assert fake.sandbox(sandbox.sandbox_id).processes[-1].killed_by == "injected"


async def test_injected_sandbox_kill_and_delays(fake: FakeE2B) -> None:
    with anyio.fail_after(20):
        sandbox = await create(fake)
        fake.set_delay(0.3, plane="envd")
        started = time.monotonic()
        await sandbox.commands.run("true")
        assert time.monotonic() - started >= 0.3
        fake.set_delay(0)
        assert fake.kill_sandbox(sandbox.sandbox_id)
        assert not fake.kill_sandbox(sandbox.sandbox_id)
        assert fake.killed == {sandbox.sandbox_id: "injected"}
        with pytest.raises(SandboxNotRunningException):
            await sandbox.files.read("x")


async def test_credentials_are_checked() -> None:
    with FakeE2B(strict_api_key=True) as fake, anyio.fail_after(20):
        with pytest.raises(AuthenticationException):
            await AsyncSandbox.create(api_key="e2b_wrong", api_url=fake.api_url, sandbox_url=fake.sandbox_url)
        sandbox = await create(fake)
        headers = {"E2b-Sandbox-Id": sandbox.sandbox_id, "E2b-Sandbox-Port": "49983", "X-Access-Token": "wrong"}
        async with httpx.AsyncClient(base_url=fake.sandbox_url) as client:
            assert (await client.get("/health", headers=headers)).status_code == 401
            assert (await client.get("/health", headers={**headers, "E2b-Sandbox-Id": "gone"})).status_code == 502
        url = sandbox.download_url("/home/user/.profile", use_signature_expiration=60)
        async with httpx.AsyncClient() as client:
            assert "PATH" in (await client.get(url, headers=headers)).text


async def test_environment_variables_point_the_sdk_at_the_fake(fake: FakeE2B, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    with anyio.fail_after(20):
        sandbox = await BaseAsyncSandbox.create(timeout=30)
        assert (await sandbox.commands.run("echo $E2B_SANDBOX_ID")).stdout == f"{sandbox.sandbox_id}\n"
        assert await BaseAsyncSandbox.kill(sandbox.sandbox_id)
    assert fake.killed == {sandbox.sandbox_id: "api"}


def test_sync_sdk_and_blocking_waits(fake: FakeE2B) -> None:
    sandbox = Sandbox.create(timeout=30, **fake.sdk_kwargs())
    assert sandbox.commands.run("echo sync").stdout == "sync\n"
    handle = sandbox.commands.run("sleep 30", background=True, timeout=1)
    fake.wait_until(lambda: not fake.sandbox(sandbox.sandbox_id).running())
    assert fake.sandbox(sandbox.sandbox_id).processes[-1].killed_by == "timeout"
    with pytest.raises(TimeoutException):
        handle.wait()
    with pytest.raises(TimeoutError):
        fake.wait_until(lambda: False, timeout=0.05)
    sandbox.kill()


async def test_stop_kills_live_sandboxes() -> None:
    threads_before = set(threading.enumerate())  # another fake (the suite's shared one) may be running
    fake = FakeE2B().start()
    try:
        with anyio.fail_after(20):
            first, second = await create(fake), await create(fake)
            handle = await first.commands.run("sleep 30", background=True, timeout=0)
            await second.commands.run("sleep 30", background=True, stdin=True, timeout=0)
            roots = [fake.sandbox(s.sandbox_id).root for s in (first, second)]
    finally:
        fake.stop()
    assert fake.killed == {first.sandbox_id: "shutdown", second.sandbox_id: "shutdown"}
    assert fake.alive() == []
    assert not any(root.exists() for root in roots)
    assert not roots[0].parent.exists()
    assert not [t for t in set(threading.enumerate()) - threads_before if t.name == "mcpexec-fake-e2b"]
    with anyio.fail_after(10), pytest.raises(SandboxException):  # the server is gone: unreachable
        await handle.wait()
    fake.stop()
