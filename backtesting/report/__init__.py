"""The backtest's tear sheet: a TearSheet (plain data the engine fills) rendered as one offline HTML page
or as JSON."""

from backtesting.report.html import render_html, write_html
from backtesting.report.json_form import render_json, write_json
from backtesting.report.sheet import TearSheet

__all__ = ["TearSheet", "render_html", "render_json", "write_html", "write_json"]
