"""A viam-billing transport on the official ``grpcio`` library (``grpc.aio``), registered as ``"grpcio"``.

For asyncio applications that already run grpcio and want one gRPC stack::

    async with viam_billing.connect(transport="grpcio", api_key=key, api_key_id=key_id) as billing:
        usage = await billing.get_current_month_usage(org_id)

It is an example of a third-party transport: it is built on the public API of ``viam_billing`` and
``viam_billing.plugin`` and the public codec of ``viam_billing_protos`` alone, is found through its entry point,
and passes :mod:`viam_billing.testing`'s conformance checks. ``grpc.aio`` runs on asyncio only: under trio, calls
raise :class:`~viam_billing.ConfigurationError` (use viam-billing's own ``"grpc"`` transport there).
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._plugin import create_transport as create_transport
from ._plugin import register_transports as register_transports
from ._transport import AUTH_PATH as AUTH_PATH
from ._transport import GrpcioTransport as GrpcioTransport

__all__ = ["AUTH_PATH", "GrpcioTransport", "create_transport", "register_transports"]

_publish(globals())
