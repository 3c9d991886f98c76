"""A search result (a ``"full"`` entry) as the frameworks' retrievers show it: text at a detail level, and the
metadata a document or node keeps. Shared by the LangChain and LlamaIndex adapters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["entry_metadata", "entry_text"]


def entry_text(entry: Mapping[str, Any], detail_level: str) -> str:
    """The text of one ``"full"`` search entry at ``detail_level``."""
    if detail_level == "full":
        return json.dumps(entry, ensure_ascii=False, indent=1)
    if detail_level == "name_only":
        return f"{entry['server']}.{entry['name']}"
    lead = str(entry.get("description") or "").split("\n", 1)[0]
    return f"{entry['name']} [{entry['server']}]: {lead}\n{entry['import']}"


def entry_metadata(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Server, tool, import line, kind (tool or skill), schemas and signature — the keys that are known."""
    metadata = {
        "server": entry["server"],
        "tool": entry.get("tool", entry["name"]),
        "name": entry["name"],
        "import": entry.get("import"),
        "kind": entry.get("kind", "tool"),
        "input_schema": entry.get("input_schema"),
        "output_schema": entry.get("output_schema"),
        "signature": entry.get("signature"),
    }
    return {key: value for key, value in metadata.items() if value is not None}
