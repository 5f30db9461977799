"""Turn one webhook request into queued signals: the use case behind ``POST /api/webhook``.

The steps, cheapest refusal first, and nothing irreversible before the enqueue:

1. size limit, then the strategy (unknown or disabled: 401, like a bad secret);
2. the caller's address against TradingView's published IPs (when the strategy asks);
3. read the alert in any supported format (400 with a stable code and the field);
4. the strategy's secret, compared in constant time (401);
5. the symbol (400 ``unknown_symbol``): its traded root must be a known futures product
   (``shared.domain.alerts.products``, plus the roots the strategy configures) and, for an
   alert that may open or add, on the strategy's allowlist; an exit of a root dropped from the
   allowlist still goes through, as the risk gates let it. No I/O: it is read from the
   strategy file and a constant;
6. the per-strategy rate limit (429);
7. de-duplication: an explicit alert id for 24 h; a rate-limit group (CrossTrade
   ``rate_limit=1/120;id=g;``) for its window, so a later alert of the group trades; else an
   identical body within the strategy's window; a duplicate answers 202 "duplicate" with the
   first alert's id, after sending that signal's messages again (the queue drops a MessageId
   it holds; this heals a claim whose enqueue failed when the release failed with it);
8. fan-out, one message per account: MessageId ``{signal id}:{account}``, SessionId
   ``{account}-{root}`` (one FIFO per account and instrument);
9. one batch to the queue; if it fails, the de-duplication claim is released so
   TradingView's re-send is not mistaken for a duplicate, and the caller answers 503.

A gate that can (``AnnouncingGate``: the Redis one) publishes ``webhook.received`` for every
admitted alert and every duplicate inside step 7's round trip, so the event costs no round
trip of its own: the strategy, the signal id, ``accepted`` or ``duplicate``, the number of
messages, the format, the correlation id and the time received; never the body or the
secret. It goes out before the enqueue, so when the enqueue then fails (a 503) a second event,
status ``failed``, follows on that rare path.

Every alert, accepted or not, is journaled with its secrets masked (``shared.domain.masking``):
the strategy's real secret and the presented one wherever they appear, in any spelling, and
the value of every secret-like field (``secret``, ``token``, ``key``, ``code``…) of any type, at
any depth, in every body encoding, also when the body is invalid or cut off. The secret is
compared as UTF-8 bytes (lone surrogates passed through), so odd text is a 401, never an error.
The write runs in the background (by default the answer does not wait for it at all), so
Table storage can never cost TradingView's 3 seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

from shared.domain.alerts import ParsedAlert, parse_alert
from shared.domain.alerts.products import is_known
from shared.domain.codec import encode, encode_without
from shared.domain.errors import (
    BridgeError,
    Forbidden,
    InvalidSignal,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from shared.domain.masking import masker_for
from shared.domain.signal import Intent, MarketPosition, Signal
from shared.domain.sizing import UNSUPPORTED_QUANTITY_UNIT, unit_refused, unusable_unit
from shared.ports import (
    Admission,
    AlertGate,
    AlertJournal,
    AlertRecord,
    OutboundMessage,
    SecretStore,
    SignalQueue,
)
from shared.services.envelope import Envelope, to_message
from shared.strategies import Account, SecretRef, Strategy, StrategyBook

log = logging.getLogger(__name__)

# TradingView's webhook source addresses (reference/azure.md §8, tradingview.md §3).
TRADINGVIEW_IPS = frozenset({"52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"})

EXPLICIT_ID_DEDUPE_S = 24 * 3600
_RAW_JOURNAL_CHARS = 16_000
RECEIVED = "webhook.received"


@runtime_checkable
class AnnouncingGate(AlertGate, Protocol):
    """A gate that publishes ``webhook.received`` in the round trip that admits the alert."""

    async def admit_announced(
        self,
        strategy_id: str,
        limit_per_min: int,
        dedupe_key: str | None,
        signal_id: str,
        ttl_s: int,
        channel: str,
        event: Mapping[str, Any],
    ) -> Admission:
        """Admit as ``admit`` does and publish the answer's ``event`` on ``channel``."""
        ...

    async def announce(self, channel: str, event: Mapping[str, Any]) -> None:
        """Publish one event on ``channel``."""
        ...


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """What the HTTP trigger hands over: the raw request, untouched."""

    strategy_id: str
    body: bytes
    forwarded_for: str | None
    received_at: datetime
    correlation_id: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The answer for an accepted alert (202)."""

    signal_id: str
    status: Literal["accepted", "duplicate"]
    messages: int


@dataclass(frozen=True)
class IngestDeps:
    """Everything the use case talks to, passed in by the composition root."""

    strategies: StrategyBook
    secrets: SecretStore
    gate: AlertGate
    queue: SignalQueue
    journal: AlertJournal
    allowed_ips: frozenset[str] = TRADINGVIEW_IPS
    max_body_bytes: int = 64 * 1024
    journal_timeout_s: float = 0.0


def client_address(forwarded_for: str | None) -> str | None:
    """Return the address Azure's front end recorded: the LAST X-Forwarded-For entry.

    A caller can put anything in the header, but the front end appends the real peer,
    so only the last entry is trustworthy. Ports (``1.2.3.4:5678``, ``[::1]:80``) are removed.
    """
    if not forwarded_for:
        return None
    last = forwarded_for.split(",")[-1].strip()
    if last.startswith("["):
        last = last[1 : last.find("]")] if "]" in last else last[1:]
    elif last.count(":") == 1:
        last = last.split(":")[0]
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None


def redact(text: str, secrets: Collection[object]) -> str:
    """Mask every known secret value (in any spelling) and every secret-like field's value
    (any type, any depth, any body encoding) with ``***``, then bound the length.

    Masking runs before the cut, so a secret straddling the limit cannot leave a prefix behind.
    """
    return _bounded(masker_for(secrets).text(text))


def secrets_match(presented: object, expected: str) -> bool:
    """Compare a presented secret with the expected one in constant time; never raise.

    Anything but non-empty text is a mismatch. Both sides are compared as UTF-8 bytes with
    lone surrogates passed through (a ``"\\ud800"`` JSON escape cannot be encoded strictly),
    so odd text is simply a wrong secret, never an error.
    """
    if not isinstance(presented, str) or not presented or not expected:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", errors="surrogatepass"),
        expected.encode("utf-8", errors="surrogatepass"),
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _accounts_for(strategy: Strategy, signal: Signal) -> list[tuple[Account, Decimal]]:
    """Return the accounts to trade and each one's quantity multiplier.

    An alert may pick accounts (PickMyTrade ``multiple_accounts``, native ``accounts``) and
    give each a multiplier; otherwise every enabled account of the strategy trades with the
    multiplier from the strategy file.
    """
    if not signal.accounts:
        return [(a, a.multiplier) for a in strategy.accounts if a.enabled]
    chosen = []
    for selector in signal.accounts:
        account = strategy.account(selector.account)
        if account is None or not account.enabled:
            raise InvalidSignal(
                f"the alert names account {selector.account!r}, which this strategy does not trade",
                code="unknown_account",
                field="accounts",
            )
        chosen.append((account, selector.quantity_multiplier or account.multiplier))
    return chosen


_REDUCING = frozenset({Intent.EXIT, Intent.CLOSE, Intent.FLAT, Intent.CANCEL})


def _only_reduces(signal: Signal) -> bool:
    target = signal.target
    return signal.intent in _REDUCING or (
        target is not None and target.market_position is MarketPosition.FLAT
    )


def check_symbol(strategy: Strategy, signal: Signal) -> None:
    """Refuse a signal whose traded root cannot trade for ``strategy`` (``unknown_symbol``).

    The root must be a known product (or one the strategy configures); a signal that may open
    or add must also be on the strategy's allowlist when it has one. An exit, close, flat,
    cancel or flat target passes for a known product, as the allowlist gate lets it: a root
    dropped from the list can still be left.
    """
    root = signal.symbol.root
    allowed = strategy.risk.symbols
    if not is_known(root, allowed, strategy.symbols.keys(), strategy.symbols.values()):
        raise InvalidSignal(
            f"{root} is not a futures product this bridge knows (name it in the strategy's "
            "risk.symbols or symbol map to trade it)",
            code="unknown_symbol",
            field="symbol",
        )
    if allowed and root not in allowed and not _only_reduces(signal):
        raise InvalidSignal(
            f"{root} is not among this strategy's symbols ({', '.join(sorted(allowed))})",
            code="unknown_symbol",
            field="symbol",
        )


def check_sizing(signal: Signal) -> None:
    """Refuse an entry sized in a unit no account could plan (``unsupported_quantity_unit``:
    a percent of equity, a risk amount, dollars; ``shared.domain.sizing``)."""
    unit = unusable_unit(signal)
    if unit is not None:
        raise InvalidSignal(unit_refused(unit), code=UNSUPPORTED_QUANTITY_UNIT, field="quantity")


class Ingestor:
    """Run the ingestion steps for one strategy book and set of adapters."""

    def __init__(self, deps: IngestDeps) -> None:
        self._deps = deps
        gate = deps.gate
        self._announcing = gate if isinstance(gate, AnnouncingGate) else None

    async def ingest(self, alert: IncomingAlert) -> IngestResult:
        """Validate, de-duplicate and enqueue one alert; raise a ``BridgeError`` to refuse it."""
        parsed: ParsedAlert | None = None
        strategy: Strategy | None = None
        try:
            strategy = self._strategy(alert)
            self._check_address(strategy, alert)
            parsed = parse_alert(alert.body.decode("utf-8", errors="replace"))
            await self._authenticate(strategy, parsed)
            result = await self._enqueue(strategy, parsed, alert)
        except BridgeError as exc:
            await self._journal_refusal(alert, parsed, strategy, exc)
            raise
        return result

    def _strategy(self, alert: IncomingAlert) -> Strategy:
        if len(alert.body) > self._deps.max_body_bytes:
            raise PayloadTooLarge(f"the alert is larger than {self._deps.max_body_bytes} bytes")
        strategy = self._deps.strategies.get(alert.strategy_id)
        if strategy is None or not strategy.enabled:
            raise Unauthorized("unknown strategy or wrong secret", code="unauthorized")
        return strategy

    def _check_address(self, strategy: Strategy, alert: IncomingAlert) -> None:
        if not strategy.webhook.ip_allowlist:
            return
        address = client_address(alert.forwarded_for)
        if address is None or address not in self._deps.allowed_ips:
            raise Forbidden(
                "alerts for this strategy are accepted only from TradingView's addresses",
                code="ip_not_allowed",
            )

    async def _authenticate(self, strategy: Strategy, parsed: ParsedAlert) -> None:
        ref = strategy.secret
        expected = await self._deps.secrets.get_secret(ref.key_vault_name, ref.env_name)
        if not secrets_match(parsed.secret, expected):
            raise Unauthorized("unknown strategy or wrong secret", code="unauthorized")

    @staticmethod
    def _dedupe_key(
        strategy: Strategy, parsed: ParsedAlert, alert: IncomingAlert
    ) -> tuple[str, int, str]:
        """Return the de-duplication key, how long it holds, and the alert's signal id."""
        signal, group = parsed.signal, parsed.rate_group
        if group is not None:
            # One alert of the group per window; each one that passes is a new signal.
            key = f"group:{_digest(group.name)}"
            signal_id = _digest(
                strategy.id, key, alert.received_at.isoformat(), alert.correlation_id
            )
            return key, group.window_s, signal_id
        if signal.alert_id:
            signal_id = _digest(strategy.id, "id", signal.alert_id)
            return f"id:{_digest(signal.alert_id)}", EXPLICIT_ID_DEDUPE_S, signal_id
        key = f"body:{hashlib.sha256(alert.body).hexdigest()}"
        # Without an explicit id, an identical body is the same alert only within the
        # window; a later repeat is a new alert with a new id.
        signal_id = _digest(strategy.id, key, alert.received_at.isoformat(), alert.correlation_id)
        return key, strategy.webhook.dedupe_window_s, signal_id

    async def _enqueue(
        self, strategy: Strategy, parsed: ParsedAlert, alert: IncomingAlert
    ) -> IngestResult:
        signal = dataclasses.replace(
            parsed.signal, symbol=strategy.trade_symbol(parsed.signal.symbol)
        )
        check_symbol(strategy, signal)
        check_sizing(signal)
        accounts = _accounts_for(strategy, signal)
        key, ttl_s, signal_id = self._dedupe_key(strategy, parsed, alert)
        limit = strategy.webhook.rate_limit_per_min
        event = self._event(strategy, parsed, alert, len(accounts))
        dedupe_key = key if ttl_s > 0 else None
        admission = await self._admit(strategy.id, limit, dedupe_key, signal_id, ttl_s, event)
        if admission.retry_after_s is not None:
            raise RateLimited(
                f"more than {limit} alerts a minute for {strategy.id}",
                retry_after_s=admission.retry_after_s,
            )
        if admission.duplicate_of is not None:
            existing = admission.duplicate_of
            if parsed.rate_group is None:
                # The first copy's claim may have outlived its enqueue (Redis died between
                # them, so the claim could not be released): send its messages again. The
                # queue drops a MessageId it already holds, and the ledger runs a signal once
                # for each account, so a copy that did get through trades nothing twice. A
                # failed send answers 503, and TradingView sends the alert again.
                try:
                    await self._deps.queue.send(
                        self._messages(strategy, parsed, alert, signal, accounts, existing)
                    )
                except BaseException:
                    await self._announce_failure(event, existing)
                    raise
            await self._journal(alert, parsed, strategy, strategy.id, existing, "duplicate", 0)
            return IngestResult(existing, "duplicate", 0)
        messages = self._messages(strategy, parsed, alert, signal, accounts, signal_id)
        try:
            await self._deps.queue.send(messages)
        except BaseException:
            if ttl_s > 0:
                await self._release_quietly(strategy.id, key, signal_id)
            await self._announce_failure(event, signal_id)
            raise
        await self._journal(
            alert, parsed, strategy, strategy.id, signal_id, "accepted", len(messages)
        )
        return IngestResult(signal_id, "accepted", len(messages))

    @staticmethod
    def _messages(
        strategy: Strategy,
        parsed: ParsedAlert,
        alert: IncomingAlert,
        signal: Signal,
        accounts: list[tuple[Account, Decimal]],
        signal_id: str,
    ) -> list[OutboundMessage]:
        """Render one queue message per account (MessageId ``{signal id}:{account}``)."""
        signal_data = encode_without(signal, "extras")  # once, for every account
        return [
            to_message(
                Envelope(
                    signal_id=signal_id,
                    strategy_id=strategy.id,
                    account=account.name,
                    account_id=account.id,
                    multiplier=multiplier,
                    alert_format=parsed.format,
                    received_at=alert.received_at,
                    correlation_id=alert.correlation_id,
                    signal=signal,
                ),
                signal_data=signal_data,
            )
            for account, multiplier in accounts
        ]

    def _event(
        self, strategy: Strategy, parsed: ParsedAlert, alert: IncomingAlert, messages: int
    ) -> dict[str, Any] | None:
        """Return the ``webhook.received`` event's fields (None when the gate cannot publish)."""
        if self._announcing is None:
            return None
        return {
            "strategy": strategy.id,
            "messages": messages,
            "format": parsed.format,
            "correlation_id": alert.correlation_id,
            "received_at": alert.received_at.isoformat(),
        }

    async def _admit(
        self,
        strategy_id: str,
        limit: int,
        key: str | None,
        signal_id: str,
        ttl_s: int,
        event: Mapping[str, Any] | None,
    ) -> Admission:
        if self._announcing is None or event is None:
            return await self._deps.gate.admit(strategy_id, limit, key, signal_id, ttl_s)
        return await self._announcing.admit_announced(
            strategy_id, limit, key, signal_id, ttl_s, RECEIVED, event
        )

    async def _announce_failure(self, event: Mapping[str, Any] | None, signal_id: str) -> None:
        if self._announcing is None or event is None:
            return
        failed = {**event, "signal_id": signal_id, "status": "failed", "messages": 0}
        try:
            await self._announcing.announce(RECEIVED, failed)
        except Exception:  # best effort: the 503 (and TradingView's re-send) matter more
            log.warning("could not announce that alert %s was not queued", signal_id)

    async def _release_quietly(self, strategy_id: str, key: str, signal_id: str) -> None:
        try:
            await self._deps.gate.release(strategy_id, key, signal_id)
        except Exception:  # the claim expires on its own; the 503 matters more
            log.warning("could not release de-duplication claim %s", key, exc_info=True)

    # --- journal ---------------------------------------------------------------------------

    async def _journal_refusal(
        self,
        alert: IncomingAlert,
        parsed: ParsedAlert | None,
        strategy: Strategy | None,
        exc: BridgeError,
    ) -> None:
        refusal_id = _digest(alert.strategy_id, "refused", alert.correlation_id)
        strategy_id = strategy.id if strategy is not None else alert.strategy_id[:64]
        await self._journal(alert, parsed, strategy, strategy_id, refusal_id, "refused", 0, exc)

    async def _journal(
        self,
        alert: IncomingAlert,
        parsed: ParsedAlert | None,
        strategy: Strategy | None,
        strategy_id: str,
        signal_id: str,
        status: str,
        messages: int,
        error: BridgeError | None = None,
    ) -> None:
        # Built and written in the background (shielded, not cancelled past the budget), so
        # neither the masking nor a slow write, e.g. the first one that creates the table,
        # holds up the acknowledgement.
        entry = _JournalEntry(
            alert, parsed, strategy.secret if strategy else None, strategy_id, signal_id,
            status, messages, error,
        )  # fmt: skip
        write = asyncio.ensure_future(_write_entry(self._deps, entry))
        _PENDING_WRITES.add(write)
        write.add_done_callback(_finish_write)
        if self._deps.journal_timeout_s <= 0:
            return
        try:
            await asyncio.wait_for(asyncio.shield(write), timeout=self._deps.journal_timeout_s)
        except TimeoutError:
            log.debug("journal write for alert %s continues in the background", signal_id)
        except Exception:  # the journal must never cost the acknowledgement
            log.warning("journal write for alert %s (%s) failed", signal_id, status, exc_info=True)


