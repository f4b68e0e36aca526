"""`fund dashboard`: the Streamlit app over the configured database (autonomous/dashboard/app.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from autonomous.cli.context import AppContext, fails_cleanly, pass_app
from trading.errors import ConfigurationError

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; keep 127.0.0.1 unless it sits behind authentication (README).",
)
@pass_app
@fails_cleanly
def dashboard(app: AppContext, port: int, host: str) -> None:
    """Start the dashboard: equity, positions, orders, today's decision, approvals, backtests, sweeps, models, data."""
    try:
        import streamlit  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError("Streamlit is not installed: pip install 'autofund[dashboard]'") from exc
    app.migrated_engine()  # a database at the wrong schema is said here, not in the browser
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    click.echo(f"dashboard on http://{host}:{port} over {app.settings.database_url_for_display} (Ctrl-C stops it)")
    os.execv(sys.executable, command)
