from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, delete, func, select

from autonomous.cli import fund
from tests.conftest import PostgresServer
from tests.factories import BAR_HEADER, bar_line, market_file, sessions, write_text
from trading.db import migrate
from trading.db.schema import DataImport, PriceBar
from trading.marketdata.bars_import import import_bar_files
from trading.marketdata.reference_import import import_securities

DAYS = sessions(date(2024, 1, 2), 10)  # 2024-01-02 .. 2024-01-16: Martin Luther King Jr. Day is no session


def run(*args: str) -> Result:
    return CliRunner().invoke(fund, list(args), catch_exceptions=False)


def _bars(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PriceBar)).scalar_one())


def _imports(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(DataImport)).scalar_one())


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
    assert "2 tickers, 20 bars, 2024-01-02 to 2024-01-16; benchmark SPY" in result.stdout
    assert "AAA         2024-01-02  2024-01-16       10      0" in result.stdout
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


def test_check_names_a_missing_benchmark_bar_instead_of_calling_the_day_a_holiday(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    import_bar_files(engine, [market_file(tmp_path / "bars.csv", ["SPY", "AAA", "BBB"], DAYS)])
    with engine.begin() as connection:
        connection.execute(delete(PriceBar).where(PriceBar.ticker == "SPY", PriceBar.date == DAYS[5]))
    failed = run("data", "check", "--date", str(DAYS[5]))
    assert failed.exit_code == 1
    assert f"data gate FAILED for {DAYS[5]}:\n  - no SPY bar on {DAYS[5]}, a XNYS session\n" in failed.stderr
    holiday = run("data", "check", "--date", "2024-01-15")
    assert "2024-01-15 is not a trading session (XNYS)" in holiday.stderr


def test_import_skips_a_future_bar_and_a_bar_on_a_holiday_and_names_them(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = write_text(
        tmp_path / "bars.csv",
        f"{BAR_HEADER}\n{bar_line(DAYS[0], 'SPY', 10)}\n{bar_line(date(2099, 1, 2), 'SPY', 10)}\n"
        f"{bar_line(date(2024, 1, 15), 'SPY', 10)}",
    )
    result = run("data", "import", str(path))
    assert result.exit_code == 0
    assert f"{path}:3: date 2099-01-02 is after today (" in result.stderr
    assert f"{path}:4: 2024-01-15 is not a XNYS session" in result.stderr
    strict = run("data", "import", "--strict", str(path))
    assert strict.exit_code == 1
    assert "--strict: 2 bad row(s); nothing was written" in strict.stderr


def test_a_volume_too_large_for_the_database_is_a_bad_row_not_a_traceback(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = write_text(
        tmp_path / "bars.csv", f"{BAR_HEADER}\n{bar_line(DAYS[0], 'AAA', 10)}\n2024-01-02,BBB,1,1,1,1,1,1e30,0,1"
    )
    result = run("data", "import", str(path))
    assert result.exit_code == 0
    assert f"{path}:3: volume out of range (1e+30): it must fit a signed 64-bit integer" in result.stderr
    assert _bars(engine) == 1
    strict = run("data", "import", "--strict", str(path))
    assert strict.exit_code == 1
    assert "Traceback" not in strict.output


def test_a_gzip_file_with_garbage_after_its_header_fails_in_one_line_with_nothing_written(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    good = market_file(tmp_path / "good.csv", ["AAA"], DAYS)
    garbage = tmp_path / "garbage.csv.gz"
    garbage.write_bytes(gzip.compress(good.read_bytes())[:10] + bytes(range(256)) * 4)
    result = run("data", "import", str(good), str(garbage))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {garbage}:1: cannot read the header (corrupt or truncated gzip data: ")
    assert result.stderr.count("\n") == 1
    assert (_bars(engine), _imports(engine)) == (0, 0)


def test_a_header_only_file_fails_the_import_and_records_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    empty = write_text(tmp_path / "empty.csv", BAR_HEADER)
    result = run("data", "import", str(empty))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {empty}: held no rows (only a header); nothing was imported\n"
    assert _imports(engine) == 0
    good = market_file(tmp_path / "good.csv", ["AAA"], DAYS[:2])
    mixed = run("data", "import", str(empty), str(good))
    assert mixed.exit_code == 0
    assert f"{empty}: held no rows (only a header)" in mixed.stderr
    assert "; 1 file(s) held no rows" in mixed.stdout
    assert _imports(engine) == 1


def test_import_reports_rows_that_repeat_a_key_of_an_earlier_file_and_strict_refuses_them(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    first = write_text(tmp_path / "a.csv", f"{BAR_HEADER}\n{bar_line(DAYS[0], 'AAA', 10)}")
    second = write_text(tmp_path / "b.csv", f"{BAR_HEADER}\n{bar_line(DAYS[0], 'AAA', 11)}")
    strict = run("data", "import", "--strict", str(first), str(second))
    assert strict.exit_code == 1
    assert f"{second}:2: (AAA, 2024-01-02) is also at {first}:2; under --strict" in strict.stderr
    assert _bars(engine) == 0
    result = run("data", "import", str(first), str(second))
    assert result.exit_code == 0
    assert "1 row(s) repeat a (ticker, date) of an earlier file (the later file's row was kept):" in result.stderr
    assert f"{second}:2: (AAA, 2024-01-02) is also at {first}:2; this row, from the later file, was kept" in (
        result.stderr
    )


def test_a_row_that_is_not_utf8_is_skipped_with_its_line(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(
        f"{BAR_HEADER}\n{bar_line(DAYS[0], 'AAA', 10)}\n".encode() + b"2024-01-02,B\xe9B,1,1,1,1,1,1,0,1\n"
    )
    result = run("data", "import", str(path))
    assert result.exit_code == 0
    assert f"{path}:3: not valid UTF-8 (byte 0xe9 in ticker)" in result.stderr
    assert _bars(engine) == 1


COMMANDS = [("db", "current"), ("data", "status"), ("accounts", "show"), ("rebalance", "--dry-run", "--use-mock")]


def _one_line_error(result: Result, url_shown: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: cannot use the database {url_shown}: ")
    assert result.stderr.count("\n") == 1
    assert "secret" not in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_an_unreachable_database_is_one_line_with_the_password_masked(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    monkeypatch.setenv("FUND_DATABASE_URL", "postgresql+psycopg://postgres:secret@127.0.0.1:1/nope")
    result = run(*command)
    _one_line_error(result, "postgresql+psycopg://postgres:***@127.0.0.1:1/nope")
    assert "Connection refused" in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_postgresql_database_that_does_not_exist_is_one_line_with_the_password_masked(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer
) -> None:
    if postgres_server.url is None:
        pytest.skip(f"PostgreSQL unavailable: {postgres_server.skip_reason}")
    url = postgres_server.url.set(password="secret", database="autofund_no_such_database")
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    monkeypatch.setenv("FUND_DATABASE_URL", url.render_as_string(hide_password=False))
    result = run(*command)
    _one_line_error(result, url.render_as_string(hide_password=True))
    assert 'database "autofund_no_such_database" does not exist' in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_sqlite_file_that_cannot_be_opened_is_one_line(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    monkeypatch.setenv("FUND_DATABASE_URL", "sqlite:////proc/fund.db")  # /proc exists; no file can be made there
    _one_line_error(run(*command), "sqlite:////proc/fund.db")


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_sqlite_folder_that_cannot_be_created_is_one_line(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUND_CONFIG_FILE", raising=False)
    monkeypatch.setenv("FUND_DATABASE_URL", "sqlite:////proc/no-such-folder/fund.db")
    result = run(*command)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot create the folder /proc/no-such-folder for the database "
        "sqlite:////proc/no-such-folder/fund.db: No such file or directory\n"
    )


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
