"""The E2B backend on its own: no paid sandbox is ever leaked, and what only E2B has (chunked stdout, message size
limits, keep-alive) — with the real E2B SDK against mcpexec.testing's local fake of E2B.

The behaviour every backend shares (state, await, gather, output caps, errors, timeouts, workspace, skills) runs on
E2B too, in tests/test_executor.py and tests/test_executor_pii_skills.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcpexec import CodeExecutor
from mcpexec.approvals import ApprovalNeeded
from mcpexec.errors import SandboxError, UsageError
from mcpexec.execution import ExecutionResult
from mcpexec.policy import Policy
from mcpexec.sandbox.e2b import E2BSandbox, E2BWorkspace
from mcpexec.testing import FakeE2B
from tests.conftest import ROOT, e2b_sandbox, testserver_config

pytestmark = pytest.mark.anyio


def servers() -> dict[str, Any]:
    return {"test": testserver_config()}


@pytest.fixture
def fake() -> Iterator[FakeE2B]:
    """A fake of E2B of this test's own (so what it records is this test's)."""
    with FakeE2B() as instance:
        yield instance


def current_guest_pid(ex: CodeExecutor) -> int:
    sandbox = ex.sandbox
    assert isinstance(sandbox, E2BSandbox)
    guest = sandbox._guest  # pyright: ignore[reportPrivateUsage]
    assert guest is not None
    return int(guest.handle.pid)


async def assert_none_leaked(fake: FakeE2B) -> None:
    await fake.until(lambda: not fake.alive(), timeout=10)
    assert set(fake.created) == set(fake.killed)


async def test_closing_kills_the_sandbox_and_a_new_session_reuses_it(fake: FakeE2B) -> None:
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake)) as ex:
        assert (await ex.execute("x = 1\nx + 1")).value == "2"
        sandbox = ex.sandbox
        assert isinstance(sandbox, E2BSandbox)
        [sandbox_id] = fake.alive()
        assert sandbox.sandbox_id == sandbox_id
        record = fake.sandbox(sandbox_id)
        assert record.metadata["created-by"] == "mcpexec"
        assert record.timeout == sandbox.idle_timeout
        await fake.until(lambda: len(fake.sandbox(sandbox_id).running()) == 2)  # the guest and a spare
        before = {process.pid for process in fake.sandbox(sandbox_id).running()}
        first_guest = current_guest_pid(ex)
        await ex.restart()  # a new session from the spare, same sandbox (workspace kept)
        assert current_guest_pid(ex) in before - {first_guest}
        assert (await ex.execute("'x' in globals()")).value == "False"
        await fake.until(lambda: len(fake.sandbox(sandbox_id).running()) == 2)  # the next spare
        assert fake.alive() == [sandbox_id]
    assert fake.killed == {sandbox_id: "api"}


async def test_a_refused_creation_is_a_clear_error_and_nothing_is_left(fake: FakeE2B) -> None:
    fake.refuse_creations(1)
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake)) as ex:
        with pytest.raises(SandboxError, match="E2B refused to create a sandbox"):
            await ex.start()
    assert fake.created == []
    assert fake.refused == 1


async def test_a_guest_that_cannot_start_gets_its_sandbox_killed(fake: FakeE2B) -> None:
    sandbox = e2b_sandbox(fake, python="no-such-python", start_timeout=20)
    async with CodeExecutor(servers(), sandbox=sandbox) as ex:
        with pytest.raises(SandboxError, match=r"the guest in the E2B sandbox (exited with status 127|ended)"):
            await ex.start()
    assert len(fake.created) == 1
    await assert_none_leaked(fake)


async def test_a_guest_killed_mid_cell_is_a_crash_and_the_next_cell_starts_afresh(fake: FakeE2B) -> None:
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake)) as ex:
        await ex.execute("marker = 1")
        guest_pid = current_guest_pid(ex)
        results: list[ExecutionResult] = []
        async with anyio.create_task_group() as tasks:

            async def run() -> None:
                results.append(await ex.execute("import time\ntime.sleep(30)"))

            tasks.start_soon(run)
            await anyio.sleep(1.0)
            fake.kill_process(guest_pid)
        [crashed] = results
        assert crashed.error is not None
        assert crashed.error.type == "SandboxCrashed"
        after = await ex.execute("'marker' in globals()")
        assert after.value == "False"
        assert after.state_lost
    await assert_none_leaked(fake)


async def test_cancelling_a_cell_or_the_start_leaks_nothing(fake: FakeE2B) -> None:
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake)) as ex:
        with anyio.move_on_after(1.0):
            await ex.execute("import time\ntime.sleep(30)")
        assert (await ex.execute("1 + 1")).state_lost  # the cancelled cell's guest was stopped
    fake.set_delay(0.5, plane="envd")
    with anyio.move_on_after(0.8):  # cancelled while the guest library is being uploaded
        async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake)) as ex:
            await ex.start()
    fake.set_delay(0)
    assert len(fake.created) == 2
    await assert_none_leaked(fake)


HOST_SCRIPT = """
import anyio, os, signal, sys
from mcpexec import CodeExecutor
from mcpexec.demo_servers import default_servers
from mcpexec.sandbox.e2b import E2BSandbox, E2BWorkspace

