"""Killing a guest and every process it started, including those that double-fork or call ``setsid``.

- bubblewrap: SIGKILL to the sandbox's pid 1 (the child of the outer ``bwrap``) makes the kernel kill everything
  in the pid namespace, wherever it was re-parented; then the outer ``bwrap`` itself.
- otherwise: the guest leads its own session and process group (``start_new_session=True``) and the seccomp
  filter keeps every descendant there (``setsid``/``setpgid`` fail), so ``killpg`` reaches them all; a scan of
  ``/proc`` for the session, the group and their descendants follows, until nothing is left alive.
"""

from __future__ import annotations

import contextlib
import os
import signal

from mcpexec.sandbox._spec import Launch

__all__ = ["kill_tree"]

_MAX_ROUNDS = 100


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, session) of ``pid``, or ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3])


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return [p for p in _all_pids() if (info := _stat(p)) is not None and info[1] == pid]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _kill_session(leader: int) -> None:
    tree = {leader}
    for _ in range(_MAX_ROUNDS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader, signal.SIGKILL)
        alive: list[int] = []
        for pid in _all_pids():
            info = _stat(pid)
            if info is None:
                continue
            state, ppid, pgrp, session = info
            if pid in tree or ppid in tree or pgrp == leader or session == leader:
                tree.add(pid)
                if state not in ("Z", "X"):
                    alive.append(pid)
        if not alive:
            return
        for pid in alive:
            _kill(pid)


def kill_tree(process_pid: int, launch: Launch) -> None:
    """SIGKILL the guest started from ``launch`` (``process_pid`` is the pid ``open_process`` returned) and all of
    its descendants. Does not wait: the caller reaps ``process_pid``; the rest die with it or are re-parented."""
    if launch.isolation.mechanism == "bubblewrap":
        for child in _children(process_pid):
            _kill(child)
        _kill(process_pid)
    else:
        _kill_session(process_pid)
