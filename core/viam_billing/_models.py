"""Frozen attrs models, one for every message of ``viam.app.v1`` billing.

Field names are exactly the wire's. Proto3 scalars default to their zero values, timestamps are timezone-aware UTC
``datetime`` objects (``None`` when unset, microsecond precision), proto3 ``optional`` fields are ``None`` when
absent, repeated fields are tuples and enums are open :class:`~viam_billing.OpenIntEnum` members.
"""

# Every program using viam_billing imports this module, so it is kept cheap to import on purpose. The
# annotations are real objects, not strings (no ``from __future__ import annotations``): each class comes after the
# classes its fields name, so ``attrs.fields(cls)[i].type`` is a type as soon as the class exists, with no
# ``attrs.resolve_types`` pass evaluating every annotation again at import.

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ._enums import PaymentMethodType, SourceType, UsageCostType

__all__ = [
    "ChargeOrganizationRequest",
    "ChargeOrganizationResponse",
    "CreateInvoiceAndChargeImmediatelyRequest",
    "CreateInvoiceAndChargeImmediatelyResponse",
    "GetAvailableBillingTiersRequest",
    "GetAvailableBillingTiersResponse",
    "GetCurrentMonthUsageRequest",
    "GetCurrentMonthUsageResponse",
    "GetInvoicePdfRequest",
    "GetInvoicePdfResponse",
    "GetInvoicesSummaryRequest",
    "GetInvoicesSummaryResponse",
    "GetLocationBillingOrganizationRequest",
    "GetLocationBillingOrganizationResponse",
    "GetOrgBillingInformationRequest",
    "GetOrgBillingInformationResponse",
    "InvoiceSummary",
    "Model",
    "PaymentMethodCard",
    "PaymentMethodUSBankAccount",
    "ResourceUsageCosts",
    "ResourceUsageCostsBySource",
    "SendPaymentRequiredEmailRequest",
    "SendPaymentRequiredEmailResponse",
    "UpdateLocationBillingOrganizationRequest",
    "UpdateLocationBillingOrganizationResponse",
    "UpdateOrganizationBillingTierRequest",
    "UpdateOrganizationBillingTierResponse",
    "UsageCost",
    "VerificationInfo",
]


class Model:
    """Base of every billing model; lets code say "any model" in a type."""

    __slots__ = ()
    if TYPE_CHECKING:
        __attrs_attrs__: ClassVar[Any]

    # One __repr__ for all models (each is declared ``repr=False``), printing what attrs would generate, such as
    # ``PaymentMethodCard(brand='visa', last_four_digits='4242')``. attrs compiles the methods it generates, once
    # per class at import; the reprs were the largest part of that, for a method that is never on a hot path.
    def __repr__(self) -> str:
        fields = ", ".join(
            f"{field.name}={getattr(self, field.name)!r}" for field in self.__attrs_attrs__ if field.repr
        )
        return f"{type(self).__qualname__.rsplit('>.', 1)[-1]}({fields})"


# Typed converters, one per collection field: with the bare builtin ``tuple`` as converter, the attrs mypy plugin
# types the parameter as ``Iterable[_T_co]`` and refuses every argument in strictly typed callers. Those of model
# tuples follow the model they hold, whose name their annotations need at definition time.
def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


# Enum converters look the number up in the enum's own value map first: calling the class costs several times
# more, and decoding a usage response converts dozens of numbers. The call remains for what the map lacks.
def _usage_cost_type(value: int) -> UsageCostType:
    try:
        return UsageCostType._value2member_map_[value]  # type: ignore[return-value]
    except (KeyError, TypeError):
        return UsageCostType(value)


def _source_type(value: int) -> SourceType:
    try:
        return SourceType._value2member_map_[value]  # type: ignore[return-value]
    except (KeyError, TypeError):
        return SourceType(value)


def _payment_method_type(value: int) -> PaymentMethodType:
    try:
        return PaymentMethodType._value2member_map_[value]  # type: ignore[return-value]
    except (KeyError, TypeError):
        return PaymentMethodType(value)


# --- shared messages ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class InvoiceSummary(Model):
    """One invoice as listed by ``GetInvoicesSummary``.

    ``status`` and ``last_payment_failure_reason`` are free strings (seen: ``outstanding``, ``paid``,
    ``payment_processing``); values not seen before are kept as they are.
    """

    id: str = ""
    invoice_date: datetime | None = None
    invoice_amount: float = 0.0
    status: str = ""
    due_date: datetime | None = None
    paid_date: datetime | None = None
    last_payment_failure_reason: str = ""
    last_payment_failure_at: datetime | None = None


