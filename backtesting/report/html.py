"""The tear sheet as one self-contained HTML page: tables, charts and inline CSS, plotly.js embedded once.

It opens offline: nothing is fetched, and every string that comes from the sheet is escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from html import escape
from numbers import Integral, Real
from pathlib import Path

import pandas as pd
import plotly.offline

from backtesting.report.charts import CHARTS
from backtesting.report.sheet import BENCHMARK, TearSheet, is_missing

logger = logging.getLogger(__name__)

MISSING = "–"
_SHARE_WORDS = ("share", "rate", "fraction")
_PERCENT_WORDS = (
    *_SHARE_WORDS, "return", "excess", "drawdown", "volatility", "cagr", "exposure", "cash", "turnover", "alpha",
    "var_", "confidence", "tracking",
)  # fmt: skip
_MONEY_WORDS = ("cost", "capital", "pnl", "profit", "fee", "commission", "equity")
_COUNT_WORDS = ("decisions", "sessions", "trades", "switches", "count", "days", "months", "years")
_ACRONYMS = {"cagr": "CAGR", "var": "VaR", "cvar": "CVaR", "pnl": "P&L"}
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def format_cell(column: str, value: object) -> str:
    """The text of one table cell, chosen by its column's name (plain text; the table escapes it).

    Missing values (None, NaN) are MISSING, an en dash. Text passes through. Numbers, by the first rule that
    matches: a name ending in a _COUNT_WORDS word without a _SHARE_WORDS word is a whole number
    ('max_drawdown_sessions'); a name containing a _PERCENT_WORDS word ('return', 'share', 'drawdown',
    'turnover', ...) is a fraction shown as a percentage (0.123 -> '12.3%'; 'share_of_sessions', 'cost_fraction');
    a _MONEY_WORDS word ('cost', 'capital', ...) is money with thousands separators (cents only below 1,000);
    an integer value or a _COUNT_WORDS word is a whole number; anything else is a ratio with two decimals.
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    name, number = column.lower(), float(value)
    last_word = name.replace(" ", "_").rsplit("_", 1)[-1]
    if last_word in _COUNT_WORDS and not any(word in name for word in _SHARE_WORDS):
        return f"{number:,.0f}"
    if any(word in name for word in _PERCENT_WORDS):
        percent = number * 100
        return f"{percent:.2f}%" if 0 < abs(percent) < 0.1 else f"{percent:,.1f}%"
    if any(word in name for word in _MONEY_WORDS):
        return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:,.2f}"
    if isinstance(value, Integral) or any(word in name for word in _COUNT_WORDS):
        return f"{number:,.0f}"
    return f"{number:,.2f}"


def render_html(sheet: TearSheet) -> str:
    """The whole page: header, notes, comparison, verdicts, charts, breakdowns, decisions, parameters."""
    title = escape(sheet.title)
    generated = sheet.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<header><h1>{title}</h1><p class='subtitle'>{escape(sheet.subtitle)}</p>"
        f"<p class='generated'>Generated {generated} · main variant: <b>{escape(sheet.main)}</b></p></header>",
        _section("Read this first", _bullets(sheet.notes, "No assumptions were recorded."), css="notes"),
        _section("Variants compared", _comparison_table(sheet)),
        _section("What the comparison says", _bullets(sheet.verdicts, "The engine wrote no verdicts.")),
        _section("Charts", _charts(sheet)),
        _section("By year", _table(sheet.by_year, "year", "Nothing to show: there is no per-year table.")),
        _section("By regime", _table(sheet.by_regime, "regime", "Nothing to show: there is no per-regime table.")),
        _section(
            "By strategy", _table(sheet.by_strategy, "strategy", "Nothing to show: there is no per-strategy table.")
        ),
        _section("Decision quality", _decision_quality(sheet)),
        _section("Parameters", _parameters(sheet.parameters)),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title><style>{_CSS}</style>\n"
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>\n"
        "</head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def write_html(sheet: TearSheet, path: Path) -> Path:
    """Render the sheet and write it to path (parents created); returns the path."""
    page = render_html(sheet)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    logger.info("wrote the tear sheet %s (%.1f MB)", path, len(page.encode("utf-8")) / 1e6)
    return path


def _section(heading: str, content: str, css: str = "") -> str:
    return f"<section class='{css}'><h2>{escape(heading)}</h2>{content}</section>"


def _bullets(lines: Sequence[str], empty: str) -> str:
    if not lines:
        return f"<p class='empty'>{escape(empty)}</p>"
    return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def _charts(sheet: TearSheet) -> str:
    parts = []
    for chart_id, caption, build in CHARTS:
        fig = build(sheet)
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{chart_id}",
            config=_PLOTLY_CONFIG,
            default_height=f"{fig.layout.height}px",
        )
        parts.append(f"<figure class='chart'>{div}<figcaption>{escape(caption)}</figcaption></figure>")
    return "".join(parts)


def _comparison_table(sheet: TearSheet) -> str:
    row_class = {sheet.main: "main", BENCHMARK: "benchmark"}
    return _table(sheet.comparison, "variant", "Nothing to show: no variants were compared.", row_class)


