"""Real MCP servers bundled with mcpexec, so it runs offline with nothing else installed.

- ``sheets``: a read-only spreadsheet of orders (customers with emails and phone numbers);
- ``crm``: a small contact database (create, find, list, delete).

They are the embedded default of ``mcpexec tools`` / ``mcpexec demo`` and of the seed's "spreadsheet → CRM"
examples. Each runs over stdio: ``python -m mcpexec.demo_servers.sheets``.
"""

from __future__ import annotations

import sys

from mcpexec.config import ServerConfig, stdio_server

__all__ = ["default_servers"]


def default_servers() -> dict[str, ServerConfig]:
    """Configs that start the bundled servers with the current Python interpreter."""
    return {
        "sheets": stdio_server(sys.executable, "-m", "mcpexec.demo_servers.sheets"),
        "crm": stdio_server(sys.executable, "-m", "mcpexec.demo_servers.crm"),
    }
