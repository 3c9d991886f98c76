"""Errors survive pickling and copying with their message and attributes."""

from __future__ import annotations

import copy
import pickle

import pytest

from mcpexec.errors import (
    ConfigError,
    MCPExecError,
    PolicyDenied,
    SandboxCrashed,
    ServerError,
    SnapshotError,
    ToolCallError,
    ToolTimeout,
    UnknownToolError,
)

ERRORS: list[MCPExecError] = [
    ConfigError("add a command", server="files", field="command"),
    ServerError("exited", server="files", stderr_tail="boom\n"),
    ToolCallError("access denied", server="files", tool="read_file"),
    ToolTimeout(server="files", tool="read_file", timeout=2.5),
    UnknownToolError("no tool 'raed'", server="files", name="raed", suggestions=["read"]),
    PolicyDenied("rule 'no-chat' forbids it"),
    SandboxCrashed("the sandbox died"),
    SnapshotError("bad version"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy])
def test_errors_round_trip(error: MCPExecError, clone: object) -> None:
    restored = clone(error)  # type: ignore[operator]
    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert vars(restored) == vars(error)


def test_messages_name_where_the_problem_is() -> None:
    assert str(ConfigError("add a command", server="files", field="command")) == (
        "server 'files', field 'command': add a command"
    )
    assert "boom" in str(ServerError("exited", server="files", stderr_tail="boom\n"))
    timeout = ToolTimeout(server="s", tool="t", timeout=2.5)
    assert isinstance(timeout, ToolCallError)
    assert "2.5 s" in str(timeout)
    assert "did you mean 'read'?" in str(ERRORS[4])
