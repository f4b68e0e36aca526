"""The ledger layer: database schema and store, market data, settings and (later) brokers.

Imports none of the other Autofund packages; everything else builds on it.
"""
