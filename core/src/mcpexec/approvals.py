"""Executions that pause when a tool call needs a human's approval, and resume where they stopped.

Agent frameworks ask humans by pausing the whole agent: LangGraph's ``interrupt()`` and LlamaIndex's
``ctx.wait_for_event`` stop the tool that asked, save the run, and **run that tool again from the start** when
the answer comes. Running the agent's code again would call its tools twice, so the execution is kept here
instead, keyed by the framework's tool-call id: :meth:`ApprovalGate.run` with a key seen before continues that
execution (or, once finished, gives its result again) rather than starting one, and :meth:`ApprovalGate.answer`
hands it the human's answer. Each step returns either the finished :class:`~mcpexec.execution.ExecutionResult` or
the next :class:`ApprovalNeeded`.

A paused execution holds the sandbox session (its timeout stops while it waits); another execution started
meanwhile gets a :class:`~mcpexec.errors.UsageError` instead of waiting forever. A rejected call raises
:class:`~mcpexec.errors.PolicyDenied` in the agent's code, with the reviewer's reason. A reviewer may also edit
the call's arguments (``{'type': 'edit', 'args': {...}}``, as LangChain's human-in-the-loop answers): the call
goes out with them (checked against the input schema again) and the code gets that call's result.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import anyio

from mcpexec.errors import MCPExecError, PolicyDenied, UsageError
from mcpexec.execution import ExecutionResult
from mcpexec.policy import ApprovalRequest, Approved

if TYPE_CHECKING:
    from mcpexec.executor import CodeExecutor

__all__ = ["FINISHED_KEPT", "ApprovalGate", "ApprovalNeeded", "Decision", "parse_decision"]

FINISHED_KEPT = 256
"""How many finished executions a gate remembers by key: running a finished key again returns its result."""

_APPROVE = frozenset({"approve", "approved", "accept", "allow", "yes", "y"})
_REJECT = frozenset({"reject", "rejected", "deny", "denied", "no", "n"})
ANSWER_FORMS = (
    "True / False, 'approve' / 'reject', {'approved': bool, 'reason': str, 'arguments': {...} (optional)}, "
    "{'type': 'approve' | 'reject', 'message': str} or {'type': 'edit', 'args': {...}}"
)


@dataclass(frozen=True, slots=True)
class Decision:
    """A human's answer to one :class:`ApprovalNeeded`."""

    approved: bool
    reason: str = ""
    arguments: Mapping[str, Any] | None = None
    """The arguments the reviewer edited the call to (approved calls only; ``None``: as the code made it)."""


def _edited_arguments(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in cast(Mapping[object, Any], value)):
        raise UsageError(f"a reviewer's edited arguments must be a JSON object, not {value!r}")
    return dict(cast(Mapping[str, Any], value))


def parse_decision(answer: object) -> Decision:
    """A :class:`Decision` from what a human (through a framework) answered; see ``ANSWER_FORMS``.

    Raises :class:`UsageError` for anything else — an unclear answer never approves a call."""
    if isinstance(answer, Decision):
        return answer
    if isinstance(answer, bool):
        return Decision(answer)
    if isinstance(answer, str) and answer.strip().lower() in _APPROVE | _REJECT:
        return Decision(answer.strip().lower() in _APPROVE)
    if isinstance(answer, Mapping):
        fields: Mapping[str, Any] = answer  # pyright: ignore[reportUnknownVariableType]
        reason = fields.get("reason", fields.get("message", ""))
        if not isinstance(reason, str):
            raise UsageError(f"an approval's reason must be a string, not {reason!r}")
        if isinstance(fields.get("approved"), bool):
            edited = fields.get("arguments")
            if edited is not None and not fields["approved"]:
                raise UsageError("a rejected call has no arguments to edit: approve it with them, or reject it")
            return Decision(fields["approved"], reason, None if edited is None else _edited_arguments(edited))
        kind = fields.get("type")
        if isinstance(kind, str) and kind.lower() in _APPROVE | _REJECT:
            return Decision(kind.lower() in _APPROVE, reason)
        if kind == "edit":  # LangChain's human-in-the-loop: {'type': 'edit', 'edited_action': {'name', 'args'}}
            action: object = fields.get("edited_action")
            source = cast(Mapping[str, Any], action) if isinstance(action, Mapping) else fields
            return Decision(True, reason, _edited_arguments(source.get("args", source.get("arguments"))))
    raise UsageError(f"not an approval answer: {answer!r}; answer with {ANSWER_FORMS}")


