"""The sync bridge: ``SyncMCPHub`` over the real test server from plain functions, and ``run_sync``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import anyio.lowlevel
import anyio.to_thread
import psutil
import pytest
from conftest import TESTSERVER, testserver_config

from mcpexec._sync import SyncBridge, run_sync
from mcpexec.catalog import Catalog
from mcpexec.errors import ServerError, ToolCallError, ToolTimeout
from mcpexec.hub import MCPHub, ServerStatus, ToolStats
from mcpexec.results import ImageContent, ResourceContent
from mcpexec.sync_hub import SyncMCPHub


def _testserver_processes() -> list[psutil.Process]:
    """Live (non-zombie) descendants of this process running tests/servers/testserver.py."""
    found: list[psutil.Process] = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and str(TESTSERVER) in proc.cmdline():
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture
def hub() -> Iterator[SyncMCPHub]:
    with SyncMCPHub({"test": testserver_config()}) as opened:
        yield opened


# ------------------------------------------------------------------------------------------------ SyncMCPHub


def test_call_tool_returns_values(hub: SyncMCPHub) -> None:
    assert hub.call_tool("test", "add", {"a": 1, "b": 2}) == {"total": 3.0}
    assert hub.call_tool("test", "echo", {"text": "héllo"}) == "héllo"  # the SDK's {"result": ...} is unwrapped
    assert hub.call_tool("test", "rows", {"count": 2}) == [{"id": 0, "status": "done"}, {"id": 1, "status": "pending"}]
    image, resource, caption = hub.call_tool("test", "image")
    assert image == ImageContent(b"\x89PNG\r\n\x1a\nfake", "image/png")
    assert resource == ResourceContent(uri="file:///notes.txt", mime_type="text/plain", text="hello notes")
    assert caption == "caption"


def test_call_tool_raw_returns_the_wire_dict(hub: SyncMCPHub) -> None:
    raw = hub.call_tool_raw("test", "fail", {"message": "kaput"})
    assert raw["isError"] is True
    assert any("kaput" in block.get("text", "") for block in raw["content"])


def test_call_tool_raises_tool_call_error_on_fail(hub: SyncMCPHub) -> None:
    with pytest.raises(ToolCallError) as caught:
        hub.call_tool("test", "fail", {"message": "disk on fire"})
    error = caught.value
    assert not isinstance(error, ToolTimeout)
    assert "disk on fire" in error.message
    assert (error.server, error.tool) == ("test", "fail")
    # the session is still usable
    assert hub.call_tool("test", "add", {"a": 2, "b": 2}) == {"total": 4.0}


def test_call_tool_times_out_and_the_session_stays_usable(hub: SyncMCPHub) -> None:
    started = time.monotonic()
    with pytest.raises(ToolTimeout) as caught:
        hub.call_tool("test", "slow", {"seconds": 30}, timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 10
    assert caught.value.timeout == 0.3
    assert (caught.value.server, caught.value.tool) == ("test", "slow")
    assert isinstance(caught.value, ToolCallError)
    assert hub.call_tool("test", "slow", {"seconds": 0.01}, timeout=10) == "slept 0.01"
    stats = hub.stats()["test"]["slow"]
    assert (stats.calls, stats.errors, stats.timeouts) == (2, 1, 1)


def test_unknown_server_raises_server_error(hub: SyncMCPHub) -> None:
    with pytest.raises(ServerError, match="no such server"):
        hub.call_tool("nope", "add", {"a": 1, "b": 2})


def test_status_catalog_and_stats(hub: SyncMCPHub) -> None:
    status = hub.status()
    assert list(status) == ["test"]
    assert isinstance(status["test"], ServerStatus)
    assert status["test"].state == "ready"
    assert status["test"].error is None
    assert status["test"].info is not None
    assert status["test"].info.name == "testserver"

    catalog = hub.catalog
    assert isinstance(catalog, Catalog)
    assert catalog is hub.hub.catalog
    assert isinstance(hub.hub, MCPHub)
    names = {spec.name for spec in catalog.tools("test")}
    assert {"add", "echo", "fail", "slow", "rows", "image", "create_issue"} <= names
    assert status["test"].tool_count == len(catalog.tools("test"))
    assert catalog.get("test", "add").description == "Add two numbers and return the total."

    assert hub.stats() == {}
    hub.call_tool("test", "add", {"a": 1, "b": 2})
    hub.call_tool("test", "add", {"a": 3, "b": 4})
    with pytest.raises(ToolCallError):
        hub.call_tool("test", "fail", {"message": "x"})
    stats = hub.stats()
    assert set(stats) == {"test"}
    assert set(stats["test"]) == {"add", "fail"}
    add = stats["test"]["add"]
    assert isinstance(add, ToolStats)
    assert (add.calls, add.errors, add.timeouts) == (2, 0, 0)
    assert add.bytes_out > 0
    assert add.bytes_in > 0
    assert add.seconds > 0
    assert (stats["test"]["fail"].calls, stats["test"]["fail"].errors) == (1, 1)
    # stats() hands out copies
    add.calls = 99
    assert hub.stats()["test"]["add"].calls == 2


def test_refresh_returns_the_catalog(hub: SyncMCPHub) -> None:
    assert "dyn" not in {spec.name for spec in hub.catalog.tools("test")}
    hub.call_tool("test", "add_tool", {"name": "dyn"})
    catalog = hub.refresh("test")
    assert "dyn" in {spec.name for spec in catalog.tools("test")}
    assert hub.call_tool("test", "dyn", {"x": 5}) == "dyn:5"


def test_leaving_the_block_stops_the_server_process() -> None:
    with SyncMCPHub({"test": testserver_config()}) as hub:
        running = _testserver_processes()
        assert len(running) == 1
        assert hub.call_tool("test", "add", {"a": 1, "b": 1}) == {"total": 2.0}
        pid = running[0].pid
    assert _testserver_processes() == []
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert hub.status()["test"].state == "stopped"


def test_leaving_the_block_with_a_call_in_flight_stops_the_server_quickly() -> None:
    with SyncMCPHub({"test": testserver_config()}) as hub:
        with pytest.raises(ToolTimeout):
            hub.call_tool("test", "slow", {"seconds": 60}, timeout=0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 10
    assert _testserver_processes() == []


def test_leaving_the_block_on_an_exception_stops_the_server_and_keeps_the_exception() -> None:
    class Boom(Exception):
        pass

    def body() -> None:
        with SyncMCPHub({"test": testserver_config()}):
            assert len(_testserver_processes()) == 1
            raise Boom

    with pytest.raises(Boom):
        body()
    assert _testserver_processes() == []


def test_a_failing_server_is_reported_not_raised() -> None:
    with SyncMCPHub({"bad": testserver_config("--fail-at-start"), "good": testserver_config()}) as hub:
        status = hub.status()
        assert status["bad"].state == "failed"
        assert "missing database URL" in status["bad"].stderr_tail
        assert status["good"].state == "ready"
        assert hub.call_tool("good", "add", {"a": 1, "b": 2}) == {"total": 3.0}
    assert _testserver_processes() == []


def test_the_bridge_thread_ends_with_the_block() -> None:
    before = threading.active_count()
    with SyncMCPHub({"test": testserver_config()}) as hub:
        hub.call_tool("test", "add", {"a": 1, "b": 1})
        assert threading.active_count() > before
    assert threading.active_count() == before


def test_calls_outside_the_block_raise_runtime_error() -> None:
    hub = SyncMCPHub({"test": testserver_config()})
    with pytest.raises(RuntimeError, match="'with' block"):
        hub.call_tool("test", "add", {"a": 1, "b": 2})
    with hub:
        assert hub.call_tool("test", "add", {"a": 1, "b": 2}) == {"total": 3.0}
    with pytest.raises(RuntimeError, match="'with' block"):
        hub.call_tool("test", "add", {"a": 1, "b": 2})
    with pytest.raises(RuntimeError, match="'with' block"):
        hub.refresh()


# ------------------------------------------------------------------------------------------- inside a loop


@pytest.mark.anyio
async def test_sync_hub_refuses_to_run_inside_an_event_loop() -> None:
    hub = SyncMCPHub({"test": testserver_config()})  # constructing does no I/O
    with pytest.raises(RuntimeError, match=r"inside a running .*event loop; use the async API") as caught:
        hub.__enter__()
    assert "MCPHub" in str(caught.value)
    assert _testserver_processes() == []


@pytest.mark.anyio
async def test_run_sync_refuses_to_run_inside_an_event_loop() -> None:
    called = False

    async def work() -> int:
        nonlocal called
        called = True
        return 1

    with pytest.raises(RuntimeError, match="use the async API"):
        run_sync(work)
    assert not called


@pytest.mark.anyio
async def test_sync_api_works_from_a_worker_thread_of_a_running_loop() -> None:
    async def double(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return 2 * x

    with anyio.fail_after(30):
        assert await anyio.to_thread.run_sync(run_sync, double, 21) == 42


# -------------------------------------------------------------------------------------------------- run_sync


def test_run_sync_returns_the_result() -> None:
    async def combine(a: int, b: str) -> tuple[int, str, str]:
        await anyio.lowlevel.checkpoint()
        return a, b, anyio.get_current_task().name or ""

    a, b, _ = run_sync(combine, 7, "x")
    assert (a, b) == (7, "x")
    assert run_sync(anyio.sleep, 0) is None


def test_run_sync_runs_on_another_thread_and_leaves_none_behind() -> None:
    before = threading.active_count()

    async def where() -> int:
        return threading.get_ident()

    assert run_sync(where) != threading.get_ident()
    assert threading.active_count() == before


class CustomError(Exception):
    pass


@pytest.mark.parametrize(
    "error",
    [
        CustomError("custom"),
        ValueError("value"),
        ToolCallError("tool", server="s", tool="t"),
        ToolTimeout(server="s", tool="t", timeout=1.0),
        ExceptionGroup("group", [KeyError("k"), OSError("o")]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_run_sync_propagates_exceptions_unchanged(error: Exception) -> None:
    async def fail() -> None:
        await anyio.lowlevel.checkpoint()
        raise error

    with pytest.raises(type(error)) as caught:
        run_sync(fail)
    assert caught.value is error


def test_run_sync_propagates_timeouts_from_inside() -> None:
    async def too_slow() -> None:
        with anyio.fail_after(0.05):
            await anyio.sleep(30)

    with pytest.raises(TimeoutError):
        run_sync(too_slow)


def test_bridge_holds_async_state_across_calls() -> None:
    with SyncBridge() as bridge:
        event = bridge.call(_make_event)
        assert not event.is_set()
        bridge.call(_set_event, event)
        assert event.is_set()
    with pytest.raises(RuntimeError, match="not open"):
        bridge.call(_make_event)


async def _make_event() -> anyio.Event:
    return anyio.Event()


async def _set_event(event: anyio.Event) -> None:
    event.set()
