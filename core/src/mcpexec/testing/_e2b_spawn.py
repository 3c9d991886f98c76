"""Starting a fake sandbox's command as a real local process: under bubblewrap when it runs here, else plainly.

Under bubblewrap the command sees the host's filesystem read-only, with the sandbox's ``<root>/home/user`` at
``/home/user`` and ``<root>/tmp`` at ``/tmp`` (so a path means the same to commands and to the files API), its own
pid/ipc/uts namespaces (everything it started dies with it) and the host's network. Without bubblewrap
(``isolation="none"``) it runs as a plain child in its own session with ``cwd``/``HOME`` mapped into the root: paths
under ``/home/user`` and ``/tmp`` then mean the host's own to the command — a documented difference.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcpexec.sandbox._probe import bwrap_candidates
from mcpexec.testing._e2b_paths import HOME, SandboxFS

__all__ = ["DEFAULT_PATH", "Isolation", "Spawned", "bwrap_path", "prepare_root", "spawn"]

Isolation = Literal["bwrap", "none"]
_PROBE_TIMEOUT_S = 10.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""``PATH`` of a fake sandbox's commands (as on E2B's images)."""
_PROFILE = """\
# ~/.profile of a sandbox of mcpexec.testing's fake E2B: ~/.local/bin (which holds python3) comes first on PATH.
if [ -d "$HOME/.local/bin" ] ; then
    PATH="$HOME/.local/bin:$PATH"
fi
"""


def _bwrap_args(bwrap: str, root: Path, chdir: str) -> list[str]:
    return [
        bwrap,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/home",
        "--bind", str(root / "home" / "user"), HOME,
        "--bind", str(root / "tmp"), "/tmp",
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "e2b-sandbox",
        "--die-with-parent", "--new-session",
        "--chdir", chdir,
        "--",
    ]  # fmt: skip


@functools.cache
def bwrap_path() -> tuple[str | None, str | None]:
    """(path of a bubblewrap that ran a fake sandbox's set-up here, reason when none did); probed once."""
    if not os.path.isdir("/home") or not os.path.isdir("/tmp"):
        return None, "bubblewrap needs /home and /tmp on the host to mount the sandbox's directories over"
    errors: list[str] = []
    true = shutil.which("true", path="/usr/bin:/bin") or "/bin/true"
    for bwrap in bwrap_candidates():
        with tempfile.TemporaryDirectory(prefix="mcpexec-fake-e2b-probe-") as tmp:
            root = Path(tmp)
            (root / "home" / "user").mkdir(parents=True)
            (root / "tmp").mkdir()
            try:
                done = subprocess.run(
                    [*_bwrap_args(bwrap, root, HOME), true],
                    env={"PATH": DEFAULT_PATH},
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=_PROBE_TIMEOUT_S,
                    check=False,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append(f"{bwrap}: {exc}")
                continue
        if done.returncode == 0:
            return bwrap, None
        errors.append(f"{bwrap}: {done.stderr.strip()[-200:] or f'status {done.returncode}'}")
    return None, "; ".join(errors) or "bubblewrap is not installed"


def prepare_root(root: Path, python: str | None) -> None:
    """Create a sandbox's ``home/user`` (with a ``.profile`` and ``~/.local/bin/python3``) and ``tmp``."""
    home = root / "home" / "user"
    (home / ".local" / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (home / ".profile").write_text(_PROFILE)
    if python is not None:
        for name in ("python3", "python"):
            (home / ".local" / "bin" / name).symlink_to(python)


@dataclass(slots=True)
class Spawned:
    """A started command: the process (leader of its own session) and the parent's ends of its pipes."""

    popen: subprocess.Popen[bytes]
    stdout: int
    stderr: int
    stdin: int | None


def spawn(
    *,
    isolation: Isolation,
    bwrap: str | None,
    fs: SandboxFS,
    cmd: str,
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    stdin: bool,
) -> Spawned:
    """Start ``cmd args`` in the sandbox ``fs`` at sandbox path ``cwd`` (already checked to be a directory).

    ``env`` is complete; ``HOME`` is rewritten to the host path without bubblewrap. The pipes' parent ends are
    non-blocking and owned by the caller.
    """
    if isolation == "bwrap":
        if bwrap is None:
            raise RuntimeError("bubblewrap isolation without a bubblewrap binary")
        argv = [*_bwrap_args(bwrap, fs.root, cwd), cmd, *args]
        host_cwd = "/"
        child_env = dict(env)
    else:
        argv = [cmd, *args]
        host_cwd = str(fs.host(cwd))
        child_env = {**env, "HOME": str(fs.host(HOME))}
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin else (None, None)
    try:
        popen = subprocess.Popen(
            argv,
            stdin=in_r if in_r is not None else subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            env=child_env,
            cwd=host_cwd,
            start_new_session=True,
            close_fds=True,
        )
    except BaseException:
        for fd in (out_r, err_r, in_w):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, in_r):
            if fd is not None:
                os.close(fd)
    for fd in (out_r, err_r, in_w):
        if fd is not None:
            os.set_blocking(fd, False)
    return Spawned(popen, out_r, err_r, in_w)
