"""LangChain adapters for mcpexec (the toolkit and retriever arrive with issue 7)."""

__all__: list[str] = []
