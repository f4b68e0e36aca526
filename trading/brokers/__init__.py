"""Brokers: the one Broker interface (base.py) that the paper venue (paper/) and the live adapters implement."""
