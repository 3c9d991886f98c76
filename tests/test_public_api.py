"""The public surface: ``mcpexec.__all__`` pinned, documented names, the error tree, the adapters' packages."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import inspect
import json
import re
import subprocess
import sys
import types
import typing
from typing import Any

import pytest

import mcpexec
import mcpexec.errors as errors
from mcpexec.catalog import SnapshotError, UnknownToolError

PUBLIC_NAMES = [
    "ApprovalGate",
    "ApprovalNeeded",
    "ApprovalRequest",
    "Approved",
    "AudioContent",
    "AuditLog",
    "Catalog",
    "CodeExecutor",
    "ConfigError",
    "DetailLevel",
    "ExecutionError",
    "ExecutionResult",
    "ExecutionTimeout",
    "ExecutorStats",
    "FlowRule",
    "GeneratedPackage",
    "HttpServerConfig",
    "ImageContent",
    "IsolationReport",
    "Limits",
    "LocalSandbox",
    "MCPExecError",
    "MCPHub",
    "PIITokenizer",
    "Policy",
    "PolicyDenied",
    "ResourceContent",
    "ResourceLink",
    "SandboxCrashed",
    "SandboxError",
    "ServerConfig",
    "ServerError",
    "ServerStatus",
    "Skill",
    "SkillStore",
    "SnapshotError",
    "StdioServerConfig",
    "SyncMCPHub",
    "ToolAnnotations",
    "ToolArgumentError",
    "ToolCallError",
    "ToolCallRecord",
    "ToolIndex",
    "ToolSpec",
    "ToolStats",
    "ToolTimeout",
    "UnknownToolError",
    "UsageError",
    "Workspace",
    "__version__",
    "allow_flow",
    "deny_flow",
    "generate_package",
    "http_server",
    "load_config",
    "parse_config",
    "render_package",
    "stdio_server",
]

# import name -> distribution name
DISTRIBUTIONS = {
    "mcpexec": "mcpexec",
    "langchain_mcpexec": "langchain-mcpexec",
    "llama_index.tools.mcpexec": "llama-index-tools-mcpexec",
}


def _own_docstring(obj: object) -> str | None:
    """The docstring written for ``obj`` itself (not one inherited from its type)."""
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__")
        return doc if isinstance(doc, str) else None
    if inspect.isfunction(obj):
        return obj.__doc__
    return None


# ------------------------------------------------------------------------------------------------- mcpexec


def test_all_is_pinned() -> None:
    assert sorted(mcpexec.__all__) == PUBLIC_NAMES
    assert len(mcpexec.__all__) == len(set(mcpexec.__all__)), "duplicate names in __all__"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from mcpexec import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC_NAMES


def test_no_public_name_is_left_out_of_all() -> None:
    exported = set(mcpexec.__all__)
    missing = [
        name
        for name, value in vars(mcpexec).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and type(value).__module__ != "__future__"  # from __future__ import annotations
        and name not in exported
    ]
    assert missing == []


def test_version_matches_the_distribution() -> None:
    assert mcpexec.__version__ == importlib.metadata.version("mcpexec")


@pytest.mark.parametrize("name", [n for n in PUBLIC_NAMES if n not in ("__version__", "ServerConfig", "DetailLevel")])
def test_public_name_is_ours_and_documented(name: str) -> None:
    obj = getattr(mcpexec, name)
    assert obj.__module__.startswith("mcpexec."), f"{name} is defined in {obj.__module__}"
    doc = _own_docstring(obj)
    assert doc is not None, f"mcpexec.{name} has no docstring of its own"
    assert doc.strip(), f"mcpexec.{name} has an empty docstring"


def test_server_config_is_the_union_of_the_documented_configs() -> None:
    # A type alias cannot carry a docstring at runtime; its members do.
    assert set(typing.get_args(mcpexec.ServerConfig)) == {mcpexec.StdioServerConfig, mcpexec.HttpServerConfig}
    assert "StdioServerConfig" in (sys.modules["mcpexec.config"].__doc__ or "")
    assert set(typing.get_args(mcpexec.DetailLevel)) == {"name_only", "with_description", "full"}


@pytest.mark.parametrize("module", ["mcpexec", "mcpexec.errors", "mcpexec.results", "mcpexec.hub", "mcpexec._sync"])
def test_module_has_a_docstring_and_all(module: str) -> None:
    mod = importlib.import_module(module)
    assert (mod.__doc__ or "").strip()
    assert isinstance(mod.__all__, list)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which does not exist"


# ------------------------------------------------------------------------------------------------- errors

PARENTS: dict[type[BaseException], tuple[type[BaseException], ...]] = {
    errors.MCPExecError: (Exception,),
    errors.ConfigError: (errors.MCPExecError, ValueError),
    errors.ServerError: (errors.MCPExecError,),
    errors.ToolCallError: (errors.MCPExecError,),
    errors.ToolTimeout: (errors.ToolCallError,),
    errors.ToolArgumentError: (errors.ToolCallError, ValueError),
    errors.SandboxError: (errors.MCPExecError,),
    errors.ExecutionTimeout: (errors.SandboxError,),
    errors.SandboxCrashed: (errors.SandboxError,),
    errors.PolicyDenied: (errors.MCPExecError,),
    errors.SnapshotError: (errors.MCPExecError,),
    errors.UnknownToolError: (errors.MCPExecError, LookupError),
    errors.UsageError: (errors.MCPExecError, ValueError),
}


def test_errors_all_lists_exactly_the_tree() -> None:
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in PARENTS)
    for name in errors.__all__:
        assert getattr(mcpexec, name) is getattr(errors, name), f"mcpexec.{name} is not errors.{name}"


@pytest.mark.parametrize(("cls", "bases"), PARENTS.items(), ids=[c.__name__ for c in PARENTS])
def test_error_has_the_documented_parents(cls: type[BaseException], bases: tuple[type[BaseException], ...]) -> None:
    assert cls.__bases__ == bases
    assert issubclass(cls, errors.MCPExecError)


def test_documented_leaf_relations() -> None:
    assert issubclass(errors.ToolTimeout, errors.ToolCallError)
    assert issubclass(errors.ExecutionTimeout, errors.SandboxError)
    assert issubclass(errors.SandboxCrashed, errors.SandboxError)
    assert issubclass(errors.ConfigError, ValueError)
    assert not issubclass(errors.ToolCallError, errors.ServerError)
    assert not issubclass(errors.ServerError, errors.ToolCallError)


def test_catalog_reexports_its_errors_from_the_one_tree() -> None:
    assert SnapshotError is errors.SnapshotError
    assert UnknownToolError is errors.UnknownToolError
    assert issubclass(UnknownToolError, LookupError)


def _docstring_tree() -> dict[str, str]:
    """``{class: parent}`` read from the tree drawn in the errors module docstring."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^([\s│├└─]*)(\w+)", line)
        if match is None or match.group(2) not in errors.__all__:
            continue
        column, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= column:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((column, name))
    return parents


