"""The data of a local sandbox launch: what the caller asks for (:class:`LaunchSpec`, :class:`Limits`), what it
gets (:class:`Launch`, :class:`IsolationReport`), and the paths the guest sees (:class:`GuestPaths`)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["GuestPaths", "HostFds", "IsolationReport", "Launch", "LaunchSpec", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one guest process (and, where noted, of its descendants); ``None`` = not limited."""

    memory_bytes: int | None = 2 * 1024**3
    """``RLIMIT_AS`` of each process."""
    cpu_seconds: int | None = 300
    """``RLIMIT_CPU`` of each process."""
    processes: int | None = 128
    """``RLIMIT_NPROC``: processes of the sandbox uid (per user namespace under bubblewrap)."""
    file_size_bytes: int | None = 256 * 1024**2
    """``RLIMIT_FSIZE``: the largest file a process may write."""
    open_files: int | None = 512
    """``RLIMIT_NOFILE``."""
    tmp_size_bytes: int = 128 * 1024**2
    """Size of the private ``/tmp`` and of ``/dev/shm`` (each a tmpfs; bubblewrap only)."""

    def rlimits(self) -> dict[str, int | None]:
        """The rlimits to set, by their ``resource.RLIMIT_<name>`` suffix (core dumps always off)."""
        return {
            "AS": self.memory_bytes,
            "CPU": self.cpu_seconds,
            "NPROC": self.processes,
            "FSIZE": self.file_size_bytes,
            "NOFILE": self.open_files,
            "CORE": 0,
        }


def _size(value: int | None) -> str:
    if value is None:
        return "unlimited"
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= scale and value % scale == 0:
            return f"{value // scale} {unit}"
    return str(value)


def _limit(name: str, value: int | None) -> str:
    if value is None or name in ("AS", "FSIZE"):
        return _size(value)
    return f"{value} s" if name == "CPU" else str(value)


@dataclass(frozen=True, slots=True)
class IsolationReport:
    """What is enforced for one session, honestly: each protection that is not active is in :attr:`missing`."""

    mechanism: str
    """``"bubblewrap"``, ``"landlock"`` (the fallback without namespaces) or ``"none"``."""
    full: bool
    """Every protection below is active."""
    namespaces: tuple[str, ...]
    filesystem: str
    network: str
    seccomp: bool
    landlock: bool
    uid: int | None
    """The uid user code runs as, as the host sees it (``None`` if unknown)."""
    rlimits: Mapping[str, int | None]
    environment: str
    missing: tuple[str, ...]
    """Each protection that is not active, with the reason (and how to get it, where we know)."""

    def describe(self) -> str:
        """A few lines for humans."""
        limits = ", ".join(f"{name}={_limit(name, value)}" for name, value in self.rlimits.items())
        uid = "unknown" if self.uid is None else f"{self.uid}{' (root!)' if self.uid == 0 else ''}"
        lines = [
            f"isolation: {self.mechanism} ({'full' if self.full else 'partial'})",
            f"  namespaces:  {', '.join(self.namespaces) or 'none'}",
            f"  filesystem:  {self.filesystem}",
            f"  network:     {self.network}",
            f"  seccomp:     {'on' if self.seccomp else 'off'}",
            f"  landlock:    {'on' if self.landlock else 'off'}",
            f"  uid:         {uid}",
            f"  rlimits:     {limits}",
            f"  environment: {self.environment}",
        ]
        lines += [f"  missing:     {item}" for item in self.missing] or ["  missing:     nothing"]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class GuestPaths:
    """Paths as seen inside the sandbox."""

    python: str
    """The interpreter to run."""
    lib: str
    """The read-only guest library (contains ``mcpexec/runtime/``, ``servers/``, ...)."""
    workspace: str
    """The writable workspace, also the guest's working directory."""


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """What to launch and how confined."""

    lib_dir: Path
    """Host directory mounted read-only in the guest."""
    workspace: Path
    """Host directory: the only writable place, the guest's cwd (handed to the sandbox uid when that differs)."""
    command: Callable[[GuestPaths], Sequence[str]]
    """The guest's full argv given its paths, e.g. ``lambda p: [p.python, "-I", "-S", "-c", BOOT]``."""
    env: Mapping[str, str]
    """The guest's whole environment (nothing of the host's is added, only ``MCPEXEC_CONFINE``)."""
    pass_fds: tuple[int, ...] = ()
    """Fds that arrive in the guest with the same numbers."""
    limits: Limits = Limits()
    isolation: Literal["auto", "full", "none"] = "auto"
    """``"full"`` raises :class:`~mcpexec.errors.SandboxError` unless every protection is active; ``"none"``
    only scrubs the environment and sets rlimits (debugging)."""
    python: str | None = None
    """Host interpreter to use; default: one of the running Python's version the sandbox uid can run."""


class HostFds:
    """Fds the host made for one launch (the seccomp program): closed once, by :meth:`close` or when collected."""

    __slots__ = ("_closed", "_fds", "_lock")

    def __init__(self, fds: Sequence[int] = ()) -> None:
        self._fds = tuple(fds)
        self._closed = False
        self._lock = threading.Lock()

    @property
    def fds(self) -> tuple[int, ...]:
        return self._fds

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Launch:
    """Exactly what to pass to ``anyio.open_process`` (with ``start_new_session=True``)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    pass_fds: tuple[int, ...]
    user: int | None
    group: int | None
    extra_groups: tuple[int, ...] | None
    """Supplementary groups: ``()`` when ``user`` is set (drops root's groups); pass as ``extra_groups=``."""
    isolation: IsolationReport
    paths: GuestPaths
    host_fds: HostFds = field(default_factory=HostFds, repr=False, compare=False)
    """Host-side fds made for this launch; :meth:`close` them once the process has started."""

    def close(self) -> None:
        """Close the host's copies of the fds made for this launch (call right after the process started)."""
        self.host_fds.close()

    def spawn_options(self) -> dict[str, Any]:
        """The keyword arguments of ``anyio.open_process`` / ``subprocess.run`` besides the argv and stdio."""
        return {
            "env": self.env,
            "cwd": self.cwd,
            "pass_fds": self.pass_fds,
            "user": self.user,
            "group": self.group,
            "extra_groups": self.extra_groups,
            "start_new_session": True,
        }
