"""Third-party Python MCP servers (installed in their own environment, .venv-servers) through the hub."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from conftest import python_server_command

from mcpexec.config import stdio_server
from mcpexec.errors import ToolCallError
from mcpexec.hub import MCPHub

pytestmark = [pytest.mark.anyio, pytest.mark.compat]


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = GIT_IDENTITY | {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env, timeout=30)
    (repo / "README.md").write_text("hello\n")
    subprocess.run(["git", "-C", str(repo), "add", "README.md"], check=True, env=env, timeout=30)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "first commit"], check=True, env=env, timeout=30)
    return repo


async def test_time_server_answers_with_structured_time() -> None:
    server = stdio_server(python_server_command("mcp-server-time"), "--local-timezone", "UTC")
    async with MCPHub({"time": server}) as hub:
        assert {t.name for t in hub.catalog.tools("time")} == {"get_current_time", "convert_time"}
        now = await hub.call_tool("time", "get_current_time", {"timezone": "Europe/Paris"})
        assert isinstance(now, dict)
        assert now["timezone"] == "Europe/Paris"
        assert datetime.fromisoformat(now["datetime"]).year >= 2025
        converted = await hub.call_tool(
            "time", "convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        )
        assert converted["target"]["datetime"].endswith("21:00:00+09:00")
        with pytest.raises(ToolCallError, match="Mars/Olympus"):
            await hub.call_tool("time", "get_current_time", {"timezone": "Mars/Olympus"})


async def test_git_server_reads_and_writes_a_real_repository(repository: Path) -> None:
    server = stdio_server(python_server_command("mcp-server-git"), "--repository", str(repository), env=GIT_IDENTITY)
    async with MCPHub({"git": server}) as hub:
        names = {t.name for t in hub.catalog.tools("git")}
        assert {"git_status", "git_log", "git_add", "git_commit", "git_diff_unstaged"} <= names
        log = await hub.call_tool("git", "git_log", {"repo_path": str(repository)})
        assert "first commit" in str(log)
        (repository / "README.md").write_text("hello\nworld\n")
        diff = await hub.call_tool("git", "git_diff_unstaged", {"repo_path": str(repository)})
        assert "+world" in str(diff)
        await hub.call_tool("git", "git_add", {"repo_path": str(repository), "files": ["README.md"]})
        await hub.call_tool("git", "git_commit", {"repo_path": str(repository), "message": "second commit"})
    log_run = await anyio.run_process(["git", "-C", str(repository), "log", "--format=%s"], check=True)
    subjects = log_run.stdout.decode().split("\n")
    assert subjects[:2] == ["second commit", "first commit"]
