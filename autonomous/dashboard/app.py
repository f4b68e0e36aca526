"""The fund's dashboard (`fund dashboard`, a Streamlit script): read-mostly pages over the configured database,
read through the store (queries.py) and cached for a few seconds. The one write is an approval decision,
through the same use case as `fund approvals approve|reject`, recorded the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import streamlit.components.v1 as components
from sqlalchemy import Engine

from autonomous.dashboard import queries, research
from trading.db.engine import make_engine
from trading.settings import FundSettings, load_settings

PAGES = (
    "Overview",
    "Positions",
    "Orders and fills",
    "Today's decision",
    "Approvals",
    "Backtests",
    "Sweeps",
    "Models",
    "Data",
)
TTL = 10  # seconds a read stays cached: fresh enough to watch a run, light on the database
TEAR_SHEET_HEIGHT = 900  # pixels of the embedded tear sheet; it scrolls inside
BARS_SHOWN = 30  # configurations drawn in a sweep's bar chart, best first


@st.cache_resource
def _engine(url: str) -> Engine:
    return make_engine(url)


def _settings() -> FundSettings:
    return load_settings(None)


@st.cache_data(ttl=TTL, show_spinner=False)
def _cached(name: str, url: str, *args: Any) -> Any:
    """The read `name` of queries.py or research.py over the database at url, cached for TTL seconds."""
    read = getattr(queries, name, None) or getattr(research, name)
    return read(_engine(url), *args)


def main() -> None:
    st.set_page_config(page_title="Autofund", layout="wide")
    settings = _settings()
    url = settings.database_url.get_secret_value()
    accounts = _cached("accounts", url)
    st.sidebar.title("Autofund")
    st.sidebar.caption(settings.database_url_for_display)
    page = st.sidebar.radio("Page", PAGES)
    account = st.sidebar.selectbox("Account", accounts) if accounts else None
    st.title(page)
    if page in ("Overview", "Positions", "Orders and fills", "Today's decision") and account is None:
        st.info("No account yet: `fund accounts create --cash 100000` creates the paper account.")
        return
    render = {
        "Overview": _overview,
        "Positions": _positions,
        "Orders and fills": _orders,
        "Today's decision": _decision,
        "Approvals": _approvals,
        "Backtests": _backtests,
        "Sweeps": _sweeps,
        "Models": _models,
        "Data": _data,
    }[page]
    render(url, settings, account)


def _overview(url: str, settings: FundSettings, account: str | None) -> None:
    view: queries.Overview = _cached("overview", url, account, settings.data.benchmark_ticker)
    columns = st.columns(4)
    columns[0].metric("Equity", "-" if view.equity is None else f"{view.equity:,.2f}")
    columns[1].metric("Cash", "-" if view.cash is None else f"{view.cash:,.2f}")
    columns[2].metric("Drawdown from peak", "-" if view.drawdown is None else f"{view.drawdown:.2%}")
    columns[3].metric("Pending approvals", view.pending_approvals)
    if view.halt:
        st.error(f"Drawdown halt {view.halt}: nothing new is bought until `fund risk resume`.")
    st.caption(f"Last {settings.data.benchmark_ticker} bar: {view.last_bar or 'none'}")
    if view.curve.empty:
        st.info("No equity recorded yet: the first `fund rebalance` records it.")
    else:
        figure = go.Figure()
        figure.add_scatter(x=view.curve.index, y=view.curve["equity"], name=account)
        if "benchmark" in view.curve:
            figure.add_scatter(x=view.curve.index, y=view.curve["benchmark"], name=settings.data.benchmark_ticker)
        figure.update_layout(title="Equity against the benchmark (the same money)", height=380)
        st.plotly_chart(figure)
    st.subheader("Last runs")
    if view.runs.empty:
        st.info("No run yet.")
    else:
        st.dataframe(view.runs, hide_index=True)


def _positions(url: str, settings: FundSettings, account: str | None) -> None:
    held, sectors = _cached("positions", url, account, settings.risk.max_sector_weight)
    if held.empty:
        st.info("No position held.")
        return
    st.dataframe(held, hide_index=True)
    st.subheader(f"Sectors against the cap ({settings.risk.max_sector_weight:.0%})")
    st.dataframe(sectors)


def _orders(url: str, settings: FundSettings, account: str | None) -> None:
    frame = _cached("orders", url, account)
    if frame.empty:
        st.info("No order yet.")
    else:
        st.dataframe(frame, hide_index=True)
    checks = _cached("reconciliations", url, account)
    if not checks.empty:
        st.subheader("Reconciliations (mismatches first)")
        st.dataframe(checks, hide_index=True)


def _decision(url: str, settings: FundSettings, account: str | None) -> None:
    record, steps = _cached("decision", url, account)
    if record is None:
        st.info("No run yet.")
        return
    st.json({k: str(v) if v is not None else None for k, v in record.items()})
    st.subheader("What each step did and why")
    # A static table wraps each note: the risk and target notes run to several lines, which a data grid cuts off.
    st.table(steps, hide_index=True)


def _approvals(url: str, settings: FundSettings, account: str | None) -> None:
    frame = _cached("approvals", url)
    if frame.empty:
        st.info("No approval requested.")
        return
    st.dataframe(frame, hide_index=True)
    pending = frame[frame["decision"] == "pending"]
    if pending.empty:
        return
    with st.form("decide"):
        chosen = st.selectbox("Approval", [int(i) for i in pending["approval"]])
        by = st.text_input("Your name")
        reason = st.text_input("Reason (required to reject)")
        verdict = st.radio("Decision", ["approve", "reject"], horizontal=True)
        if st.form_submit_button("Record the decision"):
            _decide(url, int(chosen), verdict, by, reason)


def _decide(url: str, approval_id: int, verdict: str, by: str, reason: str) -> None:
    from autonomous.daily_run import approvals as use_cases
    from trading.errors import FundError

    if not by.strip():
        st.error("Give your name: the decision is recorded with it.")
        return
    try:
        if verdict == "approve":
            use_cases.approve(_engine(url), approval_id, by.strip(), datetime.now(UTC), reason.strip() or None)
        else:
            if not reason.strip():
                st.error("A rejection needs a reason.")
                return
            use_cases.reject(_engine(url), approval_id, by.strip(), reason.strip(), datetime.now(UTC))
    except FundError as exc:
        st.error(str(exc))
        return
    st.cache_data.clear()
    st.success(f"Approval {approval_id}: {verdict}d by {by.strip()}.")


def _backtests(url: str, settings: FundSettings, account: str | None) -> None:
    chosen = _listed_and_chosen(
        _cached("backtests", url), "backtest", "No backtest stored: `fund backtest run --start D --end D`."
    )
    if chosen is None:
        return
    curves = _cached("backtest_curves", url, int(chosen))
    figure = go.Figure()
    for variant in curves.columns:
        figure.add_scatter(x=curves.index, y=curves[variant], name=str(variant))
    figure.update_layout(title=f"Backtest {chosen}: equity by variant", height=380)
    st.plotly_chart(figure)
    _tear_sheet(url, int(chosen))


def _listed_and_chosen(frame: pd.DataFrame, key: str, when_empty: str) -> int | None:
    """The stored runs as a table, then the one chosen in a select box ("id: name"); None when there are none."""
    if frame.empty:
        st.info(when_empty)
        return None
    st.dataframe(frame, hide_index=True)
    names = dict(zip(frame[key], frame["name"], strict=True))
    return int(
        st.selectbox(
            key.capitalize(), [int(i) for i in frame[key]], format_func=lambda i: f"{i}: {names[i] or 'unnamed'}"
        )
    )


def _tear_sheet(url: str, run_id: int) -> None:
    st.subheader(f"Tear sheet of backtest {run_id}")
    sheet: str = _cached("tear_sheet_html", url, run_id)
    st.caption(f"As `fund backtest report {run_id}` writes it; the page scrolls inside its frame.")
    st.download_button("Download the tear sheet (HTML)", sheet, file_name=f"backtest-{run_id}.html", mime="text/html")
    _embed(sheet, TEAR_SHEET_HEIGHT)


def _embed(page: str, height: int) -> None:
    """A whole HTML page in a scrolling frame: st.iframe where this Streamlit has it (it replaces
    components.html, which newer versions deprecate), components.html on older ones."""
    if hasattr(st, "iframe"):
        st.iframe(page, height=height)
    else:
        components.html(page, height=height, scrolling=True)


def _sweeps(url: str, settings: FundSettings, account: str | None) -> None:
    chosen = _listed_and_chosen(
        _cached("sweeps", url), "sweep", "No sweep stored: `fund sweep run SPEC.toml` (README, Sweeps)."
    )
    if chosen is None:
        return
    view: research.SweepView = _cached("sweep_view", url, int(chosen))
    st.subheader(view.title)
    if view.configurations.empty:
        st.info("No trial recorded yet: `fund sweep run` writes each trial as it finishes.")
        return
    _sweep_verdict(view)
    st.caption(f"The configurations best first, by the mean {view.metric} over their seeds and windows.")
    st.dataframe(view.configurations, hide_index=True)
    _sweep_charts(view)


def _sweep_verdict(view: research.SweepView) -> None:
    """The deflated Sharpe of the best configuration and the PBO, as `fund sweep show` states them."""
    columns = st.columns(3)
    columns[0].metric(f"Best mean {view.metric}", research.number_text(view.configurations[view.metric].iloc[0], ".4f"))
    columns[1].metric("Deflated Sharpe of the best", research.number_text(view.deflated_sharpe))
    columns[2].metric("Probability of overfitting", research.number_text(view.pbo, ".0%"))
    what = "rank IC" if view.kind == "ranker" else "daily returns"
    if view.deflated_sharpe is not None:
        st.caption(
            f"Deflated Sharpe: the probability that the Sharpe of the best configuration's {what} "
            f"({research.number_text(view.best_sharpe, '.3f')} an observation) is above zero once the choice among "
            f"{view.tried} configurations is accounted for."
        )
    if view.pbo is not None:
        st.caption(
            f"Probability of backtest overfitting (CSCV, {view.pbo_splits} splits): near 50% or more, the best "
            "configuration in one half of the sessions says little of the other half."
        )
    for note in view.notes:
        st.info(note)


def _sweep_charts(view: research.SweepView) -> None:
    ranked = view.configurations.head(BARS_SHOWN)
    bars = go.Figure()
    bars.add_bar(x=[f"#{rank}" for rank in ranked["rank"]], y=ranked[view.metric], hovertext=view.labels[:BARS_SHOWN])
    bars.update_layout(title=f"Mean {view.metric} by configuration, best first", height=340)
    # Ranks are names, not numbers: plotly would read "#3" as 3 and drop the sign.
    bars.update_xaxes(type="category", title="configuration (hover for its settings)")
    st.plotly_chart(bars)
    if view.best_series.empty:
        return
    lines = go.Figure()
    for label in view.best_series.columns:
        lines.add_scatter(x=view.best_series.index, y=view.best_series[label], name=str(label))
    lines.update_layout(
        title=f"The best configurations session by session: {research.series_label(view.kind)}",
        height=380,
        legend={"orientation": "h", "y": -0.2},
    )
    st.plotly_chart(lines)


def _models(url: str, settings: FundSettings, account: str | None) -> None:
    frame = _cached("models", url, datetime.now(UTC).date())
    if frame.empty:
        st.info("No model trained: `fund train xgboost --models all`.")
    else:
        st.dataframe(frame, hide_index=True)
    st.subheader("Which models the recent runs used")
    runs = _cached("model_runs", url)
    if runs.empty:
        st.info("No run yet: `fund rebalance` records the models it used.")
        return
    st.caption(
        "From rebalancing_log.model_versions, newest first, every account; a model still in the registry is named "
        "by its id in the table above."
    )
    st.dataframe(runs, hide_index=True)


def _data(url: str, settings: FundSettings, account: str | None) -> None:
    frame = _cached("coverage", url, settings.data.benchmark_ticker, settings.data.exchange_calendar)
    if frame.empty:
        st.info("No bars imported: `fund data demo`, `fund data import`, or `fund data update`.")
        return
    st.caption(f"{len(frame)} series; the stalest first.")
    st.dataframe(frame, hide_index=True)


# Streamlit runs this file as __main__; importing it (for PAGES) draws nothing.
if __name__ == "__main__":
    main()
