"""Invariants of the projection for arbitrary holdings, targets, sectors, volumes and limits,
checked against limits recomputed here from the input (not from the manager's own arrays).

The caps can only be promised when the holdings already obey them or liquidity lets the fund
sell whatever it must: a holding that breaks a cap and trades only a sliver of its volume stays
above the cap for a while (and the decision says so with a breach reason).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autonomous.risk import UNKNOWN_SECTOR, HaltState, RiskDecision, RiskInput, Severity, Verdict, evaluate_risk
from trading.settings import RiskLimits

TICKERS = tuple(f"T{i}" for i in range(8))
SECTORS = ("Energy", "Health", "Tech")
HUGE_VOLUME = 1e15
TOL = 1e-9
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Case:
    inp: RiskInput
    limits: RiskLimits

    @property
    def tickers(self) -> list[str]:
        held = [t for t, q in self.inp.quantities.items() if q != 0]
        return sorted(set(held) | set(self.inp.target))

    @property
    def equity(self) -> float:
        return float(self.inp.cash) + sum(float(q) * float(self.inp.prices[t]) for t, q in self.inp.quantities.items())

    def current(self) -> np.ndarray:
        return np.array([float(self.inp.quantities.get(t, 0.0)) * float(self.inp.prices[t]) for t in self.tickers]) / (
            self.equity
        )

    def cash_after(self, weights: np.ndarray) -> float:
        """Cash after trading from the holdings to `weights`, costs paid, as a weight."""
        trades = weights - self.current()
        costs = self.inp.cost_rate * np.abs(trades).sum()
        return float(float(self.inp.cash) / self.equity - trades.sum() - costs)

    def liquidity(self) -> np.ndarray:
        volume = np.array([float(self.inp.average_daily_volume.get(t, 0.0)) for t in self.tickers])
        price = np.array([float(self.inp.prices[t]) for t in self.tickers])
        return np.asarray(self.limits.max_adv_fraction * volume * price / self.equity)

    def sector_of(self, ticker: str) -> str:
        return self.inp.sectors.get(ticker) or UNKNOWN_SECTOR


@st.composite
def risk_limits(draw: st.DrawFn) -> RiskLimits:
    position = draw(st.floats(0.05, 0.5))
    return RiskLimits(
        max_position_weight=position,
        max_top3_weight=draw(st.floats(position, 1.0)),
        min_cash_weight=draw(st.floats(0.0, 0.2)),
        max_daily_turnover=draw(st.floats(0.02, 2.0)),
        max_sector_weight=draw(st.floats(0.1, 1.0)),
        max_adv_fraction=draw(st.floats(0.01, 0.2)),
        drift_threshold=draw(st.sampled_from([0.0, 0.05])),
        drawdown_resume=draw(st.sampled_from(["manual", "after_sessions", "on_recovery"])),
        resume_after_sessions=5,
    )


@st.composite
def cases(draw: st.DrawFn, holdings: str = "any", liquidity: str = "any") -> Case:
    """`holdings`: "within" (obeying every cap and the cash floor) or "any";
    `liquidity`: "ample" (every order fits), "thin" (missing or small volumes) or "any"."""
    limits = draw(risk_limits())
    names = TICKERS[: draw(st.integers(1, len(TICKERS)))]
    prices = {t: draw(st.floats(1.0, 500.0)) for t in names}
    sectors = {t: s for t in names if (s := draw(st.sampled_from((*SECTORS, None)))) is not None}
    weights = np.array([draw(st.one_of(st.just(0.0), st.floats(0.0, 0.6))) for t in names])
    weights /= max(1.0, weights.sum() / (1.0 - draw(st.floats(0.0, 0.3))))
    if holdings == "within":
        weights = _within_limits(weights, [sectors.get(t) or UNKNOWN_SECTOR for t in names], limits)
    equity = draw(st.floats(1e3, 1e8))
    quantities = {t: w * equity / prices[t] for t, w in zip(names, weights.tolist(), strict=True)}
    targets = st.one_of(st.just(0.0), st.floats(-0.05, 0.6, allow_subnormal=False))
    target = {t: draw(targets) for t in names if draw(st.booleans()) or quantities[t] == 0}
    ample = liquidity == "ample" or (liquidity == "any" and draw(st.booleans()))
    volumes = (
        {t: HUGE_VOLUME for t in names}
        if ample
        else {t: v for t in names if (v := draw(st.one_of(st.none(), st.floats(0.0, 5_000.0)))) is not None}
    )
    inp = RiskInput(
        target=target,
        quantities=quantities,
        cash=equity * max(0.0, 1.0 - float(weights.sum())),
        prices=prices,
        peak_equity=equity * draw(st.floats(0.8, 1.5)),
        sectors=sectors,
        average_daily_volume=volumes,
        confidence=draw(st.floats(0.0, 1.0)),
        halt=HaltState(drawdown_at_trigger=0.2) if draw(st.booleans()) else None,
        sessions_since_halt=draw(st.integers(0, 10)),
        force=draw(st.booleans()),
        cost_rate=draw(st.floats(0.0, 0.01)),
    )
    return Case(inp, limits)


def _within_limits(weights: np.ndarray, sectors: list[str], limits: RiskLimits) -> np.ndarray:
    """The weights scaled down (a hair more than needed, so rounding stays inside) until they obey
    every cap and leave the minimum cash."""
    weights = np.minimum(weights, limits.max_position_weight)
    totals = {s: weights[[i for i, x in enumerate(sectors) if x == s]].sum() for s in set(sectors)}
    top3 = np.sort(weights)[::-1][:3].sum()
    ratios = [
        (1.0 - limits.min_cash_weight) / max(weights.sum(), 1e-300),
        limits.max_top3_weight / max(top3, 1e-300),
        limits.max_sector_weight / max(max(totals.values()), 1e-300),
    ]
    return np.asarray(weights * min(1.0, *ratios) * (1 - 1e-9))


def adjusted(case: Case, decision: RiskDecision) -> np.ndarray:
    return np.array([decision.adjusted_weights[t] for t in case.tickers])


def broken_caps(case: Case, weights: np.ndarray) -> set[str]:
    """The caps `weights` break, recomputed from the limits (with the tolerance of float sums)."""
    limits, broken = case.limits, set()
    if (weights > limits.max_position_weight + TOL).any():
        broken.add("position")
    if np.sort(weights)[::-1][:3].sum() > limits.max_top3_weight + TOL:
        broken.add("top3")
    sector_totals: dict[str, float] = {}
    for ticker, weight in zip(case.tickers, weights, strict=True):
        sector_totals[case.sector_of(ticker)] = sector_totals.get(case.sector_of(ticker), 0.0) + weight
    if max(sector_totals.values(), default=0.0) > limits.max_sector_weight + TOL:
        broken.add("sector")
    if case.cash_after(weights) < limits.min_cash_weight - TOL:
        broken.add("cash")
    return broken


def holdings_within_limits(case: Case) -> bool:
    return not broken_caps(case, case.current())


@PROPERTY_SETTINGS
@given(cases())
def test_adjusted_weights_are_non_negative_and_cash_after_costs_is_never_negative(case: Case) -> None:
    decision = evaluate_risk(case.inp, case.limits)

    assert decision.verdict is not Verdict.REJECT
    assert (adjusted(case, decision) >= 0).all()
    assert case.cash_after(adjusted(case, decision)) >= -TOL
    assert abs(case.cash_after(adjusted(case, decision)) - decision.cash_weight) <= TOL
    assert adjusted(case, decision).sum() <= 1 + TOL


def assert_every_cap_holds(case: Case, decision: RiskDecision) -> None:
    weights = adjusted(case, decision)
    assert broken_caps(case, weights) == set()
    assert weights.sum() <= 1 - case.limits.min_cash_weight + TOL
    assert not [r for r in decision.reasons if r.severity is Severity.BREACH and r.rule != "drawdown"]


@PROPERTY_SETTINGS
@given(cases(holdings="within"))
def test_every_cap_and_the_cash_floor_hold_when_the_holdings_obey_them_whatever_the_liquidity(case: Case) -> None:
    assert holdings_within_limits(case)
    assert_every_cap_holds(case, evaluate_risk(case.inp, case.limits))


@PROPERTY_SETTINGS
@given(cases(liquidity="ample"))
def test_every_cap_and_the_cash_floor_hold_when_liquidity_is_ample_whatever_the_holdings(case: Case) -> None:
    assert_every_cap_holds(case, evaluate_risk(case.inp, case.limits))


@PROPERTY_SETTINGS
@given(cases(liquidity="thin"))
def test_a_cap_left_broken_is_always_reported_as_a_breach(case: Case) -> None:
    decision = evaluate_risk(case.inp, case.limits)
    broken = broken_caps(case, adjusted(case, decision))

    assert broken <= {r.rule for r in decision.reasons if r.severity is Severity.BREACH}


@PROPERTY_SETTINGS
@given(cases())
def test_turnover_stays_within_the_cap_except_for_sales_that_repair_broken_limits(case: Case) -> None:
    decision = evaluate_risk(case.inp, case.limits)
    traded = float(np.abs(adjusted(case, decision) - case.current()).sum())

    assert abs(traded - decision.turnover) <= TOL
    assert traded <= max(case.limits.max_daily_turnover, decision.repair_turnover) + TOL
    if holdings_within_limits(case):
        assert decision.repair_turnover == 0.0
        assert traded <= case.limits.max_daily_turnover + TOL


@PROPERTY_SETTINGS
@given(cases(liquidity="thin"))
def test_every_order_is_within_its_share_of_average_daily_volume(case: Case) -> None:
    decision = evaluate_risk(case.inp, case.limits)

    assert (np.abs(adjusted(case, decision) - case.current()) <= case.liquidity() + TOL).all()


@PROPERTY_SETTINGS
@given(cases())
def test_under_a_halt_no_weight_increases(case: Case) -> None:
    decision = evaluate_risk(case.inp, case.limits)
    assume(decision.halt is not None and decision.halt.active)

    assert (adjusted(case, decision) <= case.current() + TOL).all()


@PROPERTY_SETTINGS
@given(cases(), st.booleans())
def test_feeding_the_adjusted_portfolio_back_as_target_and_holdings_trades_nothing(case: Case, force: bool) -> None:
    first = evaluate_risk(replace(case.inp, halt=None, peak_equity=case.equity), case.limits)
    assume(not first.reasons_of(Severity.BREACH))
    equity, prices = case.equity, case.inp.prices
    weights = first.adjusted_weights
    again = replace(
        case.inp,
        target=dict(weights),
        quantities={t: w * equity / float(prices[t]) for t, w in weights.items()},
        cash=equity * (1.0 - sum(weights.values())),
        peak_equity=equity,
        halt=None,
        force=force,
    )
    second = evaluate_risk(again, case.limits)

    assert all(abs(trade) <= TOL for trade in second.trades.values())
