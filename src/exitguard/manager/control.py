"""The narrow interface the service (HTTP API, page, alerts, metrics) uses to read and steer the
manager (design: service). It never reaches an adapter: reads come from the scopes' memory, the
store and the health board; commands become runtime plans in the store
(:mod:`exitguard.store.overrides`) and run as one workflow of their scope, through the planner
and the same submitter and mutation gate as everything else. In DRY_RUN_PRIVATE a command is
planned, journaled and answered; nothing is sent, because no mutating client exists.

Prices for display (mark, last, liquidation) are read by :meth:`GuardControl.poll_prices` at a
low rate, only while the service runs; they also go to the manager's :class:`~.market.MarketBook`
that the liquidation guard plans with (so the scopes need not read them again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.adapters.errors import ExchangeError
from exitguard.domain.enums import PositionMode, PositionSide, Product
from exitguard.planner.build import close_now_request
from exitguard.planner.model import Position, Role, SlotKey
from exitguard.planner.plan import plan_exits
from exitguard.planner.policy import ProtectionPolicy
from exitguard.planner.policy_codec import policy_to_dict
from exitguard.store.overrides import decisions_page

from .health import ProtectionState
from .scope import ProductScope, describe_action
from .service import ExitManager, wall_clock_ms
from .views import Quote, health_view, position_view

__all__ = ["CommandError", "GuardControl"]

log = logging.getLogger("exitguard.control")


@dataclass(slots=True)
class CommandError(Exception):
    """A command refused before anything changed: HTTP ``status``, the ``field`` and the rule."""

    status: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class GuardControl:
    """Read models and commands over one running :class:`ExitManager`."""

    def __init__(
        self,
        manager: ExitManager,
        *,
        mode: str,
        venue: str,
        manages: Callable[[Product, str], bool],
        now_ms: Callable[[], int] = wall_clock_ms,
        command_timeout_s: float = 10.0,
    ) -> None:
        self.manager = manager
        self.mode = mode
        self.venue = venue
        self._manages = manages
        self.now_ms = now_ms
        self.command_timeout_s = command_timeout_s
        self.quotes: dict[tuple[Product, str], Quote] = {}
        self.liquidations: dict[tuple[Product, str, PositionSide], Decimal] = {}
        # Best price seen per resting trailing exit: where its stop is now (views).
        self._extremes: dict[str, Decimal] = {}
        # Commands waiting for their new exits to be accepted (slot texts still to come).
        self._waiters: list[tuple[set[str], asyncio.Future[str]]] = []
        manager.listen(self._on_event)

    # -- reads ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        view = health_view(self.manager.scopes, self.manager.health, self.mode, self.now_ms())
        view["venue"] = self.venue
        return view

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "venue": self.venue,
            "account": self.manager.config.account,
            "ready": self.manager.ready(),
            "protected": self.manager.protected(),
            "scopes": {
                p.value: {
                    "state": s.state.value,
                    "paused": s.paused,
                    "positions": len(s.positions),
                    "stats": {
                        k: getattr(s.stats, k)
                        for k in ("placed", "cancelled", "recoveries", "retries", "restarts")
                    },
                }
                for p, s in self.manager.scopes.items()
            },
            "time_ms": self.now_ms(),
        }

    def positions(self, symbol: str | None = None) -> list[dict[str, Any]]:
        out = []
        for product, scope in self.manager.scopes.items():
            for (sym, side), pos in sorted(scope.positions.items()):
                if symbol is not None and sym != symbol:
                    continue
                out.append(
                    position_view(
                        scope,
                        pos,
                        self.manager.health,
                        self.quotes.get((product, sym)),
                        self.liquidations.get((product, sym, side)),
                        self._extreme_for(scope, pos),
                    )
                )
        return out

    def _extreme_for(self, scope: ProductScope, pos: Position) -> Decimal | None:
        for row in scope.store.blocking(
            scope.config.account, scope.product, frozenset({pos.symbol})
        ):
            if row.slot.role is Role.TRAILING and row.slot.position_side is pos.position_side:
                return self._extremes.get(row.client_id)
        return None

    def exits(
        self, symbol: str | None = None, active: bool = True, limit: int = 500
    ) -> list[dict[str, Any]]:
        """App-owned exits (resting ones; with ``active=False`` the finished ones too), the
        newest ``limit``, oldest first."""
        store = self.manager.store
        rows = store.rows() if not active else None
        out = []
        for product, scope in self.manager.scopes.items():
            source = (
                scope.store.blocking(scope.config.account, product)
                if rows is None
                else [r for r in rows if r.slot.product is product]
            )
            for r in source:
                if symbol is not None and r.slot.symbol != symbol:
                    continue
                out.append(
                    {
                        "client_id": r.client_id,
                        "slot": r.slot.text(),
                        "product": product.value,
                        "symbol": r.slot.symbol,
                        "position_side": r.slot.position_side.value,
                        "role": r.slot.role.value,
                        "kind": r.kind.value,
                        "side": r.side.value,
                        "quantity": None if r.quantity is None else str(r.quantity),
                        "state": r.status.value.upper(),
                        "request": dict(r.request),
                        "reason": r.reason,
                        "plan": "bot" if r.policy_tag.split("|")[0] else "config",
                        "created_ms": r.created_ms,
                        "updated_ms": r.updated_ms,
                    }
                )
        return sorted(out, key=lambda e: (e["created_ms"], e["client_id"]))[-limit:]

    def decisions(self, **filters: Any) -> tuple[list[dict[str, Any]], int | None]:
        """The audit trail (dry-run candidates, refusals, fallbacks), paged; see decisions_page."""
        return decisions_page(self.manager.store, **filters)

    # -- commands ------------------------------------------------------------------------

    def _scope(self, product: Product) -> ProductScope:
        scope = self.manager.scopes.get(product)
        if scope is None:
            raise CommandError(404, "product", f"{product.value} is not enabled (manager.products)")
        return scope

    def _managed(self, product: Product, symbol: str) -> None:
        if not self._manages(product, symbol):
            raise CommandError(
                422, "symbol", f"{symbol} is not managed (manager.symbols.{product.value})"
            )

    def _position(
        self, scope: ProductScope, symbol: str, side: PositionSide | None
    ) -> tuple[Position, PositionSide]:
        if side is None:
            if scope.position_mode is PositionMode.HEDGE:
                raise CommandError(
                    422, "positionSide", "the account is in hedge mode: give LONG or SHORT"
                )
            side = PositionSide.BOTH
        pos = scope.positions.get((symbol, side))
        if pos is None:
            raise CommandError(
                404,
                "position",
                f"no open {scope.product.value} position in {symbol} ({side.value})",
            )
        return pos, side

    async def _check_stop(
        self, scope: ProductScope, pos: Position, policy: ProtectionPolicy
    ) -> None:
        """An absolute stop the market has already passed would be refused at once (-2021):
        say so now, naming the field, instead of leaving the position to a fallback."""
        stop = policy.stop_loss
        if stop is None or stop.distance.level is None:
            return
        quote = self.quotes.get((scope.product, pos.symbol))
        if quote is None or self.now_ms() - quote.time_ms > 5_000:
            try:
                snap = await scope.ops.quote(pos.symbol)
            except ExchangeError:
                return  # no price to judge by: the venue's answer and the fallback decide
            quote = Quote(snap.mark, snap.last, self.now_ms())
            self.quotes[(scope.product, pos.symbol)] = quote
        level = stop.distance.level
        ref = quote.last if scope.product is Product.SPOT else quote.mark
        if (pos.is_long and level >= ref) or (not pos.is_long and level <= ref):
            where = "below" if pos.is_long else "above"
            raise CommandError(
                422,
                "stop_loss.price",
                f"a {'long' if pos.is_long else 'short'}'s stop must be {where} the current "
                f"price {ref}, got {level}",
            )

    def _preview(
        self, scope: ProductScope, symbol: str, side: PositionSide
    ) -> list[dict[str, Any]]:
        if scope.rules is None:
            return []
        actions = plan_exits(scope.plan_input(frozenset({symbol})))
        return [describe_action(a) for a in actions if a.slot.position_side is side]

    async def _replan(
        self, scope: ProductScope, symbol: str, why: str, expect: frozenset[str] = frozenset()
    ) -> str:
        """Plan and submit for ``symbol`` as one workflow of the scope. Returns 'done', or
        'accepted' as soon as every slot in ``expect`` has its new exit accepted by the venue
        (the replaced exits are then being cancelled: place first, cancel second), or why the
        plan waits."""

        async def work() -> str:
            if scope.state.value != "ready":
                return f"scope {scope.state.value}: applied when it is ready again"
            if scope.paused:
                return "scope paused: nothing is placed until it is resumed"
            await scope.plan_and_submit(why, frozenset({symbol}))
            return "done"

        command = asyncio.ensure_future(scope.run_command(work, self.command_timeout_s))
        command.add_done_callback(_retrieve)
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if expect and scope.ops.can_mutate:
            self._waiters.append((set(expect), waiter))
        try:
            done, _ = await asyncio.wait(
                {command, waiter},
                timeout=self.command_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._waiters = [(s, w) for s, w in self._waiters if w is not waiter]
            waiter.cancel()
        if command in done:
            error = command.exception()
            if isinstance(error, TimeoutError):
                return "still running: the supervisor applies it"
            if error is not None:
                raise error
            result: str = command.result()
            return result
        return "accepted" if waiter in done else "still running: the supervisor applies it"

    def _settled(self, scope: ProductScope, symbol: str, side: PositionSide) -> str:
        """'done' when the position's exits now match its plan; otherwise what is missing and
        why (e.g. a transient refusal the supervisor retries after its backoff)."""
        if scope.rules is None:
            return "done"
        verdicts = scope.verdicts(frozenset({symbol}))
        state, reason = verdicts.get(f"{scope.key}/{symbol}/{side.value}", (None, ""))
        if state is None or state is ProtectionState.PROTECTED:
            return "done"
        return f"pending: {reason}"

    def _on_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind != "placed" or not self._waiters:
            return
        slot = data.get("slot")
        for slots, waiter in self._waiters:
            slots.discard(slot)
            if not slots and not waiter.done():
                waiter.set_result("accepted")

    def _idempotent(self, kind: str, key: str, body: dict[str, Any], request_id: str) -> bool:
        """True when this request was applied already; CommandError when the id is reused."""
        known = self.manager.store.overrides.get(kind, key)
        if not request_id or known is None or known.request_id != request_id:
            return False
        if known.body != body:
            raise CommandError(
                409, "request_id", f"{request_id!r} was used for a different {kind} request"
            )
        return True

    async def set_protection(
        self,
        product: Product,
        symbol: str,
        side: PositionSide | None,
        policy: ProtectionPolicy,
        request_id: str = "",
    ) -> dict[str, Any]:
        """A bot's exit plan for one live position (until it closes); persisted."""
        scope = self._scope(product)
        self._managed(product, symbol)
        pos, side = self._position(scope, symbol, side)
        await self._check_stop(scope, pos, policy)
        key = f"{scope.key}/{symbol}/{side.value}"
        body = policy_to_dict(policy)
        replayed = self._idempotent("protection", key, body, request_id)
        if not replayed:
            self.manager.store.overrides.put("protection", key, body, request_id, self.now_ms())
            self.manager.emit(
                "override_set", product=product.value, position=key, plan="protection"
            )
        preview = self._preview(scope, symbol, side)
        outcome = await self._replan(scope, symbol, "api: protection plan", _placing(preview))
        if outcome == "done":
            outcome = self._settled(scope, symbol, side)
        view = [p for p in self.positions(symbol) if p["position_side"] == side.value]
        return {
            "position": f"{product.value}/{symbol}/{side.value}",
            "request_id": request_id,
            "replayed": replayed,
            "mode": self.mode,
            "sent": scope.ops.can_mutate and not scope.paused,
            "plan": body,
            "actions": preview,
            "outcome": outcome,
            "exits": view[0]["exits"] if view else [],
        }

    async def clear_protection(
        self, product: Product, symbol: str, side: PositionSide | None
    ) -> dict[str, Any]:
        scope = self._scope(product)
        side = side or PositionSide.BOTH
        key = f"{scope.key}/{symbol}/{side.value}"
        if not self.manager.store.overrides.delete("protection", key):
            raise CommandError(404, "protection", f"no bot plan for {key}")
        self.manager.emit("override_cleared", product=product.value, position=key, why="api")
        outcome = await self._replan(scope, symbol, "api: protection plan removed")
        return {"position": key, "outcome": outcome}

    async def set_policy(
        self, product: Product, symbol: str, policy: ProtectionPolicy, request_id: str = ""
    ) -> dict[str, Any]:
        """A runtime policy for a symbol (over the config's); persisted until replaced."""
        scope = self._scope(product)
        self._managed(product, symbol)
        key = f"{scope.key}/{symbol}"
        body = policy_to_dict(policy)
        replayed = self._idempotent("policy", key, body, request_id)
        if not replayed:
            self.manager.store.overrides.put("policy", key, body, request_id, self.now_ms())
            self.manager.emit("override_set", product=product.value, symbol=symbol, plan="policy")
        preview: list[dict[str, Any]] = []
        if scope.rules is not None:
            preview = [
                describe_action(a) for a in plan_exits(scope.plan_input(frozenset({symbol})))
            ]
        outcome = await self._replan(scope, symbol, "api: policy override")
        return {
            "symbol": symbol,
            "product": product.value,
            "replayed": replayed,
            "mode": self.mode,
            "plan": body,
            "actions": preview,
            "outcome": outcome,
        }

    async def clear_policy(self, product: Product, symbol: str) -> dict[str, Any]:
        scope = self._scope(product)
        if not self.manager.store.overrides.delete("policy", f"{scope.key}/{symbol}"):
            raise CommandError(404, "policy", f"no policy override for {product.value}/{symbol}")
        outcome = await self._replan(scope, symbol, "api: policy override removed")
        return {"symbol": symbol, "product": product.value, "outcome": outcome}

    async def pause(self, product: Product) -> dict[str, Any]:
        scope = self._scope(product)
        if not scope.paused:
            self.manager.store.overrides.put("pause", scope.key, {}, "", self.now_ms())
            self.manager.emit("paused", product=product.value)
        return {"product": product.value, "paused": True}

    async def resume(self, product: Product) -> dict[str, Any]:
        scope = self._scope(product)
        if self.manager.store.overrides.delete("pause", scope.key):
            self.manager.emit("resumed", product=product.value)

            async def work() -> None:
                await scope.plan_and_submit("api: resumed")

            with contextlib.suppress(TimeoutError):
                await scope.run_command(work, self.command_timeout_s)
        return {"product": product.value, "paused": False}

    async def close(
        self, product: Product, symbol: str, side: PositionSide | None
    ) -> dict[str, Any]:
        """A reduce-only market close of the whole position, through the mutation gate."""
        scope = self._scope(product)
        self._managed(product, symbol)
        pos, side = self._position(scope, symbol, side)
        key = f"{scope.key}/{symbol}/{side.value}"
        self.manager.emit("close_requested", product=product.value, position=key)

        async def work() -> dict[str, Any]:
            return await _close_position(scope, pos)

        try:
            result: dict[str, Any] = await scope.run_command(work, self.command_timeout_s)
        except TimeoutError:
            result = {"outcome": "still running"}
        return {"position": f"{product.value}/{symbol}/{side.value}", "mode": self.mode, **result}

    # -- prices for display ----------------------------------------------------------------

    async def poll_prices(self, publish: Callable[[str, dict[str, Any]], None]) -> None:
        """One round: quotes of every symbol with a position, liquidation prices (USD-M)."""
        for product, scope in self.manager.scopes.items():
            symbols = sorted({sym for sym, _side in scope.positions})
            for symbol in symbols:
                try:
                    snap = await scope.ops.quote(symbol)
                except ExchangeError as exc:
                    log.debug("quote %s failed: %s", symbol, exc)
                    continue
                self.quotes[(product, symbol)] = Quote(snap.mark, snap.last, self.now_ms())
                self.manager.market.set_mark(product, symbol, snap.mark, scope.now_ms())
                self._track_extremes(scope, symbol, snap.last)
                publish(
                    "price",
                    {
                        "product": product.value,
                        "symbol": symbol,
                        "mark": str(snap.mark),
                        "last": str(snap.last),
                    },
                )
            if product is Product.USDM and symbols:
                with contextlib.suppress(ExchangeError):
                    liq = await scope.ops.liquidation_prices()
                    self.manager.market.set_liquidations(product, liq, scope.now_ms())
                    self.liquidations = {
                        **{k: v for k, v in self.liquidations.items() if k[0] is not product},
                        **{(product, s, ps): v for (s, ps), v in liq.items()},
                    }

    def _track_extremes(self, scope: ProductScope, symbol: str, price: Decimal) -> None:
        live = set()
        for row in scope.store.blocking(scope.config.account, scope.product, frozenset({symbol})):
            if row.slot.role is not Role.TRAILING:
                continue
            live.add(row.client_id)
            pos = scope.position_for(row.slot)
            long = pos.is_long if pos is not None else True
            best = self._extremes.get(row.client_id)
            if best is None or (price > best if long else price < best):
                self._extremes[row.client_id] = price
        for client_id in [c for c in self._extremes if c not in live]:
            gone = scope.store.get(client_id)
            if gone is None or (gone.slot.symbol == symbol and gone.status.terminal):
                del self._extremes[client_id]

    async def run_price_poller(
        self, publish: Callable[[str, dict[str, Any]], None], interval_s: float = 1.0
    ) -> None:
        """Poll until cancelled (the service's lifetime); a failing round is logged, never fatal."""
        while True:
            try:
                await self.poll_prices(publish)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("price poll failed")
            await asyncio.sleep(interval_s)


