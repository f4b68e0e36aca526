"""Seeded, deterministic synthetic US-equity market (stocks, SPY, GLD, ^VIX, fundamentals, regimes)
for the embedded demo, so that a first run needs no real data; built in memory, nothing is written."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import exchange_calendars as xcals
import numpy as np
import numpy.typing as npt
import pandas as pd

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

BENCHMARK = "SPY"
SAFE_HAVEN = "GLD"
VOLATILITY_INDEX = "^VIX"

MIN_STOCKS = 60
MAX_STOCKS = 100
MIN_REGIME_SESSIONS = 60

BAR_COLUMNS = [
    "date",
    "ticker",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "dividend",
    "split_coef",
]
FUNDAMENTAL_COLUMNS = [
    "ticker",
    "market_cap",
    "shares_outstanding",
    "price_to_book",
    "pe_ratio",
    "dividend_yield_pct",
]

_TRADING_DAYS = 252
_QUARTER_SESSIONS = 63
_SQRT_DAYS = float(np.sqrt(_TRADING_DAYS))

# Market caps at the start are log-uniform over [10^8.4, 10^11.4] dollars: roughly 30% small
# (< $2B), 23% mid ($2B-$10B) and 47% large (>= $10B), like a broad US index.
_LOG10_CAP_RANGE = (8.4, 11.4)
_START_PRICE_RANGE = (15.0, 150.0)
_BETA_RANGE = (0.6, 1.6)

_BENCHMARK_START_PRICE = 130.0
_BENCHMARK_QUARTERLY_YIELD = 0.0045
_BENCHMARK_DAILY_VOLUME = 8.0e7
_SAFE_HAVEN_START_PRICE = 120.0
_SAFE_HAVEN_DRIFT = 0.04
_SAFE_HAVEN_VOL = 0.15
_SAFE_HAVEN_DAILY_VOLUME = 9.0e6
_VIX_FLOOR = 9.0
# Implied volatility trades above realised volatility (the variance risk premium).
_VIX_PREMIUM = 1.15


@dataclass(frozen=True)
class SyntheticMarket:
    """Everything the demo needs: long-format bars, security master, fundamentals, true regimes."""

    seed: int
    bars: pd.DataFrame
    securities: pd.DataFrame
    fundamentals: dict[date, pd.DataFrame]
    regimes: pd.DataFrame


@dataclass(frozen=True)
class _Sector:
    code: str
    name: str
    label: str
    growth_share: float  # the sector's lean: its share of growth names, before the market-wide half
    income_tilt: float  # > 0 makes stable high-yield payers more likely
    vol: float  # annualised sector-factor volatility


# The eleven GICS sectors. Every sector holds both styles, as in real indices: technology leans
# growth and utilities lean value, but no sector is all one style, so no size-and-style universe is
# crowded into one sector (a crowded universe makes the sector cap clip most of every target).
_SECTORS = (
    _Sector("TEC", "Information Technology", "Tech", 0.70, -0.6, 0.14),
    _Sector("COM", "Communication Services", "Media", 0.60, -0.4, 0.12),
    _Sector("DSC", "Consumer Discretionary", "Consumer", 0.60, -0.4, 0.12),
    _Sector("HLT", "Health Care", "Health", 0.55, -0.3, 0.10),
    _Sector("IND", "Industrials", "Industrial", 0.50, 0.0, 0.10),
    _Sector("MAT", "Materials", "Materials", 0.40, 0.2, 0.14),
    _Sector("RLT", "Real Estate", "Realty", 0.40, 0.5, 0.12),
    _Sector("STP", "Consumer Staples", "Staples", 0.40, 0.5, 0.08),
    _Sector("FIN", "Financials", "Finance", 0.35, 0.3, 0.12),
    _Sector("ENR", "Energy", "Energy", 0.30, 0.3, 0.18),
    _Sector("UTL", "Utilities", "Utility", 0.30, 0.7, 0.08),
)


@dataclass(frozen=True)
class _RegimeSpec:
    drift: float  # annualised expected (simple) return of the market factor
    vol: float  # annualised market-factor volatility
    min_sessions: int
    max_sessions: int
    safe_haven_correlation: float


_REGIME_SPECS = {
    "bull": _RegimeSpec(0.18, 0.12, 250, 500, 0.05),
    "bear": _RegimeSpec(-0.30, 0.32, 80, 160, -0.30),
    "sideways": _RegimeSpec(0.0, 0.15, 90, 200, 0.05),
}
# Bull markets are the most common state; cycling through this pattern guarantees all three
# regimes appear several times over a multi-year history.
_REGIME_CYCLE = ("bull", "sideways", "bull", "bear")
_CRASH_SESSIONS = 8
_CRASH_DAILY_DRIFT = -0.025
_CRASH_DAILY_VOL = 0.035


@dataclass(frozen=True)
class _Segment:
    start: int  # first session index
    end: int  # last session index, inclusive
    regime: str


@dataclass(frozen=True)
class _MarketFactor:
    log_return: FloatArray  # (sessions,)
    daily_vol: FloatArray  # (sessions,) conditional volatility
    standard_shock: FloatArray  # (sessions,) unit-variance shock, shared with the safe haven
    safe_haven_correlation: FloatArray  # (sessions,)


@dataclass(frozen=True)
class _Universe:
    tickers: list[str]
    names: list[str]
    sector: IntArray
    is_growth: BoolArray
    start_price: FloatArray
    shares: FloatArray
    beta: FloatArray
    alpha: FloatArray  # annualised expected return beyond the market exposure
    idio_vol: FloatArray
    dividend_yield: FloatArray
    price_to_book: FloatArray
    pe_ratio: FloatArray
    turnover: FloatArray


@dataclass(frozen=True)
class _Panel:
    """As-traded daily arrays of shape (sessions, tickers)."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    adj_close: FloatArray
    volume: FloatArray
    dividend: FloatArray
    split_coef: FloatArray


