"""``user/syncrequest``: the snapshot of a user's data, and which events a synced socket gets.

Body ``{"users": [userId]}`` covers all the user's accounts; ``{"accounts": [ids]}`` only those.
Ids that are not the user's are ignored (they see nothing). The optional ``entityTypes`` list
(newer partner docs) narrows both the snapshot and the later ``props`` events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from local.tradovate_sim.queries import SOURCES, currency_rows, exchange_rows
from local.tradovate_sim.sim import Simulation
from local.tradovate_sim.validation import BadRequest

# Snapshot key -> entity type name, in the order the reference lists them (§4.6).
SNAPSHOT_KEYS = {
    "users": "user",
    "accounts": "account",
    "accountRiskStatuses": "accountRiskStatus",
    "marginSnapshots": "marginSnapshot",
    "userAccountAutoLiqs": "userAccountAutoLiq",
    "cashBalances": "cashBalance",
    "currencies": "currency",
    "positions": "position",
    "fillPairs": "fillPair",
    "orders": "order",
    "contracts": "contract",
    "contractMaturities": "contractMaturity",
    "products": "product",
    "exchanges": "exchange",
    "spreadDefinitions": "spreadDefinition",
    "commands": "command",
    "commandReports": "commandReport",
    "executionReports": "executionReport",
    "orderVersions": "orderVersion",
    "fills": "fill",
    "orderStrategies": "orderStrategy",
    "orderStrategyLinks": "orderStrategyLink",
    "orderStrategyTypes": "orderStrategyType",
    "userProperties": "userProperty",
    "properties": "property",
    "userPlugins": "userPlugin",
    "contractGroups": "contractGroup",
    "userReadStatuses": "userReadStatus",
}


@dataclass(frozen=True)
class SyncScope:
    """What one sync request covers."""

    accounts: frozenset[int]
    entity_types: frozenset[str] | None

    def wants(self, entity_type: str) -> bool:
        """Say whether events of ``entity_type`` are in scope."""
        return self.entity_types is None or entity_type in self.entity_types


def _ids(body: dict[str, Any], name: str) -> list[int] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise BadRequest(f"No usable value for {name}\nExpected an array of numbers")
    return value


def parse_scope(sim: Simulation, body: Any) -> SyncScope:
    """Read a sync request body into the accounts and entity types it covers."""
    if not isinstance(body, dict):
        raise BadRequest("No usable value for users")
    users = _ids(body, "users")
    accounts = _ids(body, "accounts")
    if users is None and accounts is None:
        raise BadRequest("No usable value for users")
    owned = set(sim.engine.accounts)
    wanted: set[int] = set()
    if users is not None and sim.config.user_id in users:
        wanted |= owned
    if accounts is not None:
        wanted |= owned & set(accounts)
    types = body.get("entityTypes")
    if types is not None and not (
        isinstance(types, list) and all(isinstance(t, str) for t in types)
    ):
        raise BadRequest("No usable value for entityTypes")
    return SyncScope(frozenset(wanted), frozenset(types) if types else None)


def snapshot(sim: Simulation, scope: SyncScope) -> dict[str, Any]:
    """Build the ``SyncMessage`` for a scope."""
    engine = sim.engine
    accounts = scope.accounts
    orders = [o for o in engine.orders.values() if o.account_id in accounts]
    order_ids = {o.id for o in orders}
    commands = [c for c in engine.commands.values() if c.order_id in order_ids]
    command_ids = {c.id for c in commands}
    positions = [p for p in engine.positions.values() if p.account_id in accounts]
    position_ids = {p.id for p in positions}
    contract_ids = {o.contract_id for o in orders} | {p.contract_id for p in positions}
    contracts = [sim.library.contracts[c] for c in sorted(contract_ids)]
    now = sim.clock.now()
    flag = sim.config.order_has_clordid
    data: dict[str, list[Any]] = {key: [] for key in SNAPSHOT_KEYS}
    data.update(
        users=SOURCES["user"].rows(sim) if accounts else [],
        accounts=[engine.accounts[a].wire() for a in sorted(accounts)],
        accountRiskStatuses=[engine.accounts[a].risk_status_wire() for a in sorted(accounts)],
        cashBalances=[engine.cash[a].wire() for a in sorted(accounts)],
        currencies=currency_rows(sim),
        positions=[p.wire() for p in positions],
        fillPairs=[f.wire() for f in engine.fill_pairs.values() if f.position_id in position_ids],
        orders=[o.wire(flag) for o in orders],
        contracts=[c.wire() for c in contracts],
        contractMaturities=[sim.library.maturity_wire(c.maturity, now) for c in contracts],
        products=[p.wire() for p in {c.product.id: c.product for c in contracts}.values()],
        exchanges=exchange_rows(sim),
        commands=[c.wire() for c in commands],
        commandReports=[
            r.wire() for r in engine.command_reports.values() if r.command_id in command_ids
        ],
        executionReports=[
            r.wire() for r in engine.execution_reports.values() if r.account_id in accounts
        ],
        orderVersions=[v.wire() for v in engine.versions.values() if v.order_id in order_ids],
        fills=[f.wire() for f in engine.fills.values() if f.account_id in accounts],
    )
    if scope.entity_types is not None:
        data = {k: v for k, v in data.items() if SNAPSHOT_KEYS[k] in scope.entity_types}
    return data
