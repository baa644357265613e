"""Shared fixtures of the replay tests: an in-memory billing service with every RPC, and recording helpers."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
import viam_billing as vb
import viam_billing_replay as replay

ORG = "org-1"
OTHER_ORG = "org-2"
API_KEY = "key-5f0c3b1d9e8a47c2b6d4e1f0a9b8c7d6"
API_KEY_ID = "keyid-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
PDF = [b"%PDF-1.7\n", bytes(range(256)), b"\n%%EOF\n"]
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


class FakeBilling:
    """A small billing service for ``MockTransport``: every RPC, seeded data, and errors for unknown ids.

    ``charges`` numbers the invoices it creates, so equal charge requests get different answers, as live.
    ``pdf_delay`` makes the PDF stream pause before each chunk (for cancellation tests).
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, vb.Model]] = []
        self.charges = itertools.count(1)
        self.pdf_delay = 0.0
        self.hang = False

    def __call__(self, operation: vb.Operation[Any, Any], request: Any) -> Any:
        self.calls.append((operation.name, request))
        return getattr(self, operation.name)(request)

    def _org(self, org_id: str, operation: str) -> None:
        if org_id not in (ORG, OTHER_ORG):
            raise vb.NotFoundError(f"organization {org_id!r} not found", operation=operation)

    def GetCurrentMonthUsage(self, request: vb.GetCurrentMonthUsageRequest) -> Any:
        self._org(request.org_id, "GetCurrentMonthUsage")
        costs = vb.ResourceUsageCosts(
            usage_costs=(
                vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_STANDARD_COMPUTE, cost=10.25),
                vb.UsageCost(resource_type=vb.UsageCostType(999), cost=2.25),  # a type this client does not know
            ),
            total_with_discount=12.5,
            total_without_discount=12.5,
        )
        return vb.GetCurrentMonthUsageResponse(
            start_date=T0,
            end_date=datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=timezone.utc),
            resource_usage_costs_by_source=(
                vb.ResourceUsageCostsBySource(
                    source_type=vb.SourceType.SOURCE_TYPE_ORG, resource_usage_costs=costs, tier_name="pro"
                ),
            ),
            subtotal=12.5 if request.org_id == ORG else 3.0,
        )

    def GetOrgBillingInformation(self, request: vb.GetOrgBillingInformationRequest) -> Any:
        self._org(request.org_id, "GetOrgBillingInformation")
        return vb.GetOrgBillingInformationResponse(
            type=vb.PaymentMethodType.PAYMENT_METHOD_TYPE_USBANKACCOUNT,
            billing_email="owner@example.com",
            method=vb.PaymentMethodCard(brand="visa", last_four_digits="4242"),
            billing_tier="pro",
            method_us_bank_account=vb.PaymentMethodUSBankAccount(
                bank_name="First Loopback",
                last_four_digits_account_number="6789",
                routing_number="110000000",
                account_type="checking",
                verification_info=vb.VerificationInfo(
                    arrival_date=1764547200, hosted_verification_page_url="https://verify.example/abc"
                ),
            ),
        )

    def GetInvoicesSummary(self, request: vb.GetInvoicesSummaryRequest) -> Any:
        self._org(request.org_id, "GetInvoicesSummary")
        return vb.GetInvoicesSummaryResponse(
            outstanding_balance=42.0,
            invoices=(
                vb.InvoiceSummary(id="inv-1", invoice_date=T0, invoice_amount=42.0, status="outstanding", due_date=T0),
                vb.InvoiceSummary(id="inv-0", invoice_date=T0, invoice_amount=7.5, status="paid", paid_date=T0),
            ),
        )

    async def GetInvoicePdf(self, request: vb.GetInvoicePdfRequest) -> AsyncIterator[vb.GetInvoicePdfResponse]:
        self._org(request.org_id, "GetInvoicePdf")
        if request.id not in ("inv-1", "inv-broken", "inv-slow"):
            raise vb.NotFoundError(f"invoice {request.id!r} not found", operation="GetInvoicePdf")
        for index, chunk in enumerate(PDF):
            if request.id == "inv-broken" and index == 2:
                raise vb.UnavailableError("connection reset while streaming", operation="GetInvoicePdf")
            if request.id == "inv-slow" and index == 1:
                await anyio.sleep(3600)
            await anyio.sleep(self.pdf_delay)
            yield vb.GetInvoicePdfResponse(chunk=chunk)

    def SendPaymentRequiredEmail(self, request: vb.SendPaymentRequiredEmailRequest) -> Any:
        self._org(request.customer_org_id, "SendPaymentRequiredEmail")
        return vb.SendPaymentRequiredEmailResponse()

    def GetAvailableBillingTiers(self, request: vb.GetAvailableBillingTiersRequest) -> Any:
        return vb.GetAvailableBillingTiersResponse(tiers=("free", "pro", "enterprise"))

    def UpdateOrganizationBillingTier(self, request: vb.UpdateOrganizationBillingTierRequest) -> Any:
        if request.billing_tier not in ("free", "pro", "enterprise"):
            raise vb.InvalidArgumentError(
                f"no billing tier {request.billing_tier!r}", operation="UpdateOrganizationBillingTier"
            )
        return vb.UpdateOrganizationBillingTierResponse()

    def GetLocationBillingOrganization(self, request: vb.GetLocationBillingOrganizationRequest) -> Any:
        return vb.GetLocationBillingOrganizationResponse(billing_organization_id=ORG)

    def UpdateLocationBillingOrganization(self, request: vb.UpdateLocationBillingOrganizationRequest) -> Any:
        return vb.UpdateLocationBillingOrganizationResponse()

    async def ChargeOrganization(self, request: vb.ChargeOrganizationRequest) -> Any:
        if self.hang:
            await anyio.sleep(3600)
        self._org(request.org_id_to_charge, "ChargeOrganization")
        return vb.ChargeOrganizationResponse(invoice_id=f"inv-new-{next(self.charges)}")

    def CreateInvoiceAndChargeImmediately(self, request: vb.CreateInvoiceAndChargeImmediatelyRequest) -> Any:
        self._org(request.org_id_to_charge, "CreateInvoiceAndChargeImmediately")
        return vb.CreateInvoiceAndChargeImmediatelyResponse(invoice_id=f"inv-old-{next(self.charges)}")


