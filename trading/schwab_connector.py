"""The broker health check in the specification's spelling:

    python trading/schwab_connector.py --paper [--account-id ID]
    python trading/schwab_connector.py --live [--account-id ID]

The same code as `fund broker check` (`--paper` and `--live` are its `--mode paper|live`; the other
arguments are passed through unchanged). An entry point, not a module of the ledger: it is the one
file under trading/ that reaches up to the command line, and nothing imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file from a checkout: the repository root holds the packages.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> None:
    from autonomous.cli import fund

    modes = {"--paper": ["--mode", "paper"], "--live": ["--mode", "live"]}
    args = [part for arg in argv for part in modes.get(arg, [arg])]
    fund.main(args=["broker", "check", *args], prog_name="schwab_connector.py", standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
