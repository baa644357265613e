"""The plugin hook: registers the ``"grpcio"`` transport."""

from __future__ import annotations

from typing import Any

from viam_billing.plugin import ConfigurationError, RegisterTransport, hookimpl

from ._transport import GrpcioTransport

__all__ = ["create_transport", "register_transports"]

_OPTIONS = ("access_token", "address", "api_key", "api_key_id", "auth_timeout", "channel_options", "insecure")


def create_transport(**options: Any) -> GrpcioTransport:
    """Build a :class:`GrpcioTransport` from ``connect()``'s keywords; an unknown one is named in the error."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"the grpcio transport has no option {', '.join(map(repr, unknown))}; it takes {', '.join(_OPTIONS)}"
        )
    return GrpcioTransport(**options)


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register the transport as ``"grpcio"``."""
    register("grpcio", create_transport)
