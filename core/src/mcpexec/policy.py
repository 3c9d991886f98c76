"""Which tool calls the sandbox may make: allow/deny rules, call budgets and human approval.

The policy is enforced by the host's bridge on every ``tool_call`` frame, so guest code cannot get around it —
not through the generated wrappers, not with raw protocol frames. A refused call raises
:class:`~mcpexec.errors.PolicyDenied` in the guest with the reason, and shows in the cell's ``tool_calls``.

Rules are globs over ``"server.tool"`` (``"github.*"``, ``"*.delete_*"``); a call must match an ``allow`` rule and
no ``deny`` rule. Approval: with an ``approve`` callback (sync or async, given an :class:`ApprovalRequest`; it answers
``True``, ``False``, or :class:`Approved` with the arguments the reviewer edited the call to), calls to
tools whose MCP annotations say they may change things are put to it first (``approval="destructive"``: tools not
marked read-only whose ``destructiveHint`` is not false — the MCP default for unannotated tools; ``"writes"``: every
tool not marked read-only; ``"always"``; ``"never"``).
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from mcpexec.catalog import ToolSpec
from mcpexec.errors import PolicyDenied, UsageError

__all__ = ["ApprovalMode", "ApprovalRequest", "Approved", "Approver", "Policy", "PolicyDecision"]

ApprovalMode = Literal["destructive", "writes", "always", "never"]
_MODES: tuple[str, ...] = ("destructive", "writes", "always", "never")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A call waiting for a human: the tool, the arguments it would send, and why approval is needed."""

    server: str
    tool: str
    arguments: Mapping[str, Any]
    reason: str
    title: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Approved:
    """An approver's answer that lets a call through with the arguments the reviewer edited it to (they are
    checked against the tool's input schema again; the code that made the call gets the edited call's result)."""

    arguments: Mapping[str, Any]


Approver = Callable[[ApprovalRequest], bool | Approved | Awaitable[bool | Approved]]
"""Answers an :class:`ApprovalRequest`: ``True`` to let the call through, :class:`Approved` to let it through
with edited arguments; anything else rejects it."""


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy said about one call: ``"allowed"``, ``"approved"`` or ``"denied"`` (with the reason);
    ``arguments``: what a reviewer edited the call's arguments to (``None``: not edited)."""

    outcome: Literal["allowed", "approved", "denied"]
    reason: str = ""
    arguments: Mapping[str, Any] | None = None


def _check_patterns(name: str, patterns: object) -> tuple[str, ...]:
    if isinstance(patterns, str) or not isinstance(patterns, Sequence):
        raise UsageError(f"Policy.{name} must be a list of 'server.tool' globs, not {patterns!r}")
    checked: list[str] = []
    for pattern in patterns:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(pattern, str) or not pattern or ("." not in pattern and pattern != "*"):
            raise UsageError(f"Policy.{name}: {pattern!r} is not a 'server.tool' glob (e.g. 'github.*', '*.delete_*')")
        checked.append(pattern)
    return tuple(checked)


def _check_budget(name: str, value: object) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise UsageError(f"Policy.{name} must be a non-negative int or None, not {value!r}")
    return value


def _matches(patterns: Sequence[str], qualified: str) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(qualified, p)), None)