def generate_synthetic_market(
    seed: int = 7,
    start: date = date(2012, 1, 3),
    years: int = 10,
    n_stocks: int = 80,
) -> SyntheticMarket:
    """Build the synthetic market; the same arguments always give identical frames."""
    _validate_arguments(years, n_stocks)
    rng = np.random.default_rng(seed)
    sessions = _nyse_sessions(start, years)
    segments = _regime_schedule(len(sessions), rng)
    market = _market_factor(segments, rng)
    universe = _draw_universe(n_stocks, rng)
    stocks, shares = _stock_panel(universe, market, segments, rng)
    benchmark = _benchmark_panel(stocks, shares, market, rng)
    safe_haven = _safe_haven_panel(market, rng)
    vix = _volatility_index_panel(benchmark, market, rng)
    tickers = [*universe.tickers, BENCHMARK, SAFE_HAVEN, VOLATILITY_INDEX]
    panel = _concat_panels([stocks, benchmark, safe_haven, vix])
    logger.debug("synthetic market seed=%d: %d sessions, %d tickers", seed, len(sessions), len(tickers))
    return SyntheticMarket(
        seed=seed,
        bars=_long_bars(sessions, tickers, panel),
        securities=_securities_frame(universe),
        fundamentals=_fundamental_snapshots(sessions, universe, stocks, shares, rng),
        regimes=_regimes_frame(sessions, segments),
    )


def _validate_arguments(years: int, n_stocks: int) -> None:
    if not MIN_STOCKS <= n_stocks <= MAX_STOCKS:
        raise ValueError(f"n_stocks must be between {MIN_STOCKS} and {MAX_STOCKS}, got {n_stocks}")
    if years < 1:
        raise ValueError(f"years must be at least 1, got {years}")


def _nyse_sessions(start: date, years: int) -> pd.DatetimeIndex:
    end = (pd.Timestamp(start) + pd.DateOffset(years=years) - pd.Timedelta(days=1)).date()
    sessions: pd.DatetimeIndex = xcals.get_calendar("XNYS", start=start, end=end).sessions
    return sessions


# --- regimes and the market factor -------------------------------------------------------------


def _regime_schedule(n_sessions: int, rng: np.random.Generator) -> list[_Segment]:
    """Consecutive regime segments covering every session, each at least 60 sessions long."""
    offset = int(rng.integers(len(_REGIME_CYCLE)))
    names: list[str] = []
    lengths: list[int] = []
    while sum(lengths) < n_sessions:
        name = _REGIME_CYCLE[(offset + len(names)) % len(_REGIME_CYCLE)]
        spec = _REGIME_SPECS[name]
        names.append(name)
        lengths.append(int(rng.integers(spec.min_sessions, spec.max_sessions + 1)))
    lengths[-1] -= sum(lengths) - n_sessions
    # A truncated stub at the end would be too short to show its regime: fold it into the previous one.
    if lengths[-1] < MIN_REGIME_SESSIONS and len(lengths) > 1:
        stub = lengths.pop()
        names.pop()
        lengths[-1] += stub
    bounds = np.cumsum([0, *lengths])
    return [
        _Segment(int(first), int(stop) - 1, name)
        for first, stop, name in zip(bounds[:-1], bounds[1:], names, strict=True)
    ]


def _ar1_process(n: int, phi: float, stationary_sd: float, rng: np.random.Generator) -> FloatArray:
    """x_t = phi * x_{t-1} + e_t started in its stationary law, via pandas' C-level EWM recursion."""
    innovations = rng.standard_normal(n) * stationary_sd * np.sqrt(1.0 - phi**2)
    # ewm(adjust=False) computes y_t = phi*y_{t-1} + (1-phi)*s_t with y_0 = s_0, so scaling the
    # innovations by 1/(1-phi) turns it into the AR(1) recursion.
    scaled = innovations / (1.0 - phi)
    scaled[0] = rng.standard_normal() * stationary_sd
    return pd.Series(scaled).ewm(alpha=1.0 - phi, adjust=False).mean().to_numpy(dtype=np.float64)


