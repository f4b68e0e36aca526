"""Benchmark of the risk manager: `evaluate_risk` on a realistic random 500-name case (about 400
names held, 11 sectors, small and large caps' volumes), timed over many runs against a target."""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from autonomous.risk import RiskDecision, RiskInput, evaluate_risk
from benchmarks.common import Measure, exit_status, print_table, timed
from trading.settings import RiskLimits

MEDIAN_MS_TARGET = 20.0
UNIVERSE = 500
HELD = 400
EQUITY = 50_000_000.0
SECTORS = (
    "Information Technology",
    "Health Care",
    "Financials",
    "Consumer Discretionary",
    "Industrials",
    "Communication Services",
    "Consumer Staples",
    "Energy",
    "Utilities",
    "Real Estate",
    "Materials",
)
SECTOR_SHARES = (0.22, 0.13, 0.12, 0.11, 0.10, 0.08, 0.07, 0.05, 0.04, 0.04, 0.04)


def realistic_case(seed: int, *, stressed: bool = False) -> RiskInput:
    """A fund of EQUITY holding HELD of UNIVERSE names and a skewed target over all of them (a few
    names above the position cap, some at zero). `stressed`: the holdings already break the
    position cap and the cash floor, so the repair and the liquidity re-projection run too."""
    rng = np.random.default_rng(seed)
    tickers = [f"S{i:03d}" for i in range(UNIVERSE)]
    prices = np.exp(rng.normal(np.log(80.0), 0.8, UNIVERSE))
    # Dollar volume from $2M (small caps) to a few $B (mega caps): 5% of it binds on the small ones.
    dollar_volume = np.exp(rng.normal(np.log(60e6), 1.5, UNIVERSE))
    sectors = rng.choice(len(SECTORS), size=UNIVERSE, p=SECTOR_SHARES)

    held = rng.choice(UNIVERSE, size=HELD, replace=False)
    current = np.zeros(UNIVERSE)
    current[held] = rng.gamma(2.0, 1.0, HELD)
    invested = 0.99 if stressed else 0.96
    current *= invested / current.sum()
    if stressed:
        # Three names far above the 10% cap, and 1% cash under the 2% floor.
        current[held[3:]] *= (invested - 3 * 0.15) / current[held[3:]].sum()
        current[held[:3]] = 0.15

    target = rng.gamma(0.6, 1.0, UNIVERSE)
    target[rng.random(UNIVERSE) < 0.05] = 0.0
    concentrated = rng.choice(UNIVERSE, size=4, replace=False)
    target[concentrated] = 0.0
    target *= (1.0 - 4 * 0.12) / target.sum()
    target[concentrated] = 0.12

    return RiskInput(
        target=dict(zip(tickers, target.tolist(), strict=True)),
        quantities=dict(zip(tickers, (current * EQUITY / prices).tolist(), strict=True)),
        cash=EQUITY * (1.0 - float(current.sum())),
        prices=dict(zip(tickers, prices.tolist(), strict=True)),
        peak_equity=EQUITY * 1.05,
        sectors={t: SECTORS[s] for t, s in zip(tickers, sectors.tolist(), strict=True)},
        average_daily_volume=dict(zip(tickers, (dollar_volume / prices).tolist(), strict=True)),
        confidence=0.7,
    )


def time_runs(inp: RiskInput, limits: RiskLimits, runs: int) -> tuple[RiskDecision, list[float]]:
    decision = evaluate_risk(inp, limits)  # warm-up: imports, first-call caches
    times = []
    for _ in range(runs):
        decision, seconds = timed(lambda: evaluate_risk(inp, limits))
        times.append(seconds * 1000.0)
    return decision, times


def run_benchmark(seed: int, runs: int) -> list[Measure]:
    limits = RiskLimits()
    measures: list[Measure] = []
    for label, stressed in (("500-name rebalance", False), ("500-name, holdings break caps", True)):
        decision, times = time_runs(realistic_case(seed, stressed=stressed), limits, runs)
        median = statistics.median(times)
        p95 = float(np.percentile(times, 95))
        if stressed:
            measures.append(Measure(f"{label}: median of {runs}", f"{median:.2f} ms", "", None))
        else:
            measures.append(
                Measure(
                    f"{label}: median of {runs}",
                    f"{median:.2f} ms",
                    f"<= {MEDIAN_MS_TARGET:.0f} ms",
                    median <= MEDIAN_MS_TARGET,
                )
            )
        measures += [
            Measure(f"{label}: p95 of {runs}", f"{p95:.2f} ms", "", None),
            Measure(
                f"{label}: verdict, turnover, reasons",
                f"{decision.verdict.value}, {decision.turnover:.1%}, {len(decision.reasons)}",
                "",
                None,
            ),
        ]
    return measures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per case (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random case (default: %(default)s)")
    args = parser.parse_args(argv)

    measures = run_benchmark(args.seed, args.runs)
    print_table(f"bench_risk ({UNIVERSE} names, {HELD} held, seed {args.seed})", measures)
    return exit_status(measures)


if __name__ == "__main__":
    sys.exit(main())
