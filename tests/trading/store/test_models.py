from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from trading.db.schema import ModelArtifact
from trading.store.models import (
    AGENT,
    IMPORTANCE,
    RANKER,
    SWEEP_LINEAGE,
    CorruptModel,
    UnknownModel,
    add_evaluation,
    get_model,
    list_models,
    load_artifact,
    model_version,
    newest_models,
    save_model,
    sha256_of,
)


def store(engine: Engine, start: date, end: date, artifact: bytes, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "kind": RANKER,
        "strategy": "growth_midcap",
        "train_start": start,
        "train_end": end,
        "feature_set": ["mom_21_rank", "vol_20_rank"],
        "parameters": {"max_depth": 4, "horizon": 21},
        "metrics": {"walk_forward": {"overall": {"rank_ic": 0.03}}},
        "artifact": artifact,
    }
    return save_model(engine, **(arguments | overrides))


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ModelArtifact)).scalar_one())


def test_a_stored_model_keeps_its_window_inputs_parameters_metrics_and_hash(engine: Engine) -> None:
    record = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"model-bytes")
    assert record.version == model_version(date(2005, 1, 1), date(2014, 12, 31), sha256_of(b"model-bytes"))
    assert record.version.startswith("20050101-20141231-")
    assert (record.train_start, record.train_end) == (date(2005, 1, 1), date(2014, 12, 31))
    assert record.feature_set == ["mom_21_rank", "vol_20_rank"]
    assert record.parameters == {"max_depth": 4, "horizon": 21}
    assert record.metrics["walk_forward"]["overall"]["rank_ic"] == 0.03
    assert record.size_bytes == len(b"model-bytes")
    assert record.created_at.tzinfo is not None
    assert load_artifact(engine, record) == b"model-bytes"
    assert get_model(engine, record.id) == record


def test_storing_the_same_model_twice_returns_the_first_copy(engine: Engine) -> None:
    first = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"same")
    second = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"same", metrics={"other": 1})
    assert second.id == first.id
    assert count(engine) == 1


def test_the_newest_model_is_the_one_with_the_latest_training_end(engine: Engine) -> None:
    older = store(engine, date(2005, 1, 1), date(2012, 12, 31), b"older")
    later = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"later")
    # Stored after the others, but trained on an earlier window: not the newest.
    store(engine, date(2004, 1, 1), date(2010, 12, 31), b"stored last")
    assert [record.id for record in newest_models(engine, RANKER, "growth_midcap")][:2] == [later.id, older.id]


def test_a_decision_date_only_sees_models_trained_strictly_before_it(engine: Engine) -> None:
    store(engine, date(2005, 1, 1), date(2012, 12, 31), b"older")
    store(engine, date(2005, 1, 1), date(2014, 12, 31), b"later")
    assert [r.train_end for r in newest_models(engine, RANKER, "growth_midcap", trained_before=date(2014, 12, 31))] == [
        date(2012, 12, 31)
    ]
    assert newest_models(engine, RANKER, "growth_midcap", trained_before=date(2012, 12, 31)) == []
    assert len(newest_models(engine, RANKER, "growth_midcap", trained_before=date(2015, 1, 1))) == 2


def test_models_are_kept_apart_by_kind_and_strategy(engine: Engine) -> None:
    store(engine, date(2005, 1, 1), date(2014, 12, 31), b"ranker")
    store(engine, date(2015, 1, 1), date(2017, 12, 31), b"agent", kind=AGENT)
    store(engine, date(2005, 1, 1), date(2014, 12, 31), b"dividend ranker", strategy="dividend")
    assert len(newest_models(engine, RANKER, "growth_midcap")) == 1
    assert len(newest_models(engine, AGENT, "growth_midcap")) == 1
    assert [r.strategy for r in list_models(engine, kind=RANKER)] == ["dividend", "growth_midcap"]
    assert [r.kind for r in list_models(engine, strategy="growth_midcap")] == [AGENT, RANKER]
    assert len(list_models(engine)) == 3