def _placing(actions: list[dict[str, Any]]) -> frozenset[str]:
    """The slots whose new exit an answer may wait for (placements and replacements)."""
    return frozenset(a["slot"] for a in actions if a["action"] in ("PlaceExit", "ReplaceExit"))


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A command answered early still finishes; its error, if any, is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("api command failed after its answer: %r", task.exception())


async def _close_position(scope: ProductScope, pos: Position) -> dict[str, Any]:
    """Cancel what locks the holding (Spot), hold the slots, send the reduce-only MARKET."""
    rules = scope.rules.get(pos.symbol) if scope.rules is not None else None
    if rules is None:
        raise CommandError(503, "position", f"no exchange rules for {pos.symbol} yet")
    slots = [
        SlotKey(pos.account, pos.product, pos.symbol, pos.position_side, role) for role in Role
    ]
    # A ladder's levels are slots of their own (``…/take_profit#2``): held too, so no pass
    # puts them back while the close is on its way.
    symbol_rows = scope.store.blocking(scope.config.account, pos.product, frozenset({pos.symbol}))
    slots += sorted({r.slot for r in symbol_rows if r.slot.level and r.slot.position == pos.key})
    for slot in slots:
        scope.hold(slot, "closing at market (api)")
    if pos.product is Product.SPOT:
        # A resting SELL locks the balance the market order needs (binance-api.md §3.7).
        for row in scope.store.blocking(scope.config.account, pos.product, frozenset({pos.symbol})):
            await scope.submitter.cancel(row.slot, row.client_id, "api: close position")
    request = close_now_request(pos, rules, scope.position_mode)
    close_slot = SlotKey(pos.account, pos.product, pos.symbol, pos.position_side, Role.STOP_LOSS)
    placed = await scope.submitter.place(close_slot, request, "api: close position", fallback=False)
    if placed is None:
        for slot in slots:
            scope.store.release(slot)
        refusal = scope.submitter.last_refusal
        return {
            "outcome": "not sent" if not scope.ops.can_mutate else "refused",
            "error": None if refusal is None else f"{refusal.code}: {refusal.msg}",
        }
    return {"outcome": "sent", "client_id": placed.client_id, "state": placed.status.value.upper()}
