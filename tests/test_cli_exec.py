"""``mcpexec demo`` and ``mcpexec exec``: the code-execution commands, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import TESTSERVER, run_subprocess


def mcpexec(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mcpexec", *args]
    if stdin is None:
        return run_subprocess(argv, cwd=cwd)
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=90, check=False)


def test_demo_runs_the_seeds_example_offline_and_shows_what_stayed_in_the_sandbox(tmp_path: Path) -> None:
    done = mcpexec("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("isolation: ")
    assert "10,000 orders" in out
    assert out.count("ORD-") == 5
    assert "[1 tool call: sheets.get_sheet]" in out
    stayed = int(out.split("stayed in the sandbox: ")[1].split(" bytes")[0].replace(",", ""))
    shown = int(out.split("returned to the model: ")[1].split(" characters")[0].replace(",", ""))
    assert stayed > 1_000_000
    assert shown < 400


def test_exec_runs_a_file_stdin_or_inline_code_against_configured_servers(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"test": {"command": sys.executable, "args": [str(TESTSERVER)]}}}))
    script = tmp_path / "cell.py"
    script.write_text("from servers.test import add\nprint((await add(a=1, b=2))['total'])\n")
    from_file = mcpexec("exec", "--config", str(config), str(script), cwd=tmp_path)
    assert (from_file.returncode, from_file.stdout) == (0, "3.0\n[1 tool call: test.add]\n"), from_file.stderr
    from_stdin = mcpexec("exec", "--config", str(config), "-", cwd=tmp_path, stdin="6 * 7\n")
    assert from_stdin.stdout == "Out: 42\n"
    inline = mcpexec("exec", "--config", str(config), "-e", "{}['missing']", cwd=tmp_path)
    assert inline.returncode == 1
    assert inline.stdout.rstrip().endswith("KeyError: 'missing'")


def test_exec_says_what_is_wrong_with_its_arguments(tmp_path: Path) -> None:
    nothing = mcpexec("exec", cwd=tmp_path)
    assert nothing.returncode == 2
    assert "nothing to run" in nothing.stderr
    both = mcpexec("exec", "x.py", "-e", "1", cwd=tmp_path)
    assert "not both" in both.stderr
    missing = mcpexec("exec", str(tmp_path / "absent.py"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr + nothing.stderr + both.stderr
    assert not os.listdir(tmp_path)


def test_exec_and_demo_run_on_e2b_with_one_option(tmp_path: Path, fake_e2b: Any) -> None:
    env = {**os.environ, **fake_e2b.env()}
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"test": {"command": sys.executable, "args": [str(TESTSERVER)]}}}))
    argv = [sys.executable, "-m", "mcpexec"]
    inline = run_subprocess(
        [*argv, "exec", "--config", str(config), "--sandbox", "e2b", "-e", "from servers.test import add\n"
         "(await add(a=20, b=22))['total']"],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert (inline.returncode, inline.stdout) == (0, "Out: 42.0\n[1 tool call: test.add]\n"), inline.stderr
    demo = run_subprocess([*argv, "demo", "--sandbox", "e2b"], cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("isolation: e2b (full)")
    assert demo.stdout.count("ORD-") == 5
    wrong = run_subprocess([*argv, "demo", "--sandbox", "e2b", "--isolation", "full"], cwd=tmp_path, env=env)
    assert wrong.returncode == 2
    assert "--isolation are for the local sandbox" in wrong.stderr
    fake_e2b.wait_until(lambda: not fake_e2b.alive(), timeout=10)
