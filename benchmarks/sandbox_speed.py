"""Code execution costs, measured side by side in one run on the local sandbox.

Prints: cold session start (a new guest process with the isolation this machine allows, until it answers),
session start from the pre-started spare, a warm ``print(1)`` cell, one tool call made from sandboxed code
through the bridge versus the same call made directly with an ``mcp`` ``ClientSession`` (our test server over
stdio, ``echo``), 1,000 sequential calls in one cell, and 100 calls with ``asyncio.gather`` versus 100 in a row.
Run: ``python benchmarks/sandbox_speed.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import anyio

from mcpexec.config import stdio_server
from mcpexec.executor import CodeExecutor
from mcpexec.sandbox import LocalSandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_overhead import SERVER, direct_sdk_seconds

ROUNDS = 15
ROUNDS_RATIO = 9
ROUNDS_GATHER = 9
CALLS = 300


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


async def timed_cell(ex: CodeExecutor, code: str) -> float:
    """The time the cell itself measured (inside the guest), in seconds."""
    result = await ex.execute(code)
    if not result.ok:
        raise RuntimeError(result.to_text())
    return float(result.stdout.strip())


def loop_code(calls: int) -> str:
    return (
        "import time\nfrom servers.test import echo\nawait echo(text='warm-up')\nt = time.perf_counter()\n"
        f"for i in range({calls}):\n    await echo(text=f'call {{i}}')\n"
        "print(time.perf_counter() - t)\n"
    )


def gather_code(calls: int) -> str:
    return (
        "import asyncio, time\nfrom servers.test import echo\nt = time.perf_counter()\n"
        f"await asyncio.gather(*(echo(text=f'call {{i}}') for i in range({calls})))\n"
        "print(time.perf_counter() - t)\n"
    )


async def main() -> None:
    servers = {"test": stdio_server(sys.executable, str(SERVER))}
    sandbox = LocalSandbox()
    async with CodeExecutor(servers, sandbox=sandbox) as ex:
        await ex.start()
        cold: list[float] = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            guest = await sandbox._start_guest()  # pyright: ignore[reportPrivateUsage]  # a fresh guest, no spare
            cold.append(time.perf_counter() - started)
            await sandbox._kill(guest, "benchmark")  # pyright: ignore[reportPrivateUsage]
        print(ex.isolation.describe())
        spare: list[float] = []
        for _ in range(ROUNDS):
            await anyio.sleep(0.2)  # let the spare finish starting, as between an agent's turns
            started = time.perf_counter()
            await ex.restart()
            spare.append(time.perf_counter() - started)
        await ex.execute("print(1)")
        warm: list[float] = []
        for _ in range(200):
            started = time.perf_counter()
            await ex.execute("print(1)")
            warm.append(time.perf_counter() - started)
        print(f"cold session start (median of {ROUNDS}):       {ms(statistics.median(cold))}   goal <= 50 ms")
        print(f"session start from the spare (median):   {ms(statistics.median(spare))}   goal <= 5 ms")
        print(f"warm print(1) cell (median of 200):      {ms(statistics.median(warm))}   goal <= 2 ms")

        bridged, direct, classic = [], [], []
        for _ in range(ROUNDS_RATIO):  # interleaved rounds; the ratio is the median of the rounds' ratios
            bridged.append(await timed_cell(ex, loop_code(CALLS)))
            direct.append(await direct_sdk_seconds(CALLS))
            classic.append(await direct_sdk_seconds(CALLS, handshake=True))
        b, d, c = (statistics.median(times) / CALLS for times in (bridged, direct, classic))
        ratio = statistics.median(x / y for x, y in zip(bridged, direct, strict=True))
        ratio_classic = statistics.median(x / y for x, y in zip(bridged, classic, strict=True))
        info = ex.hub.status()["test"].info
        protocol = info.protocol_version if info is not None else "?"
        print(f"one tool call, {CALLS} in a row (medians of {ROUNDS_RATIO} interleaved rounds)")
        print(f"  direct ClientSession, same protocol:    {ms(d)}   ({protocol})")
        print(f"  direct ClientSession, handshake:        {ms(c)}   (initialize; older protocol)")
        print(f"  from sandboxed code through the bridge: {ms(b)}")
        print(f"  ratio bridged / direct:                 {ratio:8.2f}x   goal <= 1.3x")
        print(f"  ratio bridged / direct with handshake:  {ratio_classic:8.2f}x")
        thousand = await timed_cell(ex, loop_code(1000))
        print(f"1,000 sequential calls in one cell:      {thousand:8.2f} s  ({ms(thousand / 1000)} per call)")
        sequential_times, gathered_times = [], []
        for _ in range(ROUNDS_GATHER):  # interleaved rounds: gathered calls vary a lot from one run to the next
            sequential_times.append(await timed_cell(ex, loop_code(100)))
            gathered_times.append(await timed_cell(ex, gather_code(100)))
        sequential, gathered = statistics.median(sequential_times), statistics.median(gathered_times)
        print(f"100 calls in a row (median of {ROUNDS_GATHER}):       {ms(sequential)}")
        print(f"100 calls with asyncio.gather:           {ms(gathered)}   ({sequential / gathered:.1f}x faster)")


if __name__ == "__main__":
    anyio.run(main)
