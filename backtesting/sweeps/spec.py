"""A sweep's spec file (TOML), checked whole before any trial runs, and the trials it expands to.

```toml
name = "turnover-grid"
kind = "backtest"            # backtest | ranker | agent
metric = "sharpe"            # what ranks the trials (a metric of the kind)
direction = "maximize"       # or "minimize" (default maximize)
seeds = [0, 1]               # every configuration runs with each seed (default [0])

[[windows]]                  # ... and on each window (the span replayed, or held out)
start = "2021-01-04"
end = "2021-06-30"

[fixed]                      # held for every trial
generator = "mock"
"risk.max_daily_turnover" = 0.3

[grid]                       # every combination of these values ...
"risk.max_position_weight" = [0.05, 0.10]

[search]                     # ... or an Optuna search instead of a grid
trials = 12                  # configurations to try
batch = 4                    # suggested at a time: the same sequence on any number of CPUs
[search.space]
"strategy.top_n" = { low = 5, high = 30, step = 5 }
"risk.max_position_weight" = { low = 0.05, high = 0.2 }
generator = { choices = ["mock", "ranker-equal"] }
```

A dotted name is a fund setting (`risk.max_position_weight` is `[risk] max_position_weight`); a plain name
is a parameter of the trial's kind (PARAMETERS). Every configuration is checked against the settings'
own validation here, so a misspelt name or a value out of range stops the sweep before it starts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from trading.errors import ConfigurationError
from trading.settings import STRATEGIES, FundSettings

Kind = Literal["backtest", "ranker", "agent"]
Direction = Literal["maximize", "minimize"]
KINDS: tuple[Kind, ...] = ("backtest", "ranker", "agent")

# The trial kinds' own parameters and their defaults (trials.py reads them).
PARAMETERS: dict[str, dict[str, Any]] = {
    # A backtest's model generators use the registry's models in force at each decision (trained before it):
    # train them first (`fund backtest run --retrain-every N` stores its walk-forward rankers for every later
    # run), so that the trials only read.
    "backtest": {"generator": "mock", "capital": 100_000, "fractional": False, "approvals": "approve"},
    "ranker": {"strategies": "all", "train_sessions": 756},
    "agent": {"strategy": "momentum", "timesteps": 2048},
}

# The metrics a trial of each kind reports (trials.py), any of which may rank a sweep.
BACKTEST_METRICS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "hit_rate",
    "turnover",
    "costs_fraction",
    "information_ratio",
    "alpha",
)
# The held-out rank IC on the names with fundamentals at the date only (autonomous/ranking/late_joiners.py):
# the conservative figure on data whose universe is a later index projected back.
RANK_IC_WITHOUT_LATE_JOINERS = "rank_ic_without_late_joiners"
# Its counterpart on every name over the dates it covers (a trial reports it; it ranks no sweep).
RANK_IC_EVERY_NAME_SAME_DATES = "rank_ic_every_name_same_dates"
# A ranker trial's series holds that figure's values on the same dates beside the every-name values.
VALUES_WITHOUT_LATE_JOINERS = "values_without_late_joiners"
RANKER_METRICS = (
    "rank_ic",
    "ic",
    "rank_icir",
    "icir",
    "rank_ic_t_stat",
    "top_minus_bottom",
    "hit_rate",
    RANK_IC_WITHOUT_LATE_JOINERS,
)
AGENT_METRICS = (
    "sharpe_agent",
    "total_return_agent",
    "sharpe_over_equal_weight",
    "return_over_equal_weight",
    "turnover_agent",
    "mean_reward",
)
METRICS: dict[str, tuple[str, ...]] = {"backtest": BACKTEST_METRICS, "ranker": RANKER_METRICS, "agent": AGENT_METRICS}
DEFAULT_METRIC = {"backtest": "sharpe", "ranker": "rank_ic", "agent": "sharpe_agent"}

SPEC_KEYS = {"name", "kind", "metric", "direction", "seeds", "windows", "fixed", "grid", "search"}
SEARCH_KEYS = {"trials", "batch", "sampler", "space"}

Value = str | int | float | bool | None


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class Dimension:
    """One setting an Optuna search varies: a float or int range (`step` for ints), or a set of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Value, ...] | None = None

    @property
    def integer(self) -> bool:
        return self.choices is None and all(
            isinstance(v, int) for v in (self.low, self.high, self.step) if v is not None
        )


