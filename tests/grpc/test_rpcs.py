"""Every billing RPC through the grpc transport and real HTTP/2 on loopback, against the emulator."""

from __future__ import annotations

import io
import warnings

import pypdf
import pytest
import viam_billing as vb
from viam_billing_grpc.emulator import (
    ACME_ORG_ID,
    BILLING_TIERS,
    FOREIGN_ORG_ID,
    GLOBEX_ORG_ID,
    INITECH_ORG_ID,
    UMBRELLA_ORG_ID,
    UNKNOWN_USAGE_COST_TYPE,
    Emulator,
)

pytestmark = pytest.mark.anyio


async def test_get_current_month_usage_splits_costs_by_source(billing: vb.BillingClient, now) -> None:
    """Usage arrives split into the organization's own and two fragments' costs, over many cost types."""
    usage = await billing.get_current_month_usage(ACME_ORG_ID)
    sources = [s.source_type for s in usage.resource_usage_costs_by_source]
    assert sources == [
        vb.SourceType.SOURCE_TYPE_ORG,
        vb.SourceType.SOURCE_TYPE_FRAGMENT,
        vb.SourceType.SOURCE_TYPE_FRAGMENT,
    ]
    org_costs = usage.resource_usage_costs_by_source[0].resource_usage_costs
    assert org_costs is not None
    assert len({line.resource_type for line in org_costs.usage_costs}) == 12
    assert usage.subtotal == pytest.approx(
        sum(s.resource_usage_costs.total_with_discount for s in usage.resource_usage_costs_by_source)
    )
    assert usage.start_date == now.replace(day=1, hour=0, minute=0)
    assert usage.end_date is not None
    assert usage.end_date.month == now.month


async def test_unknown_usage_cost_type_is_kept(billing: vb.BillingClient) -> None:
    """A cost type newer than the client survives the wire as an UNKNOWN_<n> member."""
    usage = await billing.get_current_month_usage(GLOBEX_ORG_ID)
    costs = usage.resource_usage_costs_by_source[0].resource_usage_costs
    assert costs is not None
    unknown = [line.resource_type for line in costs.usage_costs if not line.resource_type.is_known()]
    assert unknown == [UNKNOWN_USAGE_COST_TYPE]
    assert unknown[0].name == f"UNKNOWN_{UNKNOWN_USAGE_COST_TYPE}"


async def test_get_org_billing_information_card_and_bank_accounts(billing: vb.BillingClient) -> None:
    """Card, verified and unverified bank accounts, and no method, each come back as the service sends them."""
    acme = await billing.get_org_billing_information(ACME_ORG_ID)
    assert acme.type == vb.PaymentMethodType.PAYMENT_METHOD_TYPE_CARD
    assert acme.method == vb.PaymentMethodCard(brand="visa", last_four_digits="4242")
    assert acme.billing_tier == "pro"
    assert acme.method_us_bank_account is None

    globex = await billing.get_org_billing_information(GLOBEX_ORG_ID)
    assert globex.type == vb.PaymentMethodType.PAYMENT_METHOD_TYPE_USBANKACCOUNT
    assert globex.method is None
    assert globex.billing_tier is None
    assert globex.method_us_bank_account is not None
    assert globex.method_us_bank_account.verification_info is None

    initech = await billing.get_org_billing_information(INITECH_ORG_ID)
    assert initech.method_us_bank_account is not None
    info = initech.method_us_bank_account.verification_info
    assert info is not None
    assert info.hosted_verification_page_url.startswith("https://")
    assert info.arrival_date > 0

    umbrella = await billing.get_org_billing_information(UMBRELLA_ORG_ID)
    assert umbrella.type == vb.PaymentMethodType.PAYMENT_METHOD_TYPE_UNSPECIFIED
    assert (umbrella.method, umbrella.method_us_bank_account) == (None, None)


async def test_get_invoices_summary_lists_paid_outstanding_and_failed(billing: vb.BillingClient) -> None:
    """Invoices come newest first with their statuses, failure details and the outstanding balance."""
    summary = await billing.get_invoices_summary(ACME_ORG_ID)
    by_id = {invoice.id: invoice for invoice in summary.invoices}
    assert [invoice.id for invoice in summary.invoices] == [
        "inv-acme-0004",
        "inv-acme-0003",
        "inv-acme-0002",
        "inv-acme-0001",
    ]
    assert by_id["inv-acme-0001"].status == "paid"
    assert by_id["inv-acme-0001"].paid_date is not None
    failed = by_id["inv-acme-0003"]
    assert failed.status == "outstanding"
    assert failed.last_payment_failure_reason == "Your card was declined."
    assert failed.last_payment_failure_at is not None
    assert summary.outstanding_balance == pytest.approx(187.43 + 164.10)


