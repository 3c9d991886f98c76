"""The read-only library a sandbox receives: the guest runtime (``mcpexec/runtime`` with the stdlib-only
``errors`` and ``results`` it uses) and the generated ``servers/`` package, precompiled."""

from __future__ import annotations

import compileall
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mcpexec.runtime
from mcpexec.catalog import Catalog
from mcpexec.codegen import render_package

__all__ = ["GUEST_MODULES", "bootstrap", "bootstrap_stdio", "guest_lib_files", "sync_guest_lib"]

_PACKAGE_DIR = Path(mcpexec.runtime.__file__).resolve().parent.parent
GUEST_MODULES = ("errors.py", "results.py")
_GUEST_INIT = '"""mcpexec inside a sandbox: only the guest runtime (``mcpexec.runtime``) is here."""\n'


def guest_lib_files(catalog: Catalog, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every file of the guest library as ``{relative path: source}`` (``extra``: more files, e.g. the skills)."""
    files = {"mcpexec/__init__.py": _GUEST_INIT}
    for name in GUEST_MODULES:
        files[f"mcpexec/{name}"] = (_PACKAGE_DIR / name).read_text(encoding="utf-8")
    for path in sorted((_PACKAGE_DIR / "runtime").glob("*.py")):
        files[f"mcpexec/runtime/{path.name}"] = path.read_text(encoding="utf-8")
    for relative, source in render_package(catalog).items():
        files[f"servers/{relative}"] = source
    files.update(extra or {})
    return files


def sync_guest_lib(target: Path, catalog: Catalog, extra: Mapping[str, str] | None = None) -> Path:
    """Make ``target`` hold exactly the guest library for ``catalog``, compiled for this interpreter.

    Files are rewritten in place (only those that changed; stale ones removed), so a sandbox that mounted
    ``target`` sees new tools without restarting.
    """
    files = guest_lib_files(catalog, extra)
    target.mkdir(parents=True, exist_ok=True)
    for relative, source in files.items():
        path = target / relative
        if path.is_file() and path.read_text(encoding="utf-8") == source:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(source, encoding="utf-8")
        temporary.replace(path)
    wanted = {target / relative for relative in files}
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted and path.parent.name != "__pycache__":
            path.unlink()
    for directory in sorted((p for p in target.rglob("*") if p.is_dir()), reverse=True):
        if directory.name == "__pycache__" and not any(directory.parent.glob("*.py")):
            shutil.rmtree(directory)  # bytecode of a package that is gone would keep it importable
        elif directory.exists() and not any(directory.iterdir()):
            directory.rmdir()
    compileall.compile_dir(target, quiet=2, workers=1)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def bootstrap(lib: str, fd: int, options: Mapping[str, Any]) -> str:
    """The ``python -I -S -c`` program that starts the guest: confine, then serve the channel on ``fd``."""
    return (
        f"import sys; sys.path[:0] = [{lib!r}]\n"
        "from mcpexec.runtime._confine import apply_from_environ\n"
        "apply_from_environ()\n"
        "from mcpexec.runtime._guest import main\n"
        f"main({fd}, {json.dumps(dict(options))!r})\n"
    )


def bootstrap_stdio(lib: str, options: Mapping[str, Any]) -> str:
    """The ``python -I -S -c`` program that starts a guest speaking the protocol on its stdin/stdout (E2B, where
    the sandbox itself is the isolation)."""
    return (
        f"import sys; sys.path[:0] = [{lib!r}]\n"
        "from mcpexec.runtime._guest import main_stdio\n"
        f"main_stdio({json.dumps(dict(options))!r})\n"
    )
