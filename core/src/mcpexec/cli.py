"""The ``mcpexec`` command line.

``mcpexec tools [--config mcp.json] [--json] [--server NAME] [--save-catalog FILE]`` starts the configured MCP
servers, prints each server and its tools (a table, or JSON with ``--json``) and stops them again. Without
``--config`` it uses the bundled demo servers, so it works offline on a fresh install.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from ._sync import run_sync
from .catalog import Catalog
from .config import ServerConfig, load_config
from .demo_servers import default_servers
from .errors import MCPExecError
from .hub import MCPHub, ServerStatus

__all__ = ["main"]


class _Progress:
    """Server start-up progress on stderr (one line per server as it settles)."""

    def __init__(self, stream: TextIO, names: Sequence[str]) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._settled: set[str] = set()
        self._total = len(names)
        noun = "server" if self._total == 1 else "servers"
        self._write(f"starting {self._total} {noun}: {', '.join(names)} ...")

    def _write(self, text: str) -> None:
        print(text, file=self._stream, flush=True)

    def __call__(self, status: ServerStatus) -> None:
        if status.state not in ("ready", "failed") or status.name in self._settled:
            return
        self._settled.add(status.name)
        elapsed = time.monotonic() - self._started
        step = f"[{len(self._settled)}/{self._total}]"
        if status.state == "ready":
            self._write(f"  {step} {status.name}: ready, {status.tool_count} tools ({elapsed:.1f} s)")
        else:
            self._write(f"  {step} {status.name}: FAILED ({status.error})")


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _render_table(catalog: Catalog, statuses: dict[str, ServerStatus], out: TextIO) -> None:
    width = shutil.get_terminal_size((120, 24)).columns
    for name, status in statuses.items():
        if status.state != "ready":
            print(f"{name}  [{status.state}] {status.error or ''}".rstrip(), file=out)
            for line in status.stderr_tail.splitlines()[-10:]:
                print(f"    | {line}", file=out)
            print(file=out)
            continue
        info = status.info
        about = f" {info.name} {info.version}".rstrip() if info is not None and info.name else ""
        tools = catalog.tools(name)
        print(f"{name}  [{len(tools)} tools]{about}", file=out)
        column = max((len(t.name) for t in tools), default=0) + 2
        for tool in tools:
            summary = _first_line(tool.description) or (tool.title or "")
            print(_clip(f"  {tool.name.ljust(column)}{summary}", width), file=out)
        print(file=out)


def _as_json(catalog: Catalog, statuses: dict[str, ServerStatus]) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    for name, status in statuses.items():
        entry: dict[str, Any] = {"state": status.state}
        if status.error:
            entry["error"] = status.error
        if status.stderr_tail:
            entry["stderr_tail"] = status.stderr_tail
        if status.info is not None:
            entry["server_info"] = {
                "name": status.info.name,
                "version": status.info.version,
                "protocol_version": status.info.protocol_version,
            }
        entry["tools"] = [tool.to_json() for tool in catalog.tools(name)] if status.state == "ready" else []
        servers[name] = entry
    return {"servers": servers}


def _check_writable(target: str) -> None:
    """Refuse a --save-catalog target that cannot be written, before any server is started."""
    path = Path(target)
    if path.is_dir():
        raise MCPExecError(f"--save-catalog {target}: is a directory; give a file name such as catalog.json")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise MCPExecError(f"--save-catalog {target}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise MCPExecError(f"--save-catalog {target}: directory {parent} is not writable")


async def _list_tools(servers: dict[str, ServerConfig], args: argparse.Namespace) -> int:
    progress = _Progress(sys.stderr, list(servers))
    async with MCPHub(servers, on_status=progress, max_restarts=0) as hub:
        catalog, statuses = hub.catalog, hub.status()
    if args.save_catalog:
        try:
            catalog.save(args.save_catalog)
        except OSError as exc:
            raise MCPExecError(f"--save-catalog {args.save_catalog}: cannot write: {exc.strerror or exc}") from exc
        print(f"catalog of {len(catalog)} tools saved to {args.save_catalog}", file=sys.stderr)
    if args.json:
        json.dump(_as_json(catalog, statuses), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _render_table(catalog, statuses, sys.stdout)
    return 1 if any(s.state != "ready" for s in statuses.values()) else 0


def _servers_from(args: argparse.Namespace) -> dict[str, ServerConfig]:
    if args.config is None:
        print("no --config given: using the bundled demo servers (sheets, crm)", file=sys.stderr)
        servers = default_servers()
    else:
        servers = load_config(args.config)
    if args.server:
        unknown = [s for s in args.server if s not in servers]
        if unknown:
            raise MCPExecError(f"--server {', '.join(unknown)}: not in the configuration ({', '.join(servers)})")
        servers = {name: servers[name] for name in args.server}
    return servers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcpexec", description="Code mode for MCP servers.")
    parser.add_argument("--version", action="version", version=f"mcpexec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    tools = commands.add_parser("tools", help="start the configured MCP servers and list their tools")
    tools.add_argument("--config", "-c", help="an mcp.json file ({'mcpServers': {...}}); default: bundled demo")
    tools.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tools.add_argument("--server", "-s", action="append", help="only this server (repeatable)")
    tools.add_argument("--save-catalog", metavar="FILE", help="also save the catalog as a JSON snapshot")
    tools.add_argument("--verbose", "-v", action="store_true", help="log what the hub and the mcp SDK do")
    return parser


def _configure_logging(verbose: bool) -> None:
    """Quiet by default: the mcp SDK logs tracebacks for recoverable server misbehaviour (which the table shows)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("mcp").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mcpexec`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if getattr(args, "save_catalog", None):
            _check_writable(args.save_catalog)
        servers = _servers_from(args)
        return run_sync(_list_tools, servers, args)
    except MCPExecError as exc:
        print(f"mcpexec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
