"""The backtest in the specification's spelling:

    python backtesting/autonomous_backtest.py --start-date 2019-01-02 --end-date 2021-04-30 --capital 100000

The same code as `fund backtest run` (the arguments are passed through unchanged; `--start-date` and
`--end-date` are that command's `--start` and `--end`).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file from a checkout: the repository root holds the packages.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autonomous.cli import fund


def main(argv: list[str]) -> None:
    fund.main(args=["backtest", "run", *argv], prog_name="autonomous_backtest.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
