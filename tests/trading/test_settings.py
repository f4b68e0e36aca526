from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trading.errors import ConfigurationError
from trading.settings import DEFENSIVE, STRATEGIES, FundSettings, default_data_dir, load_settings


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FUND_DATABASE_URL", "FUND_CONFIG_FILE", "FUND_LOG_LEVEL", "FUND_RISK__MAX_POSITION_WEIGHT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def test_the_default_database_is_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url.get_secret_value() == f"sqlite:///{tmp_path / 'data' / 'autofund' / 'autofund.db'}"
    assert default_data_dir() == tmp_path / "data" / "autofund"


def test_default_risk_limits_are_the_specification_defaults() -> None:
    risk = load_settings().risk
    assert (risk.max_position_weight, risk.max_top3_weight, risk.min_cash_weight) == (0.10, 0.40, 0.02)
    assert (risk.max_daily_turnover, risk.max_drawdown, risk.drift_threshold) == (0.30, 0.15, 0.05)
    assert (risk.max_sector_weight, risk.max_adv_fraction, risk.drawdown_resume) == (0.35, 0.05, "manual")


def test_default_rules_name_only_known_strategies_and_cover_each_trend() -> None:
    rules = load_settings().strategy.rules
    assert {rule.strategy for rule in rules} <= {*STRATEGIES, DEFENSIVE}
    assert {rule.trend for rule in rules if rule.trend} == {"bull", "bear", "sideways"}


def test_environment_overrides_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUND_RISK__MAX_POSITION_WEIGHT", "0.08")
    monkeypatch.setenv("FUND_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    assert settings.risk.max_position_weight == 0.08
    assert settings.log_level == "DEBUG"


def test_toml_file_is_read_and_environment_beats_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "fund.toml"
    config.write_text('log_level = "WARNING"\n[risk]\nmax_position_weight = 0.07\n[data]\nbenchmark_ticker = "IVV"\n')
    monkeypatch.setenv("FUND_LOG_LEVEL", "ERROR")
    settings = load_settings(config)
    assert settings.risk.max_position_weight == 0.07
    assert settings.data.benchmark_ticker == "IVV"
    assert settings.log_level == "ERROR"


def test_the_config_file_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "other.toml"
    config.write_text("[strategy]\ntop_n = 12\n")
    monkeypatch.setenv("FUND_CONFIG_FILE", str(config))
    assert load_settings().strategy.top_n == 12


def test_a_missing_named_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"settings file .*missing\.toml does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_a_misspelt_key_in_the_toml_file_is_an_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "fund.toml"
    config.write_text("[risk]\nmax_positon_weight = 0.2\n")
    with pytest.raises(ConfigurationError, match="max_positon_weight"):
        load_settings(config)


def test_an_out_of_range_limit_is_an_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "fund.toml"
    config.write_text("[risk]\nmax_position_weight = 1.5\n")
    with pytest.raises(ConfigurationError, match="max_position_weight"):
        load_settings(config)


def test_a_rule_naming_an_unknown_strategy_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "fund.toml"
    config.write_text('[[strategy.rules]]\ntrend = "bull"\nstrategy = "moonshot"\nconfidence = 0.9\nreason = "x"\n')
    with pytest.raises(ConfigurationError, match="moonshot"):
        load_settings(config)


def test_secrets_never_appear_in_printed_or_logged_settings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FUND_DATABASE_URL", "postgresql://fund:hunter2@db.example/fund")
    monkeypatch.setenv("FUND_BROKERS__ALPACA_SECRET_KEY", "alpaca-very-secret")
    settings = load_settings()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    shown = f"{settings} {settings!r} {settings.model_dump_json()} {caplog.text} {settings.database_url_for_display}"
    assert "hunter2" not in shown
    assert "alpaca-very-secret" not in shown
    assert settings.brokers.alpaca_secret_key is not None
    assert settings.brokers.alpaca_secret_key.get_secret_value() == "alpaca-very-secret"
    assert settings.database_url_for_display == "postgresql://fund:***@db.example/fund"


def test_settings_are_immutable() -> None:
    settings = FundSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.log_level = "DEBUG"  # type: ignore[misc]
