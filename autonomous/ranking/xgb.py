"""The XGBoost ranker of one strategy: fit, purged walk-forward validation, serialised bytes.

xgboost is imported inside the functions that need it, so `fund --help` and a mock run stay fast.

Objective (models.ranker.objective). By default a regression of the forward excess return
(autonomous/ranking/dataset.py): its prediction is read both as a ranking and as a sign (the generator
keeps positive predictions only). A ranking objective (rank:pairwise, rank:ndcg) treats each sample
date as a query group and learns only the order of its names: its score has no sign and no unit, so
whoever selects by it takes the top N by score (`RankerModel.predicts_returns`, rl_trading/slots.py).
rank:pairwise scores every pair of a date's names whose labels differ (RankNet over the whole
cross-section, the analogue of the rank IC); rank:ndcg weighs the pairs by how much they move the
date's NDCG (LambdaMART, concentrating on the top, where a top-N portfolio buys), and reads graded
labels: each date's excess returns cut into `rank_label_bins` quantile bins.

Monotone constraints (models.ranker.monotone, MONOTONE). "baselines": the prediction may only rise with
the inputs the factor baselines rank by higher-is-better and only fall with the one they rank by
lower-is-better (autonomous/ranking/baselines.py: 12-1 momentum up, 60-session volatility down,
distance to the 200-session average up); "factors": those and the other long-horizon inputs with the
same direction in the factor literature (6- and 12-month momentum up, 20-session volatility down,
distance below the 52-week high up). The short-horizon inputs (1- and 3-month momentum, RSI, distance
to the 50-session average) are left free: at those horizons momentum and reversal compete, so no
direction is assumed. Every constrained input is a price input, read by every feature-set variant.

Seed ensembles (models.ranker.ensemble). K boosters fitted on the same rows with seeds seed..seed+K-1
(they differ through row and column subsampling), their predictions averaged. A `RankerModel` holds one
booster or K; its bytes are a single booster's UBJSON, as every ranker stored before ensembles, or for
K > 1 a zip of the K boosters' UBJSON and a manifest, so one model is still one artifact.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autonomous.ranking.baselines import (
    FACTOR_BASELINES,
    BaselineComparison,
    baseline_scores,
    compare_with_baselines,
)
from autonomous.ranking.dataset import RANKER_FEATURES, RankerData
from autonomous.ranking.late_joiners import LateJoinerSplit, split_late_joiners
from autonomous.ranking.metrics import RankingMetrics, ranking_metrics
from autonomous.ranking.walk_forward import Fold, labelled_by, walk_forward_folds
from trading.errors import DataError
from trading.settings import RankerSettings

if TYPE_CHECKING:
    import xgboost

logger = logging.getLogger(__name__)

# One thread: the training sets are small (tens of thousands of rows), and on a two-core machine
# with anything else running, two OpenMP threads spin-wait on each other: 200 trees on 3,000 rows
# took 3.3 s with two threads against 0.2 s with one. Results do not depend on it.
THREADS = 1


REGRESSION = "reg:squarederror"

# Per models.ranker.monotone: input -> +1 (the prediction never falls as it rises) or -1 (never rises).
_BASELINE_DIRECTIONS: dict[str, int] = {column: int(sign) for column, sign in FACTOR_BASELINES.values()}
MONOTONE: dict[str, dict[str, int]] = {
    "none": {},
    "baselines": _BASELINE_DIRECTIONS,
    "factors": {
        **_BASELINE_DIRECTIONS,
        "mom_126_rank": 1,
        "mom_252_rank": 1,
        "vol_20_rank": -1,
        "drawdown_52w_rank": 1,
    },
}


def booster_parameters(settings: RankerSettings, *, seed: int | None = None) -> dict[str, Any]:
    """xgboost's parameters for one booster (`seed`: an ensemble member's, default settings.seed). The
    constraints enter only when there are some, so a default booster's parameters are the ones recorded
    before the options existed."""
    parameters: dict[str, Any] = {
        "objective": settings.objective,
        "tree_method": "hist",
        "max_depth": settings.max_depth,
        "eta": settings.learning_rate,
        "subsample": settings.subsample,
        "colsample_bytree": settings.colsample_bytree,
        "min_child_weight": settings.min_child_weight,
        "seed": settings.seed if seed is None else seed,
        "nthread": THREADS,
        "verbosity": 0,
    }
    constraints = MONOTONE[settings.monotone]
    if constraints:
        # By feature name: xgboost maps the names onto the matrix's columns, whatever the variant's inputs.
        parameters["monotone_constraints"] = dict(constraints)
    return parameters


def ensemble_seeds(settings: RankerSettings) -> list[int]:
    return [settings.seed + member for member in range(settings.ensemble)]


def recorded_boosters(settings: RankerSettings) -> dict[str, Any] | list[dict[str, Any]]:
    """What a ranker's parameters record under "booster": one booster's parameters, or for an ensemble
    the list of its members'. A list never equals a dict, so a single booster's reuse key is never
    matched by a stored ensemble of the same settings (autonomous/ranking/training.py)."""
    if settings.ensemble == 1:
        return booster_parameters(settings)
    return [booster_parameters(settings, seed=seed) for seed in ensemble_seeds(settings)]


def predicts_returns(objective: str) -> bool:
    """Whether a model of this objective predicts an excess return (a sign and a unit), not only an order."""
    return objective.startswith("reg:")


def clipped_labels(labels: pd.Series, quantile: float) -> pd.Series:
    """Each date's labels clipped to its [q, 1 - q] quantiles (a fitting aid; metrics use the raw label)."""
    if quantile <= 0:
        return labels
    # groupby's own quantile (vectorised) instead of a per-date lambda: 7 of 19 s of a demo training.
    by_date = labels.groupby(level="date")
    dates = labels.index.get_level_values("date")
    low = by_date.quantile(quantile).reindex(dates).to_numpy()
    high = by_date.quantile(1.0 - quantile).reindex(dates).to_numpy()
    return labels.clip(lower=pd.Series(low, index=labels.index), upper=pd.Series(high, index=labels.index))


