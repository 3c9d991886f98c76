"""The host-side skill store: validation, the SKILL.md format, guest files that import, export and hostile imports."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpexec import _skills_files
from mcpexec._skills_format import check_description, parse_skill_md, render_skill_md
from mcpexec.errors import UsageError
from mcpexec.skills import Skill, SkillStore

ORDERS = '''\
import json


async def check_pending_orders(sheet_id: str, *, limit: int = 10) -> list[dict[str, str]]:
    """The pending rows of a sheet."""
    return [{"sheet": sheet_id, "status": "pending"}][:limit]
'''
ADD = "def add(a: int, b: int = 2, /) -> int:\n    return a + b\n"
HOSTILE = [
    'Orders: rows whose "status" is pending',
    "key: value\n--- \n---\nname: evil\ndescription: injected",
    "it's # not a comment, {flow}: [seq], &anchor *alias !tag %directive @at `tick`",
    "- starts like a list item\n  ? and a key",
    "backslashes \\n \\t \\\\ \\u0041 and tabs\tinside",
    "unicode: café ✓ 日本 \U0001f600, line\u2028separator\u2029, nbsp\xa0, bom\ufeff, soft\xad hyphen",
    "yes",
    "   surrounded by spaces   ",
]


@pytest.fixture
def store(tmp_path: Path) -> SkillStore:
    return SkillStore(tmp_path / "store")


def save_orders(store: SkillStore, **options: object) -> Skill:
    return store.save(
        "check_pending_orders",
        ORDERS,
        description="Return the pending orders of a sheet.",
        example="await check_pending_orders('orders-2026')",
        **options,  # type: ignore[arg-type]
    )


# -- round trips ------------------------------------------------------------------------------------------------


def test_save_get_list_remove_round_trip(store: SkillStore) -> None:
    skill = save_orders(store)
    signature = "async def check_pending_orders(sheet_id: str, *, limit: int = 10) -> list[dict[str, str]]"
    assert skill.signature == signature
    assert skill.import_line() == "from skills.check_pending_orders import check_pending_orders"
    assert skill.path == store.root / "check_pending_orders"
    assert skill.to_json() == {
        "name": "check_pending_orders",
        "description": "Return the pending orders of a sheet.",
        "signature": skill.signature,
        "example": "await check_pending_orders('orders-2026')",
        "import": skill.import_line(),
        "source": ORDERS,
    }
    assert sorted(p.name for p in skill.path.iterdir()) == ["SKILL.md", "__init__.py"]
    assert (skill.path / "__init__.py").read_text() == ORDERS
    assert stat.S_IMODE(skill.path.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in skill.path.iterdir()} == {0o644}
    added = store.save("add", ADD, description="Add two numbers.")
    assert added.signature == "def add(a: int, b: int = 2, /) -> int"
    assert added.example is None

    fresh = SkillStore(store.root)  # another session reads the same files
    assert fresh.get("check_pending_orders") == skill
    assert fresh.get("check-pending-orders") == skill  # the Agent Skills spelling works too
    assert fresh.list() == [added, skill]
    assert fresh.warnings == ()
    assert fresh.search_documents() == [
        ("add", f"add Add two numbers. {added.signature}"),
        ("check_pending_orders", f"check pending orders Return the pending orders of a sheet. {skill.signature}"),
    ]

    fresh.remove("check_pending_orders")
    assert not skill.path.exists()
    assert [s.name for s in fresh.list()] == ["add"]
    with pytest.raises(UsageError, match=r"no skill named 'check_pending_orders'"):
        fresh.get("check_pending_orders")
    with pytest.raises(UsageError, match="no skill named"):
        fresh.remove("check_pending_orders")
    assert [p.name for p in store.root.iterdir()] == ["add"]  # no temporary folders left behind


def test_unknown_names_suggest_close_matches(store: SkillStore) -> None:
    with pytest.raises(UsageError, match="no skills are saved yet"):
        store.get("anything")
    save_orders(store)
    with pytest.raises(UsageError, match=r"did you mean 'check_pending_orders'\?"):
        store.get("check_pending_order")
    with pytest.raises(UsageError, match="1 saved skills"):
        store.get("zzz")


def test_skill_md_layout_and_front_matter(store: SkillStore) -> None:
    text = (save_orders(store).path / "SKILL.md").read_text()
    assert text.startswith(
        "---\nname: check-pending-orders\n"
        'description: "Return the pending orders of a sheet."\n'
        "metadata:\n  example: \"await check_pending_orders('orders-2026')\"\n---\n"
    )
    for line in ("## Signature", "from skills.check_pending_orders import check_pending_orders", "## Example"):
        assert line in text
    assert parse_skill_md(text) == (
        "check-pending-orders",
        "Return the pending orders of a sheet.",
        "await check_pending_orders('orders-2026')",
    )


@pytest.mark.parametrize("description", HOSTILE)
def test_hostile_descriptions_round_trip(store: SkillStore, description: str) -> None:
    example = f"await add(1)  # {description.strip().splitlines()[0]}"
    skill = store.save("add", ADD, description=description, example=example)
    assert skill.description == description.strip()
    text = (skill.path / "SKILL.md").read_text(encoding="utf-8")
    assert parse_skill_md(text) == ("add", description.strip(), example)
    assert SkillStore(store.root).get("add") == skill
    yaml = pytest.importorskip("yaml")  # a real YAML parser reads the same values (PyYAML is not a dependency)
    front = yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))
    assert front == {"name": "add", "description": description.strip(), "metadata": {"example": example}}


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=120),
    st.sampled_from([None, "'", '"', "|", ">"]),
)
def test_front_matter_written_by_a_yaml_library_is_read(raw: str, style: str | None) -> None:
    yaml = pytest.importorskip("yaml")
    try:
        description = check_description(raw)
    except UsageError:
        return
    front = "".join(
        yaml.safe_dump({key: value}, default_style=style, width=30, allow_unicode=True)
        for key, value in (("name", "add"), ("description", description))
    )
    expected = yaml.safe_load(front)["description"]
    assert parse_skill_md(f"---\n{front}---\n")[1] == expected
    text = render_skill_md("add", description, "def add()", None)  # and what we write, a YAML library reads
    assert yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))["description"] == description


HAND_WRITTEN = {
    "plain": ("name: add\ndescription: Adds two numbers: fast # a comment\n", "Adds two numbers: fast", None),
    "single quotes": ("name: 'add'\ndescription: 'It''s\n  folded'\n", "It's folded", None),
    "folded block": ("name: add\ndescription: >-\n  Adds two\n  numbers.\n", "Adds two numbers.", None),
    "literal block": ("description: |\n  Adds\n  two.\nname: add\n", "Adds\ntwo.", None),
    "double quotes folded": ('name: add\ndescription: "Adds \\\n  two\n  numbers"\n', "Adds two numbers", None),
    "metadata and extras": (
        "name: add\ndescription: Adds.\nlicense: MIT\nallowed-tools: [Bash]\n"
        "metadata:\n  author: me\n  example: |\n    add(1)\n    add(2, 3)\n",
        "Adds.",
        "add(1)\nadd(2, 3)",
    ),
}


@pytest.mark.parametrize("key", HAND_WRITTEN)
def test_hand_written_front_matter_is_read(store: SkillStore, key: str) -> None:
    front, description, example = HAND_WRITTEN[key]
    folder = store.root / "add"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\n{front}---\n\n# Add\n")
    (folder / "__init__.py").write_text(ADD)
    skill = store.get("add")
    assert (skill.description, skill.example) == (description, example)
    assert store.list() == [skill]


@pytest.mark.parametrize(
    ("source", "signature"),
    [
        ("def f(): pass", "def f()"),
        ("async def f(*args: 'int', **kw) -> None: pass", "async def f(*args: 'int', **kw) -> None"),
        ("def f(a, /, b=1, *, c: dict[str, int] | None = None, d): pass",
         "def f(a, /, b=1, *, c: dict[str, int] | None = None, d)"),
        ("import functools\n@functools.cache\ndef f(x: 'Lit[1]') -> int: return 1", "def f(x: 'Lit[1]') -> int"),
        ("def f(a): pass\ndef f(b: int): pass", "def f(b: int)"),  # the last definition is what imports
    ],
)  # fmt: skip
def test_signature_is_read_with_ast(store: SkillStore, source: str, signature: str) -> None:
    assert store.save("f", source, description="d").signature == signature


# -- the sandbox's view ------------------------------------------------------------------------------------------


def test_guest_files_import_in_an_isolated_interpreter(store: SkillStore, tmp_path: Path) -> None:
    save_orders(store)
    store.save(
        "use_add",
        "from skills.add import add\n\ndef use_add(x: int) -> int:\n    return add(x) * 10\n",
        description="Skills can use other skills.",
    )
    store.save("add", ADD, description="Add two numbers.")
    (store.root / "notes.md").write_text("a loose file is not a skill")
    files = store.guest_files()
    assert list(files) == [
        "skills/__init__.py",
        *(f"skills/{n}/{f}" for n in ("add", "check_pending_orders", "use_add") for f in ("SKILL.md", "__init__.py")),
    ]
    assert files == SkillStore(store.root).guest_files()  # deterministic
    guest = tmp_path / "guest"
    for relative, text in files.items():
        (guest / relative).parent.mkdir(parents=True, exist_ok=True)
        (guest / relative).write_text(text)
    code = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(guest)!r})
        from skills.check_pending_orders import check_pending_orders
        from skills.use_add import use_add
        print(asyncio.run(check_pending_orders("orders-2026")), use_add(1))
    """)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[{'sheet': 'orders-2026', 'status': 'pending'}] 30\n"


