"""Host facts a launch depends on: which uid the guest runs as, which interpreter it can run, which host paths
that uid can reach, and handing the workspace over to it.

When the host runs as root, the guest runs as the unprivileged ``nobody`` (65534) — bubblewrap itself is started
as that uid, so even its user namespace belongs to it — because ``RLIMIT_NPROC`` does not bind uid 0 and an
escaped root is worse than an escaped nobody. That uid must be able to run the interpreter and reach the library
and workspace directories: the running interpreter is used when it can, otherwise one of the same version
installed system-wide (e.g. ``/usr/bin/python3.11`` when the running one lives under a ``0700`` ``/root``).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mcpexec.errors import SandboxError

__all__ = ["SANDBOX_GID", "SANDBOX_UID", "Ids", "Interpreter", "find_interpreter", "hand_over", "sandbox_ids"]

SANDBOX_UID = 65534
SANDBOX_GID = 65534
_QUERY = (
    "import sys; print(sys.version_info[0], sys.version_info[1]); print(sys.base_prefix); print(sys.base_exec_prefix)"
)
_QUERY_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Ids:
    """The uid/gid the guest runs as, and whether that is a switch away from the host's (root's) own."""

    uid: int
    gid: int
    switched: bool


def sandbox_ids() -> Ids:
    """``nobody`` when the host is root, otherwise the host's own ids."""
    if os.geteuid() == 0:
        return Ids(SANDBOX_UID, SANDBOX_GID, True)
    return Ids(os.getuid(), os.getgid(), False)


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A host interpreter the guest uid can run, with the directories it reads its standard library from."""

    path: str
    version: tuple[int, int]
    prefixes: tuple[str, ...]


def _prefixes(*paths: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(os.path.realpath(p) for p in paths))


def _query(path: str, ids: Ids) -> Interpreter | str:
    """Run ``path`` as the guest uid and ask its version and prefixes; a reason string when it cannot run."""
    try:
        done = subprocess.run(
            [path, "-I", "-S", "-c", _QUERY],
            env={},
            cwd="/",
            user=ids.uid if ids.switched else None,
            group=ids.gid if ids.switched else None,
            extra_groups=[] if ids.switched else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{path}: {exc}"
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 3:
        return f"{path}: exit status {done.returncode}: {done.stderr.strip()[-300:]}"
    major, minor = (int(part) for part in lines[0].split())
    return Interpreter(path, (major, minor), _prefixes(lines[1], lines[2]))


@functools.lru_cache(maxsize=16)
def find_interpreter(requested: str | None, ids: Ids) -> Interpreter:
    """The interpreter for the guest: ``requested``, else the running one, else one of its version on the system.

    Raises :class:`SandboxError` (saying why each candidate failed) when the guest uid can run none of them.
    """
    running = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    want = sys.version_info[:2]
    if requested is not None:
        candidates = [requested]
    else:
        name = f"python{want[0]}.{want[1]}"
        found = (shutil.which(name, path=d) for d in ("/usr/local/bin", "/usr/bin", "/bin"))
        candidates = [running, *(p for p in found if p)]
    reasons: list[str] = []
    for candidate in dict.fromkeys(os.path.realpath(c) for c in candidates):
        if candidate == running and not ids.switched:
            return Interpreter(running, want, _prefixes(sys.base_prefix, sys.base_exec_prefix))
        result = _query(candidate, ids)
        if isinstance(result, str):
            reasons.append(result)
        elif requested is None and result.version != want:
            reasons.append(f"{candidate}: Python {result.version[0]}.{result.version[1]}, not {want[0]}.{want[1]}")
        else:
            return result
    who = f"uid {ids.uid}" if ids.switched else "this user"
    raise SandboxError(
        f"no Python interpreter that the sandbox ({who}) can run: {'; '.join(reasons)}. Install Python "
        f"{want[0]}.{want[1]} system-wide (e.g. apt-get install python{want[0]}.{want[1]}), make the running "
        "one readable by others, or pass python= an interpreter that is."
    )


def _allowed(st: os.stat_result, ids: Ids, bits: int) -> bool:
    """Whether ``ids`` (with no supplementary groups) has the rwx ``bits`` (a mask of 4/2/1) on ``st``."""
    if st.st_uid == ids.uid:
        mode = st.st_mode >> 6
    elif st.st_gid == ids.gid:
        mode = st.st_mode >> 3
    else:
        mode = st.st_mode
    return mode & bits == bits


def unreachable(path: Path, ids: Ids, bits: int) -> str | None:
    """Why ``ids`` cannot reach ``path`` with the rwx ``bits`` on it (``None`` when it can)."""
    if not ids.switched:
        return None
    real = Path(os.path.realpath(path))
    for parent in reversed(real.parents):
        st = parent.stat()
        if not _allowed(st, ids, 1):
            return f"{parent} (mode {stat.filemode(st.st_mode)}, owner {st.st_uid}) is not searchable by uid {ids.uid}"
    st = real.stat()
    if not _allowed(st, ids, bits):
        wanted = "".join(letter for letter, bit in (("r", 4), ("w", 2), ("x", 1)) if bits & bit)
        return f"{real} (mode {stat.filemode(st.st_mode)}, owner {st.st_uid}) does not give uid {ids.uid} {wanted}"
    return None


def hand_over(workspace: Path, ids: Ids) -> None:
    """Make the workspace tree belong to the guest uid (no-op when it runs as the host's own uid).

    Walks with directory fds and never follows symlinks, so links planted in the workspace cannot redirect it.
    """
    if not ids.switched:
        return
    root = os.path.realpath(workspace)
    st = os.stat(root)
    if (st.st_uid, st.st_gid) != (ids.uid, ids.gid):
        os.chown(root, ids.uid, ids.gid)
    os.chmod(root, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
    for _, dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in (*dirs, *files):
            entry = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if (entry.st_uid, entry.st_gid) != (ids.uid, ids.gid):
                os.chown(name, ids.uid, ids.gid, dir_fd=dir_fd, follow_symlinks=False)
