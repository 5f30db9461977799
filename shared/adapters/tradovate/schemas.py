"""Model Tradovate's JSON with Tradovate's own field names; the only place wire names live.

Inbound models (``Broker…`` responses and events) keep unknown fields (``extra="allow"``):
real payloads carry many more fields than we use and new ones appear over time, and keeping
them means nothing is silently dropped from a log or a fixture. Outbound models reject
unknown fields (``extra="forbid"``) so a typo cannot reach the broker. Numbers arrive as
``Decimal`` (the HTTP and WebSocket layers decode JSON with ``parse_float=Decimal``) and
prices leave as JSON numbers, never strings. Field meanings: reference sections 2 to 4.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer


def _as_utc(value: datetime) -> datetime:
    # Tradovate stamps are UTC ("...Z"); a stamp without an offset is read as UTC too.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_number(value: Decimal) -> int | float:
    # Tradovate expects JSON numbers. Prices are already on tick, so the shortest float repr
    # of the Decimal prints the same digits.
    return int(value) if value == value.to_integral_value() else float(value)


WireTime = Annotated[datetime, AfterValidator(_as_utc)]
WirePrice = Annotated[Decimal, PlainSerializer(_json_number, when_used="json")]


class _Inbound(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class _Outbound(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """Return the JSON-ready body with Tradovate's names, omitting unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- auth (reference §2) ---------------------------------------------------------------------


class BrokerAccessTokenRequest(_Outbound):
    """Body of ``auth/accesstokenrequest``."""

    name: str = Field(max_length=64)
    password: str = Field(max_length=64)
    appId: str = Field(max_length=64)
    appVersion: str = Field(max_length=64)
    # The spec types cid as a string; official examples send numbers and strings (§2.1).
    cid: int | str
    sec: str = Field(max_length=8192)
    deviceId: str | None = Field(default=None, max_length=64)


class BrokerAccessTokenResponse(_Inbound):
    """Answer of ``auth/accesstokenrequest`` and ``auth/renewaccesstoken``."""

    accessToken: str | None = None
    mdAccessToken: str | None = None
    expirationTime: WireTime | None = None
    userId: int | None = None
    name: str | None = None
    userStatus: str | None = None
    errorText: str | None = None


# --- reference data (reference §3.2) ------------------------------------------------------------


class BrokerAccount(_Inbound):
    """``Account`` entity."""

    id: int
    name: str
    userId: int | None = None
    active: bool = True
    readonly: bool = False


class BrokerProduct(_Inbound):
    """``Product`` entity (``product/find``)."""

    id: int
    name: str
    tickSize: Decimal
    valuePerPoint: Decimal
    currencyId: int | None = None
    description: str | None = None
    months: str | None = None
    isMicro: bool = False


class BrokerContract(_Inbound):
    """``Contract`` entity (``contract/find``, ``item``, ``suggest``)."""

    id: int
    name: str
    contractMaturityId: int | None = None


class BrokerContractMaturity(_Inbound):
    """``ContractMaturity`` entity; ``expirationMonth`` is YYYYMM in real data (§3.2)."""

    id: int
    productId: int
    expirationMonth: int
    expirationDate: WireTime | None = None
    firstIntentDate: WireTime | None = None
    isFront: bool = False


class BrokerRollContractRequest(_Outbound):
    """Body of ``contract/rollcontract``."""

    name: str
    forward: bool
    ifExpired: bool


class BrokerRollContractResponse(_Inbound):
    """Answer of ``contract/rollcontract``."""

    contract: BrokerContract | None = None
    errorText: str | None = None


# --- account state ------------------------------------------------------------------------------


class BrokerPosition(_Inbound):
    """``Position`` entity."""

    id: int
    accountId: int
    contractId: int
    netPos: int
    netPrice: Decimal | None = None
    bought: int = 0
    sold: int = 0
    prevPos: int | None = None
    prevPrice: Decimal | None = None
    timestamp: WireTime | None = None


