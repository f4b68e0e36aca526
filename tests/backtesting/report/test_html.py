"""The tear sheet's HTML page and JSON form, rendered from a small synthetic TearSheet."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from backtesting.report import TearSheet, render_html, render_json, write_html, write_json
from backtesting.report.charts import CHARTS, equity_chart, strategy_timeline
from backtesting.report.html import format_cell

REGIMES = ("bull_low_vol", "bull_high_vol", "bear_high_vol", "sideways")
STRATEGIES = ("growth_large", "value_small", "dividend", "defensive")


def labelled_runs(labels: tuple[str, ...], runs: int, sessions: int, rng: np.random.Generator) -> np.ndarray:
    """`runs` contiguous blocks of random lengths; neighbouring blocks never share a label."""
    cuts = np.sort(rng.choice(np.arange(1, sessions), size=runs - 1, replace=False))
    lengths = np.diff(np.r_[0, cuts, sessions])
    return np.repeat([labels[i % len(labels)] for i in range(runs)], lengths)


def make_sheet(
    sessions: int = 300,
    variants: int = 3,
    regime_runs: int = 6,
    strategy_runs: int = 12,
    title: str = "Run 12",
    calibration: bool = True,
    seed: int = 7,
) -> TearSheet:
    """A complete sheet with random-walk equity; the main variant is 'selector', always with 'benchmark'."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2019-01-02", periods=sessions)
    names = ["selector", "benchmark", *(f"fixed_{STRATEGIES[i % 4]}_{i}" for i in range(variants - 2))]
    returns = rng.normal(0.0004, 0.011, size=(sessions, variants))
    returns[0] = 0.0
    equity = pd.DataFrame(100_000 * np.cumprod(1 + returns, axis=0), index=days, columns=names)
    exposure = rng.uniform(0.6, 1.0, sessions)
    frame = pd.DataFrame(
        {
            "equity": equity["selector"],
            "benchmark": equity["benchmark"],
            "cash": 1 - exposure,
            "exposure": exposure,
            "turnover": rng.uniform(0, 0.05, sessions),
            "costs": rng.uniform(0, 30, sessions),
            "regime": labelled_runs(REGIMES, regime_runs, sessions, rng),
            "strategy": labelled_runs(STRATEGIES, strategy_runs, sessions, rng),
        },
        index=days,
    )
    comparison = pd.DataFrame(
        {
            "total_return": rng.uniform(-0.2, 0.8, variants),
            "sharpe": rng.uniform(-0.5, 1.5, variants),
            "max_drawdown": rng.uniform(-0.4, -0.05, variants),
            "costs_paid": rng.uniform(1_000, 20_000, variants),
            "deflated_sharpe": [np.nan, *rng.uniform(0, 1, variants - 1)],
        },
        index=names,
    )
    comparison["sharpe_low"] = comparison["sharpe"] - 0.6
    comparison["sharpe_high"] = comparison["sharpe"] + 0.6
    by_year = pd.DataFrame({"return": equity["selector"].resample("YE").last().pct_change().to_numpy()})
    by_year.index = pd.Index(sorted(set(days.year)), name="year")
    bins = pd.DataFrame(
        {
            "low": [0.5, 0.6],
            "high": [0.6, 0.7],
            "decisions": [40, 25],
            "mean_confidence": [0.55, 0.64],
            "hit_rate": [0.52, 0.6],
        }
    )
    return TearSheet(
        title=title,
        subtitle=f"run 12 · {days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d} · {sessions} sessions · mock generator",
        parameters={"capital": "100,000", "costs": "5 bp per side", "seed": str(seed)},
        notes=["Orders fill at the next session's open.", "The universe is survivorship-biased: today's members."],
        main="selector",
        sessions=frame,
        equity=equity,
        comparison=comparison,
        verdicts=["The selector beat the benchmark's Sharpe in 3 of 4 regimes."],
        by_year=by_year,
        by_regime=pd.DataFrame({"sessions": frame["regime"].value_counts(), "excess_return": 0.01}),
        by_strategy=pd.DataFrame({"share_of_sessions": frame["strategy"].value_counts(normalize=True)}),
        decision_quality=pd.DataFrame({"label": ["decisions", "hit rate"], "value": [65, 0.55]}),
        calibration=bins if calibration else bins.iloc[0:0],
        generated_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def sheet() -> TearSheet:
    return make_sheet()


@pytest.fixture(scope="module")
def page(sheet: TearSheet) -> str:
    return render_html(sheet)


def test_the_page_fetches_nothing_from_the_network(page: str) -> None:
    # plotly.js itself holds link strings (map attributions, its CDN default) for features never used here.
    outside_plotly_js = page.replace(get_plotlyjs(), "")
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert "<link" not in outside_plotly_js
    assert not re.search(r"""(src|href)\s*=""", outside_plotly_js)
    assert "http" not in outside_plotly_js
    assert "cdn." not in outside_plotly_js.lower()  # a host name; a bare "cdn" turns up in base64 chart data


def test_the_page_embeds_plotly_js_exactly_once(page: str) -> None:
    assert page.count(get_plotlyjs()[:300]) == 1


def test_a_title_with_a_script_tag_is_escaped() -> None:
    page = render_html(make_sheet(title="<script>alert(1)</script> & co"))
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page


def test_a_missing_number_is_shown_as_a_dash(page: str) -> None:
    assert "<td>–</td>" in page  # the main variant has no deflated Sharpe


def test_a_fraction_is_a_percentage_and_an_interval_is_value_low_high(sheet: TearSheet, page: str) -> None:
    row = sheet.comparison.loc["selector"]
    assert f"<td>{row['total_return'] * 100:,.1f}%</td>" in page
    interval = f"{row['sharpe']:.2f} [{row['sharpe_low']:.2f}, {row['sharpe_high']:.2f}]"
    assert f"<td class='interval'>{interval}</td>" in re.sub(r"</?span[^>]*>", "", page)
    assert "Sharpe low" not in page  # the bounds are folded into the Sharpe column


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [
        ("max_drawdown", -0.2345, "-23.4%"),
        ("max_drawdown_sessions", 131.0, "131"),
        ("share_of_sessions", 0.25, "25.0%"),
        ("costs_fraction", 0.0004, "0.04%"),
        ("hit_rate", 0.5, "50.0%"),
        ("costs_paid", 12345.678, "12,346"),
        ("costs", 12.345, "12.35"),
        ("decisions", 1200, "1,200"),
        ("sharpe", 1.234, "1.23"),
        ("beta", float("nan"), "–"),
        ("regime", "bull_low_vol", "bull_low_vol"),
    ],
)
def test_a_cell_is_formatted_by_its_column_name(column: str, value: object, text: str) -> None:
    assert format_cell(column, value) == text


