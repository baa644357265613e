"""A user's code on viam-billing: an overdue-invoice report, an invoice archiver and a payment reminder.

This is the code the example tests in ``tests/`` check, offline, against cassettes recorded from the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import viam_billing


@dataclass(frozen=True)
class OverdueReport:
    """What an organization owes: the balance, the unpaid invoices, and this month's usage so far."""

    org_id: str
    outstanding_balance: float
    overdue_invoices: tuple[str, ...]
    month_to_date: float


async def overdue_report(billing: viam_billing.BillingClient, org_id: str) -> OverdueReport:
    """Build the report of one organization from two calls."""
    summary = await billing.get_invoices_summary(org_id)
    usage = await billing.get_current_month_usage(org_id)
    overdue = tuple(invoice.id for invoice in summary.invoices if invoice.status == "outstanding")
    return OverdueReport(
        org_id=org_id,
        outstanding_balance=summary.outstanding_balance,
        overdue_invoices=overdue,
        month_to_date=usage.subtotal,
    )


async def archive_overdue_invoices(billing: viam_billing.BillingClient, org_id: str, directory: Path) -> list[Path]:
    """Download the PDF of every overdue invoice into ``directory``; return the files written."""
    report = await overdue_report(billing, org_id)
    written = []
    for invoice_id in report.overdue_invoices:
        path = directory / f"{invoice_id}.pdf"
        await billing.get_invoice_pdf(invoice_id, org_id, path)
        written.append(path)
    return written


async def remind_if_overdue(billing: viam_billing.BillingClient, customer_org_id: str, owner_org_id: str) -> bool:
    """Send the payment-required e-mail when the customer has overdue invoices; return whether it was sent."""
    report = await overdue_report(billing, customer_org_id)
    if not report.overdue_invoices:
        return False
    await billing.send_payment_required_email(customer_org_id, owner_org_id)
    return True


async def bill_support_hours(
    billing: viam_billing.BillingClient, org_id: str, hours: float, rate: float, note: str
) -> str:
    """Charge an organization for support hours (8 % tax); return the new invoice's id."""
    subtotal = round(hours * rate, 2)
    charge = await billing.charge_organization(org_id, subtotal, round(subtotal * 0.08, 2), note)
    return charge.invoice_id