def test_bytes_that_no_longer_match_their_hash_are_refused(engine: Engine) -> None:
    record = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"original")
    with engine.begin() as connection:
        connection.execute(update(ModelArtifact).where(ModelArtifact.id == record.id).values(artifact=b"tampered"))
    with pytest.raises(CorruptModel, match=record.version):
        load_artifact(engine, record)


def test_an_evaluation_is_added_beside_the_training_metrics(engine: Engine) -> None:
    record = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"m")
    add_evaluation(engine, record.id, "2015-01-01..2021-04-21", {"rank_ic": 0.02, "rank_ic_t_stat": 1.5})
    updated = add_evaluation(engine, record.id, "2016-01-01..2017-01-01", {"rank_ic": -0.01})
    assert updated.metrics["walk_forward"]["overall"]["rank_ic"] == 0.03
    assert set(updated.metrics["evaluations"]) == {"2015-01-01..2021-04-21", "2016-01-01..2017-01-01"}
    assert get_model(engine, record.id).metrics == updated.metrics


def test_an_importance_is_kept_in_its_own_section_beside_the_evaluations(engine: Engine) -> None:
    record = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"m")
    add_evaluation(engine, record.id, "2015-01-01..2021-04-21", {"rank_ic": 0.02})
    updated = add_evaluation(
        engine, record.id, "2015-01-01..2021-04-21", {"features": [{"feature": "vol_60_rank"}]}, section=IMPORTANCE
    )
    assert updated.metrics["evaluations"] == {"2015-01-01..2021-04-21": {"rank_ic": 0.02}}
    assert updated.metrics[IMPORTANCE] == {"2015-01-01..2021-04-21": {"features": [{"feature": "vol_60_rank"}]}}


def test_unknown_ids_and_bad_models_are_errors_that_say_what_is_wrong(engine: Engine) -> None:
    with pytest.raises(UnknownModel, match="id 99"):
        get_model(engine, 99)
    with pytest.raises(ValueError, match="unknown model kind"):
        store(engine, date(2005, 1, 1), date(2014, 12, 31), b"m", kind="lstm")
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        store(engine, date(2015, 1, 1), date(2014, 12, 31), b"m")
    with pytest.raises(ValueError, match="empty artifact"):
        store(engine, date(2005, 1, 1), date(2014, 12, 31), b"")
    assert count(engine) == 0


def test_the_database_refuses_an_unknown_model_kind(engine: Engine) -> None:
    row = {
        "kind": "lstm",
        "strategy": "dividend",
        "version": "v",
        "train_start": date(2005, 1, 1),
        "train_end": date(2006, 1, 1),
        "feature_set": [],
        "metrics": {},
        "artifact": b"x",
        "sha256": "0" * 64,
        "created_at": datetime.now(UTC),
    }
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(ModelArtifact.__table__.insert().values(**row))


def test_a_models_age_reads_in_the_largest_whole_unit(engine: Engine) -> None:
    record = store(engine, date(2005, 1, 1), date(2014, 12, 31), b"m")
    assert record.age(record.created_at + timedelta(days=3, hours=5)) == "3 d"
    assert record.age(record.created_at + timedelta(hours=5, minutes=2)) == "5 h"
    assert record.age(record.created_at + timedelta(minutes=12)) == "12 min"
    assert record.age(record.created_at + timedelta(seconds=4)) == "4 s"


def test_a_sweeps_trial_models_are_not_the_newest_unless_asked_for(engine: Engine) -> None:
    kept = store(engine, date(2005, 1, 1), date(2012, 12, 31), b"trained by fund train xgboost")
    trial = store(
        engine,
        date(2005, 1, 1),
        date(2014, 12, 31),
        b"a sweep's horizon-100 trial",
        parameters={"horizon": 100, SWEEP_LINEAGE: "ranker-horizon", "sweep_id": 3},
    )
    assert [record.id for record in newest_models(engine, RANKER, "growth_midcap")] == [kept.id]
    everything = newest_models(engine, RANKER, "growth_midcap", include_sweep_trials=True)
    assert [record.id for record in everything] == [trial.id, kept.id]
