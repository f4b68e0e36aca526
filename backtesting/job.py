"""`fund backtest run` as a use case: check the request against the data, preload the span, build the
variants, replay them, measure them, and store everything in one transaction at the end."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine, select

from autonomous.factor_portfolio import FACTOR_GENERATOR_PREFIX
from autonomous.generators import BestFactorGenerator, FactorGenerator, GeneratorChoice, MockGenerator
from autonomous.marketview.preloaded import PreloadedMarketView
from backtesting.engine import ApprovalPolicy, ReplaySetup, replay
from backtesting.prefetch import PrefetchedSessions
from backtesting.results import VariantResult, variant_result
from backtesting.variants import BEST_FACTOR, GENERATORS, RANKER_GENERATORS, RETRAINED, build_variants, parse_compare
from backtesting.venue import FILL_FIELDS, FillBars
from trading.db.schema import StrategyPerformance
from trading.errors import ConfigurationError, DataError, FundError
from trading.marketdata.calendar import TradingCalendar
from trading.settings import STRATEGIES, FundSettings
from trading.store import connection_for

if TYPE_CHECKING:
    from autonomous.factor_choice import FactorSchedule
    from backtesting.walk_forward import ModelSchedule

logger = logging.getLogger(__name__)

# From this many sessions the markets are computed ahead in a second process (backtesting/prefetch.py):
# below it, forking and feeding that process costs more than it saves.
PREFETCH_FROM_SESSIONS = 60

ProgressHook = Callable[[int, int], None]
"""(sessions done, sessions in all), after every session."""


SpanLoader = Callable[[Engine, FundSettings, date, date, date], tuple[PreloadedMarketView, FillBars]]
"""(engine, settings, first session, last session, last fill session) -> the span's market and fill bars."""


def load_span(
    engine: Engine, settings: FundSettings, first: date, last: date, fills_through: date
) -> tuple[PreloadedMarketView, FillBars]:
    """The market view of the sessions first..last and the bars their orders fill at (one session more), from
    one read of the bars."""
    market, fills = PreloadedMarketView.load_with_fills(
        engine, settings, first, last, fills_through=fills_through, fill_fields=FILL_FIELDS
    )
    return market, FillBars(fills.frames)


@dataclass(frozen=True)
class BacktestRequest:
    start: date
    end: date
    capital: Decimal = Decimal(100_000)
    generator: str = "hybrid"
    compare: tuple[str, ...] = ("benchmark",)
    retrain_every: int | None = None
    retrain_agents: bool = False
    # Sessions each walk-forward ranker trains on (a rolling window ending before its date); None: expanding.
    train_sessions: int | None = 756
    name: str | None = None
    seed: int = 0
    approvals: ApprovalPolicy = "approve"
    fractional_shares: bool = False

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise ConfigurationError(f"--generator {self.generator}: expected one of {', '.join(GENERATORS)}")
        if self.end < self.start:
            raise ConfigurationError(f"--end {self.end} is before --start {self.start}")
        if self.capital <= 0:
            raise ConfigurationError(f"--capital {self.capital}: the starting capital must be positive")
        if self.retrain_every is not None and self.retrain_every < 1:
            raise ConfigurationError(f"--retrain-every {self.retrain_every}: must be at least 1 session")
        if self.train_sessions is not None and self.train_sessions < 63:
            raise ConfigurationError(f"--train-sessions {self.train_sessions}: train on at least 63 sessions")
        if self.retrain_agents and self.retrain_every is None:
            raise ConfigurationError("--retrain-agents retrains with the rankers: give --retrain-every N too")

    def parameters(self) -> dict[str, Any]:
        values = asdict(self)
        values["start"], values["end"], values["capital"] = str(self.start), str(self.end), str(self.capital)
        values["compare"] = list(self.compare)
        return values


@dataclass(frozen=True)
class Replayed:
    """A finished replay, before it is measured and stored."""

    request: BacktestRequest
    settings: FundSettings
    sessions: list[date]
    results: list[VariantResult]
    benchmark: pd.Series  # the benchmark bought and held with the same capital, by session
    models: dict[str, Any] = field(default_factory=dict)
    survivorship: str = ""  # what the report says of the universe's survivorship (storage.py)
    replay_seconds: float = 0.0
    load_seconds: float = 0.0