@dataclass(frozen=True)
class Search:
    trials: int
    batch: int
    sampler: Literal["tpe", "random"]
    space: tuple[Dimension, ...]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    kind: Kind
    metric: str
    direction: Direction
    seeds: tuple[int, ...]
    windows: tuple[Window, ...]
    fixed: Mapping[str, Value]
    grid: Mapping[str, tuple[Value, ...]] = field(default_factory=dict)
    search: Search | None = None
    source: str = "<spec>"

    @property
    def search_kind(self) -> Literal["grid", "optuna"]:
        return "optuna" if self.search is not None else "grid"

    def grid_configurations(self) -> list[dict[str, Value]]:
        """Every combination of the grid's values over the fixed settings, in the spec's order."""
        names = list(self.grid)
        return [
            {**self.fixed, **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(self.grid[n] for n in names))
        ]

    def trials_of(self, configuration: Mapping[str, Value]) -> list[TrialPlan]:
        """The configuration on every seed and window."""
        return [
            TrialPlan(self.kind, dict(configuration), seed, window) for window in self.windows for seed in self.seeds
        ]

    def as_dict(self) -> dict[str, Any]:
        search = None
        if self.search is not None:
            search = {
                "trials": self.search.trials,
                "batch": self.search.batch,
                "sampler": self.search.sampler,
                "space": {d.name: _dimension_dict(d) for d in self.search.space},
            }
        return {
            "name": self.name,
            "kind": self.kind,
            "metric": self.metric,
            "direction": self.direction,
            "seeds": list(self.seeds),
            "windows": [w.as_dict() for w in self.windows],
            "fixed": dict(self.fixed),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "search": search,
        }


@dataclass(frozen=True)
class TrialPlan:
    """One trial to run: a configuration (fixed and varied settings) with a seed on a window."""

    kind: Kind
    settings: dict[str, Value]
    seed: int
    window: Window

    @property
    def configuration(self) -> str:
        """A hash of the settings alone: the same configuration across seeds and windows."""
        return _digest({"kind": self.kind, "settings": self.settings})

    @property
    def key(self) -> str:
        """A hash of settings, seed and window: what a rerun matches to skip a trial already done."""
        return _digest(
            {"kind": self.kind, "settings": self.settings, "seed": self.seed, "window": self.window.as_dict()}
        )

    def parameters(self) -> dict[str, Any]:
        """The kind's own parameters: its defaults, overridden by the plain names of the settings."""
        own = dict(PARAMETERS[self.kind])
        own.update({k: v for k, v in self.settings.items() if "." not in k})
        return own

    def fund_settings(self, base: FundSettings) -> FundSettings:
        """`base` with the dotted names of the settings applied (validated as the settings file would be)."""
        return apply_overrides(base, {k: v for k, v in self.settings.items() if "." in k})

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "settings": self.settings, "seed": self.seed, "window": self.window.as_dict()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrialPlan:
        window = values["window"]
        return cls(
            values["kind"],
            dict(values["settings"]),
            int(values["seed"]),
            Window(date.fromisoformat(window["start"]), date.fromisoformat(window["end"])),
        )


def _digest(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _dimension_dict(dimension: Dimension) -> dict[str, Any]:
    if dimension.choices is not None:
        return {"choices": list(dimension.choices)}
    values: dict[str, Any] = {"low": dimension.low, "high": dimension.high}
    if dimension.step is not None:
        values["step"] = dimension.step
    if dimension.log:
        values["log"] = True
    return values


def apply_overrides(base: FundSettings, overrides: Mapping[str, Value]) -> FundSettings:
    """The settings with `section.name` (or `section.sub.name`) values replaced, validated whole."""
    if not overrides:
        return base
    tree = base.model_dump(mode="python")
    for dotted, value in overrides.items():
        node = tree
        *path, leaf = dotted.split(".")
        for part in path:
            child = node.get(part) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                raise ConfigurationError(f"{dotted}: the settings have no section {part!r}")
            node = child
        if leaf not in node:
            raise ConfigurationError(f"{dotted}: the settings have no {leaf!r} in [{'.'.join(path)}]")
        node[leaf] = value
    try:
        return FundSettings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"{where}: {first['msg']} (got {first.get('input')!r})") from exc


# --- reading and checking ------------------------------------------------------------------------------


