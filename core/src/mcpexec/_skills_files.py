"""File plumbing of the skill store: atomic skill folders, archive export, and reading untrusted imports.

Imports are never extracted: the wanted files (``SKILL.md`` and ``*.py``) are read into memory, and every member
of the tree or archive is checked first. Absolute paths, ``..``, backslashes, links, special files, encrypted or
duplicate members and anything over the size caps are refused with :class:`UsageError`.
"""

from __future__ import annotations

import ctypes
import errno
import gzip
import io
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from mcpexec.errors import UsageError

__all__ = ["read_tree", "remove_folder", "write_archive", "write_folder"]

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
# A tar stream holds the members plus a 512-byte header (and up to 511 bytes of padding) per member and entry.
MAX_STREAM_BYTES = MAX_TOTAL_BYTES + 4 * 1024 * MAX_MEMBERS
FILE_MODE = 0o644
DIR_MODE = 0o755
_EPOCH = (1980, 1, 1, 0, 0, 0)


# -- writing --------------------------------------------------------------------------------------------------------


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, FILE_MODE)  # whatever the umask


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(b))


def write_folder(target: Path, files: Mapping[str, bytes], *, replace: bool) -> bool:
    """Create ``target`` holding ``files`` (flat names), or replace it when ``replace``; never half-written.

    Returns ``False`` (writing nothing) when ``target`` exists and ``replace`` is false.

    The files go to a temporary sibling folder that is then renamed (swapped, on Linux) into place. Without an
    atomic swap, a crash between the two renames leaves the old version as ``.old-<name>-*`` next to it.
    """
    root = target.parent
    root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=root))
    try:
        for name, data in files.items():
            _write_file(staging / name, data)
        os.chmod(staging, DIR_MODE)
        if not os.path.lexists(target):
            os.rename(staging, target)
        elif not replace:
            _discard(staging)
            return False
        elif _exchange(staging, target):
            _discard(staging)  # now the previous version
        else:
            old = Path(tempfile.mkdtemp(prefix=f".old-{target.name}-", dir=root))
            os.rename(target, old / "x")
            os.rename(staging, target)
            _discard(old)
        _fsync_dir(root)
    except BaseException:
        _discard(staging)
        raise
    return True


def remove_folder(target: Path) -> None:
    """Remove a skill folder: renamed out of the way in one step, then deleted."""
    trash = Path(tempfile.mkdtemp(prefix=f".rm-{target.name}-", dir=target.parent))
    try:
        os.rename(target, trash / "x")
    finally:
        _discard(trash)


