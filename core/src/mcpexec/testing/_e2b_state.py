"""The fake E2B's state: its sandboxes, their commands, what was created and killed, and the injected faults.

Mutated only on the fake's event loop; read from any thread through snapshots (:class:`SandboxRecord`) taken under
``lock``. ``changed`` is notified on every state change, for the blocking waits of tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from e2b.envd.process import process_pb

from mcpexec.testing._e2b_faults import Faults
from mcpexec.testing._e2b_paths import HOME, SandboxFS
from mcpexec.testing._e2b_process import Chunking, Marker, ProcessRecord, QueueItem, RunningProcess, Splitter
from mcpexec.testing._e2b_spawn import DEFAULT_PATH, Isolation, prepare_root, spawn

__all__ = ["KillReason", "SandboxRecord", "Settings", "FakeSandbox", "FakeState"]

KillReason = Literal["api", "timeout", "injected", "shutdown"]
"""Why a sandbox died: ``DELETE`` through the API, its timeout lapsed, ``FakeE2B.kill_sandbox``, the fake stopped."""
_EXIT_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Settings:
    """How the fake behaves (fixed when it starts)."""

    isolation: Isolation
    bwrap: str | None
    python: str | None
    chunking: Chunking
    seed: int | None
    envd_version: str
    default_timeout: int
    max_timeout: int
    keep_files: bool


@dataclass(frozen=True, slots=True)
class SandboxRecord:
    """What the fake knows about one sandbox (a snapshot)."""

    sandbox_id: str
    template: str
    root: Path
    """Host directory holding the sandbox's ``home/user`` and ``tmp`` (removed when it dies unless ``keep_files``)."""
    envs: Mapping[str, str]
    """The sandbox-level envs given at creation."""
    metadata: Mapping[str, str]
    timeout: int
    """Seconds from the last create/set_timeout/connect to the scheduled end."""
    started_at: datetime
    end_at: datetime
    alive: bool
    kill_reason: KillReason | None
    processes: tuple[ProcessRecord, ...]
    """Every command the sandbox ran, in start order."""

    @property
    def home(self) -> Path:
        """Host path of the sandbox's ``/home/user``."""
        return self.root / "home" / "user"

    def running(self) -> tuple[ProcessRecord, ...]:
        return tuple(p for p in self.processes if p.running)


class FakeSandbox:
    """One sandbox: its files, envs, timeout timer and commands."""

    def __init__(
        self,
        *,
        state: FakeState,
        sandbox_id: str,
        template: str,
        envs: Mapping[str, str],
        metadata: Mapping[str, str],
        timeout: int,
    ) -> None:
        self._state = state
        self.sandbox_id = sandbox_id
        self.template = template
        self.envs = dict(envs)
        self.metadata = dict(metadata)
        self.access_token = secrets.token_hex(16)
        self.root = state.base_dir / sandbox_id
        self.fs = SandboxFS(self.root)
        self.started_at = datetime.now(UTC)
        self.timeout = timeout
        self.end_at = self.started_at
        self.alive = True
        self.kill_reason: KillReason | None = None
        self.processes: list[RunningProcess] = []
        self._timer: asyncio.TimerHandle | None = None
        self._splitter = Splitter(state.settings.chunking, state.settings.seed)

    def set_timeout(self, seconds: int) -> None:
        """End the sandbox ``seconds`` from now (replacing the previous end)."""
        if self._timer is not None:
            self._timer.cancel()
        self.timeout = seconds
        self.end_at = datetime.fromtimestamp(time.time() + seconds, UTC)
        self._timer = asyncio.get_running_loop().call_later(seconds, self._state.kill_later, self.sandbox_id, "timeout")

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def running(self) -> list[RunningProcess]:
        return [p for p in self.processes if p.running]

    def find(self, selector: process_pb.ProcessSelector | None) -> RunningProcess | None:
        """The running process a ``ProcessSelector`` (pid or tag) names."""
        if selector is None or selector.selector is None:
            return None
        for process in self.running():
            if (selector.selector.field == "pid" and process.pid == selector.selector.value) or (
                selector.selector.field == "tag" and process.tag == selector.selector.value
            ):
                return process
        return None

    def env_for(self, config: process_pb.ProcessConfig) -> dict[str, str]:
        base = {
            "PATH": DEFAULT_PATH,
            "HOME": HOME,
            "USER": "user",
            "LOGNAME": "user",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "E2B_SANDBOX": "true",
            "E2B_SANDBOX_ID": self.sandbox_id,
            "E2B_TEMPLATE_ID": self.template,
        }
        return {**base, **self.envs, **dict(config.envs)}

    def launch(
        self,
        config: process_pb.ProcessConfig,
        *,
        tag: str | None,
        stdin: bool,
        timeout_s: float | None,
        first: asyncio.Queue[QueueItem] | None,
    ) -> RunningProcess:
        """Start a command; ``first`` is subscribed before any output. ``NotADirectoryError`` for a bad cwd."""
        cwd = self.fs.resolve(config.cwd if config.has_field("cwd") and config.cwd else HOME)
        if not self.fs.host(cwd).is_dir():
            raise NotADirectoryError(f"cwd '{cwd}' does not exist or is not a directory")
        settings = self._state.settings
        spawned = spawn(
            isolation=settings.isolation,
            bwrap=settings.bwrap,
            fs=self.fs,
            cmd=config.cmd,
            args=list(config.args),
            env=self.env_for(config),
            cwd=cwd,
            stdin=stdin,
        )
        process = RunningProcess(
            spawned=spawned,
            config=config,
            tag=tag,
            isolation=settings.isolation,
            splitter=self._splitter,
            on_end=self._state.on_process_end,
        )
        with self._state.lock:
            self.processes.append(process)
            process.start(first, timeout_s)
            self._state.changed.notify_all()
        return process

    def record(self) -> SandboxRecord:
        return SandboxRecord(
            sandbox_id=self.sandbox_id,
            template=self.template,
            root=self.root,
            envs=dict(self.envs),
            metadata=dict(self.metadata),
            timeout=self.timeout,
            started_at=self.started_at,
            end_at=self.end_at,
            alive=self.alive,
            kill_reason=self.kill_reason,
            processes=tuple(p.record() for p in self.processes),
        )


