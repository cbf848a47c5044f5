"""``backtest --config`` and ``sweep --emit-config``: the CLI's side of
:mod:`exitguard.backtest.from_config` (reading the file, naming the section, writing the winner).

Problems are :class:`BacktestInputError` naming the option, which the commands print as one-line
usage errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exitguard.backtest.model import BacktestInputError
from exitguard.cli.inputs import file_problem

if TYPE_CHECKING:
    from exitguard.backtest.from_config import ConfigPolicy
    from exitguard.backtest.ranking import Ranking
    from exitguard.backtest.run import RunResult
    from exitguard.domain.enums import Product, WorkingType

__all__ = ["config_policy", "emit_winner", "trades_symbol"]


def trades_symbol(trades: list[Path] | None) -> str:
    """The symbol a data.binance.vision file name starts with (``BTCUSDT-aggTrades-...``)."""
    name = trades[0].name.split("-")[0] if trades else ""
    if not re.fullmatch(r"[A-Z0-9]{2,30}", name):
        raise BacktestInputError(
            "--symbol", "whose config policy to backtest: the trades file name does not say"
        )
    return name


def config_policy(
    config: Path, symbol: str, product: Product, source: WorkingType | None
) -> ConfigPolicy:
    """The backtest policy of ``symbol``'s effective policy in ``config``."""
    from exitguard.backtest.from_config import exit_policy_from_config
    from exitguard.config.errors import ConfigError, ConfigFileError
    from exitguard.config.loader import load_config

    if (problem := file_problem(config)) is not None:
        raise BacktestInputError("--config", problem)
    try:
        # No environment: the backtest needs the file's policies, never credentials or URLs.
        loaded = load_config(config, {})
    except ConfigFileError as exc:
        raise BacktestInputError("--config", str(exc.issues[0])) from None
    except ConfigError as exc:
        first = exc.issues[0]
        more = f" (and {len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
        raise BacktestInputError(
            "--config",
            f"{first.path}: {first.message}{more}; see exitguard config check --config {config}",
        ) from None
    try:
        policy = loaded.policy_for(product, symbol)
    except LookupError as exc:
        raise BacktestInputError("--symbol", str(exc)) from None
    return exit_policy_from_config(policy, product, f"policy.{product.value}.{symbol}", source)


def emit_winner(
    path: Path, result: RunResult, ranking: Ranking, product: Product
) -> dict[str, Any]:
    """Write the ranking's winner as a config section; what was written, for the report."""
    from exitguard.backtest.from_config import policy_snippet
    from exitguard.backtest.outcomes import iso_ms

    best = ranking.best()
    if best is None:
        raise BacktestInputError(
            "--emit-config", "no policy was ranked, so there is no winner to write"
        )
    market = next(iter(result.markets.values()))
    symbol = market.symbol
    times = market.fills.time_ms
    comments = (
        f"exitguard sweep winner: policy {best} on {symbol},",
        f"{iso_ms(int(times[0]))} to {iso_ms(int(times[-1]))},",
        f"{ranking.spec.describe()}:",
        f"net PnL {ranking.pnl[best]:,.2f} over {int(ranking.trades[best])} counted trades.",
    )
    text = policy_snippet(result.policies[best], product, symbol, comments)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BacktestInputError(
            "--emit-config", f"cannot write {path}: {exc.strerror or exc}"
        ) from None
    return {"file": str(path), "policy": best, "section": f"policy.{product.value}.{symbol}"}
