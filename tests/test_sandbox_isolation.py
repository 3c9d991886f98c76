"""Attacks on the local sandbox's OS isolation (``mcpexec.sandbox._launch`` + ``mcpexec.runtime._confine``).

Each attack runs on the bubblewrap path and, where meaningful, on the fallback (Landlock + seccomp + uid), forced
with ``MCPEXEC_SANDBOX_FORCE_FALLBACK=1``. The guest is started exactly as the local sandbox starts it
(``anyio.open_process`` with the :class:`Launch` fields) and runs ``python -I -S -c BOOT attack``, where ``BOOT``
confines the process first. Every wait is bounded; every process is killed with :func:`kill_tree` and reaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import psutil
import pytest
from anyio.abc import UNIXSocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from mcpexec.errors import SandboxError
from mcpexec.runtime import _confine
from mcpexec.sandbox import _seccomp
from mcpexec.sandbox._launch import (
    FORCE_FALLBACK_ENV,
    GuestPaths,
    Launch,
    LaunchSpec,
    Limits,
    build_launch,
    kill_tree,
    probe_isolation,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the local sandbox's isolation is Linux")

PACKAGE = Path(_confine.__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
IS_ROOT = os.geteuid() == 0
SECRET = "mcpexec-test-secret-7f3a9c"
BOOT = (
    "import sys; sys.path.insert(0, {lib!r}); from mcpexec.runtime._confine import apply_from_environ; "
    "apply_from_environ(); exec(sys.argv[1])"
)
TIMEOUT = 30.0
# shared by the attacks: print one JSON line per result, run a syscall through libc
PRELUDE = """
import ctypes, errno, json, os, sys
def report(**values):
    print(json.dumps(values), flush=True)
def attempt(action):
    try:
        result = action()
    except BaseException as exc:
        return f"denied: {type(exc).__name__}: {getattr(exc, 'errno', '')}"
    return f"ALLOWED: {str(result)[:4000]}"
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    if getattr(libc, name)(*args) == -1:
        return f"denied: errno {errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())}"
    return "ALLOWED"
