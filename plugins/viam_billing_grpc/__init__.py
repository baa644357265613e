"""viam-billing's gRPC transport (grpclib), registered as ``"grpc"``: the default of ``viam_billing.connect``.

    async with viam_billing.connect(api_key=key, api_key_id=key_id) as billing:    # app.viam.com:443, TLS
        usage = await billing.get_current_month_usage(org_id)

Works under asyncio and trio. :mod:`viam_billing_grpc.emulator` is a local server of the billing service to
test against.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._address import DEFAULT_ADDRESS as DEFAULT_ADDRESS
from ._address import Address as Address
from ._address import parse_address as parse_address
from ._auth import API_KEY_ENV as API_KEY_ENV
from ._auth import API_KEY_ID_ENV as API_KEY_ID_ENV
from ._engine import AUTH_PATH as AUTH_PATH
from ._plugin import create_transport as create_transport
from ._plugin import register_transports as register_transports
from ._retry import RetryPolicy as RetryPolicy
from ._transport import DEFAULT_RETRY as DEFAULT_RETRY
from ._transport import GrpcTransport as GrpcTransport

__all__ = [
    "API_KEY_ENV",
    "API_KEY_ID_ENV",
    "AUTH_PATH",
    "Address",
    "DEFAULT_ADDRESS",
    "DEFAULT_RETRY",
    "GrpcTransport",
    "RetryPolicy",
    "create_transport",
    "parse_address",
    "register_transports",
]

_publish(globals())
