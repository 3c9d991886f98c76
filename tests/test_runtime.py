"""The guest runtime is standard-library only and behaves as documented on the host."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpexec import runtime

RUNTIME_DIR = Path(runtime.__file__).parent


def _imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


GUEST_FILES = [*RUNTIME_DIR.rglob("*.py"), RUNTIME_DIR.parent / "errors.py", RUNTIME_DIR.parent / "results.py"]
GUEST_MODULES = {"mcpexec", "mcpexec.errors", "mcpexec.results"} | {
    f"mcpexec.runtime.{p.stem}" for p in RUNTIME_DIR.glob("*.py")
}


def test_the_guest_library_imports_only_the_standard_library_and_itself() -> None:
    """What a sandbox receives (runtime, errors, results) runs on a bare interpreter."""
    modules = {name for path in GUEST_FILES for name in _imported_modules(path)}
    outside = {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names and m != "__future__"}
    assert modules
    assert outside <= GUEST_MODULES | {"mcpexec.runtime"}, outside - GUEST_MODULES


@pytest.fixture
def no_caller() -> Iterator[None]:
    previous = runtime.set_tool_caller(None)
    yield
    runtime.set_tool_caller(previous)


@pytest.mark.anyio
@pytest.mark.usefixtures("no_caller")
async def test_call_without_a_caller_says_where_wrappers_run() -> None:
    with pytest.raises(runtime.NoToolCaller, match="execute_code"):
        await runtime.call_mcp_tool("github", "create_issue", {})


@pytest.mark.anyio
@pytest.mark.usefixtures("no_caller")
async def test_installed_caller_receives_server_tool_and_a_copy_of_the_arguments() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def caller(server: str, tool: str, arguments: dict[str, Any]) -> str:
        seen.append((server, tool, arguments))
        return "done"

    runtime.set_tool_caller(caller)
    original = {"owner": "o"}
    assert await runtime.call_mcp_tool("github", "create_issue", original) == "done"
    assert seen == [("github", "create_issue", {"owner": "o"})]
    assert seen[0][2] is not original


def test_merge_arguments_combines_dict_and_keywords() -> None:
    assert runtime.merge_arguments({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert runtime.merge_arguments(None, {"from_": "x"}, {"from_": "from"}) == {"from": "x"}
    with pytest.raises(TypeError, match="given twice"):
        runtime.merge_arguments({"a": 1}, {"a": 2})
    with pytest.raises(TypeError, match="must be a dict"):
        runtime.merge_arguments(["a"], {})
