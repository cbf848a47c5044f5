"""The scope workflow, step by step, on a scripted venue (the seed-001 fixture cases).

End-to-end versions with the official SDK and the paper venue are in test_manager_e2e.py.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from exitguard.adapters.errors import Rejected, Transient, UnknownOutcome
from exitguard.adapters.port import TransportEvent, TransportKind, UserDataEvent
from exitguard.domain.enums import FuturesOrderType, PositionSide, Product, Side, TimeInForce
from exitguard.domain.requests import FuturesOrderRequest
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import TICK, ProductScope, ScopeConfig, ScopeState
from exitguard.planner.model import ExitKind, ExitStatus, Role, SlotKey
from exitguard.planner.policy import (
    Distance,
    ImmediateTriggerAction,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
)
from exitguard.store.exits import ExitStore
from manager_fakes import (
    FakeOrder,
    FakeUsdm,
    FakeUsdmOps,
    FakeUsdmReader,
    FakeUsdmTrader,
    account_update,
    algo_update,
    long_position,
    seeded_ids,
)

D = Decimal
SL_TP = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
)
SL_SLOT = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.STOP_LOSS)
TP_SLOT = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.TAKE_PROFIT)
BTC = ("BTCUSDT", PositionSide.BOTH)


def make_scope(
    venue: FakeUsdm, store: ExitStore, *, policy=SL_TP, can_mutate=True, cls=ProductScope, **cfg
):
    clock = iter(range(1_000, 10**9))
    events: list[tuple[str, dict]] = []
    scope = cls(
        FakeUsdmOps(venue, can_mutate=can_mutate),
        store,
        ScopeConfig("acct", lambda _p, _s: policy, **cfg),
        seeded_ids(),
        lambda: next(clock),
        on_event=lambda kind, data: events.append((kind, data)),
    )
    scope.recorded_events = events
    return scope


def recorded(scope: ProductScope) -> list[tuple[str, dict]]:
    return scope.recorded_events


@pytest.fixture
def store(tmp_path):
    s = ExitStore(tmp_path / "state.db")
    yield s
    s.close()


def places(venue: FakeUsdm) -> list[str]:
    return [c for c in venue.calls if c.startswith("place")]


async def test_startup_places_seed001_exits_and_records_pending(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store)
    await scope.recover("startup")
    assert scope.state is ScopeState.READY
    assert [c.split()[1] for c in places(venue)] == ["STOP_MARKET", "LIMIT"]
    sl = next(o for o in venue.orders.values() if o.kind is ExitKind.ALGO)
    assert sl.params["closePosition"] == "true" and "quantity" not in sl.params
    rows = store.blocking("acct", Product.USDM)
    assert {r.status for r in rows} == {ExitStatus.PENDING}
    assert {r.slot.role for r in rows} == {Role.STOP_LOSS, Role.TAKE_PROFIT}


async def test_scoped_open_algo_hydration_prevents_duplicates(store):
    venue = FakeUsdm(positions=[long_position()])
    await make_scope(venue, store).recover("startup")
    placed = places(venue)
    # A restart (new scope, same store, same venue): hydration sees the app-owned exits.
    again = make_scope(venue, store)
    await again.recover("startup")
    assert places(venue) == placed
    assert again.stats.last_actions == []
    assert {r.status for r in store.blocking("acct", Product.USDM)} == {ExitStatus.OPEN}


async def test_open_algo_wins_over_stale_terminal_history(store):
    venue = FakeUsdm(positions=[long_position()])
    await make_scope(venue, store).recover("startup")
    sl_row = next(r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.STOP_LOSS)
    # Older terminal history for the same clientAlgoId (e.g. a stale CANCELED event applied).
    store.update(sl_row.client_id, ExitStatus.CANCELED, 5, authoritative=True)
    again = make_scope(venue, store)
    await again.recover("reconnect")
    assert store.get(sl_row.client_id).status is ExitStatus.OPEN
    assert again.stats.last_actions == []
    assert len(places(venue)) == 2


def real_ops_scope(venue: FakeUsdm, store: ExitStore, *, seed: int = 7) -> ProductScope:
    """A scope over the real ``UsdmOps`` (its hydration, queries, placements) on fake ports."""
    clock = iter(range(1_000, 10**9))
    ops = UsdmOps(FakeUsdmReader(venue), FakeUsdmTrader(venue))
    config = ScopeConfig("acct", lambda _p, _s: SL_TP)
    return ProductScope(ops, store, config, seeded_ids(seed), lambda: next(clock))


async def test_usdm_hydrate_reads_open_algo_orders_separately_from_open_orders():
    venue = FakeUsdm(positions=[long_position()])
    sl = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "triggerPrice": "49000"}
    tp = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "price": "52000"}
    venue.orders["sl-open"] = FakeOrder("sl-open", ExitKind.ALGO, sl, 7)
    venue.orders["sl-done"] = FakeOrder("sl-done", ExitKind.ALGO, sl, 8, ExitStatus.CANCELED)
    venue.orders["tp-open"] = FakeOrder("tp-open", ExitKind.ORDER, tp, 9)
    hydration = await UsdmOps(FakeUsdmReader(venue), None).hydrate("acct")
    assert venue.calls.count("open_algo_orders") == 1 and venue.calls.count("open_orders") == 1
    assert (hydration.open_algo_orders, hydration.open_orders) == (1, 1)
    assert {
        cid: (e.client_id, e.kind, e.status, e.venue_id, e.symbol, e.order_type)
        for cid, e in hydration.open_exits.items()
    } == {
        "sl-open": ("sl-open", ExitKind.ALGO, ExitStatus.OPEN, 7, "BTCUSDT", "STOP_MARKET"),
        "tp-open": ("tp-open", ExitKind.ORDER, ExitStatus.OPEN, 9, "BTCUSDT", "LIMIT"),
    }
    assert [p.amount for p in hydration.positions] == [D("0.5")]


@pytest.mark.parametrize("stale_history", [False, True], ids=["plain", "stale_terminal_history"])
async def test_scoped_open_algo_hydration_trusts_open_algo_orders(store, stale_history):
    """Seed 001 "Scoped open Algo hydration" (and "... with stale terminal history") through the
    real ``UsdmOps.hydrate``: the exits hydration reports open are used as reported, so no
    per-row query rescues a hydration that missed them, and nothing is placed twice."""
    venue = FakeUsdm(positions=[long_position()])
    await real_ops_scope(venue, store).recover("startup")
    rows = {r.slot.role: r for r in store.blocking("acct", Product.USDM)}
    sl, tp = rows[Role.STOP_LOSS], rows[Role.TAKE_PROFIT]
    assert (sl.kind, tp.kind) == (ExitKind.ALGO, ExitKind.ORDER)
    if stale_history:  # an older terminal row for the same clientAlgoId
        store.update(sl.client_id, ExitStatus.CANCELED, 5, authoritative=True)
    venue.calls.clear()
    again = real_ops_scope(venue, store, seed=8)  # a restarted process: other fresh ids
    await again.recover("reconnect")
    assert venue.calls.count("open_algo_orders") == 1 and venue.calls.count("open_orders") == 1
    assert [c for c in venue.calls if c.startswith("query")] == []
    assert [c for c in venue.calls if c.startswith(("place", "cancel"))] == []
    assert again.stats.last_actions == []
    assert store.get(sl.client_id).status is ExitStatus.OPEN
    assert store.get(tp.client_id).status is ExitStatus.OPEN


async def test_foreign_orders_are_never_touched(store):
    venue = FakeUsdm(positions=[])
    venue.orders["someone-else"] = FakeOrder(
        "someone-else", ExitKind.ALGO, {"type": "STOP_MARKET"}, 1
    )
    scope = make_scope(venue, store)
    await scope.recover("startup")
    assert venue.calls == ["hydrate"]
    assert store.get("someone-else") is None


class RecordingScope(ProductScope):
    """A scope that records every planning pass: why, the position it saw, and any overlap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passes: list[tuple[str, str]] = []
        self.active = 0
        self.max_active = 0  # > 1: a competing planner ran while another pass was in flight

    async def plan_and_submit(self, reason, symbols=None):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.passes.append((reason, self.fingerprint(self.positions.get(BTC))))
        try:
            return await super().plan_and_submit(reason, symbols)
        finally:
            self.active -= 1


