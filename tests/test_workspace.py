"""The workspace seen from the host: checked paths in, files out, nothing outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcpexec import Workspace
from mcpexec.errors import UsageError


def test_files_go_in_and_come_out_under_relative_paths(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    path = workspace.write_text("input/orders.csv", "id,amount\n1,5\n")
    assert path == workspace.root / "input" / "orders.csv"
    assert workspace.read_text("input/orders.csv") == "id,amount\n1,5\n"
    workspace.write_bytes("data.bin", b"\x00\xff")
    assert workspace.read_bytes("data.bin") == b"\x00\xff"
    assert list(workspace.files()) == ["data.bin", "input/orders.csv"]
    assert (path.stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("bad", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "", "nul\x00byte"])
def test_paths_that_leave_the_workspace_are_refused(tmp_path: Path, bad: str) -> None:
    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(UsageError, match="workspace"):
        workspace.write_text(bad, "x")
    with pytest.raises(UsageError, match="workspace"):
        workspace.read_text(bad)
    assert not (tmp_path / "outside.txt").exists()


def test_symlinks_out_of_the_workspace_are_refused_both_ways(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    workspace = Workspace(tmp_path / "ws")
    os.symlink(secret, workspace.root / "link.txt")
    os.symlink(tmp_path, workspace.root / "escape")
    with pytest.raises(UsageError, match="outside the workspace"):
        workspace.read_text("link.txt")
    with pytest.raises(UsageError, match="outside the workspace"):
        workspace.write_text("escape/planted.txt", "x")
    assert not (tmp_path / "planted.txt").exists()
    assert secret.read_text() == "host secret"
    assert "link.txt" not in list(workspace.files())


def test_a_symlink_inside_the_workspace_is_not_followed_for_writes(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.write_text("real.txt", "original")
    os.symlink(workspace.root / "real.txt", workspace.root / "alias.txt")
    with pytest.raises(UsageError, match=r"'alias\.txt' is a symlink"):
        workspace.write_text("alias.txt", "changed")
    with pytest.raises(UsageError, match="is a symlink"):
        workspace.read_text("alias.txt")
    assert workspace.read_text("real.txt") == "original"


def test_missing_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no file 'absent\.txt' in the workspace"):
        Workspace(tmp_path / "ws").read_text("absent.txt")