# -- validation --------------------------------------------------------------------------------------------------

BAD_NAMES = {
    "Check": "lowercase Python identifier.*e.g. 'check'",
    "1abc": "lowercase Python identifier",
    "check-orders": "lowercase Python identifier.*'check_orders'",
    "a" * 65: "at most 64",
    "": "lowercase Python identifier",
    "_private": "lowercase Python identifier",
    "check__orders": "double or trailing underscores.*'check_orders'",
    "orders_": "double or trailing underscores",
    "class": "a Python keyword",
    "json": "standard library module",
    "servers": "reserved by mcpexec",
    "skills": "reserved by mcpexec",
    "mcpexec": "reserved by mcpexec",
    "save_skill": "reserved by mcpexec",
    "print": "builtin",
    "help": "builtin",
}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(store: SkillStore, name: str) -> None:
    with pytest.raises(UsageError, match=BAD_NAMES[name]):
        store.save(name, f"def {name}(): pass", description="d")
    assert not store.root.exists()


BAD_SOURCES = {
    "def check(:\n    pass": r"does not compile: line 1: .*fix the code",
    "def other(): pass\nclass check: pass": r"top-level function named 'check' \(it defines check, other\)",
    "class C:\n    def check(self): pass": "top-level function named 'check'",
    "check = lambda: 1": "top-level function named 'check'",
    "return 1\ndef check(): pass": r"line 1: 'return' outside function",
    "await x()\ndef check(): pass": "outside",
    "# -*- coding: latin-1 -*-\ndef check(): pass": "declares the encoding 'iso-8859-1'",
    "def check(): pass\n\x00": "does not compile",
    "def check(): return '\ud800'": "lone surrogate",
}


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_bad_sources_are_refused(store: SkillStore, source: str) -> None:
    with pytest.raises(UsageError, match=BAD_SOURCES[source]):
        store.save("check", source, description="d")
    assert not store.root.exists()


