"""Tests for mcpexec.catalog: identifier rules, wire conversion, Catalog API, JSON snapshots."""

from __future__ import annotations

import builtins
import copy
import json
import keyword
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpexec.catalog import (
    Catalog,
    SnapshotError,
    ToolAnnotations,
    ToolSpec,
    UnknownToolError,
    assign_identifiers,
    python_identifier,
    server_identifier,
)
from mcpexec.errors import MCPExecError


def _valid(ident: str) -> bool:
    return ident.isidentifier() and not keyword.iskeyword(ident) and not ident.startswith("_") and len(ident) <= 64


# --------------------------------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("get_file", "get_file"),
        ("get-file", "get_file"),
        ("get.file", "get_file"),
        ("get file", "get_file"),
        ("a/b", "a_b"),
        ("a b\tc\n", "a_b_c"),
        ("a__b", "a_b"),
        ("a--b..c", "a_b_c"),
        ("GET_FILE", "get_file"),
        ("getFileContents", "get_file_contents"),
        ("GetFileContents", "get_file_contents"),
        ("HTTPRequest", "http_request"),
        ("getHTTPResponse", "get_http_response"),
        ("XMLHttpRequest", "xml_http_request"),
        ("S3Bucket", "s3_bucket"),
        ("base64Encode", "base64_encode"),
        ("2fa", "t_2fa"),
        ("123", "t_123"),
        ("_2fa", "t_2fa"),
        ("class", "class_"),
        ("def", "def_"),
        ("import", "import_"),
        ("None", "none"),  # lower-cased, so no longer a keyword
        ("True", "true"),
        ("match", "match_"),
        ("case", "case_"),
        ("type", "type_"),
        ("print", "print_"),
        ("list", "list_"),
        ("open", "open_"),
        ("id", "id_"),
        ("café", "cafe"),
        ("Ünïcödé", "unicode"),
        ("caféBar", "cafe_bar"),
        ("ﬁle", "file"),  # NFKC ligature
        ("\uff21\uff22\uff23", "abc"),  # full-width "ABC"
        ("x٣", "x3"),  # non-ASCII decimal digit
        ("工具", "tool"),
        ("search_工具", "search"),
        ("工具_search", "search"),
        ("🔥fire🔥", "fire"),
        ("🔥", "tool"),
        ("", "tool"),
        ("___", "tool"),
        ("_private", "private"),
        ("__init__", "init"),
        ("server.tool/name-v2", "server_tool_name_v2"),
    ],
)
def test_python_identifier_table(name: str, expected: str) -> None:
    assert python_identifier(name) == expected
    assert _valid(expected)


def test_every_keyword_and_builtin_is_avoided() -> None:
    lowercase_builtins = [n for n in dir(builtins) if n.islower() and not n.startswith("_")]
    for word in [*keyword.kwlist, *keyword.softkwlist, *lowercase_builtins]:
        ident = python_identifier(word)
        assert _valid(ident), word
        assert ident not in {*keyword.kwlist, *keyword.softkwlist}, word
        assert not hasattr(builtins, ident), word


def test_long_names_are_capped_and_stay_distinct() -> None:
    a, b = "x" * 150 + "a" * 50, "x" * 150 + "b" * 50
    ia, ib = python_identifier(a), python_identifier(b)
    assert len(ia) == len(ib) == 64
    assert ia != ib
    assert ia.startswith("x" * 50)
    assert python_identifier(a) == ia  # stable
    assert _valid(ia)
    assert _valid(ib)
    assert python_identifier("y" * 64) == "y" * 64  # exactly at the cap: unchanged
    assert len(python_identifier("-".join(["word"] * 40))) <= 64  # truncation never leaves "__"
    assert "__" not in python_identifier("-".join(["word"] * 40))


def test_server_identifier() -> None:
    assert server_identifier("my-server") == "my_server"
    assert server_identifier("GitHub") == "git_hub"
    assert server_identifier("import") == "import_"


def test_lone_surrogate_name() -> None:
    ident = python_identifier("a\ud800b" * 40)
    assert _valid(ident)


# --------------------------------------------------------------------------------------------------- collisions


def test_collisions_sorted_by_name() -> None:
    mapping = assign_identifiers(["get_file", "getFile", "get-file"])
    # sorted: "get-file" < "getFile" < "get_file"
    assert mapping == {"get-file": "get_file", "getFile": "get_file_2", "get_file": "get_file_3"}


def test_collision_suffix_skips_taken_names() -> None:
    mapping = assign_identifiers(["get_file_2", "get_file", "get-file"])
    assert mapping == {"get-file": "get_file", "get_file": "get_file_3", "get_file_2": "get_file_2"}


