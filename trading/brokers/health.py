"""What `fund broker check` reports of a broker account: each fact with a verdict, so that a person (or cron)
sees at once whether the next run can trade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from alpaca.trading.models import Clock, TradeAccount

from trading.brokers.alpaca.client import call_alpaca
from trading.errors import BrokerError

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
