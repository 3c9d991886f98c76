"""PII tokenization and skills through CodeExecutor, on the local sandbox with the bundled real servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcpexec import CodeExecutor
from mcpexec.audit import AuditLog
from mcpexec.errors import UsageError
from mcpexec.pii import PIITokenizer, allow_flow, deny_flow
from tests.conftest import BACKENDS, crm_servers, sandbox_options, testserver_config
from tests.test_executor import reachable

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def on_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Which sandbox backend the test runs on (the executor helper makes a fresh sandbox each time)."""
    backend: str = request.param
    return {"backend": backend, "request": request}


def executor(tmp_path: Path, on: dict[str, Any] | None = None, **options: Any) -> CodeExecutor:
    servers = crm_servers(tmp_path, chat=testserver_config())
    workspace = reachable(tmp_path) / "ws"
    placement = {"workspace": workspace} if on is None else sandbox_options(on["backend"], on["request"], workspace)
    return CodeExecutor(servers, cell_timeout=30, **placement, **options)


SPREADSHEET_TO_CRM = """
from servers.sheets import get_sheet
from servers.crm import create_contact
rows = await get_sheet(sheet_id="orders-sample", limit=3)
for row in rows:
    print(row["customer"], row["email"], row["phone"])
    await create_contact(name=row["customer"], email=row["email"], phone=row["phone"])
"""


async def test_spreadsheet_to_crm_moves_real_emails_while_the_sandbox_sees_only_tokens(
    tmp_path: Path, on_backend: dict[str, Any]
) -> None:
    audit = tmp_path / "audit.jsonl"
    pii = PIITokenizer(flow_rules=[deny_flow("sheets", "*"), allow_flow("sheets", "crm")])
    async with executor(tmp_path, on_backend, pii=pii, audit=audit) as ex:
        result = await ex.execute(SPREADSHEET_TO_CRM)
        assert result.ok, result.to_text()
        lines = result.stdout.splitlines()
        assert len(lines) == 3
        for line in lines:
            assert "@" not in line
            assert "[EMAIL_" in line
            assert "[PHONE_" in line
        leak = await ex.execute("from servers.chat import echo\nawait echo(text=f'contact {rows[0][\"email\"]} now')")
        assert leak.error is not None
        assert leak.error.type == "PolicyDenied"
        assert "sheets -> *: deny" in leak.error.message
        assert "@" not in leak.to_text()
        assert "chat" not in ex.hub.stats()  # the chat server never saw the call
    received = json.loads((tmp_path / "crm.json").read_text())
    assert len(received) == 3
    assert all(contact["email"].endswith("@example.com") for contact in received)
    assert all(contact["phone"].startswith("+1-555-") for contact in received)
    logged = audit.read_text()
    assert "@example.com" not in logged  # the audit log holds tokens, not values
    assert "[EMAIL_1]" in logged
    assert any(e.get("decision") == "denied" for e in AuditLog.read(audit))


async def test_pii_true_uses_the_default_detectors(tmp_path: Path) -> None:
    async with executor(tmp_path, pii=True) as ex:
        result = await ex.execute("from servers.chat import echo\nawait echo(text='mail ada@example.com now')")
    assert result.value == "'mail [EMAIL_1] now'"


SKILL = '''
from servers.sheets import get_sheet

async def check_pending_orders(sheet_id: str, minimum: float = 0.0) -> int:
    """How many orders of a sheet are pending, at or above an amount."""
    rows = await get_sheet(sheet_id=sheet_id, status="pending")
    return sum(1 for row in rows if row["amount"] >= minimum)
'''


