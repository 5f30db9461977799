"""WebSocket framing: every frame type, every message of an 'a' frame, exact request text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.adapters.tradovate.frames import (
    CloseFrame,
    DataFrame,
    Event,
    FrameError,
    HeartbeatFrame,
    OpenFrame,
    Response,
    encode_authorize,
    encode_request,
    parse_frame,
)


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        ("o", OpenFrame()),
        ("h", HeartbeatFrame()),
        ('c[3000,"Go away!"]', CloseFrame(3000, "Go away!")),
        ("c", CloseFrame(None, "")),
        ('a[{"s":200,"i":1}]', DataFrame((Response(1, 200, None),))),
        (
            'a[{"s":401,"i":0,"d":"Invalid access token"}]',
            DataFrame((Response(0, 401, "Invalid access token"),)),
        ),
        (
            'a[{"e":"shutdown","d":{"reasonCode":"Maintenance"}}]',
            DataFrame((Event("shutdown", {"reasonCode": "Maintenance"}),)),
        ),
    ],
)
def test_parse_frame_with_each_type_returns_the_frame(text: str, frame: object) -> None:
    assert parse_frame(text) == frame


def test_parse_frame_with_three_messages_returns_all_three_in_order() -> None:
    frame = parse_frame('a[{"e":"props","d":1},{"s":200,"i":7,"d":{"x":1.5}},{"e":"md","d":2}]')
    assert isinstance(frame, DataFrame)
    assert frame.messages == (
        Event("props", 1),
        Response(7, 200, {"x": Decimal("1.5")}),
        Event("md", 2),
    )


@pytest.mark.parametrize(
    "text", ["", "x", "a{", 'a{"e":"props"}', "a[1]", 'a[{"z":1}]', "c[not json"]
)
def test_parse_frame_with_garbage_raises_frame_error(text: str) -> None:
    with pytest.raises(FrameError):
        parse_frame(text)


def test_encode_request_with_query_and_body_uses_four_lines() -> None:
    text = encode_request("contract/suggest", 4, query={"t": "ES", "l": 10})
    assert text == "contract/suggest\n4\nt=ES&l=10\n"
    text = encode_request("/order/placeorder", 5, body={"price": Decimal("1.25"), "qty": 1})
    assert text == 'order/placeorder\n5\n\n{"price":1.25,"qty":1}'


def test_encode_request_with_raw_query_string_keeps_it() -> None:
    assert encode_request("executionReport/list", 4) == "executionReport/list\n4\n\n"
    assert encode_request("x/ldeps", 8, query="masterids=1") == "x/ldeps\n8\nmasterids=1\n"


def test_encode_request_with_bad_endpoint_raises() -> None:
    with pytest.raises(ValueError, match="single line"):
        encode_request("a\nb", 1)


def test_encode_authorize_with_token_puts_raw_token_on_the_body_line() -> None:
    assert encode_authorize(1, "tok.en") == "authorize\n1\n\ntok.en"
    with pytest.raises(ValueError, match="single line"):
        encode_authorize(1, "")