"""


# -- fixtures and helpers ------------------------------------------------------------------------------------------


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory outside the workspace that the sandbox uid may search (``tmp_path``'s parents are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="mcpexec-isolation-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lib(base: Path) -> Path:
    """The guest library: ``mcpexec/__init__.py`` (empty) and a copy of the runtime, errors and results."""
    root = base / "lib"
    (root / "mcpexec").mkdir(parents=True)
    (root / "mcpexec" / "__init__.py").write_text("")
    shutil.copytree(PACKAGE / "runtime", root / "mcpexec" / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("errors.py", "results.py"):
        shutil.copy(PACKAGE / name, root / "mcpexec" / name)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture
def workspace(base: Path) -> Path:
    path = base / "workspace"
    path.mkdir()
    return path


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["bubblewrap", "fallback"])
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    probe = probe_isolation()
    if request.param == "bubblewrap":
        if probe.bwrap is None:
            _unavailable(f"bubblewrap cannot run here: {probe.bwrap_error}")
        monkeypatch.delenv(FORCE_FALLBACK_ENV, raising=False)
    else:
        if probe.landlock_abi == 0 or probe.seccomp_arch is None:
            _unavailable(f"fallback layers unavailable: {probe.landlock_error or probe.seccomp_error}")
        monkeypatch.setenv(FORCE_FALLBACK_ENV, "1")
    return str(request.param)


@dataclass
class Sandbox:
    lib: Path
    workspace: Path

    def launch(self, code: str, *, limits: Limits | None = None, isolation: str = "auto") -> Launch:
        def command(paths: GuestPaths) -> list[str]:
            return [paths.python, "-I", "-S", "-c", BOOT.format(lib=paths.lib), PRELUDE + code]

        spec = LaunchSpec(
            lib_dir=self.lib,
            workspace=self.workspace,
            command=command,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            limits=limits or Limits(),
            isolation=isolation,  # type: ignore[arg-type]
        )
        return build_launch(spec)

    async def run(self, code: str, *, limits: Limits | None = None, isolation: str = "auto") -> Finished:
        """Run to completion; stdout parsed as JSON lines."""
        launch = self.launch(code, limits=limits, isolation=isolation)
        async with started(launch) as process:
            out, err = await communicate(process)
            return Finished(process.returncode, out, err, launch)


@dataclass
class Finished:
    returncode: int | None
    stdout: str
    stderr: str
    launch: Launch

    @property
    def results(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for line in self.stdout.splitlines():
            merged.update(json.loads(line))
        return merged


@pytest.fixture
def sandbox(lib: Path, workspace: Path) -> Sandbox:
    return Sandbox(lib, workspace)


@contextlib.asynccontextmanager
async def started(launch: Launch) -> AsyncIterator[anyio.abc.Process]:
    """Start the guest as the local sandbox does; kill its tree and reap it on the way out."""
    process = await anyio.open_process(
        launch.argv,
        **launch.spawn_options(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    launch.close()
    try:
        yield process
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                kill_tree(process.pid, launch)
            with anyio.fail_after(TIMEOUT):
                await process.wait()
            await process.aclose()


async def communicate(process: anyio.abc.Process) -> tuple[str, str]:
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    async def drain(stream: anyio.abc.ByteReceiveStream | None, key: str) -> None:
        if stream is not None:
            async for chunk in stream:
                chunks[key].append(chunk)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drain, process.stdout, "out")
            tasks.start_soon(drain, process.stderr, "err")
        await process.wait()
    return b"".join(chunks["out"]).decode(), b"".join(chunks["err"]).decode()


async def read_json_line(stream: BufferedByteReceiveStream) -> dict[str, Any]:
    with anyio.fail_after(TIMEOUT):
        return json.loads(await stream.receive_until(b"\n", 1 << 16))


def guest_python(process: anyio.abc.Process) -> psutil.Process:
    """The guest's Python process (under bubblewrap a descendant of ``bwrap``), as the host sees it."""
    top = psutil.Process(process.pid)
    for candidate in [top, *top.children(recursive=True)]:
        if candidate.cmdline()[1:2] == ["-I"]:
            return candidate
    raise AssertionError("no guest python among the launched processes")


def name_of(process: psutil.Process) -> str | None:
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return None


