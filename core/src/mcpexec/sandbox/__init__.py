"""Sandboxes that run the agent's code: the local one (a confined subprocess) and others."""

from mcpexec.sandbox._spec import IsolationReport, Limits
from mcpexec.sandbox._workspace import Workspace
from mcpexec.sandbox.local import LocalSandbox

__all__ = ["IsolationReport", "Limits", "LocalSandbox", "Workspace"]
