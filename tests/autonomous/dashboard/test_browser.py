"""The dashboard as a browser shows it: `fund dashboard` started for real over a fund with runs, and its
overview page rendered by headless Chromium into a screenshot (kept for a person to look at). Skips where
Chromium or its driver is not installed (Debian: apt-get install chromium chromium-driver)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from autonomous.cli.app import fund
from tests.autonomous import conftest as market_fixtures
from trading.marketdata.calendar import TradingCalendar
from trading.store.accounts import create_paper_account

sqlite_market_template = market_fixtures.sqlite_market_template
postgres_market_tables = market_fixtures.postgres_market_tables
market = market_fixtures.market

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("FUND_SCREENSHOT_DIR", "screenshots"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None or DRIVER is None, reason="headless Chromium and chromedriver not installed"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# One browser run is enough: the pages' reads are tested on both databases with AppTest.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_overview_page_renders_in_a_browser(market: Engine, database_url: str, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    create_paper_account(market, "PAPER_AUTONOMOUS_FUND", Decimal("100000"))
    for stamp in TradingCalendar.from_database(market, "SPY").history[-3:]:
        result = CliRunner().invoke(
            fund, ["--log-level", "WARNING", "rebalance", "--use-mock", "--date", str(stamp.date())]
        )
        assert result.exit_code == 0, result.output
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("fund")), "dashboard", "--port", str(port)],
        env=os.environ | {"FUND_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                time.sleep(1)
        driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            metrics = []
            while time.monotonic() < deadline and len(metrics) < 4:
                time.sleep(1)
                metrics = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')
            assert len(metrics) == 4, driver.page_source[:2000]
            assert "Equity" in metrics[0].text
            # The chart is drawn after the figures above it: wait for it as for them.
            charts = []
            while time.monotonic() < deadline and not charts:
                charts = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
                if not charts:
                    time.sleep(1)
            assert charts, driver.page_source[:2000]
            time.sleep(2)  # let the chart finish drawing before the picture
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            picture = SCREENSHOTS / "dashboard-overview.png"
            assert driver.save_screenshot(str(picture))
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert picture.stat().st_size > 20_000  # a drawn page, not a blank one