def _invoices(value: Iterable[InvoiceSummary]) -> tuple[InvoiceSummary, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True, repr=False)
class PaymentMethodCard(Model):
    """A card on file: brand and last four digits."""

    brand: str = ""
    last_four_digits: str = ""


@attrs.frozen(kw_only=True, repr=False)
class VerificationInfo(Model):
    """Micro-deposit verification of a bank account, present only while it is not verified.

    ``arrival_date`` is the wire's ``int64`` as the service sends it.
    """

    arrival_date: int = 0
    hosted_verification_page_url: str = ""


@attrs.frozen(kw_only=True, repr=False)
class PaymentMethodUSBankAccount(Model):
    """A US bank account on file."""

    bank_name: str = ""
    last_four_digits_account_number: str = ""
    routing_number: str = ""
    account_type: str = ""
    verification_info: VerificationInfo | None = None


@attrs.frozen(kw_only=True, repr=False)
class UsageCost(Model):
    """The cost of one resource type."""

    resource_type: UsageCostType = attrs.field(
        default=UsageCostType.USAGE_COST_TYPE_UNSPECIFIED, converter=_usage_cost_type
    )
    cost: float = 0.0


def _usage_costs(value: Iterable[UsageCost]) -> tuple[UsageCost, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True, repr=False)
class ResourceUsageCosts(Model):
    """Cost lines with the discount and the totals they add up to."""

    usage_costs: tuple[UsageCost, ...] = attrs.field(default=(), converter=_usage_costs)
    discount: float = 0.0
    total_with_discount: float = 0.0
    total_without_discount: float = 0.0


@attrs.frozen(kw_only=True, repr=False)
class ResourceUsageCostsBySource(Model):
    """The usage costs of one source (the organization itself, or a fragment) and its tier."""

    source_type: SourceType = attrs.field(default=SourceType.SOURCE_TYPE_UNSPECIFIED, converter=_source_type)
    resource_usage_costs: ResourceUsageCosts | None = None
    tier_name: str = ""


def _costs_by_source(value: Iterable[ResourceUsageCostsBySource]) -> tuple[ResourceUsageCostsBySource, ...]:
    return tuple(value)


# --- GetCurrentMonthUsage -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class GetCurrentMonthUsageRequest(Model):
    """Asks for the usage of the organization ``org_id`` so far this month
    (:meth:`~viam_billing.BillingClient.get_current_month_usage`)."""

    org_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class GetCurrentMonthUsageResponse(Model):
    """The current month's usage of an organization.

    ``resource_usage_costs_by_source`` and ``subtotal`` are the current fields. The flat ``*_usage_cost``,
    ``discount_amount`` and ``total_usage_*`` fields are **deprecated** on the wire; they are kept because servers
    may still fill them, but new code should not rely on them.
    """

    start_date: datetime | None = None
    end_date: datetime | None = None
    resource_usage_costs_by_source: tuple[ResourceUsageCostsBySource, ...] = attrs.field(
        default=(), converter=_costs_by_source
    )
    subtotal: float = 0.0
    cloud_storage_usage_cost: float = 0.0
    data_upload_usage_cost: float = 0.0
    data_egres_usage_cost: float = 0.0
    remote_control_usage_cost: float = 0.0
    standard_compute_usage_cost: float = 0.0
    discount_amount: float = 0.0
    total_usage_with_discount: float = 0.0
    total_usage_without_discount: float = 0.0
    per_machine_usage_cost: float = 0.0
    binary_data_cloud_storage_usage_cost: float = 0.0
    other_cloud_storage_usage_cost: float = 0.0


# --- GetOrgBillingInformation ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class GetOrgBillingInformationRequest(Model):
    """Asks how the organization ``org_id`` pays (:meth:`~viam_billing.BillingClient.get_org_billing_information`)."""

    org_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class GetOrgBillingInformationResponse(Model):
    """How an organization pays.

    ``method`` is set when ``type`` is a card, ``method_us_bank_account`` when it is a US bank account;
    ``billing_tier`` is only returned to billing-dashboard admin users.
    """

    type: PaymentMethodType = attrs.field(
        default=PaymentMethodType.PAYMENT_METHOD_TYPE_UNSPECIFIED, converter=_payment_method_type
    )
    billing_email: str = ""
    method: PaymentMethodCard | None = None
    billing_tier: str | None = None
    method_us_bank_account: PaymentMethodUSBankAccount | None = None