def test_reserved_identifiers_are_skipped() -> None:
    assert assign_identifiers(["init"], reserved={"init"}) == {"init": "init_2"}
    assert assign_identifiers(["a", "A"], reserved={"a", "a_2"}) == {"A": "a_3", "a": "a_4"}


def test_duplicates_in_input_are_one_name() -> None:
    assert assign_identifiers(["x", "x", "x"]) == {"x": "x"}


def test_long_colliding_names_stay_within_cap() -> None:
    long = "z" * 64
    mapping = assign_identifiers([long, long.upper()])
    assert set(mapping.values()) == {long, "z" * 62 + "_2"}


_NAMES = st.lists(
    st.one_of(
        st.text(),
        st.text(alphabet="aAbB_-. 2é工", max_size=6),
        st.sampled_from(["get-file", "get_file", "getFile", "get_file_2", "class", "class_", "tool", "", "__init__"]),
        st.text(alphabet="ab-", min_size=60, max_size=80),
    ),
    max_size=30,
)


@settings(max_examples=500, deadline=None)
@given(names=_NAMES, data=st.data())
def test_identifiers_valid_unique_and_order_independent(names: list[str], data: st.DataObject) -> None:
    mapping = assign_identifiers(names)
    assert set(mapping) == set(names)
    idents = list(mapping.values())
    assert len(set(idents)) == len(idents)
    assert all(_valid(i) for i in idents)
    shuffled = data.draw(st.permutations(names))
    assert assign_identifiers(shuffled) == mapping
    assert assign_identifiers(reversed(names)) == mapping


@settings(max_examples=500, deadline=None)
@given(name=st.text(alphabet=st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))))  # + lone surrogates
def test_python_identifier_always_valid(name: str) -> None:
    ident = python_identifier(name)
    assert _valid(ident)
    assert ident == ident.lower()
    assert ident.isascii()
    assert not hasattr(builtins, ident)


# --------------------------------------------------------------------------------------------------- from_wire

