"""The one typed settings object: environment variables (prefix FUND_), an optional TOML file,
and defaults that make a first run work on an embedded SQLite file with no server."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from trading.errors import ConfigurationError

STRATEGIES: tuple[str, ...] = (
    "growth_largecap",
    "growth_midcap",
    "growth_smallcap",
    "value_largecap",
    "value_midcap",
    "value_smallcap",
    "dividend",
)
# Not an equity strategy: cash plus the safe-haven asset, within the risk limits.
DEFENSIVE = "defensive"
# The classic trend rule a backtest compares the fund with: not a strategy the selector can choose.
TREND_RULE = "trend_rule"

Trend = Literal["bull", "bear", "sideways"]
# How a drawdown halt is lifted: by a person, after N sessions, or once the drawdown recovers.
DrawdownResume = Literal["manual", "after_sessions", "on_recovery"]
Volatility = Literal["low", "medium", "high", "extreme"]
# The agent's reward (rl_trading/simulator.py Reward): `penalised` is the old one, kept for comparison.
RewardName = Literal["penalised", "risk_scaled", "differential_sharpe"]
# The differential Sharpe reward's adaptation rate: its moving moments remember about 1 / eta = 50
# sessions, less than an episode (63), so by an episode's end they are mostly the agent's own returns.
DEFAULT_SHARPE_ETA = 0.02
# Which ranker's picks the hybrid's agent weighs: the one it was trained on (paired), or the newest.
AgentRankerName = Literal["paired", "newest"]

# The daily run's generators (autonomous/cli/assembly.py choose_generator).
GeneratorName = Literal[
    "mock",
    "ranker-equal",
    "hybrid",
    "factor-mom_12_1",
    "factor-low_vol",
    "factor-dist_sma200",
    "factor-universe_score",
]

CONFIG_FILE_ENV = "FUND_CONFIG_FILE"


def default_data_dir() -> Path:
    """Where the embedded database lives unless FUND_DATABASE_URL says otherwise.

    Follows the XDG convention so a cron job and an interactive shell find the same file.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "autofund"


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'autofund.db'}"


def default_config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autofund" / "fund.toml"


class _Section(BaseModel):
    # A typo in a TOML key must be an error, not a silently ignored limit.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskLimits(_Section):
    """Hard limits the risk manager projects every target onto (fractions of equity)."""

    max_position_weight: float = Field(0.10, gt=0, le=1)
    max_top3_weight: float = Field(0.40, gt=0, le=1)
    min_cash_weight: float = Field(0.02, ge=0, lt=1)
    max_daily_turnover: float = Field(0.30, gt=0, le=2)
    max_drawdown: float = Field(0.15, gt=0, lt=1)
    drift_threshold: float = Field(0.05, ge=0, le=1)
    max_sector_weight: float = Field(0.35, gt=0, le=1)
    max_adv_fraction: float = Field(0.05, gt=0, le=1)
    adv_window_sessions: int = Field(20, ge=1)
    # manual: only `fund risk resume` lifts a drawdown halt (the default; right for live money).
    # Paper runs and backtests have nobody to resume them, hence the automatic policies.
    drawdown_resume: DrawdownResume = "manual"
    resume_after_sessions: int = Field(20, ge=1)
    resume_below_drawdown: float = Field(0.05, ge=0, lt=1)
    # needs_approval when a limit other than turnover moved the portfolio by more than this
    # (sum of |adjusted - raw| weights), or when the strategy's confidence is below the floor.
    approval_weight_shift: float = Field(0.25, ge=0, le=2)
    approval_min_confidence: float = Field(0.30, ge=0, le=1)

    @model_validator(mode="after")
    def _limits_are_consistent(self) -> RiskLimits:
        if self.max_top3_weight < self.max_position_weight:
            raise ValueError("risk.max_top3_weight must be >= risk.max_position_weight")
        return self


class RegimeRule(_Section):
    """One row of the regime -> strategy table; an empty condition matches anything."""

    trend: Trend | None = None
    volatility: list[Volatility] | None = None
    benchmark_below_sma200: bool | None = None
    strategy: str
    confidence: float = Field(ge=0, le=1)
    reason: str

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in (*STRATEGIES, DEFENSIVE):
            raise ValueError(f"unknown strategy {value!r}; expected one of {(*STRATEGIES, DEFENSIVE)}")
        return value


