"""Bundled MCP server ``sheets``: a read-only spreadsheet of customer orders (deterministic demo data)."""

from __future__ import annotations

import functools
import random
from typing import Any

from pydantic import BaseModel

from mcpexec._compat import server_class

_STATUSES = ("pending", "shipped", "delivered", "cancelled")
_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Tim")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Berners")


class Order(BaseModel):
    """One row of the orders sheet."""

    order_id: str
    customer: str
    email: str
    phone: str
    amount: float
    status: str


class SheetInfo(BaseModel):
    """A sheet's id, title and size."""

    sheet_id: str
    title: str
    rows: int


def _orders(count: int, seed: int) -> list[Order]:
    rng = random.Random(seed)
    rows: list[Order] = []
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        rows.append(
            Order(
                order_id=f"ORD-{1000 + i}",
                customer=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}{i}@example.com",
                phone=f"+1-555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
                amount=round(rng.uniform(5, 500), 2),
                status=rng.choice(_STATUSES),
            )
        )
    return rows


_SHEETS: dict[str, tuple[str, int, int]] = {  # id: (title, rows, seed); rows are generated on first read
    "orders-2026": ("Orders 2026", 1000, 2026),
    "orders-archive": ("Orders archive 2016-2025", 10_000, 2016),
    "orders-sample": ("Orders (sample)", 20, 7),
}


@functools.cache
def _rows(sheet_id: str) -> list[Order]:
    _title, count, seed = _SHEETS[sheet_id]
    return _orders(count, seed)


server: Any = server_class()("sheets", instructions="A read-only spreadsheet of customer orders.")
_read_only: Any = {"readOnlyHint": True, "openWorldHint": False}


@server.tool(title="List sheets", annotations=_read_only)
def list_sheets() -> list[SheetInfo]:
    """List the sheets that can be read, with their number of rows."""
    return [SheetInfo(sheet_id=k, title=t, rows=n) for k, (t, n, _seed) in _SHEETS.items()]


@server.tool(title="Get sheet", annotations=_read_only)
def get_sheet(sheet_id: str, status: str | None = None, limit: int | None = None) -> list[Order]:
    """Return the rows of a sheet, optionally only those with the given status, at most `limit` rows."""
    if sheet_id not in _SHEETS:
        raise ValueError(f"unknown sheet {sheet_id!r}; known: {', '.join(_SHEETS)}")
    rows = [r for r in _rows(sheet_id) if status is None or r.status == status]
    return rows if limit is None else rows[: max(0, limit)]


def main() -> None:
    """Serve over stdio."""
    server.run("stdio")


if __name__ == "__main__":
    main()
