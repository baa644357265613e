"""viam-billing: a typed, transport-agnostic client for Viam's billing API, on anyio.

    async with viam_billing.connect(api_key=..., api_key_id=...) as billing:
        usage = await billing.get_current_month_usage(org_id)

Runs under asyncio and trio. Transports and output sinks are plugins: :mod:`viam_billing.plugin` is what a plugin
author needs, :mod:`viam_billing.testing` checks a transport. Importing this package loads the models, errors and
operation table; the client, the plugin machinery and anyio load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._enums import OpenIntEnum as OpenIntEnum
from ._enums import PaymentMethodType as PaymentMethodType
from ._enums import SourceType as SourceType
from ._enums import StatusCode as StatusCode
from ._enums import UsageCostType as UsageCostType
from ._errors import AbortedError as AbortedError
from ._errors import AlreadyExistsError as AlreadyExistsError
from ._errors import BillingError as BillingError
from ._errors import CancelledStatusError as CancelledStatusError
from ._errors import ClientClosedError as ClientClosedError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import ConnectError as ConnectError
from ._errors import DataLossError as DataLossError
from ._errors import DeadlineExceededError as DeadlineExceededError
from ._errors import DecodeError as DecodeError
from ._errors import FailedPreconditionError as FailedPreconditionError
from ._errors import FileError as FileError
from ._errors import InternalError as InternalError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import NotFoundError as NotFoundError
from ._errors import OutOfRangeError as OutOfRangeError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import PluginError as PluginError
from ._errors import ProtocolError as ProtocolError
from ._errors import ResourceExhaustedError as ResourceExhaustedError
from ._errors import SinkError as SinkError
from ._errors import StatusError as StatusError
from ._errors import TransportError as TransportError
from ._errors import UnauthenticatedError as UnauthenticatedError
from ._errors import UnavailableError as UnavailableError
from ._errors import UnimplementedError as UnimplementedError
from ._errors import UnknownError as UnknownError
from ._errors import UnknownSinkError as UnknownSinkError
from ._errors import UnknownTransportError as UnknownTransportError
from ._errors import ValidationError as ValidationError
from ._errors import status_error as status_error
from ._events import CallFinished as CallFinished
from ._events import CallStarted as CallStarted
from ._exports import lazy as _lazy
from ._exports import publish as _publish
from ._models import ChargeOrganizationRequest as ChargeOrganizationRequest
from ._models import ChargeOrganizationResponse as ChargeOrganizationResponse
from ._models import CreateInvoiceAndChargeImmediatelyRequest as CreateInvoiceAndChargeImmediatelyRequest
from ._models import CreateInvoiceAndChargeImmediatelyResponse as CreateInvoiceAndChargeImmediatelyResponse
from ._models import GetAvailableBillingTiersRequest as GetAvailableBillingTiersRequest
from ._models import GetAvailableBillingTiersResponse as GetAvailableBillingTiersResponse
from ._models import GetCurrentMonthUsageRequest as GetCurrentMonthUsageRequest
from ._models import GetCurrentMonthUsageResponse as GetCurrentMonthUsageResponse
from ._models import GetInvoicePdfRequest as GetInvoicePdfRequest
from ._models import GetInvoicePdfResponse as GetInvoicePdfResponse
from ._models import GetInvoicesSummaryRequest as GetInvoicesSummaryRequest
from ._models import GetInvoicesSummaryResponse as GetInvoicesSummaryResponse
from ._models import GetLocationBillingOrganizationRequest as GetLocationBillingOrganizationRequest
from ._models import GetLocationBillingOrganizationResponse as GetLocationBillingOrganizationResponse
from ._models import GetOrgBillingInformationRequest as GetOrgBillingInformationRequest
from ._models import GetOrgBillingInformationResponse as GetOrgBillingInformationResponse
from ._models import InvoiceSummary as InvoiceSummary
from ._models import Model as Model
from ._models import PaymentMethodCard as PaymentMethodCard
from ._models import PaymentMethodUSBankAccount as PaymentMethodUSBankAccount
from ._models import ResourceUsageCosts as ResourceUsageCosts
from ._models import ResourceUsageCostsBySource as ResourceUsageCostsBySource
from ._models import SendPaymentRequiredEmailRequest as SendPaymentRequiredEmailRequest
from ._models import SendPaymentRequiredEmailResponse as SendPaymentRequiredEmailResponse
from ._models import UpdateLocationBillingOrganizationRequest as UpdateLocationBillingOrganizationRequest
from ._models import UpdateLocationBillingOrganizationResponse as UpdateLocationBillingOrganizationResponse
from ._models import UpdateOrganizationBillingTierRequest as UpdateOrganizationBillingTierRequest
from ._models import UpdateOrganizationBillingTierResponse as UpdateOrganizationBillingTierResponse
from ._models import UsageCost as UsageCost
from ._models import VerificationInfo as VerificationInfo
from ._operations import OPERATIONS as OPERATIONS
from ._operations import SERVICE as SERVICE
from ._operations import Operation as Operation
from ._operations import operation as operation
from ._operations import org_id_of as org_id_of
from ._serde import from_data as from_data
from ._serde import to_data as to_data
from ._sinks import Record as Record
from ._sinks import Sink as Sink

__version__ = "0.1.0"

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "AsyncTransport",
    "BLOCK_ENV",
    "BillingClient",
    "BillingError",
    "CallFinished",
    "CallStarted",
    "CancelledStatusError",
    "ChargeOrganizationRequest",
    "ChargeOrganizationResponse",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "CreateInvoiceAndChargeImmediatelyRequest",
    "CreateInvoiceAndChargeImmediatelyResponse",
    "DEFAULT_TRANSPORT",
    "DISABLE_AUTOLOAD_ENV",
    "DataLossError",
    "DeadlineExceededError",
    "DecodeError",
    "ENTRY_POINT_GROUPS",
    "FailedPreconditionError",
    "FileError",
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
    "Handler",
    "InternalError",
    "InvalidArgumentError",
    "InvoiceSummary",
    "MockTransport",
    "Model",
    "NotFoundError",
    "OPERATIONS",
    "OpenIntEnum",
    "Operation",
    "OutOfRangeError",
    "PaymentMethodCard",
    "PaymentMethodType",
    "PaymentMethodUSBankAccount",
    "PermissionDeniedError",
    "PluginError",
    "PluginInfo",
    "PluginLoadWarning",
    "PluginRegistry",
    "ProtocolError",
    "Record",
    "ResourceExhaustedError",
    "ResourceUsageCosts",
    "ResourceUsageCostsBySource",
    "SERVICE",
    "SendPaymentRequiredEmailRequest",
    "SendPaymentRequiredEmailResponse",
    "Sink",
    "SinkError",
    "SourceType",
    "StatusCode",
    "StatusError",
    "TransportError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "UnknownSinkError",
    "UnknownTransportError",
    "UpdateLocationBillingOrganizationRequest",
    "UpdateLocationBillingOrganizationResponse",
    "UpdateOrganizationBillingTierRequest",
    "UpdateOrganizationBillingTierResponse",
    "UsageCost",
    "UsageCostType",
    "ValidationError",
    "VerificationInfo",
    "__version__",
    "charges",
    "connect",
    "create_sink",
    "create_transport",
    "finops",
    "from_data",
    "get_registry",
    "list_plugins",
    "operation",
    "org_id_of",
    "plugin",
    "status_error",
    "sync",
    "testing",
    "to_data",
]

_publish(globals())

if _TYPE_CHECKING:
    from . import charges as charges
    from . import finops as finops
    from . import plugin as plugin
    from . import sync as sync
    from . import testing as testing
    from ._client import DEFAULT_TRANSPORT as DEFAULT_TRANSPORT
    from ._client import BillingClient as BillingClient
    from ._client import connect as connect
    from ._plugins import BLOCK_ENV as BLOCK_ENV
    from ._plugins import DISABLE_AUTOLOAD_ENV as DISABLE_AUTOLOAD_ENV
    from ._plugins import ENTRY_POINT_GROUPS as ENTRY_POINT_GROUPS
    from ._plugins import PluginInfo as PluginInfo
    from ._plugins import PluginLoadWarning as PluginLoadWarning
    from ._plugins import PluginRegistry as PluginRegistry
    from ._plugins import create_sink as create_sink
    from ._plugins import create_transport as create_transport
    from ._plugins import get_registry as get_registry
    from ._plugins import list_plugins as list_plugins
    from ._transport import AsyncTransport as AsyncTransport
    from ._transport import Handler as Handler
    from ._transport import MockTransport as MockTransport

# The client and the plugin machinery bring anyio, pluggy and importlib.metadata: loaded on first use, so that
# importing the models (a sink plugin, a script reading cassettes) costs only them.
__getattr__, __dir__ = _lazy(
    globals(),
    {
        "charges": ".charges",
        "finops": ".finops",
        "plugin": ".plugin",
        "sync": ".sync",
        "testing": ".testing",
        **dict.fromkeys(["DEFAULT_TRANSPORT", "BillingClient", "connect"], "._client"),
        **dict.fromkeys(["AsyncTransport", "Handler", "MockTransport"], "._transport"),
        **dict.fromkeys(
            [
                "BLOCK_ENV",
                "DISABLE_AUTOLOAD_ENV",
                "ENTRY_POINT_GROUPS",
                "PluginInfo",
                "PluginLoadWarning",
                "PluginRegistry",
                "create_sink",
                "create_transport",
                "get_registry",
                "list_plugins",
            ],
            "._plugins",
        ),
    },
)
