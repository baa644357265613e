"""What the call-observing hooks receive, and the call context they share with the transport.

Each call an observed client makes has one :class:`CallContext`: the client makes it before
:func:`~viam_billing.hookspecs.call_started` and hands the same object to
:func:`~viam_billing.hookspecs.call_finished`. While the transport works on the call, :func:`current_call`
returns it, so that a transport adds the observers' metadata to its request and reports what only it knows
(the server it sends to, each retry, a call answered from a recording). A client with no observer makes none:
:func:`current_call` is then ``None`` and a transport has nothing to do.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any, Literal

import attrs

from ._models import Model
from ._operations import Operation

__all__ = ["CallContext", "CallFinished", "CallRetry", "CallStarted", "current_call"]


@attrs.frozen(kw_only=True)
class CallRetry:
    """One more attempt a transport made at a call, as reported with :meth:`CallContext.record_retry`.

    ``attempt`` is the number of the attempt that failed (from 1), ``error_type`` a short name for why it failed
    (a gRPC status name such as ``"UNAVAILABLE"``, or a kind of failure such as ``"connection_lost"``; never a
    message, which may quote data), ``delay`` the seconds waited before the next attempt, and ``time_ns`` when the
    retry was decided, in nanoseconds since the epoch (``time.time_ns()``).
    """

    attempt: int
    error_type: str
    delay: float = 0.0
    time_ns: int = attrs.field(factory=time.time_ns)


@attrs.define(eq=False, kw_only=True)
class CallContext:
    """One call in flight, shared by the client, its observers and the transport that carries it.

    Who writes what:

    ``metadata`` (observers, in ``call_started``)
        Entries to send with the request: a transport that has request metadata (gRPC's, HTTP headers) adds each
        one. Keys are lowercase ``0-9 a-z _ . -``, values printable ASCII; a transport leaves out an entry it
        cannot send or whose key it owns (``authorization``), and never lets one replace its own. An OpenTelemetry
        observer writes its ``traceparent`` here. Never shown in the ``repr``.
    ``server_address``, ``server_port`` (the transport)
        The service's host and port as configured (not the resolved IP): ``"app.viam.com"``, ``443``. Left
        ``None`` by a transport that talks to no server (a replayed call).
    ``replayed`` (the transport)
        True when the answer came from a recording instead of the service.
    :meth:`record_retry` (the transport)
        Each time the transport sends the call again, with why; the list is :attr:`retries`.
    ``messages``, ``payload_bytes`` (the client)
        For a stream: how many messages the caller took from it, and how many bytes the ``chunk`` of those
        that carry one held (an invoice PDF's ``GetInvoicePdfResponse``).

    Observers read the transport's and the client's facts in ``call_finished``. A transport finds the context
    with :func:`current_call`; it may report from another thread (the gRPC transport's asyncio thread under
    trio), as long as it does so before the call returns.
    """

    call_id: int
    operation: Operation[Any, Any]
    metadata: dict[str, str] = attrs.field(factory=dict, repr=False)
    server_address: str | None = None
    server_port: int | None = None
    replayed: bool = False
    retries: list[CallRetry] = attrs.field(factory=list)
    messages: int = 0
    payload_bytes: int = 0

    def record_retry(self, attempt: int, error_type: str, delay: float = 0.0) -> None:
        """Report that attempt number ``attempt`` failed with ``error_type`` and the call is sent again after
        ``delay`` seconds. Cheap and never raises: a transport calls it on its retry path as it is."""
        self.retries.append(CallRetry(attempt=attempt, error_type=error_type, delay=delay))


_current: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("viam_billing_call", default=None)


def current_call() -> CallContext | None:
    """The :class:`CallContext` of the call the current task is making through a client, or ``None``.

    Set while the transport works on the call: during ``unary()``, during ``stream()`` and the entering of its
    context, and while each message of the stream is fetched (not in the caller's block between messages). It
    crosses into what the transport runs in a copy of the caller's context (an ``asyncio`` task, a thread started
    with ``contextvars.copy_context().run``). ``None`` when no observer is registered (nothing watches the call),
    and outside a call. For transports::

        call = current_call()
        if call is not None:
            call.server_address, call.server_port = self.host, self.port
            headers.update(call.metadata)
    """
    return _current.get()


@attrs.frozen(kw_only=True)
class CallStarted:
    """An operation is about to be sent; ``context`` is its :class:`CallContext`."""

    call_id: int
    operation: Operation[Any, Any]
    request: Model
    context: CallContext = attrs.field()

    @context.default
    def _context(self) -> CallContext:
        return CallContext(call_id=self.call_id, operation=self.operation)


@attrs.frozen(kw_only=True)
class CallFinished:
    """An operation ended; ``error`` is set unless ``outcome`` is ``"ok"``. ``context`` is the same
    :class:`CallContext` as the matching :class:`CallStarted`'s, with what the transport and the client reported.
    """

    call_id: int
    operation: Operation[Any, Any]
    request: Model
    duration: float
    outcome: Literal["ok", "error", "cancelled"]
    error: BaseException | None = None
    context: CallContext = attrs.field()

    @context.default
    def _context(self) -> CallContext:
        return CallContext(call_id=self.call_id, operation=self.operation)
