"""How long wrapper generation takes for 1,000 real tool definitions (goal: < 1 s).

Prints the median of 5 runs of rendering the package in memory and of writing it to disk.
Run: ``python benchmarks/codegen_speed.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _catalogs import thousand_tools

from mcpexec.codegen import generate_package, render_package


def main() -> None:
    catalog = thousand_tools()
    render, write = [], []
    files = render_package(catalog)  # warm-up, and the files counted below
    for _ in range(5):
        started = time.perf_counter()
        render_package(catalog)
        render.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            generate_package(catalog, Path(scratch) / "servers")
            write.append(time.perf_counter() - started)
    size = sum(len(source) for source in files.values())
    print(f"{len(catalog)} tools, {len(catalog.servers)} servers -> {len(files)} files, {size / 1e6:.1f} MB of source")
    print(f"  render in memory:   {statistics.median(render) * 1e3:7.1f} ms (median of 5)")
    print(f"  generate to disk:   {statistics.median(write) * 1e3:7.1f} ms (median of 5; goal < 1000 ms)")


if __name__ == "__main__":
    main()
