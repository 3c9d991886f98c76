"""A system prompt that teaches the model code mode, generated from the executor's catalog."""

from __future__ import annotations

from dataclasses import dataclass

from mcpexec import CodeExecutor
from mcpexec.tokens import count_tokens, tokenizer_name

__all__ = ["CodeModePrompt", "code_mode_prompt"]


@dataclass(frozen=True, slots=True)
class CodeModePrompt:
    """The prompt text and its size in tokens (``tokenizer`` says how they were counted)."""

    text: str
    tokens: int
    tokenizer: str

    def __str__(self) -> str:
        return self.text


def code_mode_prompt(executor: CodeExecutor, *, list_servers: bool = True) -> CodeModePrompt:
    """How to use ``search_tools`` and ``execute_code``, with the servers available (one line each)."""
    lines = [
        "You work in code mode: instead of calling MCP tools one by one, you write Python that calls them.",
        "1. Find tools with search_tools(query, detail_level): start with 'name_only' or 'with_description', ask for",
        "   'full' only for the tools you will use.",
        "2. Run Python with execute_code(code). Import a tool as its result shows "
        "(`from servers.<server> import <tool>`)",
        "   and call it with `await` (top-level await works; `asyncio.gather` runs calls concurrently).",
        "3. Variables, imports and files in the working directory persist between execute_code calls.",
        "4. Only what you print (and the value of the last line) comes back to you: filter, join and summarise",
        "   large data in code, and print just what you need.",
        "5. Tool errors are Python exceptions (ToolCallError, PolicyDenied, ...) you can catch.",
        "6. Save code worth reusing with `from mcpexec.runtime import save_skill`; saved skills show up in search.",
    ]
    if list_servers:
        servers = executor.catalog.servers
        if servers:
            lines.append("Servers: " + ", ".join(f"{s} ({len(executor.catalog.tools(s))} tools)" for s in servers))
    text = "\n".join(lines)
    return CodeModePrompt(text, count_tokens(text), tokenizer_name())
