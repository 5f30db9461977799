"""Parse order-entry request bodies the way Tradovate does.

Two kinds of "no": a body that cannot be deserialised (wrong JSON type, unknown enum value, a
missing required field) is HTTP 400 with a plain-text reason (the shape seen in ISSUE#32:
``No usable value for symbol``). A well-formed request the venue refuses is HTTP 200 with
``failureReason``/``failureText`` (``Rejection``), decided here for shape and in the engine for
state (account, contract, limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

ACTIONS = ("Buy", "Sell")
ORDER_TYPES = (
    "Limit", "MIT", "Market", "QTS", "Stop", "StopLimit", "TrailingStop", "TrailingStopLimit",
)  # fmt: skip
# QTS has no public documentation at all; every other type is simulated (trailing ones in
# trailing.py).
SIMULATED_TYPES = tuple(kind for kind in ORDER_TYPES if kind != "QTS")
TIME_IN_FORCE = ("Day", "FOK", "GTC", "GTD", "IOC")
NEEDS_PRICE = ("Limit", "MIT", "StopLimit", "TrailingStopLimit")
NEEDS_STOP = ("Stop", "StopLimit", "TrailingStop", "TrailingStopLimit")

_VERSION_FIELDS = {
    "action", "orderType", "clOrdId", "price", "stopPrice", "maxShow", "pegDifference",
    "timeInForce", "expireTime", "text",
}  # fmt: skip
_PLACE_FIELDS = _VERSION_FIELDS | {
    "accountSpec", "accountId", "symbol", "orderQty", "activationTime", "customTag50",
    "isAutomated",
}  # fmt: skip
ALLOWED_FIELDS = {
    "order/placeorder": _PLACE_FIELDS,
    "order/placeoso": _PLACE_FIELDS | {"bracket1", "bracket2"},
    "order/placeoco": _PLACE_FIELDS | {"other"},
    "order/modifyorder": (_VERSION_FIELDS - {"action"})
    | {"orderId", "orderQty", "activationTime", "customTag50", "isAutomated"},
    "order/cancelorder": {"orderId", "clOrdId", "activationTime", "customTag50", "isAutomated"},
    "order/liquidateposition": {"accountId", "contractId", "admin", "customTag50", "isAutomated"},
}


class BadRequest(Exception):
    """The body cannot be read: HTTP 400 with a plain-text reason."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


class Rejection(Exception):
    """The venue refuses the request: HTTP 200 with ``failureReason``/``failureText``."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(f"{reason}: {text}")
        self.reason = reason
        self.text = text

    def wire(self) -> dict[str, str]:
        """Return the rejection body."""
        return {"failureReason": self.reason, "failureText": self.text}


@dataclass(frozen=True)
class VersionSpec:
    """The price/type part of an order request (a ``RestrainedOrderVersion``)."""

    action: str
    order_type: str
    cl_ord_id: str | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    max_show: int | None = None
    peg_difference: Decimal | None = None
    time_in_force: str | None = None
    expire_time: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class PlaceRequest:
    """A parsed ``placeorder`` (and the entry part of ``placeoso``/``placeoco``)."""

    account_id: int
    account_spec: str | None
    symbol: str
    order_qty: int
    version: VersionSpec
    is_automated: bool
    custom_tag50: str | None
    activation_time: str | None


@dataclass(frozen=True)
class ModifyRequest:
    """A parsed ``modifyorder``."""

    order_id: int
    order_qty: int
    order_type: str
    version: VersionSpec
    is_automated: bool
    custom_tag50: str | None


def _type_error(name: str, java_type: str) -> BadRequest:
    return BadRequest(
        f"No usable value for {name}\nDid not find value which can be converted into {java_type}"
    )


def _int(body: dict[str, Any], name: str, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _type_error(name, "long")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "long")
    return value


def _str(body: dict[str, Any], name: str, required: bool = False, limit: int = 64) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _type_error(name, "java.lang.String")
        return None
    if not isinstance(value, str):
        raise _type_error(name, "java.lang.String")
    if len(value) > limit:
        raise BadRequest(f"{name}: size must be between 0 and {limit}")
    return value


def _decimal(body: dict[str, Any], name: str) -> Decimal | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "double")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:  # pragma: no cover - json never yields NaN text here
        raise _type_error(name, "double") from exc


def _enum(body: dict[str, Any], name: str, allowed: tuple[str, ...], required: bool) -> str | None:
    value = _str(body, name, required)
    if value is not None and value not in allowed:
        raise BadRequest(f"No usable value for {name}\nUnknown value {value!r}")
    return value


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise _type_error(name, "boolean")
    return value


def require_object(body: Any) -> dict[str, Any]:
    """Return the body as a JSON object or raise 400."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def check_fields(endpoint: str, body: dict[str, Any]) -> None:
    """Reject fields the endpoint does not define (only when the simulator is strict)."""
    unknown = sorted(set(body) - ALLOWED_FIELDS.get(endpoint, set(body)) - {"p-ticket"})
    if unknown:
        raise BadRequest(f"Unrecognized field(s): {', '.join(unknown)}")