def _default_rules() -> list[RegimeRule]:
    # First match wins, so the most defensive conditions come first.
    return [
        RegimeRule(
            volatility=["high", "extreme"],
            benchmark_below_sma200=True,
            strategy=DEFENSIVE,
            confidence=0.7,
            reason="high volatility with the benchmark under its SMA200",
        ),
        RegimeRule(
            volatility=["high", "extreme"],
            strategy="value_largecap",
            confidence=0.6,
            reason="high volatility favours value",
        ),
        RegimeRule(
            trend="bear", strategy="value_smallcap", confidence=0.5, reason="bear market: contrarian small-cap value"
        ),
        RegimeRule(
            benchmark_below_sma200=True, strategy=DEFENSIVE, confidence=0.6, reason="benchmark under its SMA200"
        ),
        RegimeRule(
            trend="bull",
            volatility=["low"],
            strategy="growth_largecap",
            confidence=0.8,
            reason="low volatility bull market favours growth",
        ),
        RegimeRule(
            trend="bull",
            volatility=["medium"],
            strategy="growth_midcap",
            confidence=0.6,
            reason="bull market with medium volatility",
        ),
        RegimeRule(
            trend="sideways", strategy="dividend", confidence=0.6, reason="sideways market favours dividend payers"
        ),
    ]


class StrategySettings(_Section):
    rules: list[RegimeRule] = Field(default_factory=_default_rules)
    fallback_strategy: str = "dividend"
    fallback_confidence: float = Field(0.3, ge=0, le=1)
    top_n: int = Field(20, ge=1)
    # The rule-based generators (mock, factor-*, best-factor, ranker-equal) keep a held name while it ranks
    # within the first hold_band x top_n names of their order (autonomous/holding_band.py). 1: today's top
    # N only. 2: on the shared data (2015-2021) it cut turnover by over a third with no loss of return (README).
    hold_band: int = Field(2, ge=1, le=10)
    # Matching rules whose confidence is within this margin of the first match are a tie that
    # strategy_performance evidence may break (autonomous/selector.py).
    tie_margin: float = Field(0.05, ge=0, le=1)
    # Evidence counts only with at least this many recorded periods for the strategy in the regime.
    min_evidence_periods: int = Field(3, ge=1)
    # The selector leaves the strategy it held only when the rule table has chosen the same new one on
    # this many sessions in a row (the decision session included); 1: it follows the table every session.
    # Switching into the defensive mode is always immediate (autonomous/selector.py). 3: on the shared data
    # (2015-2021, mock) it halved the switches (148 to 69) and cut slippage by a fifth with no loss of
    # return; 10 waited too long (README).
    confirm_sessions: int = Field(3, ge=1, le=20)

    @field_validator("fallback_strategy")
    @classmethod
    def _known_fallback(cls, value: str) -> str:
        if value not in (*STRATEGIES, DEFENSIVE):
            raise ValueError(f"unknown strategy {value!r}; expected one of {(*STRATEGIES, DEFENSIVE)}")
        return value


class RegimeSettings(_Section):
    """Thresholds of the regime detector (autonomous/regime.py documents how each is used)."""

    # Volatility is ranked against this trailing window (5 years) once min_history sessions exist.
    volatility_lookback_sessions: int = Field(1260, ge=60)
    volatility_min_history: int = Field(252, ge=20)
    # Percentile cut-offs of the volatility score: below low -> low, below high -> medium,
    # below extreme -> high, else extreme.
    low_volatility_below: float = Field(0.35, gt=0, lt=1)
    high_volatility_above: float = Field(0.80, gt=0, lt=1)
    extreme_volatility_above: float = Field(0.95, gt=0, lt=1)
    # Within this distance of its SMA200 (with SMA50 as close) the benchmark is moving sideways.
    sideways_band: float = Field(0.02, ge=0, lt=1)
    # A benchmark this far from its SMA200 gives full trend strength in the confidence.
    full_trend_distance: float = Field(0.10, gt=0, lt=1)
    breadth_window_sessions: int = Field(21, ge=1)
    sector_momentum_sessions: int = Field(63, ge=1)

    @model_validator(mode="after")
    def _cut_offs_ascend(self) -> RegimeSettings:
        if not self.low_volatility_below < self.high_volatility_above < self.extreme_volatility_above:
            raise ValueError("regime volatility cut-offs must ascend: low_below < high_above < extreme_above")
        return self


