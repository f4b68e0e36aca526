from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, func, select

from trading.db.schema import Fundamental, PriceBar, Security
from trading.marketdata.demo import load_demo_market
from trading.marketdata.quality import check_data_gate, data_status
from trading.marketdata.reference_import import fundamentals_as_of
from trading.settings import DataSettings


def test_the_demo_market_loads_through_the_import_path_and_says_it_is_synthetic(engine: Engine) -> None:
    loaded = load_demo_market(engine, seed=11)
    market = loaded.market
    with engine.connect() as connection:
        bars = connection.execute(select(func.count()).select_from(PriceBar)).scalar_one()
        synthetic = connection.execute(select(func.count()).where(Security.is_synthetic.is_(True))).scalar_one()
        snapshots = connection.execute(select(func.count(func.distinct(Fundamental.as_of_date)))).scalar_one()
    assert bars == len(market.bars) == loaded.bars.rows_inserted
    assert synthetic == len(market.securities)
    assert snapshots == len(market.fundamentals) >= 8
    status = data_status(engine, "SPY")
    assert status.synthetic_sources == ["synthetic-demo seed=11"]
    assert int(status.per_ticker["gaps"].sum()) == 0
    last_session = max(market.bars["date"])
    assert check_data_gate(engine, last_session, DataSettings()).passed
    first_snapshot = min(market.fundamentals)
    assert fundamentals_as_of(engine, date(first_snapshot.year - 1, 12, 31)).empty
    assert len(fundamentals_as_of(engine, first_snapshot)) == (market.securities["asset_type"] == "stock").sum()


def test_loading_the_same_demo_twice_changes_nothing(engine: Engine) -> None:
    load_demo_market(engine, seed=3)
    again = load_demo_market(engine, seed=3)
    assert (again.bars.rows_inserted, again.bars.rows_updated) == (0, 0)