def write_archive(destination: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative POSIX paths) as a deterministic ``.zip`` or ``.tar.gz``, atomically."""
    folders = sorted({str(parent) for path in files for parent in PurePosixPath(path).parents if str(parent) != "."})
    buffer = io.BytesIO()
    if destination.name.endswith(".zip"):
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for folder in folders:
                info = zipfile.ZipInfo(folder + "/", _EPOCH)
                info.create_system, info.external_attr = 3, (stat.S_IFDIR | DIR_MODE) << 16 | 0x10
                archive.writestr(info, b"")
            for path in sorted(files):
                info = zipfile.ZipInfo(path, _EPOCH)
                info.create_system, info.external_attr = 3, (stat.S_IFREG | FILE_MODE) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, files[path])
    else:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed,
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            for folder in folders:
                info = tarfile.TarInfo(folder)
                info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                archive.addfile(info)
            for path in sorted(files):
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(files[path]), FILE_MODE
                archive.addfile(info, io.BytesIO(files[path]))
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- reading untrusted trees ----------------------------------------------------------------------------------------


class _Refused(Exception):
    """A member breaks the import rules (turned into a UsageError naming the source)."""


def _relative(raw: str) -> PurePosixPath | None:
    """The member's path, checked; ``None`` for the archive's root folder entry (``./``)."""
    if "\x00" in raw or "\\" in raw:
        raise _Refused(f"member {raw!r} has a NUL or a backslash in its path")
    if raw.startswith("/") or re.match(r"[A-Za-z]:", raw):
        raise _Refused(f"member {raw!r} has an absolute path")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _Refused(f"member {raw!r} leads outside the archive ('..')")
    return PurePosixPath(*parts) if parts else None


def _wanted(path: PurePosixPath) -> bool:
    hidden = any(part.startswith(".") or part == "__pycache__" for part in path.parts)
    return not hidden and (path.name == "SKILL.md" or path.suffix == ".py")


class _Collector:
    """Applies the caps and keeps the wanted files."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.members = 0
        self.total = 0
        self._seen: set[PurePosixPath] = set()

    def add(self, path: PurePosixPath, size: int, read: Callable[[int], bytes]) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise _Refused(f"more than {MAX_MEMBERS} members")
        if path in self._seen:
            raise _Refused(f"member {path.as_posix()!r} appears twice")
        self._seen.add(path)
        if size > MAX_MEMBER_BYTES:
            raise _Refused(f"member {path.as_posix()!r} is {size} bytes (at most {MAX_MEMBER_BYTES} per file)")
        self.total += size
        if self.total > MAX_TOTAL_BYTES:
            raise _Refused(f"the files add up to more than {MAX_TOTAL_BYTES} bytes")
        if _wanted(path):
            data = read(size + 1)
            if len(data) > size:
                raise _Refused(f"member {path.as_posix()!r} holds more than its declared {size} bytes")
            self.files[path.as_posix()] = data

    def count(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise _Refused(f"more than {MAX_MEMBERS} members")


def _read_directory(top: Path, out: _Collector) -> None:
    for folder, dirnames, filenames in os.walk(top, followlinks=False):
        here = Path(folder)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in dirnames:
            if os.path.islink(here / name):
                raise _Refused(f"{(here / name).relative_to(top).as_posix()!r} is a symlink")
        for name in sorted(f for f in filenames if not f.startswith(".")):
            path = here / name
            relative = PurePosixPath(path.relative_to(top).as_posix())
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                raise _Refused(f"{relative.as_posix()!r} is a symlink")
            if not stat.S_ISREG(info.st_mode):
                raise _Refused(f"{relative.as_posix()!r} is not a regular file")

            def read(limit: int, path: Path = path) -> bytes:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as handle:
                    return handle.read(limit)

            out.add(relative, info.st_size, read)


def _read_zip(path: Path, out: _Collector) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _Refused(f"more than {MAX_MEMBERS} members")
        for info in infos:
            relative = _relative(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if stat.S_ISLNK(kind):
                raise _Refused(f"member {info.filename!r} is a symlink")
            if info.is_dir():
                if kind not in (0, stat.S_IFDIR):
                    raise _Refused(f"member {info.filename!r} is a special file")
                out.count()
                continue
            if kind not in (0, stat.S_IFREG):
                raise _Refused(f"member {info.filename!r} is not a regular file")
            if info.flag_bits & 0x1:
                raise _Refused(f"member {info.filename!r} is encrypted")
            if relative is None:
                raise _Refused(f"member {info.filename!r} has no name")

            def read(limit: int, info: zipfile.ZipInfo = info) -> bytes:
                with archive.open(info) as handle:
                    return handle.read(limit)

            out.add(relative, info.file_size, read)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes were read (caps what a tar.gz expands to)."""

    def __init__(self, inner: _Readable, limit: int) -> None:
        self._inner = inner
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._inner.read(min(len(view), self._left + 1))
        if len(data) > self._left:
            raise _Refused(f"the archive expands to more than {MAX_STREAM_BYTES} bytes")
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)


def _read_tar(path: Path, out: _Collector) -> None:
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        inner: _Readable = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        stream = io.BufferedReader(_Bounded(inner, MAX_STREAM_BYTES))
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                relative = _relative(member.name)
                if member.issym() or member.islnk():
                    raise _Refused(f"member {member.name!r} is a link (to {member.linkname!r})")
                if member.isdir():
                    out.count()
                    continue
                if not member.isfile() or member.issparse():
                    raise _Refused(f"member {member.name!r} is not a regular file")
                if relative is None:
                    raise _Refused(f"member {member.name!r} has no name")

                def read(limit: int, member: tarfile.TarInfo = member) -> bytes:
                    handle = archive.extractfile(member)
                    return b"" if handle is None else handle.read(limit)

                out.add(relative, member.size, read)


def read_tree(source: Path) -> dict[str, bytes]:
    """The ``SKILL.md`` and ``*.py`` files of a directory, ``.zip``, ``.tar`` or ``.tar.gz`` (relative path -> bytes).

    Hidden entries (``.git``, ...) and ``__pycache__`` are skipped in directories. Raises :class:`UsageError`
    when the source is missing, unreadable, or breaks a rule (nothing is ever written).
    """
    out = _Collector()
    where = os.fspath(source)
    try:
        info = os.stat(source)
        if stat.S_ISDIR(info.st_mode):
            _read_directory(source, out)
        elif not stat.S_ISREG(info.st_mode):
            raise _Refused("it is neither a directory nor an archive file")
        elif info.st_size > MAX_ARCHIVE_BYTES:
            raise _Refused(f"the archive is {info.st_size} bytes (at most {MAX_ARCHIVE_BYTES})")
        elif zipfile.is_zipfile(source):
            _read_zip(source, out)
        else:
            _read_tar(source, out)
    except FileNotFoundError:
        raise UsageError(f"cannot import skills from {where}: no such file or directory") from None
    except _Refused as exc:
        raise UsageError(f"refusing to import skills from {where}: {exc}; nothing was imported") from None
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UsageError(f"cannot import skills from {where}: not a valid .zip, .tar or .tar.gz ({exc})") from None
    except OSError as exc:  # gzip.BadGzipFile is an OSError too
        raise UsageError(f"cannot import skills from {where}: {exc}") from None
    return out.files
