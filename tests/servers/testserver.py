"""Our own MCP test server, written with the `mcp` SDK (1.x FastMCP or 2.x MCPServer).

Run over stdio (default) or streamable HTTP on 127.0.0.1 (``--http``: binds port 0 and prints ``PORT=<n>`` on
stdout before serving; ``--require-token T`` demands ``Authorization: Bearer T``). Fault modes:
``--fail-at-start`` (writes to stderr and exits 3), ``--hang-at-start`` (never answers), ``--crash-after N``
(exits on the N-th tool call).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

try:  # mcp 2.x
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef,assignment]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

from mcp.types import EmbeddedResource, ImageContent, TextContent, ToolAnnotations

server: Any = Server("testserver")
_calls = 0
_crash_after: int | None = None


def _count_call() -> None:
    global _calls
    _calls += 1
    if _crash_after is not None and _calls >= _crash_after:
        os._exit(7)


class Label(BaseModel):
    name: str
    color: Literal["red", "green", "blue"] = "red"


class Issue(BaseModel):
    number: int
    title: str
    labels: list[Label]
    assignee: str | None = None


class Sum(BaseModel):
    total: float


@server.tool(annotations=ToolAnnotations.model_validate({"readOnlyHint": True}))
def add(a: float, b: float) -> Sum:
    """Add two numbers and return the total."""
    _count_call()
    return Sum(total=a + b)


@server.tool(
    title="Create issue",
    annotations=ToolAnnotations.model_validate({"destructiveHint": False, "readOnlyHint": False}),
)
def create_issue(
    owner: Annotated[str, Field(description="Repository owner")],
    repo: str,
    title: str,
    labels: list[Label] | None = None,
    assignee: str | None = None,
) -> Issue:
    """Create an issue in a repository (nested input and output schemas)."""
    _count_call()
    return Issue(number=42, title=f"{owner}/{repo}: {title}", labels=labels or [], assignee=assignee)


@server.tool()
def echo(text: str) -> str:
    """Echo the text back as plain text."""
    _count_call()
    return text


@server.tool(structured_output=False)
def rows(count: int = 3) -> str:
    """Return rows as JSON text (no structured content)."""
    _count_call()
    import json

    return json.dumps([{"id": i, "status": "pending" if i % 2 else "done"} for i in range(count)])


@server.tool(structured_output=False)
def image() -> list[Any]:
    """Return an image and an embedded text resource."""
    _count_call()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    return [
        ImageContent.model_validate({"type": "image", "data": png, "mimeType": "image/png"}),
        EmbeddedResource.model_validate(
            {
                "type": "resource",
                "resource": {"uri": "file:///notes.txt", "mimeType": "text/plain", "text": "hello notes"},
            }
        ),
        TextContent(type="text", text="caption"),
    ]


@server.tool()
def fail(message: str) -> str:
    """Always fail with the given message."""
    _count_call()
    raise ToolError(message)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    _count_call()
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def crash() -> str:
    """Kill the server process mid-call."""
    os._exit(9)


@server.tool()
def exit_later(seconds: float) -> str:
    """Answer, then exit the process after `seconds` (the server dies while idle)."""
    import threading

    def leave() -> None:
        print("testserver: leaving on purpose", file=sys.stderr, flush=True)
        os._exit(5)

    threading.Timer(seconds, leave).start()
    return "bye"


@server.tool()
def log_to_stderr(text: str) -> str:
    """Write a line to stderr."""
    print(text, file=sys.stderr, flush=True)
    return "ok"


@server.tool()
def environment(name: str) -> str:
    """Return an environment variable of the server process ('' when unset)."""
    return os.environ.get(name, "")


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:  # type: ignore[type-arg]
    """Register a new tool called `name` and tell clients that the tool list changed."""

    def dynamic(x: int = 0) -> str:
        return f"{name}:{x}"

    dynamic.__doc__ = f"Dynamically added tool {name}."
    server.add_tool(dynamic, name=name)
    notify = getattr(ctx, "notify_tools_changed", None)
    if notify is not None:  # 2026 protocol era: subscriptions/listen
        await notify()
    try:  # handshake era: notifications/tools/list_changed
        await ctx.session.send_tool_list_changed()
    except Exception as exc:
        print(f"legacy notification not sent: {exc}", file=sys.stderr)
    return name


try:  # mcp 2.x, 2026-07-28 protocol: a tool may answer "call me again" (input_required) before its result
    from mcp.types import InputRequiredResult

    @server.tool()
    def poll(ctx: Context, rounds: int = 2) -> str | InputRequiredResult:  # type: ignore[type-arg]
        """Answer only on the `rounds`-th round: earlier rounds return input_required with a state to send back."""
        _count_call()
        done = int(ctx.request_state or 0) + 1
        if done < rounds:
            return InputRequiredResult(request_state=str(done))
        return f"ready after {done} rounds"

except ImportError:  # mcp 1.x
    pass


def _require_token(app: Any, token: str) -> Any:
    """Wrap an ASGI app so that every HTTP request needs ``Authorization: Bearer <token>`` (else 401)."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token"})
                return
        await app(scope, receive, send)

    return guarded


def _serve_http(token: str | None, port: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    print(f"PORT={sock.getsockname()[1]}", flush=True)
    app = server.streamable_http_app()
    if token is not None:
        app = _require_token(app, token)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def main() -> None:
    global _crash_after
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--fail-at-start", action="store_true")
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--crash-after", type=int)
    parser.add_argument("--require-token", help="(HTTP) demand 'Authorization: Bearer <token>'")
    parser.add_argument("--port", type=int, default=0, help="(HTTP) port to bind; default: an ephemeral one")
    args = parser.parse_args()
    _crash_after = args.crash_after
    if args.fail_at_start:
        print("testserver: cannot start: missing database URL", file=sys.stderr, flush=True)
        sys.exit(3)
    if args.hang_at_start:
        import time

        while True:
            time.sleep(3600)
    if args.http:
        _serve_http(args.require_token, args.port)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
