"""Skills as a :class:`~mcpexec.executor.CodeExecutor` offers them: saved from the sandbox or the host, made
importable in the running sandbox at once, and found by ``search_tools`` (marked as skills)."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from mcpexec.errors import UsageError
from mcpexec.search import DETAIL_LEVELS
from mcpexec.search._text import analyze
from mcpexec.skills import Skill, SkillStore

__all__ = ["SKILLS_SERVER", "Skills"]

SKILLS_SERVER = "skills"
"""``search_tools(..., server="skills")`` lists or searches only the saved skills."""


def _describe(skill: Skill, detail_level: str) -> Any:
    if detail_level == "name_only":
        return f"{SKILLS_SERVER}.{skill.name}"
    entry: dict[str, Any] = {
        "name": skill.name,
        "server": SKILLS_SERVER,
        "kind": "skill",
        "description": skill.description.split("\n", 1)[0][:200],
        "import": skill.import_line(),
    }
    if detail_level == "full":
        entry.update(description=skill.description, signature=skill.signature, example=skill.example)
    return entry


class Skills:
    """The executor's skills: a :class:`~mcpexec.skills.SkillStore` plus verification in the sandbox.

    ``verify`` runs the skill (and its example) in the sandbox; ``changed`` makes the sandbox see the new set.
    """

    def __init__(
        self,
        store: SkillStore,
        *,
        verify: Callable[[str, str, str | None], Awaitable[None]],
        changed: Callable[[], None],
    ) -> None:
        self.store = store
        self._verify = verify
        self._changed = changed

    @property
    def root(self) -> Path:
        return self.store.root

    async def save(self, name: str, source: str, *, description: str, example: str | None = None) -> Skill:
        """Verify the skill in the sandbox (it compiles, imports, defines ``name``; ``example`` runs), then save."""
        await self._verify(name, source, example)
        return self.save_verified(name, source, description=description, example=example)

    def save_verified(self, name: str, source: str, *, description: str, example: str | None = None) -> Skill:
        """Save a skill the sandbox has already verified (the guest's ``save_skill`` does this itself)."""
        skill = self.store.save(name, source, description=description, example=example)
        self._changed()
        return skill

    def get(self, name: str) -> Skill:
        return self.store.get(name)

    def list(self) -> list[Skill]:
        return self.store.list()

    def remove(self, name: str) -> None:
        self.store.remove(name)
        self._changed()

    def export(self, destination: str | os.PathLike[str], names: Sequence[str] | None = None) -> Path:
        """Write skills to a directory or a ``.zip`` / ``.tar.gz`` archive (to share them)."""
        return self.store.export(destination, names)

    def import_from(self, source: str | os.PathLike[str], *, overwrite: bool = False) -> list[Skill]:
        """Add the skills of a directory or archive (validated first; all or nothing)."""
        skills = self.store.import_from(source, overwrite=overwrite)
        self._changed()
        return skills

    async def handle(self, action: str, fields: dict[str, Any]) -> Any:
        """Answer the guest's ``save_skill`` / ``remove_skill`` (the guest verified the skill before asking)."""
        name = fields.get("name")
        if not isinstance(name, str):
            raise UsageError("a skill needs a name (a string)")
        if action == "save":
            source, description, example = fields.get("source"), fields.get("description"), fields.get("example")
            if not isinstance(source, str) or not isinstance(description, str):
                raise UsageError("save_skill needs the source and a description, as strings")
            if example is not None and not isinstance(example, str):
                raise UsageError("a skill's example is Python code, as a string")
            return self.save_verified(name, source, description=description, example=example).import_line()
        if action == "remove":
            self.remove(name)
            return None
        raise UsageError(f"unknown skill action {action!r}")

    def search(self, query: str, detail_level: str, limit: int) -> list[Any]:
        """Saved skills matching ``query`` (all of them for an empty query), best first."""
        if detail_level not in DETAIL_LEVELS:
            raise UsageError(f"detail_level must be one of {', '.join(DETAIL_LEVELS)}; got {detail_level!r}")
        wanted = set(analyze(query))
        scored: list[tuple[float, Skill]] = []
        for skill in self.store.list():
            if not wanted:
                scored.append((0.0, skill))
                continue
            name_terms = set(analyze(skill.name.replace("_", " ")))
            terms = set(analyze(" ".join([skill.description, skill.signature]))) | name_terms
            overlap = len(wanted & terms) + 0.5 * len(wanted & name_terms)
            if overlap >= max(1.0, 0.34 * len(wanted)):
                scored.append((overlap, skill))
        scored.sort(key=lambda pair: (-pair[0], pair[1].name))
        return [_describe(skill, detail_level) for _score, skill in scored[:limit]]


def verification_cell(name: str, source: str, example: str | None) -> str:
    """The cell that checks a skill in the sandbox (the strings travel as JSON literals, never as code)."""
    arguments = json.dumps([name, source, example])
    return (
        "import json as _json\n"
        "from mcpexec.runtime._skills import verify_skill as _verify_skill\n"
        f"_verify_skill(*_json.loads({arguments!r}))\n"
        "del _json, _verify_skill\n"
    )
