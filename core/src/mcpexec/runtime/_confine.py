"""Guest side of the sandbox's confinement: the first thing the guest does, before any user code. Stdlib only.

:func:`apply_from_environ` reads (and removes) the JSON the host put in ``MCPEXEC_CONFINE`` and applies it, in
this order: leave root for the sandbox uid (if still root) and drop supplementary groups, rlimits,
``no_new_privs``, Landlock, seccomp. Under bubblewrap (which already set ``no_new_privs``, dropped every
capability and installed the seccomp filter) it checks instead of applying, from ``/proc/self/status``.

It fails closed: when anything the host said is active cannot be applied or is not in effect, it writes one line
to stderr and exits with :data:`EXIT_STATUS` — user code never runs less confined than reported.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the type checker needs it
    from typing import Any

__all__ = ["CONFINE_ENV", "EXIT_STATUS", "ConfinementError", "apply_from_environ"]

CONFINE_ENV = "MCPEXEC_CONFINE"
EXIT_STATUS = 71
"""Exit status of a guest that could not be confined as the host asked (``EX_OSERR``)."""

_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_PR_GET_SECCOMP = 21
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REFER = 1 << 13
_FS_TRUNCATE = 1 << 14
_FS_IOCTL_DEV = 1 << 15
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1


class ConfinementError(Exception):
    """Something the host asked for could not be applied."""


def apply_from_environ() -> None:
    """Apply the confinement described in ``MCPEXEC_CONFINE``; on failure, exit (see the module docstring)."""
    raw = os.environ.pop(CONFINE_ENV, None)
    try:
        if raw is None:
            raise ConfinementError(f"{CONFINE_ENV} is not set: the host did not say how to confine this process")
        import json

        config = _as_config(json.loads(raw))
        if config.get("v") != 1:
            raise ConfinementError(f"{CONFINE_ENV} is not a version-1 configuration")
        _apply(config)
    except (ConfinementError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        message = f"mcpexec sandbox: cannot confine the guest as the host asked: {exc}\n"
        try:
            os.write(2, message.encode("utf-8", "replace"))
        finally:
            os._exit(EXIT_STATUS)


def _as_config(parsed: object) -> dict[str, Any]:
    return parsed if isinstance(parsed, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def _apply(config: dict[str, Any]) -> None:
    _leave_root(config.get("uid"), config.get("gid"), bool(config.get("clear_groups")))
    _set_rlimits(config.get("rlimits") or {})
    if config.get("verify_bwrap"):
        _verify_bwrap(seccomp=config.get("seccomp") == "bwrap")
        return
    if config.get("no_new_privs"):
        _no_new_privs()
    if config.get("landlock"):
        _landlock(config["landlock"])
    program = config.get("seccomp")
    if program:
        _seccomp(program)


def _leave_root(uid: int | None, gid: int | None, clear_groups: bool) -> None:
    if uid is None or gid is None:
        return
    if os.getuid() == 0 and uid != 0:
        if clear_groups:
            os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise ConfinementError(f"runs as uid/gid {os.getresuid()}/{os.getresgid()}, not {uid}/{gid}")
    if clear_groups and os.getgroups():
        raise ConfinementError(f"still has supplementary groups {os.getgroups()} (start it with extra_groups=())")


def _set_rlimits(rlimits: dict[str, int | None]) -> None:
    import resource

    for name, value in rlimits.items():
        if value is None:
            continue
        which = getattr(resource, f"RLIMIT_{name}")
        _, hard = resource.getrlimit(which)
        limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (limit, limit))


def _status() -> dict[str, str]:
    with open("/proc/self/status") as handle:
        return dict(line.split(":\t", 1) for line in handle.read().splitlines() if ":\t" in line)


def _verify_bwrap(*, seccomp: bool) -> None:
    status = {key: value.strip() for key, value in _status().items()}
    problems = [
        f"{key} is {status.get(key)}" for key in ("CapEff", "CapPrm", "CapBnd") if int(status.get(key, "1"), 16)
    ]
    if status.get("NoNewPrivs") != "1":
        problems.append("no_new_privs is not set")
    if seccomp and status.get("Seccomp") != "2":
        problems.append("no seccomp filter is installed")
    if problems:
        raise ConfinementError("bubblewrap did not confine the guest: " + ", ".join(problems))


def _libc() -> Any:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(result: int, what: str) -> int:
    if result < 0:
        import ctypes

        errno = ctypes.get_errno()
        raise ConfinementError(f"{what}: {os.strerror(errno)} (errno {errno})")
    return result


def _no_new_privs() -> None:
    libc = _libc()
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
        raise ConfinementError("no_new_privs did not stick")


def _landlock_rights(abi: int) -> tuple[int, int, int]:
    """(file system, network, scope) rights this ABI can handle."""
    fs = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        fs |= _FS_REFER
    if abi >= 3:
        fs |= _FS_TRUNCATE
    if abi >= 5:
        fs |= _FS_IOCTL_DEV
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scope = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    return fs, net, scope


def _landlock(spec: dict[str, Any]) -> None:
    import ctypes
    import struct

    libc = _libc()
    wanted = int(spec["abi"])
    abi = _check(libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), 1), "Landlock ABI")
    if abi < wanted:
        raise ConfinementError(f"Landlock ABI {abi} here, the host expected {wanted}")
    fs, net, scope = _landlock_rights(wanted)
    size = 8 if wanted < 4 else 16 if wanted < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("<QQQ", fs, net, scope)[:size], size)
    ruleset = _check(libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, attr, ctypes.c_size_t(size), 0), "Landlock ruleset")
    try:
        read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        device = _FS_READ_FILE | _FS_WRITE_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
        rules = [(path, read, False) for path in spec.get("read", ())]
        rules += [(path, fs, True) for path in spec.get("write", ())]
        rules += [(path, device, False) for path in spec.get("devices", ())]
        for path, rights, required in rules:
            _landlock_rule(libc, ruleset, str(path), rights & fs, required)
        _check(libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _landlock_rule(libc: Any, ruleset: int, path: str, rights: int, required: bool) -> None:
    import ctypes
    import stat
    import struct

    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        if required:
            raise ConfinementError(f"Landlock: {path} does not exist") from None
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        attr = ctypes.create_string_buffer(struct.pack("<Qi", rights, fd), 12)
        _check(libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, attr, 0), f"Landlock {path}")
    finally:
        os.close(fd)


def _seccomp(program_b64: str) -> None:
    import base64
    import ctypes

    program = base64.b64decode(program_b64)
    if not program or len(program) % 8:
        raise ConfinementError("the seccomp program is malformed")

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = _libc()
    libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")
    if libc.prctl(_PR_GET_SECCOMP, 0, None, 0, 0) != _SECCOMP_MODE_FILTER:
        raise ConfinementError("the seccomp filter did not stick")
