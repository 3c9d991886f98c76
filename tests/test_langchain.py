"""The LangChain adapter: LangChain's own standard tests, and a real agent driven by a fake chat model."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_mcpexec import (
    ExecuteCodeTool,
    MCPExecToolkit,
    MCPToolRetriever,
    SearchToolsTool,
    code_mode_prompt,
)
from mcpexec import CodeExecutor, LocalSandbox
from mcpexec.policy import Policy
from tests.conftest import DELETE_TWO, crm_servers, testserver_config
from tests.test_executor import reachable
from tests.test_policy import crm_executor

pytestmark = pytest.mark.anyio  # the standard suites' async tests run on anyio here (pytest-asyncio is strict)

_EXECUTOR: dict[str, CodeExecutor] = {}


@pytest.fixture(scope="module", autouse=True)
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeExecutor]:
    """One sandbox session for the standard suites (started before the per-test process-leak check; no spare
    guest, which would start in the background during some later test)."""
    sandbox = LocalSandbox(workspace=reachable(tmp_path_factory.mktemp("langchain")) / "ws", spare=False)
    with CodeExecutor({"test": testserver_config()}, sandbox=sandbox) as ex:
        ex.execute_sync("1")
        _EXECUTOR["ex"] = ex
        yield ex
        _EXECUTOR.clear()


class ExecuteCodeParams:
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return ExecuteCodeTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"executor": _EXECUTOR["ex"]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "from servers.test import add\n(await add(a=1, b=2))['total']"}


class TestExecuteCodeUnit(ExecuteCodeParams, ToolsUnitTests):
    pass


class TestExecuteCodeIntegration(ExecuteCodeParams, ToolsIntegrationTests):
    pass


class SearchToolsParams:
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return SearchToolsTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"executor": _EXECUTOR["ex"]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "add two numbers", "detail_level": "with_description", "limit": 3}


class TestSearchToolsUnit(SearchToolsParams, ToolsUnitTests):
    pass


class TestSearchToolsIntegration(SearchToolsParams, ToolsIntegrationTests):
    pass


class TestRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[MCPToolRetriever]:
        return MCPToolRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"executor": _EXECUTOR["ex"], "k": 3}

    @property
    def retriever_query_example(self) -> str:
        return "echo some text"


def test_toolkit_gives_exactly_the_two_tools_with_schemas(executor: CodeExecutor) -> None:
    tools = MCPExecToolkit(executor=executor).get_tools()
    assert [t.name for t in tools] == ["execute_code", "search_tools"]
    assert list(tools[0].get_input_jsonschema()["properties"]) == ["code"]
    assert list(tools[1].get_input_jsonschema()["properties"]) == ["query", "detail_level", "limit"]
    assert tools[0].invoke({"code": "6 * 7"}) == "Out: 42"
    error = tools[0].invoke({"code": "{}['missing']"})
    assert error.endswith("KeyError: 'missing'")  # the agent's error comes back as text, not as an exception
    hits = json.loads(tools[1].invoke({"query": "echo text back", "detail_level": "name_only", "limit": 2}))
    assert hits[0] == "test.echo"


def test_retriever_documents_carry_the_import_line_and_schemas(executor: CodeExecutor) -> None:
    docs = MCPToolRetriever(executor=executor, k=2).invoke("add two numbers")
    assert docs[0].metadata["import"] == "from servers.test import add"
    assert docs[0].metadata["server"] == "test"
    assert "a" in docs[0].metadata["input_schema"]["properties"]
    assert docs[0].page_content.startswith("add [test]: ")
    full = MCPToolRetriever(executor=executor, k=1, detail_level="full").invoke("add two numbers")
    assert json.loads(full[0].page_content)["signature"].startswith("async def add(")


def test_prompt_helper_states_its_size(executor: CodeExecutor) -> None:
    prompt = code_mode_prompt(executor)
    assert "execute_code" in prompt.text
    assert "Servers: test (" in prompt.text
    assert 100 < prompt.tokens < 500
    assert prompt.tokenizer == "bpe-openai o200k_base"


class ToolCallingFakeModel(GenericFakeChatModel):
    """A fake chat model that accepts tools (it replays scripted messages, tool calls included)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFakeModel:
        return self


