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


class BrokerError(FundError):
    """A broker call failed in a way the caller cannot fix by waiting (bad credentials, a malformed answer)."""


class RetryableBrokerError(BrokerError):
    """A timeout, an HTTP 5xx or a 429: the same call may succeed later.

    Only idempotent calls may be repeated (trading/brokers/base.py `call_with_retry`); `retry_after`
    carries the broker's Retry-After hint in seconds when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BrokerUnavailable(RetryableBrokerError):
    """The broker could not be reached at all (connection refused, DNS, maintenance window)."""


class OrderNotFound(BrokerError):
    """The broker does not know the order id it was asked about."""


class OrderRejected(BrokerError):
    """The broker (or the paper ledger) refused an order; the message says why."""


class InsufficientFunds(OrderRejected):
    """An order needs more cash than the account has."""