class DataSettings(_Section):
    benchmark_ticker: str = "SPY"
    safe_haven_ticker: str = "GLD"
    volatility_index_ticker: str = "^VIX"
    exchange_calendar: str = "XNYS"
    # The data gate: share of the active universe that must have a bar on the run's date.
    gate_min_coverage: float = Field(0.90, gt=0, le=1)
    # A ticker is in the active universe if it has a bar within this many sessions before the date.
    gate_universe_lookback_sessions: int = Field(20, ge=1)
    # A held ticker with no bar for this many sessions is treated as delisted: the paper venue closes
    # the position at its last close. Until then its price is the last close, flagged stale.
    delisted_after_sessions: int = Field(10, ge=1)
    import_batch_rows: int = Field(200_000, ge=1_000)


class UniverseSettings(_Section):
    """How the seven strategy universes are cut from the eligible stocks at a date (autonomous/universes.py)."""

    # Every strategy universe holds at least this many names; smaller buckets are widened.
    min_bucket_size: int = Field(10, ge=1)
    # Share of the eligible stocks that must have a point-in-time value before fundamentals replace
    # the price-based proxies (market cap for size; book-to-price and earnings yield for style).
    fundamentals_min_coverage: float = Field(0.80, gt=0, le=1)
    # Dividend stability: trailing-year dividends at least this share of the year before's.
    dividend_min_stability: float = Field(0.75, gt=0)
    # Yield traps: payers above this quantile of 60-session volatility are left out.
    dividend_max_vol_quantile: float = Field(0.90, gt=0, le=1)
    # The dividend universe is this share of the eligible stocks (at least min_bucket_size).
    dividend_top_fraction: float = Field(0.20, gt=0, le=1)


class ExecutionSettings(_Section):
    """Costs of paper and backtest fills (trading/execution/) and the order planner's floors."""

    # Decimal, not float: these enter ledger arithmetic. Pydantic builds them from the text form.
    slippage_bps: Decimal = Field(Decimal("5"), ge=0, le=1000)
    commission_per_share: Decimal = Field(Decimal("0"), ge=0)
    commission_minimum: Decimal = Field(Decimal("0"), ge=0)
    min_order_value: Decimal = Field(Decimal("50"), ge=0)
    # Share of equity the planner leaves uninvested so slippage and commissions never overdraw cash.
    cash_buffer: Decimal = Field(Decimal("0.002"), ge=0, lt=1)


# The ranker's loss (autonomous/ranking/xgb.py): a regression of the forward excess return, whose
# prediction is an expected excess return, or an XGBoost ranking objective over each date's names, whose
# score only orders them.
RankerObjective = Literal["reg:squarederror", "rank:pairwise", "rank:ndcg"]
# Which inputs the ranker is constrained to be monotone in (autonomous/ranking/xgb.py MONOTONE): none,
# those the factor baselines read, or those plus the other long-horizon trend and risk inputs.
RankerMonotone = Literal["none", "baselines", "factors"]


class RankerSettings(_Section):
    """The XGBoost stock ranker of each strategy (autonomous/ranking/): label, sampling, folds, trees."""

    # The label is the forward return over this many sessions in excess of the benchmark's.
    horizon: int = Field(21, ge=1, le=252)
    # Training dates are every `sample_step`-th session: neighbouring days share 20 of 21 label
    # days, so daily rows add little information and much time.
    sample_step: int = Field(5, ge=1, le=63)
    folds: int = Field(4, ge=1, le=20)
    n_estimators: int = Field(200, ge=1, le=5000)
    max_depth: int = Field(4, ge=1, le=12)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(50.0, ge=0)
    # A date's labels are clipped to these cross-sectional quantiles before fitting, so that a
    # takeover jump does not dominate the squared error; metrics use the unclipped label.
    label_clip_quantile: float = Field(0.01, ge=0, lt=0.5)
    seed: int = 7
    objective: RankerObjective = "reg:squarederror"
    # rank:ndcg reads graded labels: each date's excess returns cut into this many quantile bins (0 the
    # lowest); the other objectives read the (clipped) excess return itself.
    rank_label_bins: int = Field(5, ge=2, le=31)
    monotone: RankerMonotone = "none"
    # Boosters fitted with seeds seed..seed + ensemble - 1 whose predictions are averaged.
    ensemble: int = Field(1, ge=1, le=20)


