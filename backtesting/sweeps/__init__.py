"""Sweeps: many trials of backtests and model trainings (spec.py), run serially or on Ray (executors.py),
written to the sweep tables (writing.py), and summarised with the deflated Sharpe and the PBO (summary.py)."""
