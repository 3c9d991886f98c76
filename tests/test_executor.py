"""CodeExecutor end to end: agent code in the local sandbox calling real MCP servers through the bridge."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
import pytest

from mcpexec.demo_servers import default_servers
from mcpexec.errors import UsageError
from mcpexec.executor import CodeExecutor
from tests.conftest import BACKENDS, maybe_await, rawserver_config, sandbox_options, testserver_config

pytestmark = pytest.mark.anyio


def reachable(path: Path) -> Path:
    """pytest's tmp_path is private to root (0700 parents); the sandbox may run as another uid."""
    for parent in [path, *path.parents][:4]:
        if parent.is_relative_to("/tmp"):
            parent.chmod(parent.stat().st_mode | 0o711)
    return path


@pytest.fixture(params=BACKENDS)
async def ex(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CodeExecutor]:
    """An executor on each sandbox backend: these tests are the behaviour every backend must have."""
    servers = {**default_servers(), "test": testserver_config(), "raw": rawserver_config()}
    options = sandbox_options(request.param, request, reachable(tmp_path) / "ws")
    async with CodeExecutor(servers, cell_timeout=20, **options) as executor:
        yield executor


async def test_the_seeds_data_filtering_cell_prints_only_what_it_selects(ex: CodeExecutor) -> None:
    code = (
        "from servers.sheets import get_sheet\n"
        "rows = await get_sheet(sheet_id='orders-archive')\n"
        "pending = [r for r in rows if r['status'] == 'pending']\n"
        "print(f'{len(rows)} rows, {len(pending)} pending')\n"
        "for row in pending[:5]:\n"
        "    print(row['order_id'], row['amount'])\n"
    )
    result = await ex.execute(code)
    assert result.ok, result.to_text()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("10000 rows, ")
    assert len(lines) == 6
    assert all(line.startswith("ORD-") for line in lines[1:])
    assert len(result.to_text()) < 400  # ~1.3 MB of rows stayed in the sandbox
    assert [(c.server, c.tool, c.status) for c in result.tool_calls] == [("sheets", "get_sheet", "ok")]


async def test_state_persists_and_the_last_expression_is_the_value(ex: CodeExecutor) -> None:
    first = await ex.execute("import json\ncount = 40\ncount + 2")
    assert first.value == "42"
    second = await ex.execute("count += 1\njson.dumps({'c': count})")
    assert second.value == "'{\"c\": 41}'"
    assert (await ex.execute("_")).value == "'{\"c\": 41}'"
    assert (await ex.execute("x = 1")).value is None


async def test_gathered_calls_are_served_concurrently(ex: CodeExecutor) -> None:
    code = (
        "import asyncio, time\n"
        "from servers.test import slow\n"
        "t = time.perf_counter()\n"
        "answers = await asyncio.gather(*(slow(seconds=0.5) for _ in range(8)))\n"
        "print(len(answers), round(time.perf_counter() - t, 1))\n"
    )
    result = await ex.execute(code)
    assert result.ok, result.to_text()
    count, seconds = result.stdout.split()
    assert count == "8"
    assert float(seconds) < 2.5  # 8 x 0.5 s one after another would take 4 s
    assert len(result.tool_calls) == 8


async def test_results_are_typed_python_data(ex: CodeExecutor) -> None:
    code = (
        "from servers.test import add, rows, image, echo\n"
        "total = await add(a=2, b=3)\n"
        "table = await rows(count=2)\n"
        "blocks = await image()\n"
        "text = await echo(text='{not json')\n"
        "print(type(total).__name__, total, type(table).__name__, table[1]['status'], repr(text))\n"
        "print([type(b).__name__ for b in blocks], blocks[0].mime_type, blocks[0].data[:4], blocks[1].text)\n"
    )
    result = await ex.execute(code)
    assert result.ok, result.to_text()
    first, second = result.stdout.splitlines()
    assert first == "dict {'total': 5.0} list pending '{not json'"
    assert second == "['ImageContent', 'ResourceContent', 'str'] image/png b'\\x89PNG' hello notes"


async def test_structured_content_is_checked_against_the_output_schema(ex: CodeExecutor) -> None:
    good = await ex.execute("from servers.raw import count\nawait count()")
    assert good.value == "{'count': 3}", good.to_text()
    bad = await ex.execute("await count(wrong=True)")
    assert bad.error is not None
    assert bad.error.type == "ToolCallError"
    assert "raw.count" in bad.error.message
    assert "'many'" in bad.error.message or "integer" in bad.error.message


async def test_tool_errors_are_catchable_exceptions_with_the_servers_message(ex: CodeExecutor) -> None:
    code = (
        "from servers.test import fail\n"
        "from mcpexec.errors import ToolCallError\n"
        "try:\n"
        "    await fail(message='quota exceeded')\n"
        "except ToolCallError as e:\n"
        "    print(type(e).__name__, e.server, e.tool, 'quota exceeded' in str(e))\n"
    )
    result = await ex.execute(code)
    assert result.stdout == "ToolCallError test fail True\n", result.to_text()
    assert [c.status for c in result.tool_calls] == ["error"]


