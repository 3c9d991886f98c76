"""The host-side skill store: functions the agent saved, kept as Agent Skills folders of plain files.

On disk (the root folder may have any name; the sandbox receives :meth:`SkillStore.guest_files`)::

    <root>/check_pending_orders/SKILL.md      front matter (name, description, metadata.example), then markdown
    <root>/check_pending_orders/__init__.py   the skill's source, verbatim; defines check_pending_orders()

so ``from skills.check_pending_orders import check_pending_orders`` works with ``<root>`` importable as ``skills``.
A skill's name is a Python identifier: the folder, the module and the function share it. ``SKILL.md`` carries
the Agent Skills spelling with hyphens (``name: check-pending-orders``); readers accept either spelling there.

The store never executes skill code: the source is compiled and its signature read with ``ast``; the sandbox runs
it. Folders that are not valid skills (hand edits, leftovers) are skipped and reported in :attr:`warnings`.
"""

from __future__ import annotations

import builtins
import difflib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mcpexec._skills_files import read_tree, remove_folder, write_archive, write_folder
from mcpexec._skills_format import (
    MAX_SKILL_MD,
    MAX_SOURCE,
    agent_skills_name,
    check_description,
    check_example,
    check_name,
    check_source,
    parse_skill_md,
    render_skill_md,
)
from mcpexec.errors import UsageError

__all__ = ["Skill", "SkillStore"]

_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
_GUEST_INIT = '"""Saved skills: ``from skills.<name> import <name>``. Written by mcpexec for this session."""\n'


@dataclass(frozen=True, slots=True)
class Skill:
    """One saved skill. ``signature`` is the function's ``def`` line as written; ``path`` is its folder."""

    name: str
    description: str
    source: str
    signature: str
    example: str | None
    path: Path

    def import_line(self) -> str:
        """``from skills.<name> import <name>``."""
        return f"from skills.{self.name} import {self.name}"

    def to_json(self) -> dict[str, Any]:
        """The skill as JSON for the agent or a UI (the host ``path`` is left out)."""
        return {
            "name": self.name,
            "description": self.description,
            "signature": self.signature,
            "example": self.example,
            "import": self.import_line(),
            "source": self.source,
        }

    def skill_md(self) -> str:
        """The ``SKILL.md`` text of this skill, as the store writes it."""
        return render_skill_md(self.name, self.description, self.signature, self.example)


def _files(skill: Skill) -> dict[str, bytes]:
    return {"SKILL.md": skill.skill_md().encode("utf-8"), "__init__.py": skill.source.encode("utf-8")}


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _parse(folder: str | None, skill_md: bytes, code: dict[str, bytes], path: Path) -> Skill:
    """Build a skill from its files, checked like :meth:`SkillStore.save`; :class:`UsageError` says what is wrong.

    ``folder`` is the folder's name (``None`` when unknown); ``code`` maps candidate module file names to bytes.
    """
    try:
        written, description, example = parse_skill_md(_decode(skill_md, "SKILL.md"))
    except ValueError as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"{exc}; the front matter is '---', 'name: ...', 'description: ...', '---'") from None
    name = check_name(written.replace("-", "_"))
    if folder is not None and folder.replace("-", "_") != name:
        raise UsageError(
            f"SKILL.md names the skill {written!r} but its folder is {folder!r}: rename the folder to {name!r}"
            f" or set 'name: {agent_skills_name(folder.replace('-', '_'))}' in SKILL.md"
        )
    module = next((code[file] for file in ("__init__.py", f"{name}.py") if file in code), None)
    if module is None:
        raise UsageError(f"skill {name!r} has no __init__.py next to its SKILL.md: put the skill's code there")
    source = _decode(module, "__init__.py")
    signature = check_source(name, source)
    description = check_description(description)
    return Skill(name, description, source, signature, check_example(example), path)


def _stamp(path: str) -> tuple[int, ...]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ()
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)


def _read_small(path: str, limit: int, what: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"the folder has no {what}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} ({exc.strerror}); it must be a regular file, not a symlink") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(min(os.fstat(fd).st_size, limit) + 1)
    if len(data) > limit:
        raise UsageError(f"{what} is larger than {limit} bytes")
    return data