# What the exchange reports while the workflow waits at the venue, and how many later plan
# passes it must cause once handed over (seed 001 "Algo update during active workflow").
MID_WORKFLOW = {
    "stop_confirmed": (lambda sl: [algo_update(sl.client_id, sl.venue_id, "NEW")], 0),
    "position_grows": (
        lambda sl: [
            account_update("BTCUSDT", "1.0", "50000", t=20),
            algo_update(sl.client_id, sl.venue_id, "NEW"),
        ],
        1,
    ),
    "stop_cancelled": (lambda sl: [algo_update(sl.client_id, sl.venue_id, "CANCELED")], 1),
}


@pytest.mark.parametrize("case", list(MID_WORKFLOW))
async def test_update_during_active_workflow_waits_for_it_then_one_pass(store, case):
    """Events that arrive while a workflow awaits the venue are applied only after it, by the
    one consumer, and handed to at most one later pass: never to a competing planner."""
    make_events, later_passes = MID_WORKFLOW[case]
    venue = FakeUsdm(positions=[long_position("0.5")])
    scope = make_scope(venue, store, cls=RecordingScope)
    await scope.recover("startup")
    sl = next(r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.STOP_LOSS)
    # The position grows: a workflow starts (resize the take-profit) and the venue is slow.
    venue.place_gate = asyncio.Event()
    venue.place_started.clear()
    scope.follow()
    try:
        venue.stream_items.put_nowait(
            UserDataEvent(account_update("BTCUSDT", "0.8", "50000", t=10))
        )
        await asyncio.wait_for(venue.place_started.wait(), 2)
        assert scope.passes[-1] == ("private event", "0.8@50000")

        def snapshot():
            held_sl = store.get(sl.client_id)
            return (scope.fingerprint(scope.positions.get(BTC)), held_sl.status, len(scope.passes))

        during = snapshot()
        sent = list(venue.calls)
        for payload in make_events(sl):
            venue.stream_items.put_nowait(UserDataEvent(payload))
        # Give any concurrent path real time to act: the stream reader has taken every item,
        # then the venue call stays blocked for a while longer.
        async with asyncio.timeout(2):
            while not venue.stream_items.empty():
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        assert snapshot() == during  # nothing applied, nothing planned mid-workflow
        assert scope.max_active == 1
        assert venue.calls == sent  # the only venue call is the one still in flight
        venue.place_gate.set()
        await scope.wait_idle()
        after = scope.passes[during[2] :]
        assert scope.max_active == 1  # never two passes at once
        sl_now = store.get(sl.client_id).status
        position_now = scope.fingerprint(scope.positions.get(BTC))
        if case == "stop_confirmed":
            # Applied after the workflow; a confirmation changes nothing plan-relevant.
            assert sl_now is ExitStatus.OPEN and after == []
        elif case == "position_grows":
            assert sl_now is ExitStatus.OPEN and position_now == "1.0@50000"
            # Exactly one later pass, and it saw the position the deferred event set.
            assert after == [("private event", "1.0@50000")]
            tp = next(
                r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.TAKE_PROFIT
            )
            assert tp.quantity == D("1.0")
        else:
            assert sl_now is ExitStatus.CANCELED
            assert after == [("private event", "0.8@50000")]
            # That one pass protected the position again: one new stop, nothing else twice.
            new_stops = [c for c in venue.calls[len(sent) :] if c.startswith("place STOP_MARKET")]
            assert len(new_stops) == 1
        assert len(after) == later_passes
    finally:
        await scope.stop()