FULL_TOOL: dict[str, Any] = {
    "name": "create_issue",
    "title": "Create issue",
    "description": "Create a new issue in a GitHub repository.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "owner": {"type": "string", "description": "Repository owner"},
            "repo": {"type": "string"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["owner", "repo", "title"],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    },
    "outputSchema": {"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]},
    "annotations": {
        "title": "Create an issue",
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": False,
        "openWorldHint": True,
    },
    "_meta": {"vendor/x": 1},
    "icons": [{"src": "https://example.com/i.png"}],
}
MINIMAL_TOOL: dict[str, Any] = {"name": "ping", "inputSchema": {"type": "object"}}


def test_from_wire_full_and_minimal() -> None:
    cat = Catalog.from_wire({"github": [FULL_TOOL, MINIMAL_TOOL]})
    assert cat.warnings == ()
    full = cat.get("github", "create_issue")
    assert full == ToolSpec(
        server="github",
        name="create_issue",
        identifier="create_issue",
        title="Create issue",
        description="Create a new issue in a GitHub repository.",
        input_schema=FULL_TOOL["inputSchema"],
        output_schema=FULL_TOOL["outputSchema"],
        annotations=ToolAnnotations(
            title="Create an issue", read_only=False, destructive=False, idempotent=False, open_world=True
        ),
    )
    assert full.qualified_name == "github.create_issue"
    assert list(full.input_schema["properties"]) == ["owner", "repo", "title", "body", "labels"]
    ping = cat.get("github", "ping")
    assert (ping.title, ping.description, ping.output_schema) == (None, "", None)
    assert ping.annotations == ToolAnnotations()


def test_from_wire_copies_input() -> None:
    wire = copy.deepcopy(FULL_TOOL)
    cat = Catalog.from_wire({"s": [wire]})
    wire["inputSchema"]["properties"]["owner"]["type"] = "integer"
    assert cat.get("s", "create_issue").input_schema == FULL_TOOL["inputSchema"]


def test_from_wire_with_mcp_types() -> None:
    types = pytest.importorskip("mcp.types")
    tool = types.Tool(name="read-file", description="Read", inputSchema={"type": "object"})
    wire = tool.model_dump(by_alias=True, mode="json", exclude_none=True)
    spec = Catalog.from_wire({"fs": [wire]}).get("fs", "read-file")
    assert (spec.identifier, spec.description) == ("read_file", "Read")


def test_title_falls_back_to_annotation_title() -> None:
    wire = {"name": "t", "inputSchema": {}, "annotations": {"title": "Nice"}}
    assert Catalog.from_wire({"s": [wire]}).get("s", "t").title == "Nice"


def test_from_wire_identifiers_and_order() -> None:
    wire = [{"name": n, "inputSchema": {"type": "object"}} for n in ["getFile", "get-file", "class", "zeta", "__x"]]
    cat = Catalog.from_wire({"b-server": wire, "a": [MINIMAL_TOOL], "empty": []})
    assert cat.servers == ("b-server", "a", "empty")
    assert [t.name for t in cat.tools("b-server")] == sorted(["getFile", "get-file", "class", "zeta", "__x"])
    assert {t.name: t.identifier for t in cat.tools("b-server")} == {
        "get-file": "get_file",
        "getFile": "get_file_2",
        "class": "class_",
        "zeta": "zeta",
        "__x": "x",
    }
    assert cat.tools("empty") == ()
    assert len(cat) == 6
    assert [t.qualified_name for t in cat][-1] == "a.ping"


class _NotJSON:
    pass


def test_malformed_entries_are_skipped_with_warnings() -> None:
    wire: list[Any] = [
        "not a dict",
        {"description": "no name"},
        {"name": 42, "inputSchema": {}},
        {"name": "", "inputSchema": {}},
        {"name": "dup", "inputSchema": {"type": "object"}, "description": "first"},
        {"name": "dup", "inputSchema": {"type": "object"}, "description": "second"},
        {"name": "list_schema", "inputSchema": ["type", "object"]},
        {"name": "no_schema"},
        {"name": "bad_json", "inputSchema": {"default": _NotJSON()}},
        {"name": "bad_output", "inputSchema": {}, "outputSchema": "string"},
        {"name": "bad_ann", "inputSchema": {}, "annotations": "yes"},
        {"name": "bad_hint", "inputSchema": {}, "annotations": {"readOnlyHint": "yes", "destructiveHint": True}},
        {"name": "bad_text", "inputSchema": {}, "title": 5, "description": ["x"]},
        {"name": "none_desc", "inputSchema": {}, "description": None},
    ]
    cat = Catalog.from_wire({"buggy": wire})
    names = [t.name for t in cat.tools("buggy")]
    assert names == sorted(
        ["dup", "list_schema", "no_schema", "bad_json", "bad_output", "bad_ann", "bad_hint", "bad_text", "none_desc"]
    )
    assert cat.get("buggy", "dup").description == "first"
    for name in ("list_schema", "no_schema", "bad_json"):
        assert cat.get("buggy", name).input_schema == {"type": "object"}
    assert cat.get("buggy", "bad_output").output_schema is None
    assert cat.get("buggy", "bad_hint").annotations == ToolAnnotations(read_only=None, destructive=True)
    assert (cat.get("buggy", "bad_text").title, cat.get("buggy", "bad_text").description) == (None, "")
    text = "\n".join(cat.warnings)
    assert all(w.startswith("server 'buggy': ") for w in cat.warnings)
    for fragment in [
        "tool #0 skipped",
        "tool #1 skipped",
        "tool #2 skipped",
        "tool #3 skipped",
        "duplicate tool name 'dup'",
        "'list_schema': inputSchema",
        "'no_schema': inputSchema",
        "'bad_json': inputSchema",
        "'bad_output': outputSchema",
        "'bad_ann': annotations",
        "'bad_hint': annotations.readOnlyHint",
        "'bad_text': title",
        "'bad_text': description",
    ]:
        assert fragment in text
    assert "none_desc" not in text
    assert len(cat.warnings) == 13


def test_malformed_server_entries() -> None:
    cat = Catalog.from_wire({"s": "nope", 3: [MINIMAL_TOOL], "ok": [MINIMAL_TOOL]})  # type: ignore[dict-item]
    assert cat.servers == ("s", "ok")
    assert len(cat) == 1
    assert len(cat.warnings) == 2


# --------------------------------------------------------------------------------------------------- Catalog API


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_wire({"github": [FULL_TOOL, MINIMAL_TOOL], "fs": [{"name": "read_file", "inputSchema": {}}]})


def test_lookup(catalog: Catalog) -> None:
    assert ("github", "ping") in catalog
    assert ("github", "nope") not in catalog
    assert ("nope", "ping") not in catalog
    assert "ping" not in catalog
    assert ("github", "ping", "x") not in catalog
    assert catalog.by_identifier("fs", "read_file").name == "read_file"
    assert catalog.tools() == (*catalog.tools("github"), *catalog.tools("fs"))


def test_unknown_tool_error(catalog: Catalog) -> None:
    with pytest.raises(UnknownToolError, match=r"no tool 'create_isue'.*did you mean 'create_issue'") as info:
        catalog.get("github", "create_isue")
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, MCPExecError)
    assert (info.value.server, info.value.name, info.value.suggestions) == ("github", "create_isue", ("create_issue",))
    with pytest.raises(UnknownToolError, match=r"unknown server 'githb'.*'github'"):
        catalog.get("githb", "ping")
    with pytest.raises(UnknownToolError, match="unknown server"):
        catalog.tools("nope")
    with pytest.raises(UnknownToolError, match=r"identifier 'read-file'.*'read_file'"):
        catalog.by_identifier("fs", "read-file")


