"""The hooks a viam-billing plugin may implement.

A plugin is a module (or any object) with functions marked ``@viam_billing.hookimpl`` whose names and argument
names match the specifications below. It is found through the ``viam_billing`` entry-point group::

    # pyproject.toml of a plugin distribution
    [project.entry-points.viam_billing]
    my_sink = "my_package.plugin"

Hooks are synchronous and cheap: a registration hook hands over a factory, and the async work lives on the
objects the factory makes. A hook must never be ``async def``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._events import CallFinished, CallStarted
    from ._sinks import Sink
    from ._transport import AsyncTransport

__all__ = [
    "PROJECT_NAME",
    "RegisterSink",
    "RegisterTransport",
    "SinkFactory",
    "TransportFactory",
    "call_finished",
    "call_started",
    "hookimpl",
    "hookspec",
    "register_sinks",
    "register_transports",
]

PROJECT_NAME = "viam_billing"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

TransportFactory = Callable[..., "AsyncTransport"]
"""Builds a transport from keyword options.

:func:`viam_billing.connect` passes ``address``, ``api_key``, ``api_key_id``, ``access_token`` and ``insecure``
(each possibly ``None``) plus every extra keyword it was given. A factory raises
:class:`~viam_billing.ConfigurationError` for options it cannot use, and must not dial yet: connecting happens
on the first call, inside the caller's event loop.
"""

SinkFactory = Callable[[str], "Sink"]
"""Builds a sink from the part of its spec after ``scheme:`` (``"out/usage.jsonl"`` for ``jsonl:out/usage.jsonl``;
``""`` for a bare ``console``)."""

RegisterTransport = Callable[[str, TransportFactory], None]
RegisterSink = Callable[[str, SinkFactory], None]


@hookspec
def register_transports(register: RegisterTransport) -> None:
    """Register transports by calling ``register(name, factory)`` once for each.

    :param register: takes the transport's name, as given to ``connect(transport=...)``, and its
        :data:`TransportFactory`. A name already taken by another plugin is refused with a warning.
    """


@hookspec
def register_sinks(register: RegisterSink) -> None:
    """Register output sinks by calling ``register(scheme, factory)`` once for each.

    :param register: takes the scheme of the sink spec (``"jsonl"`` for ``jsonl:PATH``) and its
        :data:`SinkFactory`. A scheme already taken by another plugin is refused with a warning.
    """


@hookspec
def call_started(event: CallStarted) -> None:
    """Called when a client starts an operation, before anything is sent.

    :param event: the operation, the request and a ``call_id`` shared with the matching :func:`call_finished`.

    An exception raised here is logged and otherwise ignored: observers never break calls.
    """


@hookspec
def call_finished(event: CallFinished) -> None:
    """Called when an operation ends, successfully or not (also on cancellation).

    :param event: the operation, the request, ``call_id``, ``duration`` in seconds, ``outcome`` (``"ok"``,
        ``"error"`` or ``"cancelled"``) and the ``error`` raised, if any.

    An exception raised here is logged and otherwise ignored.
    """
