"""The two tools a LangChain agent gets: ``execute_code`` and ``search_tools``, over one ``CodeExecutor``."""

from __future__ import annotations

import contextvars
import json
from typing import Any, Literal

import anyio.to_thread
from langchain_core.tools import ArgsSchema, BaseTool, BaseToolkit, ToolException
from pydantic import BaseModel, ConfigDict, Field

from mcpexec import CodeExecutor, MCPExecError, UsageError
from mcpexec.approvals import ApprovalGate, ApprovalNeeded

__all__ = ["ExecuteCodeTool", "MCPExecToolkit", "SearchToolsTool"]

EXECUTE_DESCRIPTION = (
    "Run Python in a persistent sandbox. MCP tools are async functions: `from servers.<server> import <tool>` then "
    "`await <tool>(...)` (top-level await works; use asyncio.gather for many calls). Variables persist between "
    "calls. Only what you print (and the last expression) comes back, so filter and summarise in code. Find tools "
    "with search_tools first."
)
SEARCH_DESCRIPTION = (
    "Find MCP tools (and saved skills) to use in execute_code. detail_level: 'name_only' (cheapest), "
    "'with_description' (one line + the import), or 'full' (schemas and signature). An empty query lists tools."
)


class ExecuteCodeInput(BaseModel):
    """Arguments of ``execute_code``."""

    code: str = Field(description="Python to run; may use top-level await and import from servers.* and skills.*")


class SearchToolsInput(BaseModel):
    """Arguments of ``search_tools``."""

    query: str = Field(default="", description="what you want to do, in plain words; empty lists tools")
    detail_level: Literal["name_only", "with_description", "full"] = Field(
        default="with_description", description="how much to show per tool"
    )
    limit: int = Field(default=10, ge=1, le=200, description="how many results")


