"""LlamaIndex adapters: ``MCPExecToolSpec`` (two tools), ``MCPToolRetriever`` (nodes) and a CodeAct executor."""

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio.to_thread
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools.tool_spec.base import BaseToolSpec

from mcpexec import CodeExecutor, MCPExecError
from mcpexec.search import entry_metadata, entry_text

__all__ = ["MCPExecToolSpec", "MCPToolRetriever", "code_execute_fn"]

DetailLevel = Literal["name_only", "with_description", "full"]


class MCPExecToolSpec(BaseToolSpec):
    """Code mode for a LlamaIndex agent: ``to_tool_list()`` gives ``execute_code`` and ``search_tools``.

    ``executor`` is an open :class:`~mcpexec.CodeExecutor`; both tools are async functions. Errors in the agent's
    code, and mcpexec's own errors, come back to the model as text.
    """

    spec_functions = ["execute_code", "search_tools"]  # noqa: RUF012  # LlamaIndex's BaseToolSpec protocol

    def __init__(self, executor: CodeExecutor) -> None:
        self.executor = executor

    async def execute_code(self, code: str) -> str:
        """Run Python in a persistent sandbox. MCP tools are async functions: `from servers.<server> import <tool>`
        then `await <tool>(...)` (top-level await works; asyncio.gather runs calls concurrently). Variables persist
        between calls. Only what you print (and the last expression) comes back: filter and summarise in code.
        Find tools with search_tools first."""
        try:
            return (await self.executor.execute(code)).to_text()
        except MCPExecError as exc:
            return f"Error: {exc}"

    async def search_tools(
        self, query: str = "", detail_level: DetailLevel = "with_description", limit: int = 10
    ) -> str:
        """Find MCP tools (and saved skills) to use in execute_code. detail_level: 'name_only' (cheapest),
        'with_description' (one line + the import) or 'full' (schemas and signature). An empty query lists tools."""
        try:
            results = await anyio.to_thread.run_sync(lambda: self.executor.search_tools(query, detail_level, limit))
        except MCPExecError as exc:
            return f"Error: {exc}"
        return json.dumps(results, ensure_ascii=False, indent=1) if results else "no matching tools"


def _node(entry: dict[str, Any], detail_level: str) -> TextNode:
    return TextNode(
        id_=f"{entry['server']}.{entry['name']}",
        text=entry_text(entry, detail_level),
        metadata=entry_metadata(entry),
        excluded_embed_metadata_keys=["input_schema", "output_schema"],
        excluded_llm_metadata_keys=["input_schema", "output_schema", "signature"],
    )


class MCPToolRetriever(BaseRetriever):
    """Retrieves the MCP tools (and saved skills) matching a query as ``NodeWithScore``s (best first; the score
    is 1/rank: the search ranks, it does not calibrate). Metadata: server, tool, import line, schemas."""

    def __init__(self, executor: CodeExecutor, *, k: int = 5, detail_level: DetailLevel = "with_description") -> None:
        super().__init__()
        self.executor = executor
        self.k = k
        self.detail_level = detail_level

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        entries = self.executor.search_tools(query_bundle.query_str, "full", self.k)
        return [NodeWithScore(node=_node(e, self.detail_level), score=1.0 / (i + 1)) for i, e in enumerate(entries)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await anyio.to_thread.run_sync(self._retrieve, query_bundle)


def code_execute_fn(executor: CodeExecutor) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """The ``code_execute_fn`` of LlamaIndex's ``CodeActAgent``, running the agent's code in ``executor``'s session."""

    async def execute(code: str) -> dict[str, Any]:
        result = await executor.execute(code)
        return {
            "output": result.to_text(),
            "stdout": result.stdout,
            "stderr": result.stderr,
            "value": result.value,
            "error": None if result.error is None else f"{result.error.type}: {result.error.message}",
        }

    return execute
