"""The emulator's seed data: organizations, usage, invoices with their PDFs, locations and tiers.

Every id is fixed and documented in :mod:`viam_billing_grpc.emulator`, so tests can name them. Dates are
placed relative to the emulator's clock (the months before "now"), so the data looks current on any day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import attrs
import viam_billing as vb
from viam_billing import PaymentMethodType, SourceType, UsageCostType

from ._pdf import invoice_pdf

__all__ = [
    "ACME_ORG_ID",
    "BILLING_TIERS",
    "FOREIGN_ORG_ID",
    "GLOBEX_ORG_ID",
    "INITECH_ORG_ID",
    "LOCATIONS",
    "UMBRELLA_ORG_ID",
    "UNKNOWN_USAGE_COST_TYPE",
    "Organization",
    "generated_org_id",
    "generated_organizations",
    "month_start",
    "seed_organizations",
]

ACME_ORG_ID = "ac3e0001-5b1d-4c6e-9f00-000000000001"
GLOBEX_ORG_ID = "610be002-5b1d-4c6e-9f00-000000000002"
INITECH_ORG_ID = "1ec00003-5b1d-4c6e-9f00-000000000003"
UMBRELLA_ORG_ID = "0b7e0004-5b1d-4c6e-9f00-000000000004"
FOREIGN_ORG_ID = "f0e10005-5b1d-4c6e-9f00-000000000005"

BILLING_TIERS = ("free", "pro", "business", "enterprise")

LOCATIONS = {
    "loc-acme-warehouse": ACME_ORG_ID,
    "loc-acme-field": UMBRELLA_ORG_ID,
    "loc-globex-farm": GLOBEX_ORG_ID,
    "loc-initech-lab": INITECH_ORG_ID,
}
"""Location id -> the organization billed for it (``loc-acme-field`` is paid for by Umbrella, a reseller)."""

UNKNOWN_USAGE_COST_TYPE = 99
"""A usage cost type number newer than any client knows; Globex's usage has a line of it."""

_T = UsageCostType


@attrs.define
class Organization:
    """One organization of the emulator, mutable as calls change it."""

    org_id: str
    name: str
    owned: bool
    billing: vb.GetOrgBillingInformationResponse
    sources: tuple[vb.ResourceUsageCostsBySource, ...]
    invoices: list[vb.InvoiceSummary] = attrs.field(factory=list)
    """Newest first."""
    pdfs: dict[str, bytes] = attrs.field(factory=dict)

    def usage(self, now: datetime) -> vb.GetCurrentMonthUsageResponse:
        """This month's usage, with the deprecated flat fields filled as older servers still do."""
        org_costs: dict[int, float] = {}
        for source in self.sources:
            if source.source_type == SourceType.SOURCE_TYPE_ORG and source.resource_usage_costs is not None:
                for line in source.resource_usage_costs.usage_costs:
                    org_costs[int(line.resource_type)] = line.cost
        totals = [s.resource_usage_costs for s in self.sources if s.resource_usage_costs is not None]
        with_discount = _cents(sum(t.total_with_discount for t in totals))
        start = month_start(now)
        return vb.GetCurrentMonthUsageResponse(
            start_date=start,
            end_date=_add_months(start, 1) - timedelta(seconds=1),
            resource_usage_costs_by_source=self.sources,
            subtotal=with_discount,
            cloud_storage_usage_cost=0.0,
            data_upload_usage_cost=0.0,
            data_egres_usage_cost=0.0,
            remote_control_usage_cost=org_costs.get(_T.USAGE_COST_TYPE_REMOTE_CONTROL, 0.0),
            standard_compute_usage_cost=org_costs.get(_T.USAGE_COST_TYPE_STANDARD_COMPUTE, 0.0),
            discount_amount=_cents(sum(t.discount for t in totals)),
            total_usage_with_discount=with_discount,
            total_usage_without_discount=_cents(sum(t.total_without_discount for t in totals)),
            per_machine_usage_cost=org_costs.get(_T.USAGE_COST_TYPE_PER_MACHINE, 0.0),
            binary_data_cloud_storage_usage_cost=org_costs.get(_T.USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE, 0.0),
            other_cloud_storage_usage_cost=0.0,
        )

    def outstanding_balance(self) -> float:
        return _cents(sum(i.invoice_amount for i in self.invoices if i.status in ("outstanding", "payment_processing")))

    def add_invoice(self, invoice: vb.InvoiceSummary, pdf: bytes | None = None) -> None:
        self.invoices.insert(0, invoice)
        self.pdfs[invoice.id] = pdf if pdf is not None else self.render_pdf(invoice)

    def render_pdf(self, invoice: vb.InvoiceSummary, lines: Iterable[str] = ()) -> bytes:
        date = invoice.invoice_date.strftime("%Y-%m-%d") if invoice.invoice_date else "-"
        due = invoice.due_date.strftime("%Y-%m-%d") if invoice.due_date else "-"
        return invoice_pdf(
            f"Invoice {invoice.id}",
            [
                f"Bill to: {self.name} (organization {self.org_id})",
                f"Billing e-mail: {self.billing.billing_email}",
                f"Invoice date: {date}    Due date: {due}",
                "",
                *lines,
                "",
                f"Total due: ${invoice.invoice_amount:,.2f} USD",
                f"Status: {invoice.status}",
                "",
                "Made by the viam-billing emulator: not a real invoice.",
            ],
        )