async def test_wrong_arguments_are_refused_on_the_host_naming_the_field(ex: CodeExecutor) -> None:
    result = await ex.execute("from servers.test import add\nawait add(a='two', b=3)")
    assert result.error is not None
    assert result.error.type == "ToolArgumentError"
    assert "'a'" in result.error.message
    assert "number" in result.error.message
    missing = await ex.execute("from servers.test import create_issue\nawait create_issue(owner='o', repo='r')")
    assert missing.error is not None
    assert "missing required argument 'title'" in missing.error.message
    assert "test" not in ex.hub.stats()  # the server never saw the bad calls


async def test_arguments_json_cannot_carry_are_refused_in_the_guest(ex: CodeExecutor) -> None:
    result = await ex.execute("from servers.test import echo\nawait echo(text={1, 2})")
    assert result.error is not None
    assert result.error.type == "TypeError"
    assert "argument 'text'" in result.error.message
    assert result.tool_calls == ()


async def test_tracebacks_show_only_user_code(ex: CodeExecutor) -> None:
    code = "from servers.test import fail\ndef step():\n    return fail(message='nope')\n\nawait step()\n"
    result = await ex.execute(code)
    assert result.error is not None
    trace = result.error.traceback
    assert '<cell 1>", line 5' in trace
    for plumbing in ("mcpexec/runtime", "asyncio", "servers/test", "_guest.py"):
        assert plumbing not in trace
    assert trace.rstrip().endswith("nope")


async def test_syntax_errors_and_sys_exit_leave_the_session_alive(ex: CodeExecutor) -> None:
    await ex.execute("keep = 'me'")
    syntax = await ex.execute("def broken(:\n    pass")
    assert syntax.error is not None
    assert syntax.error.type == "SyntaxError"
    assert "<cell 2>" in syntax.error.traceback
    leaving = await ex.execute("import sys\nsys.exit(3)")
    assert leaving.error is not None
    assert leaving.error.type == "SystemExit"
    after = await ex.execute("keep")
    assert after.value == "'me'"
    assert not after.state_lost


async def test_stdout_and_stderr_are_captured_apart_including_fd_writes_and_subprocesses(ex: CodeExecutor) -> None:
    code = (
        "import os, subprocess, sys\n"
        "print('to stdout')\n"
        "print('to stderr', file=sys.stderr)\n"
        "os.write(1, b'fd one\\n')\n"
        "os.write(2, b'fd two\\n')\n"
        "subprocess.run(['sh', '-c', 'echo child out; echo child err >&2'], check=True)\n"
    )
    result = await ex.execute(code)
    assert result.ok, result.to_text()
    assert result.stdout == "to stdout\nfd one\nchild out\n"
    assert result.stderr == "to stderr\nfd two\nchild err\n"


async def test_a_forged_frame_printed_by_user_code_is_just_output(ex: CodeExecutor) -> None:
    forged = '{"type":"exec_result","id":1,"value":"forged","error":null}'
    code = f"import os\nprint({forged!r})\nos.write(1, {forged!r}.encode() + b'\\n')\n'real'"
    result = await ex.execute(code)
    assert result.value == "'real'"
    assert result.stdout == forged + "\n" + forged + "\n"
    assert (await ex.execute("1 + 1")).value == "2"


async def test_long_output_is_capped_with_a_marker_and_saved_in_full(ex: CodeExecutor) -> None:
    code = "for i in range(20000):\n    print(f'line {i:05d}')\n"
    result = await ex.execute(code)
    assert result.stdout_truncated
    assert len(result.stdout) < 21_000
    assert result.stdout.startswith("line 00000\n")
    assert result.stdout.rstrip().endswith("line 19999")
    assert "characters omitted" in result.stdout
    (saved,) = result.saved_output
    assert saved in result.stdout
    full = await maybe_await(ex.workspace.read_text(saved))
    assert full.count("\n") == 20000
    assert "saved to" in result.to_text()


async def test_search_tools_works_inside_the_sandbox(ex: CodeExecutor) -> None:
    code = (
        "from mcpexec.runtime import search_tools\n"
        "hits = search_tools('get the orders sheet', 'with_description', 3)\n"
        "print(hits[0]['import'])\n"
        "print(search_tools('', 'name_only', 50, server='crm'))\n"
    )
    result = await ex.execute(code)
    assert result.ok, result.to_text()
    first, second = result.stdout.splitlines()
    assert first == "from servers.sheets import get_sheet"
    assert "crm.create_contact" in second
    assert "sheets." not in second
    bad = await ex.execute("from mcpexec.runtime import search_tools\nsearch_tools('x', 'everything')")
    assert bad.error is not None
    assert bad.error.type == "UsageError"
    assert "detail_level" in bad.error.message
    assert all(name.startswith("crm.") for name in ex.search_tools("contact", "name_only", 3))