def host_status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: value.strip() for key, value in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def assert_all_denied(results: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert str(results[key]).startswith("denied"), f"{key}: {results[key]}"


# -- what the report says ------------------------------------------------------------------------------------------


def test_bubblewrap_path_reports_full_isolation(sandbox: Sandbox, mechanism: str) -> None:
    launch = sandbox.launch("pass")
    launch.close()
    report = launch.isolation
    text = report.describe()
    if mechanism == "bubblewrap":
        assert report.mechanism == "bubblewrap"
        assert report.full, text
        assert report.missing == ()
        assert set(report.namespaces) >= {"user", "pid", "net", "ipc", "uts", "mount"}
        assert report.seccomp
    else:
        assert report.mechanism == "landlock"
        assert not report.full
        assert report.landlock
        assert report.seccomp
        assert any("namespaces" in item for item in report.missing), text
    assert report.uid == (65534 if IS_ROOT else os.getuid())
    assert report.environment == "scrubbed"
    assert "missing:" in text


def test_full_isolation_refuses_to_start_without_bubblewrap(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORCE_FALLBACK_ENV, "1")
    with pytest.raises(SandboxError, match=r"isolation='full'.*bubblewrap.*install bubblewrap"):
        sandbox.launch("pass", isolation="full")


@pytest.mark.anyio
async def test_isolation_none_only_scrubs_and_limits(sandbox: Sandbox) -> None:
    code = "import resource; report(nofile=resource.getrlimit(resource.RLIMIT_NOFILE), env=sorted(os.environ))"
    done = await sandbox.run(code, limits=Limits(open_files=100), isolation="none")
    assert done.returncode == 0, done.stderr
    assert done.launch.isolation.mechanism == "none"
    assert not done.launch.isolation.full
    assert done.results["nofile"] == [100, 100]
    assert SECRET not in done.stdout


@pytest.mark.skipif(not IS_ROOT, reason="only a root host switches the guest to another uid")
def test_unreachable_workspace_is_refused_with_the_reason(sandbox: Sandbox, base: Path) -> None:
    private = base / "private"
    private.mkdir(mode=0o700)
    (private / "workspace").mkdir()
    with pytest.raises(SandboxError, match=r"cannot reach.*private \(mode drwx------.*uid 65534"):
        replace(sandbox, workspace=private / "workspace").launch("pass")


@pytest.mark.anyio
async def test_passed_fd_arrives_with_its_number_and_nothing_else_leaks(sandbox: Sandbox, mechanism: str) -> None:
    host_end, guest_end = socket.socketpair()
    fd = guest_end.fileno()
    code = f"""
open_fds = [n for n in range(3, 256) if attempt(lambda: os.fstat(n)).startswith('ALLOWED')]
os.write({fd}, b'hello from the guest')
report(open_fds=open_fds, reply=os.read({fd}, 100).decode())
"""
    launch = replace(sandbox.launch(code), pass_fds=())
    launch.close()  # that one was only built to be thrown away: its seccomp fd must be released
    spec = LaunchSpec(
        lib_dir=sandbox.lib,
        workspace=sandbox.workspace,
        command=lambda p: [p.python, "-I", "-S", "-c", BOOT.format(lib=p.lib), PRELUDE + code],
        env={"PATH": "/usr/bin:/bin"},
        pass_fds=(fd,),
    )
    launch = build_launch(spec)
    try:
        async with started(launch) as process:
            guest_end.close()
            stream = await UNIXSocketStream.from_socket(host_end)
            async with stream:
                with anyio.fail_after(TIMEOUT):
                    assert await stream.receive() == b"hello from the guest"
                await stream.send(b"hello from the host")
                out, err = await communicate(process)
    finally:
        guest_end.close()
        host_end.close()
    assert process.returncode == 0, err
    results = json.loads(out)
    assert results["reply"] == "hello from the host"
    assert results["open_fds"] == [fd]  # under bubblewrap: it closed the seccomp program's fd


# -- credentials and environment -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_guest_runs_unprivileged_with_no_capabilities_and_seccomp(sandbox: Sandbox, mechanism: str) -> None:
    code = """
status = attempt(lambda: open('/proc/self/status').read())
report(resuid=os.getresuid(), groups=os.getgroups(), status=status, nnp=libc.prctl(39, 0, 0, 0, 0),
       seccomp=libc.prctl(21, 0, 0, 0, 0))
import time; time.sleep(60)
"""
    launch = sandbox.launch(code)
    async with started(launch) as process:
        assert process.stdout is not None
        inside = await read_json_line(BufferedByteReceiveStream(process.stdout))
        host = host_status(guest_python(process).pid)
    expected = 65534 if IS_ROOT else os.getuid()
    assert host["Uid"].split() == [str(expected)] * 4
    assert host["Gid"].split() == [str(65534 if IS_ROOT else os.getgid())] * 4
    if IS_ROOT:
        assert host["Groups"] == ""
    assert host["CapEff"] == host["CapPrm"] == "0000000000000000"
    assert host["NoNewPrivs"] == "1"
    assert host["Seccomp"] == "2"
    assert inside["resuid"] == [expected] * 3
    assert inside["nnp"] == 1
    assert inside["seccomp"] == 2
    if IS_ROOT:
        assert inside["groups"] == []
    if mechanism == "bubblewrap":
        assert host["CapBnd"] == "0000000000000000"
        assert "CapBnd:\t0000000000000000" in inside["status"]
        assert "Seccomp:\t2" in inside["status"]
    else:
        assert inside["status"].startswith("denied")  # Landlock: no /proc at all


@pytest.mark.anyio
async def test_host_environment_does_not_reach_the_guest(
    sandbox: Sandbox, mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPEXEC_TEST_TOKEN", SECRET)
    code = """
report(environ=dict(os.environ),
       pid1=attempt(lambda: open('/proc/1/environ', 'rb').read().decode('latin-1')),
       self=attempt(lambda: open('/proc/self/environ', 'rb').read().decode('latin-1')))
"""
    done = await sandbox.run(code)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "MCPEXEC_TEST_TOKEN" not in done.stdout
    results = done.results
    assert "MCPEXEC_CONFINE" not in results["environ"]
    assert set(results["environ"]) <= {"PATH", "LANG", "PWD", "LC_CTYPE"}
    if mechanism == "bubblewrap":
        assert results["pid1"].startswith("ALLOWED")
        assert "PATH=/usr/bin:/bin" in results["pid1"]


# -- the file system -----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_host_files_outside_the_workspace_are_unreadable(
    sandbox: Sandbox, mechanism: str, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = base / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o644)  # readable by anyone: only the sandbox can keep it out
    code = f"""
report(absolute=attempt(lambda: open({str(secret)!r}).read()),
       relative=attempt(lambda: open('../secret.txt').read()),
       listing=attempt(lambda: os.listdir({str(base)!r})),
       host_pid_environ=attempt(lambda: open('/proc/{os.getpid()}/environ', 'rb').read().decode('latin-1')),
       host_pid_cwd=attempt(lambda: os.listdir('/proc/{os.getpid()}/cwd')),
       root_home=attempt(lambda: os.listdir('/root')),
       signal_host=attempt(lambda: os.kill({os.getpid()}, 0)))
"""
    monkeypatch.setenv("MCPEXEC_TEST_TOKEN", SECRET)  # in our own /proc/<pid>/environ
    done = await sandbox.run(code)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout
    assert_all_denied(done.results, "absolute", "relative", "listing", "host_pid_environ", "host_pid_cwd", "root_home")
    assert_all_denied(done.results, "signal_host")


@pytest.mark.anyio
async def test_nothing_outside_the_workspace_is_writable(sandbox: Sandbox, mechanism: str, base: Path) -> None:
    open_dir = base / "world-writable"
    open_dir.mkdir()
    open_dir.chmod(0o777)  # writable by anyone: only the sandbox can keep the guest out
    host_tmp = Path(tempfile.gettempdir()) / f"mcpexec-escape-{os.getpid()}"
    code = f"""
def write(path):
    with open(path, 'w') as handle:
        handle.write('x')
report(open_dir=attempt(lambda: write({str(open_dir / "escaped")!r})),
       host_tmp=attempt(lambda: write({str(host_tmp)!r})),
       usr=attempt(lambda: write('/usr/escaped')),
       root=attempt(lambda: write('/escaped')),
       lib=attempt(lambda: write(sys.path[0] + '/escaped')),
       chmod_lib=attempt(lambda: os.chmod(sys.path[0], 0o777)),
       workspace=attempt(lambda: write('inside.txt')))
"""
    done = await sandbox.run(code)
    assert done.returncode == 0, done.stderr
    assert_all_denied(done.results, "open_dir", "usr", "root", "lib", "chmod_lib")
    if mechanism == "fallback":
        assert_all_denied(done.results, "host_tmp")
    assert done.results["workspace"].startswith("ALLOWED")
    assert not (open_dir / "escaped").exists()
    assert not host_tmp.exists()
    inside = sandbox.workspace / "inside.txt"
    assert inside.read_text() == "x"
    assert inside.stat().st_uid == (65534 if IS_ROOT else os.getuid())


@pytest.mark.anyio
async def test_private_tmp_is_size_capped(sandbox: Sandbox, mechanism: str) -> None:
    if mechanism != "bubblewrap":
        pytest.skip("only bubblewrap gives a private /tmp")
    code = """
def fill(path):
    with open(path, 'wb') as handle:
        for _ in range(64):
            handle.write(b'x' * 1024**2)
report(tmp=attempt(lambda: fill('/tmp/big')), shm=attempt(lambda: fill('/dev/shm/big')))
"""
    done = await sandbox.run(code, limits=Limits(tmp_size_bytes=8 * 1024**2))
    assert done.returncode == 0, done.stderr
    assert "ENOSPC" in done.results["tmp"] or "28" in done.results["tmp"], done.results
    assert_all_denied(done.results, "tmp", "shm")


# -- network -------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_tcp_to_a_host_listener(sandbox: Sandbox, mechanism: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = f"""
import socket
report(tcp=attempt(lambda: socket.create_connection(('127.0.0.1', {port}), timeout=5)),
       udp=attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
       tcp6=attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM)),
       netlink=attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
       unix=attempt(lambda: socket.socketpair()))
