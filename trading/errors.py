"""The project's error tree: library errors are translated into these, so callers can tell
what is retryable, what is bad data and what must stop trading."""

from __future__ import annotations


class FundError(Exception):
    """Base of every error Autofund raises on purpose."""


class ConfigurationError(FundError):
    """Settings that cannot work (an unknown database URL scheme, a bad TOML file)."""


class DataError(FundError):
    """Market data that is missing, malformed or inconsistent."""


class ImportRejected(DataError):
    """An import wrote nothing: a bad header, or bad rows under --strict."""


class DataGateFailed(DataError):
    """The data gate refused a date: the run must not trade on it."""