def graded_labels(labels: pd.Series, bins: int) -> pd.Series:
    """Each date's labels as quantile bins 0..bins-1 (0 the lowest): rank:ndcg's relevance grades."""
    by_date = labels.groupby(level="date")
    # (rank - 1) / names lies in [0, 1): bins of equal size, the lowest label in bin 0.
    below = (by_date.rank(method="average") - 1.0) / by_date.transform("size")
    return pd.Series(np.floor(below.to_numpy(dtype=np.float64) * bins), index=labels.index, name=labels.name)


def fit_booster(
    inputs: pd.DataFrame, labels: pd.Series, settings: RankerSettings, *, seed: int | None = None
) -> xgboost.Booster:
    """One booster (`seed`: default settings.seed); `fit_ranker` fits a ranker, ensembles included."""
    return _train(_training_matrix(inputs, labels, settings), settings, seed)


def fit_ranker(inputs: pd.DataFrame, labels: pd.Series, settings: RankerSettings) -> RankerModel:
    """The ranker of the settings: one booster, or `settings.ensemble` of them on one training matrix."""
    matrix = _training_matrix(inputs, labels, settings)
    boosters = tuple(_train(matrix, settings, seed) for seed in ensemble_seeds(settings))
    return RankerModel(boosters, settings.objective)


def _train(matrix: xgboost.DMatrix, settings: RankerSettings, seed: int | None) -> xgboost.Booster:
    import xgboost

    return xgboost.train(booster_parameters(settings, seed=seed), matrix, num_boost_round=settings.n_estimators)


