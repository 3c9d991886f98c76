"""MCPHub over the reference npm MCP servers (everything, filesystem, memory) started for real over stdio."""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

import anyio
import pytest

from mcpexec.config import StdioServerConfig
from mcpexec.errors import ToolCallError, ToolTimeout
from mcpexec.hub import MCPHub
from mcpexec.results import ImageContent
from mcpexec.sync_hub import SyncMCPHub

pytestmark = [pytest.mark.npm, pytest.mark.compat]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LIMIT = 60  # seconds for any one test body: start-up, calls and shutdown

EXPECTED = {
    "everything": (
        {"echo", "get-sum", "get-tiny-image", "get-structured-content", "trigger-long-running-operation"},
        8,
    ),
    "filesystem": ({"read_text_file", "write_file", "list_directory", "create_directory", "search_files"}, 10),
    "memory": ({"create_entities", "create_relations", "read_graph", "search_nodes", "open_nodes"}, 7),
}


@pytest.fixture
def npm_servers(
    everything_server: StdioServerConfig, filesystem_server: StdioServerConfig, memory_server: StdioServerConfig
) -> dict[str, StdioServerConfig]:
    return {"everything": everything_server, "filesystem": filesystem_server, "memory": memory_server}


@pytest.mark.anyio
async def test_real_tool_lists(npm_servers: dict[str, StdioServerConfig]) -> None:
    with anyio.fail_after(LIMIT):
        async with MCPHub(npm_servers) as hub:
            statuses = hub.status()
            assert hub.servers == ("everything", "filesystem", "memory")
            for server, (names, floor) in EXPECTED.items():
                assert statuses[server].state == "ready", statuses[server]
                tools = hub.catalog.tools(server)
                assert names <= {tool.name for tool in tools}
                assert len(tools) >= floor
                assert statuses[server].tool_count == len(tools)
                for tool in tools:
                    assert tool.identifier.isidentifier(), tool
                    assert not keyword.iskeyword(tool.identifier), tool
                    assert isinstance(tool.input_schema, dict)
                    assert tool.input_schema.get("type") == "object"
                    if tool.name in names:
                        assert tool.identifier == tool.name.replace("-", "_")
                assert len({tool.identifier for tool in tools}) == len(tools)
            assert hub.catalog.by_identifier("everything", "get_sum").name == "get-sum"
            assert hub.tool("everything", "get-sum").input_schema["required"] == ["a", "b"]


@pytest.mark.anyio
async def test_everything_echo_and_sum(everything_server: StdioServerConfig) -> None:
    message = "héllo, wörld ✓ {not json}"
    with anyio.fail_after(LIMIT):
        async with MCPHub({"everything": everything_server}) as hub:
            echoed = await hub.call_tool("everything", "echo", {"message": message})
            assert isinstance(echoed, str)
            assert message in echoed

            raw = await hub.call_tool_raw("everything", "get-sum", {"a": 19, "b": 23})
            assert "structuredContent" not in raw  # get-sum answers in text only ...
            total = await hub.call_tool("everything", "get-sum", {"a": 19, "b": 23})
            assert isinstance(total, str)  # ... so the value is that text, not a number parsed out of it
            assert re.findall(r"-?\d+(?:\.\d+)?", total) == ["19", "23", "42"]
            fractional = await hub.call_tool("everything", "get-sum", {"a": 1.5, "b": -2.25})
            assert re.findall(r"-?\d+(?:\.\d+)?", fractional) == ["1.5", "-2.25", "-0.75"]


@pytest.mark.anyio
async def test_everything_image_and_structured_content(everything_server: StdioServerConfig) -> None:
    with anyio.fail_after(LIMIT):
        async with MCPHub({"everything": everything_server}) as hub:
            values = await hub.call_tool("everything", "get-tiny-image")
            assert isinstance(values, list)
            images = [value for value in values if isinstance(value, ImageContent)]
            assert len(images) == 1
            assert images[0].mime_type == "image/png"
            assert images[0].data.startswith(PNG_MAGIC)
            assert len(images[0].data) > 100
            assert all(isinstance(value, str) for value in values if value is not images[0])

            raw = await hub.call_tool_raw("everything", "get-structured-content", {"location": "Chicago"})
            weather = await hub.call_tool("everything", "get-structured-content", {"location": "Chicago"})
            assert isinstance(weather, dict)
            assert set(weather) == {"temperature", "conditions", "humidity"}
            assert isinstance(weather["conditions"], str)
            assert isinstance(raw["structuredContent"], dict)
            assert set(raw["structuredContent"]) == set(weather)
            output_schema = hub.tool("everything", "get-structured-content").output_schema
            assert output_schema is not None
            assert set(output_schema["required"]) == set(weather)


