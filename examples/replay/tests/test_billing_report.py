"""Tests of billing_report.py on the billing_client fixture: offline, from the cassettes in cassettes/."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import viam_billing
from billing_report import archive_overdue_invoices, bill_support_hours, overdue_report, remind_if_overdue

pytestmark = pytest.mark.anyio

# The emulator's seeded organizations (see viam_billing_grpc.emulator).
ACME = "ac3e0001-5b1d-4c6e-9f00-000000000001"
INITECH = "1ec00003-5b1d-4c6e-9f00-000000000003"
UMBRELLA = "0b7e0004-5b1d-4c6e-9f00-000000000004"
FOREIGN = "f0e10005-5b1d-4c6e-9f00-000000000005"


async def test_report_lists_overdue_invoices(billing_client: viam_billing.BillingClient) -> None:
    report = await overdue_report(billing_client, ACME)
    assert report.overdue_invoices == ("inv-acme-0004", "inv-acme-0003")
    assert report.outstanding_balance > 0
    assert report.month_to_date > 0


async def test_archive_writes_one_pdf_per_overdue_invoice(
    billing_client: viam_billing.BillingClient, tmp_path: Path
) -> None:
    written = await archive_overdue_invoices(billing_client, ACME, tmp_path)
    assert [path.name for path in written] == ["inv-acme-0004.pdf", "inv-acme-0003.pdf"]
    assert all(path.read_bytes().startswith(b"%PDF-") for path in written)


async def test_no_reminder_without_overdue_invoices(billing_client: viam_billing.BillingClient) -> None:
    assert await remind_if_overdue(billing_client, INITECH, UMBRELLA) is False


async def test_reminder_for_overdue_invoices(billing_client: viam_billing.BillingClient) -> None:
    assert await remind_if_overdue(billing_client, ACME, UMBRELLA) is True


async def test_a_foreign_organization_is_refused(billing_client: viam_billing.BillingClient) -> None:
    with pytest.raises(viam_billing.PermissionDeniedError):
        await overdue_report(billing_client, FOREIGN)


# The note carries today's date, so it is left out of matching: the recorded charge answers any day's note.
@pytest.mark.billing_cassette("support_hours", match_ignore=["ChargeOrganization.description"])
async def test_support_hours_are_charged(billing_client: viam_billing.BillingClient) -> None:
    invoice_id = await bill_support_hours(billing_client, INITECH, 3, 150.0, f"support on {date.today()}")
    assert invoice_id.startswith("inv-")