_MASK_INLINE_BYTES = 8 * 1024  # real alerts are under 2 KB
_WITHHELD = "[withheld: the strategy's secret could not be read to mask it]"


@dataclass(frozen=True, slots=True)
class _JournalEntry:
    alert: IncomingAlert
    parsed: ParsedAlert | None
    secret_ref: SecretRef | None
    strategy_id: str
    signal_id: str
    status: str
    messages: int
    error: BridgeError | None

    def record(self, known_secrets: Collection[object], *, complete: bool = True) -> AlertRecord:
        """Build the journal record with every secret masked (inside the background write).

        ``known_secrets`` are the values masked wherever they appear (the strategy's real
        secret and the presented one); every secret-like field is masked besides. When the
        real secret could not be read (``complete`` false) the raw body and extras, the
        only free text, are withheld rather than stored unmasked.
        """
        alert, parsed, error = self.alert, self.parsed, self.error
        masker = masker_for([*known_secrets, parsed.secret if parsed else None])
        raw = alert.body.decode("utf-8", errors="replace")
        signal = masker.json(encode_without(parsed.signal, "extras")) if parsed else None
        extras = None  # free text: withheld with the raw body
        if parsed and parsed.extras and complete:
            extras = masker.json(encode(parsed.extras))
        return AlertRecord(
            strategy_id=self.strategy_id,
            signal_id=self.signal_id,
            status=self.status,
            received_at=alert.received_at,
            correlation_id=alert.correlation_id,
            raw_redacted=_bounded(masker.text(raw)) if complete else _WITHHELD,
            reason_code=error.code if error else None,
            reason=masker.text(error.message) if error else None,
            alert_format=parsed.format if parsed else None,
            signal_json=signal,
            extras_json=extras,
            tv_time=parsed.signal.tv_time if parsed else None,
            client_ip=client_address(alert.forwarded_for),
            messages=self.messages,
        )