def test_errors_docstring_draws_every_class_with_its_real_parent() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, f"errors docstring does not mention {name}"
    drawn = _docstring_tree()
    assert set(drawn) | {"MCPExecError"} == set(errors.__all__)
    for name, parent in drawn.items():
        assert getattr(errors, name).__bases__[0] is getattr(errors, parent), f"{name} is drawn under {parent}"


@pytest.mark.parametrize(
    ("error", "attributes", "text"),
    [
        (errors.ToolCallError("bad", server="s", tool="t"), {"message": "bad", "server": "s", "tool": "t"}, "s.t: bad"),
        (
            errors.ToolTimeout(server="s", tool="t", timeout=0.5),
            {"server": "s", "tool": "t", "timeout": 0.5},
            "s.t: no result within 0.5 s",
        ),
        (errors.ServerError("died", server="s"), {"server": "s", "stderr_tail": ""}, "server 's': died"),
        (errors.ConfigError("bad", server="s", field="f"), {"server": "s", "field": "f"}, "server 's', field 'f': bad"),
        (errors.ConfigError("bad", field="f"), {"server": None, "field": "f"}, "field 'f': bad"),
        (errors.ConfigError("bad"), {"server": None, "field": None}, "bad"),
        (errors.PolicyDenied("no writes"), {"reason": "no writes"}, "no writes"),
        (
            errors.UnknownToolError("no tool 'ad'", server="s", name="ad", suggestions=["add", "adder"]),
            {"server": "s", "name": "ad", "suggestions": ("add", "adder")},
            "no tool 'ad'; did you mean 'add', 'adder'?",
        ),
        (errors.UnknownToolError("no server 'x'", server="x"), {"name": None, "suggestions": ()}, "no server 'x'"),
    ],
)
def test_error_attributes_and_message(error: Exception, attributes: dict[str, Any], text: str) -> None:
    for key, value in attributes.items():
        assert getattr(error, key) == value
    assert str(error).startswith(text)


