"""Typed wrapper generation: schema mapping, real servers' catalogs, calls through the wrappers, determinism."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pydoc
import subprocess
import sys
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import rawserver_config, testserver_config

from mcpexec import runtime
from mcpexec.catalog import Catalog
from mcpexec.codegen import generate_package, render_package, render_tool
from mcpexec.errors import MCPExecError
from mcpexec.hub import MCPHub


def _tool_module(schema: dict[str, Any], output: dict[str, Any] | None = None, **extra: Any) -> str:
    wire = {"name": "probe", "description": "Probe.", "inputSchema": schema, **extra}
    if output is not None:
        wire["outputSchema"] = output
    return render_tool(Catalog.from_wire({"s": [wire]}).get("s", "probe")).source


def _exec(source: str) -> dict[str, Any]:
    """Run a generated module as a real module (so typing can resolve its annotations)."""
    module = ModuleType("generated_probe")
    sys.modules[module.__name__] = module
    exec(compile(source, "probe.py", "exec", dont_inherit=True), module.__dict__)  # our generated code
    return module.__dict__


def _field_types(schema: dict[str, Any]) -> dict[str, str]:
    """The annotation text of each field of the generated input TypedDict."""
    tree = ast.parse(_tool_module(schema))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "ProbeInput":
            return {
                stmt.target.id: ast.unparse(stmt.annotation)
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
    raise AssertionError("no ProbeInput class")


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "string"}, "str"),
        ({"type": "integer"}, "int"),
        ({"type": "number"}, "float"),
        ({"type": "boolean"}, "bool"),
        ({"type": "null"}, "None"),
        ({"type": "array", "items": {"type": "string"}}, "list[str]"),
        ({"type": "array"}, "list[Any]"),
        ({"type": "object"}, "dict[str, Any]"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "dict[str, int]"),
        ({"type": "string", "enum": ["open", "closed"]}, "Literal['open', 'closed']"),
        ({"enum": [1, 2, True, None]}, "Literal[1, 2, True, None]"),
        ({"type": "number", "enum": [0.5, 1.5]}, "float"),
        ({"const": "fixed"}, "Literal['fixed']"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "str | int"),
        ({"oneOf": [{"type": "string"}, {"type": "null"}]}, "str | None"),
        ({"type": ["string", "null"]}, "str | None"),
        ({"type": "string", "nullable": True}, "str | None"),
        ({}, "Any"),
        ({"type": "array", "items": {"type": "array", "items": {"type": "boolean"}}}, "list[list[bool]]"),
    ],
)
def test_json_schema_maps_to_python_types(prop: dict[str, Any], expected: str) -> None:
    types = _field_types({"type": "object", "properties": {"value": prop}, "required": ["value"]})
    assert types["value"] == expected


def test_required_and_optional_fields() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer", "default": 3}},
        "required": ["a"],
    }
    assert _field_types(schema) == {"a": "str", "b": "NotRequired[int]"}
    namespace = _exec(_tool_module(schema))
    hints = typing.get_type_hints(namespace["ProbeInput"])
    assert hints == {"a": str, "b": int}
    assert namespace["ProbeInput"].__required_keys__ == frozenset({"a"})
    assert namespace["ProbeInput"].__optional_keys__ == frozenset({"b"})


def test_nested_objects_refs_and_recursion() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["label"],
            }
        },
        "properties": {
            "root": {"$ref": "#/$defs/Node"},
            "meta": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
        },
        "required": ["root"],
    }
    namespace = _exec(_tool_module(schema))
    node = namespace["Node"]
    hints = typing.get_type_hints(node)
    assert hints["label"] is str
    assert hints["children"] == list[node]  # recursive reference resolves to the same TypedDict
    probe_hints = typing.get_type_hints(namespace["ProbeInput"])
    assert probe_hints["root"] is node
    meta = probe_hints["meta"]
    assert typing.get_type_hints(meta) == {"tags": list[str]}


def test_all_of_merges_object_parts() -> None:
    schema = {
        "type": "object",
        "properties": {
            "item": {
                "allOf": [
                    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
                    {"type": "object", "properties": {"name": {"type": "string"}}},
                ]
            }
        },
    }
    namespace = _exec(_tool_module(schema))
    item = typing.get_type_hints(namespace["ProbeInput"])["item"]
    assert typing.get_type_hints(item) == {"id": int, "name": str}
    assert item.__required_keys__ == frozenset({"id"})


def test_untypable_constructs_widen_with_a_comment_instead_of_failing() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(40):
        deep = {"type": "array", "items": deep}
    schema = {
        "type": "object",
        "properties": {
            "external": {"$ref": "https://example.com/schema.json"},
            "deep": deep,
            "weird": {"type": "quaternion"},
            "objects_enum": {"enum": [{"a": 1}, [1, 2]]},
        },
    }
    source = _tool_module(schema)
    compile(source, "probe.py", "exec")
    assert "# widened: unresolvable $ref" in source
    assert "nested deeper than" in source
    assert "unknown 'type' value" in source
    types = _field_types(schema)
    assert types["external"] == "NotRequired[Any]"
    assert types["weird"] == "NotRequired[Any]"


def test_object_with_properties_and_additional_properties_documents_extra_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"fixed": {"type": "string"}},
        "additionalProperties": {"type": "number"},
    }
    source = _tool_module(schema)
    assert "additional keys are allowed too, with values of type float" in source


def test_output_schema_gives_the_return_type_and_the_sdk_wrapper_is_unwrapped() -> None:
    output = {"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}
    namespace = _exec(_tool_module({"type": "object"}, output))
    assert inspect.signature(namespace["probe"]).return_annotation is namespace["ProbeOutput"]
    wrapped = {
        "type": "object",
        "title": "probeOutput",
        "properties": {"result": {"type": "array", "items": {"type": "string"}}},
        "required": ["result"],
    }
    namespace = _exec(_tool_module({"type": "object"}, wrapped))
    assert inspect.signature(namespace["probe"]).return_annotation == list[str]
    namespace = _exec(_tool_module({"type": "object"}))
    assert inspect.signature(namespace["probe"]).return_annotation is runtime.ToolResult


def test_docstring_documents_the_tool_and_every_parameter() -> None:
    schema = {
        "type": "object",
        "properties": {
            "owner": {"type": "string", "description": "Repository owner."},
            "per_page": {"type": "integer", "default": 30, "minimum": 1, "maximum": 100},
            "state": {"type": "string", "enum": ["open", "closed"], "description": "Filter by state"},
        },
        "required": ["owner"],
    }
    namespace = _exec(_tool_module(schema, title="List issues", description="List the issues of a repository."))
    doc = inspect.getdoc(namespace["probe"]) or ""
    assert doc.startswith("List issues\n\nList the issues of a repository.")
    assert "owner (str, required): Repository owner." in doc
    assert "per_page (int, optional): Default: 30. (minimum: 1, maximum: 100)" in doc
    assert 'state (Literal["open", "closed"], optional): Filter by state.' in doc
    assert "Returns:\n    ToolResult" in doc


# -- real servers ----------------------------------------------------------------------------------------------


@contextmanager
def imported(root: Path) -> Iterator[ModuleType]:
    """Import a generated ``servers`` package from ``root``'s parent, and forget it afterwards."""
    sys.path.insert(0, str(root.parent))
    try:
        yield importlib.import_module(root.name)
    finally:
        sys.path.remove(str(root.parent))
        for name in [n for n in sys.modules if n == root.name or n.startswith(root.name + ".")]:
            del sys.modules[name]


