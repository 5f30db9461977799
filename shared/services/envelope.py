"""Put a signal for one account on the queue, and read it back: the queue message format.

The webhook writes it, reconcile-healing writes it, the executor reads it. Version 1:
``{"v", "signal_id", "strategy", "account", "account_id", "multiplier", "format",
"received_at", "correlation_id", "signal"}`` with the signal in the lossless codec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.domain.codec import decode, encode_without
from shared.domain.errors import InvalidSignal
from shared.domain.signal import Signal
from shared.ports import OutboundMessage

ENVELOPE_VERSION = 1
# The alert format of the flatten signals the operator's API queues (``shared.services.ops.
# flatten``). Only that API puts it on the queue: the webhook's formats are the parsers'.
OPERATOR_FORMAT = "ops"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One signal for one account, as it travels on the signals queue."""

    signal_id: str
    strategy_id: str
    account: str
    account_id: int | None
    multiplier: Decimal
    alert_format: str
    received_at: datetime
    correlation_id: str
    signal: Signal

    @property
    def message_id(self) -> str:
        """Return the Service Bus MessageId: one per signal and account."""
        return f"{self.signal_id}:{self.account}"

    @property
    def session_id(self) -> str:
        """Return the Service Bus SessionId: one FIFO per account and instrument root."""
        return f"{self.account}-{self.signal.symbol.root}"


def to_message(envelope: Envelope, *, signal_data: dict[str, Any] | None = None) -> OutboundMessage:
    """Render an envelope as the queue message the executor will receive.

    ``signal_data`` is the signal already encoded without its extras, for callers that send
    one signal to several accounts and need not encode it again for each.
    """
    if signal_data is None:
        signal_data = encode_without(envelope.signal, "extras")
    body = {
        "v": ENVELOPE_VERSION,
        "signal_id": envelope.signal_id,
        "strategy": envelope.strategy_id,
        "account": envelope.account,
        "account_id": envelope.account_id,
        "multiplier": str(envelope.multiplier),
        "format": envelope.alert_format,
        "received_at": envelope.received_at.isoformat(),
        "correlation_id": envelope.correlation_id,
        "signal": signal_data,
    }
    return OutboundMessage(
        body=json.dumps(body, separators=(",", ":")).encode(),
        message_id=envelope.message_id,
        session_id=envelope.session_id,
        correlation_id=envelope.correlation_id,
        application_properties={
            "strategy": envelope.strategy_id,
            "account": envelope.account,
            "root": envelope.signal.symbol.root,
            "signal_id": envelope.signal_id,
        },
    )


def from_body(body: bytes) -> Envelope:
    """Read a queue message body back into an envelope, or raise ``InvalidSignal``."""
    try:
        data: dict[str, Any] = json.loads(body)
        if data.get("v") != ENVELOPE_VERSION:
            raise InvalidSignal(
                f"unsupported envelope version {data.get('v')!r}", code="bad_envelope"
            )
        account_id = data.get("account_id")
        return Envelope(
            signal_id=str(data["signal_id"]),
            strategy_id=str(data["strategy"]),
            account=str(data["account"]),
            account_id=int(account_id) if account_id is not None else None,
            multiplier=Decimal(str(data["multiplier"])),
            alert_format=str(data["format"]),
            received_at=datetime.fromisoformat(str(data["received_at"])),
            correlation_id=str(data["correlation_id"]),
            signal=decode(Signal, data["signal"], "signal"),
        )
    except InvalidSignal:
        raise
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise InvalidSignal(
            f"the queue message is not a signal envelope: {exc}", code="bad_envelope"
        ) from exc
