"""Hypothesis strategies of the fill engine's inputs, shared by the Decimal engine's invariants and the
float engine's agreement with it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from trading.execution.costs import CommissionModel, CostModels, SlippageModel

D = Decimal

open_prices = st.decimals(min_value=D("0.01"), max_value=D("50000"), places=6, allow_nan=False, allow_infinity=False)
quantities = st.one_of(
    st.integers(min_value=1, max_value=1_000_000).map(Decimal),
    st.decimals(min_value=D("0.000000001"), max_value=D("10000"), places=9, allow_nan=False, allow_infinity=False),
)
cost_models = st.builds(
    CostModels,
    slippage=st.builds(SlippageModel, st.decimals(min_value=0, max_value=100, places=2)),
    commission=st.builds(
        CommissionModel,
        per_share=st.decimals(min_value=0, max_value=D("0.05"), places=4),
        minimum=st.decimals(min_value=0, max_value=10, places=2),
    ),
)