def backtest_settings(settings: FundSettings) -> FundSettings:
    """The settings a replay runs with: nobody is there to lift a drawdown halt by hand, so a manual policy
    becomes a resume after `risk.resume_after_sessions` sessions (the report says so)."""
    if settings.risk.drawdown_resume != "manual":
        return settings
    risk = settings.risk.model_copy(update={"drawdown_resume": "after_sessions"})
    return settings.model_copy(update={"risk": risk})


def replay_sessions(calendar: TradingCalendar, start: date, end: date) -> list[date]:
    """The sessions to replay: the exchange's sessions in [start, end] that the benchmark has a bar for."""
    exchange = [s.date() for s in calendar.sessions_in(start, end)]
    history = set(calendar.history.date)
    sessions = [d for d in exchange if d in history]
    missing = [d for d in exchange if d not in history and calendar.first_session and d > calendar.first_session]
    missing = [d for d in missing if calendar.last_session and d <= calendar.last_session]
    if missing:
        shown = ", ".join(str(d) for d in missing[:5])
        logger.warning("%d session(s) without a benchmark bar are not replayed: %s", len(missing), shown)
    if not sessions:
        last = calendar.last_session
        raise DataError(
            f"no session with a benchmark bar between {start} and {end} (the data ends on {last}): nothing to replay"
        )
    return sessions


def replay_request(
    engine: Engine,
    settings: FundSettings,
    request: BacktestRequest,
    *,
    generators: Callable[[str], GeneratorChoice] | None = None,
    progress: ProgressHook = lambda _done, _total: None,
    load: SpanLoader | None = None,
    prefetch: bool = True,
) -> Replayed:
    """Everything up to the stored results: the data checked, the span preloaded, the variants replayed.

    `load` reads the span (default `load_span`; a sweep's worker keeps what it read for its next trials);
    `prefetch=False` keeps the market side in this process (a sweep's trials already fill every CPU)."""
    load = load or load_span
    settings = backtest_settings(settings)
    compared = parse_compare(",".join(request.compare), request.generator)
    replayed_names = {request.generator, *compared}
    _check_retraining(request, replayed_names)
    started = time.perf_counter()
    calendar = TradingCalendar.from_database(engine, settings.data.benchmark_ticker, settings.data.exchange_calendar)
    sessions = replay_sessions(calendar, request.start, request.end)
    after_last = calendar.next_session(sessions[-1]) or sessions[-1]
    market, bars = load(engine, settings, sessions[0], sessions[-1], after_last)
    _require_history(market, sessions[0])
    load_seconds = time.perf_counter() - started
    schedule: ModelSchedule | None = None
    models: dict[str, Any] = {}
    if request.retrain_every is not None and replayed_names & set(RANKER_GENERATORS):
        schedule, models = _walk_forward(engine, settings, sessions, request, agents=request.retrain_agents)
    factors: FactorSchedule | None = None
    if BEST_FACTOR in replayed_names:
        factors, models["best_factor"] = _factor_choices(engine, settings, sessions, request)
    factory = generators or default_generators(engine, settings, schedule, factors)
    variants = build_variants(request.generator, compared, _memoized(factory), settings, seed=request.seed)
    setup = ReplaySetup(market, bars, settings, request.capital, request.fractional_shares, request.approvals)
    done = 0

    def after_session(_day: date) -> None:
        nonlocal done
        done += 1
        progress(done, len(sessions))

    started = time.perf_counter()
    evidence = strategy_evidence_rows(engine)
    if prefetch and len(sessions) >= PREFETCH_FROM_SESSIONS:
        with PrefetchedSessions(market, sessions) as prefetched:
            setup = replace(setup, market=prefetched)
            replays = replay(setup, variants, sessions, evidence_rows=evidence, on_session=after_session)
    else:
        replays = replay(setup, variants, sessions, evidence_rows=evidence, on_session=after_session)
    replay_seconds = time.perf_counter() - started
    results = [variant_result(one, bars) for one in replays]
    benchmark = benchmark_equity(market.market.benchmark, sessions, request.capital)
    return Replayed(
        request,
        settings,
        sessions,
        results,
        benchmark,
        models=models,
        survivorship=survivorship_note(market),
        replay_seconds=replay_seconds,
        load_seconds=load_seconds,
    )


