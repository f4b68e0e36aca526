"""`fund regime` and `fund strategy` against a small synthetic market in a real database."""

from __future__ import annotations

from datetime import date

import pandas as pd
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from autonomous.cli import app
from trading.db.schema import MarketRegime
from trading.settings import STRATEGIES


def run(*args: str) -> Result:
    return CliRunner().invoke(app.fund, list(args))


def _stored_regimes(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(MarketRegime)) or 0)


def test_backfill_writes_one_row_per_session_and_rerunning_it_changes_nothing(market: Engine) -> None:
    first = run("regime", "backfill", "--start", "2012-01-01")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("wrote ")
    count = _stored_regimes(market)
    assert count > 400

    again = run("regime", "backfill", "--start", "2012-01-01")
    assert again.exit_code == 0, again.output
    assert _stored_regimes(market) == count


def test_detect_for_one_date_stores_exactly_what_the_backfill_computed_for_it(market: Engine) -> None:
    day = "2014-06-02"
    assert run("regime", "backfill", "--start", "2013-06-01").exit_code == 0
    from_backfill = pd.read_sql(select(MarketRegime).where(MarketRegime.date == date(2014, 6, 2)), market)
    with market.begin() as connection:
        connection.execute(MarketRegime.__table__.delete())

    detected = run("regime", "detect", "--date", day)
    assert detected.exit_code == 0, detected.output
    assert "on 2014-06-02 (confidence" in detected.output
    from_detect = pd.read_sql(select(MarketRegime).where(MarketRegime.date == date(2014, 6, 2)), market)
    columns = ["regime_label", "regime_confidence", "realized_volatility_20d", "spy_sma_200", "advance_decline_ratio"]
    pd.testing.assert_frame_equal(from_backfill[columns], from_detect[columns])


def test_show_prints_the_latest_rows_and_explains_an_empty_table(market: Engine) -> None:
    empty = run("regime", "show")
    assert empty.exit_code == 0
    assert "no regimes stored" in empty.output

    assert run("regime", "backfill", "--start", "2014-01-01").exit_code == 0
    shown = run("regime", "show", "--last", "3")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert lines[0].startswith("date")
    assert len(lines) == 2 + 3
    assert [line[:10] for line in lines[2:]] == ["2014-12-30", "2014-12-31", "2015-01-02"], "the last 3, oldest first"


def test_detect_on_a_day_without_bars_fails_with_the_reason(market: Engine) -> None:
    result = run("regime", "detect", "--date", "2014-06-01")  # a Sunday
    assert result.exit_code == 1
    assert "no regime for 2014-06-01" in result.output


def test_universes_prints_every_strategy_with_its_size_and_sample(market: Engine) -> None:
    result = run("strategy", "universes", "--date", "2014-12-31")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("universes on 2014-12-31 (60 stocks")
    for name in STRATEGIES:
        assert any(line.startswith(name) and "names" in line for line in lines[1:]), name


def test_select_prints_the_strategy_its_confidence_and_the_reason(market: Engine) -> None:
    result = run("strategy", "select", "--date", "2014-12-31")
    assert result.exit_code == 0, result.output
    fields = dict(line.split(":", 1) for line in result.output.strip().splitlines())
    assert fields["strategy"].strip() in (*STRATEGIES, "defensive")
    assert 0.0 <= float(fields["confidence"]) <= 1.0
    assert "rule" in fields["reason"] or "fallback" in fields["reason"]


def test_decision_commands_on_an_empty_database_fail_cleanly(engine: Engine, database_url: str) -> None:
    for command in (["regime", "detect"], ["strategy", "select"], ["strategy", "universes"]):
        result = run(*command)
        assert result.exit_code == 1, command
        assert "no bars for the benchmark SPY" in result.output
