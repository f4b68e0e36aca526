#!/usr/bin/env python3
"""The daily rebalance, in the specification's spelling:

    python scripts/run_daily_rebalance.py --dry-run | --paper-trading | --live [--account-id ID] [--use-mock] [--force]

The same code as `fund rebalance` (the arguments are passed through unchanged). Cron uses
scripts/run_daily_rebalance.sh, which adds a log file per run and the live-arming rules.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a plain script from a checkout: the repository root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autonomous.cli import fund


def main(argv: list[str]) -> None:
    fund.main(args=["rebalance", *argv], prog_name="run_daily_rebalance.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
