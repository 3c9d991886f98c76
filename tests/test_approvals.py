"""Executions that pause for a human's approval and resume by key (core of the frameworks' human-in-the-loop)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from mcpexec import CodeExecutor
from mcpexec.approvals import ApprovalNeeded, Decision, parse_decision
from mcpexec.audit import AuditLog
from mcpexec.errors import UsageError
from mcpexec.execution import ExecutionResult
from mcpexec.policy import ApprovalRequest, Approved, Policy
from tests.conftest import DELETE_TWO
from tests.test_policy import CREATE, crm_executor

pytestmark = pytest.mark.anyio


def deletes(ex: CodeExecutor) -> int:
    stats = ex.hub.stats().get("crm", {}).get("delete_contact")
    return 0 if stats is None else stats.calls


async def test_a_paused_execution_continues_by_key_and_never_calls_a_tool_twice(tmp_path: Path) -> None:
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
        gate = ex.approvals
        first = await gate.run("call-1", DELETE_TWO)
        assert isinstance(first, ApprovalNeeded)
        assert (first.key, first.index, first.request.tool, dict(first.request.arguments)) == (
            "call-1",
            0,
            "delete_contact",
            {"contact_id": 1},
        )
        payload = first.to_json()
        assert payload["type"] == "mcpexec.approval"
        assert payload["reason"] == "the tool is marked destructive"
        # the framework runs the tool again from the start: the same key continues, nothing runs twice
        again = await gate.run("call-1", DELETE_TWO)
        assert again == first
        assert gate.pending() == ("call-1",)
        assert deletes(ex) == 0
        second = await gate.answer("call-1", 0, True)
        assert isinstance(second, ApprovalNeeded)
        assert (second.index, dict(second.request.arguments)) == (1, {"contact_id": 2})
        assert deletes(ex) == 1
        assert await gate.answer("call-1", 0, False) == second  # an answered approval keeps its first answer
        result = await gate.answer("call-1", 1, {"approved": False, "reason": "keep Bob"})
        assert isinstance(result, ExecutionResult)
        assert result.ok, result.to_text()
        assert result.stdout == (
            "deleted Ada: True\nrefused: crm.delete_contact was rejected by the reviewer: keep Bob\n['Bob']\n"
        )
        assert [c.decision for c in result.tool_calls if c.tool == "delete_contact"] == ["approved", "denied"]
        assert deletes(ex) == 1
        assert gate.pending() == ()
        with pytest.raises(UsageError, match="no execution 'call-1'"):
            await gate.answer("call-1", 1, True)
        # the framework runs the finished tool again (LangGraph re-runs a resumed node's every tool): same result
        assert await gate.run("call-1", DELETE_TWO) is result
        assert deletes(ex) == 1
        with pytest.raises(UsageError, match="already ran other code"):
            await gate.run("call-1", "print('something else')")
        # the session goes on: the paused cell's variables are there
        assert (await ex.execute("a['name'], b['name']")).value == "('Ada', 'Bob')"


async def test_waiting_for_a_human_does_not_count_against_the_cell_timeout(tmp_path: Path) -> None:
    async with crm_executor(tmp_path, policy=Policy(approval="always"), cell_timeout=1.0) as ex:
        step = await ex.approvals.run("slow-human", CREATE + "len(await list_contacts())")
        assert isinstance(step, ApprovalNeeded)
        await anyio.sleep(1.5)
        result = await ex.approvals.answer("slow-human", 0, "approve")
        assert isinstance(result, ExecutionResult)
        assert result.ok, result.to_text()
        assert result.value == "0"
        # the clock still runs outside the wait
        slow = await ex.approvals.run("slow-code", "import time\ntime.sleep(3)")
        assert isinstance(slow, ExecutionResult)
        assert slow.error is not None
        assert slow.error.type == "ExecutionTimeout"


async def test_other_executions_are_refused_while_one_waits_and_discard_rejects(tmp_path: Path) -> None:
    async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
        step = await ex.approvals.run("k", DELETE_TWO)
        assert isinstance(step, ApprovalNeeded)
        with pytest.raises(UsageError, match="paused, waiting for a human"):
            await ex.execute("1 + 1")
        with pytest.raises(UsageError, match="already running other code"):
            await ex.approvals.run("k", "print('different')")
        other = ex.approvals.run("other-key", "1 + 1")
        with pytest.raises(UsageError, match="paused, waiting for a human"):
            await other
        result = await ex.approvals.discard("k", "the user left")
        assert result is not None
        assert result.error is not None
        assert result.error.type == "PolicyDenied"
        assert "rejected by the reviewer: the user left" in result.error.message
        assert deletes(ex) == 0
        assert ex.approvals.pending() == ()
        assert (await ex.execute("1 + 1")).value == "2"


def test_the_sync_gate_works_from_threads(tmp_path: Path) -> None:
    with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
        steps: list[ExecutionResult | ApprovalNeeded] = []
        worker = threading.Thread(target=lambda: steps.append(ex.approvals.run_sync("t", DELETE_TWO)))
        worker.start()
        worker.join(30)
        assert isinstance(steps[0], ApprovalNeeded)
        assert isinstance(ex.approvals.answer_sync("t", 0, True), ApprovalNeeded)
        result = ex.approvals.answer_sync("t", 1, {"type": "reject", "message": "no"})
        assert isinstance(result, ExecutionResult)
        assert "rejected by the reviewer: no" in result.stdout


async def test_closing_the_executor_stops_a_paused_execution(tmp_path: Path) -> None:
    started = time.monotonic()
    with anyio.fail_after(30):
        async with crm_executor(tmp_path, policy=Policy(approval="destructive")) as ex:
            step = await ex.approvals.run("left-behind", DELETE_TWO)
            assert isinstance(step, ApprovalNeeded)
    assert time.monotonic() - started < 30
    assert deletes(ex) == 0


async def test_a_reviewer_can_edit_a_calls_arguments_and_the_code_gets_that_calls_result(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    async with crm_executor(tmp_path, policy=Policy(approval="destructive"), audit=audit) as ex:
        gate = ex.approvals
        assert isinstance(await gate.run("k", DELETE_TWO), ApprovalNeeded)
        # Ada's delete is edited into Bob's; then Bob's own delete finds nothing left to delete
        second = await gate.answer("k", 0, {"type": "edit", "args": {"contact_id": 2}})
        assert isinstance(second, ApprovalNeeded)
        assert dict(second.request.arguments) == {"contact_id": 2}  # what the code asked for, not the edit
        with pytest.raises(UsageError, match="edited arguments must be a JSON object"):
            await gate.answer("k", 1, {"type": "edit", "args": "all of them"})
        # an edit the tool's schema refuses is an error in the code, named like any bad argument
        result = await gate.answer("k", 1, {"type": "edit", "args": {"contact_id": "Bob"}})
        assert isinstance(result, ExecutionResult)
        assert result.error is not None
        assert result.error.type == "ToolArgumentError"
        assert "the reviewer's arguments" in result.error.message
        assert "contact_id" in result.error.message
        assert (await ex.execute("sorted(c['name'] for c in await list_contacts())")).value == "['Ada']"
        assert deletes(ex) == 1
    edits = [e for e in AuditLog.read(audit) if e["event"] == "tool_call" and "edited_arguments" in e]
    assert [(e["arguments"], e["edited_arguments"], e["status"]) for e in edits] == [
        ({"contact_id": 1}, {"contact_id": 2}, "ok"),
        ({"contact_id": 2}, {"contact_id": "Bob"}, "error"),
    ]


async def test_an_approver_callback_may_answer_with_edited_arguments(tmp_path: Path) -> None:
    def approve(request: ApprovalRequest) -> Approved:
        return Approved({**request.arguments, "contact_id": 2})

    code = (
        CREATE + "await create_contact(name='Ada', email='ada@example.com')\n"
        "await create_contact(name='Bob', email='bob@example.com')\n"
        "await delete_contact(contact_id=1)\n"
        "sorted(c['name'] for c in await list_contacts())"
    )
    async with crm_executor(tmp_path, policy=Policy(approval="destructive", approve=approve)) as ex:
        result = await ex.execute(code)
        assert result.ok, result.to_text()
        assert result.value == "['Ada']"
        assert [c.decision for c in result.tool_calls if c.tool == "delete_contact"] == ["approved"]


def test_answers_are_parsed_strictly() -> None:
    assert parse_decision(True) == Decision(True)
    assert parse_decision("Approve") == Decision(True)
    assert parse_decision("no") == Decision(False)
    assert parse_decision({"approved": False, "reason": "r"}) == Decision(False, "r")
    assert parse_decision({"type": "reject", "message": "m"}) == Decision(False, "m")
    assert parse_decision({"type": "accept"}) == Decision(True)
    for unclear in (None, 1, "maybe", {"approved": "yes"}, {}, ["approve"]):
        with pytest.raises(UsageError, match="not an approval answer"):
            parse_decision(unclear)
    edited = Decision(True, "", {"contact_id": 2})
    assert parse_decision({"type": "edit", "args": {"contact_id": 2}}) == edited
    assert parse_decision({"type": "edit", "edited_action": {"name": "delete_contact", "args": {"contact_id": 2}}}) == (
        edited
    )
    assert parse_decision({"approved": True, "arguments": {"contact_id": 2}}) == edited
    for bad_edit in ({"type": "edit"}, {"type": "edit", "args": [2]}, {"type": "edit", "args": {1: 2}}):
        with pytest.raises(UsageError, match="edited arguments must be a JSON object"):
            parse_decision(bad_edit)
    with pytest.raises(UsageError, match="a rejected call has no arguments to edit"):
        parse_decision({"approved": False, "arguments": {"contact_id": 2}})
    with pytest.raises(UsageError, match="reason must be a string"):
        parse_decision({"approved": True, "reason": 3})