def _crash_window(segments: list[_Segment], rng: np.random.Generator) -> slice | None:
    """A few sessions of panic early in the first bear segment."""
    bears = [segment for segment in segments if segment.regime == "bear"]
    if not bears:
        return None
    first_bear = bears[0]
    length = first_bear.end - first_bear.start + 1
    offset = int(rng.integers(5, max(6, length // 3)))
    crash_start = first_bear.start + min(offset, length - _CRASH_SESSIONS)
    return slice(crash_start, crash_start + _CRASH_SESSIONS)


def _market_factor(segments: list[_Segment], rng: np.random.Generator) -> _MarketFactor:
    n_sessions = segments[-1].end + 1
    drift = np.empty(n_sessions)
    base_vol = np.empty(n_sessions)
    safe_haven_correlation = np.empty(n_sessions)
    for segment in segments:
        spec = _REGIME_SPECS[segment.regime]
        window = slice(segment.start, segment.end + 1)
        # Log drift is the expected return less half the variance (Ito), so the realised
        # compounded return matches the stated annual drift.
        drift[window] = (spec.drift - 0.5 * spec.vol**2) / _TRADING_DAYS
        base_vol[window] = spec.vol / _SQRT_DAYS
        safe_haven_correlation[window] = spec.safe_haven_correlation
    # Persistent stochastic volatility gives volatility clustering inside each regime.
    vol_sd = 0.25
    daily_vol = base_vol * np.exp(_ar1_process(n_sessions, 0.97, vol_sd, rng) - 0.5 * vol_sd**2)
    shock = daily_vol * rng.standard_normal(n_sessions)
    # Centring the shocks per segment makes every segment realise exactly its scheduled drift,
    # so the published regimes are the true ones rather than a hope.
    for segment in segments:
        window = slice(segment.start, segment.end + 1)
        shock[window] -= shock[window].mean()
    crash_drift = np.zeros(n_sessions)
    crash_vol = np.zeros(n_sessions)
    crash = _crash_window(segments, rng)
    if crash is not None:
        crash_drift[crash] = _CRASH_DAILY_DRIFT
        crash_vol[crash] = _CRASH_DAILY_VOL
    crash_shock = crash_vol * rng.standard_normal(n_sessions)
    total_vol = np.sqrt(daily_vol**2 + crash_vol**2)
    log_return = drift + crash_drift + shock + crash_shock
    log_return[0] = 0.0  # the first session only sets the starting level
    return _MarketFactor(
        log_return=log_return,
        daily_vol=total_vol,
        standard_shock=(shock + crash_shock) / total_vol,
        safe_haven_correlation=safe_haven_correlation,
    )


# --- the stock universe ------------------------------------------------------------------------


def _rank_from_top(score: FloatArray) -> IntArray:
    return np.argsort(np.argsort(-score, kind="stable"), kind="stable").astype(np.int64)


def _log_uniform(low: float, high: float, size: int, rng: np.random.Generator) -> FloatArray:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _stratified_log10_caps(sector: IntArray, is_growth: BoolArray, rng: np.random.Generator) -> FloatArray:
    """Log-uniform caps drawn one per stratum so each size bucket gets its share for every seed.

    The strata are dealt round the size terciles in turn to the stocks grouped by style and sector,
    so each sector's growth names (and its value names) spread over large, mid and small: a size
    tercile's growth half then mixes sectors as the whole growth population does.
    """
    n_stocks = len(sector)
    low, high = _LOG10_CAP_RANGE
    tercile = 3 * np.arange(n_stocks) // n_stocks  # of each stratum, smallest caps first
    tercile_size = np.bincount(tercile, minlength=3)
    rank_in_tercile = np.concatenate([rng.permutation(size) for size in tercile_size.tolist()])
    # Each stratum's round is its place within its tercile; within a round the terciles take turns
    # in a random order. Dealing in that order hands consecutive stocks different terciles.
    turn = rng.permutation(3)[tercile]
    dealt = np.lexsort((turn, (rank_in_tercile + 0.5) / tercile_size[tercile]))
    grouped = np.lexsort((rng.uniform(size=n_stocks), sector, is_growth))
    assigned = np.empty(n_stocks, dtype=np.int64)
    assigned[grouped] = dealt
    quantile = (assigned + rng.uniform(0.1, 0.9, n_stocks)) / n_stocks
    return low + (high - low) * quantile


def _growth_flags(sector: IntArray, rng: np.random.Generator) -> BoolArray:
    """Half the stocks are growth; each sector gets its lean's share of them (largest remainders),
    at least one of each style, and which of its names are growth is random."""
    n_stocks = len(sector)
    members = np.bincount(sector, minlength=len(_SECTORS))
    quota = members * np.array([s.growth_share for s in _SECTORS])
    quota *= (n_stocks // 2) / quota.sum()
    count = np.floor(quota).astype(np.int64)
    leftover = n_stocks // 2 - int(count.sum())
    count[np.argsort(-(quota - count), kind="stable")[:leftover]] += 1
    # With at least five names a sector (60 stocks over 11 sectors) the quotas already lie inside.
    count = np.clip(count, 1, members - 1)
    # Rank each stock within its sector by a random key; the first `count` of each sector are growth.
    order = np.lexsort((rng.uniform(size=n_stocks), sector))
    first_of_sector = np.searchsorted(sector[order], sector[order])
    rank_in_sector = np.empty(n_stocks, dtype=np.int64)
    rank_in_sector[order] = np.arange(n_stocks) - first_of_sector
    return np.asarray(rank_in_sector < count[sector], dtype=np.bool_)


def _tickers_and_names(sector: IntArray) -> tuple[list[str], list[str]]:
    """Sector code plus a letter suffix: short, readable and obviously not real companies."""
    tickers: list[str] = []
    names: list[str] = []
    seen_per_sector = [0] * len(_SECTORS)
    for sector_index in sector.tolist():
        suffix = chr(ord("A") + seen_per_sector[sector_index])
        seen_per_sector[sector_index] += 1
        tickers.append(_SECTORS[sector_index].code + suffix)
        names.append(f"Synthetic {_SECTORS[sector_index].label} Co {suffix}")
    return tickers, names


def _dividend_yields(
    is_growth: BoolArray, income_score: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, BoolArray]:
    """Value stocks all pay, some growth stocks pay a token dividend, a few value names are high yielders."""
    n_stocks = len(is_growth)
    value_yield = rng.uniform(0.015, 0.035, n_stocks)
    token_yield = np.where(rng.uniform(size=n_stocks) < 0.3, rng.uniform(0.003, 0.01, n_stocks), 0.0)
    n_high_yield = max(5, n_stocks // 12)
    # Only value stocks compete for the high-yield slots, ranked by their sector's income tilt.
    high_yield = (_rank_from_top(np.where(is_growth, -np.inf, income_score)) < n_high_yield) & ~is_growth
    dividend_yield = np.where(is_growth, token_yield, value_yield)
    dividend_yield = np.where(high_yield, rng.uniform(0.035, 0.06, n_stocks), dividend_yield)
    return dividend_yield, high_yield


def _unit_cap_weighted_beta(raw_beta: FloatArray, cap: FloatArray) -> FloatArray:
    """Bend betas within their range until the cap-weighted mean is one.

    The benchmark is cap weighted, so only then are these betas also the betas against it; a
    monotone power map keeps the ordering and the [0.6, 1.6] range, where rescaling would not.
    """
    low, high = _BETA_RANGE
    position = np.clip((raw_beta - low) / (high - low), 0.0, 1.0)
    weight = cap / cap.sum()
    # The cap-weighted mean of low + (high - low) * position**gamma falls as gamma rises: bisect.
    log_gamma_low, log_gamma_high = -5.0, 5.0
    for _ in range(50):
        log_gamma = 0.5 * (log_gamma_low + log_gamma_high)
        mean_beta = low + (high - low) * np.sum(weight * position ** np.exp(log_gamma))
        if mean_beta > 1.0:
            log_gamma_low = log_gamma
        else:
            log_gamma_high = log_gamma
    return np.asarray(low + (high - low) * position ** np.exp(log_gamma), dtype=np.float64)


def _draw_universe(n_stocks: int, rng: np.random.Generator) -> _Universe:
    n_sectors = len(_SECTORS)
    sector = np.sort(rng.permutation(np.arange(n_stocks) % n_sectors)).astype(np.int64)
    tickers, names = _tickers_and_names(sector)
    income_tilt = np.array([s.income_tilt for s in _SECTORS])[sector]
    is_growth = _growth_flags(sector, rng)
    dividend_yield, high_yield = _dividend_yields(is_growth, income_tilt + rng.standard_normal(n_stocks), rng)

    log10_cap = _stratified_log10_caps(sector, is_growth, rng)
    start_price = np.round(_log_uniform(*_START_PRICE_RANGE, n_stocks, rng), 2)
    shares = np.round(10.0**log10_cap / start_price, -3)
    smallness = (_LOG10_CAP_RANGE[1] - log10_cap) / (_LOG10_CAP_RANGE[1] - _LOG10_CAP_RANGE[0])

    raw_beta = np.where(is_growth, rng.uniform(1.05, 1.6, n_stocks), rng.uniform(0.6, 1.05, n_stocks))
    raw_beta = np.where(high_yield, rng.uniform(0.6, 0.75, n_stocks), raw_beta)
    # Mega caps are much of the market itself, so their betas sit nearer one than small caps'.
    raw_beta = 1.0 + (raw_beta - 1.0) * (0.35 + 0.65 * smallness)
    beta = _unit_cap_weighted_beta(raw_beta, 10.0**log10_cap)

    idio_vol = 0.12 + 0.23 * smallness + rng.uniform(-0.02, 0.02, n_stocks)
    idio_vol = np.where(high_yield, np.minimum(idio_vol, 0.16), idio_vol)
    return _Universe(
        tickers=tickers,
        names=names,
        sector=sector,
        is_growth=is_growth,
        start_price=start_price,
        shares=shares,
        beta=beta,
        alpha=np.where(is_growth, 0.03, 0.0) + rng.normal(0.0, 0.02, n_stocks),
        idio_vol=idio_vol,
        dividend_yield=dividend_yield,
        price_to_book=np.where(
            is_growth, _log_uniform(4.0, 12.0, n_stocks, rng), _log_uniform(0.8, 2.2, n_stocks, rng)
        ),
        pe_ratio=np.where(is_growth, _log_uniform(25.0, 60.0, n_stocks, rng), _log_uniform(8.0, 16.0, n_stocks, rng)),
        turnover=0.004 * np.exp(rng.normal(0.0, 0.25, n_stocks)),
    )


# --- stock prices ------------------------------------------------------------------------------


def _reflect_below(path: FloatArray, floor: float) -> FloatArray:
    """Reflect a random walk off a floor: increments keep their size, the level cannot sink past it."""
    return np.where(path < floor, 2.0 * floor - path, path)


def _cap_weighted_neutral(
    own_return: FloatArray,
    own_variance: FloatArray,
    market_return: FloatArray,
    start_cap: FloatArray,
    segments: list[_Segment],
) -> FloatArray:
    """Sector and stock-specific log returns whose cap-weighted mean simple return is zero each day.

    The market is by definition the cap-weighted sum of its stocks, so what is not market must
    average out under cap weights; otherwise a few mega caps' own luck would blur the regimes.
    The simple return of a log return r with variance v is about r + v/2, hence the variance term.
    Weights are refreshed at each segment start (dividends ignored), close enough within a segment.
    """
    neutral = own_return.copy()
    log_cap = np.log(start_cap)
    for segment in segments:
        window = slice(segment.start, segment.end + 1)
        weight = np.exp(log_cap - log_cap.max())
        weight /= weight.sum()
        neutral[window] -= ((neutral[window] + 0.5 * own_variance) @ weight)[:, None]
        log_cap = log_cap + (market_return[window] + neutral[window]).sum(axis=0)
    return neutral


def _stock_log_returns(
    universe: _Universe, market: _MarketFactor, segments: list[_Segment], rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Daily total log returns and conditional daily volatility, both (sessions, stocks)."""
    n_sessions = len(market.log_return)
    n_stocks = len(universe.tickers)
    sector_vol = np.array([s.vol for s in _SECTORS]) / _SQRT_DAYS
    # Shocks carry the -variance/2 log drift so that on average they add no simple return.
    sector_return = rng.standard_normal((n_sessions, len(_SECTORS))) * sector_vol - 0.5 * sector_vol**2
    idio_daily_vol = universe.idio_vol / _SQRT_DAYS
    idio_step = rng.standard_normal((n_sessions, n_stocks)) * idio_daily_vol - 0.5 * idio_daily_vol**2
    idio_step[0] = 0.0
    # Without a floor a volatile small cap could drift to fractions of a cent over ten years.
    idio_path = _reflect_below(np.cumsum(idio_step, axis=0), np.log(0.3))
    idio_return = np.diff(idio_path, axis=0, prepend=np.zeros((1, n_stocks)))
    market_return = np.outer(market.log_return, universe.beta)
    own_return = sector_return[:, universe.sector] + idio_return + universe.alpha / _TRADING_DAYS
    own_variance = sector_vol[universe.sector] ** 2 + idio_daily_vol**2
    start_cap = universe.start_price * universe.shares
    log_return = market_return + _cap_weighted_neutral(own_return, own_variance, market_return, start_cap, segments)
    log_return[0] = 0.0
    daily_vol = np.sqrt(np.outer(market.daily_vol**2, universe.beta**2) + own_variance)
    return log_return, daily_vol


def _ex_dividend_mask(n_sessions: int, pays: BoolArray, rng: np.random.Generator) -> BoolArray:
    """Quarterly ex-dates, each payer with its own phase within the first quarter."""
    phase = rng.integers(1, _QUARTER_SESSIONS + 1, len(pays))
    session = np.arange(n_sessions)[:, None]
    on_cycle = (session >= phase) & ((session - phase) % _QUARTER_SESSIONS == 0)
    return np.asarray(on_cycle & pays[None, :], dtype=np.bool_)


def _split_coefficients(unsplit_close: FloatArray, ex_dividend: BoolArray, rng: np.random.Generator) -> FloatArray:
    """2:1 or 3:1 splits for the 2-4 biggest risers, on the day their price is well up its climb."""
    n_sessions, n_stocks = unsplit_close.shape
    split_coef = np.ones((n_sessions, n_stocks))
    start_price = unsplit_close[0]
    gain = unsplit_close.max(axis=0) / start_price
    n_splits = int(rng.integers(2, 5))
    for rank, stock in enumerate(np.argsort(-gain, kind="stable")[:n_splits].tolist()):
        # The top riser always splits; the others only if their price really grew high.
        if rank > 0 and gain[stock] < 2.0:
            continue
        trigger = start_price[stock] + 0.6 * (unsplit_close[:, stock].max() - start_price[stock])
        session = int(np.clip(np.argmax(unsplit_close[:, stock] >= trigger), 1, n_sessions - 1))
        if ex_dividend[session, stock]:
            # Keep a split and a dividend off the same ex-date so each event stays readable.
            session = session + 1 if session + 1 < n_sessions else session - 1
        # Boards split when the share price looks expensive: 3:1 only from a really high price.
        ratio = 3.0 if unsplit_close[session, stock] >= 300.0 else 2.0
        split_coef[session, stock] = ratio
    return split_coef


def _previous(values: FloatArray) -> FloatArray:
    """Previous session's row; the first row is its own predecessor."""
    return np.concatenate([values[:1], values[:-1]], axis=0)


def _intraday_prices(
    close: FloatArray, open_reference: FloatArray, daily_vol: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Open gaps from the reference (prior close net of dividend), highs and lows beyond both ends."""
    shape = close.shape
    open_ = open_reference * np.exp(rng.standard_normal(shape) * 0.35 * daily_vol)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(shape)) * 0.6 * daily_vol)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(shape)) * 0.6 * daily_vol)
    return open_, high, low


def _round_prices(values: FloatArray) -> FloatArray:
    return np.maximum(np.round(values, 2), 0.01)


def _rounded_ohlc(
    open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Round to cents keeping low <= open/close <= high.

    Rounding is monotone so the ordering already survives; the max/min state it rather than rely on it.
    """
    open_r, close_r = _round_prices(open_), _round_prices(close)
    high_r = np.maximum(_round_prices(high), np.maximum(open_r, close_r))
    low_r = np.minimum(_round_prices(low), np.minimum(open_r, close_r))
    return open_r, high_r, low_r, close_r


def _adjustment_factors(close: FloatArray, dividend: FloatArray, split_coef: FloatArray) -> FloatArray:
    """Backward split-and-dividend adjustment: 1 on the last date, each event scales everything before it."""
    event_factor = (1.0 - dividend / _previous(close)) / split_coef
    event_factor[0] = 1.0
    # Reverse cumulative product: the factor at t is the product of event factors strictly after t.
    from_here = np.cumprod(event_factor[::-1], axis=0)[::-1]
    return np.concatenate([from_here[1:], np.ones_like(from_here[:1])], axis=0)


def _round_significant(values: FloatArray, digits: int) -> FloatArray:
    magnitude = np.floor(np.log10(np.abs(values)))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.asarray(np.round(values * scale) / scale, dtype=np.float64)


def _session_volume(base: FloatArray, move_size: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Lognormal volume around a base, boosted on days with large standardised moves."""
    noise = np.exp(rng.normal(0.0, 0.3, move_size.shape) - 0.045)
    return np.round(base * noise * (1.0 + 0.6 * move_size))


def _stock_panel(
    universe: _Universe, market: _MarketFactor, segments: list[_Segment], rng: np.random.Generator
) -> tuple[_Panel, FloatArray]:
    """Raw stock bars plus the point-in-time shares outstanding (which change on splits)."""
    log_return, daily_vol = _stock_log_returns(universe, market, segments, rng)
    n_sessions = log_return.shape[0]
    ex_dividend = _ex_dividend_mask(n_sessions, universe.dividend_yield > 0, rng)
    payout = np.where(ex_dividend, universe.dividend_yield / 4.0, 0.0)
    # The price drops by the dividend at the open, then earns the day's return: the adjusted close
    # then compounds exactly the total return exp(log_return).
    unsplit_close = universe.start_price * np.cumprod((1.0 - payout) * np.exp(log_return), axis=0)
    split_coef = _split_coefficients(unsplit_close, ex_dividend, rng)
    split_divisor = np.cumprod(split_coef, axis=0)

    unsplit_open, unsplit_high, unsplit_low = _intraday_prices(
        unsplit_close, _previous(unsplit_close) * (1.0 - payout), daily_vol, rng
    )
    open_, high, low, close = _rounded_ohlc(
        unsplit_open / split_divisor,
        unsplit_high / split_divisor,
        unsplit_low / split_divisor,
        unsplit_close / split_divisor,
    )
    dividend = np.where(ex_dividend, np.round(payout * _previous(close), 4), 0.0)
    shares = universe.shares * split_divisor
    move_size = np.abs(log_return) / daily_vol
    volume = _session_volume(universe.shares * universe.turnover, move_size, rng) * split_divisor
    panel = _Panel(
        open=open_,
        high=high,
        low=low,
        close=close,
        adj_close=_round_significant(close * _adjustment_factors(close, dividend, split_coef), 6),
        volume=volume,
        dividend=dividend,
        split_coef=split_coef,
    )
    return panel, shares


# --- benchmark, safe haven, volatility index ---------------------------------------------------


def _single_asset_panel(
    close_unrounded: FloatArray,
    payout: FloatArray,
    daily_vol: FloatArray,
    base_volume: float,
    rng: np.random.Generator,
) -> _Panel:
    """Bars for one dividend-paying, never-splitting asset given its unrounded close path."""
    close_2d = close_unrounded[:, None]
    vol_2d = daily_vol[:, None]
    open_, high, low = _intraday_prices(close_2d, _previous(close_2d) * (1.0 - payout[:, None]), vol_2d, rng)
    open_, high, low, close = _rounded_ohlc(open_, high, low, close_2d)
    dividend = np.where(payout[:, None] > 0, np.round(payout[:, None] * _previous(close), 4), 0.0)
    split_coef = np.ones_like(close)
    log_return = np.diff(np.log(close_2d), axis=0, prepend=np.log(close_2d[:1]))
    volume = _session_volume(np.array([base_volume]), np.abs(log_return) / vol_2d, rng)
    return _Panel(
        open=open_,
        high=high,
        low=low,
        close=close,
        adj_close=_round_significant(close * _adjustment_factors(close, dividend, split_coef), 6),
        volume=volume,
        dividend=dividend,
        split_coef=split_coef,
    )


def _benchmark_panel(stocks: _Panel, shares: FloatArray, market: _MarketFactor, rng: np.random.Generator) -> _Panel:
    """SPY: cap-weighted total return of the synthetic stocks, paying a small quarterly dividend."""
    cap = stocks.close * shares
    weight = _previous(cap) / _previous(cap).sum(axis=1, keepdims=True)
    stock_total_return = stocks.adj_close / _previous(stocks.adj_close) - 1.0
    index_return = np.sum(weight * stock_total_return, axis=1)
    n_sessions = len(index_return)
    session = np.arange(n_sessions)
    # SPY goes ex-dividend once a quarter, late in the quarter.
    payout = np.where((session % _QUARTER_SESSIONS == 55) & (session > 0), _BENCHMARK_QUARTERLY_YIELD, 0.0)
    close = _BENCHMARK_START_PRICE * np.cumprod((1.0 - payout) * (1.0 + index_return))
    return _single_asset_panel(close, payout, market.daily_vol, _BENCHMARK_DAILY_VOLUME, rng)


def _safe_haven_panel(market: _MarketFactor, rng: np.random.Generator) -> _Panel:
    """GLD: its own random walk, mildly linked to the market and negatively so in bear markets."""
    n_sessions = len(market.log_return)
    own_shock = rng.standard_normal(n_sessions)
    # Centred so the realised drift is the intended small positive one for every seed.
    own_shock -= own_shock.mean()
    rho = market.safe_haven_correlation
    daily_vol = np.full(n_sessions, _SAFE_HAVEN_VOL / _SQRT_DAYS)
    log_return = _SAFE_HAVEN_DRIFT / _TRADING_DAYS + daily_vol * (
        rho * market.standard_shock + np.sqrt(1.0 - rho**2) * own_shock
    )
    log_return[0] = 0.0
    close = _SAFE_HAVEN_START_PRICE * np.exp(np.cumsum(log_return))
    return _single_asset_panel(close, np.zeros(n_sessions), daily_vol, _SAFE_HAVEN_DAILY_VOLUME, rng)


def _volatility_index_level(benchmark_close: FloatArray, market: _MarketFactor, rng: np.random.Generator) -> FloatArray:
    """100 x annualised short-horizon volatility: half forward-looking, half recent realised."""
    benchmark_return = np.diff(np.log(benchmark_close), prepend=np.log(benchmark_close[:1]))
    realised_variance = pd.Series(benchmark_return**2).ewm(halflife=5.0).mean().to_numpy(dtype=np.float64)
    blended_variance = 0.5 * market.daily_vol**2 + 0.5 * realised_variance
    noise = _ar1_process(len(benchmark_close), 0.9, 0.08, rng)
    raw_level = 100.0 * _VIX_PREMIUM * np.sqrt(_TRADING_DAYS * blended_variance) * np.exp(noise)
    # Implied volatility reacts quickly but not instantly; a short EWM gives that persistence.
    smoothed = pd.Series(raw_level).ewm(halflife=1.5).mean().to_numpy(dtype=np.float64)
    return np.asarray(np.maximum(smoothed, _VIX_FLOOR), dtype=np.float64)


def _volatility_index_panel(benchmark: _Panel, market: _MarketFactor, rng: np.random.Generator) -> _Panel:
    """^VIX: an index, so no volume, dividends or splits and adj_close equals close."""
    level = _volatility_index_level(benchmark.adj_close[:, 0], market, rng)[:, None]
    open_ = np.maximum(_previous(level) * np.exp(rng.normal(0.0, 0.04, level.shape)), _VIX_FLOOR)
    high = np.maximum(open_, level) * np.exp(np.abs(rng.normal(0.0, 0.05, level.shape)))
    low = np.minimum(open_, level) * np.exp(-np.abs(rng.normal(0.0, 0.04, level.shape)))
    open_, high, low, close = _rounded_ohlc(open_, high, low, level)
    return _Panel(
        open=open_,
        high=high,
        low=low,
        close=close,
        adj_close=close.copy(),
        volume=np.full(close.shape, np.nan),
        dividend=np.zeros(close.shape),
        split_coef=np.ones(close.shape),
    )


# --- assembling the frames ---------------------------------------------------------------------


def _concat_panels(panels: list[_Panel]) -> _Panel:
    def stacked(field: str) -> FloatArray:
        return np.concatenate([getattr(panel, field) for panel in panels], axis=1)

    return _Panel(
        open=stacked("open"),
        high=stacked("high"),
        low=stacked("low"),
        close=stacked("close"),
        adj_close=stacked("adj_close"),
        volume=stacked("volume"),
        dividend=stacked("dividend"),
        split_coef=stacked("split_coef"),
    )


def _long_bars(sessions: pd.DatetimeIndex, tickers: list[str], panel: _Panel) -> pd.DataFrame:
    """One row per (date, ticker), sorted by date then ticker."""
    order = np.argsort(np.array(tickers), kind="stable")
    n_sessions = len(sessions)

    def flat(values: FloatArray) -> FloatArray:
        return np.asarray(values[:, order].ravel(), dtype=np.float64)

    frame = pd.DataFrame(
        {
            "date": np.repeat(np.asarray(sessions.date, dtype=object), len(tickers)),
            "ticker": np.tile(np.array(tickers, dtype=object)[order], n_sessions),
            "open": flat(panel.open),
            "high": flat(panel.high),
            "low": flat(panel.low),
            "close": flat(panel.close),
            "adj_close": flat(panel.adj_close),
            "volume": flat(panel.volume),
            "dividend": flat(panel.dividend),
            "split_coef": flat(panel.split_coef),
        }
    )
    return frame[BAR_COLUMNS]


def _securities_frame(universe: _Universe) -> pd.DataFrame:
    stocks = pd.DataFrame(
        {
            "ticker": universe.tickers,
            "name": universe.names,
            "sector": [_SECTORS[i].name for i in universe.sector.tolist()],
            "asset_type": "stock",
        }
    )
    funds = pd.DataFrame(
        {
            "ticker": [BENCHMARK, SAFE_HAVEN, VOLATILITY_INDEX],
            "name": ["Synthetic Total Market ETF", "Synthetic Gold Trust", "Synthetic Volatility Index"],
            "sector": ["Broad Market", "Commodities", "Volatility"],
            "asset_type": ["etf", "etf", "index"],
        }
    )
    return pd.concat([stocks, funds], ignore_index=True).sort_values("ticker", ignore_index=True)


def _indicated_annual_dividend(stocks: _Panel, split_divisor: FloatArray) -> FloatArray:
    """Four times the latest dividend paid so far, restated per current share; NaN before the first."""
    last_paid_unsplit = (
        pd.DataFrame(np.where(stocks.dividend > 0, stocks.dividend * split_divisor, np.nan))
        .ffill()
        .to_numpy(dtype=np.float64)
    )
    return np.asarray(4.0 * last_paid_unsplit / split_divisor, dtype=np.float64)


def _fundamental_snapshots(
    sessions: pd.DatetimeIndex,
    universe: _Universe,
    stocks: _Panel,
    shares: FloatArray,
    rng: np.random.Generator,
) -> dict[date, pd.DataFrame]:
    """Yearly point-in-time snapshots: only prices, dividends and shares up to each snapshot date."""
    session_dates = np.asarray(sessions.date, dtype=object)
    snapshot_rows = np.unique(sessions.year.to_numpy(), return_index=True)[1]
    market_cap = stocks.close * shares
    start_cap = market_cap[0]
    # Book value and earnings grow along the stock's expected path and follow half of the price's
    # deviation from it: valuation ratios keep their style level yet stretch when prices run away.
    expected_growth = universe.beta * 0.06 + universe.alpha - universe.dividend_yield
    earnings_noise = rng.normal(0.0, 0.15, (len(snapshot_rows), len(universe.tickers)))
    indicated_dividend = _indicated_annual_dividend(stocks, np.cumprod(stocks.split_coef, axis=0, dtype=np.float64))
    pays = universe.dividend_yield > 0

    snapshots: dict[date, pd.DataFrame] = {}
    for position, row in enumerate(snapshot_rows.tolist()):
        expected_cap = start_cap * np.exp(expected_growth * row / _TRADING_DAYS)
        fundamentals_level = expected_cap / start_cap * np.sqrt(market_cap[row] / expected_cap)
        book_value = start_cap / universe.price_to_book * fundamentals_level
        earnings = start_cap / universe.pe_ratio * fundamentals_level * np.exp(earnings_noise[position])
        # Before the first ex-date the company's announced policy yield is what an analyst would see.
        indicated_yield = np.where(
            np.isnan(indicated_dividend[row]), universe.dividend_yield, indicated_dividend[row] / stocks.close[row]
        )
        snapshots[session_dates[row]] = pd.DataFrame(
            {
                "ticker": universe.tickers,
                "market_cap": np.round(market_cap[row]),
                "shares_outstanding": shares[row],
                "price_to_book": np.round(market_cap[row] / book_value, 3),
                "pe_ratio": np.round(market_cap[row] / earnings, 2),
                "dividend_yield_pct": np.round(np.where(pays, 100.0 * indicated_yield, 0.0), 3),
            }
        )[FUNDAMENTAL_COLUMNS]
    return snapshots


def _regimes_frame(sessions: pd.DatetimeIndex, segments: list[_Segment]) -> pd.DataFrame:
    session_dates = np.asarray(sessions.date, dtype=object)
    return pd.DataFrame(
        {
            "start": [session_dates[s.start] for s in segments],
            "end": [session_dates[s.end] for s in segments],
            "regime": [s.regime for s in segments],
        }
    )
