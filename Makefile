# The two set-up commands of the README. Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
# torch is pinned and installed first, on its own: this exact version resolves to a local CPU
# build here, while letting pip resolve torch through stable-baselines3 pulls GBs of CUDA.
TORCH := torch==2.13.0

.PHONY: demo test install lint typecheck unit clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default (a SQLite file, no server): schema, the synthetic market, regimes,
## a paper account, the seven strategies' XGBoost rankers (trained on 2019-2020, before the replayed
## sessions), then the daily rebalance over the last 60 sessions of the market with the default
## generator (the rule-based one: the models did not beat it out of sample, README), one run per
## session as cron would, and the account's positions, equity against the benchmark and last runs
## (with what the orders still waiting will trade at the next open). Then a backtest of the last
## half-year replays the same daily run in memory for the default generator and its comparisons (the
## hybrid and ranker-equal generators with the rankers trained above, the benchmark, the trend rule,
## each strategy held throughout, a random strategy), and writes its tear sheet to backtest-demo.html.
## No PPO agent is trained here (`fund train ppo`), so the hybrid uses equal weights and says so.
demo: $(STAMP)
	$(BIN)/fund --log-level WARNING db upgrade
	$(BIN)/fund --log-level WARNING data demo
	$(BIN)/fund --log-level WARNING regime backfill --start 2021-01-01
	$(BIN)/fund --log-level WARNING accounts create --cash 100000 --exist-ok
	$(BIN)/fund --log-level WARNING train xgboost --models all --start-date 2019-01-01 --end-date 2020-12-31
	$(BIN)/fund --log-level WARNING replay --sessions 60
	$(BIN)/fund --log-level WARNING accounts show --runs 8
	$(BIN)/fund --log-level WARNING backtest run --start 2021-07-01 --end 2021-12-31 --generator mock \
		--compare hybrid,ranker-equal,benchmark,trend,fixed,random --name demo --report backtest-demo.html

## The whole suite: lint, types, tests (PostgreSQL cases need FUND_TEST_POSTGRES_URL or Docker).
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

clean-venv:
	rm -rf $(VENV)
