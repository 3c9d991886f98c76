"""The LlamaIndex adapter: tool spec, retriever, CodeAct executor, and real agents driven by a mock LLM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from llama_index.tools.mcpexec import MCPExecToolSpec, MCPToolRetriever, code_execute_fn
from mcpexec import CodeExecutor
from mcpexec.demo_servers import default_servers
from tests.conftest import testserver_config
from tests.test_executor import reachable

pytestmark = pytest.mark.anyio

# llama-index's workflow runner inspects agents with inspect.getmembers, touching pydantic's deprecated attributes
# (and its ReActAgent step asks the workflow whether it is running, which llama-index itself deprecated)
third_party_deprecations = pytest.mark.filterwarnings(
    "ignore::pydantic.warnings.PydanticDeprecatedSince20",
    "ignore::pydantic.warnings.PydanticDeprecatedSince211",
    "ignore:is_running called from within a step:DeprecationWarning",
)


@pytest.fixture
async def ex(tmp_path: Path) -> AsyncIterator[CodeExecutor]:
    servers = {**default_servers(), "test": testserver_config()}
    servers["crm"] = {**servers["crm"], "env": {"MCPEXEC_CRM_FILE": str(tmp_path / "crm.json")}}  # type: ignore[typeddict-item]
    async with CodeExecutor(servers, workspace=reachable(tmp_path) / "ws") as executor:
        yield executor


async def test_tool_spec_gives_two_async_tools(ex: CodeExecutor) -> None:
    tools = MCPExecToolSpec(ex).to_tool_list()
    assert [t.metadata.name for t in tools] == ["execute_code", "search_tools"]
    execute, search = tools
    assert execute.metadata.fn_schema is not None
    assert list(execute.metadata.fn_schema.model_json_schema()["properties"]) == ["code"]
    assert (await execute.acall(code="6 * 7")).content == "Out: 42"
    failing = await execute.acall(code="{}['missing']")
    assert failing.content.endswith("KeyError: 'missing'")
    hits = json.loads((await search.acall(query="echo text back", detail_level="name_only", limit=2)).content)
    assert hits[0] == "test.echo"


async def test_retriever_returns_nodes_with_the_import_line_and_schemas(ex: CodeExecutor) -> None:
    nodes = await MCPToolRetriever(ex, k=2).aretrieve("add two numbers")
    assert len(nodes) == 2
    best = nodes[0]
    assert best.node.metadata["import"] == "from servers.test import add"
    assert "a" in best.node.metadata["input_schema"]["properties"]
    assert best.score == 1.0
    assert nodes[1].score == 0.5
    assert best.node.get_content().startswith("add [test]: ")


async def test_code_execute_fn_runs_in_the_same_session(ex: CodeExecutor) -> None:
    run = code_execute_fn(ex)
    first = await run("total = 40")
    assert first["error"] is None
    second = await run("print(total + 2)")
    assert second["stdout"] == "42\n"
    broken = await run("1 / 0")
    assert broken["error"].startswith("ZeroDivisionError")


def _scripted(replies: Sequence[ChatMessage]) -> Any:
    remaining = list(replies)

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        return remaining.pop(0)

    return respond


def _call(name: str, args: dict[str, Any], call_id: str) -> ChatMessage:
    return ChatMessage(
        role=MessageRole.ASSISTANT, blocks=[ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=args)]
    )


@third_party_deprecations
async def test_a_function_agent_searches_then_runs_code_against_a_real_server(ex: CodeExecutor, tmp_path: Path) -> None:
    code = (
        "from servers.crm import create_contact, list_contacts\n"
        "await create_contact(name='Grace Hopper', email='grace@example.com')\n"
        "print(len(await list_contacts()), 'contact')\n"
    )
    llm = MockFunctionCallingLLM(
        response_generator=_scripted(
            [
                _call("search_tools", {"query": "add a contact", "detail_level": "with_description"}, "c1"),
                _call("execute_code", {"code": code}, "c2"),
                ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text="Grace is in the CRM.")]),
            ]
        )
    )
    agent = FunctionAgent(tools=MCPExecToolSpec(ex).to_tool_list(), llm=llm)
    handler = agent.run(user_msg="add Grace Hopper to the crm")
    result = await handler
    assert str(result) == "Grace is in the CRM."
    outputs = [call.tool_output.content for call in result.tool_calls]
    assert "create_contact" in outputs[0]
    assert outputs[1] == "1 contact\n[2 tool calls: crm.create_contact, crm.list_contacts]"
    stored = json.loads((tmp_path / "crm.json").read_text())
    assert [c["email"] for c in stored] == ["grace@example.com"]


@third_party_deprecations
async def test_a_react_agent_runs_code_through_the_tool_spec(ex: CodeExecutor) -> None:
    from llama_index.core.agent.workflow import ReActAgent

    replies = [
        "Thought: I need to add the numbers in code.\nAction: execute_code\n"
        'Action Input: {"code": "from servers.test import add\\nprint((await add(a=20, b=22))[\'total\'])"}',
        "Thought: I can answer without using any more tools.\nAnswer: 20 + 22 = 42",
    ]
    llm = MockFunctionCallingLLM(
        response_generator=_scripted(
            [ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text=reply)]) for reply in replies]
        )
    )
    agent = ReActAgent(tools=MCPExecToolSpec(ex).to_tool_list(), llm=llm)
    result = await agent.run(user_msg="what is 20 + 22? use the add tool")
    assert "42" in str(result)
    assert [call.tool_output.content for call in result.tool_calls] == ["42.0\n[1 tool call: test.add]"]
    assert ex.stats.tools["test.add"].calls == 1
