"""Checked command-line values: ids that are not empty, amounts in whole cents. click checks them while parsing,
so a bad one is refused (exit status 2) before anything is shown, asked or sent."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # click 8.2 made ParamType generic; older releases cannot be subscripted at run time
    _TextType = click.ParamType[str, Any]
    _AmountType = click.ParamType[float, Any]
else:
    _TextType = _AmountType = click.ParamType

__all__ = ["AMOUNT", "CHARGE_AMOUNT", "ID", "Amount", "Identifier", "LimitedText"]


class Identifier(_TextType):
    """An id (organization, invoice, location, tier): any text that is not empty or only blanks."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.strip():
            self.fail(f"must not be empty, got {text!r}", param, ctx)
        return text


MAXIMUM = Decimal(10) ** 12
"""The largest amount taken, a trillion dollars: far below where a float stops holding whole cents exactly."""


class Amount(_AmountType):
    """US dollars in whole cents, finite, from ``minimum`` to :data:`MAXIMUM`: ``12``, ``12.5``, ``1e4``; never
    ``nan`` or ``inf``. Converted to the float the client sends."""

    name = "amount"

    def __init__(self, minimum: Decimal) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):  # a default, already checked
            return value
        text = str(value).strip()
        try:
            amount = Decimal(text)
        except decimal.InvalidOperation:
            self.fail(f"{text!r} is not an amount of US dollars (such as 12.50)", param, ctx)
        if not amount.is_finite():
            self.fail(f"must be a finite amount of US dollars, got {text!r}", param, ctx)
        if amount < self.minimum:
            self.fail(f"must be at least ${self.minimum:,.2f}, got {text!r}", param, ctx)
        if amount > MAXIMUM:
            self.fail(f"must be at most ${MAXIMUM:,.2f}, got {text!r}", param, ctx)
        if amount != amount.quantize(Decimal("0.01"), rounding=decimal.ROUND_DOWN):
            self.fail(f"must be in whole cents (at most two decimals), got {text!r}", param, ctx)
        return float(amount)


class LimitedText(_TextType):
    """Free text of at most ``limit`` characters."""

    name = "text"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if len(text) > self.limit:
            self.fail(f"must be at most {self.limit} characters, got {len(text)}", param, ctx)
        return text


ID = Identifier()
AMOUNT = Amount(Decimal(0))
"""An amount of zero or more (tax, a threshold)."""
CHARGE_AMOUNT = Amount(Decimal("0.01"))
"""An amount of at least one cent (what a charge bills)."""
