"""MCPHub against our real test server over stdio and streamable HTTP, including faults."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from conftest import HttpTestServer, rawserver_config, testserver_config

from mcpexec.config import ServerConfig, http_server, stdio_server
from mcpexec.errors import ConfigError, ServerError, ToolCallError, ToolTimeout
from mcpexec.hub import MCPHub, ServerStatus
from mcpexec.results import ImageContent, ResourceContent

pytestmark = [pytest.mark.anyio, pytest.mark.compat]


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


# -- start-up and catalog --------------------------------------------------------------------------------------


async def test_lists_tools_with_schemas_and_annotations() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        status = hub.status()["test"]
        assert status.state == "ready"
        assert status.info is not None
        assert status.info.name == "testserver"
        names = {tool.name for tool in hub.catalog.tools("test")}
        assert {"add", "create_issue", "echo", "fail", "slow", "crash", "image", "rows"} <= names
        issue = hub.tool("test", "create_issue")
        assert issue.title == "Create issue"
        assert issue.input_schema["required"] == ["owner", "repo", "title"]
        assert issue.output_schema is not None
        assert "number" in issue.output_schema["properties"]
        assert hub.tool("test", "add").annotations.read_only is True


async def test_paginated_tools_list_is_followed_to_the_end() -> None:
    async with MCPHub({"raw": rawserver_config("--tools", "25", "--page-size", "4")}) as hub:
        names = [tool.name for tool in hub.catalog.tools("raw")]
    assert len(names) == 29  # 25 numbered tools + malformed, garbage, echo-args, count over 8 pages
    assert [n for n in names if n.startswith("tool_")] == [f"tool_{i:03d}" for i in range(25)]


async def test_servers_start_concurrently() -> None:
    servers: dict[str, ServerConfig] = {f"s{i}": testserver_config() for i in range(4)}
    started = anyio.current_time()
    async with MCPHub(servers) as hub:
        elapsed = anyio.current_time() - started
        assert all(s.state == "ready" for s in hub.status().values())
    async with MCPHub({"one": testserver_config()}):
        single = anyio.current_time() - started - elapsed
    assert elapsed < 3 * single + 1.0  # four in parallel cost far less than four in a row


async def test_status_callback_reports_each_transition() -> None:
    seen: list[tuple[str, str]] = []

    def record(status: ServerStatus) -> None:
        seen.append((status.name, status.state))

    async with MCPHub({"ok": testserver_config(), "bad": testserver_config("--fail-at-start")}, on_status=record):
        pass
    assert ("ok", "starting") in seen
    assert ("ok", "ready") in seen
    assert ("bad", "failed") in seen
    assert seen[-1][1] == "stopped" or ("ok", "stopped") in seen


# -- calls and results -----------------------------------------------------------------------------------------


async def test_call_results_are_python_values() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        assert await hub.call_tool("test", "add", {"a": 2, "b": 3}) == {"total": 5.0}
        issue = await hub.call_tool(
            "test", "create_issue", {"owner": "o", "repo": "r", "title": "t", "labels": [{"name": "bug"}]}
        )
        assert issue == {"number": 42, "title": "o/r: t", "labels": [{"name": "bug", "color": "red"}], "assignee": None}
        assert await hub.call_tool("test", "echo", {"text": "hi"}) == "hi"  # the SDK's {"result": ...} unwrapped
        assert await hub.call_tool("test", "rows", {"count": 2}) == [
            {"id": 0, "status": "done"},
            {"id": 1, "status": "pending"},
        ]
        image, resource, caption = await hub.call_tool("test", "image")
        assert isinstance(image, ImageContent)
        assert image.data.startswith(b"\x89PNG")
        assert image.mime_type == "image/png"
        assert resource == ResourceContent(uri="file:///notes.txt", mime_type="text/plain", text="hello notes")
        assert caption == "caption"
        raw = await hub.call_tool_raw("test", "add", {"a": 1, "b": 1})
        assert raw["structuredContent"] == {"total": 2.0}
        assert raw["isError"] is False


async def test_tool_error_carries_the_server_message() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        with pytest.raises(ToolCallError, match="the database is on fire") as caught:
            await hub.call_tool("test", "fail", {"message": "the database is on fire"})
        assert (caught.value.server, caught.value.tool) == ("test", "fail")
        raw = await hub.call_tool_raw("test", "fail", {"message": "x"})
        assert raw["isError"] is True
        # the session is still fine
        assert await hub.call_tool("test", "echo", {"text": "after"}) == "after"


async def test_unknown_tool_and_bad_arguments_are_tool_errors() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        with pytest.raises(ToolCallError, match="nope"):
            await hub.call_tool("test", "nope", {})
        with pytest.raises(ToolCallError):
            await hub.call_tool("test", "add", {"a": "not a number", "b": 1})
        with pytest.raises(ServerError, match="no such server"):
            await hub.call_tool("missing", "add", {})
        with pytest.raises(ValueError, match="timeout"):
            await hub.call_tool("test", "add", {"a": 1, "b": 2}, timeout=0)


async def test_concurrent_calls_are_served_concurrently() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        results: list[Any] = []

        async def slow_call(i: int) -> None:
            results.append(await hub.call_tool("test", "slow", {"seconds": 0.5}))

        started = anyio.current_time()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(slow_call, i)
        assert len(results) == 10
        assert anyio.current_time() - started < 3.0  # ten half-second calls overlapped


async def test_counters_per_server_and_tool() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        await hub.call_tool("test", "echo", {"text": "x" * 1000})
        await hub.call_tool("test", "echo", {"text": "y"})
        with pytest.raises(ToolCallError):
            await hub.call_tool("test", "fail", {"message": "m"})
        with pytest.raises(ToolTimeout):
            await hub.call_tool("test", "slow", {"seconds": 5}, timeout=0.2)
        stats = hub.stats()["test"]
        assert stats["echo"].calls == 2
        assert stats["echo"].errors == 0
        assert stats["echo"].bytes_out > 1000
        assert stats["echo"].bytes_in > 1000
        assert stats["fail"].errors == 1
        assert stats["slow"].timeouts == 1
        total = hub.server_stats("test")
        assert total.calls == 4
        assert total.errors == 2


# -- faults ----------------------------------------------------------------------------------------------------


async def test_timeout_raises_and_session_stays_usable() -> None:
    async with MCPHub({"test": testserver_config(timeout=0.5)}) as hub:
        started = anyio.current_time()
        with pytest.raises(ToolTimeout) as caught:
            await hub.call_tool("test", "slow", {"seconds": 30})
        assert anyio.current_time() - started < 2.0
        assert caught.value.timeout == 0.5
        with pytest.raises(ToolTimeout):
            await hub.call_tool("test", "slow", {"seconds": 30}, timeout=0.2)
        assert await hub.call_tool("test", "echo", {"text": "alive"}) == "alive"
        assert hub.status()["test"].restarts == 0


async def test_server_failing_at_start_is_reported_and_others_work() -> None:
    servers = {"good": testserver_config(), "bad": testserver_config("--fail-at-start")}
    async with MCPHub(servers, max_restarts=1, restart_backoff=0.01) as hub:
        bad = hub.status()["bad"]
        assert bad.state == "failed"
        assert bad.error
        assert "missing database URL" in bad.stderr_tail
        assert "bad" in hub.catalog.servers
        assert hub.catalog.tools("bad") == ()
        assert await hub.call_tool("good", "echo", {"text": "fine"}) == "fine"
        with pytest.raises(ServerError, match="missing database URL") as caught:
            await hub.call_tool("bad", "echo", {"text": "x"})
        assert "restart" in str(caught.value)


async def test_command_not_found_is_reported() -> None:
    servers = {"good": testserver_config(), "ghost": stdio_server("/nonexistent/mcp-server-ghost")}
    async with MCPHub(servers) as hub:
        ghost = hub.status()["ghost"]
        assert ghost.state == "failed"
        assert "not found" in (ghost.error or "") or "No such file" in (ghost.error or "")
        assert hub.status()["good"].state == "ready"


async def test_server_hanging_at_start_times_out() -> None:
    servers = {"good": testserver_config(), "hang": testserver_config("--hang-at-start", startup_timeout=1.0)}
    with anyio.fail_after(15):
        async with MCPHub(servers) as hub:
            hang = hub.status()["hang"]
            assert hang.state == "failed"
            assert "did not start within 1 s" in (hang.error or "")
            assert await hub.call_tool("good", "echo", {"text": "ok"}) == "ok"


async def test_server_dying_mid_call_is_restarted_on_next_call() -> None:
    async with MCPHub({"test": testserver_config(), "other": testserver_config()}) as hub:
        with anyio.fail_after(10), pytest.raises(ServerError, match="died or hung up") as caught:
            await hub.call_tool("test", "crash", {})
        assert caught.value.server == "test"
        assert hub.status()["test"].state == "failed"
        assert await hub.call_tool("other", "echo", {"text": "unaffected"}) == "unaffected"
        assert await hub.call_tool("test", "echo", {"text": "back"}) == "back"
        assert hub.status()["test"].state == "ready"
        assert hub.status()["test"].restarts == 1


async def test_server_dying_while_idle_is_noticed_and_restarted() -> None:
    died = anyio.Event()

    def watch(status: ServerStatus) -> None:
        if status.name == "test" and status.state == "failed":
            died.set()

    async with MCPHub({"test": testserver_config()}, on_status=watch) as hub:
        assert await hub.call_tool("test", "exit_later", {"seconds": 0.2}) == "bye"
        with anyio.fail_after(10):
            await died.wait()  # noticed without any call
        status = hub.status()["test"]
        assert "closed the connection" in (status.error or "")
        assert "leaving on purpose" in status.stderr_tail
        assert await hub.call_tool("test", "echo", {"text": "again"}) == "again"  # this call restarts it
        assert hub.status()["test"].restarts == 1


async def test_server_crashing_on_every_start_gives_bounded_retries() -> None:
    async with MCPHub({"flaky": testserver_config("--crash-after", "1")}, max_restarts=2, restart_backoff=0.01) as hub:
        for expected_restarts in (0, 1, 2):  # exits on the first call of every life; each call restarts it once
            with pytest.raises(ServerError, match="died or hung up"):
                await hub.call_tool("flaky", "echo", {"text": "boom"})
            assert hub.status()["flaky"].restarts == expected_restarts
    # a server that can never start: the call fails after max_restarts + 1 attempts, within bounded time
    async with MCPHub({"dead": testserver_config("--fail-at-start")}, max_restarts=2, restart_backoff=0.01) as hub:
        starts_before = hub.status()["dead"].restarts
        with anyio.fail_after(20), pytest.raises(ServerError, match="3 restart attempts"):
            await hub.call_tool("dead", "echo", {"text": "x"})
        assert hub.status()["dead"].restarts == starts_before + 3


async def test_malformed_result_is_a_tool_error_and_server_keeps_serving() -> None:
    async with MCPHub({"raw": rawserver_config()}) as hub:
        with pytest.raises(ToolCallError, match="malformed result"):
            await hub.call_tool("raw", "malformed")
        assert await hub.call_tool("raw", "garbage") == "after garbage"
        assert await hub.call_tool("raw", "tool_001") == "001"


async def test_tools_list_changed_refreshes_the_catalog() -> None:
    changes: list[int] = []
    changed = anyio.Event()

    def on_change(catalog: Any) -> None:
        changes.append(len(catalog))
        if ("test", "fresh-tool") in catalog:
            changed.set()

    async with MCPHub({"test": testserver_config()}) as hub:
        hub.on_catalog_changed(on_change)
        before = len(hub.catalog)
        assert await hub.call_tool("test", "add_tool", {"name": "fresh-tool"}) == "fresh-tool"
        with anyio.fail_after(10):
            await changed.wait()
        assert ("test", "fresh-tool") in hub.catalog
        assert len(hub.catalog) == before + 1
        assert hub.tool("test", "fresh-tool").identifier == "fresh_tool"
        assert changes[-1] == before + 1
        assert await hub.call_tool("test", "fresh-tool", {"x": 3}) == "fresh-tool:3"


async def test_refresh_on_request() -> None:
    async with MCPHub({"raw": rawserver_config("--tools", "3")}) as hub:
        catalog = await hub.refresh()
        assert len(catalog.tools("raw")) == 7  # 3 numbered + malformed, garbage, echo-args, count


# -- streamable HTTP -------------------------------------------------------------------------------------------


async def test_streamable_http_server(http_test_server: HttpTestServer) -> None:
    servers = {"web": http_test_server.config(timeout=0.5), "local": testserver_config()}
    async with MCPHub(servers) as hub:
        assert hub.status()["web"].state == "ready"
        assert {t.name for t in hub.catalog.tools("web")} == {t.name for t in hub.catalog.tools("local")}
        assert await hub.call_tool("web", "add", {"a": 1, "b": 2}) == {"total": 3.0}
        with pytest.raises(ToolCallError, match="http says no"):
            await hub.call_tool("web", "fail", {"message": "http says no"})
        with pytest.raises(ToolTimeout):
            await hub.call_tool("web", "slow", {"seconds": 10})
        assert await hub.call_tool("web", "echo", {"text": "still"}) == "still"


async def test_http_headers_are_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcpexec.config import parse_config

    server = HttpTestServer("--require-token", "s3cret")
    try:
        monkeypatch.setenv("TEST_MCP_TOKEN", "s3cret")
        configs = parse_config(
            {
                "mcpServers": {
                    "authorized": {"url": server.url, "headers": {"Authorization": "Bearer ${TEST_MCP_TOKEN}"}},
                    "anonymous": {"url": server.url, "startupTimeout": 5},
                }
            }
        )
        with anyio.fail_after(30):
            async with MCPHub(configs, max_restarts=0) as hub:
                assert hub.status()["authorized"].state == "ready"
                assert await hub.call_tool("authorized", "echo", {"text": "with token"}) == "with token"
                anonymous = hub.status()["anonymous"]
                assert anonymous.state == "failed"
                assert "401" in (anonymous.error or "")
    finally:
        server.stop()


async def test_http_server_unreachable_is_reported() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    servers = {"web": http_server(f"http://127.0.0.1:{port}/mcp", startup_timeout=5), "local": testserver_config()}
    with anyio.fail_after(20):
        async with MCPHub(servers, max_restarts=0) as hub:
            assert hub.status()["web"].state == "failed"
            assert await hub.call_tool("local", "echo", {"text": "ok"}) == "ok"
            with pytest.raises(ServerError):
                await hub.call_tool("web", "echo", {"text": "x"})


async def test_http_server_that_goes_away_is_reconnected_when_it_is_back() -> None:
    server = HttpTestServer()
    try:
        async with MCPHub({"web": server.config(timeout=2)}, max_restarts=1, restart_backoff=0.05) as hub:
            assert await hub.call_tool("web", "echo", {"text": "one"}) == "one"
            server.stop()
            with anyio.fail_after(15), pytest.raises((ServerError, ToolTimeout)):
                await hub.call_tool("web", "echo", {"text": "two"})  # 2.x: refused at once; 1.x: times out
            server = HttpTestServer("--port", str(server.port))  # back, same address
            assert await hub.call_tool("web", "echo", {"text": "three"}) == "three"
            assert hub.status()["web"].state == "ready"
            assert hub.status()["web"].restarts >= 1
    finally:
        server.stop()


# -- shutdown --------------------------------------------------------------------------------------------------


async def test_exit_stops_every_server_process() -> None:
    before = _descendants()
    async with MCPHub({"a": testserver_config(), "b": testserver_config()}) as hub:
        await hub.call_tool("a", "echo", {"text": "x"})
        during = _descendants() - before
        assert len(during) >= 2
    assert not (_descendants() & during)


async def test_exit_after_body_raised_stops_servers() -> None:
    before = _descendants()
    during: set[int] = set()

    async def body() -> None:
        nonlocal during
        async with MCPHub({"a": testserver_config()}):
            during = _descendants() - before
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):  # the body's own exception, not an ExceptionGroup
        await body()
    assert during
    assert not (_descendants() & during)


async def test_exit_after_cancellation_stops_servers() -> None:
    before = _descendants()
    during: set[int] = set()
    with anyio.move_on_after(1.0) as scope:
        async with MCPHub({"a": testserver_config()}) as hub:
            during = _descendants() - before
            await hub.call_tool("a", "slow", {"seconds": 30}, timeout=60)
    assert scope.cancelled_caught
    assert during
    assert not (_descendants() & during)


async def test_hub_is_not_reentrant_and_needs_opening() -> None:
    hub = MCPHub({"a": testserver_config()})
    with pytest.raises(RuntimeError, match="not open"):
        await hub.call_tool("a", "echo", {"text": "x"})
    async with hub:
        with pytest.raises(RuntimeError, match="already open"):
            await hub.__aenter__()


def test_bad_config_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        MCPHub({"bad name!": stdio_server(sys.executable)})
