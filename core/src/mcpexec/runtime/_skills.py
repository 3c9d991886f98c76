"""Skills in the guest: verify a skill where it will run, then ask the host to save it.

Verification happens here, in the sandbox, never on the host: the source must compile, import as a module
(``skills.<name>``) and define the function ``<name>``; an example call, when given, must run (awaited when it
is a coroutine, in an event loop of its own so the busy cell's loop is not needed).
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import sys
import threading
import types
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["SkillError", "forget_module", "verify_skill"]

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class SkillError(ValueError):
    """The skill does not compile, import, define its function, or its example fails."""


def _load(name: str, source: str) -> types.ModuleType:
    try:
        code = compile(source, f"<skill {name}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise SkillError(f"the skill does not compile: line {exc.lineno}: {exc.msg}") from None
    module = types.ModuleType(f"skills.{name}")
    module.__file__ = f"<skill {name}>"
    try:
        exec(code, module.__dict__)  # the agent's own code, in the sandbox
    except Exception as exc:
        raise SkillError(f"the skill fails on import: {type(exc).__name__}: {exc}") from exc
    if not callable(module.__dict__.get(name)):
        raise SkillError(f"the skill must define a function named {name!r}")
    return module


def _run_in_own_loop(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Await ``make()`` in a fresh event loop on a helper thread (the cell's own loop is busy running the cell)."""
    box: list[Any] = []
    failure: list[BaseException] = []

    async def evaluate() -> Any:
        return await make()

    def work() -> None:
        try:
            box.append(asyncio.run(evaluate()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work, name="mcpexec-skill-example", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return box[0] if box else None


def verify_skill(name: str, source: str, example: str | None) -> Any:
    """Check that the skill loads and its example runs; returns the example's value (``None`` without one)."""
    module = _load(name, source)
    if not example:
        return None
    namespace: dict[str, Any] = {"__builtins__": __builtins__, **module.__dict__}
    try:
        code = compile(example, f"<example of {name}>", "eval", _FLAGS, dont_inherit=True)
    except SyntaxError:
        try:
            code = compile(example, f"<example of {name}>", "exec", _FLAGS, dont_inherit=True)
        except SyntaxError as exc:
            raise SkillError(f"the example does not compile: {exc.msg}") from None
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            return _run_in_own_loop(lambda: eval(code, namespace))
        value = eval(code, namespace)
        if inspect.iscoroutine(value):  # ``check(...)`` written for an async skill: await it
            return _run_in_own_loop(lambda: value)
        return value
    except Exception as exc:
        raise SkillError(f"the example failed: {type(exc).__name__}: {exc}") from exc


def forget_module(name: str) -> None:
    """Drop a saved or removed skill from the import caches, so the next import sees the new version."""
    for key in [k for k in sys.modules if k == f"skills.{name}" or k.startswith(f"skills.{name}.")]:
        del sys.modules[key]
    if "skills" in sys.modules:
        del sys.modules["skills"]
    importlib.invalidate_caches()
