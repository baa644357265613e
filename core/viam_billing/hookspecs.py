"""The hooks a viam-billing plugin may implement.

A plugin is a module (or any object) with functions marked ``@viam_billing.plugin.hookimpl`` whose names and
argument names match the specifications below. It is listed under an entry-point group for each thing it
provides, under the name it provides it as, so that viam-billing imports it only when that name is asked for::

    # pyproject.toml of a plugin distribution
    [project.entry-points."viam_billing.sinks"]
    threshold = "my_package.plugin"           # registers the sink scheme "threshold"
    [project.entry-points."viam_billing.transports"]
    carrier-pigeon = "my_package.plugin"      # registers the transport "carrier-pigeon"
    [project.entry-points."viam_billing.observers"]
    my-metrics = "my_package.plugin"          # implements call_started / call_finished

Hooks are synchronous and cheap: a registration hook hands over a factory, and the async work lives on the
objects the factory makes. A hook must never be ``async def``. Hooks are called through pluggy, so
``tryfirst``, ``trylast`` and wrappers work as pluggy documents; pluggy calls plugins registered later first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

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
"""The pluggy project name of viam-billing's hooks."""
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks the hook specifications below; plugins do not need it."""
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's hook implementations: ``@hookimpl`` on a function named like a hook (``register_sinks``, ...).
Takes pluggy's options: ``@hookimpl(tryfirst=True)``, ``trylast``, ``wrapper``."""


class TransportFactory(Protocol):
    """Builds a transport from the keyword options given to :func:`viam_billing.connect` (only those given).

    A factory validates its options and raises :class:`~viam_billing.ConfigurationError` naming any it does not
    know or cannot use. It must not dial yet: connecting happens on the first call, inside the caller's event
    loop.
    """

    def __call__(self, **options: Any) -> AsyncTransport: ...


class SinkFactory(Protocol):
    """Builds a sink from the part of its spec after ``scheme:`` (``"out/usage.jsonl"`` for
    ``jsonl:out/usage.jsonl``; ``""`` for a bare ``console``). Raises :class:`~viam_billing.ConfigurationError`
    for a spec it cannot use.
    """

    def __call__(self, spec: str, /) -> Sink: ...


class RegisterTransport(Protocol):
    """The ``register`` argument of :func:`register_transports`."""

    def __call__(self, name: str, factory: TransportFactory, /) -> None: ...


class RegisterSink(Protocol):
    """The ``register`` argument of :func:`register_sinks`."""

    def __call__(self, scheme: str, factory: SinkFactory, /) -> None: ...


@hookspec
def register_transports(register: RegisterTransport) -> None:
    """Register transports by calling ``register(name, factory)`` once for each.

    :param register: takes the transport's name, as given to ``connect(transport=...)``, and its
        :class:`TransportFactory`. When two plugins register one name, the one pluggy calls first is kept and a
        :class:`~viam_billing.PluginLoadWarning` names the conflict.
    """


@hookspec
def register_sinks(register: RegisterSink) -> None:
    """Register output sinks by calling ``register(scheme, factory)`` once for each.

    :param register: takes the scheme of the sink spec (``"jsonl"`` for ``jsonl:PATH``) and its
        :class:`SinkFactory`. When two plugins register one scheme, the one pluggy calls first is kept, with a
        warning.
    """


@hookspec
def call_started(event: CallStarted) -> None:
    """Called when a client starts an operation, before anything is sent.

    Plugins listed in the ``viam_billing.observers`` group are imported when the first client is built.

    :param event: the operation, the request, a ``call_id`` shared with the matching :func:`call_finished`, and
        the call's :class:`~viam_billing.plugin.CallContext`. Entries put in ``event.context.metadata`` here are
        sent with the request by transports that have request metadata (the gRPC transport does): this is where
        a tracing observer injects its trace context.

    Called in the task that makes the call (under asyncio and trio alike), so context variables such as the
    current OpenTelemetry span are the caller's. An exception raised here is logged and otherwise ignored:
    observers never break calls.
    """


@hookspec
def call_finished(event: CallFinished) -> None:
    """Called when an operation ends, successfully or not (also on cancellation).

    :param event: the operation, the request, ``call_id``, ``duration`` in seconds, ``outcome`` (``"ok"``,
        ``"error"`` or ``"cancelled"``), the ``error`` raised, if any, and the same
        :class:`~viam_billing.plugin.CallContext` as :func:`call_started` got, now holding what the transport
        reported (server address and port, retries, whether the answer was replayed) and, for a stream, the
        messages and bytes the caller received.

    A stream ends when the caller leaves its block. An exception raised here is logged and otherwise ignored.
    """
