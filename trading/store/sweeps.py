"""The sweep tables: a sweep by name (created, or resumed by a rerun of the same name), and its trials, one row
each, replaced when a failed trial is run again."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, func, insert, select, update

from trading.db.schema import Sweep, SweepTrial, utcnow
from trading.errors import ConfigurationError, FundError
from trading.store import Bind, connection_for

logger = logging.getLogger(__name__)

_SWEEPS = select(Sweep.__table__)


class UnknownSweep(FundError):
    """No sweep has that id or name."""


@dataclass(frozen=True)
class SweepRecord:
    id: int
    name: str
    kind: str
    metric: str
    direction: str
    search: str
    spec: dict[str, Any]
    code_version: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TrialRecord:
    id: int
    trial_key: str
    configuration: str
    settings: dict[str, Any]
    seed: int
    window_start: date
    window_end: date
    status: str
    metric_value: float | None
    metrics: dict[str, Any]
    series: dict[str, Any]
    model_ids: list[int]
    error: str | None
    duration_seconds: float
    timings: dict[str, float]
    worker: str
    code_version: str
    finished_at: datetime


def open_sweep(
    bind: Bind, *, name: str, kind: str, metric: str, direction: str, search: str, spec: Mapping[str, Any], code: str
) -> SweepRecord:
    """The sweep of that name, created or (a rerun) updated to the spec as run now. A rerun may add values
    or seeds; it may not change what its trials are (the kind) or how they rank (metric, direction)."""
    with connection_for(bind) as connection:
        stored = connection.execute(_SWEEPS.where(Sweep.name == name)).mappings().first()
        if stored is None:
            values = dict(name=name, kind=kind, metric=metric, direction=direction, search=search, spec=dict(spec)) | {
                "code_version": code,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
            connection.execute(insert(Sweep).values(**values))
        else:
            changed = [
                f"{what} {old!r} -> {new!r}"
                for what, old, new in (
                    ("kind", stored["kind"], kind),
                    ("metric", stored["metric"], metric),
                    ("direction", stored["direction"], direction),
                )
                if old != new
            ]
            if changed:
                raise ConfigurationError(
                    f"sweep {name!r} (id {stored['id']}) already exists with other terms ({'; '.join(changed)}): "
                    "give the new sweep another name"
                )
            connection.execute(
                update(Sweep)
                .where(Sweep.id == stored["id"])
                .values(spec=dict(spec), search=search, code_version=code, updated_at=utcnow())
            )
        return _sweep(connection.execute(_SWEEPS.where(Sweep.name == name)).mappings().one())


def get_sweep(bind: Bind, reference: str | int) -> SweepRecord:
    """A sweep by id (a number) or by name."""
    with connection_for(bind) as connection:
        query = _SWEEPS
        if isinstance(reference, int) or str(reference).isdigit():
            query = query.where(Sweep.id == int(reference))
        else:
            query = query.where(Sweep.name == reference)
        row = connection.execute(query).mappings().one_or_none()
    if row is None:
        raise UnknownSweep(f"no sweep {reference!r}: `fund sweep list` shows the sweeps")
    return _sweep(row)


def list_sweeps(bind: Bind) -> list[tuple[SweepRecord, dict[str, int]]]:
    """Every sweep, newest first, with its trials counted by status."""
    with connection_for(bind) as connection:
        sweeps = connection.execute(_SWEEPS.order_by(Sweep.id.desc())).mappings().all()
        counts = connection.execute(
            select(SweepTrial.sweep_id, SweepTrial.status, func.count()).group_by(
                SweepTrial.sweep_id, SweepTrial.status
            )
        ).all()
    by_sweep: dict[int, dict[str, int]] = {}
    for sweep_id, status, number in counts:
        by_sweep.setdefault(sweep_id, {})[status] = int(number)
    return [(_sweep(row), by_sweep.get(row["id"], {})) for row in sweeps]


def sweep_trials(bind: Bind, sweep_id: int) -> list[TrialRecord]:
    """The sweep's trials, in the order they finished."""
    with connection_for(bind) as connection:
        rows = connection.execute(
            select(SweepTrial.__table__).where(SweepTrial.sweep_id == sweep_id).order_by(SweepTrial.id)
        ).mappings()
        return [_trial(row) for row in rows]


def done_trial_keys(bind: Bind, sweep_id: int) -> set[str]:
    with connection_for(bind) as connection:
        keys = connection.execute(
            select(SweepTrial.trial_key).where(SweepTrial.sweep_id == sweep_id, SweepTrial.status == "done")
        ).scalars()
        return set(keys)


def record_trial(bind: Bind, sweep_id: int, row: Mapping[str, Any]) -> None:
    """Writes a trial's row; a row of the same key (a failed attempt) is replaced."""
    with connection_for(bind) as connection:
        connection.execute(
            delete(SweepTrial).where(SweepTrial.sweep_id == sweep_id, SweepTrial.trial_key == row["trial_key"])
        )
        connection.execute(insert(SweepTrial).values(sweep_id=sweep_id, finished_at=utcnow(), **row))


def _sweep(row: RowMapping) -> SweepRecord:
    return SweepRecord(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        metric=row["metric"],
        direction=row["direction"],
        search=row["search"],
        spec=dict(row["spec"]),
        code_version=row["code_version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _trial(row: RowMapping) -> TrialRecord:
    return TrialRecord(
        id=row["id"],
        trial_key=row["trial_key"],
        configuration=row["configuration"],
        settings=dict(row["settings"]),
        seed=row["seed"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        status=row["status"],
        metric_value=row["metric_value"],
        metrics=dict(row["metrics"]),
        series=dict(row["series"]),
        model_ids=list(row["model_ids"]),
        error=row["error"],
        duration_seconds=row["duration_seconds"],
        timings=dict(row["timings"]),
        worker=row["worker"],
        code_version=row["code_version"],
        finished_at=row["finished_at"],
    )