def test_with_server(catalog: Catalog) -> None:
    updated = catalog.with_server("github", [MINIMAL_TOOL, {"name": "new"}, "junk"])  # type: ignore[list-item]
    assert updated.servers == ("github", "fs")
    assert [t.name for t in updated.tools("github")] == ["new", "ping"]
    assert updated.tools("fs") == catalog.tools("fs")
    assert len(updated.warnings) == 2
    again = updated.with_server("github", [MINIMAL_TOOL])
    assert again.warnings == ()
    added = catalog.with_server("new-server", [MINIMAL_TOOL])
    assert added.servers == ("github", "fs", "new-server")
    assert len(catalog) == 3  # the original is unchanged


def test_equality_and_hash(catalog: Catalog) -> None:
    same = Catalog(reversed(catalog.tools()), servers=["github", "fs"])
    assert same == catalog
    assert Catalog(catalog.tools()) != Catalog(reversed(catalog.tools()))  # server order differs
    assert catalog != "catalog"
    spec = catalog.get("fs", "read_file")
    assert spec in {spec}
    assert repr(catalog) == "Catalog(servers=['github', 'fs'], tools=3)"
    assert Catalog() == Catalog()
    assert len(Catalog()) == 0


def test_constructor_rejects_duplicates(catalog: Catalog) -> None:
    spec = catalog.get("fs", "read_file")
    with pytest.raises(ValueError, match="duplicate"):
        Catalog([spec, spec])
    with pytest.raises(ValueError, match="identifier"):
        Catalog([spec, ToolSpec("fs", "other", "read_file", None, "", {}, None)])
    with pytest.raises(ValueError, match="identifier"):
        Catalog([ToolSpec("fs", "x", "class", None, "", {}, None)])


def test_toolspec_json_round_trip(catalog: Catalog) -> None:
    for spec in catalog:
        data = json.loads(json.dumps(spec.to_json()))
        assert ToolSpec.from_json(data) == spec


# --------------------------------------------------------------------------------------------------- snapshots


def _rich_catalog() -> Catalog:
    return Catalog.from_wire(
        {
            "zeta": [FULL_TOOL, MINIMAL_TOOL, {"name": "工具 café", "inputSchema": {"type": "object"}}],
            "alpha": [{"name": "odd\ud800name", "inputSchema": {}}],
            "empty": [],
        }
    )


@pytest.mark.parametrize("make", [lambda: _rich_catalog(), lambda: Catalog.from_wire({"s": [FULL_TOOL]})])
def test_snapshot_round_trip(tmp_path: Path, make: Any) -> None:
    cat: Catalog = make()
    path = tmp_path / "catalog.json"
    cat.save(path)
    loaded = Catalog.load(path)
    assert loaded == cat
    assert loaded.servers == cat.servers
    assert list(loaded.get("zeta" if "zeta" in cat.servers else "s", "create_issue").input_schema["properties"]) == [
        "owner",
        "repo",
        "title",
        "body",
        "labels",
    ]
    first = path.read_bytes()
    loaded.save(path)
    assert path.read_bytes() == first
    cat.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.json", "catalog.json"]  # no temp files left
    assert json.loads(first)["format"] == "mcpexec.catalog"


def test_snapshot_is_readable_utf8(tmp_path: Path) -> None:
    Catalog.from_wire({"s": [{"name": "工具", "inputSchema": {}}]}).save(tmp_path / "c.json")
    text = (tmp_path / "c.json").read_text(encoding="utf-8")
    assert "工具" in text
    assert text.endswith("}\n")
    assert '\n  "format"' in text


def test_save_failure_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.json"
    path.write_text("old", encoding="utf-8")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _rich_catalog().save(path)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


def _valid_doc() -> dict[str, Any]:
    return json.loads(json.dumps(Catalog.from_wire({"s": [FULL_TOOL, MINIMAL_TOOL]}).to_json()))


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> Any:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc

    return mutate