class AgentSettings(_Section):
    """The PPO weight agent of each strategy (rl_trading/): episodes, reward penalty, PPO knobs."""

    episode_sessions: int = Field(63, ge=5, le=2520)
    # risk_scaled: log net return - penalty x (how far the weights break the risk limits, in weight) x
    # (invested weight x the benchmark's daily volatility); penalised: the same without the risk factor;
    # differential_sharpe: the increment of a moving Sharpe ratio of the risk-scaled reward's value.
    reward: RewardName = "risk_scaled"
    risk_penalty: float = Field(1.0, ge=0)
    # The differential Sharpe reward's adaptation rate (only that reward reads it, and only its agents
    # store it: rl_trading/training.py agent_training_parameters).
    sharpe_eta: float = Field(DEFAULT_SHARPE_ETA, gt=0, lt=1)
    # The agent's slots are filled from the ranking's first slot_band x top_n names; a held name keeps
    # its slot while it stays among them (rl_trading/slots.py). 1: only today's top N.
    slot_band: int = Field(2, ge=1, le=10)
    # newest: the hybrid ranks with the newest usable ranker; paired: with the ranker the agent learned on
    # (its parameters' "ranker"), which is older (rl_trading/hybrid.py). Newest is the default: on the
    # shared data 2015-2020 the paired hybrid trailed it (Sharpe 0.13 against 0.45; benchmarks/README.md).
    # How an agent is used, not how it is trained: not part of its training key (rl_trading/training.py).
    ranker_pairing: AgentRankerName = "newest"
    # Per-share commissions and their minimum are charged against this equity in the simulator.
    notional_equity: Decimal = Field(Decimal("100000"), gt=0)
    learning_rate: float = Field(3e-4, gt=0, le=1)
    n_steps: int = Field(512, ge=8)
    batch_size: int = Field(64, ge=8)
    gamma: float = Field(0.99, gt=0, le=1)
    seed: int = 7


