from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from autonomous.cli import fund
from tests.factories import BAR_HEADER, bar_line, market_file, weekdays, write_text
from trading.db import migrate
from trading.db.schema import PriceBar
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import import_securities

DAYS = weekdays(date(2024, 1, 2), 10)


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, list(args), catch_exceptions=False)


def _bars(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PriceBar)).scalar_one())


def test_db_upgrade_creates_the_schema_and_current_reports_it(
    blank_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUND_DATABASE_URL", blank_engine.url.render_as_string(hide_password=False))
    assert "revision none (behind" in run("db", "current").output
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0
    assert f"schema at revision {migrate.head_revision()}" in upgraded.output
    assert "(up to date)" in run("db", "current").output


def test_data_commands_refuse_an_unmigrated_database(blank_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUND_DATABASE_URL", blank_engine.url.render_as_string(hide_password=False))
    result = run("data", "status")
    assert result.exit_code == 1
    assert "run `fund db upgrade` first" in result.output


def test_import_skips_bad_rows_and_names_them(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "bars.csv", f"{BAR_HEADER}\n{bar_line(DAYS[0], 'AAA', 10)}\n2024-01-02,BBB,1,1,1,0,1,1,0,1"
    )
    result = run("data", "import", str(path))
    assert result.exit_code == 0
    assert "2 rows read from 1 file(s): 1 inserted, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert "skipped 1 bad row(s)" in result.stderr
    assert f"{path}:3: close <= 0 (close=0)" in result.stderr
    assert _bars(engine) == 1


def test_strict_import_fails_with_nothing_written(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "bars.csv", f"{BAR_HEADER}\n{bar_line(DAYS[0], 'AAA', 10)}\nnot-a-date,BBB,1,1,1,1,1,1,0,1"
    )
    result = run("data", "import", "--strict", str(path))
    assert result.exit_code == 1
    assert "--strict: 1 bad row(s); nothing was written" in result.stderr
    assert f"{path}:3: unparseable date 'not-a-date'" in result.stderr
    assert _bars(engine) == 0


def test_a_bad_header_fails_the_command_with_its_location(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = write_text(tmp_path / "bars.csv", "date,ticker,price\n2024-01-02,AAA,1")
    result = run("data", "import", str(path))
    assert result.exit_code == 1
    assert f"{path}:1: unknown column(s) 'price'; missing column(s) 'open'" in result.stderr


def test_status_labels_synthetic_data_and_lists_each_ticker(engine: Engine, database_url: str, tmp_path: Path) -> None:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", ["SPY", "AAA"], DAYS)])
    import_securities(
        engine, write_text(tmp_path / "s.csv", "ticker\nSPY\nAAA"), source="synthetic-demo seed=1", synthetic=True
    )
    result = run("data", "status")
    assert result.exit_code == 0
    assert result.stdout.startswith("SYNTHETIC DATA (synthetic-demo seed=1): not real market prices")
    assert "2 tickers, 20 bars, 2024-01-02 to 2024-01-15; benchmark SPY" in result.stdout
    assert "AAA         2024-01-02  2024-01-15       10      0" in result.stdout
    assert "AAA" not in run("data", "status", "--summary").stdout


def test_real_data_is_not_labelled_synthetic(engine: Engine, database_url: str, tmp_path: Path) -> None:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", ["SPY"], DAYS)])
    assert "SYNTHETIC" not in run("data", "status").stdout


def test_check_exits_zero_when_the_gate_passes_and_one_with_reasons_when_not(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", ["SPY", "AAA", "BBB"], DAYS)])
    passed = run("data", "check", "--date", str(DAYS[-1]))
    assert passed.exit_code == 0
    assert f"data gate passed for {DAYS[-1]}: 2/2 of the active universe (100.0%)" in passed.stdout
    failed = run("data", "check", "--date", "2024-01-13")
    assert failed.exit_code == 1
    assert "data gate FAILED for 2024-01-13:\n  - 2024-01-13 is not a trading session (XNYS)" in failed.stderr


def test_a_malformed_date_option_is_a_usage_error(engine: Engine, database_url: str) -> None:
    result = run("data", "check", "--date", "13/01/2024")
    assert result.exit_code == 2
    assert "'13/01/2024' is not a date in YYYY-MM-DD form" in result.stderr


def test_fundamentals_import_reports_what_it_wrote(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = write_text(tmp_path / "f.csv", "ticker,name,market_cap\nAAA,Alpha,100\nBBB,Beta,200")
    result = run("data", "import-fundamentals", str(path), "--as-of", "2024-01-02")
    assert result.exit_code == 0
    assert result.stdout == (
        f"fundamentals: 2 rows read from {path}, 2 values written, 0 rows rejected; ignored columns: name\n"
    )


def test_a_missing_settings_file_is_a_clean_error(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "nope.toml"), "data", "status")
    assert result.exit_code == 1
    assert f"settings file {tmp_path / 'nope.toml'} does not exist" in result.stderr
