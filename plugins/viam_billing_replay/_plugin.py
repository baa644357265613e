"""The plugin hook: registers the ``"replay"`` transport."""

from __future__ import annotations

from typing import Any

from viam_billing.plugin import ConfigurationError, RegisterTransport, hookimpl

from ._transport import ReplayTransport

__all__ = ["register_transports"]


def _replay_factory(**options: Any) -> ReplayTransport:
    """``connect(transport="replay", cassette=..., ...)``: see :class:`ReplayTransport` for the options."""
    if "cassette" not in options:
        raise ConfigurationError(
            "the replay transport needs a cassette: connect(transport='replay', cassette='path/to/cassette.json')"
        )
    return ReplayTransport(**options)


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register the ``"replay"`` transport."""
    register("replay", _replay_factory)