SURVIVORSHIP_BIASED = (
    "The universe is survivorship-biased: the securities carry no listing or index-membership dates, so every "
    "name held was one that survived to the data's end. Returns are likely overstated."
)


def survivorship_note(market: PreloadedMarketView) -> str:
    """What the report says of survivorship: biased without membership data; with it, what it does not fix."""
    membership = market.membership
    if not membership.has_data:
        return SURVIVORSHIP_BIASED
    missing = membership.tickers - set(market.market.panel.tickers)
    gap = (
        f" {len(missing)} name(s) that were members have no bars and could never be held, so some bias remains."
        if missing
        else " Every member has bars."
    )
    return (
        f"Universes hold only index members at each date (point-in-time membership from {membership.first_day})." + gap
    )


def _check_retraining(request: BacktestRequest, replayed_names: set[str]) -> None:
    if request.retrain_every is not None and not replayed_names & set(RETRAINED):
        raise ConfigurationError(
            "--retrain-every retrains the rankers of a model generator and the best-factor choice: "
            "run or compare hybrid, ranker-equal or best-factor"
        )
    if request.retrain_agents and not replayed_names & set(RANKER_GENERATORS):
        raise ConfigurationError("--retrain-agents retrains the hybrid's agents: run or compare hybrid or ranker-equal")


def _factor_choices(
    engine: Engine, settings: FundSettings, sessions: list[date], request: BacktestRequest
) -> tuple[FactorSchedule, dict[str, Any]]:
    """The best-factor variant's choices: at each retraining date (the first session alone without
    --retrain-every), each strategy's factor with the best mean rank IC on the rankers' training window
    before it (backtesting/factor_schedule.py); and what the run row records of them."""
    from backtesting.factor_schedule import choose_factors
    from backtesting.walk_forward import retrain_dates

    every = request.retrain_every
    dates = retrain_dates(sessions, every) if every is not None else [sessions[0]]
    factors = choose_factors(
        engine,
        settings,
        list(STRATEGIES),
        dates,
        training_sessions=request.train_sessions,
        on_progress=lambda line: logger.info("best-factor: %s", line),
    )
    record = {
        "retrain_every": every,
        "train_sessions": request.train_sessions or "expanding",
        "horizon": settings.models.ranker.horizon,
        "sample_step": settings.models.ranker.sample_step,
        "retrain_dates": [str(d) for d in dates],
        **factors.as_dict(),
        "summary": factors.summary(),
    }
    return factors, record


def _walk_forward(
    engine: Engine, settings: FundSettings, sessions: list[date], request: BacktestRequest, *, agents: bool
) -> tuple[ModelSchedule, dict[str, Any]]:
    """The seven rankers (and with `agents`, the PPO agents) retrained every `every` sessions on data strictly
    before each date (stored models of the same window and parameters are reused), and the schedule that
    puts each in force. An agent learns from an older ranker's predictions, out of sample for its window
    (backtesting/walk_forward.py), so the first agents come into force some months after the first rankers."""
    from backtesting.walk_forward import ensure_agents, ensure_rankers, retrain_dates

    every = request.retrain_every
    assert every is not None
    dates = retrain_dates(sessions, every)
    schedule, report = ensure_rankers(
        engine,
        settings,
        list(STRATEGIES),
        dates,
        training_sessions=request.train_sessions,
        every=every,
        on_progress=lambda line: logger.info("walk-forward: %s", line),
    )
    logger.info("walk-forward rankers: %s", report.describe())
    models: dict[str, Any] = {
        "retrain_every": every,
        "train_sessions": request.train_sessions or "expanding",
        "retrain_dates": [str(d) for d in dates],
        "trained": report.trained,
        "reused": report.reused,
    }
    seconds = report.seconds
    if agents:
        schedule, agent_report = ensure_agents(
            engine,
            settings,
            list(STRATEGIES),
            schedule,
            dates,
            every=every,
            on_progress=lambda line: logger.info("walk-forward agents: %s", line),
        )
        logger.info("walk-forward agents: %s", agent_report.describe())
        models |= {"agents_trained": agent_report.trained, "agents_reused": agent_report.reused}
        models["agents_skipped"] = {
            str(step.retrain_date): dict(step.skipped) for step in agent_report.steps if step.skipped
        }
        seconds += agent_report.seconds
    models["model_ids"] = list(schedule.model_ids)
    models["training_seconds"] = seconds
    return schedule, models


