"""The operation table: every BillingService RPC described once.

Client methods, transports, recording and the command line derive what they need from here instead of
repeating per-RPC code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

import attrs

from . import _models as m

__all__ = ["OPERATIONS", "SERVICE", "Operation", "operation", "org_id_of"]

SERVICE = "viam.app.v1.BillingService"
"""The fully qualified gRPC service name."""

RequestT = TypeVar("RequestT", bound=m.Model)
ResponseT = TypeVar("ResponseT", bound=m.Model)


@attrs.frozen(kw_only=True)
class Operation(Generic[RequestT, ResponseT]):
    """One RPC of the billing service.

    ``idempotent`` says whether the call may be retried automatically: true for the ``Get*`` reads, false for
    charges, updates and the e-mail (a retried charge can bill twice). ``streaming`` marks server-streaming RPCs,
    whose response type is that of each message of the stream.
    """

    name: str
    path: str
    request_type: type[RequestT]
    response_type: type[ResponseT]
    streaming: bool = False
    idempotent: bool = False
    deprecated: bool = False

    def __repr__(self) -> str:
        return f"<Operation {self.name}>"


def _op(
    name: str,
    request_type: type[RequestT],
    response_type: type[ResponseT],
    *,
    streaming: bool = False,
    idempotent: bool = False,
    deprecated: bool = False,
) -> Operation[RequestT, ResponseT]:
    return Operation(
        name=name,
        path=f"/{SERVICE}/{name}",
        request_type=request_type,
        response_type=response_type,
        streaming=streaming,
        idempotent=idempotent,
        deprecated=deprecated,
    )


GET_CURRENT_MONTH_USAGE = _op(
    "GetCurrentMonthUsage", m.GetCurrentMonthUsageRequest, m.GetCurrentMonthUsageResponse, idempotent=True
)
GET_ORG_BILLING_INFORMATION = _op(
    "GetOrgBillingInformation",
    m.GetOrgBillingInformationRequest,
    m.GetOrgBillingInformationResponse,
    idempotent=True,
)
GET_INVOICES_SUMMARY = _op(
    "GetInvoicesSummary", m.GetInvoicesSummaryRequest, m.GetInvoicesSummaryResponse, idempotent=True
)
GET_INVOICE_PDF = _op("GetInvoicePdf", m.GetInvoicePdfRequest, m.GetInvoicePdfResponse, streaming=True, idempotent=True)
SEND_PAYMENT_REQUIRED_EMAIL = _op(
    "SendPaymentRequiredEmail", m.SendPaymentRequiredEmailRequest, m.SendPaymentRequiredEmailResponse
)
GET_AVAILABLE_BILLING_TIERS = _op(
    "GetAvailableBillingTiers",
    m.GetAvailableBillingTiersRequest,
    m.GetAvailableBillingTiersResponse,
    idempotent=True,
)
UPDATE_ORGANIZATION_BILLING_TIER = _op(
    "UpdateOrganizationBillingTier",
    m.UpdateOrganizationBillingTierRequest,
    m.UpdateOrganizationBillingTierResponse,
)
GET_LOCATION_BILLING_ORGANIZATION = _op(
    "GetLocationBillingOrganization",
    m.GetLocationBillingOrganizationRequest,
    m.GetLocationBillingOrganizationResponse,
    idempotent=True,
)
UPDATE_LOCATION_BILLING_ORGANIZATION = _op(
    "UpdateLocationBillingOrganization",
    m.UpdateLocationBillingOrganizationRequest,
    m.UpdateLocationBillingOrganizationResponse,
)
CHARGE_ORGANIZATION = _op("ChargeOrganization", m.ChargeOrganizationRequest, m.ChargeOrganizationResponse)
CREATE_INVOICE_AND_CHARGE_IMMEDIATELY = _op(
    "CreateInvoiceAndChargeImmediately",
    m.CreateInvoiceAndChargeImmediatelyRequest,
    m.CreateInvoiceAndChargeImmediatelyResponse,
    deprecated=True,
)


class _OperationTable(Mapping[str, Operation[m.Model, m.Model]]):
    """A read-only mapping from RPC name to :class:`Operation`, which also finds operations by request type."""

    def __init__(self, *operations: Operation[m.Model, m.Model]) -> None:
        self._by_name = {op.name: op for op in operations}
        self._by_request = {op.request_type: op for op in operations}

    def __getitem__(self, name: str) -> Operation[m.Model, m.Model]:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def for_request(self, request: m.Model) -> Operation[m.Model, m.Model]:
        """Return the operation whose request type is ``type(request)``; ``KeyError`` if there is none."""
        return self._by_request[type(request)]

    def __repr__(self) -> str:
        return f"<OperationTable {list(self._by_name)}>"


OPERATIONS = _OperationTable(
    GET_CURRENT_MONTH_USAGE,  # type: ignore[arg-type]
    GET_ORG_BILLING_INFORMATION,  # type: ignore[arg-type]
    GET_INVOICES_SUMMARY,  # type: ignore[arg-type]
    GET_INVOICE_PDF,  # type: ignore[arg-type]
    SEND_PAYMENT_REQUIRED_EMAIL,  # type: ignore[arg-type]
    GET_AVAILABLE_BILLING_TIERS,  # type: ignore[arg-type]
    UPDATE_ORGANIZATION_BILLING_TIER,  # type: ignore[arg-type]
    GET_LOCATION_BILLING_ORGANIZATION,  # type: ignore[arg-type]
    UPDATE_LOCATION_BILLING_ORGANIZATION,  # type: ignore[arg-type]
    CHARGE_ORGANIZATION,  # type: ignore[arg-type]
    CREATE_INVOICE_AND_CHARGE_IMMEDIATELY,  # type: ignore[arg-type]
)
"""Every BillingService RPC by name, in the contract's order."""


def operation(name: str) -> Operation[m.Model, m.Model]:
    """Return the operation called ``name`` (``"ChargeOrganization"``); the error lists the known names."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise KeyError(f"unknown billing operation {name!r}; known: {', '.join(OPERATIONS)}") from None


# Request fields that name the organization a call is about, in the order they are looked for.
_ORG_FIELDS = ("org_id", "org_id_to_charge", "organization_id", "customer_org_id", "billing_organization_id")


def org_id_of(request: m.Model) -> str | None:
    """The organization a request is about (``None`` for calls about none, such as ``GetAvailableBillingTiers``)."""
    for field in _ORG_FIELDS:
        value = getattr(request, field, None)
        if value:
            return str(value)
    return None