async def test_algo_update_is_applied_once_through_two_deliveries(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store)
    await scope.recover("startup")
    sl = next(r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.STOP_LOSS)
    event = UserDataEvent(algo_update(sl.client_id, sl.venue_id, "NEW"))
    await scope.handle_batch([event])
    applied = scope.stats.events_applied
    passes = scope.stats.plan_passes
    await scope.handle_batch([event])  # e.g. formattedMessage *and* formattedUserDataMessage
    assert scope.stats.events_applied == applied
    assert scope.stats.duplicates == 1
    assert scope.stats.plan_passes == passes  # only already-applied events: no replan
    assert scope.stats.skipped_replans == 1


async def test_reconnect_pauses_buffers_and_recovers(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store)
    await scope.recover("startup")
    sl = next(r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.STOP_LOSS)
    await scope.handle_batch([TransportEvent(TransportKind.RECONNECTING)])
    assert scope.state is ScopeState.RECOVERY_REQUIRED
    await scope.handle_batch([UserDataEvent(algo_update(sl.client_id, sl.venue_id, "NEW"))])
    assert scope.buffer and store.get(sl.client_id).status is ExitStatus.PENDING
    hydrations = venue.calls.count("hydrate")
    await scope.handle_batch([TransportEvent(TransportKind.RECONNECTED)])
    assert venue.calls.count("hydrate") == hydrations + 1
    assert scope.state is ScopeState.READY and not scope.buffer
    assert store.get(sl.client_id).status is ExitStatus.OPEN
    assert len(places(venue)) == 2  # nothing duplicated


