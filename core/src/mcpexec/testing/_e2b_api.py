"""The control plane's REST API, the part the ``e2b`` SDK calls for sandboxes (shapes from its generated client).

``POST /v2/sandboxes`` (201), ``GET /v2/sandboxes`` (list, paginated by ``limit``/``nextToken`` and the
``x-next-token`` header), ``GET``/``DELETE /sandboxes/{id}``, ``POST /sandboxes/{id}/timeout``,
``POST /v2/sandboxes/{id}/connect`` (and the v1 path), ``GET /sandboxes/{id}/metrics`` (empty). Pausing, snapshots
and forks answer 501. Authentication (``X-API-KEY``) is checked by the dispatcher.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcpexec.testing._e2b_state import FakeSandbox, FakeState

__all__ = ["CLIENT_ID", "api_app", "error"]

CLIENT_ID = "fakee2b0"
_RESOURCES = {"cpuCount": 2, "memoryMB": 512, "diskSizeMB": 10240}


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The control plane's error body, ``{"code", "message"}``."""
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


def _iso(sandbox: FakeSandbox, which: str) -> str:
    moment = sandbox.started_at if which == "start" else sandbox.end_at
    return moment.isoformat().replace("+00:00", "Z")


def _created(sandbox: FakeSandbox, envd_version: str) -> dict[str, Any]:
    return {
        "templateID": sandbox.template,
        "sandboxID": sandbox.sandbox_id,
        "clientID": CLIENT_ID,
        "envdVersion": envd_version,
        "alias": sandbox.template,
        "envdAccessToken": sandbox.access_token,
        "trafficAccessToken": None,
        "domain": None,
    }


def _listed(sandbox: FakeSandbox, envd_version: str) -> dict[str, Any]:
    return {
        "templateID": sandbox.template,
        "alias": sandbox.template,
        "sandboxID": sandbox.sandbox_id,
        "clientID": CLIENT_ID,
        "startedAt": _iso(sandbox, "start"),
        "endAt": _iso(sandbox, "end"),
        "envdVersion": envd_version,
        "state": "running",
        "metadata": dict(sandbox.metadata),
        **_RESOURCES,
    }


def _detail(sandbox: FakeSandbox, envd_version: str) -> dict[str, Any]:
    return {**_listed(sandbox, envd_version), "envdAccessToken": sandbox.access_token, "domain": None}


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _timeout(body: Mapping[str, Any], default: int, maximum: int) -> int | str:
    """The requested timeout in seconds, or the message of the 400 it earns."""
    value = body.get("timeout", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "timeout must be a non-negative integer (seconds)"
    if value > maximum:
        return f"Timeout cannot be greater than {maximum // 3600} hours"
    return value


def _str_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):  # pyright: ignore[reportUnknownVariableType]
        return None
    return dict(value)  # pyright: ignore[reportUnknownArgumentType]


