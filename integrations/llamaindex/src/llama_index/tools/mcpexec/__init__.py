"""LlamaIndex adapters for mcpexec: code mode as a tool spec, tool search as a retriever, and CodeAct support.

```python
from mcpexec import CodeExecutor
from llama_index.tools.mcpexec import MCPExecToolSpec, MCPToolRetriever, code_execute_fn

async with CodeExecutor.from_config("mcp.json") as ex:
    tools = MCPExecToolSpec(ex).to_tool_list()  # execute_code, search_tools
```
"""

from llama_index.tools.mcpexec.base import (
    ApprovalRequired,
    ApprovalResponse,
    MCPExecToolSpec,
    MCPToolRetriever,
    code_execute_fn,
)

__all__ = ["ApprovalRequired", "ApprovalResponse", "MCPExecToolSpec", "MCPToolRetriever", "code_execute_fn"]
