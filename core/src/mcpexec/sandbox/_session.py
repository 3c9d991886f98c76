"""What every sandbox backend shares: running a cell in the current guest session, its timeout (paused while a
human approves a call), and what happens when a guest dies or runs too long — the session ends, the next cell
starts a fresh one and its result says plainly that the state was lost."""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.abc

from mcpexec.errors import SandboxCrashed, SandboxError, UsageError
from mcpexec.execution import ExecutionError, ExecutionResult
from mcpexec.sandbox._clock import CellClock
from mcpexec.sandbox._connection import GuestConnection, GuestRequests

__all__ = ["Guest", "SessionSandbox"]


class Guest(Protocol):
    """One guest process of a backend, with its protocol connection."""

    connection: GuestConnection
    killed_for: str | None

    def tail(self) -> str:
        """The end of what the process wrote outside the protocol (for error messages), or ``""``."""
        ...

    def exit_description(self) -> str:
        """How the process ended (``"exited with status 1"``, ...)."""
        ...

    async def wait_exited(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the process to end."""
        ...


G = TypeVar("G", bound=Guest)


class SessionSandbox(ABC, Generic[G]):
    """The cell-running half of a sandbox; a backend starts, keeps and kills its guests (of type ``G``)."""

    def __init__(self, *, spare: bool = False) -> None:
        self._lib_dir: Path | None = None
        self._handler: GuestRequests | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._guest: G | None = None
        self._cell_clock: CellClock | None = None
        self._lost_reason: str | None = None
        self._cells = 0
        self._use_spare = spare
        self._spare: G | None = None
        self._spare_ready: anyio.Event | None = None

    def bind(self, lib_dir: Path, handler: GuestRequests) -> None:
        """Give the sandbox its guest library and the host's request handler (done by the executor)."""
        self._lib_dir = lib_dir
        self._handler = handler

    def _check_can_open(self) -> None:
        if self._lib_dir is None or self._handler is None:
            raise UsageError(f"{type(self).__name__}.bind(lib_dir, handler) must be called before it is started")
        if self._task_group is not None:
            raise RuntimeError("the sandbox is already open")

    async def _open_task_group(self) -> None:
        """Check the sandbox may open, and open the task group its guests run in (the start of ``__aenter__``)."""
        self._check_can_open()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        """Stop every guest (see :meth:`_stop_guests`), leave the task group, then :meth:`_after_shutdown`."""
        task_group, self._task_group = self._task_group, None
        guests = [guest for guest in (self._guest, self._spare) if guest is not None]
        self._guest = self._spare = None
        await self._stop_guests(guests)
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        await self._after_shutdown()

    @abstractmethod
    async def _stop_guests(self, guests: list[G]) -> None:
        """Stop the session's guests (the current one and the spare) as the sandbox closes."""

    async def _after_shutdown(self) -> None:
        """What a backend releases once no guest runs any more."""

    @abstractmethod
    async def _start_guest(self) -> G:
        """Start a guest and return it once it is ready (see :meth:`_serve_until_ready`)."""

    @abstractmethod
    async def _run_guest(self, guest: G) -> None:
        """Serve ``guest``'s protocol until it ends (run as a task of the sandbox)."""

    @abstractmethod
    async def _kill(self, guest: G, reason: str) -> None:
        """Stop ``guest`` and everything it started (shielded from cancellation)."""

    async def _serve_until_ready(self, guest: G, timeout: float, what: str) -> None:
        """Serve ``guest`` in the sandbox's task group and wait until it says it is ready. On any failure it is
        killed; one that died or did not answer becomes a :class:`SandboxError` naming ``what``."""
        try:
            self._require_open().start_soon(self._run_guest, guest)  # fails if the sandbox is closing meanwhile
            with anyio.fail_after(timeout):
                await guest.connection.wait_ready()
        except BaseException as exc:
            await self._kill(guest, "it did not start")
            if not isinstance(exc, TimeoutError | SandboxCrashed):
                raise
            why = "did not answer in time" if isinstance(exc, TimeoutError) else guest.exit_description()
            raise SandboxError(f"{what} {why}{guest.tail()}") from exc

    def _schedule_spare(self) -> None:
        """Start the next session's guest in the background (with ``spare=True``)."""
        if not self._use_spare or self._task_group is None or self._spare_ready is not None:
            return
        ready = self._spare_ready = anyio.Event()

        async def prepare() -> None:
            try:
                spare = await self._start_guest()
                if self._task_group is None:  # the sandbox closed meanwhile
                    await self._kill(spare, "the sandbox was closed")
                else:
                    self._spare = spare
            except Exception:  # the spare is an optimisation: a failure shows again on the next real start
                self._spare = None
            finally:
                ready.set()

        self._task_group.start_soon(prepare)

    async def _take_guest(self) -> G:
        """A ready guest for a new session: the spare when there is a live one."""
        if self._spare_ready is not None:
            await self._spare_ready.wait()
            self._spare_ready = None
        guest, self._spare = self._spare, None
        if guest is not None and guest.connection.closed:
            await self._kill(guest, "the spare had ended")
            guest = None
        if guest is None:
            guest = await self._start_guest()
        self._schedule_spare()
        return guest

    def lib_changed(self) -> None:
        """The guest library changed on the host (new tools, a skill saved). A backend that mounts it has
        nothing to do; one that copies it updates its copy before the next use (see :meth:`refresh_lib`)."""

    async def refresh_lib(self) -> None:
        """Bring the guest's copy of the library up to date now (before answering a skill save, say)."""

    def _cell_activity(self) -> AbstractContextManager[None]:
        """Entered around each cell (E2B keeps its sandbox alive while a cell runs)."""
        return contextlib.nullcontext()

    def _require_open(self) -> anyio.abc.TaskGroup:
        if self._task_group is None:
            raise SandboxError("the sandbox is not open; use it inside 'async with'")
        return self._task_group

    async def restart(self) -> None:
        """End the current session (variables and imports are lost, workspace files are kept) and start afresh."""
        self._require_open()
        if self._guest is not None:
            await self._kill(self._guest, "the session was restarted")
        self._guest = await self._take_guest()
        self._lost_reason = None

    def paused_timeout(self) -> AbstractContextManager[None]:
        """While inside, the running cell's timeout does not run (a call waiting for a human's approval); the
        time left is restored on leaving. Outside a cell, or nested, it does nothing more."""
        clock = self._cell_clock
        return clock.paused() if clock is not None else contextlib.nullcontext()

    async def run(self, code: str, *, timeout: float = 60.0) -> ExecutionResult:
        """Run one cell in the current session (starting a fresh one if the last ended)."""
        self._require_open()
        if not isinstance(code, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UsageError(f"code must be a str, not {type(code).__name__}")
        if not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
        notes: list[str] = []
        state_lost = False
        if self._guest is None or self._guest.connection.closed:
            state_lost = True
            reason = self._lost_reason or "the previous sandbox session ended"
            notes.append(f"new sandbox session: {reason}; variables and imports from earlier cells are gone")
            self._guest = await self._take_guest()
            self._lost_reason = None
        guest = self._guest
        started = time.perf_counter()
        frame: dict[str, Any] = {}
        try:
            with self._cell_activity(), anyio.move_on_after(timeout) as scope:
                self._cell_clock = CellClock(scope)
                try:
                    frame = await guest.connection.execute(code)
                finally:
                    self._cell_clock = None
        except SandboxCrashed:
            await guest.wait_exited(1.0)
            why = guest.killed_for or guest.connection.failure or f"the sandbox process {guest.exit_description()}"
            await self._kill(guest, why)
            self._lost_reason = f"the previous cell crashed it ({why})"
            message = f"{why} while running the cell; the session's state is lost{guest.tail()}"
            return self._failure("SandboxCrashed", message, started, notes, state_lost)
        except BaseException:
            await self._kill(guest, "the cell was cancelled")
            self._lost_reason = "the previous cell was cancelled"
            raise
        if scope.cancelled_caught:
            await self._kill(guest, f"the cell ran past its {timeout:g} s timeout")
            self._lost_reason = f"the previous cell ran past its {timeout:g} s timeout and was stopped"
            message = (
                f"the cell ran past its {timeout:g} s timeout and was stopped with every process it started; "
                "the session's variables and imports are lost (workspace files are kept)"
            )
            return self._failure("ExecutionTimeout", message, started, notes, state_lost)
        return self._result(frame, started, notes, state_lost)

    def _failure(self, kind: str, message: str, started: float, notes: list[str], lost: bool) -> ExecutionResult:
        self._cells += 1
        return ExecutionResult(
            error=ExecutionError(kind, message),
            duration_s=time.perf_counter() - started,
            state_lost=lost,
            cell=self._cells,
            notes=tuple(notes),
        )

    def _result(self, frame: dict[str, Any], started: float, notes: list[str], lost: bool) -> ExecutionResult:
        self._cells += 1
        error = frame.get("error")
        saved = tuple(str(frame[k]) for k in ("stdout_saved_to", "stderr_saved_to") if isinstance(frame.get(k), str))
        value = frame.get("value")
        return ExecutionResult(
            stdout=str(frame.get("stdout") or ""),
            stderr=str(frame.get("stderr") or ""),
            value=value if isinstance(value, str) else None,
            error=ExecutionError.from_json(error) if isinstance(error, dict) else None,  # pyright: ignore[reportUnknownArgumentType]
            duration_s=time.perf_counter() - started,
            stdout_truncated=frame.get("stdout_truncated") is True,
            stderr_truncated=frame.get("stderr_truncated") is True,
            saved_output=saved,
            state_lost=lost,
            cell=self._cells,
            notes=tuple(notes),
        )
