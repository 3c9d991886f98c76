"""Hub overhead, measured side by side in one run against the same real MCP server (our test server, stdio).

Prints, for N sequential ``echo`` calls: the direct ``mcp`` SDK ``ClientSession.call_tool`` time, the
``MCPHub.call_tool`` time (timeout, counters, result normalization on top) and their ratio; then the wall time of
starting K servers concurrently with the hub versus K times one server. Run: ``python benchmarks/hub_overhead.py``.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcpexec._compat import IS_MCP2
from mcpexec.config import stdio_server
from mcpexec.hub import MCPHub

SERVER = Path(__file__).resolve().parent.parent / "tests" / "servers" / "testserver.py"
CALLS = 300
SERVERS = 4


async def _timed_calls(session: ClientSession, calls: int) -> float:
    await session.call_tool("echo", {"text": "warm-up"})
    started = time.perf_counter()
    for i in range(calls):
        await session.call_tool("echo", {"text": f"call {i}"})
    return time.perf_counter() - started


async def direct_sdk_seconds(calls: int, *, handshake: bool = False) -> float:
    """``calls`` sequential ``echo`` calls made directly with an ``mcp`` ``ClientSession``.

    By default the session is the one ``mcp.Client`` opens — the protocol version the hub negotiates too (on
    mcp 2.x the 2026 stateless protocol, whose per-request metadata costs the server time on every call); with
    ``handshake=True``, a bare ``ClientSession`` with the classic ``initialize`` handshake (older protocol).
    """
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    if handshake or not IS_MCP2:
        with tempfile.TemporaryFile("w+") as errlog:
            async with stdio_client(params, errlog=errlog) as streams, ClientSession(*streams[:2]) as session:
                await session.initialize()
                return await _timed_calls(session, calls)
    mcp: Any = importlib.import_module("mcp")  # mcp.Client exists on 2.x only
    async with mcp.Client(params) as client:
        return await _timed_calls(client.session, calls)


async def hub_seconds(calls: int) -> float:
    async with MCPHub({"test": stdio_server(sys.executable, str(SERVER))}) as hub:
        await hub.call_tool("test", "echo", {"text": "warm-up"})
        started = time.perf_counter()
        for i in range(calls):
            await hub.call_tool("test", "echo", {"text": f"call {i}"})
        return time.perf_counter() - started


async def startup_seconds(count: int) -> float:
    started = time.perf_counter()
    async with MCPHub({f"s{i}": stdio_server(sys.executable, str(SERVER)) for i in range(count)}):
        return time.perf_counter() - started


async def main() -> None:
    direct, classic, hub = [], [], []
    for _ in range(3):  # interleaved rounds, median of each
        direct.append(await direct_sdk_seconds(CALLS))
        classic.append(await direct_sdk_seconds(CALLS, handshake=True))
        hub.append(await hub_seconds(CALLS))
    d, c, h = statistics.median(direct), statistics.median(classic), statistics.median(hub)
    print(f"{CALLS} sequential echo calls over stdio (median of 3 interleaved rounds)")
    print(f"  direct ClientSession, same protocol as the hub: {d * 1e3 / CALLS:8.3f} ms/call")
    print(f"  direct ClientSession, initialize handshake:     {c * 1e3 / CALLS:8.3f} ms/call")
    print(f"  mcpexec MCPHub.call_tool:                       {h * 1e3 / CALLS:8.3f} ms/call")
    print(f"  ratio hub / direct (same protocol):             {h / d:8.2f}x   (vs handshake: {h / c:.2f}x)")
    one = statistics.median([await startup_seconds(1) for _ in range(3)])
    many = statistics.median([await startup_seconds(SERVERS) for _ in range(3)])
    print(
        f"start-up of {SERVERS} servers concurrently: {many:.2f} s vs one server {one:.2f} s "
        f"(sequential would be ~{SERVERS * one:.2f} s; speed-up {SERVERS * one / many:.1f}x)"
    )


if __name__ == "__main__":
    anyio.run(main)
