"""LangChain adapters for mcpexec: code mode as two tools, and tool search as a retriever.

```python
from mcpexec import CodeExecutor
from langchain_mcpexec import MCPExecToolkit, MCPToolRetriever, code_mode_prompt

with CodeExecutor.from_config("mcp.json") as ex:
    tools = MCPExecToolkit(executor=ex).get_tools()  # execute_code, search_tools
    system_prompt = str(code_mode_prompt(ex))
```
"""

from langchain_mcpexec._prompt import CodeModePrompt, code_mode_prompt
from langchain_mcpexec._retriever import MCPToolRetriever
from langchain_mcpexec._tools import ExecuteCodeTool, MCPExecToolkit, SearchToolsTool

__all__ = [
    "CodeModePrompt",
    "ExecuteCodeTool",
    "MCPExecToolkit",
    "MCPToolRetriever",
    "SearchToolsTool",
    "code_mode_prompt",
]