@pytest.fixture
def service() -> FakeBilling:
    """A fresh in-memory billing service."""
    return FakeBilling()


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    """Where the test's cassette goes (its directory does not exist yet)."""
    return tmp_path / "cassettes" / "test.json"


@pytest.fixture
def registry() -> vb.PluginRegistry:
    """A private registry that knows only the replay plugin: no entry points are loaded."""
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(replay, name="replay")
    return registry


ClientFactory = Callable[..., vb.BillingClient]


@pytest.fixture
def open_client(cassette: Path, service: FakeBilling, registry: vb.PluginRegistry) -> ClientFactory:
    """``open_client(record_mode, **options)``: a client on a replay transport recording from ``service``."""

    def build(record_mode: str = "none", **options: Any) -> vb.BillingClient:
        options.setdefault("cassette", cassette)
        options.setdefault("inner", vb.MockTransport(service))
        return vb.connect(transport="replay", record_mode=record_mode, registry=registry, **options)

    return build


async def _every_rpc(billing: vb.BillingClient, tmp: Path) -> list[Any]:
    """Call every RPC (a PDF, a PDF broken mid-stream, and errors included); return what each call gave."""
    results: list[Any] = []

    async def attempt(call: Awaitable[Any]) -> None:
        try:
            results.append(await call)
        except vb.BillingError as exc:
            results.append((type(exc), getattr(exc, "code", None), exc.message, exc.operation))

    await attempt(billing.get_current_month_usage(ORG))
    await attempt(billing.get_current_month_usage("org-missing"))
    await attempt(billing.get_org_billing_information(ORG))
    await attempt(billing.get_invoices_summary(ORG))
    await attempt(billing.get_invoice_pdf_bytes("inv-1", ORG))
    await attempt(billing.get_invoice_pdf("inv-1", ORG, tmp / "invoice.pdf"))
    await attempt(billing.get_invoice_pdf("inv-broken", ORG, tmp / "broken.pdf"))
    await attempt(billing.get_invoice_pdf_bytes("inv-missing", ORG))
    await attempt(billing.send_payment_required_email(OTHER_ORG, ORG))
    await attempt(billing.get_available_billing_tiers())
    await attempt(billing.update_organization_billing_tier(ORG, "pro"))
    await attempt(billing.update_organization_billing_tier(ORG, "platinum"))
    await attempt(billing.get_location_billing_organization("loc-1"))
    await attempt(billing.update_location_billing_organization("loc-1", OTHER_ORG))
    await attempt(billing.charge_organization(OTHER_ORG, 100.0, 8.0, "support, November"))
    await attempt(billing.charge_organization(OTHER_ORG, 100.0, 8.0, "support, November"))
    await attempt(billing.charge_organization("org-missing", 1.0, 0.0))
    with pytest.warns(DeprecationWarning, match="deprecated"):
        await attempt(billing.create_invoice_and_charge_immediately(OTHER_ORG, 5.0))
    return results


@pytest.fixture
def every_rpc() -> Callable[[vb.BillingClient, Path], Awaitable[list[Any]]]:
    """``await every_rpc(billing, tmp_dir)``: call every RPC and return the results (errors as tuples)."""
    return _every_rpc