@pytest.fixture
def tool_caller_to(request: pytest.FixtureRequest) -> Iterator[Any]:
    previous = runtime.set_tool_caller(None)
    yield lambda hub: runtime.set_tool_caller(hub.call_tool)
    runtime.set_tool_caller(previous)


@pytest.mark.anyio
async def test_generated_wrappers_call_the_real_servers(tmp_path: Path, tool_caller_to: Any) -> None:
    async with MCPHub({"test": testserver_config(), "raw": rawserver_config()}) as hub:
        package = generate_package(hub.catalog, tmp_path / "servers")
        assert package.tools == len(hub.catalog)
        tool_caller_to(hub)
        with imported(package.root) as servers:
            test = importlib.import_module("servers.test")
            issue = await test.create_issue(owner="o", repo="r", title="t", labels=[{"name": "bug", "color": "blue"}])
            assert issue["number"] == 42
            assert issue["labels"] == [{"name": "bug", "color": "blue"}]
            seed_style = await test.create_issue({"owner": "o", "repo": "r", "title": "seed"})
            assert seed_style["title"] == "o/r: seed"
            assert await test.add(a=2, b=5) == {"total": 7.0}
            assert await test.echo(text="plain") == "plain"
            raw = importlib.import_module("servers.raw")
            echoed = await raw.echo_args(from_="2026-01-01", per_page=5, class_="a", arguments_="x", ok_name=True)
            assert echoed == {"from": "2026-01-01", "per-page": 5, "class": "a", "arguments": "x", "ok_name": True}
            with pytest.raises(TypeError, match="given twice"):
                await raw.echo_args({"from": "x"}, from_="y")
            assert "servers.test" in servers.__doc__ if servers.__doc__ else False


