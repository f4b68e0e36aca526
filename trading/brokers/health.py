"""What `fund broker check` reports of a broker account: each fact with a verdict, so that a person (or cron)
sees at once whether the next run can trade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from trading.errors import BrokerError, FundError

if TYPE_CHECKING:
    from trading.brokers.schwab.broker import SchwabBroker
    from trading.brokers.schwab.tokens import TokenFile

# A broker's clock further than this from ours means a badly set server clock: the run's session
# (the exchange's date) and its order times would be wrong.
MAX_CLOCK_SKEW_SECONDS = 5.0


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class HealthLine:
    name: str
    verdict: Verdict
    detail: str

    def render(self) -> str:
        return f"{self.verdict.value:<4} {self.name:<14} {self.detail}"


def alpaca_health(client: object, endpoint: str, *, expected_account: str | None, now: datetime) -> list[HealthLine]:
    """Connectivity, the account's status and money, the market clock and the skew of ours against it."""
    from alpaca.trading.client import TradingClient
    from alpaca.trading.models import Clock, TradeAccount

    from trading.brokers.alpaca.client import call_alpaca

    assert isinstance(client, TradingClient)
    lines: list[HealthLine] = []
    try:
        account = call_alpaca(client.get_account, "account")
        clock = call_alpaca(client.get_clock, "clock")
    except BrokerError as exc:
        return [HealthLine("connection", Verdict.FAIL, f"{endpoint}: {exc}")]
    assert isinstance(account, TradeAccount)
    assert isinstance(clock, Clock)
    lines.append(HealthLine("connection", Verdict.OK, f"{endpoint} answered"))
    status = getattr(account.status, "value", str(account.status))
    blocked = account.trading_blocked or account.account_blocked
    wrong = expected_account is not None and account.account_number != expected_account
    verdict = Verdict.FAIL if status != "ACTIVE" or blocked or wrong else Verdict.OK
    linked = f" (linked: {expected_account})" if expected_account else ""
    lines.append(
        HealthLine(
            "account",
            verdict,
            f"{account.account_number}{linked}, status {status}, trading blocked {bool(account.trading_blocked)}",
        )
    )
    money = ", ".join(
        f"{name} {Decimal(str(value)):,.2f}"
        for name, value in (("cash", account.cash), ("buying power", account.buying_power), ("equity", account.equity))
    )
    lines.append(HealthLine("money", Verdict.OK, money))
    if account.pattern_day_trader:
        lines.append(HealthLine("day trading", Verdict.WARN, f"flagged pattern day trader ({account.daytrade_count})"))
    market = "open" if clock.is_open else "closed"
    lines.append(
        HealthLine("market", Verdict.OK, f"{market}; next open {clock.next_open}, next close {clock.next_close}")
    )
    skew = (now - clock.timestamp).total_seconds()
    verdict = Verdict.OK if abs(skew) <= MAX_CLOCK_SKEW_SECONDS else Verdict.WARN
    lines.append(HealthLine("clock skew", verdict, f"ours minus Alpaca's: {skew:+.1f} s"))
    return lines


def schwab_health(
    broker: SchwabBroker, client: Any, tokens: TokenFile, *, endpoint: str, now: datetime
) -> list[HealthLine]:
    """The token's age, connectivity, the account and its money, today's market hours, and clock skew
    (read from the Date header of Schwab's answer: Schwab has no clock endpoint)."""
    from trading.brokers.schwab.client import call_schwab
    from trading.brokers.schwab.tokens import REFRESH_TOKEN_DAYS, WARN_AFTER_DAYS

    try:
        age = tokens.age_days(now)
    except FundError as exc:
        return [HealthLine("token", Verdict.FAIL, str(exc))]
    if age >= REFRESH_TOKEN_DAYS:
        verdict, note = Verdict.FAIL, "its refresh token has expired: log in again with `fund broker login schwab`"
    elif age >= WARN_AFTER_DAYS:
        verdict, note = Verdict.WARN, "it expires within a day: log in again with `fund broker login schwab`"
    else:
        verdict, note = Verdict.OK, f"valid for {REFRESH_TOKEN_DAYS - age:.1f} more days"
    lines = [HealthLine("token", verdict, f"{tokens.path}, {age:.1f} days old; {note}")]
    if verdict is Verdict.FAIL:
        return lines
    try:
        answer = call_schwab(client.get_account_numbers, "account numbers")
        lines.append(HealthLine("connection", Verdict.OK, f"{endpoint} answered"))
        snapshot = broker.account()
    except BrokerError as exc:
        return [*lines, HealthLine("connection", Verdict.FAIL, str(exc))]
    lines.append(
        HealthLine(
            "money",
            Verdict.OK,
            f"cash {snapshot.cash:,.2f}, buying power {snapshot.buying_power:,.2f}, equity {snapshot.equity:,.2f}",
        )
    )
    lines.append(_market_hours(client, now))
    lines.append(_skew(answer.headers.get("Date"), now))
    return lines


def _market_hours(client: Any, now: datetime) -> HealthLine:
    from schwab.client import Client

    from trading.brokers.schwab.client import call_schwab

    try:
        answer = call_schwab(
            lambda: client.get_market_hours([Client.MarketHours.Market.EQUITY], date=now.date()), "market hours"
        )
        equity = answer.json().get("equity", {})
        # The product key is not guaranteed (brokers.md §5): take the first product listed.
        hours: dict[str, Any] = next(iter(equity.values()), {}) if isinstance(equity, dict) else {}
        is_open = hours.get("isOpen")
        regular = (hours.get("sessionHours") or {}).get("regularMarket") or [{}]
    except (BrokerError, ValueError, AttributeError) as exc:
        return HealthLine("market", Verdict.WARN, f"hours unknown ({exc})")
    state = "a session" if is_open else "not a session"
    return HealthLine("market", Verdict.OK, f"{now.date()} is {state}; regular hours {regular[0].get('start', '-')}")


def _skew(header: str | None, now: datetime) -> HealthLine:
    if not header:
        return HealthLine("clock skew", Verdict.WARN, "Schwab's answer carried no Date header")
    try:
        theirs = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return HealthLine("clock skew", Verdict.WARN, f"Schwab's Date header cannot be read: {header!r}")
    if theirs.tzinfo is None:  # "-0000" in an HTTP date means UTC
        theirs = theirs.replace(tzinfo=UTC)
    skew = (now - theirs).total_seconds()
    # The Date header has whole seconds: allow one more.
    verdict = Verdict.OK if abs(skew) <= MAX_CLOCK_SKEW_SECONDS + 1 else Verdict.WARN
    return HealthLine("clock skew", verdict, f"ours minus Schwab's: {skew:+.1f} s")
