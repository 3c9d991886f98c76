"""Catalogs for benchmarks: the harvested real one, and a 1,000-tool one grown from it."""

from __future__ import annotations

import json
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
            # copies get texts of their own, so no cache can treat them as repeats of the originals
            tools = [_wire(t.to_json(), mark=f"copy {copy}") for t in real.tools(server)][:missing]
            wire[f"{server}_copy{copy}"] = tools
            missing -= len(tools)
            if missing <= 0:
                break
    catalog = Catalog.from_wire(wire)
    assert len(catalog) == 1000, len(catalog)
    return catalog


def _wire(tool: dict[str, object], mark: str = "") -> dict[str, object]:
    schema = json.loads(json.dumps(tool.get("input_schema") or {"type": "object"}))
    if mark:
        for value in (schema.get("properties") or {}).values():
            if isinstance(value, dict) and isinstance(value.get("description"), str):
                value["description"] += f" ({mark})"
    wire: dict[str, object] = {
        "name": tool["name"],
        "description": f"{tool.get('description') or ''} ({mark})" if mark else tool.get("description") or "",
        "inputSchema": schema,
    }
    if tool.get("title"):
        wire["title"] = tool["title"]
    if tool.get("output_schema") is not None:
        wire["outputSchema"] = tool["output_schema"]
    return wire
