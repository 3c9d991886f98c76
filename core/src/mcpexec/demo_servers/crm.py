"""Bundled MCP server ``crm``: a small contact database, kept in memory (or in ``$MCPEXEC_CRM_FILE``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mcpexec._compat import server_class


class Contact(BaseModel):
    """A CRM contact."""

    id: int
    name: str
    email: str
    phone: str | None
    notes: str


server: Any = server_class()("crm", instructions="A small CRM: create, find, list and delete contacts.")
_FILE = os.environ.get("MCPEXEC_CRM_FILE")
_contacts: dict[int, Contact] = {}


def _load() -> None:
    if _FILE and Path(_FILE).is_file():
        for item in json.loads(Path(_FILE).read_text(encoding="utf-8")):
            contact = Contact.model_validate(item)
            _contacts[contact.id] = contact


def _save() -> None:
    if _FILE:
        data = [c.model_dump() for c in _contacts.values()]
        Path(_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


@server.tool(title="Create contact", annotations={"readOnlyHint": False, "destructiveHint": False})
def create_contact(name: str, email: str, phone: str | None = None, notes: str = "") -> Contact:
    """Create a contact and return it with its new id."""
    contact = Contact(id=max(_contacts, default=0) + 1, name=name, email=email, phone=phone, notes=notes)
    _contacts[contact.id] = contact
    _save()
    return contact


@server.tool(title="Find contacts", annotations={"readOnlyHint": True})
def find_contacts(query: str) -> list[Contact]:
    """Find contacts whose name or email contains `query` (case-insensitive)."""
    needle = query.lower()
    return [c for c in _contacts.values() if needle in c.name.lower() or needle in c.email.lower()]


@server.tool(title="List contacts", annotations={"readOnlyHint": True})
def list_contacts() -> list[Contact]:
    """List every contact."""
    return list(_contacts.values())


@server.tool(title="Delete contact", annotations={"readOnlyHint": False, "destructiveHint": True})
def delete_contact(contact_id: int) -> bool:
    """Delete a contact by id; returns whether it existed."""
    existed = _contacts.pop(contact_id, None) is not None
    _save()
    return existed


def main() -> None:
    """Serve over stdio."""
    _load()
    server.run("stdio")


if __name__ == "__main__":
    main()
