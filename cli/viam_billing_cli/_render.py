"""Results as people read them: money, enum labels, and rich tables (for the console sink and the commands)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import viam_billing as vb
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from viam_billing import to_data

__all__ = ["cost_type_label", "money", "render_result", "source_label"]


def money(amount: float) -> str:
    """US dollars as people read them: ``$1,234.50``."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


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
    tables, anything else a table of its fields.
    """
    if isinstance(result, vb.GetCurrentMonthUsageResponse):
        return _usage(result, org_id)
    if isinstance(result, vb.GetInvoicesSummaryResponse):
        return _invoices(result, org_id)
    if isinstance(result, vb.GetOrgBillingInformationResponse):
        return _billing_information(result, org_id)
    if isinstance(result, vb.GetAvailableBillingTiersResponse):
        table = Table("Billing tier", title="Billing tiers", box=box.SIMPLE_HEAD)
        for tier in result.tiers:
            table.add_row(tier)
        return table
    return _fields(result, org_id)


def _for(org_id: str | None) -> str:
    return f" of {org_id}" if org_id else ""


def _usage(usage: vb.GetCurrentMonthUsageResponse, org_id: str | None) -> RenderableType:
    period = f"{_date(usage.start_date)} to {_date(usage.end_date)}"
    table = Table(title=f"Usage{_for(org_id)}, {period}", box=box.SIMPLE_HEAD, show_footer=True)
    table.add_column("Source")
    table.add_column("Tier")
    table.add_column("Cost type", footer="Subtotal")
    table.add_column("Cost", justify="right", footer=money(usage.subtotal))
    for source in usage.resource_usage_costs_by_source:
        costs = source.resource_usage_costs
        for line in costs.usage_costs if costs else ():
            table.add_row(source_label(source.source_type), source.tier_name, cost_type_label(line.resource_type),
                          money(line.cost))  # fmt: skip
        if costs and costs.discount:
            table.add_row(source_label(source.source_type), source.tier_name, "discount", money(-costs.discount))
    return table


def _invoices(summary: vb.GetInvoicesSummaryResponse, org_id: str | None) -> RenderableType:
    table = Table(
        title=f"Invoices{_for(org_id)}",
        caption=f"Outstanding balance: {money(summary.outstanding_balance)}",
        box=box.SIMPLE_HEAD,
    )
    for column in ("Invoice", "Date", "Amount", "Status", "Due", "Paid"):
        table.add_column(column, justify="right" if column == "Amount" else "left")
    for invoice in summary.invoices:
        status = Text(invoice.status, style="red" if invoice.status == "outstanding" else "")
        table.add_row(invoice.id, _date(invoice.invoice_date), money(invoice.invoice_amount), status,
                      _date(invoice.due_date), _date(invoice.paid_date))  # fmt: skip
    return table


def _billing_information(info: vb.GetOrgBillingInformationResponse, org_id: str | None) -> RenderableType:
    table = Table(title=f"Billing information{_for(org_id)}", box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
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
    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in data.items():
        table.add_row(name, "" if value is None else str(value))
    return table