async def main():
    connection = {{"api_url": sys.argv[1], "sandbox_url": sys.argv[2]}}
    ex = CodeExecutor(default_servers(), sandbox=E2BSandbox(idle_timeout=5, connection=connection))
    await ex.__aenter__()
    print((await ex.execute("6 * 7")).value, ex.sandbox.sandbox_id, flush=True)
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    # "exit": the interpreter exits with the executor still open

anyio.run(main)
"""


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_host_that_exits_or_dies_leaves_no_sandbox_running(fake: FakeE2B, tmp_path: Path, how: str) -> None:
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(HOST_SCRIPT.format()))
    env = {**os.environ, "E2B_API_KEY": fake.api_key, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), fake.api_url, fake.sandbox_url, how],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    value, sandbox_id = done.stdout.split() or ("", done.stderr[-3000:])
    assert value == "42", done.stderr
    if how == "exit":
        assert done.returncode == 0, done.stderr
        assert fake.killed.get(sandbox_id) == "api"  # killed by the exit hook, at once
    else:
        assert done.returncode == -signal.SIGKILL
        assert sandbox_id in fake.alive()
        started = time.monotonic()
        fake.wait_until(lambda: sandbox_id not in fake.alive(), timeout=15)  # its idle timeout lapses
        assert fake.killed[sandbox_id] == "timeout"
        assert time.monotonic() - started < 10


async def test_the_sandbox_is_kept_alive_while_a_cell_runs(fake: FakeE2B) -> None:
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake, idle_timeout=5), cell_timeout=30) as ex:
        result = await ex.execute("import time\ntime.sleep(7)\n'still here'")
        assert result.value == "'still here'", result.to_text()
        assert not result.state_lost
        assert len(fake.alive()) == 1
    await assert_none_leaked(fake)


async def test_frames_survive_chunked_stdout_and_the_message_size_limit(tmp_path: Path) -> None:
    with FakeE2B(chunking="random", seed=7) as fake:
        async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake), cell_timeout=60) as ex:
            code = (
                "import asyncio\nfrom servers.test import echo\n"
                "big = 'ünïcødé ✓ ' * 400_000\n"  # ~4.4 MB each way: several stdin writes, many stdout chunks
                "back = await echo(text=big)\n"
                "small = await asyncio.gather(*(echo(text=f'é{i}') for i in range(50)))\n"
                "print(back == big, small[49], len(back))"
            )
            result = await ex.execute(code)
            assert result.stdout == f"True é49 {len('ünïcødé ✓ ') * 400_000}\n", result.to_text()
        await assert_none_leaked(fake)


async def test_a_call_waiting_for_approval_stops_the_cell_timeout_on_e2b(fake: FakeE2B) -> None:
    policy = Policy(approval="always")
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake), cell_timeout=1.0, policy=policy) as ex:
        step = await ex.approvals.run("k", "from servers.test import echo\nawait echo(text='ok')")
        assert isinstance(step, ApprovalNeeded)
        await anyio.sleep(1.5)
        result = await ex.approvals.answer("k", 0, True)
        assert isinstance(result, ExecutionResult)
        assert result.value == "'ok'", result.to_text()


async def test_workspace_files_through_the_e2b_files_api(fake: FakeE2B) -> None:
    async with CodeExecutor(servers(), sandbox=e2b_sandbox(fake)) as ex:
        await ex.start()
        workspace = ex.workspace
        assert isinstance(workspace, E2BWorkspace)
        await workspace.write_text("in/data.txt", "3 4")
        result = await ex.execute(
            "a, b = open('in/data.txt').read().split()\nopen('out.txt', 'w').write(str(int(a) * int(b)))"
        )
        assert result.ok, result.to_text()
        assert await workspace.read_text("out.txt") == "12"
        assert {"in/data.txt", "out.txt"} <= set(await workspace.files())
        with pytest.raises(UsageError, match="stay inside it"):
            await workspace.read_text("/etc/passwd")
        with pytest.raises(UsageError, match=r"cannot read 'missing\.txt'"):
            await workspace.read_text("missing.txt")


def test_options_are_checked_and_a_missing_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="idle_timeout"):
        E2BSandbox(idle_timeout=1)
    with pytest.raises(UsageError, match="max_stdout_chars"):
        E2BSandbox(max_stdout_chars=-1)
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(UsageError, match="E2B_API_KEY"):
        E2BSandbox()._sdk_options()  # pyright: ignore[reportPrivateUsage]
    assert E2BSandbox().isolation.network.startswith("no internet access")
    assert E2BSandbox(allow_internet=True).isolation.network.startswith("internet access on")