async def test_healthy_event_never_triggers_rest_hydration(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store)
    await scope.recover("startup")
    rows = store.blocking("acct", Product.USDM)
    await scope.handle_batch(
        [UserDataEvent(algo_update(r.client_id, r.venue_id, "NEW")) for r in rows]
    )
    assert venue.calls.count("hydrate") == 1


async def test_unknown_outcome_is_resolved_by_client_id_not_resent(store):
    venue = FakeUsdm(positions=[long_position()])
    venue.apply_then_fail = [
        UnknownOutcome("Timeout waiting for response", code=-1007, http_status=503)
    ]
    scope = make_scope(venue, store, policy=ProtectionPolicy(stop_loss=SL_TP.stop_loss))
    await scope.recover("startup")
    (cid,) = [c.split()[2] for c in places(venue)]
    assert f"query {cid}" in venue.calls
    assert len(places(venue)) == 1  # never resent blindly
    assert store.get(cid).status is ExitStatus.OPEN


async def test_unknown_outcome_not_at_venue_is_placed_again_with_a_new_id(store):
    venue = FakeUsdm(positions=[long_position()])
    venue.place_errors = [UnknownOutcome("connection reset")]
    scope = make_scope(
        venue, store, policy=ProtectionPolicy(stop_loss=SL_TP.stop_loss), retry_initial_s=0.05
    )
    await scope.recover("startup")
    first = places(venue)[0].split()[2]
    assert store.get(first).status is ExitStatus.REJECTED
    slot = store.get(first).slot
    assert slot in scope.slot_retry  # placed again after a short backoff, not at once
    await scope.plan_and_submit("too early")
    assert len(places(venue)) == 1
    while not scope.slot_retry.due(slot, scope.now_ms()):
        pass  # the test clock advances 1 ms per reading
    await scope.plan_and_submit("retry")
    second = places(venue)[1].split()[2]
    assert second != first and store.get(second).status is ExitStatus.PENDING


@pytest.mark.parametrize(
    "action",
    [ImmediateTriggerAction.ALERT, ImmediateTriggerAction.CLOSE_NOW, ImmediateTriggerAction.WIDEN],
)
async def test_would_trigger_fallbacks(store, action):
    venue = FakeUsdm(positions=[long_position()])
    venue.mark = D("48000")  # already below the 49000 stop
    venue.place_errors = [Rejected("Order would immediately trigger.", code=-2021, http_status=400)]
    policy = ProtectionPolicy(stop_loss=SL_TP.stop_loss, on_immediate_trigger=action)
    scope = make_scope(venue, store, policy=policy)
    await scope.recover("startup")
    decisions = [d["kind"] for d in store.decisions()]
    assert "rejected" in decisions and f"fallback_{action.value}" in decisions
    sent = places(venue)
    if action is ImmediateTriggerAction.ALERT:
        assert len(sent) == 1 and SL_SLOT.text() in store.holds()
    elif action is ImmediateTriggerAction.CLOSE_NOW:
        assert sent[1].split()[1] == "MARKET"
        market = venue.orders[sent[1].split()[2]]
        assert market.params["reduceOnly"] == "true" and market.params["side"] == "SELL"
        assert market.params["quantity"] == "0.5"
    else:
        widened = venue.orders[sent[1].split()[2]]
        assert D(widened.params["triggerPrice"]) == D("47999.9")  # one tick below the mark
    # Planning again does not repeat the refused request (the slot is held or protected).
    await scope.plan_and_submit("again")
    assert places(venue) == sent


async def test_hold_is_lifted_when_the_position_changes(store):
    venue = FakeUsdm(positions=[long_position()])
    venue.place_errors = [Rejected("Order would immediately trigger.", code=-2021, http_status=400)]
    scope = make_scope(venue, store, policy=ProtectionPolicy(stop_loss=SL_TP.stop_loss))
    await scope.recover("startup")
    assert SL_SLOT.text() in store.holds()
    await scope.handle_batch([UserDataEvent(account_update("BTCUSDT", "0.7", "50100", t=50))])
    assert SL_SLOT.text() not in store.holds()
    assert len(places(venue)) == 2