@pytest.mark.parametrize(
    ("description", "example", "message"),
    [
        ("", None, "description is required"),
        (" \n\t", None, "description is required"),
        ("x" * 1025, None, "1025 characters; shorten it to 1024"),
        ("first paragraph\n\nsecond", None, "single paragraph"),
        ("bell\x07", None, "control character"),
        (None, None, "description is a string"),
        ("ok", "Call it with the sheet id.", "example is not valid Python"),
        ("ok", 42, "example is a string"),
    ],
)
def test_bad_descriptions_and_examples_are_refused(
    store: SkillStore, description: object, example: object, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        store.save("add", ADD, description=description, example=example)  # type: ignore[arg-type]


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "two-renames"])
def test_overwrite(store: SkillStore, monkeypatch: pytest.MonkeyPatch, swap: bool) -> None:
    if not swap:
        monkeypatch.setattr(_skills_files, "_exchange", lambda a, b: False)  # type: ignore[misc]
    save_orders(store)
    with pytest.raises(UsageError, match="already exists: pass overwrite=True"):
        store.save("check_pending_orders", ORDERS, description="Other.", overwrite=False)
    assert store.get("check_pending_orders").description == "Return the pending orders of a sheet."
    store.save("check_pending_orders", ORDERS, description="Replaced.")
    assert store.get("check_pending_orders").description == "Replaced."
    assert [p.name for p in store.root.iterdir()] == ["check_pending_orders"]


