"""What the emulated service does with each request, on models; failures raise ``GRPCError``."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import attrs
import viam_billing as vb
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from ._seed import BILLING_TIERS, LOCATIONS, Organization, generated_organizations, seed_organizations

__all__ = ["Charge", "State"]

_MAX_DESCRIPTION = 1000


@attrs.frozen(kw_only=True)
class Charge:
    """A charge the emulator carried out: which RPC, whom, how much (US dollars) and the invoice it made."""

    operation: str
    org_id: str
    amount: float
    description: str | None
    invoice_id: str


def _require(value: str, name: str) -> str:
    if not value:
        raise GRPCError(Status.INVALID_ARGUMENT, f"{name} is required")
    return value


def _amount(value: float, name: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise GRPCError(Status.INVALID_ARGUMENT, f"{name} must be a finite, non-negative amount")
    return value


class State:
    """The emulated service's data, and the logic of every RPC. Thread-safe: tests read it from their thread."""

    def __init__(self, clock: Callable[[], datetime], chunk_size: int, generated: int = 0) -> None:
        self.clock = clock
        self.chunk_size = chunk_size
        self.lock = threading.Lock()
        self.orgs: dict[str, Organization] = seed_organizations(clock())
        self.orgs.update(generated_organizations(generated, clock()))
        self.locations: dict[str, str] = dict(LOCATIONS)
        self.tiers: tuple[str, ...] = BILLING_TIERS
        self.charges: list[Charge] = []
        self.emails: list[tuple[str, str]] = []
        self._invoice_numbers = 0
        self.handlers: dict[str, Callable[[Any], Any]] = {
            "GetCurrentMonthUsage": self.get_current_month_usage,
            "GetOrgBillingInformation": self.get_org_billing_information,
            "GetInvoicesSummary": self.get_invoices_summary,
            "GetInvoicePdf": self.get_invoice_pdf,
            "SendPaymentRequiredEmail": self.send_payment_required_email,
            "GetAvailableBillingTiers": self.get_available_billing_tiers,
            "UpdateOrganizationBillingTier": self.update_organization_billing_tier,
            "GetLocationBillingOrganization": self.get_location_billing_organization,
            "UpdateLocationBillingOrganization": self.update_location_billing_organization,
            "ChargeOrganization": self.charge_organization,
            "CreateInvoiceAndChargeImmediately": self.create_invoice_and_charge_immediately,
        }

    # -- helpers -------------------------------------------------------------------------------------------------

    def org(self, org_id: str, name: str = "org_id") -> Organization:
        """The organization, if the emulator's key owns it."""
        _require(org_id, name)
        org = self.orgs.get(org_id)
        if org is None:
            raise GRPCError(Status.NOT_FOUND, f"organization {org_id} not found")
        if not org.owned:
            raise GRPCError(Status.PERMISSION_DENIED, f"the API key is not an owner of organization {org_id}")
        return org

    def new_invoice(
        self, org: Organization, amount: float, status: str, *, invoice_id: str | None = None, pdf: bytes | None = None
    ) -> vb.InvoiceSummary:
        if invoice_id is None:
            self._invoice_numbers += 1
            invoice_id = f"inv-emu-{self._invoice_numbers:06d}"
        now = self.clock().replace(microsecond=0)
        invoice = vb.InvoiceSummary(
            id=invoice_id,
            invoice_date=now,
            invoice_amount=round(amount, 2),
            status=status,
            due_date=now + timedelta(days=15),
            paid_date=now if status == "paid" else None,
        )
        org.add_invoice(invoice, pdf)
        return invoice

    # -- reads ---------------------------------------------------------------------------------------------------

    def get_current_month_usage(self, request: vb.GetCurrentMonthUsageRequest) -> vb.GetCurrentMonthUsageResponse:
        with self.lock:
            return self.org(request.org_id).usage(self.clock())

    def get_org_billing_information(
        self, request: vb.GetOrgBillingInformationRequest
    ) -> vb.GetOrgBillingInformationResponse:
        with self.lock:
            return self.org(request.org_id).billing

    def get_invoices_summary(self, request: vb.GetInvoicesSummaryRequest) -> vb.GetInvoicesSummaryResponse:
        with self.lock:
            org = self.org(request.org_id)
            return vb.GetInvoicesSummaryResponse(
                outstanding_balance=org.outstanding_balance(), invoices=tuple(org.invoices)
            )

    def get_invoice_pdf(self, request: vb.GetInvoicePdfRequest) -> Iterator[vb.GetInvoicePdfResponse]:
        _require(request.id, "id")
        with self.lock:
            org = self.org(request.org_id)
            pdf = org.pdfs.get(request.id)
        if pdf is None:
            raise GRPCError(Status.NOT_FOUND, f"invoice {request.id} not found in organization {request.org_id}")
        size = self.chunk_size
        return (vb.GetInvoicePdfResponse(chunk=pdf[i : i + size]) for i in range(0, len(pdf), size))

    def get_available_billing_tiers(
        self, request: vb.GetAvailableBillingTiersRequest
    ) -> vb.GetAvailableBillingTiersResponse:
        return vb.GetAvailableBillingTiersResponse(tiers=self.tiers)

    def get_location_billing_organization(
        self, request: vb.GetLocationBillingOrganizationRequest
    ) -> vb.GetLocationBillingOrganizationResponse:
        _require(request.location_id, "location_id")
        with self.lock:
            org_id = self.locations.get(request.location_id)
        if org_id is None:
            raise GRPCError(Status.NOT_FOUND, f"location {request.location_id} not found")
        return vb.GetLocationBillingOrganizationResponse(billing_organization_id=org_id)

    # -- changes -------------------------------------------------------------------------------------------------

    def send_payment_required_email(
        self, request: vb.SendPaymentRequiredEmailRequest
    ) -> vb.SendPaymentRequiredEmailResponse:
        with self.lock:
            customer = self.orgs.get(_require(request.customer_org_id, "customer_org_id"))
            if customer is None:
                raise GRPCError(Status.NOT_FOUND, f"organization {request.customer_org_id} not found")
            self.org(request.billing_owner_org_id, "billing_owner_org_id")
            self.emails.append((request.customer_org_id, request.billing_owner_org_id))
        return vb.SendPaymentRequiredEmailResponse()

    def update_organization_billing_tier(
        self, request: vb.UpdateOrganizationBillingTierRequest
    ) -> vb.UpdateOrganizationBillingTierResponse:
        tier = _require(request.billing_tier, "billing_tier")
        if tier not in self.tiers:
            raise GRPCError(
                Status.INVALID_ARGUMENT, f"unknown billing tier {tier!r}; available: {', '.join(self.tiers)}"
            )
        with self.lock:
            org = self.org(request.organization_id, "organization_id")
            org.billing = attrs.evolve(org.billing, billing_tier=tier)
        return vb.UpdateOrganizationBillingTierResponse()

    def update_location_billing_organization(
        self, request: vb.UpdateLocationBillingOrganizationRequest
    ) -> vb.UpdateLocationBillingOrganizationResponse:
        location = _require(request.location_id, "location_id")
        with self.lock:
            if location not in self.locations:
                raise GRPCError(Status.NOT_FOUND, f"location {location} not found")
            self.org(request.billing_organization_id, "billing_organization_id")
            self.locations[location] = request.billing_organization_id
        return vb.UpdateLocationBillingOrganizationResponse()

    def _charge(self, operation: str, org_id: str, amount: float, description: str | None, branding: str | None) -> str:
        if description is not None and len(description) > _MAX_DESCRIPTION:
            raise GRPCError(Status.INVALID_ARGUMENT, f"description is longer than {_MAX_DESCRIPTION} characters")
        with self.lock:
            org = self.org(org_id, "org_id_to_charge")
            if branding is not None and branding not in self.orgs:
                raise GRPCError(Status.NOT_FOUND, f"organization {branding} (org_id_for_branding) not found")
            invoice = self.new_invoice(org, amount, "payment_processing")
            self.charges.append(
                Charge(
                    operation=operation,
                    org_id=org_id,
                    amount=invoice.invoice_amount,
                    description=description,
                    invoice_id=invoice.id,
                )
            )
        return invoice.id

    def charge_organization(self, request: vb.ChargeOrganizationRequest) -> vb.ChargeOrganizationResponse:
        amount = _amount(request.subtotal, "subtotal") + _amount(request.tax, "tax")
        invoice_id = self._charge(
            "ChargeOrganization", request.org_id_to_charge, amount, request.description, request.org_id_for_branding
        )
        return vb.ChargeOrganizationResponse(invoice_id=invoice_id)

    def create_invoice_and_charge_immediately(
        self, request: vb.CreateInvoiceAndChargeImmediatelyRequest
    ) -> vb.CreateInvoiceAndChargeImmediatelyResponse:
        invoice_id = self._charge(
            "CreateInvoiceAndChargeImmediately",
            request.org_id_to_charge,
            _amount(request.amount, "amount"),
            request.description,
            request.org_id_for_branding,
        )
        return vb.CreateInvoiceAndChargeImmediatelyResponse(invoice_id=invoice_id)