def _cents(value: float) -> float:
    return round(value + 0.0, 2)


def month_start(now: datetime) -> datetime:
    return now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def _costs(
    source: SourceType, tier: str, lines: Iterable[tuple[int, float]], discount: float = 0.0
) -> vb.ResourceUsageCostsBySource:
    usage = tuple(vb.UsageCost(resource_type=kind, cost=cost) for kind, cost in lines)
    without = _cents(sum(line.cost for line in usage))
    return vb.ResourceUsageCostsBySource(
        source_type=source,
        tier_name=tier,
        resource_usage_costs=vb.ResourceUsageCosts(
            usage_costs=usage,
            discount=discount,
            total_without_discount=without,
            total_with_discount=_cents(without - discount),
        ),
    )


def _invoice(
    org: Organization,
    number: int,
    amount: float,
    status: str,
    month: datetime,
    *,
    paid_after: int | None = None,
    failure: str = "",
) -> None:
    """Add the invoice of ``month``'s usage, dated the first of the month after it."""
    date = _add_months(month, 1)
    invoice = vb.InvoiceSummary(
        id=f"inv-{org.name.split()[0].lower()}-{number:04d}",
        invoice_date=date,
        invoice_amount=amount,
        status=status,
        due_date=date + timedelta(days=15),
        paid_date=date + timedelta(days=paid_after) if paid_after is not None else None,
        last_payment_failure_reason=failure,
        last_payment_failure_at=date + timedelta(days=1, hours=3) if failure else None,
    )
    items = [f"Usage for {month:%B %Y}:"]
    for source in org.sources:
        if source.resource_usage_costs is not None:
            kind = "organization" if source.source_type == SourceType.SOURCE_TYPE_ORG else "fragment"
            items.append(f"  {kind} usage ({source.tier_name}): {len(source.resource_usage_costs.usage_costs)} lines")
    org.invoices.insert(0, invoice)
    org.pdfs[invoice.id] = org.render_pdf(invoice, items)


