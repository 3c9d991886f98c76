"""The two tools a LangChain agent gets: ``execute_code`` and ``search_tools``, over one ``CodeExecutor``."""

from __future__ import annotations

import json
from typing import Any, Literal

import anyio.to_thread
from langchain_core.tools import ArgsSchema, BaseTool, BaseToolkit, ToolException
from pydantic import BaseModel, ConfigDict, Field

from mcpexec import CodeExecutor, MCPExecError

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


class ExecuteCodeTool(_ExecutorTool):
    """``execute_code``: runs the model's Python in the sandbox and returns what the code printed."""

    name: str = "execute_code"
    description: str = EXECUTE_DESCRIPTION
    args_schema: ArgsSchema | None = ExecuteCodeInput

    def _run(self, code: str, **_: Any) -> str:
        try:
            return self.executor.execute_sync(code).to_text()
        except MCPExecError as exc:
            raise ToolException(str(exc)) from exc

    async def _arun(self, code: str, **_: Any) -> str:
        try:
            return (await self.executor.execute(code)).to_text()
        except MCPExecError as exc:
            raise ToolException(str(exc)) from exc


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

    def get_tools(self) -> list[BaseTool]:
        return [
            ExecuteCodeTool(executor=self.executor, handle_tool_error=self.handle_tool_error),
            SearchToolsTool(executor=self.executor, handle_tool_error=self.handle_tool_error),
        ]
