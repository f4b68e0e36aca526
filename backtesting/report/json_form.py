"""The tear sheet as JSON, for machines: the same content as the HTML page, raw numbers instead of text.

Keys come in a fixed order, frames become lists of records (dates as ISO strings) and NaN becomes null.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from backtesting.report.sheet import TearSheet, is_missing

logger = logging.getLogger(__name__)

FORMAT = "autofund.tearsheet/1"


def render_json(sheet: TearSheet) -> str:
    """The sheet as an indented JSON document; the same sheet always gives the same text."""
    document = {
        "format": FORMAT,
        "title": sheet.title,
        "subtitle": sheet.subtitle,
        "generated_at": sheet.generated_at.isoformat(),
        "main": sheet.main,
        "notes": list(sheet.notes),
        "verdicts": list(sheet.verdicts),
        "comparison": frame_records(sheet.comparison, "variant"),
        "sessions": frame_records(sheet.sessions, "session"),
        "equity": frame_records(sheet.equity, "session"),
        "by_year": frame_records(sheet.by_year, "year"),
        "by_regime": frame_records(sheet.by_regime, "regime"),
        "by_strategy": frame_records(sheet.by_strategy, "strategy"),
        "decision_quality": frame_records(sheet.decision_quality, "label"),
        "calibration": frame_records(sheet.calibration, "bin"),
        "parameters": {str(key): str(value) for key, value in sheet.parameters.items()},
    }
    # allow_nan=False: a NaN that slipped past _plain fails here instead of writing invalid JSON.
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False)


def write_json(sheet: TearSheet, path: Path) -> Path:
    """Render the sheet as JSON and write it to path (parents created); returns the path."""
    text = render_json(sheet)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    logger.info("wrote the tear sheet's JSON %s (%.1f MB)", path, len(text.encode("utf-8")) / 1e6)
    return path


def frame_records(frame: pd.DataFrame, index_key: str) -> list[dict[str, object]]:
    """One dict per row, the index first under index_key (left out when it is a plain 0..n-1 range)."""
    keep_index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    columns = [str(column) for column in frame.columns]
    records = []
    for label, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        record: dict[str, object] = {index_key: _plain(label)} if keep_index else {}
        record |= {column: _plain(value) for column, value in zip(columns, values, strict=True)}
        records.append(record)
    return records


def _plain(value: object) -> object:
    """A JSON-native value: numpy scalars unboxed, non-finite numbers and missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if is_missing(value) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, pd.Timestamp):
        # Sessions are days: a midnight without a zone is a date, anything else keeps its time.
        return value.date().isoformat() if value == value.normalize() and value.tzinfo is None else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