def _decision_quality(sheet: TearSheet) -> str:
    quality = sheet.decision_quality
    if not quality.empty and {"label", "value"} <= set(quality.columns):
        quality = quality.set_index("label")[["value"]]
    if not quality.empty and list(quality.columns) == ["value"]:
        # Each value is formatted by its own label: 'hit rate' is a percentage, 'decisions' a count.
        rows = {str(label): format_cell(str(label), value) for label, value in quality["value"].items()}
        quality_html = _key_value_table(rows)
    else:
        quality_html = _table(quality, "measure", "Nothing to show: the run recorded no decision-quality measures.")
    calibration = _table(sheet.calibration, "bin", "Nothing to show: the run recorded no calibration bins.")
    return (
        f"<div class='pair'><div><h3>Decisions</h3>{quality_html}</div>"
        f"<div><h3>Calibration (confidence against hit rate)</h3>{calibration}</div></div>"
    )


def _parameters(parameters: Mapping[str, str]) -> str:
    if not parameters:
        return "<p class='empty'>No parameters were recorded.</p>"
    return _key_value_table({str(key): str(value) for key, value in parameters.items()})


def _key_value_table(rows: Mapping[str, str]) -> str:
    cells = "".join(f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>" for key, value in rows.items())
    return f"<table class='kv'><tbody>{cells}</tbody></table>"


def _table(frame: pd.DataFrame, index_header: str, empty: str, row_class: Mapping[str, str] | None = None) -> str:
    """A numeric table: `<x>_low` / `<x>_high` beside `<x>` become 'x [lo, hi]' in one column."""
    if frame.empty:
        return f"<p class='empty'>{escape(empty)}</p>"
    columns = [str(column) for column in frame.columns]
    shown = [c for c in columns if not _is_interval_bound(c, columns)]
    # A plain 0..n-1 index says nothing: such a table is shown without its index column.
    labelled = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    headers = [index_header, *shown] if labelled else shown
    head = "".join(f"<th>{escape(_heading(c, columns))}</th>" for c in headers)
    body = []
    for label, row in zip(frame.index, frame.to_dict(orient="records"), strict=True):
        values = {str(key): value for key, value in row.items()}
        cells = "".join(_cell(c, values) for c in shown)
        css = (row_class or {}).get(str(label), "")
        label_cell = f"<th>{escape(_label(label))}</th>" if labelled else ""
        body.append(f"<tr class='{css}'>{label_cell}{cells}</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _is_interval_bound(column: str, columns: Iterable[str]) -> bool:
    base, _, bound = column.rpartition("_")
    return bound in ("low", "high") and base in columns and f"{base}_low" in columns and f"{base}_high" in columns


def _cell(column: str, values: Mapping[str, object]) -> str:
    """One <td>; with bounds it reads 'x [lo, hi]', the bracket in a span that may wrap under x."""
    text = escape(format_cell(column, values[column]))
    if text == MISSING or f"{column}_low" not in values or f"{column}_high" not in values:
        return f"<td>{text}</td>"
    low, high = (format_cell(column, values[f"{column}_{bound}"]) for bound in ("low", "high"))
    if low == MISSING and high == MISSING:
        return f"<td>{text}</td>"
    return f"<td class='interval'>{text} <span class='ci'>[{escape(low)}, {escape(high)}]</span></td>"


def _heading(column: str, columns: Sequence[str]) -> str:
    words = [_ACRONYMS.get(word, word) for word in column.split("_")]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} [interval]" if f"{column}_low" in columns and f"{column}_high" in columns else text


def _label(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


_CSS = """
body { margin: 0; background: #f4f5f7; color: #1d1f23; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; }
main { max-width: 1480px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
header h1 { margin: 0 0 4px; font-size: 26px; }
.subtitle { margin: 0; color: #4a5160; font-size: 15px; }
.generated { margin: 4px 0 0; color: #6b7280; font-size: 12.5px; }
section { margin-top: 28px; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e4e7ec; }
h3 { font-size: 14.5px; margin: 0 0 8px; }
section.notes { background: #fff8e1; border: 1px solid #f0d58c; border-left: 6px solid #e0a800;
  border-radius: 6px; padding: 12px 18px; }
section.notes h2 { border: 0; padding: 0; margin-bottom: 4px; }
section.notes ul { margin: 0; padding-left: 20px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 12.5px; }
th, td { padding: 4px 7px; border-bottom: 1px solid #e4e7ec; white-space: nowrap; }
thead th { background: #eef1f5; text-align: right; font-weight: 600; white-space: normal; vertical-align: bottom;
  min-width: 40px; }
thead th:first-child, tbody th { text-align: left; }
tbody th { font-weight: 500; }
/* A wide comparison scrolls sideways; the variant column stays in view. */
thead th:first-child, tbody th { position: sticky; left: 0; background: #fff; }
thead th:first-child { background: #eef1f5; }
tr.main th { background: #e8effa; }
td { text-align: right; }
td.interval { white-space: normal; min-width: 60px; }
.ci { white-space: nowrap; color: #5f6672; font-size: 0.88em; }
tr.main .ci { color: inherit; }
tbody tr:hover { background: #f6f8fb; }
tr.main { background: #e8effa; font-weight: 700; }
tr.benchmark { color: #4a5160; font-style: italic; }
table.kv td { text-align: left; white-space: normal; }
.pair { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
figure.chart { margin: 0 0 22px; }
figcaption { color: #6b7280; font-size: 12.5px; margin: 2px 0 0 8px; }
.empty { color: #6b7280; font-style: italic; }
"""