@dataclass(frozen=True, slots=True)
class ApprovalNeeded:
    """An execution paused at a tool call that needs a human's approval.

    ``key`` names the execution (the framework's tool-call id), ``index`` this approval within it (0, 1, ...).
    """

    key: str
    index: int
    request: ApprovalRequest

    def to_json(self) -> dict[str, Any]:
        """What a reviewer needs, as JSON-safe data (the payload of an interrupt or a workflow event)."""
        request = self.request
        return {
            "type": "mcpexec.approval",
            "key": self.key,
            "index": self.index,
            "server": request.server,
            "tool": request.tool,
            "title": request.title,
            "description": request.description,
            "arguments": dict(request.arguments),
            "reason": request.reason,
            "answer_with": ANSWER_FORMS,
        }


class _Paused:
    """One execution that may pause: its approvals so far, their answers, and how it ended."""

    def __init__(self, key: str, code: str) -> None:
        self.key = key
        self.code = code
        self.requests: list[ApprovalRequest] = []
        self.answered: list[anyio.Event] = []
        self.decisions: dict[int, Decision] = {}
        self.result: ExecutionResult | None = None
        self.error: Exception | None = None
        self.changed = anyio.Event()

    def notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def next_step(self) -> ExecutionResult | ApprovalNeeded | None:
        for index, request in enumerate(self.requests):
            if index not in self.decisions:
                return ApprovalNeeded(self.key, index, request)
        return self.result


