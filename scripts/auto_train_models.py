#!/usr/bin/env python3
"""Train the strategies' XGBoost rankers, in the specification's spelling:

    scripts/auto_train_models.py --models growth_midcap --start-date 2015-01-01 --end-date 2025-10-30

The same code as `fund train xgboost` (the arguments are passed through unchanged), so a cron job
written against the specification and a person at the CLI train identical models.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a plain script from a checkout: the repository root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autonomous.cli import fund


def main(argv: list[str]) -> None:
    fund.main(args=["train", "xgboost", *argv], prog_name="auto_train_models.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
