"""Replays the fund's daily run over history in memory (engine.py, over a simulated venue, journal and
clock), compares variants (variants.py), measures them with their uncertainty (metrics.py, statistics.py,
analysis.py), stores the results (storage.py) and renders the tear sheet (report/). It may import every
other Autofund package; the `fund backtest` commands import it lazily."""
