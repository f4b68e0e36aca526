"""The fund's dashboard (`fund dashboard`, a Streamlit script): read-mostly pages over the configured database,
read through the store (queries.py) and cached for a few seconds. The one write is an approval decision,
through the same use case as `fund approvals approve|reject`, recorded the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from autonomous.dashboard import queries
from trading.db.engine import make_engine
from trading.settings import FundSettings, load_settings

PAGES = (
    "Overview",
    "Positions",
    "Orders and fills",
    "Today's decision",
    "Approvals",
    "Backtests",
    "Models",
    "Data",
)
TTL = 10  # seconds a read stays cached: fresh enough to watch a run, light on the database


@st.cache_resource
def _engine(url: str) -> Engine:
    return make_engine(url)


def _settings() -> FundSettings:
    return load_settings(None)


@st.cache_data(ttl=TTL, show_spinner=False)
def _cached(name: str, url: str, *args: Any) -> Any:
    return getattr(queries, name)(_engine(url), *args)


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
        st.plotly_chart(figure, use_container_width=True)
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
    st.dataframe(steps, hide_index=True)


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
    frame = _cached("backtests", url)
    if frame.empty:
        st.info("No backtest stored: `fund backtest run --start D --end D`.")
        return
    st.dataframe(frame, hide_index=True)
    chosen = st.selectbox("Backtest", [int(i) for i in frame["backtest"]])
    curves = _cached("backtest_curves", url, int(chosen))
    figure = go.Figure()
    for variant in curves.columns:
        figure.add_scatter(x=curves.index, y=curves[variant], name=str(variant))
    figure.update_layout(title=f"Backtest {chosen}: equity by variant", height=380)
    st.plotly_chart(figure, use_container_width=True)
    st.caption(f"The full tear sheet: `fund backtest report {chosen} --output sheet.html`.")


def _models(url: str, settings: FundSettings, account: str | None) -> None:
    frame = _cached("models", url, datetime.now(UTC).date())
    if frame.empty:
        st.info("No model trained: `fund train xgboost --models all`.")
        return
    st.dataframe(frame, hide_index=True)


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