def _training_matrix(inputs: pd.DataFrame, labels: pd.Series, settings: RankerSettings) -> xgboost.DMatrix:
    import xgboost

    if not _in_canonical_order(inputs.columns):
        raise ValueError(f"ranker inputs must be columns of {RANKER_FEATURES}, in that order")
    if inputs.empty:
        raise DataError("no labelled rows to fit the ranker on")
    if predicts_returns(settings.objective):
        target = clipped_labels(labels, settings.label_clip_quantile)
        return xgboost.DMatrix(
            inputs.to_numpy(dtype=np.float32),
            label=target.to_numpy(dtype=np.float32),
            feature_names=list(inputs.columns),
            nthread=THREADS,
        )
    # A ranking objective: each sample date is a query group, and xgboost wants a group's rows together
    # and the groups in ascending order (the rows already are, by date; a stable sort makes sure).
    codes, _ = pd.factorize(inputs.index.get_level_values("date"), sort=True)
    order = np.argsort(codes, kind="stable")
    if settings.objective == "rank:ndcg":
        target = graded_labels(labels, settings.rank_label_bins)
    else:  # pairwise: only the order of a date's labels matters; clipping ties the outliers at the ends
        target = clipped_labels(labels, settings.label_clip_quantile)
    return xgboost.DMatrix(
        inputs.to_numpy(dtype=np.float32)[order],
        label=target.to_numpy(dtype=np.float32)[order],
        qid=codes[order],
        feature_names=list(inputs.columns),
        nthread=THREADS,
    )


def _in_canonical_order(columns: pd.Index) -> bool:
    """Columns of RANKER_FEATURES in its order (a feature-set variant reads a subset of them)."""
    wanted = set(columns)
    return len(wanted) == len(columns) and list(columns) == [name for name in RANKER_FEATURES if name in wanted]


@dataclass(frozen=True, eq=False)
class RankerModel:
    """A stored ranker as loaded: one booster, or an ensemble whose predictions are averaged, and the
    objective it was fitted with (what its prediction means)."""

    boosters: tuple[xgboost.Booster, ...]
    objective: str

    def __post_init__(self) -> None:
        if not self.boosters:
            raise ValueError("a ranker needs at least one booster")
        names = {tuple(booster.feature_names or ()) for booster in self.boosters}
        if len(names) != 1:
            raise ValueError("the boosters of an ensemble must read the same inputs")

    @classmethod
    def of(cls, booster: xgboost.Booster) -> RankerModel:
        """One booster as a ranker, its objective read from the booster's own configuration."""
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        return cls((booster,), str(objective))

    @property
    def feature_names(self) -> list[str]:
        return list(self.boosters[0].feature_names or [])

    @property
    def predicts_returns(self) -> bool:
        """True: the prediction is an expected excess return; False: a ranking score (order only)."""
        return predicts_returns(self.objective)


def predict(model: RankerModel | xgboost.Booster, inputs: pd.DataFrame) -> pd.Series:
    """The prediction by the inputs' index (an ensemble's mean): the expected forward excess return, or
    for a ranking objective a score that only orders the names of a date. The model reads its own
    features of `inputs` (a variant trained without some groups ignores their columns)."""
    import xgboost

    boosters = model.boosters if isinstance(model, RankerModel) else (model,)
    features = list(boosters[0].feature_names or [])
    lacking = [name for name in features if name not in inputs.columns]
    if lacking or not features:
        raise ValueError(f"the inputs lack the model's features {lacking[:3]} (it reads {features[:3]}…)")
    inputs = inputs[features]
    # One thread, as for training: the default spreads a hundred-row matrix over every core, which costs
    # more than the prediction (15 ms a session in a backtest whose other core computes the next markets).
    matrix = xgboost.DMatrix(inputs.to_numpy(dtype=np.float32), feature_names=list(inputs.columns), nthread=THREADS)
    predictions = np.mean([booster.predict(matrix).astype(np.float64) for booster in boosters], axis=0)
    return pd.Series(predictions, index=inputs.index, name="prediction")