def api_app(state: FakeState) -> Starlette:
    settings = state.settings

    def missing(sandbox_id: str) -> JSONResponse:
        return error(404, f"sandbox \"{sandbox_id}\" doesn't exist or you don't have access to it")

    async def create(request: Request) -> Response:
        with state.lock:
            refusal = state.faults.take_refusal()
            state.changed.notify_all()
        if refusal is not None:
            headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after is not None else None
            return error(refusal.status, refusal.message, headers)
        body = await _json_body(request)
        if body is None:
            return error(400, "the request body is not a JSON object")
        template = body.get("templateID")
        if not isinstance(template, str) or not template:
            return error(400, "templateID is required")
        timeout = _timeout(body, settings.default_timeout, settings.max_timeout)
        if isinstance(timeout, str):
            return error(400, timeout)
        envs, metadata = _str_map(body.get("envVars")), _str_map(body.get("metadata"))
        if envs is None or metadata is None:
            return error(400, "envVars and metadata must map strings to strings")
        sandbox = state.create(template=template, envs=envs, metadata=metadata, timeout=timeout)
        return JSONResponse(_created(sandbox, settings.envd_version), status_code=201)

    async def listing(request: Request) -> Response:
        wanted_states = request.query_params.get("state", "running,paused").split(",")
        metadata = dict(urllib.parse.parse_qsl(request.query_params.get("metadata", "")))
        template = request.query_params.get("template")
        with state.lock:
            found = [
                s
                for s in state.sandboxes.values()
                if s.alive
                and "running" in wanted_states
                and all(s.metadata.get(k) == v for k, v in metadata.items())
                and (template is None or template == s.template)
            ]
            found.sort(key=lambda s: s.started_at, reverse=request.query_params.get("order") == "desc")
            items = [_listed(s, settings.envd_version) for s in found]
        start = int(request.query_params.get("nextToken") or 0)
        limit = int(request.query_params.get("limit") or len(items) or 1)
        page = items[start : start + limit]
        headers = {"x-next-token": str(start + limit)} if start + limit < len(items) else None
        return JSONResponse(page, headers=headers)

    async def detail(request: Request) -> Response:
        sandbox_id = request.path_params["sandbox_id"]
        sandbox = state.alive(sandbox_id)
        if sandbox is None:
            return missing(sandbox_id)
        return JSONResponse(_detail(sandbox, settings.envd_version))

    async def kill(request: Request) -> Response:
        sandbox_id = request.path_params["sandbox_id"]
        if not await state.kill(sandbox_id, "api"):
            return missing(sandbox_id)
        return Response(status_code=204)

    def change_alive(sandbox_id: str, change: Callable[[FakeSandbox], None]) -> FakeSandbox | None:
        """Apply ``change`` to the sandbox if it is alive (under the state's lock, waking whoever watches it)."""
        with state.lock:
            sandbox = state.alive(sandbox_id)
            if sandbox is not None:
                change(sandbox)
                state.changed.notify_all()
            return sandbox

    async def set_timeout(request: Request) -> Response:
        sandbox_id = request.path_params["sandbox_id"]
        body = await _json_body(request)
        if body is None or "timeout" not in body:
            return error(400, "timeout is required")
        timeout = _timeout(body, 0, settings.max_timeout)
        if isinstance(timeout, str):
            return error(400, timeout)
        if change_alive(sandbox_id, lambda sandbox: sandbox.set_timeout(timeout)) is None:
            return missing(sandbox_id)
        return Response(status_code=204)

    async def connect(request: Request) -> Response:
        sandbox_id = request.path_params["sandbox_id"]
        body = await _json_body(request)
        if body is None:
            return error(400, "the request body is not a JSON object")
        timeout = _timeout(body, 0, settings.max_timeout)
        if isinstance(timeout, str):
            return error(400, timeout)

        def extend(sandbox: FakeSandbox) -> None:
            if "timeout" in body:
                _extend(sandbox, timeout)

        sandbox = change_alive(sandbox_id, extend)
        if sandbox is None:
            return missing(sandbox_id)
        return JSONResponse(_created(sandbox, settings.envd_version), status_code=200)

    async def metrics(request: Request) -> Response:
        sandbox_id = request.path_params["sandbox_id"]
        return JSONResponse([]) if state.alive(sandbox_id) is not None else missing(sandbox_id)

    async def unsupported(request: Request) -> Response:
        return error(501, "not supported by the fake E2B (pause, resume, snapshots and forks)")

    sid = "/sandboxes/{sandbox_id}"
    return Starlette(
        routes=[
            Route("/v2/sandboxes", create, methods=["POST"]),
            Route("/v2/sandboxes", listing, methods=["GET"]),
            Route(sid, detail, methods=["GET"]),
            Route(sid, kill, methods=["DELETE"]),
            Route(f"{sid}/timeout", set_timeout, methods=["POST"]),
            Route(f"/v2{sid}/connect", connect, methods=["POST"]),
            Route(f"{sid}/connect", connect, methods=["POST"]),
            Route(f"{sid}/metrics", metrics, methods=["GET"]),
            Route(f"{sid}/pause", unsupported, methods=["POST"]),
            Route(f"{sid}/resume", unsupported, methods=["POST"]),
            Route(f"{sid}/snapshots", unsupported, methods=["POST"]),
            Route(f"{sid}/fork", unsupported, methods=["POST"]),
        ]
    )


def _extend(sandbox: FakeSandbox, timeout: int) -> None:
    """Connecting to a running sandbox only ever lengthens its life: to ``timeout`` from now, if that is later."""
    if time.time() + timeout > sandbox.end_at.timestamp():
        sandbox.set_timeout(timeout)