async def test_a_skill_saved_in_one_session_is_imported_and_found_in_the_next(
    tmp_path: Path, on_backend: dict[str, Any]
) -> None:
    skills_dir = tmp_path / "team-skills"
    async with executor(tmp_path, on_backend, skills_dir=skills_dir) as ex:
        code = (
            "from mcpexec.runtime import save_skill\n"
            f"save_skill('check_pending_orders', {SKILL!r}, description='Count the pending orders of a sheet.',"
            " example=\"await check_pending_orders('orders-sample')\")"
        )
        saved = await ex.execute(code)
        assert saved.value == "'from skills.check_pending_orders import check_pending_orders'", saved.to_text()
        same_session = await ex.execute(
            "from skills.check_pending_orders import check_pending_orders\n"
            "await check_pending_orders('orders-2026', minimum=250)"
        )
        assert same_session.ok, same_session.to_text()
        expected = same_session.value
    assert (skills_dir / "check_pending_orders" / "SKILL.md").is_file()
    async with executor(tmp_path, on_backend, skills_dir=skills_dir) as ex:
        hits = ex.search_tools("how many orders are pending", "with_description", 3)
        assert hits[0]["kind"] == "skill"
        assert hits[0]["import"] == "from skills.check_pending_orders import check_pending_orders"
        assert ex.search_tools("", "name_only", 10, server="skills") == ["skills.check_pending_orders"]
        later = await ex.execute(
            "from skills.check_pending_orders import check_pending_orders\n"
            "from mcpexec.runtime import search_tools\n"
            "print(search_tools('pending orders', 'name_only', 2))\n"
            "await check_pending_orders('orders-2026', minimum=250)"
        )
        assert later.value == expected
        assert later.stdout.startswith("['skills.check_pending_orders'")
        removed = await ex.execute(
            "from mcpexec.runtime import remove_skill\nremove_skill('check_pending_orders')\n"
            "import importlib.util\nimportlib.util.find_spec('skills.check_pending_orders') is None"
        )
        assert removed.value == "True", removed.to_text()
        assert ex.skills.list() == []


async def test_skills_that_do_not_work_are_refused_with_the_reason(tmp_path: Path, on_backend: dict[str, Any]) -> None:
    async with executor(tmp_path, on_backend) as ex:
        cases = {
            "def broken(:\n    pass": "does not compile",
            "import no_such_module\ndef broken(): pass": "fails on import: ModuleNotFoundError",
            "def other(): pass": "must define a function named 'broken'",
        }
        for source, reason in cases.items():
            result = await ex.execute(
                f"from mcpexec.runtime import save_skill\nsave_skill('broken', {source!r}, description='x')"
            )
            assert result.error is not None
            assert result.error.type == "SkillError"
            assert reason in result.error.message
        failing_example = await ex.execute(
            "from mcpexec.runtime import save_skill\n"
            "save_skill('halve', 'def halve(x):\\n    return x / 0', description='Halve.', example='halve(4)')"
        )
        assert failing_example.error is not None
        assert "the example failed: ZeroDivisionError" in failing_example.error.message
        shadowing = await ex.execute(
            "from mcpexec.runtime import save_skill\nsave_skill('json', 'def json(): pass', description='x')"
        )
        assert shadowing.error is not None
        assert shadowing.error.type == "UsageError"
        assert ex.skills.list() == []


async def test_skills_saved_from_the_host_are_verified_in_the_sandbox_and_shared_as_archives(
    tmp_path: Path, on_backend: dict[str, Any]
) -> None:
    async with executor(tmp_path, on_backend) as ex:
        skill = await ex.skills.save(
            "double", "def double(x: int) -> int:\n    return 2 * x\n", description="Double.", example="double(2)"
        )
        assert skill.signature == "def double(x: int) -> int"
        assert (await ex.execute("from skills.double import double\ndouble(21)")).value == "42"
        with pytest.raises(UsageError, match="failed verification in the sandbox"):
            await ex.skills.save("bad", "def bad():\n    return 1\n", description="Bad.", example="bad(1, 2)")
        archive = ex.skills.export(tmp_path / "skills.zip")
    async with executor(tmp_path, on_backend) as other:
        assert [s.name for s in other.skills.import_from(archive)] == ["double"]
        assert (await other.execute("from skills.double import double\ndouble(5)")).value == "10"