def test_help_reads_like_documentation(tmp_path: Path) -> None:
    catalog = Catalog.from_wire(
        {
            "files": [
                {
                    "name": "read-file",
                    "title": "Read file",
                    "description": "Read a file.\n\nReturns its text.",
                    "inputSchema": {
                        "type": "object",
                        "properties": {"path": {"type": "string", "description": "Path to read."}},
                        "required": ["path"],
                    },
                }
            ]
        }
    )
    package = generate_package(catalog, tmp_path / "servers")
    with imported(package.root):
        files = importlib.import_module("servers.files")
        text = pydoc.render_doc(files.read_file, renderer=pydoc.TextDoc())
    assert "Read file" in text
    assert "Returns its text." in text
    assert "path (str, required): Path to read." in text
    assert "MCP tool 'read-file' of server 'files'." in text


def test_generation_is_deterministic_and_order_independent(tmp_path: Path) -> None:
    wire = [
        {"name": f"tool-{i}", "description": f"Tool {i}.", "inputSchema": {"type": "object", "properties": {}}}
        for i in range(20)
    ]
    first = render_package(Catalog.from_wire({"a": wire, "b": wire[:3]}))
    second = render_package(Catalog.from_wire({"a": list(reversed(wire)), "b": wire[:3]}))
    assert first == second
    one = generate_package(Catalog.from_wire({"a": wire}), tmp_path / "one")
    two = generate_package(Catalog.from_wire({"a": list(reversed(wire))}), tmp_path / "two")
    assert [p.read_bytes() for p in one.files] == [p.read_bytes() for p in two.files]


def test_generate_refuses_a_foreign_directory_and_replaces_its_own(tmp_path: Path) -> None:
    catalog = Catalog.from_wire({"a": [{"name": "x", "inputSchema": {"type": "object"}}]})
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    with pytest.raises(MCPExecError, match="not a package generated by mcpexec"):
        generate_package(catalog, foreign)
    assert (foreign / "notes.txt").read_text() == "precious"
    target = tmp_path / "servers"
    generate_package(Catalog.from_wire({"a": [{"name": "old", "inputSchema": {}}]}), target)
    generate_package(catalog, target)
    assert sorted(p.name for p in (target / "a").iterdir()) == ["__init__.py", "x.py"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


@pytest.mark.anyio
@pytest.mark.npm
async def test_real_npm_servers_generate_compiling_typed_packages(
    tmp_path: Path, everything_server: Any, filesystem_server: Any, memory_server: Any
) -> None:
    servers = {"everything": everything_server, "filesystem": filesystem_server, "memory": memory_server}
    async with MCPHub(servers) as hub:
        package = generate_package(hub.catalog, tmp_path / "servers")
    for path in package.files:
        source = path.read_text(encoding="utf-8")
        compile(source, str(path), "exec")
    with imported(package.root):
        memory = importlib.import_module("servers.memory")
        doc = inspect.getdoc(memory.create_entities) or ""
        assert "entities" in doc
        everything = importlib.import_module("servers.everything")
        assert callable(everything.get_sum)
        assert json.loads(json.dumps(everything.__all__))


REAL_CATALOG = Path(__file__).parent / "data" / "real_catalog.json"


def test_real_catalog_generates_a_package_that_compiles_and_passes_pyright(tmp_path: Path) -> None:
    catalog = Catalog.load(REAL_CATALOG)
    package = generate_package(catalog, tmp_path / "servers")
    assert package.tools == len(catalog) >= 300
    for path in package.files:
        compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
    pyright = Path(sys.executable).parent / "pyright"
    if not pyright.exists():
        pytest.skip("pyright is installed by .ci/setup")
    config = {"typeCheckingMode": "basic", "include": ["servers"], "pythonVersion": "3.11"}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run(
        [str(pyright), "-p", str(tmp_path), "--pythonpath", sys.executable, "--outputjson"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    problems = [d for d in report["generalDiagnostics"] if d["severity"] in ("error", "warning")]
    assert problems == []
    assert report["summary"]["filesAnalyzed"] == len(package.files)
