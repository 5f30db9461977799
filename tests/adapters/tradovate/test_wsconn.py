"""The websocket-client seam: text frames are decoded strictly, whatever the library checked."""

from __future__ import annotations

from typing import Any

import pytest
import websocket

from shared.adapters.tradovate.wsconn import ConnectionClosed, _ClientConnection


class _Frames:
    """Stands in for ``websocket.WebSocket``: hands out the frames it was given."""

    def __init__(self, *frames: tuple[int, Any]) -> None:
        self._frames = list(frames)

    def recv_data(self) -> tuple[int, Any]:
        return self._frames.pop(0)


def _connection(*frames: tuple[int, Any]) -> _ClientConnection:
    return _ClientConnection(_Frames(*frames))  # type: ignore[arg-type]


TEXT = websocket.ABNF.OPCODE_TEXT


def test_text_frames_are_decoded_as_utf8() -> None:
    connection = _connection((TEXT, 'a[{"e":"props","d":"é 日本"}]'.encode()), (TEXT, b"o"))
    assert connection.recv() == 'a[{"e":"props","d":"é 日本"}]'
    assert connection.recv() == "o"


@pytest.mark.parametrize(
    "payload",
    [b"a[\xff]", b'a["\xc3"]', b"\xed\xa0\x80"],  # a stray byte, a cut sequence, a surrogate
    ids=["stray", "cut", "surrogate"],
)
def test_a_text_frame_that_is_not_utf8_closes_the_connection(payload: bytes) -> None:
    with pytest.raises(ConnectionClosed, match="not UTF-8"):
        _connection((TEXT, payload)).recv()


def test_a_close_frame_closes_the_connection() -> None:
    with pytest.raises(ConnectionClosed, match="close frame"):
        _connection((websocket.ABNF.OPCODE_CLOSE, b"")).recv()
