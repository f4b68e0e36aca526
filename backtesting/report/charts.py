"""The tear sheet's plotly figures, one function per chart, each reading only the TearSheet.

Colours are fixed per variant, regime and strategy so the same name looks the same in every chart.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from backtesting.report.sheet import BENCHMARK, TearSheet
from backtesting.returns import drawdown, monthly_returns, rolling_sharpe, simple_returns

logger = logging.getLogger(__name__)

SHARPE_WINDOW = 126  # six months of sessions
MAIN_COLOUR = "#1f4e9c"
BENCHMARK_COLOUR = "#3a3a3a"
_OTHER_COLOURS = [colour for colour in qualitative.Dark24 if colour not in ("#2E91E5", "#222A2A")]
_STRATEGY_COLOURS = qualitative.Bold
# Pale fills so the curves stay readable on top; bull is green, bear red, anything else neutral, and
# within a family the first (strongest) shade goes to a 'high' (volatility) label.
_REGIME_SHADES = {
    "bull": ("#b5dfae", "#e1f3d8", "#cde9c5"),
    "bear": ("#f0aaaa", "#fbe0d4", "#f5c6c6"),
    "": ("#d5dcea", "#f4e7b5", "#e6ddf3", "#d3ecf0", "#efe3d7"),
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def variant_colours(sheet: TearSheet) -> dict[str, str]:
    """A colour per variant: the main one and the benchmark stand out, the others share a muted palette."""
    others = [str(name) for name in sheet.equity.columns if name not in (sheet.main, BENCHMARK)]
    colours = {name: _OTHER_COLOURS[i % len(_OTHER_COLOURS)] for i, name in enumerate(others)}
    return colours | {sheet.main: MAIN_COLOUR, BENCHMARK: BENCHMARK_COLOUR}


def regime_colours(labels: Iterable[str]) -> dict[str, str]:
    """A pale colour per regime label, by family (bull / bear / other), stable for a given set of labels."""
    distinct = set(labels)
    colours: dict[str, str] = {}
    for family in ("bull", "bear", ""):
        members = sorted(
            (label for label in distinct if family in label and label not in colours),
            key=lambda label: ("high" not in label, label),
        )
        shades = _REGIME_SHADES[family]
        colours |= {label: shades[i % len(shades)] for i, label in enumerate(members)}
    return colours


def strategy_colours(labels: Iterable[str]) -> dict[str, str]:
    """A saturated colour per strategy label, in sorted order."""
    return {label: _STRATEGY_COLOURS[i % len(_STRATEGY_COLOURS)] for i, label in enumerate(sorted(set(labels)))}


def contiguous_runs(labels: pd.Series) -> pd.DataFrame:
    """Merge consecutive sessions with the same label: columns label, start, end, sessions.

    A run ends where the next one starts (the last run at the last session), so drawn runs leave no gaps."""
    values = labels.astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if len(values) else np.array([], dtype=int)
    ends = np.r_[starts[1:], len(values) - 1] if len(values) else starts
    index = pd.DatetimeIndex(labels.index)
    return pd.DataFrame(
        {
            "label": values[starts],
            "start": index[starts],
            "end": index[ends],
            "sessions": np.diff(np.r_[starts, len(values)]),
        }
    )


LEGEND_NAMES_PER_ROW = 5


def equity_chart(sheet: TearSheet) -> go.Figure:
    """Equity of every variant on a log axis, the main one on top, over background bands of the regime."""
    colours = variant_colours(sheet)
    fig = go.Figure()
    others = [name for name in sheet.equity.columns if name not in (sheet.main, BENCHMARK)]
    for rank, name in enumerate(others, start=3):
        _add_line(fig, sheet.equity[name], str(name), colours[str(name)], width=1.0, opacity=0.5, rank=rank)
    _add_line(fig, sheet.sessions["benchmark"], BENCHMARK, BENCHMARK_COLOUR, width=1.6, rank=2)
    _add_line(fig, sheet.sessions["equity"], sheet.main, MAIN_COLOUR, width=2.4, rank=1)
    fig.update_layout(shapes=regime_bands(sheet.sessions["regime"]))
    fig.update_yaxes(type="log", title_text="equity (log scale)")
    _style(fig, "Equity against the benchmark and the other variants", height=560)
    # The legend above the plot wraps about five names to a row: room for every row under the title.
    rows = math.ceil((len(others) + 2) / LEGEND_NAMES_PER_ROW)
    fig.update_layout(margin={"t": 60 + 22 * rows}, height=540 + 22 * rows)
    # The regime key sits under the x axis, apart from the variants' legend above the plot.
    regime_key = {"title": {"text": "background = regime:"}, "orientation": "h", "x": 0, "y": -0.08, "yanchor": "top"}
    return fig.update_layout(legend2=regime_key)


def regime_bands(regime: pd.Series) -> list[dict[str, object]]:
    """One background rectangle per contiguous regime run; the first of each label carries its legend entry."""
    runs = contiguous_runs(regime)
    colours = regime_colours(runs["label"])
    seen: set[str] = set()
    shapes: list[dict[str, object]] = []
    for label, start, end in zip(runs["label"], _dates(runs["start"]), _dates(runs["end"]), strict=True):
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": start,
                "x1": end,
                "y0": 0,
                "y1": 1,
                "fillcolor": colours[label],
                "opacity": 0.75,
                "line": {"width": 0},
                "layer": "below",
                "name": label,
                "legend": "legend2",
                "legendgroup": label,
                "showlegend": label not in seen,
            }
        )
        seen.add(label)
    return shapes


def drawdown_chart(sheet: TearSheet) -> go.Figure:
    """Drawdown of the main variant (filled) and of the benchmark (line)."""
    fig = go.Figure()
    main = drawdown(sheet.sessions["equity"])
    fig.add_scatter(
        x=_dates(main.index),
        y=main.to_numpy(np.float64),
        name=sheet.main,
        fill="tozeroy",
        line={"color": MAIN_COLOUR, "width": 1.2},
        fillcolor="rgba(31,78,156,0.25)",
    )
    _add_line(fig, drawdown(sheet.sessions["benchmark"]), BENCHMARK, BENCHMARK_COLOUR, width=1.2)
    fig.update_yaxes(tickformat=".0%", title_text="below the previous high")
    return _style(fig, "Drawdown", height=360)


def rolling_sharpe_chart(sheet: TearSheet) -> go.Figure:
    """Six-month (126-session) rolling Sharpe ratio of the main variant and the benchmark."""
    fig = go.Figure()
    for column, name, colour, width, rank in (
        ("benchmark", BENCHMARK, BENCHMARK_COLOUR, 1.2, 2),
        ("equity", sheet.main, MAIN_COLOUR, 2.0, 1),
    ):
        sharpe = rolling_sharpe(simple_returns(sheet.sessions[column]), window=SHARPE_WINDOW)
        _add_line(fig, sharpe, name, colour, width=width, rank=rank)
    fig.add_hline(y=0, line={"color": "#888888", "width": 1})
    if len(sheet.sessions) <= SHARPE_WINDOW:
        logger.info("rolling Sharpe needs more than %d sessions; the chart stays empty", SHARPE_WINDOW)
        fig.add_annotation(
            text=f"needs more than {SHARPE_WINDOW} sessions", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
    fig.update_yaxes(title_text="annualised Sharpe")
    return _style(fig, f"Rolling Sharpe ratio ({SHARPE_WINDOW} sessions)", height=360)


def monthly_heatmap(sheet: TearSheet) -> go.Figure:
    """Calendar-month returns of the main variant, years by months, red below zero and green above."""
    table = monthly_returns(sheet.sessions["equity"]).reindex(columns=range(1, 13))
    values = table.to_numpy(np.float64)
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size else 0.01
    text = [["" if np.isnan(v) else f"{v * 100:.1f}%" for v in row] for row in values]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=list(_MONTHS),
            y=[str(year) for year in table.index],
            text=text,
            texttemplate="%{text}",
            zmid=0,
            zmin=-limit,
            zmax=limit,
            xgap=2,
            ygap=2,
            textfont={"size": 11},
            colorscale=[[0.0, "#c0392b"], [0.5, "#f7f7f7"], [1.0, "#1e8449"]],
            colorbar={"tickformat": ".0%", "title": {"text": "return"}},
            hovertemplate="%{x} %{y}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return _style(fig, "Monthly returns", height=max(240, 90 + 28 * len(table)), hover="closest")


def exposure_chart(sheet: TearSheet) -> go.Figure:
    """Invested fraction (filled) and cash fraction (line) of the main variant's equity."""
    fig = go.Figure()
    exposure = sheet.sessions["exposure"]
    fig.add_scatter(
        x=_dates(exposure.index),
        y=exposure.to_numpy(np.float64),
        name="exposure",
        fill="tozeroy",
        line={"color": MAIN_COLOUR, "width": 1},
        fillcolor="rgba(31,78,156,0.3)",
    )
    _add_line(fig, sheet.sessions["cash"], "cash", "#d68910", width=1.4)
    fig.update_yaxes(tickformat=".0%", title_text="of equity")
    return _style(fig, "Exposure and cash", height=340)


