"""Today's market regime, in the specification's spelling:

    python autonomous/market_regime_detector.py [--date D]

The same code as `fund regime detect` (the arguments are passed through unchanged): it classifies the
session (the latest bar by default) and writes its market_regime row.
"""

from __future__ import annotations

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
    fund.main(args=["regime", "detect", *argv], prog_name="market_regime_detector.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
