"""The ``mcpexec tools`` command: run for real as ``python -m mcpexec`` and in-process through ``cli.main``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTSERVER, run_subprocess

from mcpexec import __version__
from mcpexec.catalog import Catalog
from mcpexec.cli import main
from mcpexec.config import StdioServerConfig

DEMO_TOOLS = {
    "sheets": ["get_sheet", "list_sheets"],
    "crm": ["create_contact", "delete_contact", "find_contacts", "list_contacts"],
}
BROKEN_CONFIG = {
    "mcpServers": {
        "good": {"command": sys.executable, "args": ["-m", "mcpexec.demo_servers.sheets"]},
        "broken": {"command": sys.executable, "args": [str(TESTSERVER), "--fail-at-start"]},
    }
}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command."""
    return run_subprocess([sys.executable, "-m", "mcpexec", *args], cwd=cwd)


def table_sections(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """``server -> (header line, tool names)`` from the table output (sections are separated by blank lines)."""
    sections: dict[str, tuple[str, list[str]]] = {}
    for block in stdout.strip().split("\n\n"):
        header, *rows = block.splitlines()
        tools = [row.split()[0] for row in rows if row.startswith("  ") and not row.lstrip().startswith("|")]
        sections[header.split()[0]] = (header, tools)
    return sections


def tool_names(output: dict[str, Any], server: str) -> list[str]:
    return [tool["name"] for tool in output["servers"][server]["tools"]]


def write_config(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_tools_without_config_lists_the_bundled_demo_servers(tmp_path: Path) -> None:
    result = run_cli("tools", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sections = table_sections(result.stdout)
    assert list(sections) == ["sheets", "crm"]
    for server, names in DEMO_TOOLS.items():
        header, tools = sections[server]
        assert f"[{len(names)} tools]" in header
        assert tools == names
    assert "get_sheet    Return the rows of a sheet" in result.stdout  # names are padded, then the summary
    err = result.stderr
    assert "no --config given: using the bundled demo servers" in err
    assert "starting 2 servers: sheets, crm" in err
    assert "sheets: ready, 2 tools" in err
    assert "crm: ready, 4 tools" in err
    assert "[1/2]" in err
    assert "[2/2]" in err
    assert "Traceback" not in err


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)  # stdout carries nothing but the JSON document
    assert list(data["servers"]) == ["sheets", "crm"]
    for server, names in DEMO_TOOLS.items():
        entry = data["servers"][server]
        assert entry["state"] == "ready"
        assert "error" not in entry
        assert entry["server_info"]["name"] == server
        assert tool_names(data, server) == names
        for tool in entry["tools"]:
            assert tool["server"] == server
            assert tool["identifier"] == tool["name"]
            assert tool["input_schema"]["type"] == "object"
    create = next(t for t in data["servers"]["crm"]["tools"] if t["name"] == "create_contact")
    assert {"name", "email"} <= set(create["input_schema"]["properties"])
    assert "starting 2 servers" in err


@pytest.mark.npm
def test_config_naming_the_npm_servers(
    tmp_path: Path,
    everything_server: StdioServerConfig,
    filesystem_server: StdioServerConfig,
    memory_server: StdioServerConfig,
) -> None:
    servers = {"everything": everything_server, "filesystem": filesystem_server, "memory": memory_server}
    config = write_config(tmp_path / "mcp.json", {"mcpServers": servers})
    result = run_cli("tools", "--config", str(config), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data["servers"]) == ["everything", "filesystem", "memory"]
    assert {"echo", "get-sum", "get-tiny-image"} <= set(tool_names(data, "everything"))
    assert {"read_text_file", "write_file", "list_directory"} <= set(tool_names(data, "filesystem"))
    assert {"create_entities", "read_graph", "search_nodes"} <= set(tool_names(data, "memory"))
    get_sum = next(t for t in data["servers"]["everything"]["tools"] if t["name"] == "get-sum")
    assert get_sum["identifier"] == "get_sum"
    assert "starting 3 servers: everything, filesystem, memory" in result.stderr


def test_a_broken_server_is_reported_and_the_good_one_still_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "mcp.json", BROKEN_CONFIG)
    result = run_cli("tools", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    sections = table_sections(result.stdout)
    assert sections["good"][1] == ["get_sheet", "list_sheets"]
    assert "[failed]" in sections["broken"][0]
    assert "    | testserver: cannot start: missing database URL" in result.stdout.splitlines()
    assert "broken: FAILED" in result.stderr
    assert "good: ready, 2 tools" in result.stderr
    assert "Traceback" not in result.stderr

    # the JSON form carries the state, the error and the server's stderr
    assert main(["tools", "-c", str(config), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    broken = data["servers"]["broken"]
    assert broken["state"] == "failed"
    assert broken["tools"] == []
    assert broken["error"]
    assert "missing database URL" in broken["stderr_tail"]
    assert data["servers"]["good"]["state"] == "ready"
    assert tool_names(data, "good") == ["get_sheet", "list_sheets"]

    # leaving the broken server out with --server makes the run succeed
    assert main(["tools", "-c", str(config), "--server", "good", "--json"]) == 0
    out, err = capsys.readouterr()
    assert list(json.loads(out)["servers"]) == ["good"]
    assert "broken" not in err


BAD_CONFIGS = {
    "unknown-transport": (
        {"mcpServers": {"pigeon": {"type": "carrier-pigeon", "command": "coo"}}},
        ["server 'pigeon', field 'type'", "unknown transport 'carrier-pigeon'"],
    ),
    "missing-field": ({"mcpServers": {"remote": {"type": "http"}}}, ["server 'remote', field 'url'", 'missing "url"']),
    "invalid-json": (
        '{"mcpServers": {"x": {"command": "a",}}}',
        ["mcp.json: invalid JSON at line 1", "trailing comma"],
    ),
    "missing-file": (None, ["config file not found", "mcp.json"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_exits_2_with_a_message_and_no_traceback(tmp_path: Path, case: str) -> None:
    content, expected = BAD_CONFIGS[case]
    config = tmp_path / "mcp.json"
    if isinstance(content, str):
        config.write_text(content, encoding="utf-8")
    elif content is not None:
        write_config(config, content)
    result = run_cli("tools", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mcpexec: error: ")
    for fragment in expected:
        assert fragment in lines[0]


def test_save_catalog_writes_a_snapshot_catalog_load_reads(tmp_path: Path) -> None:
    result = run_cli("tools", "--json", "--save-catalog", "catalog.json", cwd=tmp_path)  # relative to the cwd
    assert result.returncode == 0, result.stderr
    assert "catalog of 6 tools saved to catalog.json" in result.stderr
    listed = json.loads(result.stdout)
    catalog = Catalog.load(tmp_path / "catalog.json")
    assert catalog.servers == ("sheets", "crm")
    assert len(catalog) == 6
    for server, names in DEMO_TOOLS.items():
        assert [tool.name for tool in catalog.tools(server)] == names
        assert [tool.to_json() for tool in catalog.tools(server)] == listed["servers"][server]["tools"]


def test_save_catalog_into_a_missing_directory_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli("tools", "--save-catalog", str(tmp_path / "no" / "such" / "dir.json"), cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert "mcpexec: error: " in result.stderr


def test_server_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--json", "--server", "crm"]) == 0
    out, err = capsys.readouterr()
    assert list(json.loads(out)["servers"]) == ["crm"]
    assert tool_names(json.loads(out), "crm") == DEMO_TOOLS["crm"]
    assert "starting 1 server: crm ..." in err

    assert main(["tools", "--json", "-s", "crm", "-s", "sheets"]) == 0
    assert set(json.loads(capsys.readouterr().out)["servers"]) == {"crm", "sheets"}


def test_unknown_server_name_exits_2_before_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "-s", "crm", "-s", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "mcpexec: error: --server nope: not in the configuration (sheets, crm)" in err
    assert "starting" not in err


def test_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcpexec {__version__}"
    with pytest.raises(SystemExit) as exited:
        main([])  # a command is required
    assert exited.value.code == 2
    assert "usage: mcpexec" in capsys.readouterr().err
