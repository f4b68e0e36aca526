"""A broker's number (a JSON string or float) as a Decimal, or a BrokerError that says which broker and field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from trading.errors import BrokerError


def broker_decimal(value: Any, broker: str, field: str) -> Decimal:
    """`Decimal(str(value))`: a float goes through its shortest repr, never its binary expansion."""
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise BrokerError(f"{broker} answered a {field} that is not a number: {value!r}") from exc
    if not number.is_finite():
        raise BrokerError(f"{broker} answered a {field} that is not finite: {value!r}")
    return number
