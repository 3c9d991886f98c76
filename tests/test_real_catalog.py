"""The committed fixture of real tool definitions (``tests/data/real_catalog.json`` + ``real_servers.json``).

Both files are written by ``benchmarks/harvest_catalog.py`` from real MCP servers installed from npm and PyPI.
These checks read the committed JSON only: offline, no server is started.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path
from typing import Any

import pytest

from mcpexec.catalog import Catalog, server_identifier

DATA = Path(__file__).resolve().parent / "data"
CATALOG = DATA / "real_catalog.json"
SERVERS = DATA / "real_servers.json"

ENTRY_KEYS = {"package", "registry", "version", "license", "license_source", "tool_count", "server_info", "command"}
# The values the harvest script passes as credentials and account details (see its TOKEN, PLACEHOLDER_* constants).
PLACEHOLDER_MARKERS = ("mcpexec-placeholder", "mcpexec.invalid")
# Local paths of the harvest: the scratch directory is a temp dir (default prefix "mcpexec-harvest-"), servers run
# with HOME inside it, the harvest ran as root, the repo lives under /work. ("/home/user/..." is a real example in a
# tool description, so /home/ is not on the list.)
LOCAL_PATHS = ("/tmp/", "/var/tmp/", "/root/", "/work/", "mcpexec-harvest-")
SECRET_PATTERNS = [
    re.compile(p)
    for p in (
        r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
        r"github_pat_[A-Za-z0-9_]{30,}",
        r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
        r"\bsk-(?:ant-)?[A-Za-z0-9_-]{20,}",  # OpenAI / Anthropic
        r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key id
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
        r"\bntn_[A-Za-z0-9]{30,}",  # Notion
        r"\bsecret_[A-Za-z0-9]{40,}",  # Notion (legacy)
        r"\bpat-[a-z]{2,3}\d?-[0-9a-f]{8}-",  # HubSpot private app
        r"\bsntrys_[A-Za-z0-9+/=_-]{20,}",  # Sentry
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"\beyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.",  # JWT
    )
]
CREDENTIAL_VAR = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY|PAT\b", re.I)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(CATALOG)


@pytest.fixture(scope="module")
def servers() -> dict[str, dict[str, Any]]:
    data = json.loads(SERVERS.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_snapshot_is_large_and_varied(catalog: Catalog) -> None:
    assert len(catalog) >= 300
    assert len(catalog.servers) >= 10
    assert not catalog.warnings
    # the confusion the search benchmark relies on: the same operation offered by several servers
    for server, name in [
        ("github", "create_issue"),
        ("gitlab", "create_issue"),
        ("gitlab", "create_merge_request"),
        ("github", "create_pull_request"),
        ("atlassian", "jira_create_issue"),
        ("atlassian", "confluence_create_page"),
    ]:
        assert (server, name) in catalog, (server, name)
    assert any("page" in t.name.lower() for t in catalog.tools("notion"))


def test_servers_match_the_server_list(catalog: Catalog, servers: dict[str, dict[str, Any]]) -> None:
    assert list(catalog.servers) == sorted(servers)
    for name, entry in servers.items():
        assert len(catalog.tools(name)) == entry["tool_count"], name
        assert entry["tool_count"] > 0, name
    assert sum(entry["tool_count"] for entry in servers.values()) == len(catalog)


def test_server_entries_are_complete(servers: dict[str, dict[str, Any]]) -> None:
    for name, entry in servers.items():
        assert set(entry) == ENTRY_KEYS, name
        assert server_identifier(name) == name, name  # short, Python-friendly names
        assert entry["registry"] in ("npm", "pypi"), name
        for key in ("package", "version", "license", "license_source", "command"):
            assert isinstance(entry[key], str), (name, key)
            assert entry[key].strip(), (name, key)
        assert re.fullmatch(r"\d+(\.\d+)+([.+-]?[0-9A-Za-z.-]+)?", entry["version"]), (name, entry["version"])
        assert entry["license"] != "UNKNOWN", name
        assert set(entry["server_info"]) == {"name", "version"}, name


def test_identifiers_are_valid_and_unique(catalog: Catalog) -> None:
    qualified: set[tuple[str, str]] = set()
    for server in catalog.servers:
        tools = catalog.tools(server)
        assert len({t.identifier for t in tools}) == len(tools), server
        assert len({t.name for t in tools}) == len(tools), server
        for tool in tools:
            ident = tool.identifier
            assert ident.isidentifier(), tool.qualified_name
            assert ident.isascii(), tool.qualified_name
            assert ident == ident.lower(), tool.qualified_name
            assert not keyword.iskeyword(ident), tool.qualified_name
            assert not ident.startswith("_"), tool.qualified_name
            assert catalog.by_identifier(server, ident) is tool
            assert tool.input_schema.get("type") == "object", tool.qualified_name
            qualified.add((server, ident))
    assert len(qualified) == len(catalog)


def test_files_are_in_canonical_form(catalog: Catalog, servers: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """What the harvest writes is exactly what Catalog.save / sorted JSON produce (so re-runs diff cleanly)."""
    catalog.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == CATALOG.read_bytes()
    canonical = json.dumps(servers, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert SERVERS.read_text(encoding="utf-8") == canonical


def test_no_secrets_placeholders_or_local_paths_in_tools() -> None:
    text = CATALOG.read_text(encoding="utf-8")
    for marker in (*PLACEHOLDER_MARKERS, *LOCAL_PATHS):
        assert marker not in text, marker
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), pattern.pattern
    assert '"env"' not in text


def test_no_secrets_or_local_paths_in_commands(servers: dict[str, dict[str, Any]]) -> None:
    text = SERVERS.read_text(encoding="utf-8")
    for marker in LOCAL_PATHS:
        assert marker not in text, marker
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), pattern.pattern
    for name, entry in servers.items():
        for var, value in re.findall(r"(?:^| )([A-Z][A-Z0-9_]*)=(\S*)", entry["command"]):
            if CREDENTIAL_VAR.search(var):
                assert any(marker in value for marker in PLACEHOLDER_MARKERS), (name, var)