def seed_organizations(now: datetime) -> dict[str, Organization]:
    """Build the seeded organizations, their invoices placed in the months before ``now``."""
    this_month = month_start(now)

    def months_ago(n: int) -> datetime:
        return _add_months(this_month, -n)

    org, fragment = SourceType.SOURCE_TYPE_ORG, SourceType.SOURCE_TYPE_FRAGMENT
    acme = Organization(
        org_id=ACME_ORG_ID,
        name="Acme Robotics",
        owned=True,
        billing=vb.GetOrgBillingInformationResponse(
            type=PaymentMethodType.PAYMENT_METHOD_TYPE_CARD,
            billing_email="billing@acme-robotics.example",
            method=vb.PaymentMethodCard(brand="visa", last_four_digits="4242"),
            billing_tier="pro",
        ),
        sources=(
            _costs(
                org,
                "pro",
                [
                    (_T.USAGE_COST_TYPE_REMOTE_CONTROL, 12.40),
                    (_T.USAGE_COST_TYPE_STANDARD_COMPUTE, 31.75),
                    (_T.USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE, 8.92),
                    (_T.USAGE_COST_TYPE_TABULAR_DATA_CLOUD_STORAGE, 2.15),
                    (_T.USAGE_COST_TYPE_LOGS_CLOUD_STORAGE, 0.87),
                    (_T.USAGE_COST_TYPE_BINARY_DATA_UPLOAD, 5.10),
                    (_T.USAGE_COST_TYPE_TABULAR_DATA_UPLOAD, 1.05),
                    (_T.USAGE_COST_TYPE_LOGS_UPLOAD, 0.44),
                    (_T.USAGE_COST_TYPE_BINARY_DATA_EGRESS, 3.30),
                    (_T.USAGE_COST_TYPE_PER_MACHINE, 45.00),
                    (_T.USAGE_COST_TYPE_TRIGGER_NOTIFICATION, 0.60),
                    (_T.USAGE_COST_TYPE_TABULAR_DATA_DATABASE_COMPUTE, 4.20),
                ],
                discount=10.00,
            ),
            _costs(
                fragment,
                "fragment-standard",
                [
                    (_T.USAGE_COST_TYPE_PER_MACHINE, 20.00),
                    (_T.USAGE_COST_TYPE_PREMIUM_MODULE, 15.00),
                    (_T.USAGE_COST_TYPE_SIMULATION_COMPUTE, 7.50),
                ],
            ),
            _costs(
                fragment,
                "fragment-standard",
                [
                    (_T.USAGE_COST_TYPE_PER_MACHINE, 10.00),
                    (_T.USAGE_COST_TYPE_PIPELINE_SINK_COMPUTE, 2.25),
                    (_T.USAGE_COST_TYPE_PIPELINE_SINK_CLOUD_STORAGE, 0.80),
                ],
                discount=1.30,
            ),
        ),
    )
    _invoice(acme, 1, 149.02, "paid", months_ago(4), paid_after=2)
    _invoice(acme, 2, 152.88, "paid", months_ago(3), paid_after=3)
    _invoice(acme, 3, 164.10, "outstanding", months_ago(2), failure="Your card was declined.")
    _invoice(acme, 4, 187.43, "outstanding", months_ago(1))

    globex = Organization(
        org_id=GLOBEX_ORG_ID,
        name="Globex Agritech",
        owned=True,
        billing=vb.GetOrgBillingInformationResponse(
            type=PaymentMethodType.PAYMENT_METHOD_TYPE_USBANKACCOUNT,
            billing_email="accounts-payable@globex.example",
            method_us_bank_account=vb.PaymentMethodUSBankAccount(
                bank_name="STRIPE TEST BANK",
                last_four_digits_account_number="6789",
                routing_number="110000000",
                account_type="checking",
            ),
        ),
        sources=(
            _costs(
                org,
                "business",
                [
                    (_T.USAGE_COST_TYPE_STANDARD_COMPUTE, 210.00),
                    (_T.USAGE_COST_TYPE_PER_MACHINE, 480.00),
                    (_T.USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE, 96.40),
                    (_T.USAGE_COST_TYPE_TABULAR_DATA_DATABASE_CLOUD_STORAGE, 18.75),
                    (_T.USAGE_COST_TYPE_CONFIG_HISTORY_CLOUD_STORAGE, 0.35),
                    (_T.USAGE_COST_TYPE_TRAINING_LOGS_CLOUD_STORAGE, 1.20),
                    (_T.USAGE_COST_TYPE_PACKAGES_CLOUD_STORAGE, 3.60),
                    (_T.USAGE_COST_TYPE_TABULAR_DATA_EGRESS, 7.90),
                    (_T.USAGE_COST_TYPE_LOGS_EGRESS, 0.95),
                    (_T.USAGE_COST_TYPE_TRAINING_LOGS_EGRESS, 0.15),
                    (_T.USAGE_COST_TYPE_BINARY_DATA_CROSS_REGION_EGRESS, 12.30),
                    (UNKNOWN_USAGE_COST_TYPE, 4.44),
                ],
                discount=50.00,
            ),
            _costs(fragment, "fragment-enterprise", [(_T.USAGE_COST_TYPE_PER_MACHINE, 120.00)]),
        ),
    )
    _invoice(globex, 1, 1122.70, "paid", months_ago(3), paid_after=4)
    _invoice(globex, 2, 1204.50, "paid", months_ago(2), paid_after=5)
    _invoice(globex, 3, 980.00, "payment_processing", months_ago(1))

    initech = Organization(
        org_id=INITECH_ORG_ID,
        name="Initech Labs",
        owned=True,
        billing=vb.GetOrgBillingInformationResponse(
            type=PaymentMethodType.PAYMENT_METHOD_TYPE_USBANKACCOUNT,
            billing_email="finance@initech.example",
            method_us_bank_account=vb.PaymentMethodUSBankAccount(
                bank_name="FIRST EXAMPLE BANK",
                last_four_digits_account_number="0042",
                routing_number="021000021",
                account_type="savings",
                verification_info=vb.VerificationInfo(
                    arrival_date=int((this_month + timedelta(days=3)).timestamp()),
                    hosted_verification_page_url="https://payments.example/verify/initech-labs",
                ),
            ),
            billing_tier="free",
        ),
        sources=(
            _costs(
                org,
                "free",
                [(_T.USAGE_COST_TYPE_REMOTE_CONTROL, 0.0), (_T.USAGE_COST_TYPE_LOGS_CLOUD_STORAGE, 0.12)],
            ),
        ),
    )

    umbrella = Organization(
        org_id=UMBRELLA_ORG_ID,
        name="Umbrella Fleet Services",
        owned=True,
        billing=vb.GetOrgBillingInformationResponse(
            type=PaymentMethodType.PAYMENT_METHOD_TYPE_UNSPECIFIED,
            billing_email="billing@umbrella-fleet.example",
            billing_tier="enterprise",
        ),
        sources=(
            _costs(
                org,
                "enterprise",
                [(_T.USAGE_COST_TYPE_PER_MACHINE, 900.00), (_T.USAGE_COST_TYPE_STANDARD_COMPUTE, 340.25)],
                discount=124.03,
            ),
            _costs(fragment, "fragment-enterprise", [(_T.USAGE_COST_TYPE_PREMIUM_MODULE, 60.00)]),
        ),
    )
    _invoice(umbrella, 1, 1176.22, "paid", months_ago(1), paid_after=1)

    foreign = Organization(
        org_id=FOREIGN_ORG_ID,
        name="Foreign Industries",
        owned=False,
        billing=vb.GetOrgBillingInformationResponse(billing_email="someone-else@foreign.example"),
        sources=(),
    )
    return {o.org_id: o for o in (acme, globex, initech, umbrella, foreign)}


