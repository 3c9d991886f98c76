"""The guest runtime's pieces on their own: frames, error payloads, output capture, the cell runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mcpexec import errors
from mcpexec.runtime._cell import CellRunner
from mcpexec.runtime._frames import MAX_FRAME_BYTES, FrameError, decode, encode, error_payload, remote_error
from mcpexec.runtime._output import Capture


def test_frames_round_trip_and_refuse_what_is_not_a_frame() -> None:
    frame = {"type": "tool_call", "id": 3, "arguments": {"text": "naïve ✓", "n": [1, 2.5, None]}}
    line = encode(frame)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decode(line) == frame
    for bad in (b"not json\n", b"[1, 2]\n", b'{"id": 1}\n', b'{"type": 5}\n', b"\xff\xfe\n"):
        with pytest.raises(FrameError):
            decode(bad)
    with pytest.raises(ValueError, match="Out of range float"):
        encode({"type": "x", "value": float("nan")})
    assert MAX_FRAME_BYTES >= 64 * 1024 * 1024


def test_error_payloads_rebuild_mcpexec_errors_with_their_attributes() -> None:
    original = errors.ToolTimeout(server="github", tool="create_issue", timeout=2.5)
    rebuilt = remote_error(error_payload(original))
    assert type(rebuilt) is errors.ToolTimeout
    assert isinstance(rebuilt, errors.ToolCallError)
    assert (rebuilt.server, rebuilt.tool, rebuilt.timeout) == ("github", "create_issue", 2.5)  # type: ignore[attr-defined]
    assert str(rebuilt) == str(original)
    denied = remote_error(error_payload(errors.UnknownToolError("no such tool", server="s", suggestions=["a", "b"])))
    assert isinstance(denied, errors.UnknownToolError)
    assert denied.suggestions == ("a", "b")


def test_error_payloads_never_name_a_class_outside_the_error_tree() -> None:
    for name in ("SystemExit", "os.system", "__import__", "MCPExecError.__subclasses__", "_rebuild", "Sequence"):
        rebuilt = remote_error({"type": name, "message": "boom", "attributes": {"__class__": "x", "_private": 1}})
        assert type(rebuilt) is errors.MCPExecError
        assert "boom" in str(rebuilt)
    assert type(remote_error("garbage")) is errors.MCPExecError
    foreign = error_payload(KeyError("k"))
    assert foreign["type"] == "MCPExecError"
    assert "KeyError" in foreign["message"]


def test_capture_keeps_head_and_tail_and_saves_everything_when_over_the_cap(tmp_path: Path) -> None:
    spill = tmp_path / "out" / "cell-1.stdout.txt"
    capture = Capture(1000, str(spill))
    text = "".join(f"{i:06d}\n" for i in range(2000))
    for start in range(0, len(text), 333):
        capture.write_bytes(text[start : start + 333].encode())
    result = capture.finish()
    assert result.truncated
    assert result.total_chars == len(text)
    assert result.text.startswith("000000\n")
    assert result.text.endswith("001999\n")
    assert f"{len(text) - 1000:,} characters omitted" in result.text
    assert result.saved_to == str(spill)
    assert spill.read_text() == text


def test_capture_under_the_cap_is_exact_and_decodes_split_utf8(tmp_path: Path) -> None:
    capture = Capture(100, str(tmp_path / "never.txt"))
    data = "héllo ✓\n".encode()
    for i in range(len(data)):
        capture.write_bytes(data[i : i + 1])
    result = capture.finish()
    assert result == type(result)("héllo ✓\n", False, 8, None)
    assert not (tmp_path / "never.txt").exists()


def test_capture_says_when_the_full_output_could_not_be_saved(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    capture = Capture(10, str(blocker / "cell.txt"))
    capture.write_bytes(b"x" * 100)
    result = capture.finish()
    assert result.truncated
    assert result.saved_to is None
    assert "could not be saved" in result.text


def test_cell_runner_awaits_only_code_that_awaits() -> None:
    async def scenario() -> None:
        runner = CellRunner({})
        defined = await runner.run("async def f():\n    return 5\nf()")
        assert defined.value is not None
        assert defined.value.startswith("<coroutine object f")  # the coroutine is the value; it was not run
        await runner.run("_.close()")
        awaited = await runner.run("await f()")
        assert awaited.value == "5"
        gathered = await runner.run("import asyncio\nsum(await asyncio.gather(f(), f()))")
        assert gathered.value == "10"
        unprintable = await runner.run("class X:\n    def __repr__(self):\n        raise ValueError('no')\nX()")
        assert unprintable.value == "<repr() failed: ValueError: no>"
        huge = await runner.run("'x' * 50_000")
        assert huge.value is not None
        assert len(huge.value) < 11_000
        assert "more characters" in huge.value

    asyncio.run(scenario())