"""
        done = await sandbox.run(code)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert done.returncode == 0, done.stderr
    assert_all_denied(done.results, "tcp", "udp", "tcp6", "netlink")
    assert done.results["unix"].startswith("ALLOWED")  # the host channel is a socketpair


# -- resources -----------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_fork_bomb_is_bounded_by_nproc(sandbox: Sandbox, mechanism: str) -> None:
    code = """
import signal
made = 0
try:
    while made < 10_000:
        if os.fork() == 0:
            signal.pause()
            os._exit(0)
        made += 1
except OSError as exc:
    report(made=made, error=exc.errno)
else:
    report(made=made, error=None)
signal.pause()
"""
    before = set(psutil.Process().children(recursive=True))
    launch = sandbox.launch(code, limits=Limits(processes=24))
    async with started(launch) as process:
        assert process.stdout is not None
        result = await read_json_line(BufferedByteReceiveStream(process.stdout))
        spawned = [p for p in psutil.Process().children(recursive=True) if p not in before]
        kill_tree(process.pid, launch)
        _, alive = psutil.wait_procs(spawned, timeout=TIMEOUT)
    assert result["error"] == 11, result  # EAGAIN
    assert result["made"] < 24
    assert not alive


@pytest.mark.anyio
async def test_memory_limit_raises_memory_error(sandbox: Sandbox, mechanism: str) -> None:
    code = """
