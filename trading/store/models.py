"""The model registry: trained rankers and agents with their window, inputs, parameters and metrics.

A model's version is derived from its window and its bytes (`20050101-20141231-<sha256[:12]>`), so
storing the same model twice finds the first copy instead of adding a twin. Which model is
"newest" is decided by the training window first (the latest `train_end`), then by when it was
stored: a backtest at date t asks for the newest model trained before t, and must not get one
that saw t.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import Row, func, insert, select, update

from trading.db.schema import ModelArtifact
from trading.errors import FundError
from trading.store import Bind, connection_for

logger = logging.getLogger(__name__)

ModelKind = Literal["xgboost_ranker", "ppo_agent"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
RANKER: ModelKind = "xgboost_ranker"
AGENT: ModelKind = "ppo_agent"


class UnknownModel(FundError):
    """No stored model has that id."""


class CorruptModel(FundError):
    """A stored model's bytes no longer match the sha256 recorded with them."""


@dataclass(frozen=True)
class ModelRecord:
    """One row of model_artifacts without its bytes (those are read on demand by `load_artifact`)."""

    id: int
    kind: str
    strategy: str
    version: str
    train_start: date
    train_end: date
    feature_set: list[str]
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    sha256: str
    size_bytes: int
    created_at: datetime

    def age(self, now: datetime | None = None) -> str:
        """How long ago it was stored, for people: '3 d', '5 h', '12 min'."""
        seconds = max(0.0, ((now or datetime.now(UTC)) - self.created_at).total_seconds())
        for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
            if seconds >= size:
                return f"{int(seconds // size)} {unit}"
        return f"{int(seconds)} s"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.strategy}/{self.version}"


_SUMMARY_COLUMNS = (
    ModelArtifact.id,
    ModelArtifact.kind,
    ModelArtifact.strategy,
    ModelArtifact.version,
    ModelArtifact.train_start,
    ModelArtifact.train_end,
    ModelArtifact.feature_set,
    ModelArtifact.parameters,
    ModelArtifact.metrics,
    ModelArtifact.sha256,
    ModelArtifact.created_at,
)


# The parameter naming the sweep whose trial trained a model (backtesting/sweeps/writing.py).
SWEEP_LINEAGE = "sweep"


def sha256_of(artifact: bytes) -> str:
    return hashlib.sha256(artifact).hexdigest()


def model_version(train_start: date, train_end: date, sha256: str) -> str:
    return f"{train_start:%Y%m%d}-{train_end:%Y%m%d}-{sha256[:12]}"


