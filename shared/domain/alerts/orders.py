"""Read the order words the tolerant formats share: an order type, and what a ``type`` can mean.

Bridges spell order types many ways (``market``/``MKT``, ``stop_limit``/``STPLMT``/``stoplimit``)
and the simple shapes often send them as ``type``. A ``type`` that names a protective order
(``stop_loss``, ``take_profit``) describes an exit that belongs to an entry's bracket, not an
entry: it is refused (``unsupported_value``) instead of being read as a market order.
"""

from __future__ import annotations

from shared.domain.alerts.coerce import fail, to_text
from shared.domain.signal import OrderType

ORDER_TYPE_WORDS: dict[str, OrderType] = {
    "market": OrderType.MARKET,
    "mkt": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "lmt": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stp": OrderType.STOP,
    "stopmarket": OrderType.STOP,
    "stopmkt": OrderType.STOP,
    "stoplimit": OrderType.STOP_LIMIT,
    "stplmt": OrderType.STOP_LIMIT,
    "trailingstop": OrderType.TRAILING_STOP,
    "trailing": OrderType.TRAILING_STOP,
}
# Words that name an exit order protecting a position (or a kind of alert), not an entry type.
_PROTECTIVE = frozenset(
    {
        "stoploss", "sl", "takeprofit", "tp", "profit", "target", "bracket", "oco", "oso",
        "exit", "close", "trailingstoploss", "breakeven", "mit", "marketiftouched",
        "trailingstoplimit",
    }
)  # fmt: skip


def _squash(word: str) -> str:
    return "".join(char for char in word.lower() if char.isascii() and char.isalnum())


def read_order_type(value: object, field: str) -> OrderType:
    """Read an order type in any common spelling; refuse protective or unknown ones."""
    text = to_text(value, field, max_chars=40)
    word = _squash(text) if text.isascii() else ""
    found = ORDER_TYPE_WORDS.get(word)
    if found is not None:
        return found
    if word in _PROTECTIVE:
        fail(
            f"{field} {text!r} is not an entry order this format can place: send a stop loss or "
            "take profit as a bracket on the entry (stop_loss, take_profit), or an exit",
            "unsupported_value",
            field,
        )
    fail(
        f"{field} must be market, limit, stop, stop_limit or trailing_stop; got {text[:40]!r}",
        "invalid_choice",
        field,
    )
