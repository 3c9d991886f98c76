"""Catalogs for benchmarks: the harvested real one, and a 1,000-tool one grown from it."""

from __future__ import annotations

from pathlib import Path

from mcpexec.catalog import Catalog

REAL_CATALOG = Path(__file__).resolve().parent.parent / "tests" / "data" / "real_catalog.json"


def real_catalog() -> Catalog:
    """The 761 real tool definitions harvested from 16 MCP servers (tests/data/real_catalog.json)."""
    return Catalog.load(REAL_CATALOG)


def thousand_tools() -> Catalog:
    """Exactly 1,000 real tool definitions: the real catalog, topped up with copies of its first servers."""
    real = real_catalog()
    wire: dict[str, list[dict[str, object]]] = {}
    for server in real.servers:
        wire[server] = [_wire(t.to_json()) for t in real.tools(server)]
    missing = 1000 - len(real)
    copy = 0
    while missing > 0:
        copy += 1
        for server in real.servers:
            tools = [_wire(t.to_json()) for t in real.tools(server)][:missing]
            wire[f"{server}_copy{copy}"] = tools
            missing -= len(tools)
            if missing <= 0:
                break
    catalog = Catalog.from_wire(wire)
    assert len(catalog) == 1000, len(catalog)
    return catalog


def _wire(tool: dict[str, object]) -> dict[str, object]:
    wire: dict[str, object] = {
        "name": tool["name"],
        "description": tool.get("description") or "",
        "inputSchema": tool.get("input_schema") or {"type": "object"},
    }
    if tool.get("title"):
        wire["title"] = tool["title"]
    if tool.get("output_schema") is not None:
        wire["outputSchema"] = tool["output_schema"]
    return wire
