"""``FakeE2B``: the fake's server, run by uvicorn on its own event loop in a background thread, and its test API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypedDict, TypeVar

import anyio
import uvicorn

from mcpexec.testing._e2b_app import Dispatcher
from mcpexec.testing._e2b_faults import Refusal
from mcpexec.testing._e2b_process import Chunking, Marker, RunningProcess
from mcpexec.testing._e2b_spawn import Isolation, bwrap_path
from mcpexec.testing._e2b_state import FakeState, KillReason, SandboxRecord, Settings

__all__ = ["DropMode", "FakeE2B", "SdkKwargs"]

DropMode = Literal["reset", "error", "eof"]
"""How :meth:`FakeE2B.drop_stream` ends a command's output streams: close the HTTP connection mid-response
(``reset``), end them with an ``unavailable`` error (``error``), or end them cleanly without an end event (``eof``)."""
_T = TypeVar("_T")


class SdkKwargs(TypedDict):
    """What :meth:`FakeE2B.sdk_kwargs` returns: connection options the SDK's classmethods take as keywords."""

    api_key: str
    api_url: str
    sandbox_url: str


_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0
_CALL_TIMEOUT_S = 15.0
_DEFAULT_ENVD_VERSION = "0.6.4"


def _default_python() -> str | None:
    """The interpreter running the fake (a venv's resolved to its base), offered in sandboxes as ``python3``."""
    return os.path.realpath(sys.executable) if sys.executable else None


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling a thread once it listens."""

    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._started_event.set()


class FakeE2B:
    """A local fake of E2B's cloud services for the real ``e2b`` SDK: the control plane and each sandbox's envd.

    Sandboxes are directories on this machine and their commands real local processes (under bubblewrap when it
    works here: see ``isolation``). Start it (``with FakeE2B() as fake:``, ``async with``, or :meth:`start` and
    :meth:`stop`) and point the SDK at it with :meth:`sdk_kwargs` or :meth:`env`::

        with FakeE2B() as fake:
            sandbox = await AsyncSandbox.create(timeout=60, **fake.sdk_kwargs())

    Args:
        isolation: ``"bwrap"`` (commands see ``/home/user`` and ``/tmp`` as the files API does), ``"none"`` (plain
            subprocesses; only the files API maps those paths), or ``"auto"`` (bubblewrap when it runs here).
        chunking: ``"natural"`` sends each read of a command's output as one data event; ``"random"`` also cuts
            it at random points (``seed``), so consumers meet lines (and UTF-8 sequences) split across chunks.
        python: Interpreter offered in sandboxes as ``python3``/``python`` (``~/.local/bin``); default: this one.
        envd_version: The envd version sandboxes report (the SDK enables features by it).
        default_timeout: Sandbox timeout (seconds) when create sends none — the API's own default is 15 s.
        max_timeout: Largest timeout create/set_timeout/connect accept (400 beyond it).
        api_key: The key :meth:`sdk_kwargs` hands out; any non-empty key is accepted unless ``strict_api_key``.
        keep_files: Keep a dead sandbox's root dir until the fake stops (to inspect it after a kill).
    """

    def __init__(
        self,
        *,
        isolation: Literal["auto", "bwrap", "none"] = "auto",
        chunking: Chunking = "natural",
        seed: int | None = None,
        python: str | None = None,
        envd_version: str = _DEFAULT_ENVD_VERSION,
        default_timeout: int = 15,
        max_timeout: int = 3600,
        api_key: str | None = None,
        strict_api_key: bool = False,
        keep_files: bool = False,
    ) -> None:
        self._isolation_request = isolation
        self._chunking: Chunking = chunking
        self._seed = seed
        self._python = python
        self._envd_version = envd_version
        self._default_timeout = default_timeout
        self._max_timeout = max_timeout
        self.api_key = api_key or "e2b_fake_" + secrets.token_hex(16)
        self._strict = strict_api_key
        self._keep_files = keep_files
        self._state: FakeState | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: _Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._base_dir: Path | None = None
        self._api_port = 0
        self._envd_port = 0
        self.isolation_error: str | None = None
        """Why bubblewrap is not used, when ``isolation`` ended up ``"none"`` under ``"auto"``."""

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (blocks until the server listens, at most 10 s)."""
        if self._thread is not None:
            raise RuntimeError("this FakeE2B is already started")
        isolation, bwrap = self._choose_isolation()
        python = self._python if self._python is not None else _default_python()
        settings = Settings(
            isolation=isolation,
            bwrap=bwrap,
            python=python,
            chunking=self._chunking,
            seed=self._seed,
            envd_version=self._envd_version,
            default_timeout=self._default_timeout,
            max_timeout=self._max_timeout,
            keep_files=self._keep_files,
        )
        self._base_dir = Path(tempfile.mkdtemp(prefix="mcpexec-fake-e2b-"))
        self._state = FakeState(settings, self._base_dir)
        sockets = [_listening_socket(), _listening_socket()]
        self._api_port, self._envd_port = (s.getsockname()[1] for s in sockets)
        app = Dispatcher(self._state, api_port=self._api_port, api_key=self.api_key, strict_api_key=self._strict)
        config = uvicorn.Config(
            app,
            lifespan="off",
            http="h11",
            ws="none",
            log_config=None,
            access_log=False,
            timeout_keep_alive=300,
            timeout_graceful_shutdown=3,
        )
        self._server = _Server(config, self._ready)
        self._thread = threading.Thread(target=self._run, args=(sockets,), name="mcpexec-fake-e2b", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S) or self._error is not None or not self._server.started:
            error = self._error
            self._stop_thread()
            for sock in sockets:
                sock.close()
            raise RuntimeError("the fake E2B server did not start") from error
        return self

    def _choose_isolation(self) -> tuple[Isolation, str | None]:
        if self._isolation_request == "none":
            return "none", None
        bwrap, reason = bwrap_path()
        if bwrap is not None:
            return "bwrap", bwrap
        if self._isolation_request == "bwrap":
            raise RuntimeError(f"bubblewrap cannot run a fake sandbox here: {reason}")
        self.isolation_error = reason
        return "none", None

    def _run(self, sockets: list[socket.socket]) -> None:
        try:
            asyncio.run(self._serve(sockets))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            for sock in sockets:
                sock.close()
            self._ready.set()

    async def _serve(self, sockets: list[socket.socket]) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=sockets)

    def stop(self) -> None:
        """Kill every live sandbox (recorded with reason ``"shutdown"``), stop serving and remove all files."""
        if self._thread is None:
            return
        try:
            if self._loop is not None and self._thread.is_alive():
                self._call(self._shutdown_sandboxes())
        finally:
            self._stop_thread()
            if self._base_dir is not None:
                shutil.rmtree(self._base_dir, ignore_errors=True)

    def _stop_thread(self) -> None:
        assert self._thread is not None
        assert self._server is not None
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            raise RuntimeError("the fake E2B server did not stop")

    async def _shutdown_sandboxes(self) -> None:
        state = self._require_state()
        with state.lock:
            alive = [s.sandbox_id for s in state.sandboxes.values() if s.alive]
        await asyncio.gather(*(state.kill(sandbox_id, "shutdown") for sandbox_id in alive))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- where it is ---------------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The control plane's URL (the SDK's ``api_url`` / ``E2B_API_URL``)."""
        return f"http://127.0.0.1:{self._require_port(self._api_port)}"

    @property
    def sandbox_url(self) -> str:
        """envd's URL for every sandbox (the SDK's ``sandbox_url`` / ``E2B_SANDBOX_URL``)."""
        return f"http://127.0.0.1:{self._require_port(self._envd_port)}"

    @property
    def isolation(self) -> Isolation:
        """How commands actually run: ``"bwrap"`` or ``"none"`` (see the class docstring)."""
        return self._require_state().settings.isolation

    def sdk_kwargs(self) -> SdkKwargs:
        """``api_key``, ``api_url`` and ``sandbox_url`` for ``Sandbox.create``/``connect``/``kill``/``list``."""
        return SdkKwargs(api_key=self.api_key, api_url=self.api_url, sandbox_url=self.sandbox_url)

    def env(self) -> dict[str, str]:
        """The same as environment variables: ``E2B_API_KEY``, ``E2B_API_URL``, ``E2B_SANDBOX_URL``."""
        return {"E2B_API_KEY": self.api_key, "E2B_API_URL": self.api_url, "E2B_SANDBOX_URL": self.sandbox_url}

    # -- what happened -------------------------------------------------------------------------------------------

    @property
    def created(self) -> list[str]:
        """Ids of every sandbox created, in order."""
        state = self._require_state()
        with state.lock:
            return list(state.created)

    @property
    def killed(self) -> dict[str, KillReason]:
        """Id -> reason (``"api"``, ``"timeout"``, ``"injected"``, ``"shutdown"``) of every sandbox that died."""
        state = self._require_state()
        with state.lock:
            return dict(state.killed)

    @property
    def refused(self) -> int:
        """How many creations :meth:`refuse_creations` has refused so far."""
        state = self._require_state()
        with state.lock:
            return state.faults.refused

    def alive(self) -> list[str]:
        """Ids of the sandboxes still running."""
        state = self._require_state()
        with state.lock:
            return [s.sandbox_id for s in state.sandboxes.values() if s.alive]

    def sandbox(self, sandbox_id: str) -> SandboxRecord:
        """A snapshot of one sandbox (alive or dead): root dir, envs, metadata, template, timeout, commands."""
        state = self._require_state()
        with state.lock:
            found = state.sandboxes.get(sandbox_id)
            if found is None:
                raise KeyError(f"no sandbox {sandbox_id!r} was created by this fake")
            return found.record()

    def sandboxes(self) -> list[SandboxRecord]:
        """Snapshots of every sandbox created, in order."""
        state = self._require_state()
        with state.lock:
            return [state.sandboxes[i].record() for i in state.created]

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Block until ``predicate()`` holds (checked on every state change); ``TimeoutError`` after ``timeout``."""
        state = self._require_state()
        with state.lock:
            if not state.changed.wait_for(predicate, timeout):
                raise TimeoutError(f"condition not met within {timeout} s")

    async def until(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """:meth:`wait_until` for async tests (polls without blocking the event loop)."""
        with anyio.fail_after(timeout):
            while not predicate():  # noqa: ASYNC110 -- the state changes on the fake's own thread
                await anyio.sleep(0.01)

    # -- fault injection -----------------------------------------------------------------------------------------

    def refuse_creations(
        self,
        count: int = 1,
        *,
        status: int = 500,
        message: str = "the fake E2B refused to create a sandbox (injected)",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``count`` ``POST /v2/sandboxes`` with an error.

        The SDK raises ``SandboxException`` for a 500, ``RateLimitException`` for a 429 and ``ServiceBusyException``
        for a 503 — but it retries 429/502/503/504 (3 times by default, waiting ``retry_after`` seconds when given,
        else backing off up to 10 s), and each attempt consumes one refusal.
        """
        state = self._require_state()
        with state.lock:
            state.faults.refusals.extend(Refusal(status, message, retry_after) for _ in range(count))

    def set_delay(self, seconds: float, *, plane: Literal["all", "api", "envd"] = "all") -> None:
        """Delay every following request to the control plane and/or envd by ``seconds`` (``0`` to stop)."""
        state = self._require_state()
        with state.lock:
            if plane in ("all", "api"):
                state.faults.api_delay_s = seconds
            if plane in ("all", "envd"):
                state.faults.envd_delay_s = seconds

    def drop_stream(self, pid: int, *, how: DropMode = "reset") -> None:
        """End every output stream (Start and Connect) of running command ``pid``; the command keeps running.

        ``"reset"`` closes the HTTP connection mid-response (the SDK sees a transport error), ``"error"`` ends the
        streams with ``unavailable``, ``"eof"`` ends them without an end event. ``KeyError`` if ``pid`` is not running.
        """
        marker = {"reset": Marker.RESET, "error": Marker.ERROR, "eof": Marker.EOF}[how]

        async def drop() -> None:
            self._running(pid).publish(marker)

        self._call(drop())

    def kill_process(self, pid: int, *, signum: int = signal.SIGKILL) -> None:
        """Signal running command ``pid`` from outside, as the OOM killer would (SIGKILL hits its whole tree)."""

        async def kill() -> None:
            process = self._running(pid)
            process.kill(signum, "injected")
            if signum == signal.SIGKILL:
                await asyncio.wait_for(process.done.wait(), _CALL_TIMEOUT_S)

        self._call(kill())

    def kill_sandbox(self, sandbox_id: str) -> bool:
        """Kill a sandbox as E2B might (reason ``"injected"``); ``False`` if it was not alive."""
        return self._call(self._require_state().kill(sandbox_id, "injected"))

    # -- internals -----------------------------------------------------------------------------------------------

    def _running(self, pid: int) -> RunningProcess:
        state = self._require_state()
        with state.lock:
            for sandbox in state.sandboxes.values():
                for process in sandbox.running():
                    if process.pid == pid:
                        return process
        raise KeyError(f"no running command with pid {pid}")

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the server's loop and wait for it (at most 15 s)."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the fake E2B is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("FakeE2B's methods are for the test's thread, not the fake's own")
        future: concurrent.futures.Future[_T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(_CALL_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError("the fake E2B did not answer in time") from None

    def _require_state(self) -> FakeState:
        if self._state is None:
            raise RuntimeError("the fake E2B is not started")
        return self._state

    def _require_port(self, port: int) -> int:
        if not port:
            raise RuntimeError("the fake E2B is not started")
        return port
