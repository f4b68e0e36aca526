"""`fund data demo`: the synthetic market written through the same import path as real files,
so the embedded default exercises the code that production data goes through."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from trading.marketdata.bars_import import ImportReport, import_bar_files
from trading.marketdata.reference_import import import_fundamentals, import_securities
from trading.marketdata.synthetic import SyntheticMarket, generate_synthetic_market

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoLoad:
    market: SyntheticMarket
    bars: ImportReport
    fundamentals_snapshots: int

    @property
    def source(self) -> str:
        return demo_source(self.market.seed)


def demo_source(seed: int) -> str:
    return f"synthetic-demo seed={seed}"


def load_demo_market(engine: Engine, seed: int = 7) -> DemoLoad:
    """Generate the seeded synthetic market and import it: securities, bars, yearly fundamentals."""
    market = generate_synthetic_market(seed=seed)
    with tempfile.TemporaryDirectory(prefix="autofund-demo-") as folder:
        root = Path(folder)
        securities = root / "securities.csv"
        market.securities.to_csv(securities, index=False)
        import_securities(engine, securities, strict=True, source=demo_source(seed), synthetic=True)
        bars = root / "bars.csv.gz"
        market.bars.to_csv(bars, index=False, compression="gzip")
        report = import_bar_files(engine, [bars], strict=True)
        for as_of, snapshot in sorted(market.fundamentals.items()):
            path = root / f"fundamentals_{as_of.isoformat()}.csv"
            snapshot.to_csv(path, index=False)
            import_fundamentals(engine, path, as_of, strict=True)
    log.info("synthetic demo market (seed %d): %s", seed, report.summary())
    return DemoLoad(market=market, bars=report, fundamentals_snapshots=len(market.fundamentals))
