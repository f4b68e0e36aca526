"""PPO training throughput (timesteps per second) of rl_trading.ppo.train_agent on a synthetic window
shaped like a real one: 750 sessions, 120 tickers, 20 slots of 8 features filled from a band of 40
ranked names, the 14 market features, fills at the next open. No database: it measures the
simulator, the interpreters and PPO, nothing else.

    .venv/bin/python -m benchmarks.bench_ppo_throughput --timesteps 16384
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import numpy as np

from rl_trading.episodes import EpisodeData
from rl_trading.market_features import MARKET_FEATURES
from rl_trading.ppo import train_agent
from rl_trading.simulator import TradingCosts
from trading.settings import FundSettings

SESSIONS, TICKERS, SLOTS, FEATURES, BAND = 750, 120, 20, 8, 2


def synthetic_window(seed: int = 0) -> EpisodeData:
    rng = np.random.default_rng(seed)
    candidates = SLOTS * BAND
    ranked = np.array([rng.permutation(TICKERS)[:candidates] for _ in range(SESSIONS)], dtype=np.intp)
    predictions = np.sort(rng.normal(0.005, 0.02, size=(SESSIONS, candidates)), axis=1)[:, ::-1].copy()
    return EpisodeData(
        dates=tuple(date(2015, 1, 1) + timedelta(days=i) for i in range(SESSIONS)),
        tickers=tuple(f"T{i}" for i in range(TICKERS)),
        feature_names=tuple(f"f{i}" for i in range(FEATURES)),
        slots=SLOTS,
        ranked_tickers=ranked,
        ranked_predictions=predictions,
        ranked_features=rng.normal(size=(SESSIONS, candidates, FEATURES)),
        next_returns=rng.normal(0.0005, 0.02, size=(SESSIONS, TICKERS)),
        gap_returns=rng.normal(0.0002, 0.005, size=(SESSIONS, TICKERS)),
        fill_price=rng.uniform(10.0, 200.0, size=(SESSIONS, TICKERS)),
        market_volatility=np.full(SESSIONS, 0.01),
        market_names=MARKET_FEATURES,
        market_features=rng.normal(size=(SESSIONS, len(MARKET_FEATURES))),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=16_384)
    arguments = parser.parse_args()
    settings = FundSettings()
    costs = TradingCosts.from_settings(settings.execution, settings.models.agent)
    trained = train_agent(
        synthetic_window(),
        settings=settings.models.agent,
        costs=costs,
        risk=settings.risk,
        timesteps=arguments.timesteps,
        seed=1,
    )
    rate = arguments.timesteps / trained.seconds
    print(f"{arguments.timesteps} timesteps in {trained.seconds:.1f} s: {rate:,.0f} steps per second")


if __name__ == "__main__":
    main()
