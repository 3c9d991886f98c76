"""Policy, audit log and metrics, through CodeExecutor on the local sandbox with the bundled real servers."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcpexec import CodeExecutor
from mcpexec.audit import AuditLog
from mcpexec.errors import UsageError
from mcpexec.policy import ApprovalRequest, Policy
from tests.conftest import crm_servers
from tests.test_executor import reachable

pytestmark = pytest.mark.anyio

CREATE = "from servers.crm import create_contact, delete_contact, list_contacts\n"


def crm_executor(tmp_path: Path, **options: Any) -> CodeExecutor:
    servers = crm_servers(tmp_path)
    return CodeExecutor(servers, workspace=reachable(tmp_path) / "ws", **{"cell_timeout": 20, **options})


async def test_deny_rules_refuse_calls_with_policy_denied_in_the_guest(tmp_path: Path) -> None:
    policy = Policy(deny=["crm.delete_*"])
    async with crm_executor(tmp_path, policy=policy) as ex:
        code = (
            CREATE + "from mcpexec.errors import PolicyDenied\n"
            "try:\n"
            "    await delete_contact(contact_id=1)\n"
            "except PolicyDenied as e:\n"
            "    print('refused:', e.reason)\n"
            "len(await list_contacts())"
        )
        result = await ex.execute(code)
        assert result.ok, result.to_text()
        assert result.stdout == "refused: crm.delete_contact is denied by the rule 'crm.delete_*'\n"
        assert [(c.tool, c.status, c.decision) for c in result.tool_calls] == [
            ("delete_contact", "denied", "denied"),
            ("list_contacts", "ok", "allowed"),
        ]
        assert "delete_contact" not in ex.hub.stats().get("crm", {})
        assert "1 failed or denied" in result.to_text()


async def test_allow_list_and_unknown_tools(tmp_path: Path) -> None:
    async with crm_executor(tmp_path, policy=Policy(allow=["sheets.*"])) as ex:
        result = await ex.execute(CREATE + "await list_contacts()")
        assert result.error is not None
        assert result.error.type == "PolicyDenied"
        assert "crm.list_contacts is not allowed (allowed: sheets.*)" in result.error.message
        ok = await ex.execute("from servers.sheets import list_sheets\nlen(await list_sheets())")
        assert ok.value == "3"


async def test_budgets_per_execution_and_per_session(tmp_path: Path) -> None:
    policy = Policy(max_calls_per_execution=2, max_calls_per_session=3)
    async with crm_executor(tmp_path, policy=policy) as ex:
        code = (
            CREATE + "from mcpexec.errors import PolicyDenied\n"
            "done = 0\n"
            "for _ in range(5):\n"
            "    try:\n"
            "        await list_contacts()\n"
            "        done += 1\n"
            "    except PolicyDenied as e:\n"
            "        reason = e.reason\n"
            "print(done, reason)"
        )
        first = await ex.execute(code)
        assert first.stdout == "2 the budget of 2 tool calls per execution is used up\n", first.to_text()
        second = await ex.execute(code)
        assert second.stdout == "1 the budget of 3 tool calls per session is used up\n", second.to_text()
        assert ex.stats.denied_calls == 7
        assert ex.stats.tools["crm.list_contacts"].calls == 3


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_approval_is_asked_for_destructive_tools_with_the_arguments(tmp_path: Path, asynchronous: bool) -> None:
    asked: list[ApprovalRequest] = []

    def decide(request: ApprovalRequest) -> bool:
        asked.append(request)
        return request.arguments.get("contact_id") == 1

    async def decide_async(request: ApprovalRequest) -> bool:
        return decide(request)

    approver: Callable[[ApprovalRequest], Any] = decide_async if asynchronous else decide
    async with crm_executor(tmp_path, policy=Policy(approve=approver)) as ex:
        code = (
            CREATE + "await create_contact(name='Ada', email='ada@example.com')\n"
            "print(await delete_contact(contact_id=1))\n"
            "await delete_contact(contact_id=2)\n"
        )
        result = await ex.execute(code)
    assert [(r.tool, r.arguments, r.reason) for r in asked] == [
        ("delete_contact", {"contact_id": 1}, "the tool is marked destructive"),
        ("delete_contact", {"contact_id": 2}, "the tool is marked destructive"),
    ]  # create_contact is marked non-destructive and list/find read-only: not asked
    assert result.stdout == "True\n"
    assert result.error is not None
    assert result.error.type == "PolicyDenied"
    assert "was not approved" in result.error.message
    assert [c.decision for c in result.tool_calls] == ["allowed", "approved", "denied"]


async def test_raw_protocol_frames_from_guest_code_go_through_the_same_policy(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    async with crm_executor(tmp_path, policy=Policy(deny=["crm.delete_contact"]), audit=audit) as ex:
        await ex.execute(CREATE + "await create_contact(name='Ada', email='ada@example.com')")
        code = (
            "import json, os, re, socket\n"
            "cmdline = open('/proc/self/cmdline', 'rb').read()\n"
            "fd = int(re.search(rb'main\\((\\d+),', cmdline).group(1))\n"
            "raw = socket.socket(fileno=os.dup(fd))\n"
            "frame = {'type': 'tool_call', 'id': 10**9, 'server': 'crm', 'tool': 'delete_contact',\n"
            "         'arguments': {'contact_id': 1}}\n"
            "raw.sendall(json.dumps(frame).encode() + b'\\n')\n"
            "raw.sendall(b'{not json}\\n' + json.dumps({'type': 'exec_result', 'id': 1}).encode() + b'\\n')\n"
            "from servers.crm import list_contacts\n"
            "len(await list_contacts())"
        )
        result = await ex.execute(code)
        assert result.value == "1", result.to_text()  # the contact is still there
        after = await ex.execute("len(await list_contacts())")
        assert after.value == "1"
        assert "delete_contact" not in ex.hub.stats()["crm"]
        assert ex.stats.denied_calls == 1
    events = AuditLog.read(audit)
    denied = [e for e in events if e["event"] == "tool_call" and e["decision"] == "denied"]
    assert len(denied) == 1
    assert denied[0]["tool"] == "delete_contact"
    assert denied[0]["reason"] == "crm.delete_contact is denied by the rule 'crm.delete_contact'"


async def test_audit_log_records_cells_and_calls_to_a_file_a_logger_or_a_callback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[str, Any]] = []
    logger = logging.getLogger("mcpexec.test.audit")
    for sink in (tmp_path / "logs" / "audit.jsonl", logger, seen.append):
        async with crm_executor(tmp_path, audit=sink) as ex:
            with caplog.at_level(logging.INFO, logger="mcpexec.test.audit"):
                await ex.execute(CREATE + "await create_contact(name='Ada', email='ada@example.com')\n1 / 0")
    from_file = AuditLog.read(tmp_path / "logs" / "audit.jsonl")
    from_logger = [json.loads(r.getMessage()) for r in caplog.records if r.name == "mcpexec.test.audit"]
    for events in (from_file, from_logger, seen):
        call, cell = events
        assert call["event"] == "tool_call"
        assert call["arguments"] == {"name": "Ada", "email": "ada@example.com"}
        assert (call["status"], call["decision"]) == ("ok", "allowed")
        assert call["result_bytes"] > 20
        assert cell["event"] == "cell"
        assert cell["outcome"] == "ZeroDivisionError"
        assert cell["tool_calls"] == 1
        assert "create_contact" in cell["code"]
    assert (tmp_path / "logs" / "audit.jsonl").stat().st_mode & 0o777 == 0o600


async def test_stats_count_tokens_that_reached_the_model(tmp_path: Path) -> None:
    async with crm_executor(tmp_path) as ex:
        assert ex.stats.tokens_to_model == 0
        ex.search_tools("contacts", "with_description", 3)
        after_search = ex.stats.tokens_to_model
        assert after_search > 10
        result = await ex.execute("from servers.sheets import get_sheet\nlen(await get_sheet(sheet_id='orders-2026'))")
        stats = ex.stats
    assert stats.tokenizer == "bpe-openai o200k_base"  # a real tokenizer is installed in the dev environment
    assert stats.tokens_to_model - after_search < 30  # ~370 KB of rows stayed in the sandbox
    assert stats.tools["sheets.get_sheet"].bytes_in > 300_000
    assert stats.cells == 1
    assert result.value == "1000"


def test_policy_refuses_bad_configuration() -> None:
    with pytest.raises(UsageError, match=r"server\.tool"):
        Policy(deny=["delete"])
    with pytest.raises(UsageError, match="list of"):
        Policy(allow="crm.*")
    with pytest.raises(UsageError, match="non-negative"):
        Policy(max_calls_per_execution=-1)
    with pytest.raises(UsageError, match="approval must be one of"):
        Policy(approval="sometimes")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="callable"):
        Policy(approve="yes")  # type: ignore[arg-type]


def test_token_counts_are_exact_with_a_tokenizer_and_say_so_without(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpe_openai  # type: ignore[import-untyped]

    from mcpexec import tokens

    text = "".join(f"row {i}: ada.lovelace{i}@example.com pending\n" for i in range(3000))  # longer than one chunk
    with warnings.catch_warnings():  # bpe-openai 0.1 loads its data with a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        exact = len(bpe_openai.get_encoding("o200k_base").encode(text))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    assert tokens.count_tokens(text) == exact
    tokens._counter.cache_clear()  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(tokens, "_load", lambda module: None)
    try:
        assert tokens.tokenizer_name().startswith("estimate")
        assert tokens.count_tokens("x" * 400) == 100
    finally:
        tokens._counter.cache_clear()  # pyright: ignore[reportPrivateUsage]