def _require_history(market: PreloadedMarketView, first: date) -> None:
    try:
        market.session(first).regime  # noqa: B018 - computing it is the check
    except (DataError, KeyError) as exc:
        raise DataError(
            f"not enough history before {first} for the regime and the features: {exc}; "
            "start the backtest later or import earlier bars"
        ) from exc


def default_generators(
    engine: Engine,
    settings: FundSettings,
    schedule: ModelSchedule | None = None,
    factors: FactorSchedule | None = None,
) -> Callable[[str], GeneratorChoice]:
    """The generators by name; the hybrid one (and its equal-weight twin) use the walk-forward schedule's
    models when there is one, else the newest models of the registry trained before each decision; the
    best-factor one needs the factor choices (`factors`)."""

    def build(name: str) -> GeneratorChoice:
        if name == "mock":
            return GeneratorChoice(MockGenerator(settings), "mock generator")
        if name.startswith(FACTOR_GENERATOR_PREFIX):
            factor = name.removeprefix(FACTOR_GENERATOR_PREFIX)
            return GeneratorChoice(FactorGenerator(settings, factor), f"top {settings.strategy.top_n} by {factor}")
        if name == BEST_FACTOR:
            if factors is None:
                raise ConfigurationError("the best-factor generator needs its factor choices")
            note = "top N by the factor with the best past rank IC, chosen walk-forward"
            return GeneratorChoice(BestFactorGenerator(settings, factors), note)
        from rl_trading.hybrid import HybridGenerator

        if name == "ranker-equal":
            generator = HybridGenerator(engine, settings, schedule=schedule, agents=False)
            return GeneratorChoice(generator, "ranker picks, equal weights")
        return GeneratorChoice(HybridGenerator(engine, settings, schedule=schedule), "model generator hybrid")

    return build


def _memoized(factory: Callable[[str], GeneratorChoice]) -> Callable[[str], GeneratorChoice]:
    # One generator per name: every variant using the hybrid generator shares its loaded models.
    built: dict[str, GeneratorChoice] = {}

    def get(name: str) -> GeneratorChoice:
        if name not in built:
            built[name] = factory(name)
        return built[name]

    return get


def strategy_evidence_rows(engine: Engine) -> pd.DataFrame:
    """Every strategy_performance row, read once: each decision keeps the periods that ended before it."""
    table = StrategyPerformance
    query = select(
        table.strategy, table.regime, table.period_end, table.total_return, table.sharpe_ratio, table.max_drawdown
    )
    with connection_for(engine) as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(
        rows, columns=["strategy", "regime", "period_end", "total_return", "sharpe_ratio", "max_drawdown"]
    )


def benchmark_equity(benchmark: pd.Series, sessions: list[date], capital: Decimal) -> pd.Series:
    """The benchmark bought at the first session's close with all the capital, no costs, held to the end."""
    prices = benchmark.reindex(pd.DatetimeIndex([pd.Timestamp(d) for d in sessions])).ffill()
    if prices.isna().iloc[0]:
        raise DataError(f"the benchmark has no adjusted close on {sessions[0]}")
    # Rounded as stored (to the cent's hundredth), so the summary and a stored run's report agree exactly.
    equity = (float(capital) * prices / float(prices.iloc[0])).round(4)
    equity.name = "benchmark"
    equity.index.name = "session"
    return equity


def code_version() -> str:
    """The commit the code runs from (with '+dirty' for uncommitted changes), or the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
        return f"{commit}+dirty" if dirty else commit
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        try:
            return f"autofund {version('autofund')}"
        except Exception as exc:  # no git, no installed metadata: still store something readable
            raise FundError("cannot tell which code version runs this backtest") from exc