def turnover_chart(sheet: TearSheet) -> go.Figure:
    """Turnover per session (bars) and the costs paid so far (line, right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    turnover = sheet.sessions["turnover"]
    costs = sheet.sessions["costs"].astype(np.float64).cumsum()
    fig.add_bar(
        x=_dates(turnover.index),
        y=turnover.to_numpy(np.float64),
        name="turnover",
        marker={"color": "#5d6d7e", "line": {"width": 0}},
        secondary_y=False,
    )
    fig.add_scatter(
        x=_dates(costs.index),
        y=costs.to_numpy(np.float64),
        name="costs paid, cumulative (right axis)",
        line={"color": "#c0392b", "width": 1.8},
        secondary_y=True,
    )
    fig.update_yaxes(tickformat=".0%", title_text="turnover (of equity)", rangemode="tozero", secondary_y=False)
    # No axis title on the right: red ticks match the red line, and the margin stays that of the other charts.
    red_ticks = {"color": "#c0392b"}
    fig.update_yaxes(tickformat=",.0f", tickfont=red_ticks, rangemode="tozero", secondary_y=True, showgrid=False)
    fig.update_layout(bargap=0)
    return _style(fig, "Turnover and costs", height=360)


def strategy_timeline(sheet: TearSheet) -> go.Figure:
    """Which strategy was selected when: one row per strategy, a thick segment for each run of sessions."""
    strategy = sheet.sessions["strategy"]
    runs = contiguous_runs(strategy)
    colours = strategy_colours(runs["label"])
    share = strategy.astype(str).value_counts(normalize=True)
    fig = go.Figure()
    for label in sorted(colours, reverse=True):  # reversed: the first label ends on the top row
        mine = runs[runs["label"] == label]
        # One trace per strategy with None between runs: hundreds of switches stay a handful of traces.
        x: list[str | None] = []
        for start, end in zip(_dates(mine["start"]), _dates(mine["end"]), strict=True):
            x += [start, end, None]
        fig.add_scatter(
            x=x,
            y=[label if value else None for value in x],
            mode="lines",
            name=label,
            line={"color": colours[label], "width": 16},
            hovertemplate=f"{label} ({share[label]:.0%} of sessions)<br>%{{x}}<extra></extra>",
        )
    switches = max(len(runs) - 1, 0)
    fig.update_yaxes(type="category", title_text="")
    _style(fig, f"Selected strategy ({switches} switches)", height=max(220, 110 + 44 * len(colours)), hover="closest")
    return fig.update_layout(showlegend=False)


CHARTS: tuple[tuple[str, str, Callable[[TearSheet], go.Figure]], ...] = (
    ("equity", "Log scale: equal slopes are equal returns. Background colour: the regime of the day.", equity_chart),
    ("drawdown", "How far below its previous high each curve stood.", drawdown_chart),
    (
        "rolling-sharpe",
        "Annualised over the trailing six months; below zero the variant was losing.",
        rolling_sharpe_chart,
    ),
    ("monthly", "Each calendar month's compounded return of the main variant.", monthly_heatmap),
    ("exposure", "Fractions of equity invested and held as cash.", exposure_chart),
    ("turnover", "Fraction of equity traded each session, and all costs paid so far.", turnover_chart),
    ("strategy", "The strategy the selector chose, session by session.", strategy_timeline),
)
"""The charts in page order: (id, caption saying how to read it, builder)."""


def _dates(index: pd.Index | pd.Series) -> list[str]:
    # Sessions are days: 10-character dates halve the page against full ISO timestamps.
    return [str(day) for day in pd.DatetimeIndex(index).strftime("%Y-%m-%d")]


def _add_line(
    fig: go.Figure, series: pd.Series, name: str, colour: str, width: float, opacity: float = 1.0, rank: int = 1000
) -> None:
    fig.add_scatter(
        x=_dates(series.index),
        y=series.to_numpy(np.float64),
        name=name,
        mode="lines",
        line={"color": colour, "width": width},
        opacity=opacity,
        legendrank=rank,
    )


def _style(fig: go.Figure, title: str, height: int, hover: str = "x unified") -> go.Figure:
    # Same side margins and the legend above the plot: the time axes of all charts line up on the page.
    return fig.update_layout(
        template="plotly_white",
        title={
            "text": title,
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": 12},
            "font": {"size": 15},
        },
        height=height,
        margin={"l": 110, "r": 110, "t": 80, "b": 40},
        hovermode=hover,
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12, "color": "#222"},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.01, "yanchor": "bottom"},
    )
