"""A fake sandbox's filesystem: E2B paths (``/home/user/x``, ``x``, ``/tmp/y``) mapped onto the sandbox's root dir.

Each sandbox owns ``<root>/home/user`` and ``<root>/tmp``, writable; every other path is the host's own, read-only —
the same view its commands get under bubblewrap. Symlinks are followed with the sandbox's meaning of a path (an
absolute target ``/home/user/x`` is the sandbox's file, not the host's), so nothing the files API does can escape the
root through a link a command made.
"""

from __future__ import annotations

import errno
import os
import posixpath
from collections import deque
from pathlib import Path

__all__ = ["HOME", "WRITABLE", "SandboxFS"]

HOME = "/home/user"
"""The default user's home: relative paths are relative to it, and commands start in it."""
WRITABLE = (HOME, "/tmp")
"""The sandbox paths backed by the sandbox's own root dir (everything else is the host's, read-only)."""
_MAX_LINKS = 40


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


class SandboxFS:
    """Path mapping for one sandbox rooted at ``root`` (which holds ``home/user`` and ``tmp``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def absolute(self, path: str) -> str:
        """``path`` as an absolute, lexically normalised sandbox path (relative paths are relative to the home)."""
        joined = path if path.startswith("/") else posixpath.join(HOME, path)
        normal = posixpath.normpath(joined)
        return "/" + normal.lstrip("/")

    def host(self, sandbox_path: str) -> Path:
        """The host path of an absolute sandbox path, lexically (no symlinks followed)."""
        for top in WRITABLE:
            if _under(sandbox_path, top):
                return self.root / top.lstrip("/") / sandbox_path[len(top) :].lstrip("/")
        return Path(sandbox_path)

    def writable(self, sandbox_path: str) -> bool:
        return any(_under(sandbox_path, top) for top in WRITABLE)

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """The absolute sandbox path ``path`` names once every symlink in it is followed (the last component's only
        when ``follow_last``). Raises ``OSError(ELOOP)`` on a symlink loop."""
        parts = deque(part for part in self.absolute(path).split("/") if part)
        resolved = "/"
        links = 0
        while parts:
            name = parts.popleft()
            if name == ".":
                continue
            if name == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, name)
            host = self.host(candidate)
            if (parts or follow_last) and host.is_symlink():
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = "/"
                parts.extendleft(reversed([part for part in target.split("/") if part]))
                continue
            resolved = candidate
        return resolved

    def for_read(self, path: str, *, follow_last: bool = True) -> tuple[str, Path]:
        """(sandbox path, host path) to read ``path`` through."""
        resolved = self.resolve(path, follow_last=follow_last)
        return resolved, self.host(resolved)

    def for_write(self, path: str, *, follow_last: bool = True) -> tuple[str, Path]:
        """(sandbox path, host path) to change ``path`` through; ``PermissionError`` outside the writable dirs."""
        resolved = self.resolve(path, follow_last=follow_last)
        if not self.writable(resolved) or resolved in WRITABLE:
            raise PermissionError(errno.EACCES, f"permission denied: {resolved} is read-only in this sandbox", path)
        return resolved, self.host(resolved)

    def make_dirs(self, sandbox_path: str) -> None:
        """Create ``sandbox_path`` and its missing parents (each one resolved, so links are honoured)."""
        current = "/"
        for part in (p for p in sandbox_path.split("/") if p):
            current = self.resolve(posixpath.join(current, part))
            host = self.host(current)
            if host.is_dir():
                continue
            if not self.writable(current):
                raise PermissionError(errno.EACCES, f"permission denied: {current} is read-only in this sandbox")
            host.mkdir()