def test_server_error_includes_the_stderr_tail() -> None:
    error = errors.ServerError("died", server="s", stderr_tail="line 1\nTraceback: boom\n")
    assert str(error).endswith("--- server stderr (tail) ---\nline 1\nTraceback: boom")
    assert "stderr" not in str(errors.ServerError("died", server="s", stderr_tail="  \n"))


# ------------------------------------------------------------------------------------------------- adapters


@pytest.mark.parametrize("package", ["langchain_mcpexec", "llama_index.tools.mcpexec"])
def test_adapter_package_imports_and_declares_all(package: str) -> None:
    module = importlib.import_module(package)
    assert (module.__doc__ or "").strip()
    assert isinstance(module.__all__, list)
    for name in module.__all__:
        assert hasattr(module, name)


def test_llama_index_namespace_has_no_init_of_ours() -> None:
    import llama_index
    import llama_index.tools

    # namespace packages: no __init__.py above llama_index/tools/mcpexec/
    assert getattr(llama_index, "__file__", None) is None
    assert getattr(llama_index.tools, "__file__", None) is None


@pytest.mark.parametrize(("package", "distribution"), DISTRIBUTIONS.items())
def test_distribution_ships_py_typed(package: str, distribution: str) -> None:
    assert importlib.metadata.version(distribution)
    marker = importlib.resources.files(package).joinpath("py.typed")
    assert marker.is_file(), f"{package} has no py.typed"
    files = importlib.metadata.distribution(distribution).files or []
    package_path = package.replace(".", "/") + "/"
    shipped = [str(f) for f in files if str(f).startswith(package_path)]
    if shipped:  # a regular (non-editable) install lists its files; an editable one only a .pth
        assert package_path + "py.typed" in shipped


# ------------------------------------------------------------------------------------------------- import cost

_PROBE = """
import json, sys, threading, warnings
before = set(sys.modules)
import {package}
print(json.dumps({{
    "modules": sorted(set(sys.modules) - before),
    "threads": threading.active_count(),
}}))
"""


def _import_in_subprocess(package: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", _PROBE.format(package=package)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == "", "importing must not write to stderr (or warn)"
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, "importing must not print"
    return json.loads(lines[0])


@pytest.mark.parametrize("package", DISTRIBUTIONS)
def test_import_has_no_side_effects(package: str) -> None:
    loaded = _import_in_subprocess(package)
    assert loaded["threads"] == 1, "importing must not start threads"


def test_importing_mcpexec_does_not_import_mcp() -> None:
    modules = set(_import_in_subprocess("mcpexec")["modules"])
    heavy = {"mcp", "pydantic", "httpx", "httpx2", "starlette", "uvicorn"}
    assert modules & heavy == set()


@pytest.mark.parametrize(
    ("package", "frameworks"),
    [
        ("mcpexec", ("langchain", "langchain_core", "llama_index")),
        ("langchain_mcpexec", ("llama_index",)),
        ("llama_index.tools.mcpexec", ("langchain", "langchain_core")),
    ],
)
def test_import_does_not_pull_in_another_framework(package: str, frameworks: tuple[str, ...]) -> None:
    modules = _import_in_subprocess(package)["modules"]
    assert [m for m in modules if m.split(".")[0] in frameworks] == []


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        ("langchain-mcpexec", {"mcpexec", "langchain-core"}),
        ("llama-index-tools-mcpexec", {"mcpexec", "llama-index-core"}),
    ],
)
def test_adapter_distributions_depend_on_mcpexec_and_their_framework_only(
    distribution: str, expected: set[str]
) -> None:
    requirements = importlib.metadata.requires(distribution) or []
    names = {re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower() for requirement in requirements}
    assert names == expected
