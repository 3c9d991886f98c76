"""The fake's one ASGI application, served on two ports: the control plane (``api_url``) and the sandboxes' edge
proxy in front of envd (``sandbox_url``).

On the envd port it does what E2B's proxy does with ``sandbox_url`` set: route by ``E2b-Sandbox-Id`` (502 "The
sandbox ... was not found" for a dead or unknown one, as the SDK expects), check ``E2b-Sandbox-Port`` (envd's 49983
only) and the ``X-Access-Token`` (or a file URL's v1 signature). It also applies the injected delays and turns a
:class:`~._e2b_faults.ResetConnection` into a dropped connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from mcpexec.testing._e2b_api import api_app, error
from mcpexec.testing._e2b_envd_files import SANDBOX_SCOPE_KEY, filesystem_app, http_app
from mcpexec.testing._e2b_envd_process import process_app
from mcpexec.testing._e2b_faults import EXCHANGE, Exchange, ResetConnection
from mcpexec.testing._e2b_state import FakeSandbox, FakeState

__all__ = ["ENVD_PORT", "Dispatcher"]

ENVD_PORT = "49983"


def _signature_ok(sandbox: FakeSandbox, scope: Scope) -> bool:
    """Whether a ``/files`` request carries a valid, unexpired v1 signature (the SDK's ``download_url``)."""
    params = parse_qs(bytes(scope.get("query_string", b"")).decode(), keep_blank_values=True)

    def first(name: str) -> str:
        return params.get(name, [""])[0]

    signature, expiration = first("signature"), first("signature_expiration")
    if not signature or (expiration and (not expiration.isdigit() or int(expiration) < time.time())):
        return False
    operation = "read" if scope["method"] == "GET" else "write"
    raw = f"{first('path')}:{operation}:{first('username')}:{sandbox.access_token}"
    if expiration:
        raw += f":{expiration}"
    expected = "v1_" + base64.b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(signature, expected)


class Dispatcher:
    """Routes a request by the port it came in on, then by path."""

    def __init__(self, state: FakeState, *, api_port: int, api_key: str, strict_api_key: bool) -> None:
        self._state = state
        self._api_port = api_port
        self._api_key = api_key
        self._strict = strict_api_key
        self._api = api_app(state)
        self._process: Any = process_app(state)
        self._filesystem: Any = filesystem_app(state)
        self._http = http_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        server = scope.get("server")
        if server is not None and server[1] == self._api_port:
            await self._control_plane(scope, receive, send)
        else:
            await self._envd(scope, receive, send)

    def _delay(self, plane: str) -> float:
        with self._state.lock:
            faults = self._state.faults
            return faults.api_delay_s if plane == "api" else faults.envd_delay_s

    async def _control_plane(self, scope: Scope, receive: Receive, send: Send) -> None:
        if delay := self._delay("api"):
            await asyncio.sleep(delay)
        key = dict(scope["headers"]).get(b"x-api-key", b"").decode("latin-1")
        if not key or (self._strict and not hmac.compare_digest(key, self._api_key)):
            await error(401, "Invalid API key, please visit https://e2b.dev/docs to get your API key")(
                scope, receive, send
            )
            return
        await self._api(scope, receive, send)

    async def _envd(self, scope: Scope, receive: Receive, send: Send) -> None:
        if delay := self._delay("envd"):
            await asyncio.sleep(delay)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        sandbox_id = headers.get("e2b-sandbox-id", "")
        if not sandbox_id:
            await error(400, "missing the E2b-Sandbox-Id header")(scope, receive, send)
            return
        sandbox = self._state.alive(sandbox_id)
        if sandbox is None:
            body = {"code": 502, "message": f"The sandbox {sandbox_id} was not found", "sandboxId": sandbox_id}
            await JSONResponse(body, status_code=502)(scope, receive, send)
            return
        port = headers.get("e2b-sandbox-port", ENVD_PORT)
        if port != ENVD_PORT:
            message = f"The sandbox {sandbox_id} is running but port {port} is not open (the fake E2B serves envd only)"
            await JSONResponse({"code": 502, "message": message, "port": port}, status_code=502)(scope, receive, send)
            return
        token = headers.get("x-access-token", "")
        if not hmac.compare_digest(token, sandbox.access_token) and not (
            scope["path"] == "/files" and _signature_ok(sandbox, scope)
        ):
            await error(401, "unauthorized access, please provide a valid access token or method signing")(
                scope, receive, send
            )
            return
        path: str = scope["path"]
        if path.startswith("/process.Process/"):
            await self._guarded(self._process, scope, receive, send)
        elif path.startswith("/filesystem.Filesystem/"):
            await self._guarded(self._filesystem, scope, receive, send)
        else:
            await self._http({**scope, SANDBOX_SCOPE_KEY: sandbox}, receive, send)

    async def _guarded(self, app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a Connect app; once a stream asked for its connection to be dropped, abort instead of sending."""
        exchange = Exchange()
        token = EXCHANGE.set(exchange)

        async def guarded_send(message: Message) -> None:
            if exchange.reset:
                raise ResetConnection
            await send(message)

        try:
            await app(scope, receive, guarded_send)
        except ResetConnection:
            return  # the server closes the connection of a response left incomplete
        finally:
            EXCHANGE.reset(token)
