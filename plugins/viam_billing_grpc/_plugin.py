"""The plugin hook: registers the ``"grpc"`` transport."""

from __future__ import annotations

from typing import Any

from viam_billing.plugin import ConfigurationError, hookimpl
from viam_billing.plugin import RegisterTransport

from ._transport import GrpcTransport

__all__ = ["create_transport", "register_transports"]

_OPTIONS = frozenset(
    {
        "address",
        "api_key",
        "api_key_id",
        "access_token",
        "insecure",
        "retry",
        "ssl_context",
        "stream_window",
        "connection_window",
        "stream_buffer",
        "auth_timeout",
    }
)
_CHANNEL_OPTIONS = frozenset({"channel", "metadata", "retry", "stream_buffer"})


def create_transport(**options: Any) -> GrpcTransport:
    """Build a :class:`GrpcTransport` from ``connect()``'s keywords.

    Besides the :class:`GrpcTransport` options, ``channel=`` (a grpclib ``Channel``) with ``metadata=`` builds
    it :meth:`~GrpcTransport.from_channel`. Raises :class:`~viam_billing.ConfigurationError` naming any
    option it does not know.
    """
    if options.get("channel") is not None:
        given = {name for name, value in options.items() if value is not None and value is not False}
        extra = sorted(given - _CHANNEL_OPTIONS)
        if extra:
            raise ConfigurationError(
                f"with channel=, the transport dials nothing and authenticates with metadata=; drop {', '.join(extra)}"
            )
        rest = {name: options[name] for name in ("retry", "stream_buffer") if name in options}
        return GrpcTransport.from_channel(options["channel"], options.get("metadata") or (), **rest)
    unknown = sorted(set(options) - _OPTIONS - {"channel"})
    if unknown:
        raise ConfigurationError(
            f"the grpc transport has no option {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(_OPTIONS | {'channel', 'metadata'}))}"
        )
    options.pop("channel", None)
    return GrpcTransport(**options)


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register the gRPC transport as ``"grpc"``."""
    register("grpc", create_transport)