_DELETE = object()
_TOOL0 = ("servers", "s", 0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: [d], "snapshot: expected a JSON object, got an array"),
        (_set(("format",), "other"), "format is 'other'"),
        (_set(("format",), _DELETE), "format is None"),
        (_set(("version",), 2), "unsupported version 2"),
        (_set(("version",), "1"), "unsupported version '1'"),
        (_set(("version",), True), "unsupported version True"),
        (_set(("servers",), _DELETE), "snapshot.servers: expected an object, got null"),
        (_set(("servers",), []), "snapshot.servers: expected an object, got an array"),
        (_set(("servers", "s"), {}), "snapshot.servers['s']: expected an array, got an object"),
        (_set((*_TOOL0,), "tool"), "snapshot.servers['s'][0]: expected an object, got a string"),
        (_set((*_TOOL0, "name"), _DELETE), "snapshot.servers['s'][0]: missing 'name'"),
        (_set((*_TOOL0, "name"), 7), "snapshot.servers['s'][0].name: expected a string, got int"),
        (_set((*_TOOL0, "server"), _DELETE), "missing 'server'"),
        (_set((*_TOOL0, "server"), "t"), "[0].server: 't' does not match 's'"),
        (_set((*_TOOL0, "identifier"), _DELETE), "missing 'identifier'"),
        (_set((*_TOOL0, "identifier"), "class"), "'class' is not a valid public Python identifier"),
        (_set((*_TOOL0, "identifier"), "_x"), "'_x' is not a valid"),
        (_set((*_TOOL0, "identifier"), "a-b"), "'a-b' is not a valid"),
        (_set((*_TOOL0, "identifier"), "ping"), "[1].identifier: duplicate 'ping'"),
        (_set((*_TOOL0, "name"), "ping"), "[1].name: duplicate 'ping'"),
        (_set((*_TOOL0, "input_schema"), _DELETE), "missing 'input_schema'"),
        (_set((*_TOOL0, "input_schema"), []), "[0].input_schema: expected an object, got an array"),
        (_set((*_TOOL0, "output_schema"), "x"), "[0].output_schema: expected an object or null, got a string"),
        (_set((*_TOOL0, "title"), 3), "[0].title: expected a string or null, got int"),
        (_set((*_TOOL0, "description"), None), "[0].description: expected a string, got null"),
        (_set((*_TOOL0, "annotations"), []), "[0].annotations: expected an object, got an array"),
        (_set((*_TOOL0, "annotations", "read_only"), "yes"), "annotations.read_only: expected a boolean or null"),
        (_set((*_TOOL0, "annotations", "title"), 1), "annotations.title: expected a string or null, got int"),
    ],
)
def test_snapshot_errors(mutate: Any, message: str, tmp_path: Path) -> None:
    doc = mutate(_valid_doc())
    with pytest.raises(SnapshotError) as info:
        Catalog.from_json(doc)
    assert message in str(info.value)
    assert isinstance(info.value, MCPExecError)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"bad\.json: ") as info:
        Catalog.load(path)
    assert message in str(info.value)


def test_snapshot_optional_fields_may_be_missing() -> None:
    doc = _valid_doc()
    for key in ("title", "description", "output_schema", "annotations"):
        del doc["servers"]["s"][0][key]
    spec = Catalog.from_json(doc).get("s", "create_issue")
    assert (spec.title, spec.description, spec.output_schema, spec.annotations) == (None, "", None, ToolAnnotations())


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not found"):
        Catalog.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "format": "mcpexec.catalog",\n  "version": 1,\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"invalid JSON at line 4, column 3"):
        Catalog.load(bad)
    bad.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(SnapshotError, match="cannot read"):
        Catalog.load(bad)
    with pytest.raises(SnapshotError, match="cannot read"):
        Catalog.load(tmp_path)
    bad.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(SnapshotError):
        Catalog.load(bad)


@settings(max_examples=200, deadline=None)
@given(names=_NAMES)
def test_snapshot_round_trip_any_names(names: list[str]) -> None:
    cat = Catalog.from_wire({"s": [{"name": n, "inputSchema": {"type": "object"}} for n in names]})
    assert len(cat) == len({n for n in names if n})
    assert Catalog.from_json(json.loads(json.dumps(cat.to_json()))) == cat


def test_saved_snapshot_is_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "catalog.json"
    Catalog().save(target)
    assert target.stat().st_mode & 0o777 == 0o644
    target.chmod(0o640)
    Catalog().save(target)
    assert target.stat().st_mode & 0o777 == 0o640
