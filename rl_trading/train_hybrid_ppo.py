"""Train a strategy's PPO weight agent, in the specification's spelling:

    python rl_trading/train_hybrid_ppo.py --strategy growth --market-cap mid --timesteps 100000

The same code as `fund train ppo` (the arguments are passed through unchanged).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file from a checkout: the repository root holds the packages.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autonomous.cli import fund


def main(argv: list[str]) -> None:
    fund.main(args=["train", "ppo", *argv], prog_name="train_hybrid_ppo.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