def test_a_failed_write_keeps_the_previous_version(store: SkillStore, monkeypatch: pytest.MonkeyPatch) -> None:
    before = save_orders(store)
    real = _skills_files._write_file  # pyright: ignore[reportPrivateUsage]

    def fail_on_code(path: Path, data: bytes) -> None:
        if path.name == "__init__.py":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(_skills_files, "_write_file", fail_on_code)
    with pytest.raises(OSError, match="No space"):
        store.save("check_pending_orders", ORDERS, description="New.")
    assert SkillStore(store.root).get("check_pending_orders") == before
    assert [p.name for p in store.root.iterdir()] == ["check_pending_orders"]


# -- hand-edited folders -----------------------------------------------------------------------------------------


def test_broken_folders_are_skipped_with_warnings(store: SkillStore) -> None:
    save_orders(store)
    store.save("add", ADD, description="Add.")
    root = store.root

    def folder(name: str, files: dict[str, str]) -> None:
        (root / name).mkdir()
        for file, text in files.items():
            (root / name / file).write_text(text)

    folder("no_code", {"SKILL.md": "---\nname: no-code\ndescription: d\n---\n"})
    folder("no_front", {"SKILL.md": "# just markdown\n", "__init__.py": "def no_front(): pass\n"})
    folder("renamed", {"SKILL.md": "---\nname: other\ndescription: d\n---\n", "__init__.py": "def renamed(): pass\n"})
    folder("broken_code", {"SKILL.md": "---\nname: broken-code\ndescription: d\n---\n", "__init__.py": "def ("})
    folder("hyphen-folder", {"SKILL.md": "---\nname: hyphen-folder\ndescription: d\n---\n"})
    folder("Bad Name", {})
    folder(".tmp-add-abc", {"SKILL.md": "leftover of a crash"})
    folder("__pycache__", {})
    (root / "linked").symlink_to(root / "add")

    assert [s.name for s in store.list()] == ["add", "check_pending_orders"]
    warnings = "\n".join(store.warnings)
    for expected in (
        "'Bad Name': not a skill name",
        "'broken_code': skill source does not compile: line 1",
        "'hyphen-folder': not a skill name: rename it to 'hyphen_folder'",
        "'no_code': the folder has no __init__.py (the skill's code)",
        "'no_front': SKILL.md must start with a '---' line",
        "'renamed': SKILL.md names the skill 'other' but its folder is 'renamed': rename the folder to 'other'"
        " or set 'name: renamed' in SKILL.md",
    ):
        assert expected in warnings
    assert "'linked': the folder is a symlink" in warnings
    assert len(store.warnings) == 7  # hidden folders, __pycache__ and loose files are not reported
    assert set(store.guest_files()) == {
        "skills/__init__.py",
        *(f"skills/{n}/{f}" for n in ("add", "check_pending_orders") for f in ("SKILL.md", "__init__.py")),
    }
    with pytest.raises(UsageError, match="skill 'broken_code' is broken: skill source does not compile"):
        store.get("broken_code")
    store.remove("broken_code")
    store.remove("linked")
    assert len(store.list()) == 2
    assert (root / "add").is_dir()
    assert len(store.warnings) == 5


