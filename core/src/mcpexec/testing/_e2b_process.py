"""One running command of a fake sandbox: its output broadcast as envd ``ProcessEvent``s, its stdin, its end.

Everything here runs on the fake's event loop. Output is read with ``add_reader`` on the pipes (one event per read,
split further at random points when asked), the exit is seen through a pidfd (or a short poll where there is none),
and the end event follows once the process has exited and both pipes reached end of file — as envd does.
Subscribers (the Start stream, any Connect streams) each get a queue; output produced while nobody listens is lost,
as with E2B.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import itertools
import os
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from e2b.envd.process import process_pb
from protobuf import Oneof

from mcpexec.testing._e2b_spawn import Isolation, Spawned

__all__ = ["Chunking", "Marker", "ProcessRecord", "QueueItem", "RunningProcess", "Splitter"]

Chunking = Literal["natural", "random"]
_READ_SIZE = 65536
_POLL_S = 0.02
_MAX_RANDOM_CUTS = 8


class Marker(enum.Enum):
    """Out-of-band items a stream reacts to instead of forwarding them."""

    DEADLINE = "deadline"
    """The Start request's timeout elapsed: end that stream with ``deadline_exceeded`` (the process is killed)."""
    GONE = "gone"
    """The sandbox was killed: end the stream as envd's proxy does, ``unavailable``."""
    RESET = "reset"
    """Fault injection: close the HTTP connection mid-stream."""
    ERROR = "error"
    """Fault injection: end the stream with an ``unavailable`` error."""
    EOF = "eof"
    """Fault injection: end the stream cleanly without an end event."""


QueueItem = process_pb.ProcessEvent | Marker


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """What the fake knows about one command (a snapshot)."""

    pid: int
    cmd: str
    args: tuple[str, ...]
    envs: Mapping[str, str]
    """The command's own envs (not the sandbox's)."""
    cwd: str | None
    tag: str | None
    stdin: bool
    running: bool
    exit_code: int | None
    """As envd reports it: ``-1`` when a signal ended the process."""
    status: str | None
    """As envd reports it, e.g. ``"exit status 0"`` or ``"signal: killed"``."""
    killed_by: str | None
    """Why the fake ended it, if it did: ``"timeout"``, ``"signal"`` (SendSignal), ``"injected"``, ``"sandbox"``."""
    started_at: float
    ended_at: float | None


