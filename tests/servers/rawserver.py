"""A minimal hand-written MCP server (JSON-RPC over stdio, no SDK) for protocol-level cases.

``--tools N --page-size K``: N tools listed K per page with opaque cursors. Tools: ``tool_<i>`` (echo their
index), ``malformed`` (a result whose ``content`` is not a list), ``garbage`` (writes a non-JSON line on stdout,
then answers normally), ``count`` (structured content checked against its ``outputSchema``: ``{"count": n}``, or
``{"count": "many"}`` when called with ``{"wrong": true}``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _tool(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": {"type": "object", "properties": {}}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tools", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=2)
    args = parser.parse_args()
    tools = [_tool(f"tool_{i:03d}", f"Tool number {i}.") for i in range(args.tools)]
    tools += [_tool("malformed", "Returns a malformed result."), _tool("garbage", "Writes garbage to stdout.")]
    odd_names = {
        "type": "object",
        "properties": {
            "per-page": {"type": "integer", "description": "Items per page."},
            "from": {"type": "string", "description": "Start date."},
            "class": {"type": "string", "enum": ["a", "b"]},
            "arguments": {"type": "string"},
            "ok_name": {"type": "boolean"},
        },
        "required": ["from"],
    }
    tools.append({"name": "echo-args", "description": "Return the arguments as JSON.", "inputSchema": odd_names})
    counted = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
    wrong = {"type": "object", "properties": {"wrong": {"type": "boolean"}}}
    tools.append({"name": "count", "description": "Count.", "inputSchema": wrong, "outputSchema": counted})

    def send(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, mid = msg.get("method"), msg.get("id")
        if mid is None:
            continue  # notifications
        params = msg.get("params") or {}
        if method == "initialize":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": mid,
                    "result": {
                        "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                        "capabilities": {"tools": {"listChanged": False}},
                        "serverInfo": {"name": "rawserver", "version": "1.0"},
                    },
                }
            )
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": mid, "result": {}})
        elif method == "tools/list":
            start = int(params.get("cursor") or 0)
            page = tools[start : start + args.page_size]
            result: dict[str, Any] = {"tools": page}
            if start + args.page_size < len(tools):
                result["nextCursor"] = str(start + args.page_size)
            send({"jsonrpc": "2.0", "id": mid, "result": result})
        elif method == "tools/call":
            name = params.get("name")
            if name == "malformed":
                send({"jsonrpc": "2.0", "id": mid, "result": {"content": "not a list", "isError": "perhaps"}})
            elif name == "echo-args":
                text = json.dumps(params.get("arguments") or {}, sort_keys=True)
                send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": text}]}})
            elif name == "count":
                value: object = "many" if (params.get("arguments") or {}).get("wrong") else 3
                content = [{"type": "text", "text": json.dumps({"count": value})}]
                result = {"content": content, "structuredContent": {"count": value}}
                send({"jsonrpc": "2.0", "id": mid, "result": result})
            elif name == "garbage":
                sys.stdout.write("this is not JSON-RPC\n")
                send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "after garbage"}]}})
            elif isinstance(name, str) and name.startswith("tool_"):
                send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": name[5:]}]}})
            else:
                send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": f"Unknown tool: {name}"}})
        else:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    main()
