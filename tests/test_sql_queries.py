from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.factories import market_file, weekdays
from trading.marketdata.bars_import import import_bar_files

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@pytest.mark.parametrize("query", sorted(SQL_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_each_monitoring_query_runs_and_returns_rows(engine: Engine, tmp_path: Path, query: Path) -> None:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", ["AAA", "BBB"], weekdays(date(2024, 1, 2), 5))])
    with engine.connect() as connection:
        rows = connection.execute(text(query.read_text())).all()
    assert rows