class _ExecutorTool(BaseTool):
    """A tool bound to a :class:`~mcpexec.CodeExecutor` (opened by the caller)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    executor: CodeExecutor
    handle_tool_error: bool | str | Any = True
    """Errors of mcpexec itself (a sandbox that cannot start, ...) go back to the model as text by default."""


ApprovalMode = Literal["policy", "interrupt"]


class ExecuteCodeTool(_ExecutorTool):
    """``execute_code``: runs the model's Python in the sandbox and returns what the code printed.

    ``approvals="interrupt"``: a tool call in the code that the executor's policy wants approved pauses the agent
    with a LangGraph ``interrupt()`` carrying the request (see :meth:`mcpexec.approvals.ApprovalNeeded.to_json`);
    resume with ``Command(resume=True)``, ``Command(resume={"approved": False, "reason": "..."})`` or, to change
    the call's arguments, ``Command(resume={"type": "edit", "args": {...}})``. The paused
    execution is kept by tool-call id, so resuming continues it: the code is not run again and no MCP tool is
    called twice. Needs a graph with a checkpointer, and the tool called with a ``ToolCall``.
    ``approvals="policy"`` (default): the policy's own ``approve`` callback, if any, decides.
    """

    name: str = "execute_code"
    description: str = EXECUTE_DESCRIPTION
    args_schema: ArgsSchema | None = ExecuteCodeInput
    approvals: ApprovalMode = "policy"

    def run(self, tool_input: Any, *args: Any, tool_call_id: str | None = None, **kwargs: Any) -> Any:
        token = _TOOL_CALL_ID.set(tool_call_id)
        try:
            return super().run(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
        finally:
            _TOOL_CALL_ID.reset(token)

    async def arun(self, tool_input: Any, *args: Any, tool_call_id: str | None = None, **kwargs: Any) -> Any:
        token = _TOOL_CALL_ID.set(tool_call_id)
        try:
            return await super().arun(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
        finally:
            _TOOL_CALL_ID.reset(token)

    def _run(self, code: str, **_: Any) -> str:
        try:
            if self.approvals == "interrupt":
                gate, key = self.executor.approvals, _interrupt_key()
                step, asked = gate.run_sync(key, code), 0
                while isinstance(step, ApprovalNeeded):
                    answer, asked = _ask_through_interrupt(gate, step, asked)
                    step = gate.answer_sync(key, step.index, answer)
                return step.to_text()
            return self.executor.execute_sync(code).to_text()
        except MCPExecError as exc:
            raise ToolException(str(exc)) from exc

    async def _arun(self, code: str, **_: Any) -> str:
        try:
            if self.approvals == "interrupt":
                gate, key = self.executor.approvals, _interrupt_key()
                step, asked = await gate.run(key, code), 0
                while isinstance(step, ApprovalNeeded):
                    answer, asked = _ask_through_interrupt(gate, step, asked)
                    step = await gate.answer(key, step.index, answer)
                return step.to_text()
            return (await self.executor.execute(code)).to_text()
        except MCPExecError as exc:
            raise ToolException(str(exc)) from exc


_TOOL_CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcpexec_tool_call_id", default=None)


def _interrupt_key() -> str:
    key = _TOOL_CALL_ID.get()
    if not key:
        raise UsageError(
            "approvals='interrupt' keeps a paused execution by its tool-call id: call execute_code with a ToolCall "
            "(as LangGraph's ToolNode and create_agent do), not with bare arguments"
        )
    return key


def _ask_through_interrupt(gate: ApprovalGate, step: ApprovalNeeded, asked: int) -> tuple[object, int]:
    """The human's answer to ``step`` through LangGraph's ``interrupt()`` (which pauses the graph the first time),
    and how many interrupts this run of the tool has made.

    LangGraph runs the tool again from the start when resumed and hands out resume values by the order of the
    ``interrupt()`` calls in that run, so approvals answered in earlier runs are asked again first (``asked``
    says how many this run already made): they get their recorded answers back, which the execution already has.
    """
    try:
        from langgraph.types import interrupt
    except ImportError as exc:
        raise UsageError("approvals='interrupt' needs LangGraph: pip install langgraph") from exc
    for earlier in gate.asked(step.key)[asked : step.index]:
        interrupt(earlier.to_json())
    return interrupt(step.to_json()), step.index + 1


class SearchToolsTool(_ExecutorTool):
    """``search_tools``: progressive disclosure over the MCP tool catalog and the saved skills."""

    name: str = "search_tools"
    description: str = SEARCH_DESCRIPTION
    args_schema: ArgsSchema | None = SearchToolsInput

    def _run(self, query: str = "", detail_level: str = "with_description", limit: int = 10, **_: Any) -> str:
        try:
            results = self.executor.search_tools(query, detail_level, limit)
        except MCPExecError as exc:
            raise ToolException(str(exc)) from exc
        if not results:
            return "no matching tools"
        return json.dumps(results, ensure_ascii=False, indent=None if detail_level == "name_only" else 1)

    async def _arun(self, query: str = "", detail_level: str = "with_description", limit: int = 10, **_: Any) -> str:
        return await anyio.to_thread.run_sync(lambda: self._run(query, detail_level, limit))


class MCPExecToolkit(BaseToolkit):
    """Code mode for a LangChain agent: ``get_tools()`` gives exactly ``execute_code`` and ``search_tools``.

    ``executor`` is an open :class:`~mcpexec.CodeExecutor` (``with CodeExecutor(...) as ex`` or ``async with``);
    both tools work sync and async. Errors in the agent's code come back as text (the result's traceback);
    ``handle_tool_error=False`` raises mcpexec's own errors into the agent loop instead of returning them.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    executor: CodeExecutor
    handle_tool_error: bool = True
    approvals: ApprovalMode = "policy"
    """``"interrupt"``: calls needing approval pause the graph with LangGraph's ``interrupt()`` (see
    :class:`ExecuteCodeTool`)."""

    def get_tools(self) -> list[BaseTool]:
        return [
            ExecuteCodeTool(executor=self.executor, handle_tool_error=self.handle_tool_error, approvals=self.approvals),
            SearchToolsTool(executor=self.executor, handle_tool_error=self.handle_tool_error),
        ]