@dataclass(frozen=True)
class Policy:
    """Allow/deny rules, call budgets and approval (see the module docstring). The default allows everything."""

    allow: Sequence[str] = ("*",)
    deny: Sequence[str] = ()
    max_calls_per_execution: int | None = None
    max_calls_per_session: int | None = None
    approve: Approver | None = None
    approval: ApprovalMode = "destructive"

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow", _check_patterns("allow", self.allow))
        object.__setattr__(self, "deny", _check_patterns("deny", self.deny))
        _check_budget("max_calls_per_execution", self.max_calls_per_execution)
        _check_budget("max_calls_per_session", self.max_calls_per_session)
        if self.approval not in _MODES:
            raise UsageError(f"Policy.approval must be one of {', '.join(_MODES)}, not {self.approval!r}")
        if self.approve is not None and not callable(self.approve):
            raise UsageError("Policy.approve must be a callable taking an ApprovalRequest")

    def needs_approval(self, tool: ToolSpec, *, approver: Approver | None = None) -> str | None:
        """Why ``tool`` needs approval under this policy, or ``None``. Approval is only asked for when there is
        someone to ask: ``approver`` (one execution's, overriding :attr:`approve`) or :attr:`approve`."""
        if (approver or self.approve) is None or self.approval == "never":
            return None
        hints = tool.annotations
        if self.approval == "always":
            return "every call needs approval"
        if hints.read_only is True:
            return None
        if self.approval == "writes":
            return "the tool is not marked read-only"
        if hints.destructive is False:
            return None
        return "the tool is marked destructive" if hints.destructive else "the tool may be destructive (no annotation)"

    def _rules(self, qualified: str) -> str | None:
        if (denied := _matches(self.deny, qualified)) is not None:
            return f"{qualified} is denied by the rule {denied!r}"
        if _matches(self.allow, qualified) is None:
            return f"{qualified} is not allowed (allowed: {', '.join(self.allow) or 'nothing'})"
        return None

    def check(
        self, tool: ToolSpec, *, execution_calls: int, session_calls: int, approver: Approver | None = None
    ) -> PolicyDecision | None:
        """The decision for one call when the rules and budgets settle it (``"denied"``, or ``"allowed"`` when no
        approval is needed), else ``None``: the call needs approval (see :meth:`ask`). Never blocks."""
        qualified = f"{tool.server}.{tool.name}"
        if (reason := self._rules(qualified)) is not None:
            return PolicyDecision("denied", reason)
        budget = self.max_calls_per_execution
        if budget is not None and execution_calls >= budget:
            return PolicyDecision("denied", f"the budget of {budget} tool calls per execution is used up")
        session_budget = self.max_calls_per_session
        if session_budget is not None and session_calls >= session_budget:
            return PolicyDecision("denied", f"the budget of {session_budget} tool calls per session is used up")
        return _ALLOWED if self.needs_approval(tool, approver=approver) is None else None

    async def decide(
        self, tool: ToolSpec, arguments: Mapping[str, Any], *, execution_calls: int, session_calls: int
    ) -> PolicyDecision:
        """Decide one call, given how many calls this execution and this session have already made (budgets count
        calls that got through: a denied call does not use them up); asks the approver when needed."""
        settled = self.check(tool, execution_calls=execution_calls, session_calls=session_calls)
        return settled if settled is not None else await self.ask(tool, arguments)

    async def ask(
        self, tool: ToolSpec, arguments: Mapping[str, Any], *, approver: Approver | None = None
    ) -> PolicyDecision:
        """Put a call that needs approval to ``approver`` (default :attr:`approve`): ``"approved"`` (with the
        reviewer's arguments when it answered :class:`Approved`), or ``"denied"`` with the reason (an approver may
        also raise :class:`PolicyDenied` with its own)."""
        qualified = f"{tool.server}.{tool.name}"
        why = self.needs_approval(tool, approver=approver)
        approve = approver or self.approve
        if why is None or approve is None:
            return _ALLOWED
        request = ApprovalRequest(tool.server, tool.name, dict(arguments), why, tool.title, tool.description)
        try:
            answer = approve(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except PolicyDenied as exc:
            return PolicyDecision("denied", exc.reason)
        if isinstance(answer, Approved):
            edited = cast(object, answer.arguments)  # an approver's value: check it
            if not isinstance(edited, Mapping):
                return PolicyDecision("denied", f"{qualified}: the reviewer's arguments are not an object: {edited!r}")
            return PolicyDecision("approved", arguments=dict(cast(Mapping[str, Any], edited)))
        if answer is not True:
            return PolicyDecision("denied", f"{qualified} was not approved ({why})")
        return PolicyDecision("approved")


_ALLOWED = PolicyDecision("allowed")