try:
    block = bytearray(1024**3)
except MemoryError:
    report(outcome='MemoryError')
else:
    report(outcome=f'allocated {len(block)}')
"""
    done = await sandbox.run(code, limits=Limits(memory_bytes=256 * 1024**2))
    assert done.returncode == 0, done.stderr
    assert done.results["outcome"] == "MemoryError"


@pytest.mark.anyio
async def test_file_size_limit_stops_writes_with_efbig(sandbox: Sandbox, mechanism: str) -> None:
    code = """
def fill():
    with open('big.bin', 'wb') as handle:
        for _ in range(4):
            handle.write(b'x' * 1024**2)
            handle.flush()
report(write=attempt(fill), alive=True)
"""
    done = await sandbox.run(code, limits=Limits(file_size_bytes=1024**2))
    assert done.returncode == 0, done.stderr
    assert "27" in done.results["write"]
    assert done.results["write"].startswith("denied")
    assert (sandbox.workspace / "big.bin").stat().st_size <= 1024**2


@pytest.mark.anyio
async def test_rlimits_are_hard_limits(sandbox: Sandbox, mechanism: str) -> None:
    code = """
import resource
names = ('AS', 'CPU', 'NPROC', 'FSIZE', 'NOFILE', 'CORE')
report(**{n: resource.getrlimit(getattr(resource, 'RLIMIT_' + n)) for n in names},
       raise_=attempt(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))))
"""
    limits = Limits(memory_bytes=1024**3, cpu_seconds=60, processes=64, file_size_bytes=1024**2, open_files=128)
    done = await sandbox.run(code, limits=limits)
    assert done.returncode == 0, done.stderr
    results = done.results
    assert results["AS"] == [1024**3] * 2
    assert results["CPU"] == [60, 60]
    assert results["NPROC"] == [64, 64]
    assert results["FSIZE"] == [1024**2] * 2
    assert results["NOFILE"] == [128, 128]
    assert results["CORE"] == [0, 0]
    assert results["raise_"].startswith("denied")


# -- killing -------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_kill_tree_kills_grandchildren_that_setsid_and_double_fork(sandbox: Sandbox, mechanism: str) -> None:
    code = """
