"""Fault injection state of the fake E2B: refused creations and slow responses (thread-safe by the state's lock)."""

from __future__ import annotations

from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["EXCHANGE", "Exchange", "Faults", "Refusal", "ResetConnection"]


class ResetConnection(Exception):
    """Raised inside a request to make the server drop its connection mid-response (fault injection)."""


@dataclass(slots=True)
class Exchange:
    """Per-request flags the HTTP layer reads: once ``reset`` is set, every further send aborts the connection."""

    reset: bool = False


EXCHANGE: ContextVar[Exchange | None] = ContextVar("mcpexec_fake_e2b_exchange", default=None)
"""The current request's :class:`Exchange` (set by the fake's ASGI dispatcher)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused ``POST /v2/sandboxes``: the HTTP status and message the control plane answers with."""

    status: int
    message: str
    retry_after: int | None
    """Seconds for a ``Retry-After`` header (the SDK waits that long before retrying a 429/502/503/504)."""


@dataclass(slots=True)
class Faults:
    """What is currently injected."""

    refusals: deque[Refusal] = field(default_factory=deque[Refusal])
    refused: int = 0
    """How many creations have been refused so far."""
    api_delay_s: float = 0.0
    envd_delay_s: float = 0.0

    def take_refusal(self) -> Refusal | None:
        if not self.refusals:
            return None
        self.refused += 1
        return self.refusals.popleft()
