"""The chaos run's invariant checkers over hand-built simulator timelines and ledger rows:
each catches the violation it names and stays quiet on a clean run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from bench.chaos import invariants as inv
from shared.domain.planning.model import client_order_id
from shared.ports import LedgerEntry

T0 = datetime(2025, 3, 4, 15, 0, 0, tzinfo=UTC)
MNQ, ES = 501, 502  # contract ids
ROOTS = {MNQ: "MNQ", ES: "ES", 503: "MNQ"}


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def view(
    fills: list[tuple[int, int, int, int]],
    orders: Mapping[int, tuple[int, int, str | None]],
    positions: dict[tuple[int, int], int] | None = None,
    news: dict[str, int] | None = None,
) -> inv.SimView:
    """Fills as (fill id, order id, ms after T0, signed qty); orders as id: (account,
    contract, clOrdId)."""
    return inv.SimView(
        orders={i: inv.SimOrder(i, a, c, cl) for i, (a, c, cl) in orders.items()},
        fills=[inv.SimFill(f, o, at(ms), q) for f, o, ms, q in fills],
        positions=positions or {},
        roots=ROOTS,
        new_commands=news or {},
    )


def summary(signal_id: str, account: str, status: str, **fields: str | int) -> LedgerEntry:
    return LedgerEntry(signal_id, f"exec:{account}", status, {"root": "MNQ", **fields})


def leg(signal_id: str, cl: str, status: str, **fields: str | int) -> LedgerEntry:
    return LedgerEntry(signal_id, cl, status, {"account": "DEMO1", **fields})


# A long of 2 built by the entry "e", then cut by exit "x".
ORDERS = {1: (7, MNQ, "cl-e"), 2: (7, MNQ, "cl-x"), 3: (8, ES, "cl-y")}


def test_timelines_with_fills_rebuild_each_lane_in_fill_order() -> None:
    sim = view([(11, 1, 0, 2), (12, 3, 1, -1), (13, 2, 2, -1)], ORDERS)
    lines = inv.timelines(sim)
    assert [(p.before, p.after) for p in lines[(7, "MNQ")]] == [(0, 2), (2, 1)]
    assert [(p.before, p.after) for p in lines[(8, "ES")]] == [(0, -1)]


def test_exposure_increasing_exits_with_exit_fill_that_grows_position_is_caught() -> None:
    sim = view([(11, 1, 0, 2), (12, 2, 5, 1)], ORDERS)  # the exit BOUGHT one more
    linked = {1: ("entry-sig", "DEMO1"), 2: ("exit-sig", "DEMO1")}
    found = inv.exposure_increasing_exits(inv.timelines(sim), linked, {"exit-sig"})
    assert len(found) == 1
    assert "fill 12 of exit exit-sig took 2 to 3" in found[0]


def test_exposure_increasing_exits_with_exit_passing_flat_is_caught() -> None:
    sim = view([(11, 1, 0, 2), (12, 2, 5, -3)], ORDERS)
    linked = {1: ("entry-sig", "DEMO1"), 2: ("exit-sig", "DEMO1")}
    assert len(inv.exposure_increasing_exits(inv.timelines(sim), linked, {"exit-sig"})) == 1


def test_exposure_increasing_exits_with_reducing_exit_and_growing_entry_is_clean() -> None:
    sim = view([(11, 1, 0, 2), (12, 2, 5, -2)], ORDERS)
    linked = {1: ("entry-sig", "DEMO1"), 2: ("exit-sig", "DEMO1")}
    assert inv.exposure_increasing_exits(inv.timelines(sim), linked, {"exit-sig"}) == []


def test_max_position_breaches_with_fill_beyond_limit_is_caught_once() -> None:
    sim = view([(11, 1, 0, 4), (12, 1, 1, 1), (13, 2, 2, -1)], ORDERS)
    found = inv.max_position_breaches(inv.timelines(sim), {(7, "MNQ"): 4, (8, "ES"): None})
    assert len(found) == 1
    assert "fill 12" in found[0]
    assert "left 5, max_position 4" in found[0]


def test_max_position_breaches_at_the_limit_is_clean() -> None:
    sim = view([(11, 1, 0, -4)], ORDERS)
    assert inv.max_position_breaches(inv.timelines(sim), {(7, "MNQ"): 4}) == []


def test_duplicated_with_clordid_placed_twice_is_caught() -> None:
    sim = view([], {1: (7, MNQ, "cl-e"), 4: (7, MNQ, "cl-e")}, news={"cl-e": 2})
    assert inv.duplicated(sim, [], {}) == ["clOrdId cl-e: 2 New commands"]


def test_duplicated_with_two_orders_behind_one_clordid_but_one_command_is_caught() -> None:
    sim = view([], {1: (7, MNQ, "cl-e"), 4: (7, MNQ, "cl-e")}, news={"cl-e": 1})
    assert inv.duplicated(sim, [], {}) == ["clOrdId cl-e: 2 orders"]


def test_duplicated_with_ledger_conflict_and_alert_accepted_twice_is_caught() -> None:
    rows = [leg("s1", "cl-e", "acknowledged", order_id=1, order_id_conflict=4)]
    found = inv.duplicated(view([], ORDERS), rows, {"a1": ["s1", "s2"], "a2": ["s3", "s3"]})
    assert len(found) == 2
    assert "orders 1 and 4" in found[0]
    assert found[1] == "alert a1 accepted as s1, s2"


def test_duplicated_with_clean_run_is_empty() -> None:
    sim = view([], ORDERS, news={"cl-e": 1, "cl-x": 1})
    assert inv.duplicated(sim, [leg("s1", "cl-e", "filled", order_id=1)], {"a1": ["s1"]}) == []


def test_position_mismatches_sum_contracts_of_a_root_and_compare_with_oracle() -> None:
    sim = view([], ORDERS, positions={(7, MNQ): 2, (7, 503): -1, (8, ES): 0})
    assert inv.position_mismatches(sim, {(7, "MNQ"): 1, (8, "ES"): 0}) == []
    found = inv.position_mismatches(sim, {(7, "MNQ"): 2, (9, "CL"): 1})
    assert found == [
        "account 7 MNQ: simulator 1, oracle 2",
        "account 9 CL: simulator 0, oracle 1",
    ]


def test_lost_with_missing_or_unfinished_summary_is_caught() -> None:
    rows = [
        summary("s1", "DEMO1", "done"),
        summary("s2", "DEMO1", "denied"),
        summary("s3", "DEMO1", "rejected"),
        summary("s4", "DEMO1", "planned"),
    ]
    pairs = [("s1", "DEMO1"), ("s2", "DEMO1"), ("s3", "DEMO1"), ("s4", "DEMO1"), ("s5", "DEMO1")]
    assert inv.lost(pairs, rows) == ["s4 for DEMO1: planned", "s5 for DEMO1: no summary"]


def test_wrongful_rejections_with_business_reason_is_clean() -> None:
    rows = [
        summary("s1", "DEMO1", "rejected"),
        leg("s1", "cl-r", "rejected", broker_code="MaxPosLimitReached"),
    ]
    assert inv.wrongful_rejections(rows, view([], ORDERS)) == []


def test_wrongful_rejections_with_transient_code_placed_order_or_no_leg_are_caught() -> None:
    rows = [
        summary("s1", "DEMO1", "rejected"),
        leg("s1", "cl-r", "rejected", broker_code="broker_server_error"),
        summary("s2", "DEMO1", "rejected"),
        leg("s2", "cl-e", "rejected", broker_code="InvalidPrice"),  # yet cl-e is at the sim
        summary("s3", "DEMO1", "rejected"),
        summary("s4", "DEMO1", "done"),
    ]
    found = inv.wrongful_rejections(rows, view([], ORDERS))
    assert len(found) == 3
    assert "broker_server_error" in found[0]
    assert "placed ['cl-e']" in found[1]
    assert "no rejected leg" in found[2]


def _basis(net_pos: int, ms: int, micro: int = 0) -> str:
    moment = at(ms) + timedelta(microseconds=micro)
    return json.dumps(
        {"source": "cache", "net_pos": net_pos, "working": [], "at": moment.isoformat()}
    )


def test_stale_plans_with_basis_behind_a_fill_is_caught() -> None:
    sim = view([(11, 1, 10, 2), (12, 2, 20, -1)], ORDERS)
    rows = [
        summary("s1", "DEMO1", "done", basis=_basis(0, 15)),  # after the +2 fill: stale
        summary("s2", "DEMO1", "done", basis=_basis(2, 15)),  # right
        summary("s3", "DEMO1", "done", basis=_basis(1, 25)),  # right
    ]
    result = inv.stale_plans(rows, inv.timelines(sim), {"DEMO1": 7})
    assert (len(result.stale), result.evaluated, result.without_basis) == (1, 3, 0)
    assert result.stale[0].startswith("s1 for DEMO1 MNQ: planned from 0")


def test_stale_plans_in_the_fill_millisecond_accept_either_side() -> None:
    sim = view([(11, 1, 10, 2)], ORDERS)
    rows = [
        summary("s1", "DEMO1", "done", basis=_basis(0, 10, micro=600)),
        summary("s2", "DEMO1", "done", basis=_basis(2, 10, micro=100)),
        summary("s3", "DEMO1", "done", basis=_basis(0, 11)),
    ]
    result = inv.stale_plans(rows, inv.timelines(sim), {"DEMO1": 7})
    assert [line.split(" ")[0] for line in result.stale] == ["s3"]


def test_stale_plans_without_json_basis_are_counted_not_judged() -> None:
    rows = [
        summary("s1", "DEMO1", "done"),
        summary("s2", "DEMO1", "done", basis="rest"),
        leg("s1", "cl-e", "filled"),
    ]
    result = inv.stale_plans(rows, {}, {"DEMO1": 7})
    assert (result.stale, result.evaluated, result.without_basis) == ([], 0, 2)


def test_link_orders_by_ledger_row_and_by_recomputed_clordid() -> None:
    lost_cl = client_order_id("s2", "DEMO1", "close")
    sim = view([], {1: (7, MNQ, "cl-e"), 2: (7, MNQ, lost_cl), 3: (7, MNQ, "tbforeign-entry")})
    rows = [leg("s1", "cl-e", "filled")]
    linked = inv.link_orders(sim, rows, [("s1", "DEMO1"), ("s2", "DEMO1")], {7: "DEMO1"})
    assert linked == {1: ("s1", "DEMO1"), 2: ("s2", "DEMO1")}


def test_sim_view_from_admin_state_reads_orders_fills_positions_commands() -> None:
    state = {
        "orders": [{"id": 1, "accountId": 7, "contractId": MNQ, "clOrdId": "cl-e"}],
        "fills": [
            {"id": 12, "orderId": 1, "timestamp": "2025-03-04T15:00:00.020Z", "action": "Sell",
             "qty": 1},
            {"id": 11, "orderId": 1, "timestamp": "2025-03-04T15:00:00.010Z", "action": "Buy",
             "qty": 3},
        ],
        "positions": [{"accountId": 7, "contractId": MNQ, "netPos": 2}],
        "commands": [
            {"id": 2, "orderId": 1, "commandType": "New", "clOrdId": "cl-e"},
            {"id": 3, "orderId": 1, "commandType": "Cancel", "clOrdId": "cl-c"},
        ],
    }  # fmt: skip
    sim = inv.SimView.from_state(state, ROOTS)
    assert [(f.id, f.qty, f.at) for f in sim.fills] == [(11, 3, at(10)), (12, -1, at(20))]
    assert sim.final_positions() == {(7, "MNQ"): 2}
    assert sim.new_commands == {"cl-e": 1}
    assert sim.orders[1].cl_ord_id == "cl-e"