# --- GetInvoicesSummary ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class GetInvoicesSummaryRequest(Model):
    """Asks for the invoices of the organization ``org_id``
    (:meth:`~viam_billing.BillingClient.get_invoices_summary`)."""

    org_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class GetInvoicesSummaryResponse(Model):
    """The outstanding balance and every invoice of an organization."""

    outstanding_balance: float = 0.0
    invoices: tuple[InvoiceSummary, ...] = attrs.field(default=(), converter=_invoices)


# --- GetInvoicePdf (server-streaming) -------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class GetInvoicePdfRequest(Model):
    """Asks for the PDF of the invoice ``id`` of the organization ``org_id``, streamed in chunks
    (:meth:`~viam_billing.BillingClient.get_invoice_pdf` and its siblings)."""

    id: str = ""
    org_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class GetInvoicePdfResponse(Model):
    """One chunk of an invoice PDF; the document is the concatenation of the chunks in order."""

    chunk: bytes = b""


# --- SendPaymentRequiredEmail ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class SendPaymentRequiredEmailRequest(Model):
    """Asks the service to e-mail ``customer_org_id`` that payment is required, on behalf of
    ``billing_owner_org_id`` (:meth:`~viam_billing.BillingClient.send_payment_required_email`)."""

    customer_org_id: str = ""
    billing_owner_org_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class SendPaymentRequiredEmailResponse(Model):
    """The service's empty answer: the e-mail was sent."""


# --- billing tiers --------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class GetAvailableBillingTiersRequest(Model):
    """Asks for the billing tiers (:meth:`~viam_billing.BillingClient.get_available_billing_tiers`); no fields."""


@attrs.frozen(kw_only=True, repr=False)
class GetAvailableBillingTiersResponse(Model):
    """The names of the billing tiers an organization can be put on."""

    tiers: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True, repr=False)
class UpdateOrganizationBillingTierRequest(Model):
    """Asks to put the organization ``organization_id`` on the tier ``billing_tier``
    (:meth:`~viam_billing.BillingClient.update_organization_billing_tier`)."""

    organization_id: str = ""
    billing_tier: str = ""


@attrs.frozen(kw_only=True, repr=False)
class UpdateOrganizationBillingTierResponse(Model):
    """The service's empty answer: the tier was changed."""


# --- location billing organization ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class GetLocationBillingOrganizationRequest(Model):
    """Asks which organization pays for the location ``location_id``
    (:meth:`~viam_billing.BillingClient.get_location_billing_organization`)."""

    location_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class GetLocationBillingOrganizationResponse(Model):
    """The organization that pays for the location."""

    billing_organization_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class UpdateLocationBillingOrganizationRequest(Model):
    """Asks to make the organization ``billing_organization_id`` pay for the location ``location_id``
    (:meth:`~viam_billing.BillingClient.update_location_billing_organization`)."""

    location_id: str = ""
    billing_organization_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class UpdateLocationBillingOrganizationResponse(Model):
    """The service's empty answer: the location's billing organization was changed."""


# --- charges --------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class ChargeOrganizationRequest(Model):
    """A charge of ``subtotal`` + ``tax`` US dollars to ``org_id_to_charge``. Not idempotent."""

    org_id_to_charge: str = ""
    description: str | None = None
    subtotal: float = 0.0
    tax: float = 0.0
    org_id_for_branding: str | None = None
    disable_confirmation_email: bool = False


@attrs.frozen(kw_only=True, repr=False)
class ChargeOrganizationResponse(Model):
    """The invoice a charge created; its status starts as ``payment_processing``."""

    invoice_id: str = ""


@attrs.frozen(kw_only=True, repr=False)
class CreateInvoiceAndChargeImmediatelyRequest(Model):
    """Deprecated on the wire in favour of :class:`ChargeOrganizationRequest`."""

    org_id_to_charge: str = ""
    amount: float = 0.0
    description: str | None = None
    org_id_for_branding: str | None = None
    disable_email: bool = False


@attrs.frozen(kw_only=True, repr=False)
class CreateInvoiceAndChargeImmediatelyResponse(Model):
    """The invoice the deprecated charge created."""

    invoice_id: str = ""