async def test_the_workspace_is_the_working_directory_and_outlives_a_restart(ex: CodeExecutor) -> None:
    await ex.start()
    await maybe_await(ex.workspace.write_text("input/orders.csv", "id,amount\n1,5\n2,7\n"))
    code = (
        "import csv, os\n"
        "rows = list(csv.DictReader(open('input/orders.csv')))\n"
        "open('report.txt', 'w').write(str(sum(int(r['amount']) for r in rows)))\n"
        "os.getcwd() == os.environ['HOME']"
    )
    result = await ex.execute(code)
    assert result.value == "True", result.to_text()
    assert await maybe_await(ex.workspace.read_text("report.txt")) == "12"
    await ex.restart()
    after = await ex.execute("open('report.txt').read()")
    assert after.value == "'12'"
    with pytest.raises(UsageError, match=r"inside the workspace|stay inside it"):
        await maybe_await(ex.workspace.read_text("../outside.txt"))


async def test_host_environment_does_not_reach_the_sandbox(ex: CodeExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPEXEC_TEST_SECRET", "hunter2")
    await ex.restart()  # a guest started after the variable was set
    result = await ex.execute("import os\nsorted(os.environ)")
    assert result.ok, result.to_text()
    assert "MCPEXEC_TEST_SECRET" not in (result.value or "")
    assert "hunter2" not in (await ex.execute("open('/proc/self/environ','rb').read()")).to_text()


async def test_a_timeout_kills_the_process_tree_and_the_next_cell_says_state_was_lost(ex: CodeExecutor) -> None:
    await ex.execute("marker = 1")
    code = (
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        "open('sleep.pid', 'w').write(str(child.pid))\n"
        "while True:\n"
        "    pass\n"
    )
    result = await ex.execute(code, timeout=1.5)
    assert result.error is not None
    assert result.error.type == "ExecutionTimeout"
    assert "lost" in result.error.message
    after = await ex.execute("'marker' in globals()")
    assert after.value == "False"
    assert after.state_lost
    assert any("timeout" in note for note in after.notes)
    assert "new sandbox session" in after.to_text()
    sleeper = await maybe_await(ex.workspace.read_text("sleep.pid"))
    assert sleeper.isdigit()
    assert (await ex.execute("1")).state_lost is False


async def test_a_crash_is_reported_and_the_next_cell_runs_in_a_fresh_session(ex: CodeExecutor) -> None:
    result = await ex.execute("import os\nos._exit(7)")
    assert result.error is not None
    assert result.error.type == "SandboxCrashed"
    assert "status 7" in result.error.message
    after = await ex.execute("2 * 21")
    assert after.value == "42"
    assert after.state_lost


async def test_code_flooding_the_host_with_calls_ends_its_session_with_the_reason(
    ex: CodeExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mcpexec.sandbox._connection as connection_module

    monkeypatch.setattr(connection_module, "MAX_WAITING_REQUESTS", 50)  # the host's memory is what it protects
    code = "from servers.test import echo\nawait asyncio.gather(*(echo(text=str(i)) for i in range(3000)))"
    result = await ex.execute(f"import asyncio\n{code}")
    assert result.error is not None
    assert result.error.type == "SandboxCrashed"
    assert "more requests than can wait for an answer (at most 50" in result.error.message
    assert (await ex.execute("2 * 21")).value == "42"


async def test_bad_arguments_to_the_executor_are_usage_errors(ex: CodeExecutor) -> None:
    with pytest.raises(UsageError, match="timeout"):
        await ex.execute("1", timeout=0)
    with pytest.raises(UsageError, match="code must be a str"):
        await ex.execute(b"1")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="sandbox must be"):
        CodeExecutor({}, sandbox="docker")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="cell_timeout"):
        CodeExecutor({}, cell_timeout=-1)


def test_the_sync_api_runs_cells_from_plain_code(tmp_path: Path) -> None:
    config = {"mcpServers": {"test": dict(testserver_config())}}
    with CodeExecutor.from_config(config, workspace=reachable(tmp_path) / "ws") as ex:
        result = ex.execute_sync("from servers.test import echo\nawait echo(text='hi')")
        assert result.value == "'hi'"
        assert "test.echo" in ex.search_tools("echo text back")[0]
    assert not any(p for p in os.listdir(tmp_path) if p.startswith("mcpexec-session"))


async def test_execute_sync_works_from_other_threads_and_refuses_to_block_the_loop(ex: CodeExecutor) -> None:
    with pytest.raises(RuntimeError, match=r"await ex\.execute"):
        ex.execute_sync("1")
    result = await anyio.to_thread.run_sync(ex.execute_sync, "6 * 7")
    assert result.value == "42"


def test_execute_can_be_awaited_from_another_event_loop(tmp_path: Path) -> None:
    """An agent framework may run its own loop: the cell still runs on the executor's."""
    with CodeExecutor({"test": testserver_config()}, workspace=reachable(tmp_path) / "ws") as ex:
        result = asyncio.run(ex.execute("from servers.test import echo\nawait echo(text='elsewhere')"))
    assert result.value == "'elsewhere'"