def load_spec(path: Path, base: FundSettings) -> SweepSpec:
    """The spec file, checked whole (every configuration against the settings); a ConfigurationError naming
    the file and the key otherwise."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{path}: no such spec file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the spec: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    try:
        spec = parse_spec(raw, source=str(path))
        check_configurations(spec, base)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    return spec


def parse_spec(raw: Mapping[str, Any], *, source: str = "<spec>") -> SweepSpec:
    unknown = sorted(set(raw) - SPEC_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(SPEC_KEYS))}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ConfigurationError("name: give the sweep a name (a string of 1 to 200 characters)")
    kind = raw.get("kind", "backtest")
    if kind not in KINDS:
        raise ConfigurationError(f"kind = {kind!r}: expected one of {', '.join(KINDS)}")
    metric = raw.get("metric", DEFAULT_METRIC[kind])
    if metric not in METRICS[kind]:
        raise ConfigurationError(f"metric = {metric!r}: a {kind} trial reports {', '.join(METRICS[kind])}")
    direction = raw.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise ConfigurationError(f"direction = {direction!r}: expected 'maximize' or 'minimize'")
    seeds = _seeds(raw.get("seeds", [0]))
    windows = _windows(raw.get("windows"))
    fixed = _table(raw.get("fixed", {}), "fixed")
    grid = _grid(raw.get("grid", {}))
    search = _search(raw["search"]) if "search" in raw else None
    if search is not None and grid:
        raise ConfigurationError("give either [grid] or [search], not both")
    varied = set(grid) | ({d.name for d in search.space} if search else set())
    both = sorted(varied & set(fixed))
    if both:
        raise ConfigurationError(f"{', '.join(both)}: both fixed and varied; keep each name in one table")
    for name_ in [*fixed, *varied]:
        _check_name(name_, kind)
    return SweepSpec(name.strip(), kind, metric, direction, seeds, windows, fixed, grid, search, source)


def check_configurations(spec: SweepSpec, base: FundSettings) -> None:
    """Every configuration the spec can run, validated: the grid's, or the search space's bounds."""
    if spec.search is None:
        configurations = spec.grid_configurations()
    else:
        configurations = [{**spec.fixed, **corner} for corner in _corners(spec.search.space)]
    for configuration in configurations:
        plan = TrialPlan(spec.kind, configuration, spec.seeds[0], spec.windows[0])
        plan.fund_settings(base)
        _check_parameters(spec.kind, plan.parameters())


def _corners(space: Sequence[Dimension]) -> Iterator[dict[str, Value]]:
    """Each dimension at its ends (each choice), the others at their low ends: every value a search can
    reach lies between checked ones for the settings' range checks."""
    lows = {d.name: (d.choices[0] if d.choices is not None else d.low) for d in space}
    yield dict(lows)
    for dimension in space:
        ends = dimension.choices if dimension.choices is not None else (dimension.high,)
        for value in ends:
            yield {**lows, dimension.name: value}


def _check_parameters(kind: Kind, parameters: Mapping[str, Any]) -> None:
    if kind == "backtest":
        if parameters["generator"] not in ("hybrid", "ranker-equal", "mock"):
            raise ConfigurationError(f"generator = {parameters['generator']!r}: expected hybrid, ranker-equal or mock")
        if not _number(parameters["capital"]) or parameters["capital"] <= 0:
            raise ConfigurationError(f"capital = {parameters['capital']!r}: a positive amount")
        if not isinstance(parameters["fractional"], bool):
            raise ConfigurationError(f"fractional = {parameters['fractional']!r}: true or false")
        if parameters["approvals"] not in ("approve", "reject"):
            raise ConfigurationError(f"approvals = {parameters['approvals']!r}: expected approve or reject")
    if kind == "ranker":
        sessions = parameters["train_sessions"]
        if not isinstance(sessions, int) or sessions < 63:
            raise ConfigurationError(f"train_sessions = {sessions!r}: train on at least 63 sessions")
        strategies = parameters["strategies"]
        names = list(STRATEGIES) if strategies == "all" else strategies
        if not isinstance(names, list) or not names or any(s not in STRATEGIES for s in names):
            raise ConfigurationError(f"strategies = {strategies!r}: 'all' or a list of {', '.join(STRATEGIES)}")
    if kind == "agent":
        if parameters["strategy"] not in STRATEGIES:
            raise ConfigurationError(f"strategy = {parameters['strategy']!r}: one of {', '.join(STRATEGIES)}")
        timesteps = parameters["timesteps"]
        if not isinstance(timesteps, int) or timesteps < 64:
            raise ConfigurationError(f"timesteps = {timesteps!r}: a whole number, at least 64")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_name(name: str, kind: Kind) -> None:
    if "." in name:
        return  # a fund setting: apply_overrides checks it
    if name not in PARAMETERS[kind]:
        own = ", ".join(PARAMETERS[kind])
        raise ConfigurationError(
            f"{name!r} is neither a fund setting (section.name, e.g. risk.max_position_weight) nor a parameter "
            f"of a {kind} trial ({own})"
        )