async def test_get_invoice_pdf_streams_a_real_pdf_in_several_chunks(
    billing: vb.BillingClient, emulator: Emulator
) -> None:
    """The PDF arrives in several chunks whose concatenation is the emulator's document, a readable PDF."""
    async with billing.stream_invoice_pdf("inv-acme-0002", ACME_ORG_ID) as stream:
        chunks = [chunk async for chunk in stream]
    assert len(chunks) >= 3
    document = b"".join(chunks)
    assert document == emulator.pdf(ACME_ORG_ID, "inv-acme-0002")
    text = pypdf.PdfReader(io.BytesIO(document)).pages[0].extract_text()
    assert "inv-acme-0002" in text
    assert "Acme Robotics" in text


async def test_get_invoice_pdf_to_a_path(billing: vb.BillingClient, emulator: Emulator, tmp_path) -> None:
    """Downloading to a path writes the whole document and returns its size."""
    dest = tmp_path / "invoice.pdf"
    size = await billing.get_invoice_pdf("inv-globex-0001", GLOBEX_ORG_ID, dest)
    assert dest.read_bytes() == emulator.pdf(GLOBEX_ORG_ID, "inv-globex-0001")
    assert size == dest.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["invoice.pdf"]


async def test_get_available_billing_tiers(billing: vb.BillingClient) -> None:
    """The tiers are listed in order."""
    assert (await billing.get_available_billing_tiers()).tiers == BILLING_TIERS


async def test_update_organization_billing_tier(billing: vb.BillingClient, emulator: Emulator) -> None:
    """A tier change is applied and then reported by GetOrgBillingInformation."""
    await billing.update_organization_billing_tier(INITECH_ORG_ID, "business")
    assert (await billing.get_org_billing_information(INITECH_ORG_ID)).billing_tier == "business"
    assert emulator.billing_information(INITECH_ORG_ID).billing_tier == "business"


async def test_location_billing_organization_read_and_update(billing: vb.BillingClient, emulator: Emulator) -> None:
    """A location's billing organization is read, moved, and read again."""
    before = await billing.get_location_billing_organization("loc-acme-field")
    assert before.billing_organization_id == UMBRELLA_ORG_ID
    await billing.update_location_billing_organization("loc-acme-field", ACME_ORG_ID)
    after = await billing.get_location_billing_organization("loc-acme-field")
    assert after.billing_organization_id == ACME_ORG_ID == emulator.location_billing_organization("loc-acme-field")


async def test_charge_organization_creates_a_payment_processing_invoice(
    billing: vb.BillingClient, emulator: Emulator
) -> None:
    """A charge returns its invoice, listed first as payment_processing, with the amount subtotal + tax."""
    charged = await billing.charge_organization(ACME_ORG_ID, 120.0, 9.6, "November support")
    summary = await billing.get_invoices_summary(ACME_ORG_ID)
    newest = summary.invoices[0]
    assert newest.id == charged.invoice_id
    assert newest.status == "payment_processing"
    assert newest.invoice_amount == pytest.approx(129.6)
    assert [c.invoice_id for c in emulator.charges] == [charged.invoice_id]
    assert emulator.charges[0].description == "November support"
    pdf = await billing.get_invoice_pdf_bytes(charged.invoice_id, ACME_ORG_ID)
    assert pdf.startswith(b"%PDF-")


async def test_create_invoice_and_charge_immediately(billing: vb.BillingClient, emulator: Emulator) -> None:
    """The deprecated charge still works, and warns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charged = await billing.create_invoice_and_charge_immediately(GLOBEX_ORG_ID, 42.5)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert emulator.charges[-1].operation == "CreateInvoiceAndChargeImmediately"
    assert emulator.invoices(GLOBEX_ORG_ID)[0].id == charged.invoice_id


async def test_send_payment_required_email(billing: vb.BillingClient, emulator: Emulator) -> None:
    """The e-mail request reaches the service with both organizations."""
    await billing.send_payment_required_email(ACME_ORG_ID, UMBRELLA_ORG_ID)
    assert emulator.emails == [(ACME_ORG_ID, UMBRELLA_ORG_ID)]


async def test_service_errors_map_to_specific_errors(billing: vb.BillingClient) -> None:
    """NOT_FOUND, PERMISSION_DENIED and INVALID_ARGUMENT answers raise their own classes, with context."""
    with pytest.raises(vb.NotFoundError) as not_found:
        await billing.get_invoices_summary("no-such-org")
    assert not_found.value.operation == "GetInvoicesSummary"
    assert not_found.value.code == vb.StatusCode.NOT_FOUND
    assert "no-such-org" in not_found.value.message

    with pytest.raises(vb.PermissionDeniedError):
        await billing.get_current_month_usage(FOREIGN_ORG_ID)
    with pytest.raises(vb.InvalidArgumentError, match="unknown billing tier"):
        await billing.update_organization_billing_tier(ACME_ORG_ID, "platinum")
    with pytest.raises(vb.NotFoundError, match="inv-nope"):
        await billing.get_invoice_pdf_bytes("inv-nope", ACME_ORG_ID)
