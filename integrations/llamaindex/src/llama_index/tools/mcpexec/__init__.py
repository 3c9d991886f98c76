"""LlamaIndex adapters for mcpexec (the tool spec and retriever arrive with issue 7)."""

__all__: list[str] = []