def generated_org_id(number: int) -> str:
    """The id of generated organization ``number`` (1-based): ``9e000000-5b1d-4c6e-9f00-000000000001``, ..."""
    return f"9e000000-5b1d-4c6e-9f00-{number:012d}"


def generated_organizations(count: int, now: datetime) -> dict[str, Organization]:
    """``count`` more organizations, alike but for their amounts, for exports at scale (``Emulator(orgs=N)``).

    Organization ``n`` (:func:`generated_org_id`, named ``Org<n> Generated``) is owned, pays by card (visa
    4242) on tier ``pro``, and has one usage source of three lines: per machine ``10 + n % 7``, standard
    compute ``(n % 50) * 0.37`` and binary data cloud storage ``(n % 13) * 0.25`` dollars, with a discount of
    1.00 when ``n`` is even. Its two invoices, ``inv-org<n>-0001`` (paid, of two months ago, 100 + n % 10)
    and ``inv-org<n>-0002`` (outstanding, of last month, 200 + n % 10), each have a one-page PDF: exporting
    one organization takes five calls.
    """
    this_month = month_start(now)
    generated = {}
    for number in range(1, count + 1):
        org = Organization(
            org_id=generated_org_id(number),
            name=f"Org{number:04d} Generated",
            owned=True,
            billing=vb.GetOrgBillingInformationResponse(
                type=PaymentMethodType.PAYMENT_METHOD_TYPE_CARD,
                billing_email=f"billing@org{number:04d}.example",
                method=vb.PaymentMethodCard(brand="visa", last_four_digits="4242"),
                billing_tier="pro",
            ),
            sources=(
                _costs(
                    SourceType.SOURCE_TYPE_ORG,
                    "pro",
                    [
                        (_T.USAGE_COST_TYPE_PER_MACHINE, float(10 + number % 7)),
                        (_T.USAGE_COST_TYPE_STANDARD_COMPUTE, _cents((number % 50) * 0.37)),
                        (_T.USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE, _cents((number % 13) * 0.25)),
                    ],
                    discount=1.0 if number % 2 == 0 else 0.0,
                ),
            ),
        )
        _invoice(org, 1, float(100 + number % 10), "paid", _add_months(this_month, -2), paid_after=2)
        _invoice(org, 2, float(200 + number % 10), "outstanding", _add_months(this_month, -1))
        generated[org.org_id] = org
    return generated
