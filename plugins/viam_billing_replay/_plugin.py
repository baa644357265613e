"""The plugin hooks: registers the ``"replay"`` transport."""

from __future__ import annotations

from typing import Any

from viam_billing.plugin import ConfigurationError, hookimpl
from viam_billing.plugin import RegisterTransport

from ._transport import ReplayTransport

__all__ = ["register_transports"]


def _replay_factory(*, cassette: Any = None, **options: Any) -> ReplayTransport:
    if cassette is None:
        raise ConfigurationError(
            "the replay transport needs a cassette: connect(transport='replay', cassette='path/to/cassette.json')"
        )
    return ReplayTransport(cassette=cassette, **options)


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register the ``"replay"`` transport."""
    register("replay", _replay_factory)