def _call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def test_a_real_langchain_agent_searches_then_runs_code_against_a_real_server(tmp_path: Path) -> None:
    servers = crm_servers(tmp_path)
    code = (
        "from servers.sheets import get_sheet\n"
        "from servers.crm import create_contact\n"
        "rows = await get_sheet(sheet_id='orders-sample', status='pending')\n"
        "for row in rows[:2]:\n"
        "    await create_contact(name=row['customer'], email=row['email'])\n"
        "print(f'added {min(len(rows), 2)} contacts')\n"
    )
    script: list[AIMessage | str] = [
        _call("search_tools", {"query": "add a contact to the crm", "detail_level": "with_description"}, "c1"),
        _call("execute_code", {"code": code}, "c2"),
        AIMessage(content="Added the pending customers to the CRM."),
    ]
    with CodeExecutor(servers, workspace=reachable(tmp_path) / "ws") as ex:
        agent = create_agent(ToolCallingFakeModel(messages=iter(script)), MCPExecToolkit(executor=ex).get_tools())
        state = agent.invoke({"messages": [HumanMessage("put the pending customers in the crm")]})
    messages = state["messages"]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert "create_contact" in str(tool_messages[0].content)
    assert tool_messages[1].content == "added 2 contacts\n[3 tool calls: crm.create_contact x2, sheets.get_sheet]"
    assert messages[-1].content == "Added the pending customers to the CRM."
    received = json.loads((tmp_path / "crm.json").read_text())
    assert [c["email"].endswith("@example.com") for c in received] == [True, True]


@pytest.mark.anyio
async def test_approvals_inside_code_go_through_langgraph_interrupts_and_resume_without_rerunning(
    tmp_path: Path,
) -> None:
    from langgraph.types import Command

    script: list[AIMessage | str] = [
        _call("execute_code", {"code": DELETE_TWO}, "call-7"),
        AIMessage(content="Removed Ada; you kept Bob."),
    ]
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
        agent = _interrupting_graph(ex, script)
        config: Any = {"configurable": {"thread_id": "t1"}}
        state = await agent.ainvoke({"messages": [HumanMessage("remove Ada and Bob from the crm")]}, config)
        [first] = state["__interrupt__"]
        assert first.value["type"] == "mcpexec.approval"
        assert (first.value["tool"], first.value["arguments"], first.value["index"]) == (
            "delete_contact",
            {"contact_id": 1},
            0,
        )
        assert first.value["key"] == "call-7"
        state = await agent.ainvoke(Command(resume=True), config)  # the tool runs again: the execution goes on
        [second] = state["__interrupt__"]
        assert (second.value["arguments"], second.value["index"]) == ({"contact_id": 2}, 1)
        state = await agent.ainvoke(Command(resume={"approved": False, "reason": "keep Bob"}), config)
        assert "__interrupt__" not in state
        calls = ex.hub.stats()["crm"]
        assert (calls["create_contact"].calls, calls["delete_contact"].calls) == (2, 1)  # nothing ran twice
        assert ex.approvals.pending() == ()
    tool_messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1
    assert str(tool_messages[0].content).startswith(
        "deleted Ada: True\nrefused: crm.delete_contact was rejected by the reviewer: keep Bob\n['Bob']\n"
    )
    assert state["messages"][-1].content == "Removed Ada; you kept Bob."
    assert [c["name"] for c in json.loads((tmp_path / "crm.json").read_text())] == ["Bob"]


def _interrupting_graph(ex: CodeExecutor, script: list[AIMessage | str]) -> Any:
    """A LangGraph agent (with a checkpointer) that plays ``script``; approvals in its code become interrupts."""
    from langgraph.checkpoint.memory import InMemorySaver

    tools = MCPExecToolkit(executor=ex, approvals="interrupt").get_tools()
    return create_agent(ToolCallingFakeModel(messages=iter(script)), tools, checkpointer=InMemorySaver())