import subprocess
plain = subprocess.Popen(['sleep', '1000'])
read_end, write_end = os.pipe()
middle = os.fork()
if middle == 0:
    setsid = attempt(os.setsid)
    if os.fork() == 0:
        os.write(write_end, setsid.encode())
        os.execvp('sleep', ['sleep', '1001'])
    os._exit(0)
os.waitpid(middle, 0)
os.close(write_end)
setsid = b''
while chunk := os.read(read_end, 200):  # EOF once the grandchild has exec'd (the pipe is close-on-exec)
    setsid += chunk
report(ready=True, setsid=setsid.decode())
while True:
    pass
"""
    before = set(psutil.Process().children(recursive=True))
    launch = sandbox.launch(code)
    async with started(launch) as process:
        assert process.stdout is not None
        result = await read_json_line(BufferedByteReceiveStream(process.stdout))
        spawned = [p for p in psutil.Process().children(recursive=True) if p not in before]
        sleeps = [p for p in spawned if name_of(p) == "sleep"]
        kill_tree(process.pid, launch)
        _, alive = psutil.wait_procs(spawned, timeout=TIMEOUT)
    assert result["ready"]
    assert len(sleeps) == 2, [p.cmdline() for p in spawned]
    assert not alive, [p.cmdline() for p in alive]
    if mechanism == "fallback":
        assert result["setsid"].startswith("denied")  # seccomp keeps everything in the session kill_tree kills


# -- kernel attack surface -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_ptrace_unshare_mount_and_friends_are_blocked(sandbox: Sandbox, mechanism: str) -> None:
    code = """
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x00020000, 0x40000000
report(ptrace_traceme=call('ptrace', 0, 0, 0, 0),
       ptrace_attach_parent=call('ptrace', 16, os.getppid(), 0, 0),
       unshare_user=call('unshare', CLONE_NEWUSER),
       unshare_mount=call('unshare', CLONE_NEWNS),
       unshare_net=call('unshare', CLONE_NEWNET),
       mount=call('mount', b'none', b'/tmp', b'tmpfs', 0, None),
       chroot=call('chroot', b'/tmp'),
       bpf=call('syscall', 321 if os.uname().machine == 'x86_64' else 280, 0, 0, 0),
       io_uring=call('syscall', 425, 1, None),
       keyctl=call('syscall', 250 if os.uname().machine == 'x86_64' else 219, 0, 0, 0, 0),
       personality=call('personality', 0x0040000))
pid = os.fork()
if pid == 0:
    os._exit(7)
report(child_status=os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""
    done = await sandbox.run(code)
    assert done.returncode == 0, done.stderr
    blocked = ("ptrace_traceme", "ptrace_attach_parent", "unshare_user", "unshare_mount", "unshare_net", "mount")
    assert_all_denied(done.results, *blocked, "chroot", "bpf", "io_uring", "keyctl", "personality")
    assert done.results["child_status"] == 7


# -- the guest side fails closed -----------------------------------------------------------------------------------


def _run_confine(lib: Path, config: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if config is not None:
        env[_confine.CONFINE_ENV] = config
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", BOOT.format(lib=str(lib)), "print('user code ran')"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (None, "MCPEXEC_CONFINE is not set"),
        ("not json", "cannot confine"),
        (json.dumps({"v": 2}), "version-1"),
        (json.dumps({"v": 1, "verify_bwrap": True, "seccomp": "bwrap"}), "bubblewrap did not confine"),
        (json.dumps({"v": 1, "landlock": {"abi": 999, "read": [], "write": []}}), "Landlock ABI"),
        (json.dumps({"v": 1, "seccomp": "AAAA"}), "seccomp program is malformed"),
        (json.dumps({"v": 1, "uid": 12345, "gid": 12345}), "uid/gid"),
        (json.dumps({"v": 1, "uid": os.getuid(), "gid": os.getgid(), "clear_groups": True}), "supplementary groups"),
    ],
)
def test_confine_fails_closed(lib: Path, config: str | None, reason: str) -> None:
    if IS_ROOT and "12345" in (config or ""):
        pytest.skip("root can switch to any uid")
    if "clear_groups" in (config or "") and not os.getgroups():
        pytest.skip("this process has no supplementary groups to leak")
    done = _run_confine(lib, config)
    assert done.returncode == _confine.EXIT_STATUS
    assert reason in done.stderr
    assert "user code ran" not in done.stdout