def parse_version(body: dict[str, Any], order_type_required: bool = True) -> VersionSpec:
    """Parse the price/type fields shared by every order request."""
    return VersionSpec(
        action=_enum(body, "action", ACTIONS, required=True) or "",
        order_type=_enum(body, "orderType", ORDER_TYPES, order_type_required) or "",
        cl_ord_id=_str(body, "clOrdId"),
        price=_decimal(body, "price"),
        stop_price=_decimal(body, "stopPrice"),
        max_show=_int(body, "maxShow"),
        peg_difference=_decimal(body, "pegDifference"),
        time_in_force=_enum(body, "timeInForce", TIME_IN_FORCE, required=False),
        expire_time=_str(body, "expireTime"),
        text=_str(body, "text"),
    )


def parse_place(body: dict[str, Any]) -> PlaceRequest:
    """Parse a ``placeorder`` body; ``accountId`` must be the integer account entity id."""
    account_id = _int(body, "accountId")
    symbol = _str(body, "symbol", required=True) or ""
    qty = _int(body, "orderQty", required=True)
    version = parse_version(body)
    if account_id is None:
        # Optional in the spec, required in practice (reference §3.2, JSTUT EX-4a "Violation").
        raise Rejection("UnknownReason", "Violation: accountId is required")
    return PlaceRequest(
        account_id=account_id,
        account_spec=_str(body, "accountSpec"),
        symbol=symbol,
        order_qty=qty if qty is not None else 0,
        version=version,
        is_automated=_bool(body, "isAutomated"),
        custom_tag50=_str(body, "customTag50"),
        activation_time=_str(body, "activationTime"),
    )


def parse_restrained(body: dict[str, Any], name: str, required: bool) -> VersionSpec | None:
    """Parse a bracket (``bracket1``/``bracket2``/``other``): no quantity, no account."""
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"No usable value for {name}")
        return None
    if not isinstance(value, dict):
        raise _type_error(name, "RestrainedOrderVersion")
    if "orderQty" in value:
        raise BadRequest(f"{name}: Unrecognized field orderQty")
    return parse_version(value)


def parse_modify(body: dict[str, Any]) -> ModifyRequest:
    """Parse ``modifyorder``: ``orderQty`` and ``orderType`` are required even for a price
    change (reference §3.2)."""
    order_id = _int(body, "orderId", required=True)
    qty = _int(body, "orderQty", required=True)
    order_type = _enum(body, "orderType", ORDER_TYPES, required=True)
    version = parse_version({**body, "action": "Buy"})
    return ModifyRequest(
        order_id=order_id or 0,
        order_qty=qty or 0,
        order_type=order_type or "",
        version=version,
        is_automated=_bool(body, "isAutomated"),
        custom_tag50=_str(body, "customTag50"),
    )


def parse_cancel(body: dict[str, Any]) -> tuple[int, str | None, bool]:
    """Parse ``cancelorder``: order id, clOrdId, isAutomated."""
    order_id = _int(body, "orderId", required=True)
    return order_id or 0, _str(body, "clOrdId"), _bool(body, "isAutomated")


def parse_liquidate(body: dict[str, Any]) -> tuple[int, int, bool, str | None]:
    """Parse ``liquidateposition``: account id, contract id, admin, customTag50."""
    account_id = _int(body, "accountId", required=True)
    contract_id = _int(body, "contractId", required=True)
    return account_id or 0, contract_id or 0, _bool(body, "admin"), _str(body, "customTag50")
