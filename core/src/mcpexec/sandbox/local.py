"""The local sandbox (the default, no account): one confined CPython subprocess per session on this machine.

The guest gets the read-only guest library, a workspace directory as its working directory (the only writable
place), a scrubbed environment and the OS isolation :mod:`._launch` can set up here (:attr:`isolation` says
which). A cell that runs past its timeout, or a guest that dies, ends the session: the whole process tree is
killed and the next cell starts in a fresh one (taken from a pre-started spare), with ``state_lost`` set.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Literal, Self

import anyio
import anyio.abc
from anyio.abc import UNIXSocketStream

from mcpexec.errors import SandboxError, UsageError
from mcpexec.sandbox._connection import GuestConnection
from mcpexec.sandbox._launch import IsolationReport, Launch, LaunchSpec, Limits, build_launch, kill_tree
from mcpexec.sandbox._lib import bootstrap
from mcpexec.sandbox._session import SessionSandbox
from mcpexec.sandbox._workspace import Workspace

__all__ = ["LocalSandbox"]

_GUEST_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp"}
_TAIL_BYTES = 8192
_KILL_WAIT_S = 5.0


class _Guest:
    """One guest process and its connection."""

    def __init__(self, process: anyio.abc.Process, launch: Launch, connection: GuestConnection) -> None:
        self.process = process
        self.launch = launch
        self.connection = connection
        self.scope = anyio.CancelScope()
        self.output_tail: deque[bytes] = deque(maxlen=64)
        self.started = time.perf_counter()
        self.killed_for: str | None = None

    async def wait_exited(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self.process.wait()

    def tail(self) -> str:
        text = b"".join(self.output_tail)[-_TAIL_BYTES:].decode("utf-8", "replace").strip()
        return f"\n--- sandbox process output (tail) ---\n{text}" if text else ""

    def exit_description(self) -> str:
        code = self.process.returncode
        if code is None:
            return "is still running"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            reason = {"SIGKILL": " (killed: out of memory, or stopped)", "SIGXCPU": " (CPU-time limit reached)"}
            return f"was killed by {name}{reason.get(name, '')}"
        return f"exited with status {code}"


class LocalSandbox(SessionSandbox[_Guest]):
    """A sandbox session on this machine. Use ``async with LocalSandbox(...) as sandbox`` after :meth:`bind`.

    ``workspace``: a directory to keep across sessions (default: a temporary one removed on close).
    ``isolation``: ``"auto"`` (the strongest available, reported in :attr:`isolation`), ``"full"`` (refuse to
    start without every protection) or ``"none"`` (environment scrubbing and limits only; for debugging).
    ``spare``: keep one guest pre-started so a restart after a timeout or crash costs almost nothing.
    """

    kind = "local"

    def __init__(
        self,
        *,
        workspace: str | Path | None = None,
        limits: Limits | None = None,
        isolation: Literal["auto", "full", "none"] = "auto",
        python: str | None = None,
        max_stdout_chars: int = 20_000,
        max_stderr_chars: int = 8_000,
        spare: bool = True,
        start_timeout: float = 20.0,
    ) -> None:
        if isolation not in ("auto", "full", "none"):
            raise UsageError(f"isolation must be 'auto', 'full' or 'none', not {isolation!r}")
        for name, value in (("max_stdout_chars", max_stdout_chars), ("max_stderr_chars", max_stderr_chars)):
            if not isinstance(value, int) or value < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
                raise UsageError(f"{name} must be a non-negative int, not {value!r}")
        if not start_timeout > 0:
            raise UsageError(f"start_timeout must be a positive number of seconds, not {start_timeout!r}")
        self._workspace_arg = Path(workspace) if workspace is not None else None
        self._limits = limits or Limits()
        self._isolation_mode: Literal["auto", "full", "none"] = isolation
        self._python = python
        self._options = {"max_stdout_chars": max_stdout_chars, "max_stderr_chars": max_stderr_chars}
        self._start_timeout = start_timeout
        super().__init__(spare=spare)
        self._temp_dir: Path | None = None
        self._workspace: Workspace | None = None
        self._isolation: IsolationReport | None = None

    # -- set-up ------------------------------------------------------------------------------------------------

    @property
    def isolation(self) -> IsolationReport:
        """What is enforced for this sandbox's guests (known once the first guest has started)."""
        if self._isolation is None:
            raise SandboxError("the sandbox has not started a session yet; its isolation is known after start()")
        return self._isolation

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            raise SandboxError("the sandbox is not open; use it inside 'async with'")
        return self._workspace

    async def __aenter__(self) -> Self:
        await self._open_task_group()
        if self._workspace_arg is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="mcpexec-"))
            self._temp_dir.chmod(0o711)  # a sandbox running as another uid must reach its workspace inside
            root = self._temp_dir / "workspace"
        else:
            root = self._workspace_arg
        self._workspace = Workspace(root)
        try:
            self._guest = await self._start_guest()
        except BaseException:
            await self._shutdown()
            raise
        self._schedule_spare()
        return self

    async def _stop_guests(self, guests: list[_Guest]) -> None:
        for guest in guests:
            await self._kill(guest, "the sandbox was closed")  # shielded inside

    async def _after_shutdown(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    # -- guests ------------------------------------------------------------------------------------------------

    async def _start_guest(self) -> _Guest:
        assert self._lib_dir is not None
        assert self._handler is not None
        assert self._task_group is not None
        parent_end, child_end = socket.socketpair()
        try:
            fd = child_end.fileno()
            options = {**self._options, "output_dir": ".mcpexec"}
            lib_dir = self._lib_dir
            spec = LaunchSpec(
                lib_dir=lib_dir,
                workspace=self.workspace.root,
                command=lambda paths: [paths.python, "-I", "-S", "-c", bootstrap(paths.lib, fd, options)],
                env=dict(_GUEST_ENV),
                pass_fds=(fd,),
                limits=self._limits,
                isolation=self._isolation_mode,
                python=self._python,
            )
            launch = build_launch(spec)
            try:
                process = await anyio.open_process(
                    launch.argv,
                    **launch.spawn_options(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            except OSError as exc:
                raise SandboxError(f"could not start the sandbox process {launch.argv[0]!r}: {exc}") from exc
            finally:
                launch.close()
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        try:
            stream = await UNIXSocketStream.from_socket(parent_end)
        except BaseException:
            parent_end.close()
            with anyio.CancelScope(shield=True):
                kill_tree(process.pid, launch)
                await process.aclose()
            raise
        guest = _Guest(process, launch, GuestConnection(stream, self._handler))
        await self._serve_until_ready(guest, self._start_timeout, "the sandbox process")
        self._isolation = launch.isolation
        return guest

    async def _run_guest(self, guest: _Guest) -> None:
        try:
            with guest.scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._drain, guest)
                    await guest.connection.serve()
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(OSError, anyio.BrokenResourceError):
                await guest.connection.close()  # only once nothing reads or writes it any more

    @staticmethod
    async def _drain(guest: _Guest) -> None:
        stdout = guest.process.stdout
        if stdout is None:
            return
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            async for chunk in stdout:
                guest.output_tail.append(chunk)

    async def _kill(self, guest: _Guest, reason: str) -> None:
        guest.killed_for = guest.killed_for or reason
        with anyio.CancelScope(shield=True):
            if guest.process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill_tree(guest.process.pid, guest.launch)
            with anyio.move_on_after(_KILL_WAIT_S):
                await guest.process.wait()
            guest.scope.cancel()
            with contextlib.suppress(OSError), anyio.move_on_after(_KILL_WAIT_S):
                await guest.process.aclose()