def _seeds(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    ):
        raise ConfigurationError(f"seeds = {value!r}: a non-empty list of whole numbers")
    if len(set(value)) != len(value):
        raise ConfigurationError(f"seeds = {value!r}: a seed is repeated")
    return tuple(value)


def _windows(value: Any) -> tuple[Window, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigurationError("windows: give at least one [[windows]] table with start and end dates")
    windows = []
    for number, table in enumerate(value, start=1):
        if not isinstance(table, dict) or set(table) != {"start", "end"}:
            raise ConfigurationError(f"windows #{number}: expected exactly start and end")
        start, end = (_date(table[k], f"windows #{number} {k}") for k in ("start", "end"))
        if end < start:
            raise ConfigurationError(f"windows #{number}: end {end} is before start {start}")
        windows.append(Window(start, end))
    if len(set(windows)) != len(windows):
        raise ConfigurationError("windows: a window is repeated")
    return tuple(windows)


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigurationError(f"{where} = {value!r}: expected a date, YYYY-MM-DD")


def _table(value: Any, where: str) -> dict[str, Value]:
    if not isinstance(value, dict):
        raise ConfigurationError(f"[{where}]: expected a table of name = value")
    for name, item in value.items():
        _check_value(item, f"{where}.{name}")
    return dict(value)


def _check_value(item: Any, where: str) -> None:
    if isinstance(item, list) and all(isinstance(v, str) for v in item):
        return  # a list of names (strategies)
    if not isinstance(item, str | int | float | bool):
        raise ConfigurationError(f"{where} = {item!r}: expected a number, a string or a boolean")


def _grid(value: Any) -> dict[str, tuple[Value, ...]]:
    if not isinstance(value, dict):
        raise ConfigurationError("[grid]: expected a table of name = [values]")
    grid = {}
    for name, values in value.items():
        if not isinstance(values, list) or not values:
            raise ConfigurationError(f"grid.{name} = {values!r}: expected a non-empty list of values")
        for item in values:
            _check_value(item, f"grid.{name}")
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigurationError(f"grid.{name}: a value is repeated")
        grid[name] = tuple(values)
    return grid


def _search(value: Any) -> Search:
    if not isinstance(value, dict):
        raise ConfigurationError("[search]: expected a table")
    unknown = sorted(set(value) - SEARCH_KEYS)
    if unknown:
        raise ConfigurationError(
            f"search: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(SEARCH_KEYS))}"
        )
    trials, batch = _count(value.get("trials"), "trials"), _count(value.get("batch", 4), "batch")
    sampler = value.get("sampler", "tpe")
    if sampler not in ("tpe", "random"):
        raise ConfigurationError(f"search.sampler = {sampler!r}: expected tpe or random")
    space = value.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigurationError("[search.space]: name at least one setting to search, e.g. x = { low = 1, high = 2 }")
    return Search(trials, batch, sampler, tuple(_dimension(name, item) for name, item in space.items()))


def _count(number: Any, name: str) -> int:
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ConfigurationError(f"search.{name} = {number!r}: a whole number, at least 1")
    return number


def _dimension(name: str, item: Any) -> Dimension:
    where = f"search.space.{name}"
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where}: expected {{ low = .., high = .. }} or {{ choices = [..] }}")
    if "choices" in item:
        choices = item["choices"]
        if set(item) != {"choices"} or not isinstance(choices, list) or not choices:
            raise ConfigurationError(f"{where}: choices is a non-empty list, alone")
        for choice in choices:
            _check_value(choice, where)
        return Dimension(name, choices=tuple(choices))
    if not set(item) <= {"low", "high", "step", "log"} or not {"low", "high"} <= set(item):
        raise ConfigurationError(f"{where}: expected low and high (and optionally step or log)")
    low, high, step, log = item["low"], item["high"], item.get("step"), item.get("log", False)
    if not all(_number(v) for v in (low, high)) or (step is not None and not _number(step)):
        raise ConfigurationError(f"{where}: low, high and step are numbers")
    if not low < high:
        raise ConfigurationError(f"{where}: low ({low}) must be below high ({high})")
    if step is not None and step <= 0:
        raise ConfigurationError(f"{where}: step must be positive")
    if not isinstance(log, bool) or (log and low <= 0):
        raise ConfigurationError(f"{where}: log = true needs a positive low")
    return Dimension(name, low=low, high=high, step=step, log=log)
