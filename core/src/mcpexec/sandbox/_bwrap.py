"""The bubblewrap command line of a sandbox: namespaces, a read-only system, the workspace, private tmpfs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

__all__ = ["GUEST_LIB", "GUEST_WORKSPACE", "NAMESPACES", "SYSTEM_DIRS", "bwrap_args", "missing_options"]

GUEST_LIB = "/opt/mcpexec"
GUEST_WORKSPACE = "/workspace"
NAMESPACES = ("user", "pid", "net", "ipc", "uts", "mount", "cgroup")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Mounted read-only (``/usr``) or as the symlinks they are on a merged-/usr system."""
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
"""The little of ``/etc`` a Python process and the usual command-line tools need (no users, no secrets)."""
_REQUIRED = ("--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "--proc", "--dev", "--tmpfs")
_OPTIONAL = ("--disable-userns", "--size", "--remount-ro", "--seccomp")


def missing_options(options: Iterable[str]) -> tuple[list[str], list[str]]:
    """The (required, optional) options this bubblewrap lacks, given the option names its ``--help`` lists."""
    have = set(options)
    return [o for o in _REQUIRED if o not in have], [o for o in _OPTIONAL if o not in have]


def _system_mounts() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    return args


def _covered(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS)


def bwrap_args(
    bwrap: str,
    options: Iterable[str],
    *,
    lib_dir: str | None,
    workspace: str | None,
    prefixes: Sequence[str] = (),
    tmp_size: int,
    seccomp_fd: int | None,
) -> list[str]:
    """Everything before the guest's own argv (which follows the final ``--``).

    ``lib_dir`` is mounted read-only at :data:`GUEST_LIB`, ``workspace`` read-write at :data:`GUEST_WORKSPACE`
    (also the cwd); interpreter ``prefixes`` outside the system directories read-only at their own paths.
    """
    have = set(options)
    args = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if "--disable-userns" in have:
        args.append("--disable-userns")
    args += _system_mounts()
    for prefix in prefixes:
        if not _covered(prefix):
            args += ["--ro-bind", prefix, prefix]
    if lib_dir is not None:
        args += ["--ro-bind", lib_dir, GUEST_LIB]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for target in ("/tmp", "/dev/shm"):
        if "--size" in have:
            args += ["--size", str(tmp_size)]
        args += ["--tmpfs", target]
    if workspace is not None:
        args += ["--bind", workspace, GUEST_WORKSPACE, "--chdir", GUEST_WORKSPACE]
    if "--remount-ro" in have:
        args += ["--remount-ro", "/"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--"]