class BrokerOrder(_Inbound):
    """``Order`` entity; price and quantity live on ``BrokerOrderVersion`` (§3.2)."""

    id: int
    accountId: int
    contractId: int
    action: str
    ordStatus: str
    timestamp: WireTime | None = None
    ocoId: int | None = None
    parentId: int | None = None
    linkedId: int | None = None
    # Not in the spec; tolerated because some servers echo it and it makes lookups one call.
    clOrdId: str | None = None


class BrokerOrderVersion(_Inbound):
    """``OrderVersion`` entity."""

    id: int
    orderId: int
    orderQty: int
    orderType: str | None = None
    price: Decimal | None = None
    stopPrice: Decimal | None = None
    pegDifference: Decimal | None = None
    timeInForce: str | None = None


class BrokerCommand(_Inbound):
    """``Command`` entity: where ``clOrdId`` is kept."""

    id: int
    orderId: int
    commandType: str
    commandStatus: str
    clOrdId: str | None = None
    timestamp: WireTime | None = None


class BrokerExecutionReport(_Inbound):
    """``ExecutionReport`` entity."""

    id: int
    orderId: int
    accountId: int
    contractId: int
    execType: str
    ordStatus: str | None = None
    commandId: int | None = None
    action: str | None = None
    cumQty: int = 0
    avgPx: Decimal | None = None
    lastQty: int = 0
    lastPx: Decimal | None = None
    rejectReason: str | None = None
    text: str | None = None
    timestamp: WireTime | None = None


class BrokerFill(_Inbound):
    """``Fill`` entity."""

    id: int
    orderId: int
    contractId: int
    action: str
    qty: int
    price: Decimal
    timestamp: WireTime | None = None
    active: bool = True


class BrokerCashBalance(_Inbound):
    """``CashBalance`` entity."""

    id: int
    accountId: int
    amount: Decimal
    realizedPnL: Decimal | None = None
    weekRealizedPnL: Decimal | None = None
    timestamp: WireTime | None = None


class BrokerCashBalanceSnapshotRequest(_Outbound):
    """Body of ``cashBalance/getcashbalancesnapshot``."""

    accountId: int


class BrokerCashBalanceSnapshot(_Inbound):
    """Answer of ``cashBalance/getcashbalancesnapshot``; zero fields may be omitted (§3.2)."""

    totalCashValue: Decimal | None = None
    netLiq: Decimal | None = None
    openPnL: Decimal | None = None
    realizedPnL: Decimal | None = None
    weekRealizedPnL: Decimal | None = None
    totalPnL: Decimal | None = None
    initialMargin: Decimal | None = None
    maintenanceMargin: Decimal | None = None
    errorText: str | None = None


# --- order entry (reference §3.2 "Order entry") ---------------------------------------------------

WireAction = Literal["Buy", "Sell"]
WireOrderType = Literal[
    "Market", "Limit", "Stop", "StopLimit", "TrailingStop", "TrailingStopLimit", "MIT"
]
WireTimeInForce = Literal["Day", "GTC", "GTD", "IOC", "FOK"]


class BrokerRestrainedOrderVersion(_Outbound):
    """A bracket or OCO leg: order terms without a quantity."""

    action: WireAction
    orderType: WireOrderType
    clOrdId: str | None = Field(default=None, max_length=64)
    price: WirePrice | None = None
    stopPrice: WirePrice | None = None
    pegDifference: WirePrice | None = None
    timeInForce: WireTimeInForce | None = None
    text: str | None = Field(default=None, max_length=64)


class BrokerPlaceOrder(_Outbound):
    """Body of ``order/placeorder``; ``isAutomated`` is always true (§3.2, §6 item 4)."""

    accountSpec: str | None = Field(default=None, max_length=64)
    accountId: int
    clOrdId: str = Field(max_length=64)
    action: WireAction
    symbol: str = Field(max_length=64)
    orderQty: int = Field(gt=0)
    orderType: WireOrderType
    price: WirePrice | None = None
    stopPrice: WirePrice | None = None
    pegDifference: WirePrice | None = None
    timeInForce: WireTimeInForce | None = None
    expireTime: str | None = None
    text: str | None = Field(default=None, max_length=64)
    isAutomated: Literal[True] = True