def _bounded(text: str) -> str:
    if len(text) > _RAW_JOURNAL_CHARS:
        return text[:_RAW_JOURNAL_CHARS] + "…[truncated]"
    return text


async def _write_entry(deps: IngestDeps, entry: _JournalEntry) -> None:
    known: list[str] = []
    complete = True
    ref = entry.secret_ref
    if ref is not None:
        try:
            known.append(await deps.secrets.get_secret(ref.key_vault_name, ref.env_name))
        except Exception as exc:  # the row still gets written, with its free text withheld
            complete = False
            log.warning(
                "journal row %s: the strategy's secret could not be read to mask it (%s); "
                "its raw body is withheld",
                entry.signal_id,
                type(exc).__name__,
            )
    if len(entry.alert.body) > _MASK_INLINE_BYTES:
        # Masking is linear but pure Python: a large hostile body would hold the event loop
        # (and so other alerts' acknowledgements) for tens of milliseconds.
        record = await asyncio.to_thread(entry.record, known, complete=complete)
    else:
        record = entry.record(known, complete=complete)
    await deps.journal.record_alert(record)


_PENDING_WRITES: set[asyncio.Future[None]] = set()


def _finish_write(write: asyncio.Future[None]) -> None:
    _PENDING_WRITES.discard(write)
    if not write.cancelled() and (exc := write.exception()) is not None:
        # The journal adapter's message names the service's status and error code; it holds
        # no body text, and the record it failed to write was masked before it was built.
        log.warning("background journal write failed: %s: %s", type(exc).__name__, exc)


async def flush_journal_writes() -> None:
    """Wait for journal writes still running in the background (shutdown and tests)."""
    if _PENDING_WRITES:
        await asyncio.gather(*_PENDING_WRITES, return_exceptions=True)
