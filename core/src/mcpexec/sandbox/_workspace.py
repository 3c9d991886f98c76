"""The session workspace seen from the host: put files in for the agent's code, get the files it wrote.

Paths are relative to the workspace; absolute paths, ``..`` and symlinks that lead outside are refused.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from mcpexec.errors import UsageError

__all__ = ["Workspace"]


class Workspace:
    """A directory the sandbox's code can write; the host reads and writes it through checked paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root)
        path.mkdir(parents=True, exist_ok=True)
        self.root = path.resolve()

    def path(self, relative: str | os.PathLike[str]) -> Path:
        """The host path of ``relative``; :class:`UsageError` if it would leave the workspace."""
        text = os.fspath(relative)
        pure = PurePosixPath(text)
        if not text or pure.is_absolute() or Path(text).is_absolute() or ".." in pure.parts or "\x00" in text:
            raise UsageError(f"workspace paths are relative and stay inside the workspace; got {text!r}")
        candidate = self.root.joinpath(*pure.parts)
        resolved = candidate.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise UsageError(f"{text!r} leads outside the workspace (through a symlink); refused")
        return candidate

    def _own(self, path: Path) -> None:
        """Files the host writes belong to the workspace's owner (the sandbox user when it runs as another uid)."""
        owner = self.root.stat()
        if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)

    def write_bytes(self, relative: str | os.PathLike[str], data: bytes) -> Path:
        """Write ``data`` to a workspace file (parents created); returns its host path."""
        path = self.path(relative)
        missing = [p for p in reversed(path.parents) if self.root in p.parents and not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        for directory in missing:
            self._own(directory)
        self.path(relative)  # re-check: a parent may have been swapped for a symlink meanwhile
        try:
            with open(path, "wb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW, 0o644)) as handle:
                handle.write(data)
        except OSError as exc:
            raise self._refused(relative, exc) from None
        self._own(path)
        return path

    def write_text(self, relative: str | os.PathLike[str], text: str) -> Path:
        return self.write_bytes(relative, text.encode("utf-8"))

    def read_bytes(self, relative: str | os.PathLike[str]) -> bytes:
        path = self.path(relative)
        try:
            with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as handle:
                return handle.read()
        except FileNotFoundError:
            raise UsageError(f"no file {os.fspath(relative)!r} in the workspace") from None
        except OSError as exc:
            raise self._refused(relative, exc) from None

    @staticmethod
    def _refused(relative: str | os.PathLike[str], exc: OSError) -> UsageError:
        if exc.errno == errno.ELOOP:
            return UsageError(f"{os.fspath(relative)!r} is a symlink; workspace files are read and written directly")
        return UsageError(f"cannot use workspace file {os.fspath(relative)!r}: {exc.strerror or exc}")

    def read_text(self, relative: str | os.PathLike[str]) -> str:
        return self.read_bytes(relative).decode("utf-8")

    def files(self) -> Iterator[str]:
        """Relative paths of the regular files in the workspace (mcpexec's own ``.mcpexec`` folder included)."""
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(self.root).as_posix()
