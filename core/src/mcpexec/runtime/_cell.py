"""Running one cell of agent code in the guest, like a notebook: persistent globals, top-level ``await``, the
last expression's value reported like a REPL, and errors reported with a traceback of the user's code only."""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
import linecache
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType
from typing import Any

__all__ = ["CellError", "CellOutcome", "CellRunner", "user_traceback"]

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_MAX_VALUE_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class CellError:
    """An exception raised by user code: its type name, message and a traceback of user frames only."""

    type: str
    message: str
    traceback: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True, slots=True)
class CellOutcome:
    """The REPL value (``repr``, ``None`` when the cell ends in a statement or ``None``) or the error."""

    value: str | None
    error: CellError | None


def _hidden_prefixes() -> tuple[str, ...]:
    """Files whose frames are plumbing, not user code: this runtime, mcpexec itself, the generated wrappers and
    asyncio's machinery that runs top-level ``await``."""
    runtime_dir = os.path.dirname(os.path.abspath(__file__))
    package_dir = os.path.dirname(runtime_dir)
    lib_dir = os.path.dirname(package_dir)
    return (
        package_dir + os.sep,
        os.path.join(lib_dir, "servers") + os.sep,
        os.path.dirname(asyncio.__file__) + os.sep,
    )


_HIDDEN = _hidden_prefixes()


def _is_user_frame(filename: str) -> bool:
    return not os.path.abspath(filename).startswith(_HIDDEN) if not filename.startswith("<") else True


def _filter(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if _is_user_frame(f.filename)])
    linked: Iterable[traceback.TracebackException | None] = (te.__cause__, te.__context__)
    for other in (*linked, *(getattr(te, "exceptions", None) or ())):
        if other is not None:
            _filter(other, seen)


def user_traceback(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` (and its causes) without runtime, wrapper or asyncio frames."""
    te = traceback.TracebackException.from_exception(exc)
    _filter(te, set())
    return "".join(te.format())


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__") or cls.__module__.startswith("mcpexec."):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _error(exc: BaseException) -> CellError:
    try:
        message = str(exc)
    except Exception as str_failed:  # a user exception whose __str__ raises
        message = f"<str() failed: {type(str_failed).__name__}>"
    return CellError(_type_name(exc), message, user_traceback(exc))


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr() failed: {type(exc).__name__}: {exc}>"
    if len(text) > _MAX_VALUE_CHARS:
        text = text[:_MAX_VALUE_CHARS] + f"... [{len(text) - _MAX_VALUE_CHARS:,} more characters]"
    return text


class CellRunner:
    """Runs cells in one persistent namespace (the guest's ``__main__``)."""

    def __init__(self, namespace: dict[str, Any] | None = None) -> None:
        self.namespace: dict[str, Any] = namespace if namespace is not None else {}
        self.namespace.setdefault("__name__", "__main__")
        self.namespace.setdefault("__builtins__", builtins)
        self.count = 0

    def _compile(self, source: str) -> tuple[CodeType | None, CodeType | None]:
        self.count += 1
        filename = f"<cell {self.count}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        tree = compile(source, filename, "exec", ast.PyCF_ONLY_AST | _FLAGS, dont_inherit=True)
        assert isinstance(tree, ast.Module)
        last: ast.expr | None = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            statement = tree.body.pop()
            assert isinstance(statement, ast.Expr)
            last = statement.value
        body = compile(tree, filename, "exec", _FLAGS, dont_inherit=True) if tree.body else None
        expression = None
        if last is not None:
            expression = compile(ast.Expression(last), filename, "eval", _FLAGS, dont_inherit=True)
        return body, expression

    async def _evaluate(self, code: CodeType) -> Any:
        result = eval(code, self.namespace)  # the agent's own code, in the sandbox
        if code.co_flags & inspect.CO_COROUTINE:
            result = await result
        return result

    async def run(self, source: str) -> CellOutcome:
        """Run ``source``; never raises for what the user's code does."""
        try:
            body, expression = self._compile(source)
        except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
            return CellOutcome(None, CellError(type(exc).__name__, str(exc), "".join(_format_only(exc))))
        try:
            if body is not None:
                await self._evaluate(body)
            if expression is None:
                return CellOutcome(None, None)
            value = await self._evaluate(expression)
        except (Exception, SystemExit, asyncio.CancelledError, GeneratorExit) as exc:
            return CellOutcome(None, _error(exc))
        if value is None:
            return CellOutcome(None, None)
        self.namespace["_"] = value
        return CellOutcome(_short_repr(value), None)


def _format_only(exc: BaseException) -> list[str]:
    return traceback.format_exception_only(type(exc), exc)
