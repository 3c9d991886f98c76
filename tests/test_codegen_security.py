"""Server-provided text never becomes code: a property-based attack on the wrapper generator.

For 10,000 adversarial catalogs (quotes, triple quotes, backslashes, newlines, NUL, ``__import__`` payloads,
bidi overrides, lone surrogates, 10 KB strings, deep nesting, hostile ``$ref``s, enum values and defaults), every
generated file must compile, import and run without executing any of it, keep the server's strings exact as data,
and contain only the code shapes the generator itself writes.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpexec.catalog import Catalog
from mcpexec.codegen import render_package

MARK = "MCPEXEC_PWNED"
PAYLOADS = [
    '"""',
    "'''",
    '"',
    "'",
    "\\",
    "\\x41",
    "\\N{BULLET}",
    "\n",
    "\r\n",
    "\x00",
    "\x0c",
    "\u202e",
    "\u2028",
    "\ud800",
    "{",
    "}",
    "#",
    f"__import__('builtins').__setattr__('{MARK}', 1)",
    f'"""); __import__("builtins").__setattr__("{MARK}", 1); ("""',
    f"'\n__import__('builtins').__setattr__('{MARK}', 1)\n#",
    f'"\nimport builtins; builtins.{MARK} = 1\n"',
    f"\\\n{MARK} = 1",
    f"*/ {MARK} = 1; /*",
    "__init__",
    "class",
    "None",
    "0day",
    "a-b.c/d",
    "工具",
    "😀",
]

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(PAYLOADS),
    st.lists(st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=8)), max_size=6).map("".join),
)
long_texts = st.one_of(texts, st.sampled_from(PAYLOADS).map(lambda p: (p + "x") * (10_240 // (len(p) + 1) + 1)))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)

leaf_schemas = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(["string", "integer", "number", "boolean", "null", "object", "array"]),
            texts,
            st.lists(st.sampled_from(["string", "null", "integer"]), max_size=3),
        ),
        "description": long_texts,
        "title": texts,
        "default": json_values,
        "enum": st.lists(json_scalars, max_size=4),
        "const": json_scalars,
        "format": texts,
        "pattern": texts,
        "nullable": st.booleans(),
        "$ref": st.one_of(texts, st.sampled_from(["#/$defs/A", "#/$defs/B", "#", "#/properties"])),
    },
)


def _object(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda props, required, extra, description: {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": extra,
            "description": description,
        },
        st.dictionaries(texts, children, max_size=4),
        st.lists(texts, max_size=3),
        st.one_of(st.booleans(), children),
        texts,
    )


schemas = st.recursive(
    leaf_schemas,
    lambda children: st.one_of(
        _object(children),
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(lambda options: {"anyOf": options}, st.lists(children, max_size=3)),
        st.builds(lambda parts: {"allOf": parts}, st.lists(children, max_size=3)),
    ),
    max_leaves=8,
)


def _deep(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": '"""deep"""'}
    for level in range(depth):
        schema = (
            {"type": "object", "properties": {f"level-{level}": schema}}
            if level % 2
            else {"type": "array", "items": schema}
        )
    return schema


input_schemas = st.one_of(
    _object(schemas),
    st.builds(
        lambda root, defs: {**root, "$defs": defs},
        _object(schemas),
        st.fixed_dictionaries({"A": _object(schemas), "B": schemas}),
    ),
    st.integers(min_value=20, max_value=80).map(lambda d: {"type": "object", "properties": {"x": _deep(d)}}),
    schemas,
)
tools = st.fixed_dictionaries(
    {"name": texts.filter(bool), "inputSchema": input_schemas},
    optional={"description": long_texts, "title": texts, "outputSchema": schemas},
)

ALLOWED_CALLS = {"TypedDict", "_call_mcp_tool", "_merge_arguments"}
ALLOWED_IMPORTS = {"typing", "mcpexec.runtime"}
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_structure(tree: ast.Module, path: str) -> None:
    """Only the shapes the generator writes: imports from typing/runtime, classes, defs, literals, names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1 or node.module in ALLOWED_IMPORTS, (path, ast.unparse(node))
        elif isinstance(node, ast.Import):
            raise AssertionError(f"{path}: plain import {ast.unparse(node)}")
        elif isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name), (path, ast.unparse(node))
            assert node.func.id in ALLOWED_CALLS, (path, ast.unparse(node))
        elif isinstance(node, ast.Attribute):
            assert node.attr == "__doc__", (path, ast.unparse(node))
        elif isinstance(node, ast.Name | ast.arg | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = node.id if isinstance(node, ast.Name) else node.arg if isinstance(node, ast.arg) else node.name
            assert SAFE_NAME.match(name), (path, name)
        elif isinstance(
            node, ast.Lambda | ast.JoinedStr | ast.ListComp | ast.DictComp | ast.GeneratorExp | ast.Global | ast.Delete
        ):
            raise AssertionError(f"{path}: unexpected {type(node).__name__}")


def _run_module(source: str, name: str) -> dict[str, Any]:
    module = ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(source, name, "exec", dont_inherit=True), module.__dict__)
        return module.__dict__
    finally:
        del sys.modules[name]


def _words(text: str) -> str:
    """Whitespace-insensitive form; lone surrogates read as U+FFFD (as in generated docstrings)."""
    return " ".join(re.sub("[\ud800-\udfff]", "\ufffd", text).split())


@pytest.mark.timeout(900)
@settings(
    max_examples=int(os.environ.get("SECURITY_EXAMPLES", "10000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(server=texts.filter(bool), tool=tools)
def test_server_text_never_becomes_code(server: str, tool: dict[str, Any]) -> None:
    catalog = Catalog.from_wire({server: [tool]})
    files = render_package(catalog)
    spec = catalog.tools(server)[0] if catalog.tools(server) else None
    for path, source in files.items():
        tree = ast.parse(source)  # also proves it compiles below
        _check_structure(tree, path)
        compile(source, path, "exec", dont_inherit=True)
        if spec is None or path.endswith("__init__.py"):
            continue
        namespace = _run_module(source, "generated_under_attack")
        assert namespace["_TOOL"] == spec.name
        assert namespace["_SERVER"] == spec.server
        function = namespace[spec.identifier]
        doc = function.__doc__ or ""
        if spec.description.strip():
            assert _words(spec.description) in _words(doc)
    assert not hasattr(builtins, MARK)
