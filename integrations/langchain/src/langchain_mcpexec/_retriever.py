"""``MCPToolRetriever``: tool search as a LangChain retriever (query → ``Document`` per tool)."""

from __future__ import annotations

from typing import Any, Literal

import anyio.to_thread
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from mcpexec import CodeExecutor
from mcpexec.search import entry_metadata, entry_text

__all__ = ["MCPToolRetriever", "tool_document"]


def tool_document(entry: dict[str, Any], detail_level: str) -> Document:
    """One search result (the ``"full"`` entry) as a Document at ``detail_level``; metadata keeps everything."""
    return Document(page_content=entry_text(entry, detail_level), metadata=entry_metadata(entry))


class MCPToolRetriever(BaseRetriever):
    """Retrieves the MCP tools (and saved skills) that match a query, ``k`` at most, as Documents.

    ``page_content`` is the tool at ``detail_level``; ``metadata`` has the server, tool, import line and schemas.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    executor: CodeExecutor
    k: int = Field(default=5, ge=1, le=200)
    detail_level: Literal["name_only", "with_description", "full"] = "with_description"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        entries = self.executor.search_tools(query, "full", k)
        return [tool_document(entry, self.detail_level) for entry in entries]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        entries = await anyio.to_thread.run_sync(lambda: self.executor.search_tools(query, "full", k))
        return [tool_document(entry, self.detail_level) for entry in entries]