def save_model(
    bind: Bind,
    *,
    kind: ModelKind,
    strategy: str,
    train_start: date,
    train_end: date,
    feature_set: Sequence[str],
    parameters: Mapping[str, Any],
    metrics: Mapping[str, Any],
    artifact: bytes,
) -> ModelRecord:
    """Stores a model and returns its record; the same bytes for the same window return the stored copy."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    if train_end < train_start:
        raise ValueError(f"training window ends ({train_end}) before it starts ({train_start})")
    if not artifact:
        raise ValueError(f"{kind}/{strategy}: refusing to store an empty artifact")
    digest = sha256_of(artifact)
    version = model_version(train_start, train_end, digest)
    with connection_for(bind) as connection:
        existing = connection.execute(
            select(*_SUMMARY_COLUMNS, _SIZE).where(
                ModelArtifact.kind == kind, ModelArtifact.strategy == strategy, ModelArtifact.version == version
            )
        ).first()
        if existing is not None:
            logger.info("%s/%s/%s is already stored (id %d)", kind, strategy, version, existing.id)
            return _record(existing)
        new_id = connection.execute(
            insert(ModelArtifact)
            .values(
                kind=kind,
                strategy=strategy,
                version=version,
                train_start=train_start,
                train_end=train_end,
                feature_set=list(feature_set),
                parameters=dict(parameters),
                metrics=dict(metrics),
                artifact=artifact,
                sha256=digest,
                created_at=datetime.now(UTC),
            )
            .returning(ModelArtifact.id)
        ).scalar_one()
        row = connection.execute(select(*_SUMMARY_COLUMNS, _SIZE).where(ModelArtifact.id == new_id)).one()
    logger.info("stored %s/%s/%s (%d bytes)", kind, strategy, version, len(artifact))
    return _record(row)


def list_models(bind: Bind, *, kind: str | None = None, strategy: str | None = None) -> list[ModelRecord]:
    """Every stored model (optionally of one kind or strategy), by kind and strategy, newest first."""
    query = select(*_SUMMARY_COLUMNS, _SIZE)
    if kind is not None:
        query = query.where(ModelArtifact.kind == kind)
    if strategy is not None:
        query = query.where(ModelArtifact.strategy == strategy)
    query = query.order_by(ModelArtifact.kind, ModelArtifact.strategy, *_NEWEST_FIRST)
    with connection_for(bind) as connection:
        return [_record(row) for row in connection.execute(query)]


def newest_models(
    bind: Bind,
    kind: ModelKind,
    strategy: str,
    *,
    trained_before: date | None = None,
    include_sweep_trials: bool = False,
) -> list[ModelRecord]:
    """The models of a kind and strategy, newest first; with `trained_before`, only those whose
    training window ended strictly before that date (what a decision on that date may use).

    A sweep's trial models (parameters[SWEEP_LINEAGE]) are left out unless asked for: they are
    experiments with whatever settings the sweep tried (another horizon, objective or reward), and
    would otherwise become the newest model the daily run, `fund train ppo` and `fund models evaluate`
    pick up."""
    query = select(*_SUMMARY_COLUMNS, _SIZE).where(ModelArtifact.kind == kind, ModelArtifact.strategy == strategy)
    if trained_before is not None:
        query = query.where(ModelArtifact.train_end < trained_before)
    with connection_for(bind) as connection:
        records = [_record(row) for row in connection.execute(query.order_by(*_NEWEST_FIRST))]
    return records if include_sweep_trials else [record for record in records if SWEEP_LINEAGE not in record.parameters]


def find_model(
    bind: Bind,
    kind: ModelKind,
    strategy: str,
    *,
    train_start: date,
    train_end: date,
    feature_set: Sequence[str],
    parameters: Mapping[str, Any],
) -> ModelRecord | None:
    """The newest stored model of a kind and strategy trained on exactly [train_start, train_end] with
    these inputs, whose parameters hold every key of `parameters` with an equal value; None if none.

    How a model trained once is found again instead of being retrained. Keys the caller leaves out
    (lineage such as which backtest trained it) do not matter. Values compare as JSON, the form they
    are stored in: a tuple equals a list, 50 equals 50.0.
    """
    query = select(*_SUMMARY_COLUMNS, _SIZE).where(
        ModelArtifact.kind == kind,
        ModelArtifact.strategy == strategy,
        ModelArtifact.train_start == train_start,
        ModelArtifact.train_end == train_end,
    )
    wanted_inputs = list(feature_set)
    wanted = _as_json(dict(parameters))
    with connection_for(bind) as connection:
        for row in connection.execute(query.order_by(*_NEWEST_FIRST)):
            record = _record(row)
            stored = _as_json(record.parameters)
            if record.feature_set == wanted_inputs and all(
                key in stored and stored[key] == value for key, value in wanted.items()
            ):
                return record
    return None


def _as_json(parameters: dict[str, Any]) -> dict[str, Any]:
    # JSON and JSONB hand back lists for tuples and may drop the distinction between 50 and 50.0;
    # comparing both sides in that form (Python's 50 == 50.0) makes the match backend-independent.
    normalised: dict[str, Any] = json.loads(json.dumps(parameters, default=str))
    return normalised


def get_model(bind: Bind, model_id: int) -> ModelRecord:
    with connection_for(bind) as connection:
        row = connection.execute(select(*_SUMMARY_COLUMNS, _SIZE).where(ModelArtifact.id == model_id)).first()
    if row is None:
        raise UnknownModel(f"no stored model has id {model_id}")
    return _record(row)


def load_artifact(bind: Bind, record: ModelRecord) -> bytes:
    """The model's bytes, after checking them against the stored sha256."""
    with connection_for(bind) as connection:
        artifact = connection.execute(
            select(ModelArtifact.artifact).where(ModelArtifact.id == record.id)
        ).scalar_one_or_none()
    if artifact is None:
        raise UnknownModel(f"{record.label} (id {record.id}) is no longer stored")
    digest = sha256_of(bytes(artifact))
    if digest != record.sha256:
        raise CorruptModel(
            f"{record.label} (id {record.id}): the bytes hash to {digest[:12]}…, not {record.sha256[:12]}…"
        )
    return bytes(artifact)


EVALUATIONS = "evaluations"
IMPORTANCE = "importance"


def add_evaluation(
    bind: Bind, model_id: int, name: str, evaluation: Mapping[str, Any], *, section: str = EVALUATIONS
) -> ModelRecord:
    """Adds (or replaces) one named evaluation under metrics[section]: a later held-out window under
    'evaluations', a permutation importance under 'importance' (kept apart: it holds no rank IC summary)."""
    with connection_for(bind) as connection:
        record = get_model(connection, model_id)
        metrics = dict(record.metrics)
        metrics[section] = {**metrics.get(section, {}), name: dict(evaluation)}
        connection.execute(update(ModelArtifact).where(ModelArtifact.id == model_id).values(metrics=metrics))
        return get_model(connection, model_id)


_NEWEST_FIRST = (ModelArtifact.train_end.desc(), ModelArtifact.created_at.desc(), ModelArtifact.id.desc())


# Measured in the database: listing models must not read every artifact's bytes.
_SIZE = func.length(ModelArtifact.artifact).label("size_bytes")


def _record(row: Row[Any]) -> ModelRecord:
    m = row._mapping
    return ModelRecord(
        id=m["id"],
        kind=m["kind"],
        strategy=m["strategy"],
        version=m["version"],
        train_start=m["train_start"],
        train_end=m["train_end"],
        feature_set=list(m["feature_set"] or []),
        parameters=dict(m["parameters"] or {}),
        metrics=dict(m["metrics"] or {}),
        sha256=m["sha256"],
        size_bytes=int(m["size_bytes"] or 0),
        created_at=m["created_at"],
    )
