"""Results as people read them: money, enum labels, and tables that never cut a cell (console sink, commands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import viam_billing as vb
from rich.console import Group, RenderableType
from rich.text import Text
from viam_billing import to_data
from viam_billing.finops import forecast_month_end, usage_figures

from ._layout import Column, FitTable

__all__ = ["UsageTotals", "cost_type_label", "money", "render_result", "source_label", "usage_table", "usage_totals"]

_HALF_CENT = 0.005  # figures closer than this show as the same amount


@attrs.frozen(kw_only=True)
class UsageTotals:
    """A month's usage as a bill shows it: ``before_discounts`` (the sum of every cost line), ``discounts``
    (the sum of the sources' discounts, a positive amount) and ``subtotal`` (the service's figure: after
    discounts, before tax). :attr:`reconciles` says whether the service's subtotal is lines minus discounts.
    """

    before_discounts: float
    discounts: float
    subtotal: float

    @property
    def reconciles(self) -> bool:
        """Whether ``before_discounts - discounts`` and ``subtotal`` are the same amount in cents."""
        return abs(self.before_discounts - self.discounts - self.subtotal) < _HALF_CENT


def usage_totals(usage: vb.GetCurrentMonthUsageResponse) -> UsageTotals:
    """The totals of a usage answer, each rounded to cents."""
    lines, discounts = usage_figures(usage)
    return UsageTotals(
        before_discounts=round(lines, 2), discounts=round(discounts, 2), subtotal=round(usage.subtotal, 2)
    )


def money(amount: float) -> str:
    """US dollars as people read them: ``$1,234.50``, ``-$10.00``."""
    cents = round(amount, 2)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def _enum_from(cls: type[vb.OpenIntEnum], value: int | str) -> vb.OpenIntEnum:
    return cls.from_name(value) if isinstance(value, str) else cls(value)


def cost_type_label(value: int | str) -> str:
    """A readable cost type, from its number or name: ``"binary data cloud storage"``.

    Numbers this version does not know stay visible (``"cost type 31"``).
    """
    member = _enum_from(vb.UsageCostType, value)
    if not member.is_known():
        return f"cost type {int(member)}"
    return member.name.removeprefix("USAGE_COST_TYPE_").replace("_", " ").lower()


def source_label(value: int | str) -> str:
    """A readable usage source type, from its number or name: ``"org"``, ``"fragment"``."""
    member = _enum_from(vb.SourceType, value)
    if not member.is_known():
        return f"source {int(member)}"
    return member.name.removeprefix("SOURCE_TYPE_").lower()


def _date(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d")


def render_result(result: vb.Model, *, org_id: str | None = None) -> RenderableType:
    """A readable rendering of an operation's result: usage, invoices and billing information get their own
    tables, anything else a table of its fields. Every table shows each id, status and amount whole at any
    console width (as blocks of lines where a table would not fit).
    """
    if isinstance(result, vb.GetCurrentMonthUsageResponse):
        return usage_table(result, org_id)
    if isinstance(result, vb.GetInvoicesSummaryResponse):
        return _invoices(result, org_id)
    if isinstance(result, vb.GetOrgBillingInformationResponse):
        return _billing_information(result, org_id)
    if isinstance(result, vb.GetAvailableBillingTiersResponse):
        table = FitTable(Column("Billing tier"), title="Billing tiers")
        for tier in result.tiers:
            table.add_row(tier)
        return table
    return _fields(result, org_id)


def _for(org_id: str | None) -> str:
    return f" of {org_id}" if org_id else ""


def usage_table(usage: vb.GetCurrentMonthUsageResponse, org_id: str | None) -> FitTable:
    """This month's usage so far: every cost line, each source's discount, then the cost before discounts, the
    discounts and the subtotal after them, which the rows above add up to, and the month-end forecast
    (:mod:`viam_billing.finops`), labelled as an estimate, with how it was made below the table. A subtotal from
    the service that is not lines minus discounts is pointed out there too."""
    from ._finops import forecast_note  # here: _finops imports this module

    totals = usage_totals(usage)
    forecast = forecast_month_end(usage)
    caption = Text(forecast_note(forecast), style="dim")
    if not totals.reconciles:
        implied = money(totals.before_discounts - totals.discounts)
        caption = Text.assemble(
            (f"The service's subtotal {money(totals.subtotal)} is not its lines minus discounts ({implied}).",
             "yellow"), "\n", caption,
        )  # fmt: skip
    table = FitTable(
        Column("Source"),
        Column("Tier"),
        Column("Cost type", wrap=True),  # words, which may wrap; the amounts beside them never do
        Column("Cost", justify="right"),
        title=f"Usage so far this month{_for(org_id)}, {_date(usage.start_date)} to {_date(usage.end_date)}",
        caption=caption,
    )
    rows: list[tuple[str, str, str, str]] = []
    for source in usage.resource_usage_costs_by_source:
        costs = source.resource_usage_costs
        kind = source_label(source.source_type)
        lines = costs.usage_costs if costs else ()
        rows += [(kind, source.tier_name, cost_type_label(line.resource_type), money(line.cost)) for line in lines]
        if costs and costs.discount:
            rows.append((kind, source.tier_name, "discount", money(-costs.discount)))
    for index, row in enumerate(rows):
        table.add_row(*row, end_section=index == len(rows) - 1)
    table.add_row("", "", "total before discounts", money(totals.before_discounts))
    table.add_row("", "", "discounts", money(-totals.discounts))
    table.add_row("", "", "subtotal after discounts", money(totals.subtotal), style="bold")
    if not forecast.final:  # beside the figures it comes from, labelled as an estimate; the caption says how
        table.add_row("", "", "forecast for the month (estimate)", money(forecast.forecast), style="italic")
    return table


def _invoices(summary: vb.GetInvoicesSummaryResponse, org_id: str | None) -> FitTable:
    table = FitTable(
        Column("Invoice"),
        Column("Date"),
        Column("Amount", justify="right"),
        Column("Status"),
        Column("Due"),
        Column("Paid"),
        title=f"Invoices{_for(org_id)}",
        caption=f"Outstanding balance: {money(summary.outstanding_balance)}",
    )
    for invoice in summary.invoices:
        status = Text(invoice.status, style="red" if invoice.status == "outstanding" else "")
        table.add_row(invoice.id, _date(invoice.invoice_date), money(invoice.invoice_amount), status,
                      _date(invoice.due_date), _date(invoice.paid_date))  # fmt: skip
    return table


def _billing_information(info: vb.GetOrgBillingInformationResponse, org_id: str | None) -> FitTable:
    table = FitTable("field", "value", title=f"Billing information{_for(org_id)}", show_header=False,
                     first_column_style="bold")  # fmt: skip
    kind = info.type.name.removeprefix("PAYMENT_METHOD_TYPE_").lower() if info.type.is_known() else str(info.type)
    table.add_row("payment method", kind)
    table.add_row("billing e-mail", info.billing_email)
    if info.billing_tier is not None:
        table.add_row("billing tier", info.billing_tier)
    if info.method is not None:
        table.add_row("card", f"{info.method.brand} ending {info.method.last_four_digits}")
    bank = info.method_us_bank_account
    if bank is not None:
        table.add_row("bank account", f"{bank.bank_name} ending {bank.last_four_digits_account_number}")
        if bank.verification_info is not None:
            table.add_row("verification", bank.verification_info.hosted_verification_page_url)
    return table


def _fields(result: vb.Model, org_id: str | None) -> RenderableType:
    data: dict[str, Any] = to_data(result)
    title = f"{type(result).__name__.removesuffix('Response')}{_for(org_id)}"
    if not data:
        return Group(Text(f"{title}: done"))
    table = FitTable("field", "value", title=title, show_header=False, first_column_style="bold")
    for name, value in data.items():
        table.add_row(name, "" if value is None else str(value))
    return table
