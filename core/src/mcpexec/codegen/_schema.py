"""JSON Schema → a small typed tree that the renderer turns into stdlib type expressions.

The converter never fails: a construct it cannot type becomes a wider type (``Any``, ``dict[str, Any]``,
``list[Any]``) carrying a note that the renderer writes as a comment. Names it makes up are always our own
identifiers; server text stays data in the tree (strings, literal values) for the escaping table to render.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

__all__ = [
    "AnyType",
    "Field",
    "ListOf",
    "LiteralOf",
    "MappingOf",
    "NamedDict",
    "Prim",
    "SchemaConverter",
    "TypeNode",
    "TypedDictDef",
    "UnionOf",
    "union",
]

LiteralValue: TypeAlias = str | int | bool | None

MAX_DEPTH = 24


@dataclass(frozen=True, slots=True)
class Prim:
    """A builtin: ``str``, ``int``, ``float``, ``bool`` or ``None``."""

    name: str


@dataclass(frozen=True, slots=True)
class AnyType:
    """Anything; ``note`` says why a narrower type was not possible (``None``: the schema allows anything)."""

    note: str | None = None


@dataclass(frozen=True, slots=True)
class ListOf:
    item: TypeNode


@dataclass(frozen=True, slots=True)
class MappingOf:
    value: TypeNode


@dataclass(frozen=True, slots=True)
class LiteralOf:
    values: tuple[LiteralValue, ...]


@dataclass(frozen=True, slots=True)
class UnionOf:
    members: tuple[TypeNode, ...]


@dataclass(frozen=True, slots=True)
class NamedDict:
    """A reference to a TypedDict defined in the same module."""

    name: str


TypeNode: TypeAlias = Prim | AnyType | ListOf | MappingOf | LiteralOf | UnionOf | NamedDict


@dataclass(slots=True)
class Field:
    """One property of an object schema."""

    key: str
    type: TypeNode
    required: bool
    description: str = ""
    default: Any = None
    has_default: bool = False
    constraints: tuple[str, ...] = ()


@dataclass(slots=True)
class TypedDictDef:
    """An object schema rendered as a TypedDict."""

    name: str
    description: str
    fields: list[Field] = field(default_factory=list[Field])
    extra: TypeNode | None = None  # additionalProperties beside the declared ones
    notes: list[str] = field(default_factory=list[str])


def _pascal(text: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text))
    name = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not name or not name[0].isalpha():
        name = "T" + name
    return name


def _as_mapping(value: object) -> Mapping[str, Any] | None:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else None


def _as_list(value: object) -> list[Any] | None:
    return cast(list[Any], value) if isinstance(value, list) else None


_CONSTRAINT_KEYS = (
    ("format", "format"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("exclusiveMinimum", "exclusive minimum"),
    ("exclusiveMaximum", "exclusive maximum"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("pattern", "pattern"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
)


def _constraints(schema: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for key, label in _CONSTRAINT_KEYS:
        value = schema.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found.append(f"{label}: {value}")
    return tuple(found)


class SchemaConverter:
    """Converts the schemas of one tool module; owns the module's TypedDict names (unique, our own)."""

    def __init__(self, reserved: Sequence[str] = ()) -> None:
        self.definitions: list[TypedDictDef] = []
        self._taken: set[str] = set(reserved)
        self._refs: dict[tuple[str, str], TypeNode] = {}
        self._in_progress: set[tuple[str, str]] = set()

    # -- names -----------------------------------------------------------------------------------------------------

    def _new_name(self, hint: str) -> str:
        base = _pascal(hint)[:60]
        name, n = base, 2
        while name in self._taken:
            name, n = f"{base}{n}", n + 1
        self._taken.add(name)
        return name

    # -- entry point -------------------------------------------------------------------------------------------------

    def convert(self, schema: object, name_hint: str, doc: str = "") -> TypeNode:
        """The type of ``schema``; object schemas become TypedDicts named after ``name_hint``.

        ``doc`` documents the top-level TypedDict when the schema has no description of its own.
        """
        root = _as_mapping(schema)
        if root is None:
            return AnyType("schema is not an object" if schema is not None else None)
        before = len(self.definitions)
        node = self._convert(root, root, name_hint, 0)
        if isinstance(node, NamedDict) and doc:
            for definition in self.definitions[before:]:
                if definition.name == node.name and not definition.description:
                    definition.description = doc
        return node

    # -- conversion --------------------------------------------------------------------------------------------------

    def _convert(self, schema: Mapping[str, Any], root: Mapping[str, Any], hint: str, depth: int) -> TypeNode:
        if depth > MAX_DEPTH:
            return AnyType(f"nested deeper than {MAX_DEPTH} levels")
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._resolve_ref(ref, root, depth)
        node = self._convert_plain(schema, root, hint, depth)
        if schema.get("nullable") is True:
            node = union([node, Prim("None")])
        return node

    def _convert_plain(self, schema: Mapping[str, Any], root: Mapping[str, Any], hint: str, depth: int) -> TypeNode:
        if "const" in schema:
            return _literal([schema["const"]]) or AnyType("const value cannot be a Literal")
        enum = _as_list(schema.get("enum"))
        if enum is not None:
            return _literal(enum) or self._by_type(schema, root, hint, depth) or AnyType("enum of non-literal values")
        for key in ("anyOf", "oneOf"):
            options = _as_list(schema.get(key))
            if options:
                members = [
                    self._convert(option, root, f"{hint}Option{i + 1}", depth + 1)
                    if (option := _as_mapping(item)) is not None
                    else AnyType(f"{key} entry is not a schema")
                    for i, item in enumerate(options)
                ]
                return union(members)
        all_of = _as_list(schema.get("allOf"))
        if all_of:
            return self._all_of(schema, all_of, root, hint, depth)
        typed = self._by_type(schema, root, hint, depth)
        return typed if typed is not None else AnyType()

    def _by_type(self, schema: Mapping[str, Any], root: Mapping[str, Any], hint: str, depth: int) -> TypeNode | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in cast(list[Any], kind) if isinstance(k, str)]
            if not kinds:
                return AnyType("type list without type names")
            return union([self._single_type(k, schema, root, hint, depth) for k in kinds])
        if isinstance(kind, str):
            return self._single_type(kind, schema, root, hint, depth)
        if "properties" in schema or "additionalProperties" in schema:
            return self._single_type("object", schema, root, hint, depth)
        if "items" in schema:
            return self._single_type("array", schema, root, hint, depth)
        return None

    def _single_type(
        self, kind: str, schema: Mapping[str, Any], root: Mapping[str, Any], hint: str, depth: int
    ) -> TypeNode:
        simple = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
        if kind in simple:
            return Prim(simple[kind])
        if kind == "array":
            items = _as_mapping(schema.get("items"))
            if items is None:
                note = "tuple-style items" if isinstance(schema.get("items"), list) else None
                return ListOf(AnyType(note))
            return ListOf(self._convert(items, root, f"{hint}Item", depth + 1))
        if kind == "object":
            return self._object(schema, root, hint, depth)
        return AnyType("unknown 'type' value")

    def _extra(self, schema: Mapping[str, Any], root: Mapping[str, Any], hint: str, depth: int) -> TypeNode | None:
        extra = schema.get("additionalProperties")
        if extra is False:
            return None
        extra_schema = _as_mapping(extra)
        if extra_schema is not None:
            return self._convert(extra_schema, root, f"{hint}Value", depth + 1)
        return AnyType()

    def _object(self, schema: Mapping[str, Any], root: Mapping[str, Any], hint: str, depth: int) -> TypeNode:
        properties = _as_mapping(schema.get("properties"))
        if not properties:
            extra = self._extra(schema, root, hint, depth)
            return MappingOf(extra if extra is not None else AnyType())
        definition = TypedDictDef(name=self._new_name(hint), description=_text(schema.get("description")))
        self.definitions.append(definition)
        self._fill(definition, schema, properties, root, depth)
        return NamedDict(definition.name)

    def _fill(
        self,
        definition: TypedDictDef,
        schema: Mapping[str, Any],
        properties: Mapping[str, Any],
        root: Mapping[str, Any],
        depth: int,
    ) -> None:
        required_list = _as_list(schema.get("required")) or []
        required = {r for r in required_list if isinstance(r, str)}
        for key, raw in properties.items():
            prop = _as_mapping(raw)
            if prop is None:
                node: TypeNode = AnyType(None if raw is True else "property schema is not an object")
                definition.fields.append(Field(key=key, type=node, required=key in required))
                continue
            node = self._convert(prop, root, f"{definition.name}_{key}", depth + 1)
            definition.fields.append(
                Field(
                    key=key,
                    type=node,
                    required=key in required,
                    description=_text(prop.get("description")) or _text(prop.get("title")),
                    default=prop.get("default"),
                    has_default="default" in prop,
                    constraints=_constraints(prop),
                )
            )
        if schema.get("additionalProperties") not in (None, False):
            definition.extra = self._extra(schema, root, definition.name, depth)

    def _all_of(
        self, schema: Mapping[str, Any], parts: list[Any], root: Mapping[str, Any], hint: str, depth: int
    ) -> TypeNode:
        merged_properties: dict[str, Any] = {}
        merged_required: list[str] = []
        for part in parts:
            resolved = self._deref(_as_mapping(part), root)
            if resolved is None or not (_as_mapping(resolved.get("properties")) or resolved.get("type") == "object"):
                return AnyType("allOf of non-object schemas")
            merged_properties.update(_as_mapping(resolved.get("properties")) or {})
            merged_required.extend(r for r in _as_list(resolved.get("required")) or [] if isinstance(r, str))
        merged_properties.update(_as_mapping(schema.get("properties")) or {})
        merged_required.extend(r for r in _as_list(schema.get("required")) or [] if isinstance(r, str))
        combined = {"type": "object", "properties": merged_properties, "required": merged_required}
        if "description" in schema:
            combined["description"] = schema["description"]
        return self._object(combined, root, hint, depth)

    # -- references --------------------------------------------------------------------------------------------------

    def _lookup(self, ref: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if not ref.startswith("#/"):
            return None
        node: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            mapping = _as_mapping(node)
            if mapping is None or part not in mapping:
                return None
            node = mapping[part]
        return _as_mapping(node)

    def _deref(self, schema: Mapping[str, Any] | None, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
        seen: set[str] = set()
        while schema is not None and isinstance(schema.get("$ref"), str):
            ref = cast(str, schema["$ref"])
            if ref in seen:
                return None
            seen.add(ref)
            schema = self._lookup(ref, root)
        return schema

    def _resolve_ref(self, ref: str, root: Mapping[str, Any], depth: int) -> TypeNode:
        target = self._lookup(ref, root)
        if target is None:
            return AnyType("unresolvable $ref")
        # the same definition reached from the input and the output schema is one TypedDict
        key = (ref, json.dumps(target, sort_keys=True, default=str))
        if key in self._refs:
            return self._refs[key]
        hint = ref.rsplit("/", 1)[-1] or "Ref"
        is_object = target.get("type") == "object" or isinstance(target.get("properties"), Mapping)
        if is_object and "$ref" not in target and "allOf" not in target and "anyOf" not in target:
            # named up front so that recursive references resolve to the same TypedDict
            properties = _as_mapping(target.get("properties")) or {}
            definition = TypedDictDef(name=self._new_name(hint), description=_text(target.get("description")))
            self._refs[key] = NamedDict(definition.name)
            self.definitions.append(definition)
            self._fill(definition, target, properties, root, depth)
            return NamedDict(definition.name)
        if key in self._in_progress:
            return AnyType("recursive non-object $ref")
        self._in_progress.add(key)
        try:
            node = self._convert(target, root, hint, depth + 1)
        finally:
            self._in_progress.discard(key)
        self._refs[key] = node
        return node


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _literal(values: list[Any]) -> LiteralOf | None:
    """``Literal[...]`` of str/int/bool/None values (floats and containers cannot be Literal members)."""
    kept: list[LiteralValue] = []
    seen: set[tuple[type, LiteralValue]] = set()
    for value in values:
        if not (value is None or isinstance(value, str | bool) or (isinstance(value, int) and abs(value) < 2**63)):
            return None
        marker = (type(value), value)  # 1 and True are different literals
        if marker not in seen:
            seen.add(marker)
            kept.append(value)
    return LiteralOf(tuple(kept)) if kept else None


def _flatten(members: list[TypeNode]) -> Iterator[TypeNode]:
    for member in members:
        if isinstance(member, UnionOf):
            yield from member.members
        else:
            yield member


def union(members: list[TypeNode]) -> TypeNode:
    """The union of ``members``, flattened and deduplicated (``Any`` absorbs everything)."""
    unique: list[TypeNode] = []
    for member in _flatten(members):
        if isinstance(member, AnyType):
            return member
        if member not in unique:
            unique.append(member)
    if len(unique) == 1:
        return unique[0]
    return UnionOf(tuple(unique))
