"""The `fund` command: thin click commands over the services; printing happens only here."""

from __future__ import annotations

import sys

from autonomous.cli.app import fund


def main() -> None:
    fund.main(prog_name="fund", standalone_mode=True, args=sys.argv[1:])


__all__ = ["fund", "main"]