class Splitter:
    """Cuts output into the chunks sent as separate data events."""

    def __init__(self, chunking: Chunking, seed: int | None) -> None:
        self._chunking = chunking
        self._random = random.Random(seed)

    def split(self, data: bytes) -> list[bytes]:
        if self._chunking == "natural" or len(data) < 2:
            return [data]
        count = min(len(data) - 1, self._random.randint(0, _MAX_RANDOM_CUTS))
        bounds = [0, *sorted(self._random.sample(range(1, len(data)), count)), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _status(returncode: int, isolation: Isolation, signals_sent: set[int]) -> tuple[int, str, str | None]:
    """(exit code, status, error) of an end event, the way envd (Go's ``ProcessState``) words them."""
    signum: int | None = -returncode if returncode < 0 else None
    if signum is None and isolation == "bwrap" and returncode > 128 and returncode - 128 in signals_sent:
        signum = returncode - 128  # bubblewrap reports a signalled command as 128 + signal
    if signum is not None:
        try:
            name = signal.strsignal(signum) or f"signal {signum}"
        except ValueError:
            name = f"signal {signum}"
        status = f"signal: {name.lower()}"
        return -1, status, status
    status = f"exit status {returncode}"
    return returncode, status, None if returncode == 0 else status


def _children(pid: int) -> list[int]:
    """Child pids of ``pid`` (from ``/proc``; empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except FileNotFoundError:
        pass
    except OSError:
        return []
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if int(data[data.rindex(b")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


class RunningProcess:
    """A started command and everything listening to it."""

    def __init__(
        self,
        *,
        spawned: Spawned,
        config: process_pb.ProcessConfig,
        tag: str | None,
        isolation: Isolation,
        splitter: Splitter,
        on_end: Callable[[RunningProcess], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawned = spawned
        self._popen = spawned.popen
        self.pid = spawned.popen.pid
        self.config = config
        self.tag = tag
        self._isolation: Isolation = isolation
        self._splitter = splitter
        self._on_end = on_end
        self._subscribers: list[asyncio.Queue[QueueItem]] = []
        self._deadline_queue: asyncio.Queue[QueueItem] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._open_pipes = {spawned.stdout, spawned.stderr}
        self._stdin = spawned.stdin
        self._stdin_lock = asyncio.Lock()
        self._signals_sent: set[int] = set()
        self._returncode: int | None = None
        self._pidfd: int | None = None
        self._poll: asyncio.TimerHandle | None = None
        self.exit_code: int | None = None
        self.status: str | None = None
        self.killed_by: str | None = None
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.done = asyncio.Event()

    def start(self, first: asyncio.Queue[QueueItem] | None, timeout_s: float | None) -> None:
        """Begin reading (``first`` subscribed before any output); kill the command after ``timeout_s``."""
        if first is not None:
            self._subscribers.append(first)
        self._loop.add_reader(self._spawned.stdout, self._on_output, self._spawned.stdout, "stdout")
        self._loop.add_reader(self._spawned.stderr, self._on_output, self._spawned.stderr, "stderr")
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._poll = self._loop.call_later(_POLL_S, self._poll_exit)
        else:
            self._loop.add_reader(self._pidfd, self._on_exit)
        if timeout_s is not None:
            self._deadline_queue = first
            self._deadline = self._loop.call_later(timeout_s, self._on_deadline)

    # -- subscribers ---------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def subscribe(self) -> asyncio.Queue[QueueItem]:
        queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[QueueItem]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)
        if queue is self._deadline_queue:
            self._deadline_queue = None

    def publish(self, item: QueueItem) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(item)

    def start_event(self) -> process_pb.ProcessEvent:
        return process_pb.ProcessEvent(event=Oneof("start", process_pb.ProcessEvent.StartEvent(pid=self.pid)))

    # -- output and exit -----------------------------------------------------------------------------------------

    def _on_output(self, fd: int, kind: Literal["stdout", "stderr"]) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(fd)
            self._maybe_end()
            return
        for piece in self._splitter.split(data):
            if kind == "stdout":
                data_event = process_pb.ProcessEvent.DataEvent(output=Oneof("stdout", piece))
            else:
                data_event = process_pb.ProcessEvent.DataEvent(output=Oneof("stderr", piece))
            self.publish(process_pb.ProcessEvent(event=Oneof("data", data_event)))

    def _close_pipe(self, fd: int) -> None:
        if fd in self._open_pipes:
            self._open_pipes.discard(fd)
            self._loop.remove_reader(fd)
            os.close(fd)

    def _on_exit(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._returncode = self._popen.wait()
        self._maybe_end()

    def _poll_exit(self) -> None:
        self._poll = None
        if self._popen.poll() is None:
            self._poll = self._loop.call_later(_POLL_S, self._poll_exit)
        else:
            self._on_exit()

    def _maybe_end(self) -> None:
        if self._returncode is None or self._open_pipes or self.ended_at is not None:
            return
        self.exit_code, self.status, error = _status(self._returncode, self._isolation, self._signals_sent)
        self.ended_at = time.time()
        if self._deadline is not None:
            self._deadline.cancel()
        self._close_stdin_fd()
        end = process_pb.ProcessEvent.EndEvent(
            exit_code=self.exit_code, exited=self.exit_code >= 0, status=self.status, error=error
        )
        self.publish(process_pb.ProcessEvent(event=Oneof("end", end)))
        self.done.set()
        self._on_end(self)

    def _on_deadline(self) -> None:
        self._deadline = None
        if self._deadline_queue is not None:
            self._deadline_queue.put_nowait(Marker.DEADLINE)
        self.kill(signal.SIGKILL, "timeout")

    # -- control -------------------------------------------------------------------------------------------------

    def _inner_pids(self) -> tuple[int | None, int | None]:
        """Under bubblewrap, the host pids of the sandbox's pid 1 (the outer ``bwrap``'s child) and of the command
        (pid 1's child); ``None`` for each not started yet."""
        pid1 = next(iter(_children(self.pid)), None)
        return pid1, None if pid1 is None else next(iter(_children(pid1)), None)

    def kill(self, signum: int, reason: str) -> bool:
        """Send ``signum`` to the command; ``False`` when it already ended.

        SIGKILL ends everything the command started: under bubblewrap the sandbox's pid 1 is killed first (the
        kernel then kills its whole pid namespace), then the outer ``bwrap``'s process group. Another signal goes to
        the command alone — or, when it is not running yet under bubblewrap, becomes a SIGKILL of it all.
        """
        if not self.running:
            return False
        if self.killed_by is None:
            self.killed_by = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            target = self.pid
            if self._isolation == "bwrap":
                pid1, command = self._inner_pids()
                if signum != signal.SIGKILL and command is None:
                    signum = signal.SIGKILL
                if signum == signal.SIGKILL and pid1 is not None:
                    os.kill(pid1, signal.SIGKILL)
                target = command if command is not None else self.pid
            self._signals_sent.add(signum)
            if signum == signal.SIGKILL:
                os.killpg(self.pid, signal.SIGKILL)
            else:
                os.kill(target, signum)
        return True

    async def write_stdin(self, data: bytes) -> None:
        """Write all of ``data`` to the command's stdin (writes from concurrent calls are not interleaved)."""
        async with self._stdin_lock:
            view = memoryview(data)
            while view:
                fd = self._stdin
                if fd is None:
                    raise BrokenPipeError(errno.EPIPE, "stdin is closed")
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    ready: asyncio.Future[None] = self._loop.create_future()
                    self._loop.add_writer(fd, ready.set_result, None)
                    try:
                        await ready
                    finally:
                        self._loop.remove_writer(fd)
                    continue
                view = view[written:]

    @property
    def has_stdin(self) -> bool:
        return self._stdin is not None

    def close_stdin(self) -> None:
        self._close_stdin_fd()

    def _close_stdin_fd(self) -> None:
        if self._stdin is not None:
            fd, self._stdin = self._stdin, None
            os.close(fd)

    def force_close(self) -> None:
        """Release every descriptor (after a kill, for processes whose pipes a stray descendant keeps open)."""
        for fd in list(self._open_pipes):
            self._close_pipe(fd)
        if self._returncode is None and self._popen.poll() is not None:
            self._on_exit()
        self._maybe_end()

    def close(self) -> None:
        """Drop the loop's hold on a process that has ended (or is being abandoned at shutdown)."""
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        for fd in list(self._open_pipes):
            self._close_pipe(fd)
        self._close_stdin_fd()

    def record(self) -> ProcessRecord:
        return ProcessRecord(
            pid=self.pid,
            cmd=self.config.cmd,
            args=tuple(self.config.args),
            envs=dict(self.config.envs),
            cwd=self.config.cwd if self.config.has_field("cwd") else None,
            tag=self.tag,
            stdin=self._spawned.stdin is not None,
            running=self.running,
            exit_code=self.exit_code,
            status=self.status,
            killed_by=self.killed_by,
            started_at=self.started_at,
            ended_at=self.ended_at,
        )
