"""Brokers: the one Broker interface (base.py) that the paper ledger and the live adapters implement."""
