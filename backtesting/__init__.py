"""Replays the daily run over history with a simulated clock; metrics and reports.

Built in a later issue; it may import every other Autofund package.
"""