@pytest.mark.anyio
async def test_filesystem_round_trip_and_access_denied(filesystem_server: StdioServerConfig, tmp_path: Path) -> None:
    root = tmp_path / "fs"
    (root / "existing.txt").write_text("made by the test\n", encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the allowed directory", encoding="utf-8")
    text = "first line\nzweite Zeile ✓\n"
    with anyio.fail_after(LIMIT):
        async with MCPHub({"filesystem": filesystem_server}) as hub:
            await hub.call_tool("filesystem", "write_file", {"path": str(root / "notes.txt"), "content": text})
            assert (root / "notes.txt").read_text(encoding="utf-8") == text
            read = await hub.call_tool("filesystem", "read_text_file", {"path": str(root / "notes.txt")})
            assert read == {"content": text}  # the server declares an output schema: structured content wins

            listing = await hub.call_tool("filesystem", "list_directory", {"path": str(root)})
            assert isinstance(listing, dict)
            assert {"[FILE] notes.txt", "[FILE] existing.txt"} <= set(listing["content"].splitlines())

            for outside in (str(secret), str(root / ".." / "secret.txt")):
                with pytest.raises(ToolCallError) as caught:
                    await hub.call_tool("filesystem", "read_text_file", {"path": outside})
                error = caught.value
                assert (error.server, error.tool) == ("filesystem", "read_text_file")
                assert "access denied" in error.message.lower()
                assert "secret.txt" in error.message
                assert "outside the allowed directory" not in error.message
            raw = await hub.call_tool_raw("filesystem", "read_text_file", {"path": str(secret)})
            assert raw["isError"] is True


@pytest.mark.anyio
async def test_memory_graph_is_returned_as_data_and_persisted(memory_server: StdioServerConfig, tmp_path: Path) -> None:
    entities = [
        {"name": "Ada Lovelace", "entityType": "person", "observations": ["wrote the first program"]},
        {"name": "Analytical Engine", "entityType": "machine", "observations": ["designed by Babbage"]},
    ]
    relation = {"from": "Ada Lovelace", "to": "Analytical Engine", "relationType": "programmed"}
    with anyio.fail_after(LIMIT):
        async with MCPHub({"memory": memory_server}) as hub:
            created = await hub.call_tool("memory", "create_entities", {"entities": entities})
            assert created == {"entities": entities}
            await hub.call_tool("memory", "create_relations", {"relations": [relation]})
            found = await hub.call_tool("memory", "search_nodes", {"query": "Lovelace"})
            assert [entity["name"] for entity in found["entities"]] == ["Ada Lovelace"]
            graph = await hub.call_tool("memory", "read_graph")
            assert graph == {"entities": entities, "relations": [relation]}

        lines = (tmp_path / "memory.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert {record["name"] for record in records if record["type"] == "entity"} == {e["name"] for e in entities}

        async with MCPHub({"memory": memory_server}) as hub:  # a new server process reads the file back
            assert await hub.call_tool("memory", "read_graph") == graph


@pytest.mark.anyio
async def test_counters_after_calls_errors_and_a_timeout(
    everything_server: StdioServerConfig, filesystem_server: StdioServerConfig, tmp_path: Path
) -> None:
    long_message = "x" * 5000
    with anyio.fail_after(LIMIT):
        async with MCPHub({"everything": everything_server, "filesystem": filesystem_server}) as hub:
            assert hub.stats() == {}
            await hub.call_tool("everything", "echo", {"message": "hi"})
            await hub.call_tool("everything", "echo", {"message": long_message})
            await hub.call_tool("everything", "get-tiny-image")
            with pytest.raises(ToolTimeout):
                await hub.call_tool(
                    "everything", "trigger-long-running-operation", {"duration": 5, "steps": 5}, timeout=0.3
                )
            assert await hub.call_tool("everything", "echo", {"message": "still alive"}) == "Echo: still alive"
            with pytest.raises(ToolCallError):
                await hub.call_tool("filesystem", "read_text_file", {"path": str(tmp_path / "elsewhere.txt")})

            stats = hub.stats()
            assert set(stats) == {"everything", "filesystem"}
            echo = stats["everything"]["echo"]
            assert (echo.calls, echo.errors, echo.timeouts) == (3, 0, 0)
            assert echo.bytes_out >= len(long_message)
            assert echo.bytes_in >= len(long_message)
            assert stats["everything"]["get-tiny-image"].bytes_in > 4000  # the base64 PNG counts
            slow = stats["everything"]["trigger-long-running-operation"]
            assert (slow.calls, slow.errors, slow.timeouts) == (1, 1, 1)
            assert 0.3 <= slow.seconds < 5
            denied = stats["filesystem"]["read_text_file"]
            assert (denied.calls, denied.errors, denied.timeouts) == (1, 1, 0)

            total = hub.server_stats("everything")
            assert (total.calls, total.errors, total.timeouts) == (5, 1, 1)
            assert total.bytes_in == sum(s.bytes_in for s in stats["everything"].values())
            assert hub.server_stats("filesystem").calls == 1
            assert hub.server_stats("nowhere").calls == 0

            stats["everything"]["echo"].calls = 1000  # stats() hands out copies
            assert hub.stats()["everything"]["echo"].calls == 3


def test_sync_facade_from_plain_code(memory_server: StdioServerConfig, tmp_path: Path) -> None:
    entity = {"name": "Grace Hopper", "entityType": "person", "observations": ["found a moth"]}
    with SyncMCPHub({"memory": memory_server}) as hub:
        assert hub.status()["memory"].state == "ready"
        assert ("memory", "create_entities") in hub.catalog
        hub.call_tool("memory", "create_entities", {"entities": [entity]}, timeout=30)
        assert hub.call_tool("memory", "search_nodes", {"query": "Hopper"}, timeout=30) == {
            "entities": [entity],
            "relations": [],
        }
        raw = hub.call_tool_raw("memory", "open_nodes", {"names": ["Grace Hopper"]}, timeout=30)
        assert raw["structuredContent"]["entities"] == [entity]
        assert hub.stats()["memory"]["search_nodes"].calls == 1
    assert "Grace Hopper" in (tmp_path / "memory.jsonl").read_text(encoding="utf-8")
