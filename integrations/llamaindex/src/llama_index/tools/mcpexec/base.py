"""LlamaIndex adapters: ``MCPExecToolSpec`` (two tools), ``MCPToolRetriever`` (nodes) and a CodeAct executor."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio.to_thread
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools import FunctionTool
from llama_index.core.tools.tool_spec.base import BaseToolSpec
from llama_index.core.workflow import Context, HumanResponseEvent, InputRequiredEvent
from pydantic import Field

from mcpexec import ApprovalNeeded, CodeExecutor, MCPExecError, UsageError
from mcpexec.search import entry_metadata, entry_text

__all__ = ["ApprovalRequired", "ApprovalResponse", "MCPExecToolSpec", "MCPToolRetriever", "code_execute_fn"]

DetailLevel = Literal["name_only", "with_description", "full"]


class ApprovalRequired(InputRequiredEvent):
    """Written to the workflow's event stream when a tool call inside ``execute_code`` needs a human's approval.

    Answer with ``handler.ctx.send_event(ApprovalResponse(key=ev.key, index=ev.index, approved=...))``.
    """

    key: str
    index: int
    server: str
    tool: str
    title: str | None = None
    description: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class ApprovalResponse(HumanResponseEvent):
    """A human's answer to an :class:`ApprovalRequired` (matched by ``key`` and ``index``)."""

    key: str
    index: int
    approved: bool
    reason: str = ""
    arguments: dict[str, Any] | None = None
    """The arguments the reviewer edited the call to (with ``approved=True``); ``None`` keeps the code's own."""


class MCPExecToolSpec(BaseToolSpec):
    """Code mode for a LlamaIndex agent: ``to_tool_list()`` gives ``execute_code`` and ``search_tools``.

    ``executor`` is an open :class:`~mcpexec.CodeExecutor`; both tools are async functions. Errors in the agent's
    code, and mcpexec's own errors, come back to the model as text.

    ``approvals="event"``: a call in the code that the executor's policy wants approved pauses the agent's
    workflow on an :class:`ApprovalRequired` event until an :class:`ApprovalResponse` comes back (at most
    ``approval_timeout`` seconds, ``None`` for no limit; unanswered means rejected). The execution is kept by the
    tool call, so when the workflow runs the tool again to deliver the answer the code continues where it stopped:
    nothing runs twice. ``approvals="policy"`` (default): the policy's own ``approve`` callback, if any, decides.
    """

    spec_functions = ["execute_code", "search_tools"]  # noqa: RUF012  # LlamaIndex's BaseToolSpec protocol

    def __init__(
        self,
        executor: CodeExecutor,
        *,
        approvals: Literal["policy", "event"] = "policy",
        approval_timeout: float | None = None,
    ) -> None:
        if approvals not in ("policy", "event"):
            raise UsageError(f"approvals must be 'policy' or 'event', not {approvals!r}")
        self.executor = executor
        self.approvals = approvals
        self.approval_timeout = approval_timeout

    def to_tool_list(self, *args: Any, **kwargs: Any) -> list[FunctionTool]:
        tools = super().to_tool_list(*args, **kwargs)
        if self.approvals != "event":
            return tools
        execute = FunctionTool.from_defaults(
            async_fn=self._execute_code_with_approvals, name="execute_code", description=tools[0].metadata.description
        )
        return [execute, *tools[1:]]

    async def execute_code(self, code: str) -> str:
        """Run Python in a persistent sandbox. MCP tools are async functions: `from servers.<server> import <tool>`
        then `await <tool>(...)` (top-level await works; asyncio.gather runs calls concurrently). Variables persist
        between calls. Only what you print (and the last expression) comes back: filter and summarise in code.
        Find tools with search_tools first."""
        try:
            return (await self.executor.execute(code)).to_text()
        except MCPExecError as exc:
            return f"Error: {exc}"

    async def _execute_code_with_approvals(self, ctx: Context, code: str) -> str:
        gate = self.executor.approvals
        key = _tool_call_key(code)
        try:
            step = await gate.run(key, code)
            while isinstance(step, ApprovalNeeded):
                waiter = step.to_json()
                try:
                    response = await ctx.wait_for_event(
                        ApprovalResponse,
                        waiter_event=ApprovalRequired(**{k: waiter[k] for k in _REQUIRED_FIELDS}),
                        waiter_id=f"mcpexec-approval:{key}:{step.index}",
                        requirements={"key": key, "index": step.index},
                        timeout=self.approval_timeout,
                    )
                except TimeoutError:
                    done = await gate.discard(key, f"no answer within {self.approval_timeout:g} s")
                    return done.to_text() if done is not None else "Error: the execution was discarded"
                answer = {"approved": response.approved, "reason": response.reason}
                if response.arguments is not None:
                    answer["arguments"] = response.arguments
                step = await gate.answer(key, step.index, answer)
            return step.to_text()
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


_REQUIRED_FIELDS = ("key", "index", "server", "tool", "title", "description", "arguments", "reason")


def _tool_call_key(code: str) -> str:
    """The id of the tool call being run (LlamaIndex agents put it on the ``ToolCall`` event the step handles),
    or, where the workflow does not say, one derived from the code."""
    try:
        from workflows.runtime.types.results import StepWorkerStateContextVar

        tool_id: object = getattr(StepWorkerStateContextVar.get().event, "tool_id", None)
    except (ImportError, LookupError):
        tool_id = None
    if isinstance(tool_id, str) and tool_id:
        return tool_id
    return "code-" + hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:16]


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
