"""The E2B cloud sandbox: the same guest runtime, in an E2B sandbox (a Firecracker microVM), with tool calls
bridged back to the MCP servers held by this host — the sandbox never needs network access to the host.

The guest library (runtime, generated ``servers/`` package, skills) is uploaded with one batch write, and the guest
runs as one long-lived background command (``timeout=0``) that speaks the protocol on its stdin/stdout: host →
guest by stdin, guest → host by stdout chunks reassembled into frames. User output never shares that stdout
unframed: the guest takes stdin/stdout over before any user code runs and captures fd 1/2 like the local
sandbox. The sandbox is killed on close, on any error while starting, on cancellation and when the interpreter
exits; its E2B timeout is extended while a cell runs and lapses ``idle_timeout`` seconds after the last one.

Needs ``pip install "mcpexec[e2b]"`` and an API key (``E2B_API_KEY`` or ``api_key=``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import logging
import os
import posixpath
import shlex
import threading
from collections.abc import Generator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Self

import anyio

from mcpexec.errors import SandboxError, UsageError
from mcpexec.execution import ExecutionResult
from mcpexec.sandbox._connection import GuestConnection
from mcpexec.sandbox._e2b_stream import CommandStream
from mcpexec.sandbox._lib import bootstrap_stdio
from mcpexec.sandbox._session import SessionSandbox
from mcpexec.sandbox._spec import IsolationReport

__all__ = ["E2BSandbox", "E2BWorkspace"]

logger = logging.getLogger("mcpexec.sandbox")

HOME = "/home/user"
LIB_DIR = f"{HOME}/.mcpexec/lib"
WORKSPACE_DIR = f"{HOME}/workspace"
_KILL_WAIT_S = 10.0


def _sdk() -> Any:
    """``e2b_code_interpreter`` (its default template has Python's data libraries), else plain ``e2b``."""
    for name in ("e2b_code_interpreter", "e2b"):
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    raise SandboxError('the E2B sandbox needs the E2B SDK: pip install "mcpexec[e2b]"')


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


class _Guest:
    """The guest command in the sandbox and its connection."""

    def __init__(self, handle: Any, stream: CommandStream, connection: GuestConnection) -> None:
        self.handle = handle
        self.stream = stream
        self.connection = connection
        self.scope = anyio.CancelScope()
        self.exited = anyio.Event()
        self.exit_code: int | None = None
        self.error: str | None = None
        self.killed_for: str | None = None

    def tail(self) -> str:
        text = "".join(self.stream.stderr_tail)[-8192:].strip()
        return f"\n--- sandbox process output (tail) ---\n{text}" if text else ""

    def exit_description(self) -> str:
        if not self.exited.is_set():
            return "is still running"
        if self.error:
            return f"ended: {self.error}"
        return f"exited with status {self.exit_code}"

    async def wait_exited(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self.exited.wait()


class E2BWorkspace:
    """The workspace inside an E2B sandbox (the guest's working directory), through E2B's files API.

    Like :class:`~mcpexec.sandbox.Workspace` but asynchronous: ``await ws.write_text("input/a.csv", text)``.
    Paths are relative to the workspace; absolute paths and ``..`` are refused (:class:`UsageError`).
    """

    def __init__(self, files: Any, root: str = WORKSPACE_DIR) -> None:
        self._files = files
        self.root = root

    def path(self, relative: str | os.PathLike[str]) -> str:
        """The absolute path in the sandbox of a workspace-relative path."""
        pure = PurePosixPath(os.fspath(relative))
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise UsageError(f"workspace paths are relative and stay inside it; {os.fspath(relative)!r} does not")
        return posixpath.join(self.root, *pure.parts)

    async def write_bytes(self, relative: str | os.PathLike[str], data: bytes) -> str:
        path = self.path(relative)
        await self._files.write(path, data)
        return path

    async def write_text(self, relative: str | os.PathLike[str], text: str) -> str:
        return await self.write_bytes(relative, text.encode("utf-8"))

    async def read_bytes(self, relative: str | os.PathLike[str]) -> bytes:
        path = self.path(relative)
        try:
            return bytes(await self._files.read(path, format="bytes"))
        except Exception as exc:
            raise UsageError(f"cannot read {os.fspath(relative)!r} from the workspace: {_describe(exc)}") from exc

    async def read_text(self, relative: str | os.PathLike[str]) -> str:
        return (await self.read_bytes(relative)).decode("utf-8")

    async def files(self) -> list[str]:
        """Every file under the workspace (relative paths, sorted; the guest's ``.mcpexec`` output included)."""
        entries = await self._files.list(self.root, depth=64)
        found: list[str] = []
        for entry in entries:
            if str(getattr(entry.type, "value", entry.type)) == "file":
                found.append(posixpath.relpath(str(entry.path), self.root))
        return sorted(found)


class _Sweeper:
    """Kills sandboxes still open when the interpreter exits (a process that forgot to close them, or died of
    an exception): paid sandboxes must not outlive their host. A host killed outright leaves them to their E2B
    timeout (``idle_timeout``)."""

    def __init__(self) -> None:
        self._open: set[E2BSandbox] = set()  # strong: an open sandbox is killed even if nothing else holds it
        self._lock = threading.Lock()
        self._registered = False

    def add(self, sandbox: E2BSandbox) -> None:
        with self._lock:
            self._open.add(sandbox)
            if not self._registered:
                atexit.register(self.sweep)
                self._registered = True

    def discard(self, sandbox: E2BSandbox) -> None:
        with self._lock:
            self._open.discard(sandbox)

    def sweep(self) -> None:
        with self._lock:
            left = list(self._open)
            self._open.clear()
        for sandbox in left:
            sandbox.kill_now()


_sweeper = _Sweeper()


class E2BSandbox(SessionSandbox[_Guest]):
    """A sandbox session in E2B's cloud. ``CodeExecutor(servers, sandbox="e2b")`` uses one with the defaults.

    ``template``: the E2B template (default: the SDK's, e2b-code-interpreter's when installed — Python with the
    usual data libraries). ``api_key``: default ``$E2B_API_KEY``. ``idle_timeout``: seconds the sandbox stays
    alive after the last cell (extended while a cell runs). ``allow_internet``: off by default (the guest needs
    none: tool calls come back to this host). ``metadata``: tags on the sandbox. ``envs``: environment of the
    sandbox (this host's environment is never passed). CPU and memory are set by the template.
    ``spare``: keep a second guest process started in the sandbox, so a new session (after a timeout, a crash or
    :meth:`restart`) starts at once. ``connection``: extra SDK connection options (``domain``, ``api_url``,
    ``sandbox_url``, ``request_timeout`` ...), e.g. for a self-hosted E2B or :class:`mcpexec.testing.FakeE2B`.
    """

    kind = "e2b"

    def __init__(
        self,
        *,
        template: str | None = None,
        api_key: str | None = None,
        idle_timeout: int = 300,
        allow_internet: bool = False,
        metadata: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        python: str = "python3",
        max_stdout_chars: int = 20_000,
        max_stderr_chars: int = 8_000,
        start_timeout: float = 120.0,
        spare: bool = True,
        connection: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(spare=spare)
        if not isinstance(idle_timeout, int) or isinstance(idle_timeout, bool) or idle_timeout < 5:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UsageError(f"idle_timeout must be an int of at least 5 seconds, not {idle_timeout!r}")
        for name, value in (("max_stdout_chars", max_stdout_chars), ("max_stderr_chars", max_stderr_chars)):
            if not isinstance(value, int) or value < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
                raise UsageError(f"{name} must be a non-negative int, not {value!r}")
        if not start_timeout > 0:
            raise UsageError(f"start_timeout must be a positive number of seconds, not {start_timeout!r}")
        self._template = template
        self._api_key = api_key
        self.idle_timeout = idle_timeout
        self._allow_internet = allow_internet
        self._metadata = {"created-by": "mcpexec", **dict(metadata or {})}
        self._envs = dict(envs or {})
        self._python = python
        self._options = {"max_stdout_chars": max_stdout_chars, "max_stderr_chars": max_stderr_chars}
        self._start_timeout = start_timeout
        self._connection = dict(connection or {})
        self._sbx: Any = None
        self._uploaded: dict[str, str] = {}
        self._lib_dirty = True
        self._lib_lock = anyio.Lock()
        self._workspace: E2BWorkspace | None = None

    # -- set-up ------------------------------------------------------------------------------------------------

    @property
    def sandbox_id(self) -> str | None:
        """The E2B sandbox's id while open."""
        return None if self._sbx is None else str(self._sbx.sandbox_id)

    @property
    def isolation(self) -> IsolationReport:
        """What E2B enforces: a microVM of its own per sandbox."""
        network = "internet access on (allow_internet=True)" if self._allow_internet else "no internet access"
        return IsolationReport(
            mechanism="e2b",
            full=True,
            namespaces=("firecracker-microvm",),
            filesystem=(
                "the sandbox VM's own disk: nothing of this host is reachable; the guest library and the workspace "
                "are uploaded into it (user code runs as the template's user and may change them)"
            ),
            network=f"{network}; tool calls come back over the E2B command channel",
            seccomp=False,
            landlock=False,
            uid=None,
            rlimits={},
            environment="the template's environment plus envs=; nothing from this host",
            missing=(),
        )

    @property
    def workspace(self) -> E2BWorkspace:
        if self._workspace is None:
            raise SandboxError("the sandbox is not open; use it inside 'async with'")
        return self._workspace

    def _sdk_options(self) -> dict[str, Any]:
        key = self._api_key or os.environ.get("E2B_API_KEY")
        if not key:
            raise UsageError("E2B needs an API key: set E2B_API_KEY or pass E2BSandbox(api_key=...)")
        return {"api_key": key, **self._connection}

    async def __aenter__(self) -> Self:
        self._check_can_open()
        options = self._sdk_options()
        sdk = _sdk()
        await self._open_task_group()
        try:
            with anyio.fail_after(self._start_timeout):
                try:
                    self._sbx = await sdk.AsyncSandbox.create(
                        template=self._template,
                        timeout=self.idle_timeout,
                        metadata=self._metadata,
                        envs=self._envs,
                        allow_internet_access=self._allow_internet,
                        **options,
                    )
                except Exception as exc:
                    raise SandboxError(f"E2B refused to create a sandbox: {_describe(exc)}") from exc
                _sweeper.add(self)
                self._workspace = E2BWorkspace(self._sbx.files)
                try:
                    await self._sbx.files.make_dir(WORKSPACE_DIR)
                    await self.refresh_lib()
                except Exception as exc:
                    raise SandboxError(f"could not set up the E2B sandbox: {_describe(exc)}") from exc
                self._guest = await self._start_guest()
            self._schedule_spare()
        except TimeoutError as exc:
            await self._shutdown()
            raise SandboxError(f"the E2B sandbox did not start within {self._start_timeout:g} s") from exc
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def _stop_guests(self, guests: list[_Guest]) -> None:
        for guest in guests:  # killing the sandbox kills them; their tasks just stop
            guest.killed_for = guest.killed_for or "the sandbox was closed"
            guest.scope.cancel()
            guest.stream.close()
        with anyio.CancelScope(shield=True):
            await self._kill_sandbox()

    async def _kill_sandbox(self) -> None:
        sbx, self._sbx = self._sbx, None
        if sbx is None:
            return
        _sweeper.discard(self)
        try:
            with anyio.fail_after(_KILL_WAIT_S):
                await sbx.kill()
        except Exception as exc:  # it lapses by its timeout anyway; say so
            logger.warning("could not kill E2B sandbox %s (it ends by its timeout): %s", sbx.sandbox_id, exc)

    def kill_now(self) -> None:
        """Kill the E2B sandbox synchronously (at interpreter exit, when nobody closed it)."""
        sbx = self._sbx
        if sbx is None:
            return
        self._sbx = None
        with contextlib.suppress(Exception):
            _sdk().Sandbox.kill(sbx.sandbox_id, **self._sdk_options())

    # -- the guest library -------------------------------------------------------------------------------------

    def lib_changed(self) -> None:
        """The guest library changed (new tools, a skill saved): it is uploaded before the next use."""
        self._lib_dirty = True

    async def refresh_lib(self) -> None:
        """Upload what changed in the guest library since the last upload (and remove what is gone)."""
        if not self._lib_dirty or self._sbx is None:
            return
        assert self._lib_dir is not None
        async with self._lib_lock:
            self._lib_dirty = False
            current = _library_files(self._lib_dir)
            digests = {path: hashlib.sha256(data).hexdigest() for path, data in current.items()}
            changed = [path for path, digest in digests.items() if self._uploaded.get(path) != digest]
            gone = [path for path in self._uploaded if path not in digests]
            if changed:
                entries = [{"path": f"{LIB_DIR}/{path}", "data": current[path]} for path in changed]
                await self._sbx.files.write_files(entries)
            for path in _removals(gone, digests):  # a package left as an empty directory would stay importable
                with contextlib.suppress(Exception):
                    await self._sbx.files.remove(f"{LIB_DIR}/{path}")
            self._uploaded = digests

    # -- guests ------------------------------------------------------------------------------------------------

    async def _start_guest(self) -> _Guest:
        assert self._handler is not None
        self._require_open()
        options = {**self._options, "output_dir": ".mcpexec"}
        command = f"exec {shlex.quote(self._python)} -I -c {shlex.quote(bootstrap_stdio(LIB_DIR, options))}"
        sbx = self._sbx
        if sbx is None:
            raise SandboxError("the E2B sandbox is closed")
        stream = CommandStream()
        try:
            handle = await self._run_guest_command(sbx, command, stream)
            stream.attach(sbx.commands, int(handle.pid))
        except BaseException:
            stream.close()
            raise
        guest = _Guest(handle, stream, GuestConnection(stream, self._handler))
        await self._serve_until_ready(guest, self._start_timeout, "the guest in the E2B sandbox")
        return guest

    @staticmethod
    async def _run_guest_command(sbx: Any, command: str, stream: CommandStream) -> Any:
        try:
            return await sbx.commands.run(
                command,
                background=True,
                stdin=True,
                timeout=0,
                cwd=WORKSPACE_DIR,
                envs={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": WORKSPACE_DIR},
                on_stdout=stream.feed,
                on_stderr=stream.feed_stderr,
                retain_output=False,
            )
        except Exception as exc:
            raise SandboxError(f"could not start the guest in the E2B sandbox: {_describe(exc)}") from exc

    async def _run_guest(self, guest: _Guest) -> None:
        async def watch_exit() -> None:
            try:
                result = await guest.handle.wait()
                guest.exit_code = int(getattr(result, "exit_code", 0) or 0)
            except Exception as exc:  # CommandExitException (non-zero status), a dropped stream, a dead sandbox
                guest.exit_code = getattr(exc, "exit_code", None)
                guest.error = None if guest.exit_code is not None else _describe(exc)
            finally:
                guest.exited.set()
                guest.stream.end()

        try:
            with guest.scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(watch_exit)
                    await guest.connection.serve()
                    tasks.cancel_scope.cancel()
        finally:
            guest.exited.set()
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await guest.connection.close()

    async def _kill(self, guest: _Guest, reason: str) -> None:
        guest.killed_for = guest.killed_for or reason
        with anyio.CancelScope(shield=True):
            if not guest.exited.is_set() and self._sbx is not None:
                pid = int(guest.handle.pid)
                with contextlib.suppress(Exception), anyio.move_on_after(_KILL_WAIT_S):
                    await guest.handle.kill()
                with contextlib.suppress(Exception), anyio.move_on_after(_KILL_WAIT_S):  # its process group
                    await self._sbx.commands.run(f"kill -KILL -- -{pid} 2>/dev/null; true", timeout=_KILL_WAIT_S)
                await guest.wait_exited(_KILL_WAIT_S)
            guest.scope.cancel()
            guest.stream.close()

    @contextlib.contextmanager
    def _cell_activity(self) -> Generator[None]:
        """Keep the E2B sandbox alive while a cell runs (its timeout is pushed back periodically)."""
        scope = anyio.CancelScope()

        async def keep_alive() -> None:
            with scope:
                while True:
                    with contextlib.suppress(Exception):
                        await self._sbx.set_timeout(self.idle_timeout)
                    await anyio.sleep(max(self.idle_timeout / 3, 1.0))

        self._require_open().start_soon(keep_alive)
        try:
            yield
        finally:
            scope.cancel()

    async def run(self, code: str, *, timeout: float = 60.0) -> ExecutionResult:
        """Run one cell (see :meth:`SessionSandbox.run`), uploading library changes first."""
        try:
            await self.refresh_lib()
        except Exception as exc:
            raise SandboxError(f"could not update the guest library in the E2B sandbox: {_describe(exc)}") from exc
        return await super().run(code, timeout=timeout)


def _library_files(root: Path) -> dict[str, bytes]:
    """The guest library's sources (bytecode is compiled in the sandbox, for its own Python)."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _removals(gone: list[str], kept: Mapping[str, object]) -> list[str]:
    """What to delete for the files in ``gone``: each directory left without a kept file (the outermost one),
    and the gone files outside such directories."""
    still_used = {parent for path in kept for parent in _parents(path)}
    empty = {parent for path in gone for parent in _parents(path) if parent not in still_used}
    outermost = sorted(d for d in empty if not any(p in empty for p in _parents(d + "/x")[:-1]))
    loose = [path for path in gone if not any(p in empty for p in _parents(path))]
    return outermost + loose