async def test_transient_is_retried_by_a_later_pass(store):
    venue = FakeUsdm(positions=[long_position()])
    refusal = Transient("Too many requests", code=-1003, http_status=429)
    refusal.retry_after_s = 1.0
    venue.place_errors = [refusal]
    scope = make_scope(venue, store, policy=ProtectionPolicy(stop_loss=SL_TP.stop_loss))
    await scope.recover("startup")
    assert store.holds() == {}
    (slot,) = scope.slot_retry.keys()
    backoff = scope.slot_retry.get(slot)
    assert backoff is not None and backoff.not_before_ms - backoff.first_ms >= 1000  # Retry-After
    await scope.handle_batch([TICK])  # a supervisor tick before the backoff ends: no resend
    assert len(places(venue)) == 1
    while not scope.slot_retry.due(slot, scope.now_ms()):
        pass  # the test clock advances 1 ms per reading
    await scope.handle_batch([TICK])  # the supervisor's tick retries it, no event needed
    assert len(places(venue)) == 2
    assert store.get(places(venue)[1].split()[2]).status is ExitStatus.PENDING


async def test_partial_close_replaces_take_profit_new_before_old(store):
    venue = FakeUsdm(positions=[long_position("0.5")])
    scope = make_scope(venue, store)
    await scope.recover("startup")
    old_tp = next(
        r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.TAKE_PROFIT
    )
    venue.calls.clear()
    await scope.handle_batch([UserDataEvent(account_update("BTCUSDT", "0.3", "50000", t=99))])
    assert [c.split()[0] for c in venue.calls] == ["place", "cancel"]  # never bare
    assert venue.calls[1] == f"cancel {old_tp.client_id}"
    new_tp = venue.orders[venue.calls[0].split()[2]]
    assert new_tp.params["quantity"] == "0.3"
    assert store.get(old_tp.client_id).status is ExitStatus.CANCELED


async def test_position_closed_cancels_siblings(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store)
    await scope.recover("startup")
    rows = store.blocking("acct", Product.USDM)
    venue.calls.clear()
    await scope.handle_batch([UserDataEvent(account_update("BTCUSDT", "0", "0", t=99))])
    assert sorted(venue.calls) == sorted(f"cancel {r.client_id}" for r in rows)
    assert store.blocking("acct", Product.USDM) == []


async def test_dry_run_journals_sanitised_candidates_and_sends_nothing(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store, can_mutate=False)
    await scope.recover("startup")
    await scope.plan_and_submit("again")
    assert places(venue) == []
    candidates = store.decisions("dry_run_candidate")
    assert len(candidates) == 2  # journaled once per slot, not once per pass
    summary = candidates[0]["details"]
    # Sanitised: what the order is and why, never keys or signatures.
    assert {"client_id", "role", "symbol", "side", "type", "reason"} <= set(summary)
    assert set(summary) <= {
        "client_id",
        "slot",
        "role",
        "symbol",
        "side",
        "type",
        "reason",
        "stopPrice",
        "triggerPrice",
        "trigger_price",
        "price",
        "quantity",
        "closePosition",
        "activatePrice",
        "callbackRate",
        "trailingDelta",
        "abovePrice",
        "aboveStopPrice",
        "belowPrice",
        "belowStopPrice",
    }
    assert summary["symbol"] == "BTCUSDT" and summary["side"] == Side.SELL.value
    assert store.blocking("acct", Product.USDM) == []


@pytest.mark.parametrize("can_mutate", [True, False], ids=["sending", "dry_run"])
async def test_invalid_locally_is_never_sent_but_journaled_and_held(store, can_mutate):
    """A request that fails local validation is not sent (nor journaled as a dry-run
    candidate): the decision names the violation and the slot is held."""
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store, policy=None, can_mutate=can_mutate)  # plans nothing itself
    await scope.recover("startup")
    off_step = FuturesOrderRequest(  # 0.0105 is not a multiple of BTCUSDT's 0.001 stepSize
        symbol="BTCUSDT",
        side=Side.SELL,
        type=FuturesOrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D("0.0105"),
        price=D("52000"),
        reduce_only=True,
    )
    row = await scope.submitter.place(TP_SLOT, off_step, "test")
    assert places(venue) == []
    assert row is None
    assert store.decisions("dry_run_candidate") == []
    (decision,) = store.decisions("invalid_locally")
    assert decision["slot"] == TP_SLOT.text()
    assert decision["reason"].startswith("-4023 quantity: Quantity not increased by step size.")
    assert "stepSize 0.001" in decision["reason"]
    assert store.get(decision["client_id"]) is None  # no intent row: nothing was sent
    _fingerprint, reason = store.holds()[TP_SLOT.text()]
    assert reason == "invalid locally: " + decision["reason"]


