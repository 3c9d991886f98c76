"""The LlamaIndex adapter: tool spec, retriever, CodeAct executor, and real agents driven by a mock LLM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM

from llama_index.tools.mcpexec import (
    ApprovalRequired,
    ApprovalResponse,
    MCPExecToolSpec,
    MCPToolRetriever,
    code_execute_fn,
)
from mcpexec import CodeExecutor, UsageError
from mcpexec.policy import Policy
from tests.conftest import DELETE_TWO, crm_servers, testserver_config
from tests.test_executor import reachable
from tests.test_policy import crm_executor

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
    servers = crm_servers(tmp_path, test=testserver_config())
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


def _deleting_llm(call_id: str, final: str) -> Any:
    """A model that runs ``DELETE_TWO`` with one ``execute_code`` call, then answers ``final``."""
    return MockFunctionCallingLLM(
        response_generator=_scripted(
            [
                _call("execute_code", {"code": DELETE_TWO}, call_id),
                ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text=final)]),
            ]
        )
    )


async def _run_answering(
    executor: CodeExecutor, llm: Any, user_msg: str, answer: Callable[[ApprovalRequired], ApprovalResponse]
) -> Any:
    """Run a FunctionAgent with approvals by workflow event, answering each with ``answer``; its result."""
    agent = FunctionAgent(tools=MCPExecToolSpec(executor, approvals="event").to_tool_list(), llm=llm)
    handler = agent.run(user_msg=user_msg)
    with anyio.fail_after(60):
        async for event in handler.stream_events():
            if isinstance(event, ApprovalRequired):
                assert handler.ctx is not None
                handler.ctx.send_event(answer(event))
        return await handler


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


@third_party_deprecations
async def test_approvals_inside_code_wait_for_a_workflow_event_and_resume_without_rerunning(tmp_path: Path) -> None:
    llm = _deleting_llm("call-9", "Ada is gone, Bob stays.")
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as executor:
        asked: list[ApprovalRequired] = []

        def answer(event: ApprovalRequired) -> ApprovalResponse:
            asked.append(event)
            approved = event.arguments["contact_id"] == 1
            return ApprovalResponse(key=event.key, index=event.index, approved=approved, reason="keep Bob")

        result = await _run_answering(executor, llm, "remove Ada and Bob", answer)
        calls = executor.hub.stats()["crm"]
        assert (calls["create_contact"].calls, calls["delete_contact"].calls) == (2, 1)  # nothing ran twice
        assert executor.approvals.pending() == ()
    assert [(e.key, e.index, e.tool, e.arguments) for e in asked] == [
        ("call-9", 0, "delete_contact", {"contact_id": 1}),
        ("call-9", 1, "delete_contact", {"contact_id": 2}),
    ]
    assert asked[0].reason == "the tool is marked destructive"
    assert str(result) == "Ada is gone, Bob stays."
    [output] = [call.tool_output.content for call in result.tool_calls]
    assert output.startswith(
        "deleted Ada: True\nrefused: crm.delete_contact was rejected by the reviewer: keep Bob\n['Bob']\n"
    )
    assert [c["name"] for c in json.loads((tmp_path / "crm.json").read_text())] == ["Bob"]


@third_party_deprecations
async def test_an_approval_response_may_edit_the_calls_arguments(tmp_path: Path) -> None:
    llm = _deleting_llm("call-10", "Bob is gone.")
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as executor:

        def answer(event: ApprovalRequired) -> ApprovalResponse:  # Ada's delete is edited into Bob's, then refused
            edited = {"contact_id": 2} if event.index == 0 else None
            return ApprovalResponse(key=event.key, index=event.index, approved=edited is not None, arguments=edited)

        await _run_answering(executor, llm, "remove Ada", answer)
        assert executor.hub.stats()["crm"]["delete_contact"].calls == 1
    assert [c["name"] for c in json.loads((tmp_path / "crm.json").read_text())] == ["Ada"]


@third_party_deprecations
async def test_an_unanswered_approval_rejects_the_call_once_the_wait_times_out(tmp_path: Path) -> None:
    llm = _deleting_llm("call-1", "Nobody answered.")
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as executor:
        spec = MCPExecToolSpec(executor, approvals="event", approval_timeout=0.5)
        with anyio.fail_after(60):
            result = await FunctionAgent(tools=spec.to_tool_list(), llm=llm).run(user_msg="remove them")
        assert executor.approvals.pending() == ()
        assert "delete_contact" not in executor.hub.stats()["crm"]
    [output] = [call.tool_output.content for call in result.tool_calls]
    assert "PolicyDenied: crm.delete_contact was rejected by the reviewer: no answer within 0.5 s" in output


def test_approval_modes_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="approvals must be 'policy' or 'event'"):
        MCPExecToolSpec(None, approvals="interrupt")  # type: ignore[arg-type]


@third_party_deprecations
async def test_a_codeact_agent_runs_its_code_in_the_sandbox_session(ex: CodeExecutor) -> None:
    from llama_index.core.agent.workflow import CodeActAgent

    replies = [
        "I will look at the pending orders.\n<execute>\nfrom servers.sheets import get_sheet\n"
        "rows = await get_sheet(sheet_id='orders-sample', status='pending')\nprint(len(rows), 'pending')\n</execute>",
        "Now the first customer, from the same session.\n<execute>\nprint(rows[0]['customer'])\n</execute>",
        "There are pending orders; the first is from the customer printed above.",
    ]
    llm_calls: list[int] = []

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        llm_calls.append(len(messages))
        # past the script: a plain answer, so the agent stops instead of looping
        text = replies[len(llm_calls) - 1] if len(llm_calls) <= len(replies) else "Done."
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text=text)])

    agent = CodeActAgent(
        code_execute_fn=code_execute_fn(ex), llm=MockFunctionCallingLLM(response_generator=respond), streaming=False
    )
    with anyio.fail_after(60):
        result = await agent.run(user_msg="how many orders are pending, and who ordered first?")
    assert len(llm_calls) == 3
    assert str(result) == replies[2]
    outputs = [str(call.tool_output.content) for call in result.tool_calls]
    expected = await ex.execute(
        "from servers.sheets import get_sheet\n"
        "r = await get_sheet(sheet_id='orders-sample', status='pending')\nprint(len(r), r[0]['customer'])"
    )
    count, first = expected.stdout.split(maxsplit=1)
    assert f"{count} pending" in outputs[0]
    assert first.strip() in outputs[1]
    assert ex.stats.tools["sheets.get_sheet"].calls == 2