class BrokerPlaceOso(BrokerPlaceOrder):
    """Body of ``order/placeoso``: an entry plus one or two brackets."""

    bracket1: BrokerRestrainedOrderVersion
    bracket2: BrokerRestrainedOrderVersion | None = None


class BrokerPlaceOco(BrokerPlaceOrder):
    """Body of ``order/placeoco``: an order plus the one it cancels."""

    other: BrokerRestrainedOrderVersion


class BrokerModifyOrder(_Outbound):
    """Body of ``order/modifyorder``; qty and type are required even for a price change."""

    orderId: int
    orderQty: int = Field(gt=0)
    orderType: WireOrderType
    clOrdId: str | None = Field(default=None, max_length=64)
    price: WirePrice | None = None
    stopPrice: WirePrice | None = None
    pegDifference: WirePrice | None = None
    timeInForce: WireTimeInForce | None = None
    isAutomated: Literal[True] = True


class BrokerCancelOrder(_Outbound):
    """Body of ``order/cancelorder``."""

    orderId: int
    clOrdId: str | None = Field(default=None, max_length=64)
    isAutomated: Literal[True] = True


class BrokerLiquidatePosition(_Outbound):
    """Body of ``order/liquidateposition`` (``isAutomated`` per the partner docs, §3.2)."""

    accountId: int
    contractId: int
    admin: Literal[False] = False
    isAutomated: Literal[True] = True


class BrokerPlaceOrderResult(_Inbound):
    """Answer of ``placeorder`` and ``liquidateposition``."""

    orderId: int | None = None
    failureReason: str | None = None
    failureText: str | None = None


class BrokerPlaceOsoResult(BrokerPlaceOrderResult):
    """Answer of ``placeoso`` (the spec's names ``oso1Id``/``oso2Id``, §6 item 12)."""

    oso1Id: int | None = None
    oso2Id: int | None = None


class BrokerPlaceOcoResult(BrokerPlaceOrderResult):
    """Answer of ``placeoco``."""

    ocoId: int | None = None


class BrokerCommandResult(_Inbound):
    """Answer of ``modifyorder`` and ``cancelorder``."""

    commandId: int | None = None
    failureReason: str | None = None
    failureText: str | None = None


# --- WebSocket payloads (reference §4) ---------------------------------------------------------


class BrokerSyncRequest(_Outbound):
    """Body of ``user/syncrequest``."""

    users: list[int] | None = None
    accounts: list[int] | None = None
    splitResponses: bool | None = None


class BrokerSyncResponse(_Inbound):
    """Snapshot answered to ``user/syncrequest``; types Tradebridge ignores stay in extras."""

    accounts: list[BrokerAccount] = Field(default_factory=list)
    positions: list[BrokerPosition] = Field(default_factory=list)
    orders: list[BrokerOrder] = Field(default_factory=list)
    orderVersions: list[BrokerOrderVersion] = Field(default_factory=list)
    commands: list[BrokerCommand] = Field(default_factory=list)
    executionReports: list[BrokerExecutionReport] = Field(default_factory=list)
    fills: list[BrokerFill] = Field(default_factory=list)
    cashBalances: list[BrokerCashBalance] = Field(default_factory=list)
    contracts: list[BrokerContract] = Field(default_factory=list)


class BrokerPropsEvent(_Inbound):
    """``d`` of a ``props`` event: one entity (or a list of them) created/updated/deleted."""

    entityType: str
    eventType: str
    entity: dict[str, Any] | list[dict[str, Any]]


class BrokerShutdownEvent(_Inbound):
    """``d`` of a ``shutdown`` event."""

    reasonCode: str
    reason: str | None = None


class BrokerQuoteEntry(_Inbound):
    """One entry of a quote; either field may be missing (§4.7)."""

    price: Decimal | None = None
    size: Decimal | None = None


class BrokerQuote(_Inbound):
    """One element of ``d.quotes`` in an ``md`` event, keyed by ``contractId``."""

    contractId: int
    timestamp: WireTime | None = None
    entries: dict[str, BrokerQuoteEntry] = Field(default_factory=dict)


class BrokerMdEvent(_Inbound):
    """``d`` of an ``md`` event."""

    quotes: list[BrokerQuote] = Field(default_factory=list)
