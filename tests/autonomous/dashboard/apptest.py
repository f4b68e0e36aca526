"""Driving the dashboard's script with Streamlit's AppTest: open a page from the sidebar, read what it says."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import UnknownElement

APP = Path(__file__).resolve().parents[3] / "autonomous" / "dashboard" / "app.py"


def page(name: str) -> AppTest:
    """The app run to the page of that name, with fresh caches, having raised nothing."""
    # The caches outlive one AppTest: a PostgreSQL URL is the same from one test to the next.
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    app.sidebar.radio[0].set_value(name).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    """Every info, error and caption line of the page."""
    return "\n".join([e.value for e in app.info] + [e.value for e in app.error] + [e.value for e in app.caption])


def frames(app: AppTest) -> list[str]:
    """The HTML of each embedded frame (st.iframe or components.html) of the page."""
    found = app.get("iframe")
    return [e.proto.srcdoc for e in found if isinstance(e, UnknownElement)]