def test_hand_edits_are_seen_by_the_cached_listing(store: SkillStore) -> None:
    skill = save_orders(store)
    assert store.list() == [skill]
    (skill.path / "__init__.py").write_text(ORDERS.replace("sheet_id: str", "sheet: str"))
    assert store.list()[0].signature.startswith("async def check_pending_orders(sheet: str")
    (skill.path / "__init__.py").write_text("nope(")
    assert store.list() == []
    assert store.warnings


# -- export and import -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["exported", "skills.zip", "skills.tar.gz"])
def test_export_import_round_trip(store: SkillStore, tmp_path: Path, target: str) -> None:
    skills = [save_orders(store), store.save("add", ADD, description='Add: "two" numbers.')]
    destination = store.export(tmp_path / target)
    assert destination == tmp_path / target
    if target != "exported":
        assert store.export(tmp_path / f"again-{target}").read_bytes() == destination.read_bytes()  # deterministic
    other = SkillStore(tmp_path / "other")
    imported = other.import_from(destination)
    assert [s.name for s in imported] == ["add", "check_pending_orders"]
    assert [(s.description, s.source, s.signature, s.example) for s in other.list()] == [
        (s.description, s.source, s.signature, s.example) for s in sorted(skills, key=lambda s: s.name)
    ]
    with pytest.raises(UsageError, match="add, check_pending_orders already exist here; pass overwrite=True"):
        other.import_from(destination)
    assert other.import_from(destination, overwrite=True) == imported
    only = store.export(tmp_path / f"only-{target}", ["add"])
    assert [s.name for s in SkillStore(tmp_path / "third").import_from(only)] == ["add"]


def test_import_reads_agent_skills_spelling(store: SkillStore, tmp_path: Path) -> None:
    folder = tmp_path / "bundle" / "nested" / "check-orders"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: check-orders\ndescription: Checks orders.\n---\n")
    (folder / "check_orders.py").write_text("def check_orders(): return 1\n")
    (folder / "references").mkdir()
    (folder / "references" / "notes.md").write_text("ignored")
    (imported,) = store.import_from(tmp_path / "bundle")
    assert imported == store.get("check_orders")
    assert sorted(p.name for p in imported.path.iterdir()) == ["SKILL.md", "__init__.py"]
    single = SkillStore(tmp_path / "single").import_from(folder)  # one skill's own folder
    assert [(s.name, s.source) for s in single] == [("check_orders", imported.source)]


def test_import_is_all_or_nothing(store: SkillStore, tmp_path: Path) -> None:
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("good/SKILL.md", "---\nname: good\ndescription: Good.\n---\n")
        z.writestr("good/__init__.py", "def good(): pass\n")
        z.writestr("bad/SKILL.md", "---\nname: bad\ndescription: Bad.\n---\n")
        z.writestr("bad/__init__.py", "def bad(:\n")
        z.writestr("worse/SKILL.md", "---\nname: worse\n---\n")
    with pytest.raises(UsageError) as caught:
        store.import_from(archive)
    assert "nothing was imported" in str(caught.value)
    assert "bad/SKILL.md: skill source does not compile" in str(caught.value)
    assert "worse/SKILL.md: the SKILL.md front matter has no 'description'" in str(caught.value)
    assert not store.root.exists()
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(UsageError, match="no skills in"):
        store.import_from(tmp_path / "empty.zip")
    with pytest.raises(UsageError, match="no such file"):
        store.import_from(tmp_path / "missing.tar.gz")


# -- hostile archives --------------------------------------------------------------------------------------------

GOOD_MD = b"---\nname: good\ndescription: Good.\n---\n"
GOOD_PY = b"def good(): pass\n"