_ZIP_MAGIC = b"PK\x03\x04"
_MANIFEST = "ensemble.json"
# A fixed timestamp for the zip's entries: the same boosters give the same bytes (and sha256).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def booster_to_bytes(model: RankerModel | xgboost.Booster) -> bytes:
    """One booster's UBJSON (the format of every ranker stored before ensembles); an ensemble's as a
    zip of its boosters' UBJSON with a manifest naming them in seed order."""
    boosters = model.boosters if isinstance(model, RankerModel) else (model,)
    if len(boosters) == 1:
        return bytes(boosters[0].save_raw(raw_format="ubj"))
    names = [f"booster_{member}.ubj" for member in range(len(boosters))]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        manifest = {"kind": "averaged ensemble", "boosters": names}
        archive.writestr(zipfile.ZipInfo(_MANIFEST, _ZIP_TIME), json.dumps(manifest, sort_keys=True))
        for name, booster in zip(names, boosters, strict=True):
            entry = zipfile.ZipInfo(name, _ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, bytes(booster.save_raw(raw_format="ubj")))
    return buffer.getvalue()


def booster_from_bytes(artifact: bytes) -> RankerModel:
    """The ranker stored as `artifact`: a single booster (as stored before ensembles) or an ensemble."""
    if not artifact.startswith(_ZIP_MAGIC):
        return RankerModel.of(_booster_of(artifact))
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        manifest = json.loads(archive.read(_MANIFEST))
        boosters = [_booster_of(archive.read(name)) for name in manifest["boosters"]]
    objectives = {RankerModel.of(booster).objective for booster in boosters}
    if len(objectives) != 1:
        raise ValueError(f"the ensemble's boosters have different objectives: {sorted(objectives)}")
    return RankerModel(tuple(boosters), objectives.pop())


def _booster_of(raw: bytes) -> xgboost.Booster:
    import xgboost

    booster = xgboost.Booster(params={"nthread": THREADS})
    booster.load_model(bytearray(raw))
    return booster


@dataclass(frozen=True)
class FoldReport:
    number: int
    train_start: date
    train_end: date
    validation_start: date
    validation_end: date
    train_rows: int
    validation_rows: int
    purged_dates: int
    metrics: RankingMetrics
    baselines: BaselineComparison  # the simple factors on the fold's validation rows
    late_joiners: LateJoinerSplit

    def as_dict(self) -> dict[str, Any]:
        return {
            "fold": self.number,
            "train": [self.train_start.isoformat(), self.train_end.isoformat()],
            "validation": [self.validation_start.isoformat(), self.validation_end.isoformat()],
            "train_rows": self.train_rows,
            "validation_rows": self.validation_rows,
            "purged_dates": self.purged_dates,
            **self.metrics.as_dict(),
            "baselines": self.baselines.as_dict(),
            "without_late_joiners": self.late_joiners.as_dict(),
        }


@dataclass(frozen=True)
class RankerTraining:
    """A strategy's ranker: its walk-forward validation and the final model fitted on the whole window."""

    strategy: str
    start: date
    end: date
    folds: list[FoldReport]
    overall: RankingMetrics  # over every fold's out-of-sample predictions together
    baselines: BaselineComparison  # the simple factors on the same out-of-sample rows
    late_joiners: LateJoinerSplit  # the overall figures without the names lacking fundamentals
    final_rows: int
    final_dates: int
    artifact: bytes
    features: tuple[str, ...]  # the inputs the model reads, in RANKER_FEATURES order
    parameters: dict[str, Any]
    seconds: float

    def metrics_dict(self) -> dict[str, Any]:
        return {
            "walk_forward": {
                "overall": self.overall.as_dict(),
                "baselines": self.baselines.as_dict(),
                "without_late_joiners": self.late_joiners.as_dict(),
                "folds": [fold.as_dict() for fold in self.folds],
            },
            "final_rows": self.final_rows,
            "final_dates": self.final_dates,
            "training_seconds": round(self.seconds, 3),
        }


def overlap_lags(horizon: int, step: int) -> int:
    """How many following sample dates share label sessions with a date: the t-stat's HAC lags."""
    return max(0, math.ceil(horizon / step) - 1)