@contextmanager
def _sync_interrupting_agent(tmp_path: Path, call_id: str) -> Iterator[tuple[CodeExecutor, Any, Any]]:
    """A synchronous LangGraph agent whose one tool call runs ``DELETE_TWO`` with approvals by interrupt."""
    script: list[AIMessage | str] = [_call("execute_code", {"code": DELETE_TWO}, call_id), AIMessage(content="done")]
    with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
        yield ex, _interrupting_graph(ex, script), {"configurable": {"thread_id": call_id}}


def test_a_reviewer_edits_a_call_with_langchains_edit_decision(tmp_path: Path) -> None:
    from langgraph.types import Command

    with _sync_interrupting_agent(tmp_path, "edit-1") as (ex, agent, config):
        state = agent.invoke({"messages": [HumanMessage("remove Ada")]}, config)
        assert state["__interrupt__"][0].value["arguments"] == {"contact_id": 1}
        edit = {"type": "edit", "edited_action": {"name": "delete_contact", "args": {"contact_id": 2}}}
        state = agent.invoke(Command(resume=edit), config)  # Bob goes instead of Ada
        assert state["__interrupt__"][0].value["index"] == 1
        state = agent.invoke(Command(resume={"type": "reject", "message": "enough"}), config)
        assert ex.hub.stats()["crm"]["delete_contact"].calls == 1
    [message] = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert "deleted Ada: True\nrefused: crm.delete_contact was rejected by the reviewer: enough\n" in message.content
    assert [c["name"] for c in json.loads((tmp_path / "crm.json").read_text())] == ["Ada"]


def test_interrupt_approvals_need_a_tool_call_id(executor: CodeExecutor) -> None:
    [tool, _] = MCPExecToolkit(executor=executor, approvals="interrupt").get_tools()
    output = tool.invoke({"code": "1 + 1"})
    assert "call execute_code with a ToolCall" in output


def test_interrupt_approvals_work_in_a_synchronous_graph(tmp_path: Path) -> None:
    from langgraph.types import Command

    with _sync_interrupting_agent(tmp_path, "sync-1") as (ex, agent, config):
        state = agent.invoke({"messages": [HumanMessage("remove both")]}, config)
        assert state["__interrupt__"][0].value["index"] == 0
        state = agent.invoke(Command(resume="approve"), config)
        assert state["__interrupt__"][0].value["index"] == 1
        state = agent.invoke(Command(resume="approve"), config)
        assert ex.hub.stats()["crm"]["delete_contact"].calls == 2
    [message] = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert "deleted Ada: True\n[]\n" in message.content
    assert json.loads((tmp_path / "crm.json").read_text()) == []


@pytest.mark.anyio
async def test_a_resumed_node_does_not_run_a_sibling_tool_call_twice(tmp_path: Path) -> None:
    from langgraph.types import Command

    create = (
        "from servers.crm import create_contact\nawait create_contact(name='Cy', email='cy@example.com')\n'created'"
    )
    delete = (
        "import asyncio\nfrom servers.crm import delete_contact\n"
        "await asyncio.sleep(1)\nawait delete_contact(contact_id=1)"  # after the other call has finished
    )
    both = AIMessage(
        content="",
        tool_calls=[
            {"name": "execute_code", "args": {"code": create}, "id": "create-1", "type": "tool_call"},
            {"name": "execute_code", "args": {"code": delete}, "id": "delete-1", "type": "tool_call"},
        ],
    )
    script: list[AIMessage | str] = [both, AIMessage(content="done")]
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
        agent = _interrupting_graph(ex, script)
        config: Any = {"configurable": {"thread_id": "siblings"}}
        state = await agent.ainvoke({"messages": [HumanMessage("add Cy, then remove contact 1")]}, config)
        while state.get("__interrupt__"):  # each resume may run the node's tool calls again
            state = await agent.ainvoke(Command(resume=True), config)
        calls = ex.hub.stats()["crm"]
        assert (calls["create_contact"].calls, calls["delete_contact"].calls) == (1, 1)
    outputs = {m.tool_call_id: str(m.content) for m in state["messages"] if isinstance(m, ToolMessage)}
    assert outputs["create-1"].startswith("Out: 'created'")
    assert state["messages"][-1].content == "done"