def _zip(path: Path, *extra: tuple[zipfile.ZipInfo | str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("good/SKILL.md", GOOD_MD)
        z.writestr("good/__init__.py", GOOD_PY)
        for info, data in extra:
            z.writestr(info, data)


def _tar(path: Path, *members: tarfile.TarInfo) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in (("good/SKILL.md", GOOD_MD), ("good/__init__.py", GOOD_PY)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for member in members:
            t.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size if kind == tarfile.REGTYPE else 0
    return info


def _zip_symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("good/SKILL.md.link")
    info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    return info


def _zip_huge(path: Path) -> None:
    _zip(path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z, z.open("good/big.bin", "w") as out:
        for _ in range(100):
            out.write(bytes(1024 * 1024))


def _tar_huge(path: Path) -> None:
    """A header declaring 100 MB with no data behind it: refused before anything is read."""
    _tar(path.with_suffix(".part"))
    with tarfile.open(path.with_suffix(".part")) as t:
        members = b"".join(m.tobuf() + t.extractfile(m).read().ljust(512, b"\0") for m in t)  # type: ignore[union-attr]
    path.write_bytes(members + _member("good/big.bin", size=100 * 1024 * 1024).tobuf())


HOSTILE_ARCHIVES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "zip traversal": ("leads outside the archive", lambda p: _zip(p, ("../evil/__init__.py", b"x"))),
    "zip absolute": ("absolute path", lambda p: _zip(p, ("/tmp/evil.py", b"x"))),
    "zip backslash": ("backslash", lambda p: _zip(p, ("..\\evil.py", b"x"))),
    "zip symlink": ("is a symlink", lambda p: _zip(p, (_zip_symlink(), b"/etc/passwd"))),
    "zip 100 MB member": ("104857600 bytes", _zip_huge),
    "tar traversal": ("leads outside the archive", lambda p: _tar(p, _member("good/../../evil.py"))),
    "tar absolute": ("absolute path", lambda p: _tar(p, _member("/etc/evil.py"))),
    "tar symlink": ("is a link", lambda p: _tar(p, _member("good/x", tarfile.SYMTYPE, "/etc/passwd"))),
    "tar hardlink": ("is a link", lambda p: _tar(p, _member("good/x", tarfile.LNKTYPE, "/etc/passwd"))),
    "tar device": ("not a regular file", lambda p: _tar(p, _member("good/null", tarfile.CHRTYPE))),
    "tar fifo": ("not a regular file", lambda p: _tar(p, _member("good/pipe", tarfile.FIFOTYPE))),
    "tar duplicate": ("appears twice", lambda p: _tar(p, _member("good/__init__.py"))),
    "tar 100 MB member": ("104857600 bytes", _tar_huge),
}


@pytest.mark.parametrize("case", HOSTILE_ARCHIVES)
def test_hostile_archives_are_refused_with_nothing_written(store: SkillStore, tmp_path: Path, case: str) -> None:
    message, build = HOSTILE_ARCHIVES[case]
    archive = tmp_path / ("hostile.zip" if case.startswith("zip") else "hostile.tar.gz")
    build(archive)
    with pytest.raises(UsageError, match=f"refusing to import skills from .*: .*{message}"):
        store.import_from(archive)
    assert not store.root.exists()
    assert not (tmp_path / "evil").exists()


def test_hostile_directories_are_refused(store: SkillStore, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "good").mkdir(parents=True)
    (source / "good" / "SKILL.md").write_bytes(GOOD_MD)
    (source / "good" / "__init__.py").symlink_to("/etc/hostname")
    with pytest.raises(UsageError, match=r"'good/__init__\.py' is a symlink"):
        store.import_from(source)
    (source / "good" / "__init__.py").unlink()
    (source / "good" / "__init__.py").write_bytes(GOOD_PY)
    os.mkfifo(source / "good" / "pipe")
    with pytest.raises(UsageError, match="'good/pipe' is not a regular file"):
        store.import_from(source)
    assert not store.root.exists()
    (source / "good" / "pipe").unlink()
    assert [s.name for s in store.import_from(source)] == ["good"]


def test_a_tar_bomb_is_cut_off(store: SkillStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_skills_files, "MAX_STREAM_BYTES", 64 * 1024)
    archive = tmp_path / "bomb.tar.gz"
    _tar(archive, *(_member(f"pad/{i}.bin", size=1024) for i in range(100)))
    with pytest.raises(UsageError, match="expands to more than"):
        store.import_from(archive)
    assert not store.root.exists()
