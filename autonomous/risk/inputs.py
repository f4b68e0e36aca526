"""The risk manager's input, and its validation into a `Book`: float64 arrays of weights,
sectors and liquidity over one sorted ticker index, which every rule works on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import SupportsFloat

import numpy as np

from autonomous.risk.decision import Reason, Severity, listing, pct, pcts
from autonomous.risk.halt import HaltState
from autonomous.risk.numeric import BoolArray, FloatArray, IntArray
from trading.settings import RiskLimits

DEFAULT_COST_RATE = 0.001  # commission plus slippage, as a fraction of traded value
# Names without a sector share one bucket under the sector cap: an unknown sector may well be the
# same sector, so the conservative reading is to cap them together.
UNKNOWN_SECTOR = "(unknown)"


@dataclass(frozen=True)
class RiskInput:
    """Everything the risk manager looks at, for one account on one date. Quantities are shares,
    average daily volumes are shares over `RiskLimits.adv_window_sessions` sessions, and money
    (cash, prices, peak) is in the account's currency. Decimals from the ledger are fine.

    Average daily volume: a name left out of the mapping is not traded (its market impact is unknown);
    a name mapped to NaN or None has no reported volume (a vendor that ships adjusted closes only): the
    liquidity limit cannot be measured for it, so it is skipped, and a reason names the name.
    """

    target: Mapping[str, SupportsFloat]  # weights; summing above 1 is fine (the cash floor scales them)
    quantities: Mapping[str, SupportsFloat]
    cash: SupportsFloat
    prices: Mapping[str, SupportsFloat]
    peak_equity: SupportsFloat  # highest equity since the last halt was lifted (0: no history)
    sectors: Mapping[str, str]
    average_daily_volume: Mapping[str, SupportsFloat | None]
    confidence: float  # the strategy's confidence in [0, 1]
    halt: HaltState | None = None
    sessions_since_halt: int = 0
    force: bool = False  # rebalance even when the drift is below the threshold
    cost_rate: float = DEFAULT_COST_RATE
    # Names that cannot trade today, with why (a held name without a bar on the session: its price is
    # the last close, stale): they stay at their current weight and count as held for every limit.
    frozen: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Book:
    """The validated portfolio, as weights (value / equity) over a sorted ticker index."""

    tickers: tuple[str, ...]
    current: FloatArray
    cash: float  # cash / equity
    equity: float
    sector_codes: IntArray  # index into sector_names
    sector_names: tuple[str, ...]
    liquidity: FloatArray  # the largest trade allowed today per name, as a weight (inf: not limited)
    no_volume: BoolArray  # names without a usable average daily volume (so no trade at all)
    unreported_volume: BoolArray  # names whose data has no volume: the liquidity limit is skipped for them
    frozen: BoolArray  # names that cannot trade today at all (RiskInput.frozen)
    cost_rate: float
    limits: RiskLimits

    def names(self, mask: BoolArray | IntArray) -> tuple[str, ...]:
        indices = np.flatnonzero(mask) if mask.dtype == np.bool_ else mask
        return tuple(self.tickers[i] for i in indices)


@dataclass(frozen=True, eq=False)
class PreparedInput:
    book: Book
    raw: FloatArray  # the target as given, 0 for held names outside it
    target: FloatArray  # negative weights and names without a price set to 0, frozen names kept as held
    peak: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, eq=False)
class RejectedInput:
    """An input that cannot be projected. Weights are best effort, over the names that can be
    valued, so a reader still sees the portfolio the rejection left untouched."""

    raw: dict[str, float]
    current: dict[str, float]
    cash_weight: float
    equity: float
    reasons: tuple[Reason, ...]


def prepare_input(inp: RiskInput, limits: RiskLimits) -> PreparedInput | RejectedInput:
    held = [t for t, q in inp.quantities.items() if _float(q) != 0.0]
    tickers = tuple(sorted(set(held) | set(inp.target)))
    quantity = _column(inp.quantities, tickers, 0.0)
    price = _column(inp.prices, tickers, math.nan)
    raw = _column(inp.target, tickers, 0.0)
    cash = _float(inp.cash)
    peak = _float(inp.peak_equity)

    priced = np.isfinite(price) & (price > 0)
    value = np.where(priced, quantity * np.where(priced, price, 0.0), 0.0)
    equity = cash + float(value.sum())
    problems = _rejections(inp, tickers, raw, quantity, price, cash, equity, peak)
    if problems:
        return _rejected(inp, tickers, raw, value, cash, problems)

    current = value / equity
    target, reasons = _usable_target(tickers, raw, priced)
    frozen = np.fromiter((t in inp.frozen for t in tickers), dtype=np.bool_, count=len(tickers))
    if frozen.any():
        target = np.where(frozen, current, target)
        reasons += (_frozen_reason(inp, tickers, frozen, raw, current),)
    codes, sector_names = _sector_codes(inp.sectors, tickers)
    volume = _column(inp.average_daily_volume, tickers, math.nan)
    usable_volume = np.isfinite(volume) & (volume >= 0)
    given = np.fromiter((t in inp.average_daily_volume for t in tickers), dtype=np.bool_, count=len(tickers))
    unreported = given & np.isnan(volume) & ~frozen
    liquidity = np.where(usable_volume & priced, limits.max_adv_fraction * volume * np.where(priced, price, 0.0), 0.0)
    liquidity = np.where(unreported, np.inf, np.where(frozen, 0.0, liquidity))
    book = Book(
        tickers=tickers,
        current=current,
        cash=cash / equity,
        equity=equity,
        sector_codes=codes,
        sector_names=sector_names,
        liquidity=liquidity / equity,
        no_volume=~usable_volume & ~unreported & ~frozen,
        unreported_volume=unreported,
        frozen=frozen,
        cost_rate=float(inp.cost_rate),
        limits=limits,
    )
    return PreparedInput(book, raw, target, peak, reasons)


def _float(value: SupportsFloat | None) -> float:
    return math.nan if value is None else float(value)


def _column(mapping: Mapping[str, SupportsFloat | None], tickers: tuple[str, ...], missing: float) -> FloatArray:
    return np.fromiter((_float(mapping.get(t, missing)) for t in tickers), dtype=np.float64, count=len(tickers))


def _rejections(
    inp: RiskInput,
    tickers: tuple[str, ...],
    raw: FloatArray,
    quantity: FloatArray,
    price: FloatArray,
    cash: float,
    equity: float,
    peak: float,
) -> list[Reason]:
    problems: list[Reason] = []

    def reject(mask: BoolArray, what: str, values: FloatArray) -> None:
        names = [tickers[i] for i in np.flatnonzero(mask)]
        if names:
            shown = listing(names, [str(v) for v in values[mask]])
            problems.append(Reason("input", Severity.REJECT, f"{what}: {shown}", tuple(names)))

    reject(~np.isfinite(raw), "target weight is not a number", raw)
    reject(~np.isfinite(quantity) | (quantity < 0), "quantity held is negative or not a number", quantity)
    priced = np.isfinite(price) & (price > 0)
    reject((quantity > 0) & ~priced, "held ticker has no usable price, so its value is unknown", price)
    if not (math.isfinite(cash) and cash >= 0):
        problems.append(Reason("input", Severity.REJECT, f"cash is {cash}: it must be a number >= 0 (no margin)"))
    if not problems and not (math.isfinite(equity) and equity > 0):
        problems.append(Reason("input", Severity.REJECT, f"equity is {equity:,.2f}: no portfolio can be sized on it"))
    if not (math.isfinite(peak) and peak >= 0):
        problems.append(Reason("input", Severity.REJECT, f"peak equity is {peak}: it must be a number >= 0"))
    if not (math.isfinite(inp.cost_rate) and 0 <= inp.cost_rate < 1):
        problems.append(Reason("input", Severity.REJECT, f"cost rate is {inp.cost_rate}: it must be in [0, 1)"))
    if inp.sessions_since_halt < 0:
        problems.append(
            Reason("input", Severity.REJECT, f"sessions since the halt is {inp.sessions_since_halt}: it must be >= 0")
        )
    return problems


def _rejected(
    inp: RiskInput,
    tickers: tuple[str, ...],
    raw: FloatArray,
    value: FloatArray,
    cash: float,
    problems: list[Reason],
) -> RejectedInput:
    valued = np.isfinite(value)
    equity = (cash if math.isfinite(cash) else 0.0) + float(value[valued].sum())
    current = (
        {t: float(v / equity) for t, v, ok in zip(tickers, value, valued, strict=True) if ok} if equity > 0 else {}
    )
    return RejectedInput(
        raw={t: float(w) for t, w in zip(tickers, raw, strict=True)},
        current=current,
        cash_weight=cash / equity if equity > 0 else math.nan,
        equity=equity,
        reasons=tuple(problems),
    )


def _usable_target(
    tickers: tuple[str, ...], raw: FloatArray, priced: BoolArray
) -> tuple[FloatArray, tuple[Reason, ...]]:
    reasons: list[Reason] = []
    negative = raw < 0
    unpriced = (raw > 0) & ~priced
    if negative.any():
        names = _names(tickers, negative)
        reasons.append(
            Reason(
                "target",
                Severity.ADJUSTED,
                f"negative target weights set to 0 (the fund is long only): {listing(names, pcts(raw[negative]))}",
                names,
            )
        )
    if unpriced.any():
        names = _names(tickers, unpriced)
        reasons.append(
            Reason(
                "prices",
                Severity.ADJUSTED,
                f"target names without a usable price set to 0 (no order can be sized): "
                f"{listing(names, pcts(raw[unpriced]))}",
                names,
            )
        )
    return np.where(negative | unpriced, 0.0, raw), tuple(reasons)


def _frozen_reason(
    inp: RiskInput, tickers: tuple[str, ...], frozen: BoolArray, raw: FloatArray, current: FloatArray
) -> Reason:
    names = _names(tickers, frozen)
    held = [
        f"{pct(float(c))} held (target {pct(float(r))}): {inp.frozen[t]}"
        for t, c, r in zip(names, current[frozen], raw[frozen], strict=True)
    ]
    return Reason(
        "frozen", Severity.INFO, f"not traded today, kept at the current weight: {listing(names, held)}", names
    )


def _sector_codes(sectors: Mapping[str, str], tickers: Iterable[str]) -> tuple[IntArray, tuple[str, ...]]:
    labels = np.array([sectors.get(t) or UNKNOWN_SECTOR for t in tickers], dtype=object)
    if len(labels) == 0:
        return np.empty(0, dtype=np.intp), ()
    names, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.intp), tuple(str(n) for n in names)


def _names(tickers: tuple[str, ...], mask: BoolArray) -> tuple[str, ...]:
    return tuple(tickers[i] for i in np.flatnonzero(mask))
