"""Shared fixtures: real MCP servers (our test server over stdio and HTTP, the npm servers) and a leak check.

Every test runs under :func:`no_leaked_processes`: the test process is made a child subreaper, so a server's
grandchildren that outlive their parent are re-parented to us and are caught too.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mcpexec.config import HttpServerConfig, StdioServerConfig, http_server, stdio_server

ROOT = Path(__file__).resolve().parent.parent
SERVERS = Path(__file__).resolve().parent / "servers"
TESTSERVER = SERVERS / "testserver.py"
RAWSERVER = SERVERS / "rawserver.py"
NPM_MODULES = SERVERS / "npm" / "node_modules" / "@modelcontextprotocol"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_become_subreaper()


def _children() -> dict[int, psutil.Process]:
    me = psutil.Process()
    found: dict[int, psutil.Process] = {}
    for child in me.children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found[child.pid] = child
        except psutil.NoSuchProcess:
            pass
    return found


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves a process behind (waits up to 5 s for stragglers, then kills them)."""
    before = set(_children())
    yield
    deadline = time.monotonic() + 5.0
    leaked: dict[int, psutil.Process] = {}
    while time.monotonic() < deadline:
        _reap_zombies()
        leaked = {pid: p for pid, p in _children().items() if pid not in before}
        if not leaked:
            return
        time.sleep(0.05)
    described = []
    for proc in leaked.values():
        try:
            described.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    _reap_zombies()
    pytest.fail("processes leaked by the test:\n" + "\n".join(described))


def testserver_config(*args: str, **options: float) -> StdioServerConfig:
    """Our MCP test server over stdio (extra command-line flags in ``args``)."""
    return stdio_server(sys.executable, str(TESTSERVER), *args, **options)  # type: ignore[arg-type]


def rawserver_config(*args: str, **options: float) -> StdioServerConfig:
    """The hand-written JSON-RPC server over stdio."""
    return stdio_server(sys.executable, str(RAWSERVER), *args, **options)  # type: ignore[arg-type]


class HttpTestServer:
    """Our test server as a subprocess serving streamable HTTP on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(TESTSERVER), "--http", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = _readline_within(self.process, 20.0)
        if not line.startswith("PORT="):
            self.stop()
            raise RuntimeError(f"test server did not report its port: {line!r}")
        self.port = int(line.split("=", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def config(self, **options: float) -> HttpServerConfig:
        return http_server(self.url, **options)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _readline_within(process: subprocess.Popen[str], seconds: float) -> str:
    import selectors

    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout=seconds):
            return ""
        return process.stdout.readline().strip()
    finally:
        selector.close()


@pytest.fixture
def http_test_server() -> Iterator[HttpTestServer]:
    server = HttpTestServer()
    try:
        yield server
    finally:
        server.stop()


def npm_server_entry(package: str) -> Path:
    """The entry script of an installed npm MCP server; skips (fails in CI) when it is not installed."""
    entry = NPM_MODULES / package / "dist" / "index.js"
    if not entry.is_file():
        message = f"npm server {package} not installed: run 'bash .ci/setup'"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return entry


@pytest.fixture
def everything_server() -> StdioServerConfig:
    return stdio_server("node", str(npm_server_entry("server-everything")), "stdio")


@pytest.fixture
def filesystem_server(tmp_path: Path) -> StdioServerConfig:
    root = tmp_path / "fs"
    root.mkdir()
    return stdio_server("node", str(npm_server_entry("server-filesystem")), str(root))


@pytest.fixture
def memory_server(tmp_path: Path) -> StdioServerConfig:
    return stdio_server(
        "node", str(npm_server_entry("server-memory")), env={"MEMORY_FILE_PATH": str(tmp_path / "memory.jsonl")}
    )


def python_server_command(name: str) -> str:
    """A third-party Python MCP server installed in .venv-servers; skips (fails in CI) when missing."""
    command = ROOT / ".venv-servers" / "bin" / name
    if not command.is_file():
        message = f"Python MCP server {name} not installed: run 'bash .ci/setup'"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return str(command)


def run_subprocess(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A real child process, no stdin, output captured; its timeout stays below pytest's per-test one so a hang
    reports as a hang here."""
    return subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90, check=False
    )


# ------------------------------------------------------------------------------------------- sandbox backends

LIVE_E2B = bool(os.environ.get("E2B_API_KEY"))
BACKENDS = ["local", "e2b", *(["e2b-live"] if LIVE_E2B else [])]
"""The sandbox backends the shared behaviour suite runs on: local, E2B's SDK against mcpexec.testing's fake of
E2B, and real E2B when ``E2B_API_KEY`` is set."""


@pytest.fixture(scope="session")
def fake_e2b() -> Iterator[Any]:
    """mcpexec.testing's local fake of E2B, for the whole session (each test creates its own sandboxes)."""
    from mcpexec.testing import FakeE2B

    with FakeE2B() as fake:
        yield fake
        fake.wait_until(lambda: not fake.alive(), timeout=10)  # no test left a (paid) sandbox running


def e2b_sandbox(fake: Any, **options: Any) -> Any:
    """An E2BSandbox pointed at ``fake`` (a FakeE2B)."""
    from mcpexec.sandbox.e2b import E2BSandbox

    connection = dict(fake.sdk_kwargs())
    api_key = connection.pop("api_key")
    return E2BSandbox(api_key=api_key, connection=connection, **options)


def sandbox_options(backend: str, request: pytest.FixtureRequest, workspace: Path, **options: Any) -> dict[str, Any]:
    """CodeExecutor keyword arguments that put its sandbox on ``backend`` (see :data:`BACKENDS`)."""
    if backend == "local":
        return {"workspace": workspace}
    if backend == "e2b":
        return {"sandbox": e2b_sandbox(request.getfixturevalue("fake_e2b"), **options)}
    from mcpexec.sandbox.e2b import E2BSandbox

    return {"sandbox": E2BSandbox(**options)}


async def maybe_await(value: Any) -> Any:
    """Workspace methods are plain on the local sandbox and coroutines on E2B."""
    return await value if inspect.isawaitable(value) else value


# ------------------------------------------------------------------------------------------- the demo CRM


def crm_servers(tmp_path: Path, **more: Any) -> dict[str, Any]:
    """The bundled demo servers (plus ``more``), the CRM keeping its contacts in ``tmp_path / "crm.json"``."""
    from mcpexec.demo_servers import default_servers

    servers: dict[str, Any] = {**default_servers(), **more}
    servers["crm"] = {**servers["crm"], "env": {"MCPEXEC_CRM_FILE": str(tmp_path / "crm.json")}}
    return servers


DELETE_TWO = (  # a cell whose two deletes need approval (approve Ada, reject Bob)
    "from servers.crm import create_contact, delete_contact, list_contacts\n"
    "from mcpexec.errors import PolicyDenied\n"
    "a = await create_contact(name='Ada', email='ada@example.com')\n"
    "b = await create_contact(name='Bob', email='bob@example.com')\n"
    "print('deleted Ada:', await delete_contact(contact_id=a['id']))\n"
    "try:\n"
    "    await delete_contact(contact_id=b['id'])\n"
    "except PolicyDenied as e:\n"
    "    print('refused:', e.reason)\n"
    "print(sorted(c['name'] for c in await list_contacts()))\n"
)
