"""``CodeExecutor``: the one object framework adapters use.

It owns the :class:`~mcpexec.hub.MCPHub` (one session per MCP server), the catalog and its search index, the
generated ``servers/`` package, the :class:`~mcpexec.bridge.Bridge` and a sandbox session::

    async with CodeExecutor.from_config("mcp.json") as ex:
        print(ex.search_tools("orders", "with_description"))
        result = await ex.execute(
            "from servers.sheets import get_sheet\\n"
            "rows = await get_sheet(sheet_id='orders-2026')\\n"
            "len(rows)"
        )
        print(result.to_text())

The sandbox starts on first use. Synchronous code uses ``with CodeExecutor(...) as ex: ex.execute_sync(code)``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from mcpexec._session_skills import SKILLS_SERVER, Skills, verification_cell
from mcpexec._sync import SyncBridge
from mcpexec.audit import AuditLog, AuditSink
from mcpexec.bridge import Bridge, Tokenizer
from mcpexec.catalog import Catalog
from mcpexec.config import ServerConfig, load_config, parse_config
from mcpexec.errors import SandboxError, UsageError
from mcpexec.execution import ExecutionResult, ExecutorStats
from mcpexec.hub import MCPHub
from mcpexec.policy import Approver, Policy
from mcpexec.sandbox._launch import IsolationReport, Limits
from mcpexec.sandbox._lib import sync_guest_lib
from mcpexec.sandbox._workspace import Workspace
from mcpexec.sandbox.local import LocalSandbox
from mcpexec.search import ToolIndex
from mcpexec.skills import SkillStore
from mcpexec.tokens import count_tokens, tokenizer_name

if TYPE_CHECKING:
    from mcpexec.approvals import ApprovalGate
    from mcpexec.sandbox.e2b import E2BSandbox, E2BWorkspace

__all__ = ["CodeExecutor"]

T = TypeVar("T")


class CodeExecutor:
    """Runs agent code against MCP servers. Open with ``async with`` (or ``with`` for the sync API).

    ``servers`` maps names to server configs (see :mod:`mcpexec.config`). ``sandbox`` is ``"local"`` (default),
    ``"e2b"`` (E2B's cloud, API key from ``E2B_API_KEY``) or a configured sandbox
    (:class:`~mcpexec.sandbox.local.LocalSandbox`, :class:`~mcpexec.sandbox.e2b.E2BSandbox`); ``workspace``,
    ``limits`` and ``isolation`` configure the default local sandbox. ``cell_timeout`` bounds each
    :meth:`execute` (seconds); ``call_timeout`` overrides the servers' tool-call timeouts;
    ``validate_arguments`` checks arguments against input schemas on the host; ``embedder`` adds semantic
    ranking to :meth:`search_tools`. ``policy`` decides which tool calls the code may make
    (:class:`~mcpexec.policy.Policy`); ``pii=True`` (or a configured :class:`~mcpexec.pii.PIITokenizer`) keeps
    personal data out of the sandbox and the model; ``audit`` logs every
    cell and tool call (a file path, a ``logging.Logger`` or a callable). ``skills_dir`` keeps saved skills across
    sessions (default: a temporary directory that lasts as long as the executor).
    """

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        sandbox: Literal["local", "e2b"] | LocalSandbox | E2BSandbox = "local",
        workspace: str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        isolation: Literal["auto", "full", "none"] = "auto",
        cell_timeout: float = 60.0,
        call_timeout: float | None = None,
        validate_arguments: bool = True,
        embedder: object | None = None,
        policy: Policy | None = None,
        pii: Tokenizer | bool = False,
        audit: AuditSink | None = None,
        skills_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not cell_timeout > 0:
            raise UsageError(f"cell_timeout must be a positive number of seconds, not {cell_timeout!r}")
        local_options = workspace is not None or limits is not None or isolation != "auto"
        if sandbox == "local":
            sandbox = LocalSandbox(
                workspace=None if workspace is None else Path(workspace), limits=limits, isolation=isolation
            )
        elif local_options:
            raise UsageError("workspace=, limits= and isolation= configure the default local sandbox only")
        elif sandbox == "e2b":
            from mcpexec.sandbox.e2b import E2BSandbox

            sandbox = E2BSandbox()
        elif isinstance(sandbox, str):
            raise UsageError(f"sandbox must be 'local', 'e2b' or a sandbox object, not {sandbox!r}")
        self._hub = MCPHub(servers)
        self._sandbox = sandbox
        self.cell_timeout = cell_timeout
        self._embedder = embedder
        if pii is True:
            from mcpexec.pii import PIITokenizer

            pii = PIITokenizer()
        self._audit = AuditLog(audit) if audit is not None else None
        self._bridge = Bridge(
            self._hub,
            search=self._search,
            skills=self._skill_request,
            validate=validate_arguments,
            call_timeout=call_timeout,
            policy=policy,
            pii=pii or None,
            audit=self._audit,
        )
        self._cells = 0
        self._tokens_to_model = 0
        self._skills_dir = None if skills_dir is None else Path(skills_dir)
        self._skills: Skills | None = None
        self._index: ToolIndex | None = None
        self._stack: AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closing = anyio.Event()
        self._sandbox_started = False
        self._start_lock = anyio.Lock()
        self._run_lock = anyio.Lock()
        self._dir: Path | None = None
        self._sync: SyncBridge | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._approvals: ApprovalGate | None = None

    @classmethod
    def from_config(cls, config: str | os.PathLike[str] | Mapping[str, Any], **options: Any) -> CodeExecutor:
        """From an ``mcp.json`` path or its parsed mapping; ``options`` as for the constructor."""
        servers = parse_config(config) if isinstance(config, Mapping) else load_config(config)
        return cls(servers, **options)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("CodeExecutor is already open")
        self._loop = asyncio.get_running_loop()
        self._token = anyio.lowlevel.current_token()
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="mcpexec-session-"))
            self._dir.chmod(0o711)  # a sandbox running as another uid must reach the guest library inside
            stack.callback(shutil.rmtree, self._dir, True)
            await stack.enter_async_context(self._hub)
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._closing.set)  # runs first on exit: the sandbox task leaves before the hub closes
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._stack = stack
        self._hub.on_catalog_changed(self._catalog_changed)
        store = SkillStore(self._skills_dir or self._dir / "skills")
        self._skills = Skills(store, verify=self._verify_skill, changed=self._sync_lib)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    def __enter__(self) -> Self:
        self._sync = SyncBridge().__enter__()
        try:
            self._sync.enter(self)
        except BaseException:
            self._sync.__exit__(None, None, None)
            self._sync = None
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.__exit__(exc_type, exc, tb)

    def _require_open(self) -> anyio.abc.TaskGroup:
        if self._task_group is None or self._stack is None:
            raise RuntimeError("CodeExecutor is not open; use 'async with CodeExecutor(...) as ex:'")
        return self._task_group

    # -- catalog and search ------------------------------------------------------------------------------------

    @property
    def hub(self) -> MCPHub:
        return self._hub

    @property
    def catalog(self) -> Catalog:
        return self._hub.catalog

    def _current_index(self) -> ToolIndex:
        if self._index is None or self._index.catalog is not self._hub.catalog:
            self._index = ToolIndex(self._hub.catalog, embedder=self._embedder)
        return self._index

    def _catalog_changed(self, catalog: Catalog) -> None:
        del catalog  # read from the hub when needed
        self._index = None
        self._sync_lib()  # new tools become importable in the running session

    def _sync_lib(self) -> None:
        if self._sandbox_started and self._dir is not None:
            sync_guest_lib(self._dir / "lib", self._hub.catalog, self.skills.store.guest_files())
            self._sandbox.lib_changed()

    def _search(self, query: str = "", detail_level: str = "name_only", limit: int = 10, **options: Any) -> list[Any]:
        """Tools and saved skills: skills matching the query come first (``server="skills"``: only skills)."""
        if options.get("server") == SKILLS_SERVER:
            return self.skills.search(query, detail_level, limit)[options.get("offset", 0) :]
        tools: list[Any] = self._current_index().search(query, detail_level, limit, **options)
        if not query.strip() or options.get("server") or options.get("offset"):
            return tools
        return (self.skills.search(query, detail_level, limit) + tools)[:limit]

    def search_tools(self, query: str = "", detail_level: str = "name_only", limit: int = 10, **options: Any) -> Any:
        """Search the catalog (the same search the sandbox's ``search_tools`` answers); see ``ToolIndex.search``.

        What it returns is counted in :attr:`stats` as text that reached the model."""
        self._require_open()
        results = self._search(query, detail_level, limit, **options)
        self._tokens_to_model += count_tokens(json.dumps(results, ensure_ascii=False))
        return results

    @property
    def stats(self) -> ExecutorStats:
        """Calls, errors and bytes per tool, cells run, and the tokens that reached the model."""
        tools = {
            f"{server}.{tool}": counters
            for server, per_tool in self._hub.stats().items()
            for tool, counters in per_tool.items()
        }
        return ExecutorStats(
            cells=self._cells,
            tools=tools,
            denied_calls=self._bridge.denied_calls,
            tokens_to_model=self._tokens_to_model,
            tokenizer=tokenizer_name(),
        )

    # -- sandbox -----------------------------------------------------------------------------------------------

    # -- skills ------------------------------------------------------------------------------------------------

    @property
    def skills(self) -> Skills:
        """Saved skills: ``await ex.skills.save(...)`` (verified in the sandbox), ``list()``, ``remove()``,
        ``export()``, ``import_from()``."""
        if self._skills is None:
            raise RuntimeError("CodeExecutor is not open; use 'async with CodeExecutor(...) as ex:'")
        return self._skills

    async def _skill_request(self, action: str, fields: dict[str, Any]) -> Any:
        result = await self.skills.handle(action, fields)
        await self._sandbox.refresh_lib()  # the guest imports a saved skill at once
        return result

    async def _verify_skill(self, name: str, source: str, example: str | None) -> None:
        await self.start()
        async with self._run_lock:
            result = await self._sandbox.run(verification_cell(name, source, example), timeout=self.cell_timeout)
            self._bridge.take_records()
        if result.error is not None:
            raise UsageError(f"skill {name!r} failed verification in the sandbox: {result.error.message}")

    @property
    def sandbox(self) -> LocalSandbox | E2BSandbox:
        return self._sandbox

    @property
    def workspace(self) -> Workspace | E2BWorkspace:
        """The session workspace (available once the sandbox has started: after :meth:`start` or a cell); on
        E2B its methods are coroutines (:class:`~mcpexec.sandbox.e2b.E2BWorkspace`)."""
        return self._sandbox.workspace

    @property
    def isolation(self) -> IsolationReport:
        """What the sandbox enforces (after :meth:`start` or a first cell)."""
        return self._sandbox.isolation

    async def _host_sandbox(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with self._sandbox:
            task_status.started()
            await self._closing.wait()

    async def start(self) -> None:
        """Start the sandbox now instead of on the first cell."""
        task_group = self._require_open()
        async with self._start_lock:
            if self._sandbox_started:
                return
            assert self._dir is not None
            lib = sync_guest_lib(self._dir / "lib", self._hub.catalog, self.skills.store.guest_files())
            self._sandbox.bind(lib, self._bridge)
            self._bridge.pause_clock = self._sandbox.paused_timeout
            try:
                await task_group.start(self._host_sandbox)
            except SandboxError:
                raise
            except Exception as exc:
                raise SandboxError(f"the sandbox could not start: {exc}") from exc
            self._sandbox_started = True

    async def restart(self) -> None:
        """Start a fresh sandbox session (variables are lost; workspace files are kept)."""
        await self.start()
        async with self._run_lock:
            await self._sandbox.restart()

    def _in_home_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def execute(
        self, code: str, *, timeout: float | None = None, approve: Approver | None = None
    ) -> ExecutionResult:
        """Run one cell of Python in the sandbox session; never raises for what the code does (see ``error``).

        ``approve`` answers the approvals this cell's calls need, instead of the policy's ``approve`` (it runs on
        the executor's event loop); the cell's timeout stops while a call waits for approval.
        May be awaited from any event loop (an agent framework's own, say): the cell runs on the executor's."""
        self._require_open()
        if not self._in_home_loop():
            return await self.run_at_home(functools.partial(self.execute, code, timeout=timeout, approve=approve))
        await self.start()
        if self._run_lock.locked() and self._bridge.waiting_for_approval:
            raise UsageError(
                "another execution is paused, waiting for a human to approve a tool call; answer or discard it "
                "first (see CodeExecutor.approvals)"
            )
        async with self._run_lock:
            self._bridge.take_records()  # calls that arrived between cells belong to no cell
            self._bridge.approver = approve
            try:
                result = await self._sandbox.run(code, timeout=self.cell_timeout if timeout is None else timeout)
            finally:
                self._bridge.approver = None
            result = replace(result, tool_calls=self._bridge.take_records())
            self._cells += 1
            self._tokens_to_model += count_tokens(result.to_text())
            if self._audit is not None:
                self._audit.record(
                    "cell",
                    cell=result.cell,
                    code=code,
                    duration_s=round(result.duration_s, 6),
                    outcome="ok" if result.error is None else result.error.type,
                    tool_calls=len(result.tool_calls),
                    state_lost=result.state_lost,
                )
            return result

    def execute_sync(
        self, code: str, *, timeout: float | None = None, approve: Approver | None = None
    ) -> ExecutionResult:
        """:meth:`execute` for synchronous callers: any thread but the one running the executor's event loop
        (open it with ``with CodeExecutor(...)`` to get a loop of its own)."""
        return self.run_at_home_sync(functools.partial(self.execute, code, timeout=timeout, approve=approve))

    async def run_at_home(self, function: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Await ``function()`` on the executor's event loop, from any event loop (hopping through a thread)."""
        self._require_open()
        if self._in_home_loop():
            return await function()
        return await anyio.to_thread.run_sync(self.run_at_home_sync, function)

    def run_at_home_sync(self, function: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``function()`` on the executor's event loop and wait for it, from any thread but that loop's."""
        self._require_open()
        if self._in_home_loop():
            raise RuntimeError(
                "a synchronous mcpexec call was made from inside the executor's event loop, where it would block "
                "it; await the async form there (e.g. 'await ex.execute(code)')"
            )
        return anyio.from_thread.run(function, token=self._token)

    def start_soon(self, function: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Start ``function(*args)`` as a task of the executor (on its event loop, which must be the caller's);
        it is cancelled when the executor closes."""
        self._require_open().start_soon(function, *args)

    @property
    def approvals(self) -> ApprovalGate:
        """Executions that pause when a call needs a human's approval, resumed by key (see
        :class:`mcpexec.approvals.ApprovalGate`; the framework adapters use it)."""
        if self._approvals is None:
            from mcpexec.approvals import ApprovalGate  # imports this module

            self._approvals = ApprovalGate(self)
        return self._approvals
