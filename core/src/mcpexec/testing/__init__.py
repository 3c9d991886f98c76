"""Test helpers users may reuse: a local fake of E2B's cloud services for the real ``e2b`` SDK.

:class:`FakeE2B` serves E2B's control plane (create, connect, set_timeout, get_info, list, kill) and each sandbox's
envd (commands over Connect RPC on the ``e2b`` package's own server stubs, files over HTTP and Connect) on
127.0.0.1, from a background thread. Sandboxes are directories here and their commands real local processes, so code
written against ``e2b`` / ``e2b-code-interpreter``'s ``AsyncSandbox`` runs unchanged and offline::

    from e2b_code_interpreter import AsyncSandbox
    from mcpexec.testing import FakeE2B

    with FakeE2B(chunking="random", seed=1) as fake:
        sandbox = await AsyncSandbox.create(timeout=60, **fake.sdk_kwargs())
        assert (await sandbox.commands.run("echo hi")).stdout == "hi\\n"
        await sandbox.kill()
        assert fake.killed == {sandbox.sandbox_id: "api"}

Needs the ``e2b`` extra (``pip install 'mcpexec[e2b]'``).

What is faithful: the wire (REST shapes, Connect envelopes, the proxy's routing headers, its 502 "The sandbox ...
was not found" once a sandbox is dead, access tokens and signed file URLs), sandbox timeouts (a lapsed sandbox is
killed with its commands), command timeouts (``connect-timeout-ms`` on Start kills the command and ends the stream
with ``deadline_exceeded``; ``timeout=0`` means none), output streamed as produced and in arbitrary chunks, stdin
(SendInput, StreamInput, CloseStdin), SIGKILL/SIGTERM, keepalives, envs (sandbox-level, then per-command), ``cwd``,
``/bin/bash -l -c``, and E2B's paths (``/home/user``, relative paths, ``/tmp``).

What differs from E2B:

- Commands run on this machine as the host's user (``user=`` and the files API's ``username`` are ignored; ``USER``
  is ``user`` and ``HOME`` is ``/home/user``) with the host's tools, the host's network and no resource limits.
  ``python3``/``python`` in ``~/.local/bin`` is the interpreter running the fake (``~/.profile`` puts it first).
- Under bubblewrap (the default where it runs) the host's filesystem is visible read-only and only ``/home/user``
  and ``/tmp`` are the sandbox's. Each command gets its own pid namespace: what it leaves running in the background
  dies with it (on E2B it lives until the sandbox dies). Without bubblewrap (``isolation="none"``) commands are plain
  processes started in the sandbox's directory with ``HOME`` pointing there: absolute ``/home/user``/``/tmp`` paths
  in a command then mean the host's (use relative paths), and nothing is isolated.
- A command's pid is the host pid of its outer process, not a pid inside the sandbox. A SIGTERM sent before a
  command has started (under bubblewrap) becomes a SIGKILL.
- No PTY, no directory watching, no pause/resume/snapshots/forks (``unimplemented`` / HTTP 501), no templates (any
  name is accepted; ``alias`` echoes it), no volumes, network rules, MCP gateway or lifecycle options (ignored).
  File metadata on upload is echoed back, not stored. Downloads are never compressed.
- The API's default sandbox timeout (15 s) applies when create sends none, as on E2B; timeouts above
  ``max_timeout`` (3600 s) are refused. The state is always ``running``; metrics are empty.
- Plain HTTP/1.1 only, so the SDK's HTTP/2 multiplexing is not exercised.
"""

try:
    from mcpexec.testing._e2b_process import Chunking, ProcessRecord
    from mcpexec.testing._e2b_server import DropMode, FakeE2B, SdkKwargs
    from mcpexec.testing._e2b_spawn import Isolation
    from mcpexec.testing._e2b_state import KillReason, SandboxRecord
except ImportError as exc:  # the fake is built on the e2b package's server stubs
    raise ImportError(f'mcpexec.testing needs the E2B SDK: pip install "mcpexec[e2b]" ({exc})') from exc

__all__ = [
    "FakeE2B",
    "SdkKwargs",
    "SandboxRecord",
    "ProcessRecord",
    "KillReason",
    "DropMode",
    "Chunking",
    "Isolation",
]