class FakeState:
    """All sandboxes of one fake E2B."""

    def __init__(self, settings: Settings, base_dir: Path) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.created: list[str] = []
        self.killed: dict[str, KillReason] = {}
        self.faults = Faults()
        self._tasks: set[asyncio.Task[bool]] = set()

    def create(
        self, *, template: str, envs: Mapping[str, str], metadata: Mapping[str, str], timeout: int
    ) -> FakeSandbox:
        sandbox_id = "i" + secrets.token_hex(10)[:19]
        sandbox = FakeSandbox(
            state=self, sandbox_id=sandbox_id, template=template, envs=envs, metadata=metadata, timeout=timeout
        )
        prepare_root(sandbox.root, self.settings.python)
        with self.lock:
            self.sandboxes[sandbox_id] = sandbox
            self.created.append(sandbox_id)
            sandbox.set_timeout(timeout)
            self.changed.notify_all()
        return sandbox

    def alive(self, sandbox_id: str) -> FakeSandbox | None:
        sandbox = self.sandboxes.get(sandbox_id)
        return sandbox if sandbox is not None and sandbox.alive else None

    def on_process_end(self, process: RunningProcess) -> None:
        with self.lock:
            process.close()
            self.changed.notify_all()

    def notify(self) -> None:
        with self.lock:
            self.changed.notify_all()

    def kill_later(self, sandbox_id: str, reason: KillReason) -> None:
        task = asyncio.get_running_loop().create_task(self.kill(sandbox_id, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def kill(self, sandbox_id: str, reason: KillReason) -> bool:
        """Kill a sandbox and its commands and remove its files; ``False`` when it was not alive."""
        with self.lock:
            sandbox = self.alive(sandbox_id)
            if sandbox is None:
                return False
            sandbox.alive = False
            sandbox.kill_reason = reason
            sandbox.cancel_timer()
            self.killed[sandbox_id] = reason
            self.changed.notify_all()
        await self.stop_processes(sandbox.running(), "sandbox")
        if not self.settings.keep_files:
            shutil.rmtree(sandbox.root, ignore_errors=True)
        self.notify()
        return True

    async def stop_processes(self, processes: list[RunningProcess], reason: str) -> None:
        """SIGKILL ``processes`` (their streams end as envd's do when the sandbox goes) and wait for them."""
        for process in processes:
            process.publish(Marker.GONE)
            process.kill(signal.SIGKILL, reason)
        for process in processes:
            try:
                await asyncio.wait_for(process.done.wait(), _EXIT_WAIT_S)
            except TimeoutError:
                process.force_close()
            with contextlib.suppress(Exception):
                process.close()