async def test_gate_refusal_holds_the_slot_and_sends_nothing(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(
        venue, store, gate=lambda _p, _s, n: f"notional {n} over cap" if n > 1000 else None
    )
    await scope.recover("startup")
    assert places(venue) == []
    assert {d["kind"] for d in store.decisions()} == {"gate_refused"}
    assert SL_SLOT.text() in store.holds() and TP_SLOT.text() in store.holds()


async def test_startup_subscribes_the_stream_before_hydrating(store):
    """An exit placed by the startup pass is confirmed on the stream: the subscription must
    exist before that pass, or the confirmation is lost and the exit stays pending (CI flake)."""
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store)

    async def open_later() -> None:
        await asyncio.sleep(0.05)
        venue.calls.append("stream open")
        venue.stream_items.put_nowait(TransportEvent(TransportKind.OPEN, ""))

    opener = asyncio.create_task(open_later())
    await scope.start()
    await opener
    try:
        assert venue.calls[:2] == ["stream open", "hydrate"]
        sl = next(o for o in venue.orders.values() if o.kind is ExitKind.ALGO)
        venue.stream_items.put_nowait(UserDataEvent(algo_update(sl.client_id, sl.venue_id, "NEW")))
        await scope.wait_idle()
        assert store.get(sl.client_id).status is ExitStatus.OPEN
        # The OPEN that preceded the hydration asks for nothing more.
        assert scope.stats.recoveries == 0 and scope.stats.hydrations == 1
        assert len(places(venue)) == 2
    finally:
        await scope.stop()


async def test_stream_opening_after_the_startup_timeout_triggers_one_recovery(store):
    """No stream in time: protect the position anyway, then read the state again once the
    stream opens (what happened in between was never delivered); nothing is placed twice."""
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store, stream_open_timeout_s=0.02)
    await scope.start()
    try:
        assert venue.calls[0] == "hydrate" and len(places(venue)) == 2
        assert scope.stats.recoveries == 0
        # Meanwhile the venue accepted both exits (their confirmations were never delivered).
        venue.stream_items.put_nowait(TransportEvent(TransportKind.OPEN, ""))
        async with asyncio.timeout(5):
            while scope.stats.recoveries < 1 or scope.state is not ScopeState.READY:
                await asyncio.sleep(0.005)
        assert venue.calls.count("hydrate") == 2
        assert len(places(venue)) == 2
        assert {r.status for r in store.blocking("acct", Product.USDM)} == {ExitStatus.OPEN}
        # Another OPEN after a hydration that saw the stream open asks for nothing.
        venue.stream_items.put_nowait(TransportEvent(TransportKind.OPEN, ""))
        await scope.wait_idle()
        assert scope.stats.recoveries == 1
    finally:
        await scope.stop()


async def test_a_dead_consumer_is_restarted_and_the_scope_recovers(store):
    """Never alive-but-dead: the supervisor restarts a task that died, loudly, and reads the
    state again (events may have died with it)."""
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(venue, store, supervise_interval_s=0.02, stream_open_timeout_s=0.01)
    await scope.start()
    try:
        consume = next(t for t in scope._tasks if t.get_name().endswith("consume"))
        consume.cancel()  # as if it had crashed
        async with asyncio.timeout(5):
            while scope.stats.restarts == 0 or scope.state is not ScopeState.READY:
                await asyncio.sleep(0.01)
        assert scope.tasks.alive()
        assert any(k == "scope_error" for k, _ in recorded(scope))
        assert len(places(venue)) == 2  # recovered, nothing placed twice
    finally:
        await scope.stop()


async def test_a_workflow_that_raises_degrades_and_the_supervisor_recovers(store):
    venue = FakeUsdm(positions=[long_position()])
    scope = make_scope(
        venue, store, supervise_interval_s=0.02, stream_open_timeout_s=0.01, retry_initial_s=0.01
    )
    await scope.start()
    try:
        venue.place_errors = [RuntimeError("a bug in an adapter")]  # type: ignore[list-item]
        venue.positions = [long_position("0.8")]
        venue.stream_items.put_nowait(UserDataEvent(account_update("BTCUSDT", "0.8", "50000", 9)))
        async with asyncio.timeout(5):
            while not any(k == "scope_error" for k, _ in recorded(scope)):
                await asyncio.sleep(0.01)
            while scope.state is not ScopeState.READY or scope.health.scope_reason(scope.key):
                await asyncio.sleep(0.01)
        assert scope.tasks.alive()
        tp = [r for r in store.blocking("acct", Product.USDM) if r.slot.role is Role.TAKE_PROFIT]
        assert [r.quantity for r in tp] == [D("0.8")]
    finally:
        await scope.stop()
