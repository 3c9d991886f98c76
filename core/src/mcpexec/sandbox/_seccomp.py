"""The sandbox's seccomp filter, generated as a classic-BPF program (no libseccomp needed).

Policy (the same on every architecture we know):

- a system call of another architecture (or the x32 ABI on x86_64) kills the process;
- ``socket``/``socketpair`` only for ``AF_UNIX`` (anything else fails with ``EAFNOSUPPORT``): no network;
- ``clone`` with a namespace flag and the syscalls in :data:`DENIED` fail with ``EPERM``; ``clone3`` fails with
  ``ENOSYS`` (its flags live in memory a filter cannot read; libc falls back to ``clone``);
- ``personality`` only for the harmless values Docker's default profile allows;
- optionally ``setsid``/``setpgid`` fail with ``EPERM``, so every process stays in the session and process group
  the host can kill (used where there is no pid namespace).

The program is bytes in the kernel's ``struct sock_filter`` layout, for bubblewrap's ``--seccomp FD`` or for
``prctl(PR_SET_SECCOMP)`` in the guest (:mod:`mcpexec.runtime._confine`).
"""

from __future__ import annotations

import platform
import struct
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ARCHES", "DENIED", "Arch", "build_filter", "native_arch"]

# BPF opcodes (linux/bpf_common.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# seccomp return actions (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# errno values (asm-generic, the same on x86_64 and aarch64)
_EPERM = 1
_ENOSYS = 38
_EAFNOSUPPORT = 97

_AF_UNIX = 1
_X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
_CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# personality(2) values allowed (PER_LINUX, PER_LINUX32, UNAME26 variants, query)
_PERSONALITY_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# offsets in struct seccomp_data
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16  # little-endian: the low 32 bits of args[0]


@dataclass(frozen=True, slots=True)
class Arch:
    """One architecture: its audit id and syscall numbers."""

    name: str
    audit: int
    syscalls: Mapping[str, int]
    x32_bit: bool = False


# name: (x86_64, aarch64); None = the syscall does not exist there.
_TABLE: dict[str, tuple[int | None, int | None]] = {
    # debugging other processes, reading or writing their memory, their fds
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "process_madvise": (440, 440),
    "pidfd_getfd": (438, 438),
    "kcmp": (312, 272),
    # kernel attack surface rarely needed by Python code
    "bpf": (321, 280),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "fanotify_init": (300, 262),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "lookup_dcookie": (212, 18),
    "syslog": (103, 116),
    "vhangup": (153, 58),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),
    # namespaces and mounts
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    # the machine itself
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    # x86 only
    "iopl": (172, None),
    "ioperm": (173, None),
    "modify_ldt": (154, None),
    "uselib": (134, None),
}
DENIED: tuple[str, ...] = tuple(_TABLE)
"""Syscalls that always fail with ``EPERM`` in the sandbox."""

_SPECIAL: dict[str, tuple[int, int]] = {
    "socket": (41, 198),
    "socketpair": (53, 199),
    "clone": (56, 220),
    "clone3": (435, 435),
    "personality": (135, 92),
    "setsid": (112, 157),
    "setpgid": (109, 154),
}


def _arch(name: str, audit: int, column: int, *, x32_bit: bool = False) -> Arch:
    numbers = {key: value[column] for key, value in _TABLE.items() if value[column] is not None}
    numbers.update({key: value[column] for key, value in _SPECIAL.items()})
    return Arch(name, audit, {key: value for key, value in numbers.items() if value is not None}, x32_bit)


ARCHES: dict[str, Arch] = {
    "x86_64": _arch("x86_64", 0xC000003E, 0, x32_bit=True),
    "aarch64": _arch("aarch64", 0xC00000B7, 1),
}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def native_arch() -> str | None:
    """The name of this machine's architecture in :data:`ARCHES`, or ``None`` when we have no syscall table."""
    machine = platform.machine().lower()
    machine = _MACHINE_ALIASES.get(machine, machine)
    return machine if machine in ARCHES else None


class _Assembler:
    """Forward jumps to labels, resolved once every instruction is placed."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | None, str | None, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.code.append((_LD_W_ABS, None, None, offset))

    def jump(self, op: int, k: int, true: str | None, false: str | None) -> None:
        self.code.append((op, true, false, k))

    def ret(self, value: int) -> None:
        self.code.append((_RET_K, None, None, value))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (op, true, false, k) in enumerate(self.code):
            out += struct.pack("<HBBI", op, self._offset(index, true), self._offset(index, false), k)
        return bytes(out)

    def _offset(self, index: int, label: str | None) -> int:
        if label is None:
            return 0
        offset = self.labels[label] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"BPF jump to {label} out of range ({offset})")
        return offset


def build_filter(arch: str, *, deny_session_change: bool = False) -> bytes:
    """The filter program for ``arch`` (a key of :data:`ARCHES`), as ``struct sock_filter`` bytes."""
    table = ARCHES[arch]
    nr = table.syscalls
    asm = _Assembler()
    asm.load(_OFF_ARCH)
    asm.jump(_JEQ_K, table.audit, None, "kill")
    asm.load(_OFF_NR)
    if table.x32_bit:
        asm.jump(_JGE_K, _X32_SYSCALL_BIT, "kill", None)
    denied = [name for name in DENIED if name in nr]
    if deny_session_change:
        denied += ["setsid", "setpgid"]
    for name in denied:
        asm.jump(_JEQ_K, nr[name], "eperm", None)
    asm.jump(_JEQ_K, nr["clone3"], "enosys", None)
    asm.jump(_JEQ_K, nr["socket"], "socket", None)
    asm.jump(_JEQ_K, nr["socketpair"], "socket", None)
    asm.jump(_JEQ_K, nr["clone"], "clone", None)
    asm.jump(_JEQ_K, nr["personality"], "personality", None)
    asm.ret(RET_ALLOW)
    asm.label("socket")
    asm.load(_OFF_ARG0_LOW)
    asm.jump(_JEQ_K, _AF_UNIX, "allow", "eafnosupport")
    asm.label("clone")
    asm.load(_OFF_ARG0_LOW)
    asm.jump(_JSET_K, _CLONE_NAMESPACE_FLAGS, "eperm", "allow")
    asm.label("personality")
    asm.load(_OFF_ARG0_LOW)
    for value in _PERSONALITY_ALLOWED[:-1]:
        asm.jump(_JEQ_K, value, "allow", None)
    asm.jump(_JEQ_K, _PERSONALITY_ALLOWED[-1], "allow", "eperm")
    asm.label("allow")
    asm.ret(RET_ALLOW)
    asm.label("kill")
    asm.ret(RET_KILL_PROCESS)
    asm.label("eperm")
    asm.ret(RET_ERRNO | _EPERM)
    asm.label("eafnosupport")
    asm.ret(RET_ERRNO | _EAFNOSUPPORT)
    asm.label("enosys")
    asm.ret(RET_ERRNO | _ENOSYS)
    return asm.assemble()
