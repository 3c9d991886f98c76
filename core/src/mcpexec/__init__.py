"""mcpexec: code mode for MCP.

Agents search a catalog of MCP tools and run Python that calls them, so only what the code prints reaches the
model. This package holds the hub (one client session per MCP server), the tool catalog, the configuration, typed
wrapper generation (``servers/``) and tool search; sandboxed execution builds on them.
"""

from __future__ import annotations

from .approvals import ApprovalGate, ApprovalNeeded
from .audit import AuditLog
from .catalog import Catalog, ToolAnnotations, ToolSpec
from .codegen import GeneratedPackage, generate_package, render_package
from .config import (
    HttpServerConfig,
    ServerConfig,
    StdioServerConfig,
    http_server,
    load_config,
    parse_config,
    stdio_server,
)
from .errors import (
    ConfigError,
    ExecutionTimeout,
    MCPExecError,
    PolicyDenied,
    SandboxCrashed,
    SandboxError,
    ServerError,
    SnapshotError,
    ToolArgumentError,
    ToolCallError,
    ToolTimeout,
    UnknownToolError,
    UsageError,
)
from .execution import ExecutionError, ExecutionResult, ExecutorStats, ToolCallRecord
from .executor import CodeExecutor
from .hub import MCPHub, ServerStatus, ToolStats
from .pii import FlowRule, PIITokenizer, allow_flow, deny_flow
from .policy import ApprovalRequest, Approved, Policy
from .results import AudioContent, ImageContent, ResourceContent, ResourceLink
from .sandbox import IsolationReport, Limits, LocalSandbox, Workspace
from .search import DetailLevel, ToolIndex
from .skills import Skill, SkillStore
from .sync_hub import SyncMCPHub

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # code execution
    "CodeExecutor",
    "ExecutionResult",
    "ExecutionError",
    "ToolCallRecord",
    "ExecutorStats",
    "Policy",
    "ApprovalRequest",
    "Approved",
    "ApprovalNeeded",
    "ApprovalGate",
    "AuditLog",
    "PIITokenizer",
    "FlowRule",
    "allow_flow",
    "deny_flow",
    "Skill",
    "SkillStore",
    "LocalSandbox",
    "Limits",
    "IsolationReport",
    "Workspace",
    # hub
    "MCPHub",
    "SyncMCPHub",
    "ServerStatus",
    "ToolStats",
    # configuration
    "ServerConfig",
    "StdioServerConfig",
    "HttpServerConfig",
    "stdio_server",
    "http_server",
    "load_config",
    "parse_config",
    # catalog
    "Catalog",
    "ToolSpec",
    "ToolAnnotations",
    # typed wrappers and search
    "generate_package",
    "render_package",
    "GeneratedPackage",
    "ToolIndex",
    "DetailLevel",
    # tool results
    "ImageContent",
    "AudioContent",
    "ResourceContent",
    "ResourceLink",
    # errors
    "MCPExecError",
    "ConfigError",
    "ServerError",
    "ToolCallError",
    "ToolTimeout",
    "ToolArgumentError",
    "SandboxError",
    "ExecutionTimeout",
    "SandboxCrashed",
    "PolicyDenied",
    "SnapshotError",
    "UnknownToolError",
    "UsageError",
]