class ModelSettings(_Section):
    ranker: RankerSettings = Field(default_factory=RankerSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    # The daily run's portfolio generator (`--use-mock` overrides it). The default follows the
    # out-of-sample evidence (README, "Do the models earn their place?"): on the shared data 2015-2021
    # neither the rankers' picks nor the agent's weights beat the simple universe-score rule, so the
    # rule is the default and the models are opt-in.
    generator: GeneratorName = "mock"


class RunSettings(_Section):
    """The daily run: which account it trades by default and how it waits for a concurrent run."""

    account_id: str = Field("PAPER_AUTONOMOUS_FUND", min_length=1, max_length=64)
    # A second run of the same account and mode waits this long for the first to finish (then it
    # usually finds the session done and exits 0); after that it gives up with a clear message.
    lock_wait_seconds: float = Field(60.0, ge=0)


class BrokerCredentials(_Section):
    """Keys, endpoints and limits of the live brokers (`[brokers]`). Secrets are SecretStr: never logged.

    An empty URL means the broker's own endpoint for the mode (Alpaca's paper or live trading host);
    a URL sends every call there instead, for a proxy or a local test server. Alpaca's paper and
    live keys differ: the keys set here must be those of the endpoint the mode trades.
    """

    schwab_api_key: SecretStr | None = None
    schwab_app_secret: SecretStr | None = None
    schwab_callback_url: str = "https://127.0.0.1:8182"
    schwab_token_path: Path | None = None
    # Schwab's API host, reached through the httpx transport since schwab-py hard-codes it.
    schwab_api_url: str = ""
    # Schwab throttles order writes per app (120 a minute unless the app was registered otherwise).
    schwab_orders_per_minute: int = Field(120, ge=1)
    alpaca_api_key: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_trading_url: str = ""
    alpaca_data_url: str = ""
    # Which of Alpaca's environments a dry run of an Alpaca account reads (paper and live keys differ).
    alpaca_dry_run_endpoint: Literal["paper", "live"] = "paper"
    # The free plan sees only IEX; a subscription gives the consolidated SIP tape.
    alpaca_data_feed: Literal["iex", "sip"] = "iex"
    # Start-up reconciliation: a cash difference up to this fraction of equity (at least 1.00) is taken
    # as dividends, interest, fees and rounding; a larger one stops the run until a person accepts it.
    reconcile_cash_tolerance: Decimal = Field(Decimal("0.005"), ge=0, le=1)
    # alpaca-py sets no timeout at all; a call that hangs longer than this is retried (or fails the run).
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("schwab_api_url", "alpaca_trading_url", "alpaca_data_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"a broker URL must start with http:// or https://, got {value!r}")
        return value


class NotifySettings(_Section):
    """Where the fund tells people what needs them, and about what (each event can be switched off).

    `targets` are apprise URLs (https://github.com/caronc/apprise/wiki): discord://ID/TOKEN,
    slack://TOKEN_A/TOKEN_B/TOKEN_C/#channel, tgram://BOT_TOKEN/CHAT_ID, json://host/path (a generic JSON
    webhook; jsons:// over HTTPS). They carry secrets, so they are SecretStr and never logged.
    """

    targets: list[SecretStr] = Field(default_factory=list)
    run_completed: bool = True
    run_failed: bool = True
    awaiting_approval: bool = True
    drawdown_halt: bool = True  # opened and lifted
    reconciliation_stopped: bool = True
    data_stale: bool = True
    token_expiring: bool = True
    # A Schwab token is reported as expiring from this many days before its refresh token dies (7 days).
    token_warning_days: float = Field(2.0, ge=0, le=7)
    # Attempts per message and target, with a doubling pause between them from `retry_seconds`.
    attempts: int = Field(3, ge=1, le=10)
    retry_seconds: float = Field(1.0, ge=0, le=60)
    # The most a run waits for its notifications, all targets together; delivery gives up after it.
    deadline_seconds: float = Field(20.0, gt=0, le=300)


class FundSettings(BaseSettings):
    """Everything configurable. Priority: explicit arguments > FUND_* environment > TOML > defaults.

    Nested fields use a double underscore in the environment: FUND_RISK__MAX_POSITION_WEIGHT=0.08.
    """

    model_config = SettingsConfigDict(env_prefix="FUND_", env_nested_delimiter="__", extra="forbid", frozen=True)

    # A SecretStr because a server URL carries a password; `database_url_for_display` masks it.
    database_url: SecretStr = Field(default_factory=lambda: SecretStr(default_database_url()))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    risk: RiskLimits = Field(default_factory=RiskLimits)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    data: DataSettings = Field(default_factory=DataSettings)
    universe: UniverseSettings = Field(default_factory=UniverseSettings)
    regime: RegimeSettings = Field(default_factory=RegimeSettings)
    brokers: BrokerCredentials = Field(default_factory=BrokerCredentials)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls), file_secret_settings)

    @property
    def database_url_for_display(self) -> str:
        return make_url(self.database_url.get_secret_value()).render_as_string(hide_password=True)


def load_settings(config_file: Path | None = None) -> FundSettings:
    """Settings with the TOML file from the argument, FUND_CONFIG_FILE, or the default location.

    A file named explicitly must exist; the default location is optional.
    """
    explicit = config_file or (Path(os.environ[CONFIG_FILE_ENV]) if os.environ.get(CONFIG_FILE_ENV) else None)
    path = explicit or default_config_file()
    if explicit is not None and not explicit.is_file():
        raise ConfigurationError(f"settings file {explicit} does not exist")

    class _FromFile(FundSettings):
        model_config = SettingsConfigDict(toml_file=path if path.is_file() else None)

    try:
        return _FromFile()
    except ValueError as exc:  # pydantic's ValidationError and tomllib's TOMLDecodeError
        raise ConfigurationError(f"invalid settings (file: {path if path.is_file() else 'none'}):\n{exc}") from exc