class SkillStore:
    """Skills saved under ``root`` (created on the first save); see the module docstring for the layout.

    Reads are cached per folder by the files' inode, size and times, so listing a large store again is cheap.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._cache: dict[str, tuple[tuple[tuple[int, ...], ...], Skill | str]] = {}
        self._warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"SkillStore({os.fspath(self.root)!r})"

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the last :meth:`list` (or :meth:`guest_files`, :meth:`search_documents`) skipped, and why."""
        return self._warnings

    # -- one skill -------------------------------------------------------------------------------------------------

    def _key(self, name: object) -> str:
        if not isinstance(name, str):
            raise UsageError(f"a skill name is a string, got {type(name).__name__}")
        return check_name(name.replace("-", "_"))

    def _load(self, name: str) -> Skill | str | None:
        """The skill in folder ``name``, the reason it is broken, or ``None`` when there is no such folder."""
        folder = os.path.join(self.root, name)
        try:
            info = os.lstat(folder)
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(name, None)
            return None
        if stat.S_ISLNK(info.st_mode):
            return "the folder is a symlink; skills are plain folders (copy it in instead)"
        if not stat.S_ISDIR(info.st_mode):
            return None
        md, code = os.path.join(folder, "SKILL.md"), os.path.join(folder, "__init__.py")
        stamp = (_stamp(md), _stamp(code))
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        result: Skill | str
        try:
            skill_md = _read_small(md, MAX_SKILL_MD, "SKILL.md")
            module = _read_small(code, 4 * MAX_SOURCE, "__init__.py (the skill's code)")
            result = _parse(name, skill_md, {"__init__.py": module}, Path(folder))
        except UsageError as exc:
            result = str(exc)
        self._cache[name] = (stamp, result)
        return result

    def _missing(self, name: str) -> UsageError:
        names = [skill.name for skill in self.list()]
        message = f"no skill named {name!r}"
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        if close:
            message += "; did you mean " + ", ".join(repr(n) for n in close) + "?"
        elif names:
            message += f" ({len(names)} saved skills; search for them or list them)"
        else:
            message += " (no skills are saved yet)"
        return UsageError(message)

    def save(
        self, name: str, source: str, *, description: str, example: str | None = None, overwrite: bool = True
    ) -> Skill:
        """Check and write a skill atomically; :class:`UsageError` says what is wrong and how to fix it.

        ``source`` must compile and define a top-level function called ``name``; it is never executed here.
        ``description`` is one paragraph (at most 1024 characters, surrounding whitespace stripped); ``example``
        is optional Python code (top-level ``await`` allowed). With ``overwrite=False`` an existing skill is kept.
        """
        name = check_name(name)
        skill = Skill(
            name=name,
            description=check_description(description),
            source=source,
            signature=check_source(name, source),
            example=check_example(example),
            path=self.root / name,
        )
        if not write_folder(skill.path, _files(skill), replace=overwrite):
            raise UsageError(
                f"a skill named {name!r} already exists: pass overwrite=True to replace it, or choose another name"
            )
        self._cache.pop(name, None)
        return skill

    def get(self, name: str) -> Skill:
        """The skill called ``name`` (either spelling); :class:`UsageError` with close matches when there is none."""
        key = self._key(name)
        found = self._load(key)
        if found is None:
            raise self._missing(key)
        if isinstance(found, str):
            raise UsageError(f"skill {key!r} is broken: {found}")
        return found

    def remove(self, name: str) -> None:
        """Delete a skill's folder (also a broken one); :class:`UsageError` when there is none."""
        key = self._key(name)
        folder = self.root / key
        if not os.path.lexists(folder) or (not folder.is_dir() and not folder.is_symlink()):
            raise self._missing(key)
        if folder.is_symlink():
            folder.unlink()
        else:
            remove_folder(folder)
        self._cache.pop(key, None)

    # -- all skills ------------------------------------------------------------------------------------------------

    def list(self) -> builtins.list[Skill]:
        """Every valid skill, sorted by name; folders that are not valid skills go to :attr:`warnings`."""
        skills: builtins.list[Skill] = []
        warnings: builtins.list[str] = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda entry: entry.name)
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        seen: set[str] = set()
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "__pycache__" or not entry.is_dir():
                continue  # hidden entries, bytecode caches and loose files (README.md, ...) are not skills
            try:
                check_name(entry.name)
            except UsageError as exc:
                fixed = entry.name.replace("-", "_")
                hint = f": rename it to {fixed!r}" if fixed != entry.name and _valid(fixed) else f" ({exc})"
                warnings.append(f"skipped folder {entry.name!r}: not a skill name{hint}")
                continue
            seen.add(entry.name)
            found = self._load(entry.name)
            if isinstance(found, Skill):
                skills.append(found)
            elif found is not None:
                warnings.append(f"skipped folder {entry.name!r}: {found}")
        for stale in self._cache.keys() - seen:
            del self._cache[stale]
        self._warnings = tuple(warnings)
        return skills

    def search_documents(self) -> builtins.list[tuple[str, str]]:
        """``(name, text)`` per skill for tool search: the name's words, the description and the signature."""
        return [
            (skill.name, " ".join([skill.name.replace("_", " "), skill.description, skill.signature]))
            for skill in self.list()
        ]

    def guest_files(self) -> dict[str, str]:
        """Every file the sandbox needs for ``from skills.<name> import <name>``, by relative path (deterministic)."""
        files = {"skills/__init__.py": _GUEST_INIT}
        for skill in self.list():
            files[f"skills/{skill.name}/SKILL.md"] = skill.skill_md()
            files[f"skills/{skill.name}/__init__.py"] = skill.source
        return files

    # -- sharing ---------------------------------------------------------------------------------------------------

    def export(self, destination: str | os.PathLike[str], names: Sequence[str] | None = None) -> Path:
        """Copy skills (all valid ones, or ``names``) to a directory, or a ``.zip`` / ``.tar.gz`` archive.

        A directory receives one folder per skill (replacing same-named ones), so it is itself a store.
        """
        if isinstance(names, str):
            raise UsageError("names is a sequence of skill names, not one string: pass [name]")
        skills = self.list() if names is None else [self.get(name) for name in dict.fromkeys(names)]
        target = Path(destination)
        if target.name.endswith(_ARCHIVE_SUFFIXES):
            write_archive(target, {f"{s.name}/{file}": data for s in skills for file, data in _files(s).items()})
            return target
        if target.exists() and not target.is_dir():
            raise UsageError(f"cannot export to {os.fspath(target)}: it is a file (name archives .zip or .tar.gz)")
        for skill in skills:
            write_folder(target / skill.name, _files(skill), replace=True)
        return target

    def import_from(self, source: str | os.PathLike[str], *, overwrite: bool = False) -> builtins.list[Skill]:
        """Add the skills of a directory or ``.zip`` / ``.tar`` / ``.tar.gz`` archive (untrusted); all or nothing.

        Every skill folder (one holding ``SKILL.md``) is checked like :meth:`save` and the whole source is
        screened (see ``_skills_files``) before anything is written. The module may be ``__init__.py`` or
        ``<name>.py``; folders may use either name spelling. Returns the imported skills sorted by name.
        """
        where = os.fspath(source)
        files = read_tree(Path(source))
        found: dict[str, Skill] = {}
        problems: builtins.list[str] = []
        for path in sorted(PurePosixPath(p) for p in files if PurePosixPath(p).name == "SKILL.md"):
            folder = path.parent
            prefix = f"{folder.as_posix()}/" if folder.parts else ""
            code = {
                name[len(prefix) :]: data
                for name, data in files.items()
                if name.startswith(prefix) and "/" not in name[len(prefix) :]
            }
            try:
                skill = _parse(folder.name or None, files[path.as_posix()], code, Path())
            except UsageError as exc:
                problems.append(f"{path.as_posix()}: {exc}")
                continue
            if skill.name in found:
                problems.append(f"{path.as_posix()}: a second skill named {skill.name!r}")
                continue
            found[skill.name] = Skill(
                skill.name, skill.description, skill.source, skill.signature, skill.example, self.root / skill.name
            )
        if problems:
            listed = "\n".join(f"- {problem}" for problem in problems[:20])
            more = f"\n- ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise UsageError(f"cannot import skills from {where} (nothing was imported):\n{listed}{more}")
        if not found:
            raise UsageError(f"no skills in {where}: a skill is a folder holding SKILL.md and __init__.py")
        if not overwrite:
            clashes = sorted(name for name in found if os.path.lexists(self.root / name))
            if clashes:
                raise UsageError(
                    f"cannot import skills from {where}: {', '.join(clashes)} already exist here; pass"
                    " overwrite=True to replace them (nothing was imported)"
                )
        for skill in found.values():
            write_folder(skill.path, _files(skill), replace=overwrite)
            self._cache.pop(skill.name, None)
        return sorted(found.values(), key=lambda skill: skill.name)


def _valid(name: str) -> bool:
    try:
        check_name(name)
    except UsageError:
        return False
    return True
