"""Tests for mcpexec.results: wire-format ``tools/call`` results -> Python values."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpexec.errors import MCPExecError, ToolCallError
from mcpexec.results import (
    AudioContent,
    ImageContent,
    ResourceContent,
    ResourceLink,
    error_message,
    normalize_result,
    wrapped_result_schema,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x01binary\xff"
WAV = b"RIFF\x00\x00\x00\x00WAVEfmt \xfe"
NO_MESSAGE = "the tool reported an error without a message"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def wrapper_schema(tool: str, inner: Any = None) -> dict[str, Any]:
    """The output schema the `mcp` SDK generates for a tool returning a non-object value."""
    return {
        "type": "object",
        "title": f"{tool}Output",
        "properties": {"result": {"title": "Result", "type": "string"} if inner is None else inner},
        "required": ["result"],
    }


def normalize(result: dict[str, Any], output_schema: dict[str, Any] | None = None, tool: str = "t") -> Any:
    return normalize_result(result, server="srv", tool=tool, output_schema=output_schema)


# ------------------------------------------------------------------------------------------------------ isError


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([text("boom")], "boom"),
        ([text("first"), text("second")], "first\nsecond"),
        ([text("first"), {"type": "image", "data": b64(PNG), "mimeType": "image/png"}, text("last")], "first\nlast"),
        ([text(""), text("  only  ")], "only"),
        ([], NO_MESSAGE),
        ([text("")], NO_MESSAGE),
        ([text("   \n ")], NO_MESSAGE),
        ([{"type": "image", "data": b64(PNG), "mimeType": "image/png"}], NO_MESSAGE),
        ("not a list", NO_MESSAGE),
    ],
)
def test_is_error_raises_tool_call_error_with_the_servers_text(content: Any, expected: str) -> None:
    result = {"isError": True, "content": content}
    assert error_message(result) == expected
    with pytest.raises(ToolCallError) as caught:
        normalize(result)
    error = caught.value
    assert isinstance(error, MCPExecError)
    assert error.message == expected
    assert error.server == "srv"
    assert error.tool == "t"
    assert str(error) == f"srv.t: {expected}"


def test_is_error_without_content_key_uses_the_fallback() -> None:
    with pytest.raises(ToolCallError, match="without a message"):
        normalize({"isError": True})


def test_error_message_falls_back_to_structured_content_when_there_is_no_text() -> None:
    result = {"isError": True, "content": [], "structuredContent": {"code": 7, "why": "é"}}
    assert error_message(result) == '{"code": 7, "why": "é"}'
    with pytest.raises(ToolCallError) as caught:
        normalize(result)
    assert caught.value.message == '{"code": 7, "why": "é"}'


def test_error_text_is_preferred_over_structured_content() -> None:
    result = {"isError": True, "content": [text("bad input")], "structuredContent": {"code": 7}}
    assert error_message(result) == "bad input"


def test_is_error_wins_over_structured_content() -> None:
    with pytest.raises(ToolCallError, match="nope"):
        normalize({"isError": True, "content": [text("nope")], "structuredContent": {"ok": True}})


@pytest.mark.parametrize("flag", [False, None, "true", 1])
def test_only_is_error_true_is_an_error(flag: Any) -> None:
    assert normalize({"isError": flag, "content": [text("fine")]}) == "fine"


# ------------------------------------------------------------------------------------------- structuredContent


@pytest.mark.parametrize(
    "structured",
    [{"total": 3.0}, {}, {"result": "x"}, [1, 2], "s", 0, None, {"nested": {"a": [1, {"b": None}]}}],
)
def test_structured_content_is_preferred_over_text(structured: Any) -> None:
    result = {"content": [text('{"from": "text"}')], "structuredContent": structured}
    assert normalize(result) == structured


def test_sdk_wrapper_is_unwrapped_when_the_schema_is_exactly_the_wrapper() -> None:
    result = {"content": [text("hi")], "structuredContent": {"result": "hi"}}
    assert normalize(result, wrapper_schema("echo"), tool="echo") == "hi"


@pytest.mark.parametrize("value", [None, 0, 42, 1.5, True, "", "text", [1, "a"], {"k": "v"}, {"result": 1}])
def test_sdk_wrapper_unwraps_any_value(value: Any) -> None:
    result = {"content": [], "structuredContent": {"result": value}}
    assert normalize(result, wrapper_schema("tool", {}), tool="tool") == value


def _with(schema: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(schema)
    for key, value in changes.items():
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


LOOK_ALIKES = {
    "model title": _with(wrapper_schema("echo"), title="Result"),
    "no title": _with(wrapper_schema("echo"), title=None),
    "title not a str": _with(wrapper_schema("echo"), title=["echoOutput"]),
    "snake-case title": _with(wrapper_schema("echo"), title="echo_output"),
    "title only starts with Output": _with(wrapper_schema("echo"), title="OutputOfEcho"),
    "extra property": _with(
        wrapper_schema("echo"), properties={"result": {"type": "string"}, "extra": {"type": "integer"}}
    ),
    "other property": _with(wrapper_schema("echo"), properties={"value": {"type": "string"}}),
    "no properties": _with(wrapper_schema("echo"), properties=None),
    "properties not a mapping": _with(wrapper_schema("echo"), properties=["result"]),
    "result optional": _with(wrapper_schema("echo"), required=None),
    "required differs": _with(wrapper_schema("echo"), required=["result", "extra"]),
}


@pytest.mark.parametrize("schema", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_look_alike_schema_is_not_unwrapped(schema: dict[str, Any]) -> None:
    assert wrapped_result_schema("echo", schema) is None
    structured = {"result": "hi"}
    assert normalize({"content": [text("hi")], "structuredContent": structured}, schema, tool="echo") == structured


@pytest.mark.parametrize("title", ["dynamicOutput", "EchoOutput"])
def test_wrapper_named_after_the_function_is_unwrapped(title: str) -> None:
    # the SDK names the wrapper after the Python function, which differs from the tool name for
    # tools registered under another name (server.add_tool(dynamic, name="dyn"))
    schema = _with(wrapper_schema("dyn"), title=title)
    assert wrapped_result_schema("dyn", schema) == {"title": "Result", "type": "string"}
    assert normalize({"structuredContent": {"result": "dyn:5"}}, schema, tool="dyn") == "dyn:5"


def test_no_output_schema_is_not_unwrapped() -> None:
    assert wrapped_result_schema("echo", None) is None
    assert normalize({"structuredContent": {"result": "hi"}}, None, tool="echo") == {"result": "hi"}


def test_wrapped_result_schema_returns_the_inner_schema() -> None:
    inner = {"type": "array", "items": {"type": "integer"}, "title": "Result"}
    found = wrapped_result_schema("ids", wrapper_schema("ids", inner))
    assert found == inner
    assert found is not inner  # a copy, not the caller's dict
    assert wrapped_result_schema("ids", wrapper_schema("ids", True)) == {}


def test_wrapper_schema_with_non_object_structured_content_returns_it_unchanged() -> None:
    assert normalize({"structuredContent": ["a"]}, wrapper_schema("t"), tool="t") == ["a"]


# ---------------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),
        ("[1, 2, 3]", [1, 2, 3]),
        ('[{"id": 0}]', [{"id": 0}]),
        ("{}", {}),
        ("[]", []),
        ('  \n {"padded": "yes"} \n', {"padded": "yes"}),
        ('{"unicode": "\\u00e9"}', {"unicode": "é"}),
    ],
)
def test_json_object_or_array_text_is_parsed(raw: str, expected: Any) -> None:
    assert normalize({"content": [text(raw)]}) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "hello",
        "42",
        "-1.5",
        "true",
        "null",
        '"quoted"',
        "",
        "   ",
        "{not json}",
        "[1, 2",
        "{'single': 'quotes'}",
        "[1] and [2]",
        '{"a": 1} trailing',
        "leading [1]",
    ],
)
def test_other_text_stays_str(raw: str) -> None:
    value = normalize({"content": [text(raw)]})
    assert value == raw
    assert type(value) is str


def test_text_block_without_text_is_empty_str() -> None:
    assert normalize({"content": [{"type": "text"}]}) == ""


# ------------------------------------------------------------------------------------------ media and resources


@pytest.mark.parametrize(
    ("kind", "cls", "data", "mime"),
    [("image", ImageContent, PNG, "image/png"), ("audio", AudioContent, WAV, "audio/wav")],
)
def test_media_is_base64_decoded(kind: str, cls: type[Any], data: bytes, mime: str) -> None:
    value = normalize({"content": [{"type": kind, "data": b64(data), "mimeType": mime}]})
    assert value == cls(data, mime)
    assert type(value) is cls
    assert value.data == data
    assert value.mime_type == mime
    assert f"{len(data)} bytes" in repr(value)  # the repr does not dump the payload
    assert repr(data) not in repr(value)


def test_media_without_data_is_empty_bytes() -> None:
    assert normalize({"content": [{"type": "image", "mimeType": "image/png"}]}) == ImageContent(b"", "image/png")


def test_embedded_text_resource() -> None:
    block = {"type": "resource", "resource": {"uri": "file:///notes.txt", "mimeType": "text/plain", "text": "hi"}}
    assert normalize({"content": [block]}) == ResourceContent(
        uri="file:///notes.txt", mime_type="text/plain", text="hi"
    )


def test_embedded_blob_resource_is_decoded() -> None:
    block = {
        "type": "resource",
        "resource": {"uri": "file:///a.bin", "mimeType": "application/octet-stream", "blob": b64(PNG)},
    }
    value = normalize({"content": [block]})
    assert value == ResourceContent(uri="file:///a.bin", mime_type="application/octet-stream", blob=PNG)
    assert value.text is None


def test_embedded_resource_that_is_not_a_mapping_is_passed_through() -> None:
    block = {"type": "resource", "resource": "file:///x"}
    assert normalize({"content": [block]}) == block


def test_resource_link() -> None:
    block = {
        "type": "resource_link",
        "uri": "https://example.com/r/1",
        "name": "r1",
        "mimeType": "text/csv",
        "description": "the first resource",
    }
    assert normalize({"content": [block]}) == ResourceLink(
        uri="https://example.com/r/1", name="r1", mime_type="text/csv", description="the first resource"
    )
    assert normalize({"content": [{"type": "resource_link", "uri": "u"}]}) == ResourceLink(uri="u")


@pytest.mark.parametrize(
    "block",
    [{"type": "video", "url": "https://example.com/v.mp4"}, {"no_type": True}, {"type": None, "x": [1]}],
)
def test_unknown_block_types_are_passed_through_as_dicts(block: dict[str, Any]) -> None:
    value = normalize({"content": [block]})
    assert value == block
    assert type(value) is dict


def test_results_are_frozen() -> None:
    image = ImageContent(PNG, "image/png")
    with pytest.raises(AttributeError):
        image.data = b""  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------- block count


def test_multiple_blocks_give_a_list_in_order() -> None:
    content = [
        {"type": "image", "data": b64(PNG), "mimeType": "image/png"},
        text('{"n": 1}'),
        text("caption"),
        {"type": "resource_link", "uri": "u"},
    ]
    assert normalize({"content": content}) == [ImageContent(PNG, "image/png"), {"n": 1}, "caption", ResourceLink("u")]


def test_non_mapping_blocks_are_skipped() -> None:
    assert normalize({"content": [1, "x", None, text("kept")]}) == "kept"
    assert normalize({"content": [1, "x"]}) is None


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"content": []},
        {"content": None},
        {"content": "text"},
        {"content": {"type": "text", "text": "x"}},
        {"content": 5},
    ],
    ids=["no content", "empty", "null", "str", "dict", "int"],
)
def test_no_usable_content_gives_none(result: dict[str, Any]) -> None:
    assert normalize(result) is None


# ------------------------------------------------------------------------------------------------- property

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


@given(structured=json_values, content=st.lists(st.builds(text, st.text(max_size=10)), max_size=3))
def test_structured_content_is_returned_unchanged(structured: Any, content: list[dict[str, Any]]) -> None:
    result = {"content": content, "structuredContent": structured}
    assert normalize_result(result, server="s", tool="t") == structured
    assert normalize_result(result, server="s", tool="t", output_schema={"type": "object", "title": "tOutput"}) == (
        structured
    )
