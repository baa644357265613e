"""The plugin hook: registers the ``"grpc"`` transport."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from viam_billing.plugin import ConfigurationError, RegisterTransport, hookimpl

from ._transport import GrpcTransport

__all__ = ["create_transport", "register_transports"]


def _keywords(function: Callable[..., Any]) -> frozenset[str]:
    """The names ``function`` takes as keywords: the options are the constructors' own parameters."""
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(
        name for name, parameter in inspect.signature(function).parameters.items() if parameter.kind in keyword
    ) - {"self"}


_OPTIONS = _keywords(GrpcTransport.__init__)
_CHANNEL_OPTIONS = _keywords(GrpcTransport.from_channel)


def create_transport(**options: Any) -> GrpcTransport:
    """Build a :class:`GrpcTransport` from the options given to ``connect()``, and only those.

    Every :class:`GrpcTransport` option may be given, each defaulting as there; or ``channel=`` (a grpclib
    ``Channel``) with ``metadata=``, ``retry=`` and ``stream_buffer=``, which builds it
    :meth:`~GrpcTransport.from_channel`. Raises :class:`~viam_billing.ConfigurationError` naming an option it
    does not know (and listing those it does), or one that cannot go with ``channel=``.
    """
    unknown = sorted(options.keys() - _OPTIONS - _CHANNEL_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"the grpc transport has no option {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(_OPTIONS | _CHANNEL_OPTIONS))}"
        )
    channel = options.pop("channel", None)
    if channel is not None:
        extra = sorted(options.keys() - _CHANNEL_OPTIONS)
        if extra:
            raise ConfigurationError(
                f"with channel=, the transport dials nothing and authenticates with metadata=; drop {', '.join(extra)}"
            )
        return GrpcTransport.from_channel(channel, **options)
    if "metadata" in options:
        raise ConfigurationError(
            "metadata= goes with channel= (an existing grpclib Channel); to dial, pass api_key= and api_key_id= "
            "or access_token="
        )
    return GrpcTransport(**options)


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register the gRPC transport as ``"grpc"``."""
    register("grpc", create_transport)
