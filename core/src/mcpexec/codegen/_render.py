"""Typed tree → Python source for one tool module, one server package and the top-level ``servers`` package.

Every piece of server text passes through :mod:`._escape`; every identifier in the output is our own (from the
catalog's identifier rules or :class:`._schema.SchemaConverter`). Comments contain only our own words.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mcpexec.catalog import ToolSpec, assign_identifiers
from mcpexec.codegen._escape import docstring_literal, string_literal
from mcpexec.codegen._schema import (
    AnyType,
    Field,
    ListOf,
    LiteralOf,
    MappingOf,
    NamedDict,
    Prim,
    SchemaConverter,
    TypedDictDef,
    TypeNode,
    UnionOf,
    union,
)
from mcpexec.results import wrapped_result_schema

__all__ = ["RenderedTool", "render_tool"]

# names the generated module binds itself (tool identifiers never start with "_", so the private ones are safe)
_TYPING_NAMES = ("Any", "Literal", "NotRequired", "Required", "TypedDict", "_overload")
_RUNTIME_NAMES = ("ToolResult", "_call_mcp_tool", "_merge_arguments")
_RESERVED = frozenset({*_TYPING_NAMES, *_RUNTIME_NAMES, "annotations", "arguments", "kwargs"})
_MAX_DEFAULT_CHARS = 200


def type_expr(node: TypeNode) -> str:
    """The Python type expression of a tree node (our identifiers and escaped literals only)."""
    if isinstance(node, Prim):
        return node.name
    if isinstance(node, AnyType):
        return "Any"
    if isinstance(node, ListOf):
        return f"list[{type_expr(node.item)}]"
    if isinstance(node, MappingOf):
        return f"dict[str, {type_expr(node.value)}]"
    if isinstance(node, LiteralOf):
        return "Literal[" + ", ".join(_literal_value(v) for v in node.values) + "]"
    if isinstance(node, UnionOf):
        return " | ".join(type_expr(m) for m in node.members)
    return node.name


def _walk(node: TypeNode) -> Iterator[TypeNode]:
    """``node`` and every node inside it."""
    yield node
    children: tuple[TypeNode, ...] = ()
    if isinstance(node, ListOf):
        children = (node.item,)
    elif isinstance(node, MappingOf):
        children = (node.value,)
    elif isinstance(node, UnionOf):
        children = node.members
    for child in children:
        yield from _walk(child)


def _names_in(node: TypeNode) -> Iterator[str]:
    return (n.name for n in _walk(node) if isinstance(n, NamedDict))


def _annotation(f: Field, defined: set[str]) -> str:
    """A field annotation evaluated at class creation: a type that names a TypedDict not defined yet (a forward
    or recursive reference) is quoted, inside ``NotRequired[...]`` so that optional keys stay optional."""
    expr = type_expr(f.type)
    if any(name not in defined for name in _names_in(f.type)):
        expr = string_literal(expr)
    return expr if f.required else f"NotRequired[{expr}]"


def definition_order(definitions: list[TypedDictDef]) -> list[TypedDictDef]:
    """TypedDicts ordered so that a definition follows the ones it refers to (cycles aside)."""
    by_name = {d.name: d for d in definitions}
    ordered: list[TypedDictDef] = []
    state: dict[str, int] = {}

    def visit(definition: TypedDictDef) -> None:
        if state.get(definition.name):
            return
        state[definition.name] = 1
        for f in definition.fields:
            for name in _names_in(f.type):
                if name in by_name:
                    visit(by_name[name])
        if definition.extra is not None:
            for name in _names_in(definition.extra):
                if name in by_name:
                    visit(by_name[name])
        ordered.append(definition)

    for definition in definitions:
        visit(definition)
    return ordered


def _literal_value(value: str | int | bool | None) -> str:
    return string_literal(value) if isinstance(value, str) else repr(value)


def _notes(node: TypeNode) -> Iterator[str]:
    return (n.note for n in _walk(node) if isinstance(n, AnyType) and n.note)


def _note_comment(node: TypeNode) -> str:
    notes = sorted(set(_notes(node)))
    return f"  # widened: {'; '.join(notes)}" if notes else ""


def _safe_name(key: str) -> bool:
    return key.isidentifier() and key.isascii() and not keyword.iskeyword(key) and not key.startswith("__")


def _keyword_names(fields: list[Field]) -> dict[str, str]:
    """Python keyword-argument name for each property key (the key itself where it can be one).

    Keys that are keywords or clash with the wrapper's own names get a trailing ``_`` (``from`` → ``from_``);
    other keys that are not identifiers are sanitized (``per-page`` → ``per_page``); clashes get ``_2``, ``_3``.
    """
    usable = {f.key for f in fields if _safe_name(f.key) and f.key not in _RESERVED}
    odd = sorted(f.key for f in fields if f.key not in usable)
    suffixed = {k for k in odd if k.isidentifier() and k.isascii()}  # keywords, reserved and dunder names
    sanitized = assign_identifiers([k for k in odd if k not in suffixed], reserved=usable | _RESERVED)
    names = {key: key for key in usable}
    taken = set(usable) | set(_RESERVED)
    for key in odd:
        base = f"{key}_" if key in suffixed else sanitized[key]
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}" if not base.endswith("_") else f"{base}{n}", n + 1
        taken.add(candidate)
        names[key] = candidate
    return names


def _default_text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_DEFAULT_CHARS else text[: _MAX_DEFAULT_CHARS - 1] + "…"


def _render_typeddict(definition: TypedDictDef, defined: set[str]) -> list[str]:
    """One TypedDict; ``defined`` holds the names already defined above it (others are forward references)."""
    lines: list[str] = []
    doc = definition.description or "An object in this tool's schema."
    if all(_safe_name(f.key) for f in definition.fields):
        lines.append(f"class {definition.name}(TypedDict):")
        lines.append("    " + docstring_literal(doc, indent="    "))
        if definition.extra is not None:
            lines.append(f"    # additional keys are allowed too, with values of type {type_expr(definition.extra)}")
        for f in definition.fields:
            lines.append(f"    {f.key}: {_annotation(f, defined)}{_note_comment(f.type)}")
        return lines
    # property names that are not identifiers: the functional syntax, keys as escaped string literals
    if definition.extra is not None:
        lines.append(f"# additional keys are allowed too, with values of type {type_expr(definition.extra)}")
    lines.append(f"{definition.name} = TypedDict(")
    lines.append(f"    {string_literal(definition.name)},")
    lines.append("    {")
    for f in definition.fields:
        lines.append(f"        {string_literal(f.key)}: {_annotation(f, defined)},{_note_comment(f.type)}")
    lines.append("    },")
    lines.append(")")
    lines.append(f"{definition.name}.__doc__ = {string_literal(doc)}")
    return lines


@dataclass(frozen=True, slots=True)
class RenderedTool:
    """One generated tool module."""

    source: str
    signature: str  # the keyword-style signature, for search results and docs


def _param_doc(f: Field, name: str) -> str:
    kind = "required" if f.required else "optional"
    head = f"{name} ({type_expr(f.type)}, {kind})"
    if name != f.key:
        head += f" [sent as '{f.key}']"
    description = f.description.strip()
    if description and description[-1] not in ".!?:;)":
        description += "."
    parts = [description] if description else []
    if f.has_default:
        parts.append(f"Default: {_default_text(f.default)}.")
    if f.constraints:
        parts.append("(" + ", ".join(f.constraints) + ")")
    body = " ".join(parts)
    if not body:
        return f"    {head}"
    indented = body.replace("\n", "\n        ")
    return f"    {head}: {indented}"


def _objects_doc(definitions: list[TypedDictDef]) -> list[str]:
    """The fields of the objects a tool takes or returns, so that ``help(tool)`` alone documents them."""
    lines: list[str] = []
    for definition in definitions:
        lines.append(
            f"    {definition.name}:" + (f" {_first_line(definition.description)}" if definition.description else "")
        )
        ordered = [f for f in definition.fields if f.required] + [f for f in definition.fields if not f.required]
        lines += ["    " + _param_doc(f, f.key) for f in ordered]
        if definition.extra is not None:
            lines.append(f"        (other keys: {type_expr(definition.extra)})")
    return lines


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


def _function_doc(
    tool: ToolSpec, fields: list[Field], names: dict[str, str], returns: str, objects: list[TypedDictDef]
) -> str:
    lines: list[str] = []
    title = (tool.title or "").strip()
    description = tool.description.strip()
    if title:
        lines.append(title)
        if description:
            lines += ["", description]
    else:
        lines.append(description or f"Call the MCP tool {tool.name} of server {tool.server}.")
    lines += ["", f"MCP tool '{tool.name}' of server '{tool.server}'."]
    if fields:
        lines += ["", "Args:"]
        ordered = [f for f in fields if f.required] + [f for f in fields if not f.required]
        lines += [_param_doc(f, names[f.key]) for f in ordered]
    lines += ["", "Returns:", f"    {returns}"]
    if objects:
        lines += ["", "Objects:", *_objects_doc(objects)]
    return "\n".join(lines)


def _pascal_of(identifier: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in identifier.split("_") if part) or "Tool"


def render_tool(tool: ToolSpec) -> RenderedTool:
    """The source of ``servers/<server>/<tool>.py`` for one tool."""
    converter = SchemaConverter(reserved=[*_RESERVED, tool.identifier])
    pascal = _pascal_of(tool.identifier)
    input_node = converter.convert(
        tool.input_schema or {"type": "object"}, f"{pascal}Input", f"Arguments of {tool.identifier}."
    )
    root_definition = (
        next(d for d in converter.definitions if d.name == input_node.name)
        if isinstance(input_node, NamedDict)
        else None
    )
    output_node: TypeNode | None = None
    if tool.output_schema is not None:
        wrapped = wrapped_result_schema(tool.name, tool.output_schema)
        output_node = converter.convert(
            wrapped if wrapped is not None else tool.output_schema, f"{pascal}Output", f"Result of {tool.identifier}."
        )
    returns = type_expr(output_node) if output_node is not None else "ToolResult"

    fields = root_definition.fields if root_definition is not None else []
    names = _keyword_names(fields)
    renamed = {names[f.key]: f.key for f in fields if names[f.key] != f.key}
    name = tool.identifier

    out: list[str] = []
    module_doc = f"MCP tool {tool.name} of server {tool.server} (generated by mcpexec; do not edit)."
    out.append(docstring_literal(module_doc))
    out += ["", "from typing import Any, Literal, NotRequired, TypedDict"]
    out.append("from typing import overload as _overload")
    out += ["", "from mcpexec.runtime import ToolResult", "from mcpexec.runtime import call_mcp_tool as _call_mcp_tool"]
    out += ["from mcpexec.runtime import merge_arguments as _merge_arguments", ""]
    exported = [name, *(d.name for d in converter.definitions)]
    out.append("__all__ = [" + ", ".join(string_literal(n) for n in exported) + "]")
    out += ["", f"_SERVER = {string_literal(tool.server)}", f"_TOOL = {string_literal(tool.name)}"]
    renamed_items = ", ".join(f"{string_literal(k)}: {string_literal(v)}" for k, v in sorted(renamed.items()))
    out.append(f"_RENAMED: dict[str, str] = {{{renamed_items}}}")
    ordered = definition_order(converter.definitions)
    defined: set[str] = set()
    for definition in ordered:
        out += ["", ""]
        out += _render_typeddict(definition, defined)
        defined.add(definition.name)

    output_comment = _note_comment(output_node) if output_node is not None else ""
    input_type = type_expr(input_node)
    optional_input = type_expr(union([input_node, Prim("None")]))  # never "None | None"
    objects = [d for d in ordered if d is not root_definition]
    doc = docstring_literal(_function_doc(tool, fields, names, returns, objects), indent="    ")
    out += ["", ""]
    if output_comment:
        out.append(f"# return type{output_comment[2:]}")
    keyword_params = [f"{names[f.key]}: {type_expr(f.type)}" + ("" if f.required else " = ...") for f in fields]
    if root_definition is not None:  # an object with properties, so there are keyword parameters
        out += [
            "@_overload",
            f"async def {name}(arguments: {input_type}, /) -> {returns}: ...",
            "@_overload",
            f"async def {name}(*, {', '.join(keyword_params)}) -> {returns}: ...",
        ]
        signature = f"async def {name}(*, {', '.join(keyword_params)}) -> {returns}"
    else:
        signature = f"async def {name}(arguments: {optional_input} = None, /, **kwargs: Any) -> {returns}"
    out.append(f"async def {name}(arguments: {optional_input} = None, /, **kwargs: Any) -> {returns}:")
    out.append(f"    {doc}")
    out.append("    return await _call_mcp_tool(_SERVER, _TOOL, _merge_arguments(arguments, kwargs, _RENAMED))")
    return RenderedTool(source="\n".join(out) + "\n", signature=signature)
