"""tools/call results kept as wire dicts (mcp 2.x): still validated, and what only the SDK's Client can do (the
2026 protocol's input_required rounds) still works. Real servers over stdio and streamable HTTP."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import HttpTestServer, rawserver_config, testserver_config

from mcpexec._compat import IS_MCP2, SDK_LISTING, Connection, MalformedResult, connect
from mcpexec.config import ServerConfig
from mcpexec.hub import MCPHub

pytestmark = [pytest.mark.anyio, pytest.mark.compat]

COUNTED = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}


@asynccontextmanager
async def connection(config: ServerConfig) -> AsyncIterator[Connection]:
    """A connection whose tools have been listed (every page), as the hub lists them on connecting."""
    with tempfile.TemporaryFile("w+") as errlog:
        async with connect(config, errlog=errlog, on_tools_changed=lambda: None, on_closed=lambda: None) as conn:
            cursor: str | None = None
            while True:
                _, cursor = await conn.list_tools_page(cursor)
                if cursor is None:
                    break
            yield conn


async def test_results_are_wire_dicts_on_mcp2_over_stdio_and_http(http_test_server: HttpTestServer) -> None:
    for config in (testserver_config(), http_test_server.config()):
        async with connection(config) as conn:
            assert conn.wire_results is IS_MCP2
            result = await conn.call_tool("add", {"a": 2, "b": 3}, output_schema=SDK_LISTING)
            assert result["structuredContent"] == {"total": 5.0}
            assert result["content"][0]["type"] == "text"
            assert None not in result.values()


@pytest.mark.parametrize("schema", [SDK_LISTING, COUNTED], ids=["sdk-listing", "listed-schema"])
async def test_structured_content_is_checked_against_the_output_schema(schema: Any) -> None:
    async with connection(rawserver_config()) as conn:
        assert (await conn.call_tool("count", {}, output_schema=schema))["structuredContent"] == {"count": 3}
        with pytest.raises(MalformedResult, match="'many' is not of type 'integer'"):
            await conn.call_tool("count", {"wrong": True}, output_schema=schema)


@pytest.mark.skipif(not IS_MCP2, reason="mcp 1.x always checks with the schema its session listed")
async def test_the_schema_the_caller_listed_is_the_one_checked() -> None:
    async with connection(rawserver_config()) as conn:
        result = await conn.call_tool("count", {"wrong": True}, output_schema=None)
        assert result["structuredContent"] == {"count": "many"}
        with pytest.raises(MalformedResult, match="did not return structured content"):
            await conn.call_tool("tool_001", {}, output_schema=COUNTED)


async def test_a_result_that_is_not_a_tool_result_is_refused() -> None:
    async with connection(rawserver_config()) as conn:
        with pytest.raises(MalformedResult):
            await conn.call_tool("malformed", {}, output_schema=None)


@pytest.mark.skipif(not IS_MCP2, reason="input_required rounds are the 2026-07-28 protocol (mcp 2.x)")
async def test_input_required_rounds_are_driven_to_the_result_without_repeating_a_round() -> None:
    async with MCPHub({"test": testserver_config()}) as hub:
        assert await hub.call_tool("test", "poll", {"rounds": 3}) == "ready after 3 rounds"
        assert await hub.call_tool("test", "poll", {"rounds": 1}) == "ready after 1 rounds"
        assert hub.stats()["test"]["poll"].calls == 2
