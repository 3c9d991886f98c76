"""The code-execution commands of the ``mcpexec`` CLI: ``exec`` (run a cell) and ``demo`` (the seed's example)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any, Literal, cast

from mcpexec.config import ServerConfig
from mcpexec.errors import MCPExecError
from mcpexec.executor import CodeExecutor

__all__ = ["DEMO_CODE", "add_exec_commands", "run_demo", "run_exec"]

DEMO_CODE = textwrap.dedent(
    """\
    from servers.sheets import get_sheet
    rows = await get_sheet(sheet_id="orders-archive")       # 10,000 rows stay in the sandbox
    pending = [r for r in rows if r["status"] == "pending"]
    print(f"{len(rows):,} orders, {len(pending):,} pending; the 5 largest:")
    for r in sorted(pending, key=lambda r: r["amount"], reverse=True)[:5]:
        print(f"  {r['order_id']:<9}  {r['amount']:>8.2f}  {r['customer']}")
    """
)


def add_exec_commands(commands: Any, add_source_options: Any) -> None:
    """Register ``exec`` and ``demo`` on the CLI's sub-command parser."""
    run = commands.add_parser("exec", help="run Python in the sandbox, with the servers' tools importable")
    add_source_options(run, snapshot=False)
    run.add_argument("file", nargs="?", help="a Python file to run ('-' reads standard input)")
    run.add_argument("--code", "-e", help="the code to run (instead of a file)")
    _add_sandbox_options(run)
    demo = commands.add_parser("demo", help="run the seed's example offline: bundled servers, local sandbox")
    _add_sandbox_options(demo)
    demo.add_argument("--verbose", "-v", action="store_true", help="log what the hub and the mcp SDK do")


def _add_sandbox_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--timeout", "-t", type=float, default=60.0, help="seconds the cell may run (default 60)")
    command.add_argument(
        "--sandbox",
        choices=("local", "e2b"),
        default="local",
        help="where the code runs: this machine (default) or E2B's cloud (needs E2B_API_KEY and mcpexec[e2b])",
    )
    command.add_argument(
        "--isolation", choices=("auto", "full", "none"), default=None, help="local sandbox isolation (default auto)"
    )
    command.add_argument("--workspace", "-w", help="a local workspace directory to keep (default: a temporary one)")


def _read_code(args: argparse.Namespace) -> str:
    if args.code is not None and args.file is not None:
        raise MCPExecError("give a file or --code, not both")
    if args.code is not None:
        return str(args.code)
    if args.file is None:
        raise MCPExecError("nothing to run: give a Python file, '-' for standard input, or --code '...'")
    if args.file == "-":
        return sys.stdin.read()
    try:
        with open(args.file, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise MCPExecError(f"cannot read {args.file}: {exc.strerror or exc}") from None


def _executor(servers: dict[str, ServerConfig], args: argparse.Namespace) -> CodeExecutor:
    if args.sandbox == "e2b":
        if args.workspace is not None or args.isolation is not None:
            raise MCPExecError("--workspace and --isolation are for the local sandbox, not --sandbox e2b")
        return CodeExecutor(servers, sandbox="e2b", cell_timeout=args.timeout)
    isolation = cast(Literal["auto", "full", "none"], args.isolation or "auto")
    return CodeExecutor(servers, workspace=args.workspace, isolation=isolation, cell_timeout=args.timeout)


async def run_exec(servers: dict[str, ServerConfig], args: argparse.Namespace) -> int:
    """``mcpexec exec``: run one cell and print what the model would read; status 1 if the cell failed."""
    code = _read_code(args)
    async with _executor(servers, args) as ex:
        result = await ex.execute(code)
    print(result.to_text())
    return 0 if result.ok else 1


async def run_demo(servers: dict[str, ServerConfig], args: argparse.Namespace) -> int:
    """``mcpexec demo``: the seed's data-filtering example, with what stayed in the sandbox and what came out."""
    async with _executor(servers, args) as ex:
        await ex.start()
        print(ex.isolation.describe(), end="\n\n")
        print("the agent's code:\n" + textwrap.indent(DEMO_CODE, "    "))
        result = await ex.execute(DEMO_CODE)
        text = result.to_text()
        received = sum(stats.bytes_in for tools in ex.hub.stats().values() for stats in tools.values())
    print("what the model reads back:\n" + textwrap.indent(text, "    ") + "\n")
    print(
        f"tool results that stayed in the sandbox: {received:,} bytes; text returned to the model: "
        f"{len(text):,} characters; the cell took {result.duration_s:.2f} s"
    )
    return 0 if result.ok else 1
