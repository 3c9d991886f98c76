"""The ``mcpexec`` command line.

- ``mcpexec tools [--config mcp.json] [--json] [--server NAME] [--save-catalog FILE]`` starts the configured MCP
  servers, prints each server and its tools (a table, or JSON) and stops them again;
- ``mcpexec generate [--config mcp.json | --catalog FILE] [--out servers]`` writes the typed ``servers/`` package;
- ``mcpexec search "create an issue" [--detail with_description] [--limit N]`` searches the tools
  (``--servers`` lists the servers for browsing).

Without ``--config`` (or ``--catalog``) the bundled demo servers are used, so everything works offline.
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
from ._cli_exec import add_exec_commands, run_demo, run_exec
from ._sync import run_sync
from .catalog import Catalog
from .codegen import generate_package, server_modules
from .config import ServerConfig, load_config
from .demo_servers import default_servers
from .errors import MCPExecError
from .hub import MCPHub, ServerStatus
from .search import DETAIL_LEVELS, MAX_LIMIT, ToolIndex

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


def _add_source_options(command: argparse.ArgumentParser, *, snapshot: bool) -> None:
    command.add_argument("--config", "-c", help="an mcp.json file ({'mcpServers': {...}}); default: bundled demo")
    if snapshot:
        command.add_argument("--catalog", metavar="FILE", help="a catalog snapshot (no servers are started)")
    command.add_argument("--server", "-s", action="append", help="only this server (repeatable)")
    command.add_argument("--verbose", "-v", action="store_true", help="log what the hub and the mcp SDK do")


async def _start_for_catalog(servers: dict[str, ServerConfig]) -> Catalog:
    progress = _Progress(sys.stderr, list(servers))
    async with MCPHub(servers, on_status=progress, max_restarts=0) as hub:
        catalog, statuses = hub.catalog, hub.status()
    failed = [name for name, status in statuses.items() if status.state != "ready"]
    if failed:
        print(f"warning: left out (failed to start): {', '.join(failed)}", file=sys.stderr)
    return catalog


def _catalog_from(args: argparse.Namespace) -> Catalog:
    if args.catalog is not None:
        if args.config is not None:
            raise MCPExecError("give --config or --catalog, not both")
        catalog = Catalog.load(args.catalog)
        if args.server:
            unknown = [s for s in args.server if s not in catalog.servers]
            if unknown:
                known = ", ".join(catalog.servers)
                raise MCPExecError(f"--server {', '.join(unknown)}: not in the catalog ({known})")
            catalog = Catalog([t for t in catalog if t.server in args.server], servers=args.server)
        return catalog
    return run_sync(_start_for_catalog, _servers_from(args))


def _generate(args: argparse.Namespace) -> int:
    catalog = _catalog_from(args)
    started = time.monotonic()
    package = generate_package(catalog, args.out)
    for server, module in server_modules(catalog).items():
        print(f"  servers.{module}: {len(catalog.tools(server))} tools", file=sys.stderr)
    elapsed = time.monotonic() - started
    print(f"wrote {len(package.files)} files for {package.tools} tools to {package.root} in {elapsed:.2f} s")
    print(f"use it with: import sys; sys.path.insert(0, {str(package.root.resolve().parent)!r}); import servers")
    return 0


def _search(args: argparse.Namespace) -> int:
    index = ToolIndex(_catalog_from(args))
    if args.servers:
        summaries = [s.to_json() for s in index.list_servers()]
        if args.json:
            print(json.dumps(summaries, indent=2, ensure_ascii=False))
        else:
            for s in summaries:
                print(f"{s['module']}  ({s['tools']} tools; e.g. {', '.join(s['examples'][:3])})")
        return 0
    results = index.search(args.query, args.detail, args.limit)
    if args.json or args.detail == "full":
        print(json.dumps(results, indent=2, ensure_ascii=False))
    elif args.detail == "name_only":
        print("\n".join(results))
    else:
        for entry in results:
            print(f"{entry['name']}  [{entry['server']}]  {entry['description']}\n    {entry['import']}")
    if not results:
        print("no matching tools", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcpexec", description="Code mode for MCP servers.")
    parser.add_argument("--version", action="version", version=f"mcpexec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    tools = commands.add_parser("tools", help="start the configured MCP servers and list their tools")
    _add_source_options(tools, snapshot=False)
    tools.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tools.add_argument("--save-catalog", metavar="FILE", help="also save the catalog as a JSON snapshot")
    generate = commands.add_parser("generate", help="generate the typed servers/ package for the tools")
    _add_source_options(generate, snapshot=True)
    generate.add_argument("--out", "-o", default="servers", help="the package directory to write (default: servers)")
    search = commands.add_parser("search", help="search the tools (progressive disclosure)")
    _add_source_options(search, snapshot=True)
    search.add_argument("query", nargs="?", default="", help="what you want to do; empty lists the tools")
    search.add_argument("--detail", "-d", default="with_description", choices=DETAIL_LEVELS, help="detail level")
    search.add_argument("--limit", "-n", type=int, default=10, help=f"how many results (1 to {MAX_LIMIT})")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.add_argument("--servers", action="store_true", help="list the servers instead (for browsing)")
    add_exec_commands(commands, _add_source_options)
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
        if args.command == "generate":
            return _generate(args)
        if args.command == "search":
            return _search(args)
        if args.command == "demo":
            return run_sync(run_demo, default_servers(), args)
        if args.command == "exec":
            return run_sync(run_exec, _servers_from(args), args)
        if args.save_catalog:
            _check_writable(args.save_catalog)
        servers = _servers_from(args)
        return run_sync(_list_tools, servers, args)
    except MCPExecError as exc:
        print(f"mcpexec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `mcpexec search ... | head`: the reader left, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