def train_ranker(
    data: RankerData, strategy: str, settings: RankerSettings, features: Sequence[str] = RANKER_FEATURES
) -> RankerTraining:
    """Purged walk-forward validation over the window, then the final fit on every labelled row;
    the model reads `features` (a feature-set variant, autonomous/ranking/feature_sets.py)."""
    started = time.perf_counter()
    all_inputs, labels = data.rows_of(strategy)
    inputs = all_inputs[list(features)]
    if inputs.empty:
        raise DataError(f"{strategy}: its universe has no labelled rows in {data.start}..{data.end}")
    row_dates = pd.DatetimeIndex(inputs.index.get_level_values("date"))
    # Labelled rows already end by the window's end; labelled_by states it in calendar terms too.
    dates = labelled_by(
        pd.DatetimeIndex(row_dates.unique().sort_values()), data.sessions, pd.Timestamp(data.end), data.horizon
    )
    folds = _folds(dates, data, settings)
    reports, out_of_sample = [], []
    for fold in folds:
        train = row_dates.isin(fold.train_dates)
        valid = row_dates.isin(fold.validation_dates)
        model = fit_ranker(inputs[train], labels[train], settings)
        scored = pd.DataFrame({"prediction": predict(model, inputs[valid]), "label": labels[valid]})
        out_of_sample.append(scored)
        reports.append(_fold_report(fold, int(train.sum()), scored, data, strategy))
        logger.info("%s fold %d: rank IC %.4f", strategy, fold.number, reports[-1].metrics.rank_ic)
    lags = overlap_lags(data.horizon, data.step)
    validated = pd.concat(out_of_sample) if out_of_sample else _no_scores()
    overall = ranking_metrics(validated, overlap_lags=lags)
    # The baselines need no fitting, so they are scored on the validated rows as they stand.
    baselines = baseline_scores(all_inputs.reindex(validated.index), data.universe_score_of(strategy, validated.index))
    comparison = compare_with_baselines(validated, baselines, overlap_lags=lags)
    late_joiners = split_late_joiners(
        validated, baselines, data.has_fundamentals_on(validated.index), overlap_lags=lags
    )
    final = row_dates.isin(dates)
    model = fit_ranker(inputs[final], labels[final], settings)
    return RankerTraining(
        strategy=strategy,
        start=data.start,
        end=data.end,
        folds=reports,
        overall=overall,
        baselines=comparison,
        late_joiners=late_joiners,
        final_rows=int(final.sum()),
        final_dates=len(dates),
        artifact=booster_to_bytes(model),
        features=tuple(inputs.columns),
        parameters={
            **settings.model_dump(),
            "horizon": data.horizon,
            "sample_step": data.step,
            "booster": recorded_boosters(settings),
        },
        seconds=time.perf_counter() - started,
    )


def _folds(dates: pd.DatetimeIndex, data: RankerData, settings: RankerSettings) -> list[Fold]:
    if len(dates) < settings.folds + 1:
        logger.warning(
            "only %d labelled sample dates in %s..%s: too few for %d walk-forward folds; no validation",
            len(dates),
            data.start,
            data.end,
            settings.folds,
        )
        return []
    return walk_forward_folds(dates, data.sessions, folds=settings.folds, horizon=data.horizon, min_train_dates=5)


def _fold_report(fold: Fold, train_rows: int, scored: pd.DataFrame, data: RankerData, strategy: str) -> FoldReport:
    lags = overlap_lags(data.horizon, data.step)
    baselines = baseline_scores(data.inputs.reindex(scored.index), data.universe_score_of(strategy, scored.index))
    return FoldReport(
        number=fold.number,
        train_start=fold.train_start.date(),
        train_end=fold.train_end.date(),
        validation_start=fold.validation_start.date(),
        validation_end=fold.validation_end.date(),
        train_rows=train_rows,
        validation_rows=len(scored),
        purged_dates=fold.purged,
        metrics=ranking_metrics(scored, overlap_lags=lags),
        baselines=compare_with_baselines(scored, baselines, overlap_lags=lags),
        late_joiners=split_late_joiners(scored, baselines, data.has_fundamentals_on(scored.index), overlap_lags=lags),
    )


def _no_scores() -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([], names=["date", "ticker"])
    return pd.DataFrame({"prediction": pd.Series(dtype=np.float64), "label": pd.Series(dtype=np.float64)}, index=index)