class ApprovalGate:
    """Executions of one :class:`~mcpexec.CodeExecutor` that pause for approvals, by key (see the module
    docstring). Get it as ``executor.approvals``; its methods may be awaited from any event loop."""

    def __init__(self, executor: CodeExecutor) -> None:
        self._executor = executor
        self._paused: dict[str, _Paused] = {}
        self._finished: OrderedDict[str, _Paused] = OrderedDict()  # the last FINISHED_KEPT, by key

    def pending(self) -> tuple[str, ...]:
        """The keys of the executions not yet finished (or finished but not yet collected)."""
        return tuple(self._paused)

    def asked(self, key: str) -> tuple[ApprovalNeeded, ...]:
        """The approvals execution ``key`` has asked for so far, answered or not, in order."""
        paused = self._paused.get(key)
        requests = () if paused is None else tuple(paused.requests)
        return tuple(ApprovalNeeded(key, index, request) for index, request in enumerate(requests))

    async def run(self, key: str, code: str) -> ExecutionResult | ApprovalNeeded:
        """Start ``code`` under ``key`` — or, for a key already running, continue that execution — and return
        its next step: the result, or the first approval not yet answered. A key that finished recently gives
        its result again without running anything (frameworks re-run tools when they resume)."""
        if not isinstance(key, str) or not key:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UsageError(f"an execution's key must be a non-empty string (a tool-call id), not {key!r}")
        return await self._executor.run_at_home(lambda: self._run(key, code))

    async def answer(self, key: str, index: int, answer: object) -> ExecutionResult | ApprovalNeeded:
        """Give approval ``index`` of execution ``key`` its answer (see :func:`parse_decision`; an approval
        already answered keeps its first answer) and return the execution's next step."""
        decision = parse_decision(answer)
        return await self._executor.run_at_home(lambda: self._answer(key, index, decision))

    async def discard(self, key: str, reason: str = "the execution was discarded") -> ExecutionResult | None:
        """Reject every approval ``key`` waits for (now and later) and return its result once it has finished."""
        return await self._executor.run_at_home(lambda: self._discard(key, reason))

    def run_sync(self, key: str, code: str) -> ExecutionResult | ApprovalNeeded:
        """:meth:`run` for synchronous callers (any thread but the executor's event loop)."""
        return self._executor.run_at_home_sync(lambda: self.run(key, code))

    def answer_sync(self, key: str, index: int, answer: object) -> ExecutionResult | ApprovalNeeded:
        """:meth:`answer` for synchronous callers (any thread but the executor's event loop)."""
        return self._executor.run_at_home_sync(lambda: self.answer(key, index, answer))

    # -- on the executor's event loop --------------------------------------------------------------------------

    async def _run(self, key: str, code: str) -> ExecutionResult | ApprovalNeeded:
        finished = self._finished.get(key)
        if finished is not None and finished.result is not None:
            # a framework ran the tool again (LangGraph re-runs every tool call of a node it resumes): same result
            if finished.code != code:
                raise UsageError(f"execution {key!r} already ran other code; a key names one execution")
            self._finished.move_to_end(key)
            return finished.result
        paused = self._paused.get(key)
        if paused is None:
            paused = self._paused[key] = _Paused(key, code)
            self._executor.start_soon(self._drive, paused)
        elif paused.code != code:
            raise UsageError(f"execution {key!r} is already running other code; a key names one execution")
        return await self._next(paused)

    async def _answer(self, key: str, index: int, decision: Decision) -> ExecutionResult | ApprovalNeeded:
        paused = self._paused.get(key)
        if paused is None:
            raise UsageError(f"no execution {key!r} is waiting for approval (pending: {list(self._paused) or 'none'})")
        if not 0 <= index < len(paused.requests):
            raise UsageError(f"execution {key!r} has no approval {index} (it asked for {len(paused.requests)})")
        if index not in paused.decisions:
            paused.decisions[index] = decision
            paused.answered[index].set()
        return await self._next(paused)

    async def _discard(self, key: str, reason: str) -> ExecutionResult | None:
        paused = self._paused.get(key)
        if paused is None:
            return None
        paused.decisions = _AlwaysRejected(Decision(False, reason), paused.decisions)
        for event in paused.answered:
            event.set()
        while paused.result is None and paused.error is None:
            await paused.changed.wait()
        self._paused.pop(key, None)
        return paused.result

    async def _next(self, paused: _Paused) -> ExecutionResult | ApprovalNeeded:
        while (step := paused.next_step()) is None and paused.error is None:
            await paused.changed.wait()
        if paused.error is not None:
            self._paused.pop(paused.key, None)
            raise paused.error
        if isinstance(step, ExecutionResult):
            self._paused.pop(paused.key, None)
            self._finished[paused.key] = paused
            while len(self._finished) > FINISHED_KEPT:
                self._finished.popitem(last=False)
        assert step is not None
        return step

    async def _drive(self, paused: _Paused) -> None:
        async def approve(request: ApprovalRequest) -> bool | Approved:
            index = len(paused.requests)
            paused.requests.append(request)
            paused.answered.append(anyio.Event())
            if index not in paused.decisions:
                paused.notify()
                await paused.answered[index].wait()
            decision = paused.decisions[index]
            if not decision.approved:
                qualified = f"{request.server}.{request.tool}"
                raise PolicyDenied(f"{qualified} was rejected by the reviewer: {decision.reason or 'no reason given'}")
            return True if decision.arguments is None else Approved(decision.arguments)

        try:
            paused.result = await self._executor.execute(paused.code, approve=approve)
        except Exception as exc:  # handed to whoever waits for this execution
            paused.error = exc
        finally:
            if paused.result is None and paused.error is None:  # cancelled: the executor is closing
                paused.error = MCPExecError(f"execution {paused.key!r} was stopped: the executor closed")
            paused.notify()


class _AlwaysRejected(dict[int, Decision]):
    """The decisions of a discarded execution: what was answered, and a rejection for every other approval."""

    def __init__(self, rejection: Decision, answered: Mapping[int, Decision]) -> None:
        super().__init__(answered)
        self._rejection = rejection

    def __contains__(self, index: object) -> bool:
        return True

    def __missing__(self, index: int) -> Decision:
        return self._rejection