# -- the seccomp program, decision by decision (a classic-BPF interpreter) -----------------------------------------


def _bpf_run(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    code = [struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif op == 0x06:
            return k
        elif op in (0x15, 0x35, 0x45):
            taken = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += 1 + (jt if taken else jf)
        else:
            raise AssertionError(f"unexpected BPF opcode {op:#x}")


@pytest.mark.parametrize("arch", sorted(_seccomp.ARCHES))
def test_seccomp_program_decisions(arch: str) -> None:
    table = _seccomp.ARCHES[arch]
    nr = table.syscalls
    program = _seccomp.build_filter(arch)
    strict = _seccomp.build_filter(arch, deny_session_change=True)
    allow, kill = _seccomp.RET_ALLOW, _seccomp.RET_KILL_PROCESS
    eperm, enosys, eafnosupport = _seccomp.RET_ERRNO | 1, _seccomp.RET_ERRNO | 38, _seccomp.RET_ERRNO | 97

    def decide(name_or_nr: str | int, *args: int, filter_: bytes = program, audit: int = table.audit) -> int:
        number = nr[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
        return _bpf_run(filter_, number, audit, args)

    assert decide(0) == allow  # read / io_setup
    assert decide(0, audit=0x40000003) == kill  # i386
    for name in _seccomp.DENIED:
        if name in nr:
            assert decide(name) == eperm, name
    assert decide("socket", 1) == allow
    assert decide("socket", 2) == eafnosupport  # AF_INET
    assert decide("socket", 10) == eafnosupport  # AF_INET6
    assert decide("socketpair", 1) == allow
    assert decide("socketpair", 16) == eafnosupport  # AF_NETLINK
    assert decide("clone", 0x11) == allow  # SIGCHLD: fork
    assert decide("clone", 0x003D0F00) == allow  # pthread_create's flags
    assert decide("clone", 0x10000011) == eperm  # CLONE_NEWUSER
    assert decide("clone3") == enosys
    assert decide("personality", 0xFFFFFFFF) == allow
    assert decide("personality", 0x0040000) == eperm  # ADDR_NO_RANDOMIZE
    assert decide("setsid") == allow
    assert decide("setsid", filter_=strict) == eperm
    assert decide("setpgid") == allow
    assert decide("setpgid", filter_=strict) == eperm
    if table.x32_bit:
        assert decide(0x40000000 + 41, 2) == kill  # the x32 ABI
    assert len(program) % 8 == 0
    assert len(program) // 8 < 256


# -- misc ----------------------------------------------------------------------------------------------------------


def test_launch_close_is_idempotent_and_releases_the_seccomp_fd(sandbox: Sandbox, mechanism: str) -> None:
    launch = sandbox.launch("pass")
    fds = launch.host_fds.fds
    if mechanism == "bubblewrap":
        assert len(fds) == 1
        assert fds[0] in launch.pass_fds
        assert stat.S_ISREG(os.fstat(fds[0]).st_mode)
    launch.close()
    launch.close()
    for fd in fds:
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)


def test_kill_tree_of_an_exited_process_is_harmless(sandbox: Sandbox, mechanism: str) -> None:
    launch = sandbox.launch("pass")
    done = subprocess.run(
        launch.argv,
        **launch.spawn_options(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    launch.close()
    assert done.returncode == 0, done.stderr
    kill_tree(2**22 + 1, launch)  # above any pid_max: no such process, nothing raised
