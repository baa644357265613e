"""Fixtures of the sink tests: sample results and a client on an in-memory transport."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import viam_billing as vb

NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _usage(subtotal_scale: float = 1.0) -> vb.GetCurrentMonthUsageResponse:
    return vb.GetCurrentMonthUsageResponse(
        start_date=NOV,
        end_date=DEC,
        subtotal=42.5 * subtotal_scale,
        resource_usage_costs_by_source=(
            vb.ResourceUsageCostsBySource(
                source_type=vb.SourceType.SOURCE_TYPE_ORG,
                tier_name="pro",
                resource_usage_costs=vb.ResourceUsageCosts(
                    usage_costs=(
                        vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_REMOTE_CONTROL, cost=30.0),
                        vb.UsageCost(resource_type=vb.UsageCostType(99), cost=12.5),  # a type we do not know yet
                    ),
                    total_with_discount=42.5,
                    total_without_discount=42.5,
                ),
            ),
        ),
    )


def _invoices() -> vb.GetInvoicesSummaryResponse:
    return vb.GetInvoicesSummaryResponse(
        outstanding_balance=15.0,
        invoices=(
            vb.InvoiceSummary(
                id="inv-1",
                invoice_date=datetime(2026, 9, 1, tzinfo=timezone.utc),
                invoice_amount=20.0,
                status="paid",
                paid_date=datetime(2026, 9, 3, tzinfo=timezone.utc),
            ),
            vb.InvoiceSummary(
                id="../../escape",
                invoice_date=datetime(2026, 10, 1, tzinfo=timezone.utc),
                invoice_amount=15.0,
                status="outstanding",
            ),
        ),
    )


def _info() -> vb.GetOrgBillingInformationResponse:
    return vb.GetOrgBillingInformationResponse(
        type=vb.PaymentMethodType.PAYMENT_METHOD_TYPE_CARD,
        billing_email="billing@example.com",
        method=vb.PaymentMethodCard(brand="visa", last_four_digits="4242"),
    )


PDF = b"%PDF-1.4\n" + b"x" * 5000 + b"\n%%EOF\n"


def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
    name = operation.name
    if name == "GetCurrentMonthUsage":
        return _usage()
    if name == "GetInvoicesSummary":
        return _invoices()
    if name == "GetOrgBillingInformation":
        return _info()
    if name == "GetInvoicePdf":
        return [vb.GetInvoicePdfResponse(chunk=PDF[i : i + 1000]) for i in range(0, len(PDF), 1000)]
    if name == "GetAvailableBillingTiers":
        return vb.GetAvailableBillingTiersResponse(tiers=("free", "pro"))
    if name == "ChargeOrganization":
        return vb.ChargeOrganizationResponse(invoice_id="inv-charged")
    raise vb.UnimplementedError("not in this test", operation=name)


@pytest.fixture
def sample_handler() -> Callable[..., Any]:
    """The MockTransport handler answering with the sample results."""
    return handler


@pytest.fixture
def usage() -> vb.GetCurrentMonthUsageResponse:
    return _usage()


@pytest.fixture
def pdf_bytes() -> bytes:
    return PDF


@pytest.fixture
def make_client() -> Callable[..., vb.BillingClient]:
    """``make_client(sinks)``: a BillingClient over a MockTransport answering with the sample results."""

    def make(sinks: list[vb.Sink | str], on_call: Callable[..., Any] = handler) -> vb.BillingClient:
        registry = vb.get_registry()
        built = [registry.create_sink(s) if isinstance(s, str) else s for s in sinks]
        return vb.BillingClient(vb.MockTransport(on_call), sinks=built)

    return make


@pytest.fixture
def export_once() -> Callable[..., Any]:
    """``await export_once(client, org)``: the three reads the export job makes, each stored by the sinks."""

    async def export(client: vb.BillingClient, org: str = "org-1") -> None:
        await client.get_current_month_usage(org)
        await client.get_invoices_summary(org)
        await client.get_org_billing_information(org)

    return export
