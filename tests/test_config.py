"""Tests of mcpexec.config: the mcp.json loader, the typed constructors and every error message."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, cast

import pytest

import mcpexec.config as config_module
from mcpexec.config import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_STARTUP_TIMEOUT,
    ServerConfig,
    http_server,
    load_config,
    parse_config,
    server_startup_timeout,
    server_timeout,
    stdio_server,
    validate_servers,
)
from mcpexec.errors import ConfigError

ENV = {"HOME": "/home/ada", "GITHUB_TOKEN": "ghp_secret", "EMPTY": "", "PORT": "8931"}

CLAUDE_DESKTOP_FILE = """\
{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "${HOME}/Desktop", "${HOME}/Downloads"],
      "_comment": "read-only would be nicer"
    },
    "github": {
      "command": "docker",
      "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}", "LOG_LEVEL": "${LOG_LEVEL:-info}"},
      "cwd": "${HOME}/src",
      "timeout": 120,
      "startupTimeout": 45.5,
      "x-owner": "platform team"
    },
    "remote-search": {
      "type": "http",
      "url": "http://localhost:${PORT}/mcp",
      "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}", "X-Price": "$$5"}
    },
    "old-server": {
      "disabled": true,
      "command": "node",
      "args": ["${NOT_SET_ANYWHERE}"]
    }
  }
}
"""


def servers(**entries: Any) -> dict[str, Any]:
    """A parsed mcp.json object holding the given servers."""
    return {"mcpServers": entries}


def parse_error(data: Any, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ=ENV if environ is None else environ)
    return info.value


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "mcp.json"
    path.write_text(text, encoding="utf-8")
    return path


# --- loading -----------------------------------------------------------------------------------------------------


def test_load_claude_desktop_file(tmp_path: pathlib.Path) -> None:
    loaded = load_config(write(tmp_path, CLAUDE_DESKTOP_FILE), environ=ENV)
    assert list(loaded) == ["filesystem", "github", "remote-search"]  # file order, disabled server left out
    assert loaded == {
        "filesystem": {
            "transport": "stdio",
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/ada/Desktop", "/home/ada/Downloads"],
        },
        "github": {
            "transport": "stdio",
            "command": "docker",
            "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_secret", "LOG_LEVEL": "info"},
            "cwd": "/home/ada/src",
            "timeout": 120.0,
            "startup_timeout": 45.5,
        },
        "remote-search": {
            "transport": "streamable_http",
            "url": "http://localhost:8931/mcp",
            "headers": {"Authorization": "Bearer ghp_secret", "X-Price": "$5"},
        },
    }
    assert isinstance(loaded["github"].get("timeout"), float)


def test_load_accepts_pathlike_str_and_bom(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(servers(a={"command": "x"})), encoding="utf-8-sig")
    expected = {"a": {"transport": "stdio", "command": "x"}}
    assert load_config(path, environ={}) == expected
    assert load_config(str(path), environ={}) == expected


def test_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPEXEC_TEST_CMD", "uvx")
    assert parse_config(servers(a={"command": "${MCPEXEC_TEST_CMD}"}))["a"].get("command") == "uvx"


def test_vscode_servers_form() -> None:
    data = {"inputs": [], "servers": {"fetch": {"type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"]}}}
    assert parse_config(data, environ={}) == {
        "fetch": {"transport": "stdio", "command": "uvx", "args": ["mcp-server-fetch"]}
    }


@pytest.mark.parametrize(
    ("entry", "transport"),
    [
        ({"command": "npx"}, "stdio"),
        ({"url": "https://example.com/mcp"}, "streamable_http"),
    ],
)
def test_transport_is_inferred(entry: dict[str, Any], transport: str) -> None:
    assert parse_config(servers(a=entry), environ={})["a"]["transport"] == transport


@pytest.mark.parametrize("key", ["transport", "type"])
@pytest.mark.parametrize(
    "spelling", ["streamable_http", "streamable-http", "streamableHttp", "http", "HTTP", "Streamable-HTTP"]
)
def test_http_transport_spellings(key: str, spelling: str) -> None:
    loaded = parse_config(servers(a={key: spelling, "url": "https://example.com/mcp"}), environ={})
    assert loaded["a"] == {"transport": "streamable_http", "url": "https://example.com/mcp"}


@pytest.mark.parametrize("key", ["transport", "type"])
def test_stdio_transport_spelling(key: str) -> None:
    assert parse_config(servers(a={key: "stdio", "command": "x"}), environ={})["a"] == {
        "transport": "stdio",
        "command": "x",
    }


@pytest.mark.parametrize("key", ["startup_timeout", "startupTimeout"])
def test_startup_timeout_spellings(key: str) -> None:
    loaded = parse_config(servers(a={"command": "x", key: 5}), environ={})
    assert loaded["a"] == {"transport": "stdio", "command": "x", "startup_timeout": 5.0}


def test_comment_keys_and_disabled_false() -> None:
    entry = {"_note": 1, "x-team": {"any": "thing"}, "disabled": False, "command": "x"}
    assert parse_config(servers(a=entry), environ={}) == {"a": {"transport": "stdio", "command": "x"}}


def test_timeouts_default_and_explicit() -> None:
    plain, tuned = stdio_server("x"), stdio_server("x", timeout=2, startup_timeout=0.5)
    assert (server_timeout(plain), server_startup_timeout(plain)) == (DEFAULT_CALL_TIMEOUT, DEFAULT_STARTUP_TIMEOUT)
    assert (server_timeout(tuned), server_startup_timeout(tuned)) == (2.0, 0.5)
    assert (DEFAULT_CALL_TIMEOUT, DEFAULT_STARTUP_TIMEOUT) == (60.0, 30.0)


# --- ${VAR} expansion ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expanded"),
    [
        ("${HOME}", "/home/ada"),
        ("a${HOME}b${PORT}", "a/home/adab8931"),
        ("${UNSET:-fallback}", "fallback"),
        ("${UNSET:-}", ""),
        ("${UNSET:-with spaces: and -dashes}", "with spaces: and -dashes"),
        ("${EMPTY:-fallback}", "fallback"),  # as in the shell, :- also covers set-but-empty
        ("${EMPTY}", ""),
        ("${PORT:-1}", "8931"),
        ("$$", "$"),
        ("$${HOME}", "${HOME}"),
        ("$$$${HOME}", "$${HOME}"),
        ("cost: $5, $HOME", "cost: $5, $HOME"),  # a lone $ (no braces) is literal
    ],
)
def test_expansion(written: str, expanded: str) -> None:
    loaded = parse_config(servers(a={"command": "x", "args": [written]}), environ=ENV)
    assert loaded["a"].get("args") == [expanded]


def test_expansion_applies_to_every_string_field_but_not_keys() -> None:
    data = servers(
        s={"command": "${HOME}/bin/s", "args": ["${PORT}"], "env": {"${HOME}": "${PORT}"}, "cwd": "${HOME}"},
        h={"url": "https://${HOME_HOST:-example.com}/mcp", "headers": {"${HOME}": "${PORT}"}},
    )
    loaded = parse_config(data, environ=ENV)
    assert loaded["s"] == {
        "transport": "stdio",
        "command": "/home/ada/bin/s",
        "args": ["8931"],
        "env": {"${HOME}": "8931"},
        "cwd": "/home/ada",
    }
    assert loaded["h"] == {
        "transport": "streamable_http",
        "url": "https://example.com/mcp",
        "headers": {"${HOME}": "8931"},
    }


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"command": "x", "env": {"API_KEY": "${API_KEY}"}}, "env.API_KEY"),
        ({"command": "x", "args": ["-y", "pkg", "--key=${API_KEY}"]}, "args[2]"),
        ({"command": "${API_KEY}"}, "command"),
        ({"command": "x", "cwd": "${API_KEY}"}, "cwd"),
        ({"url": "https://${API_KEY}/mcp"}, "url"),
        ({"url": "https://e.com", "headers": {"Authorization": "Bearer ${API_KEY}"}}, "headers.Authorization"),
    ],
)
def test_unset_variable(entry: dict[str, Any], field: str) -> None:
    error = parse_error(servers(srv=entry))
    assert (error.server, error.field) == ("srv", field)
    assert "environment variable 'API_KEY' is not set" in str(error)
    assert "export API_KEY=" in str(error)
    assert "${API_KEY:-default}" in str(error)


@pytest.mark.parametrize("written", ["${NO SPACE}", "${1X}", "${X", "${}", "${X:=y}", "${X:-${Y}}", "${input:token}"])
def test_malformed_variable_reference(written: str) -> None:
    error = parse_error(servers(srv={"command": "x", "env": {"K": written}}))
    assert (error.server, error.field) == ("srv", "env.K")
    assert "malformed variable reference" in str(error)
    assert "$$ for a literal" in str(error)


# --- errors in one server ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "field", "phrase"),
    [
        # transport
        ({"transport": "websocket", "url": "wss://x"}, "transport", "unknown transport 'websocket'; use 'stdio' or"),
        ({"type": "grpc", "command": "x"}, "type", "'streamableHttp', 'http'"),
        ({"type": 3, "command": "x"}, "type", "unknown transport the number 3"),
        ({"type": "sse", "url": "https://e.com/sse"}, "type", "deprecated SSE transport is not supported"),
        (
            {"transport": "SSE", "url": "https://e.com/sse"},
            "transport",
            'use streamable HTTP instead: set "type": "http"',
        ),
        ({"command": "x", "url": "https://e.com"}, "transport", 'has both "command" and "url"'),
        ({"args": ["x"]}, "command", 'missing "command"'),
        ({"transport": "stdio", "args": ["x"]}, "command", 'missing "command": add it, e.g. "command": "npx"'),
        ({"type": "http"}, "url", 'missing "url": add it, e.g. "url": "https://example.com/mcp"'),
        ({"type": "http", "url": "https://e.com", "command": "x"}, "command", "does not apply to a streamable_http"),
        ({"command": "x", "headers": {}}, "headers", "does not apply to a stdio server"),
        ({"type": "stdio", "transport": "stdio", "command": "x"}, "transport", "'type' is given too; keep only one"),
        ({"command": "x", "startupTimeout": 1, "startup_timeout": 2}, "startup_timeout", "keep only one"),
        # command, cwd
        ({"command": ""}, "command", 'is empty; set it, e.g. "command": "npx"'),
        ({"command": "   "}, "command", "is empty"),
        ({"command": "${EMPTY}"}, "command", "is empty"),
        ({"command": ["npx", "-y"]}, "command", "must be a string, got a list"),
        ({"command": "x", "cwd": ""}, "cwd", "is empty"),
        ({"command": "x", "cwd": 1}, "cwd", "must be a string"),
        # args
        ({"command": "x", "args": "-y some-server"}, "args", 'not one string; write ["-y", "some-server"]'),
        ({"command": "x", "args": {"a": 1}}, "args", "must be a list of strings"),
        ({"command": "x", "args": None}, "args", "must be a list of strings, e.g."),
        ({"command": "x", "args": ["--port", 8080]}, "args[1]", 'quote it: "8080"'),
        ({"command": "x", "args": [None]}, "args[0]", "must be a string, got null"),
        # env, headers
        (
            {"command": "x", "env": {"PORT": 8080}},
            "env.PORT",
            'must be a string, got the number 8080; quote it: "8080"',
        ),
        ({"command": "x", "env": {"DEBUG": True}}, "env.DEBUG", 'quote it: "true"'),
        ({"command": "x", "env": {"RATIO": 0.5}}, "env.RATIO", 'quote it: "0.5"'),
        ({"command": "x", "env": {"X": None}}, "env.X", "got null"),
        ({"command": "x", "env": ["A=1"]}, "env", 'must be an object of strings, e.g. {"API_KEY"'),
        ({"command": "x", "env": {"": "1"}}, "env", "keys must be non-empty strings"),
        ({"command": "x", "": 1}, "", "unknown key ''"),
        ({"url": "https://e.com", "headers": "Authorization: x"}, "headers", "must be an object of strings"),
        ({"url": "https://e.com", "headers": {"X-Retry": 3}}, "headers.X-Retry", 'quote it: "3"'),
        # timeouts
        ({"command": "x", "timeout": 0}, "timeout", "must be a number of seconds > 0"),
        ({"command": "x", "timeout": -5}, "timeout", "got the number -5"),
        ({"command": "x", "timeout": "30"}, "timeout", "write the number without quotes"),
        ({"command": "x", "timeout": True}, "timeout", "got true"),
        ({"command": "x", "timeout": None}, "timeout", "got null"),
        ({"command": "x", "timeout": math.inf}, "timeout", "> 0"),
        ({"command": "x", "timeout": math.nan}, "timeout", "> 0"),
        ({"command": "x", "startupTimeout": [1]}, "startupTimeout", "got a list"),
        ({"url": "https://e.com", "startup_timeout": False}, "startup_timeout", "got false"),
        # keys
        ({"command": "x", "arg": ["y"]}, "arg", "unknown key 'arg' (did you mean 'args'?)"),
        ({"command": "x", "environment": {}}, "environment", "known keys: transport, command, args, env, cwd"),
        ({"url": "https://e.com", "header": {}}, "header", "did you mean 'headers'?"),
        ({"command": "x", "envFile": ".env"}, "envFile", 'keys starting with "_" or "x-" are ignored'),
        ({"command": "x", "disabled": "true"}, "disabled", "must be true or false"),
        ({"command": "x", "disabled": 1}, "disabled", "must be true or false"),
    ],
)
def test_server_field_errors(entry: dict[str, Any], field: str, phrase: str) -> None:
    error = parse_error(servers(srv=entry))
    assert (error.server, error.field) == ("srv", field)
    assert phrase in str(error)
    assert str(error).startswith(f"server 'srv', field '{field}': ")


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("localhost:8080", "must start with http:// or https:// (did you mean 'http://localhost:8080'?)"),
        ("example.com/mcp", "did you mean 'http://example.com/mcp'?"),
        ("ftp://x", "must start with http:// or https://"),
        ("ws://localhost/mcp", "must start with http:// or https://"),
        ("http://", "malformed URL 'http://'"),
        ("https:///mcp", "malformed URL"),
        ("http://host name/mcp", "malformed URL"),
        ("http://localhost:port/mcp", "malformed URL"),
        ("http://localhost:99999/mcp", "malformed URL"),
        ("", "must start with http:// or https://"),
        (42, "must be a string, got the number 42"),
    ],
)
def test_malformed_url(url: object, phrase: str) -> None:
    error = parse_error(servers(srv={"url": url}))
    assert (error.server, error.field) == ("srv", "url")
    assert phrase in str(error)
    if isinstance(url, str):
        assert 'e.g. "url": "https://example.com/mcp"' in str(error)


def test_server_entry_must_be_an_object() -> None:
    error = parse_error(servers(srv=["npx", "-y", "x"]))
    assert (error.server, error.field) == ("srv", None)
    assert "each server must be an object" in str(error)


# --- names and the file as a whole -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("1password", "server_1password"),
        ("my server", "my_server"),
        ("my.server", "my_server"),
        ("_private", "private"),
        ("-dash", "dash"),
        ("", "server_"),
        ("a" * 65, "a" * 64),
        ("café", "caf"),
        ("@scope/pkg", "scope_pkg"),
    ],
)
def test_invalid_server_name(name: str, suggestion: str) -> None:
    error = parse_error(servers(**{name: {"command": "x"}}))
    assert (error.server, error.field) == (name, None)
    assert "invalid server name: names become Python package names" in str(error)
    assert f"rename it, e.g. to {suggestion!r}" in str(error)


@pytest.mark.parametrize("name", ["a", "A" + "b" * 63, "my-server", "my_server", "Server2", "match", "type"])
def test_valid_server_names(name: str) -> None:
    assert list(parse_config(servers(**{name: {"command": "x"}}), environ={})) == [name]


@pytest.mark.parametrize("name", ["import", "Class", "async", "lambda"])
def test_python_keyword_server_name(name: str) -> None:
    error = parse_error(servers(**{name: {"command": "x"}}))
    assert (error.server, error.field) == (name, None)
    assert "is a Python keyword" in str(error)


def test_invalid_name_of_disabled_server_is_ignored() -> None:
    data = servers(**{"ok": {"command": "x"}, "not ok!": {"disabled": True, "bogus": 1}})
    assert list(parse_config(data, environ={})) == ["ok"]


@pytest.mark.parametrize(("first", "second"), [("my-server", "My_Server"), ("github", "GitHub"), ("a_b", "a-b")])
def test_duplicate_after_normalization(first: str, second: str) -> None:
    error = parse_error(servers(**{first: {"command": "x"}, second: {"command": "y"}}))
    assert (error.server, error.field) == (second, None)
    assert f"duplicate server name: {first!r} and {second!r} both become the Python package name" in str(error)


@pytest.mark.parametrize(
    ("data", "field", "phrase"),
    [
        ([], None, 'the config must be a JSON object like {"mcpServers"'),
        ("mcpServers", None, "got the string"),
        ({}, "mcpServers", 'missing "mcpServers" (found: nothing); expected {"mcpServers": {'),
        ({"mcp_servers": {}}, "mcpServers", "found: mcp_servers"),
        ({"mcpServers": {}, "servers": {}}, "mcpServers", 'both "mcpServers" and "servers" are given'),
        ({"mcpServers": []}, "mcpServers", "must map server names to configs"),
        ({"mcpServers": {}}, "mcpServers", "no servers configured; add at least one"),
        ({"servers": {}}, "servers", "no servers configured"),
        ({"mcpServers": {"a": {"command": "x", "disabled": True}}}, "mcpServers", "every server is disabled"),
        ({"mcpServers": {1: {"command": "x"}}}, "mcpServers", "keys must be non-empty strings"),
    ],
)
def test_file_level_errors(data: Any, field: str | None, phrase: str) -> None:
    error = parse_error(data)
    assert (error.server, error.field) == (None, field)
    assert phrase in str(error)


# --- reading files -----------------------------------------------------------------------------------------------


def test_invalid_json_reports_line_and_column(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, '{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert (info.value.server, info.value.field) == (None, None)
    assert f"{path}: invalid JSON at line 3, column 26" in str(info.value)
    assert "no trailing commas" in str(info.value)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_json_comments_are_rejected_with_a_hint(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, '{\n  // servers\n  "mcpServers": {}\n}')
    with pytest.raises(ConfigError, match=r"line 2, column 3: .*no comments.*\"_comment\" key"):
        load_config(path, environ={})


def test_missing_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nope" / "mcp.json"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"config file not found: {path}; check the path" in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_unreadable_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        load_config(tmp_path)  # a directory
    assert isinstance(info.value.__cause__, OSError)
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"mcpServers": {"caf\xe9": {}}}')
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(bad)


def test_repeated_comment_keys_in_file_are_fine(tmp_path: pathlib.Path) -> None:
    text = '{"_c": 1, "_c": 2, "mcpServers": {"a": {"_c": "x", "_c": "y", "x-c": 1, "x-c": 2, "command": "x"}}}'
    assert load_config(write(tmp_path, text), environ={}) == {"a": {"transport": "stdio", "command": "x"}}


def test_duplicate_top_level_key_in_file(tmp_path: pathlib.Path) -> None:
    text = '{"mcpServers": {"a": {"command": "x"}}, "mcpServers": {"b": {"command": "y"}}}'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert (info.value.server, info.value.field) == (None, "mcpServers")
    assert "is given twice; keep one" in str(info.value)


def test_duplicate_server_key_in_file(tmp_path: pathlib.Path) -> None:
    text = '{"mcpServers": {"github": {"command": "a"}, "fs": {"command": "b"}, "github": {"command": "c"}}}'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert (info.value.server, info.value.field) == ("github", None)
    assert "duplicate server name in the file" in str(info.value)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ('{"command": "a", "command": "b"}', "command"),
        ('{"command": "a", "startupTimeout": 1, "startupTimeout": 2}', "startupTimeout"),
        ('{"command": "a", "env": {"K": "1", "K": "2"}}', "env.K"),
        ('{"url": "https://e.com", "headers": {"A": "1", "A": "2"}}', "headers.A"),
    ],
)
def test_duplicate_key_inside_server_in_file(tmp_path: pathlib.Path, entry: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f'{{"mcpServers": {{"srv": {entry}}}}}'), environ={})
    assert (info.value.server, info.value.field) == ("srv", field)
    assert "is given twice" in str(info.value)


# --- Python API ----------------------------------------------------------------------------------------------------


def test_typed_constructors_round_trip(tmp_path: pathlib.Path) -> None:
    fs = stdio_server("npx", "-y", "server-fs", "${HOME}", env={"A": "1"}, cwd=tmp_path, timeout=10, startup_timeout=5)
    web = http_server("https://example.com/mcp", headers={"Authorization": "Bearer t"}, timeout=2.5)
    assert fs == {
        "transport": "stdio",
        "command": "npx",
        "args": ["-y", "server-fs", "${HOME}"],  # no expansion for Python-built configs
        "env": {"A": "1"},
        "cwd": str(tmp_path),
        "timeout": 10.0,
        "startup_timeout": 5.0,
    }
    assert web == {
        "transport": "streamable_http",
        "url": "https://example.com/mcp",
        "headers": {"Authorization": "Bearer t"},
        "timeout": 2.5,
    }
    assert stdio_server("uvx") == {"transport": "stdio", "command": "uvx"}  # optional keys only when given
    checked = validate_servers({"fs": fs, "web": web})
    assert checked == {"fs": fs, "web": web}
    assert list(checked) == ["fs", "web"]


def test_validate_servers_returns_a_copy() -> None:
    original = stdio_server("x", "a", env={"K": "v"})
    checked = validate_servers({"s": original})
    checked["s"].get("args", []).append("b")
    checked["s"].get("env", {})["K2"] = "v2"
    assert original == {"transport": "stdio", "command": "x", "args": ["a"], "env": {"K": "v"}}


def test_file_and_python_configs_agree(tmp_path: pathlib.Path) -> None:
    from_file = load_config(write(tmp_path, CLAUDE_DESKTOP_FILE), environ=ENV)
    assert validate_servers(from_file) == from_file


@pytest.mark.parametrize(
    ("build", "field", "phrase"),
    [
        (lambda: stdio_server(""), "command", "is empty"),
        (lambda: stdio_server("x", cast(str, 1)), "args[0]", "must be a string"),
        (lambda: stdio_server("x", env=cast(dict[str, str], {"N": 1})), "env.N", 'quote it: "1"'),
        (lambda: stdio_server("x", env=cast(dict[str, str], [])), "env", "must be an object of strings"),
        (lambda: stdio_server("x", timeout=0), "timeout", "> 0"),
        (lambda: stdio_server("x", startup_timeout=cast(float, "5")), "startup_timeout", "without quotes"),
        (lambda: http_server("localhost:1"), "url", "did you mean 'http://localhost:1'?"),
        (lambda: http_server("https://e.com", headers=cast(dict[str, str], {"A": None})), "headers.A", "got null"),
    ],
)
def test_typed_constructor_errors(build: Any, field: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert (info.value.server, info.value.field) == (None, field)
    assert phrase in str(info.value)


@pytest.mark.parametrize(
    ("configs", "server", "field", "phrase"),
    [
        ({}, None, None, "no servers configured"),
        ([], None, None, "servers must map names to configs"),
        ({"bad name": stdio_server("x")}, "bad name", None, "invalid server name"),
        ({"a-b": stdio_server("x"), "A_B": stdio_server("y")}, "A_B", None, "duplicate server name"),
        ({"s": "npx -y server"}, "s", None, "must be made by stdio_server() or http_server()"),
        ({"s": {"transport": "stdio", "command": "x", "disabled": True}}, "s", "disabled", "unknown key 'disabled'"),
        ({"s": {"type": "stdio", "command": "x"}}, "s", "type", "unknown key 'type'"),
        ({"s": {"transport": "sse", "url": "https://e.com"}}, "s", "transport", "SSE transport is not supported"),
        ({"s": {"transport": "stdio", "url": "https://e.com"}}, "s", "url", "does not apply to a stdio server"),
        ({"s": {"transport": "stdio", "command": "x", "timeout": -1}}, "s", "timeout", "> 0"),
    ],
)
def test_validate_servers_errors(configs: Any, server: str | None, field: str | None, phrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_servers(configs)
    assert (info.value.server, info.value.field) == (server, field)
    assert phrase in str(info.value)


def test_validate_servers_infers_a_missing_transport() -> None:
    configs = cast(dict[str, ServerConfig], {"s": {"command": "x"}})
    assert validate_servers(configs) == {"s": {"transport": "stdio", "command": "x"}}


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="is empty"):
        stdio_server("")


def test_public_api() -> None:
    assert config_module.__all__ == [
        "DEFAULT_CALL_TIMEOUT",
        "DEFAULT_STARTUP_TIMEOUT",
        "StdioServerConfig",
        "HttpServerConfig",
        "ServerConfig",
        "stdio_server",
        "http_server",
        "parse_config",
        "load_config",
        "validate_servers",
        "server_timeout",
        "server_startup_timeout",
    ]
    assert all(hasattr(config_module, name) for name in config_module.__all__)
