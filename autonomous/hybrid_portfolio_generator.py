"""The target portfolio the hybrid generator would hold for a strategy, in the specification's spelling:

    python autonomous/hybrid_portfolio_generator.py --strategy growth_largecap [--date D] [--use-mock]

The same code as `fund strategy target` (the arguments are passed through unchanged) with the hybrid
generator, whatever `models.generator` says (its default is the mock, README): the strategy's XGBoost
ranker picks the names and its PPO agent weights them, with the fallbacks the daily run uses. An
environment that names another generator (FUND_MODELS__GENERATOR) is obeyed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file from a checkout: the repository root holds the packages, and this folder must not
    # shadow them (it holds modules named like the package's own).
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autonomous.cli import fund


def main(argv: list[str]) -> None:
    os.environ.setdefault("FUND_MODELS__GENERATOR", "hybrid")
    fund.main(args=["strategy", "target", *argv], prog_name="hybrid_portfolio_generator.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