def test_every_chart_has_its_own_div(page: str) -> None:
    assert page.count('class="plotly-graph-div"') == len(CHARTS)
    for chart_id, _, _ in CHARTS:
        assert page.count(f'id="chart-{chart_id}"') == 1


def test_regime_bands_are_one_shape_per_contiguous_run(sheet: TearSheet) -> None:
    regime = sheet.sessions["regime"]
    runs = int((regime != regime.shift()).sum())
    assert runs == 6
    assert len(equity_chart(sheet).layout.shapes) == runs


def test_hundreds_of_strategy_switches_stay_one_trace_per_strategy() -> None:
    sheet = make_sheet(sessions=600, strategy_runs=250)
    assert len(strategy_timeline(sheet).data) == len(STRATEGIES)


def test_the_json_form_round_trips_with_null_for_nan(sheet: TearSheet) -> None:
    document = json.loads(render_json(sheet))
    assert document["main"] == "selector"
    assert document["comparison"][0]["variant"] == "selector"
    assert document["comparison"][0]["deflated_sharpe"] is None
    assert document["sessions"][0]["session"] == "2019-01-02"
    assert len(document["sessions"]) == len(sheet.sessions)
    assert document["decision_quality"] == [{"label": "decisions", "value": 65}, {"label": "hit rate", "value": 0.55}]
    assert render_json(sheet) == render_json(sheet)


def test_an_empty_calibration_says_there_is_nothing_to_show() -> None:
    page = render_html(make_sheet(calibration=False))
    assert "Nothing to show: the run recorded no calibration bins." in page


def test_a_sheet_without_the_session_columns_is_refused(sheet: TearSheet) -> None:
    with pytest.raises(ValueError, match="regime"):
        replace(sheet, sessions=sheet.sessions.drop(columns="regime"))


def test_the_writers_create_the_files(sheet: TearSheet, tmp_path: Path) -> None:
    html_path = write_html(sheet, tmp_path / "out" / "sheet.html")
    json_path = write_json(sheet, tmp_path / "out" / "sheet.json")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert json.loads(json_path.read_text(encoding="utf-8"))["title"] == "Run 12"
