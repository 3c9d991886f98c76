"""Compiled JSON Schema validators for tools' input and output schemas, and other facts derived from schemas,
cached per schema object.

Compiling a validator costs far more than using it, and a tool's schemas are checked on every call. A cache is
keyed by the schema object's identity and holds the object itself, so an identity the interpreter reuses for a
new schema can never pick up a stale validator. A schema that is not valid JSON Schema gets no validator (the
server got it wrong, not the caller): values are then not checked here, and the server judges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import jsonschema.validators
import referencing.exceptions

__all__ = ["UNCHECKABLE", "PerSchema", "compiled", "first_problem"]

Validator = jsonschema.protocols.Validator

UNCHECKABLE: tuple[type[BaseException], ...] = (
    referencing.exceptions.Unresolvable,
    jsonschema.exceptions.SchemaError,
    RecursionError,
    LookupError,
)
"""What validating against a schema that compiled may still raise (a ``$ref`` that does not resolve, ...)."""

_MAX_CACHED = 10_000
T = TypeVar("T")


class PerSchema(Generic[T]):
    """``compute(schema)``, remembered per schema object (see the module docstring): call it with the schema."""

    def __init__(self, compute: Callable[[Mapping[str, Any]], T]) -> None:
        self._compute = compute
        self._cache: dict[int, tuple[Mapping[str, Any], T]] = {}

    def __call__(self, schema: Mapping[str, Any]) -> T:
        cached = self._cache.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        value = self._compute(schema)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[id(schema)] = (schema, value)
        return value


def _compile(schema: Mapping[str, Any]) -> Validator | None:
    """The validator for ``schema`` (draft from its ``$schema``, else 2020-12), or ``None`` if it is invalid."""
    try:
        cls: type[Validator] = jsonschema.validators.validator_for(  # pyright: ignore[reportUnknownMemberType]
            schema, default=jsonschema.Draft202012Validator
        )
        document = dict(schema)
        cls.check_schema(document)
        return cls(document)
    except (jsonschema.exceptions.SchemaError, jsonschema.exceptions.UnknownType, TypeError, ValueError):
        return None


compiled: PerSchema[Validator | None] = PerSchema(_compile)
"""The validator for a schema (draft from its ``$schema``, else 2020-12), or ``None`` if it is invalid."""


def first_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` does not match ``schema`` (the most relevant error), or ``None`` when it matches or the
    schema cannot be checked."""
    validator = compiled(schema)
    if validator is None:
        return None
    try:
        if validator.is_valid(value):
            return None
        found: object = jsonschema.exceptions.best_match(validator.iter_errors(value))  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    except UNCHECKABLE:
        return None
    if not isinstance(found, jsonschema.exceptions.ValidationError):
        return None
    where = "/".join(str(part) for part in cast(Iterable[object], found.absolute_path))
    message = str(cast(object, found.message))
    return f"{message} (at {where})" if where else message
