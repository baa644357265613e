"""The call observer: one OpenTelemetry CLIENT span and one ``rpc.client.call.duration`` measurement per call.

Written on the OpenTelemetry API alone, through its global providers, so an SDK the application installs before or
after this module is imported is the one used. With no tracer provider installed no span is made at all: the
caller's context is still injected (another instrumentation may have given it a remote parent), and the duration
goes to the meter provider's instrument, a no-op proxy unless an SDK is installed for metrics alone.
"""

from __future__ import annotations

import time
from typing import Any

import viam_billing
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import ProxyTracerProvider, Span, SpanKind, Status, StatusCode
from viam_billing.plugin import (
    BillingError,
    CallContext,
    CallFinished,
    CallStarted,
    ClientClosedError,
    ProtocolError,
    StatusError,
    TransportError,
    hookimpl,
)

from ._names import (
    DURATION_BUCKETS,
    ERROR_TYPE,
    REPLAYED,
    RETRY_ATTEMPT,
    RETRY_DELAY,
    RETRY_EVENT,
    RPC_METHOD,
    RPC_STATUS_CODE,
    RPC_SYSTEM_NAME,
    SCHEMA_URL,
    SCOPE_NAME,
    SERVER_ADDRESS,
    SERVER_PORT,
    STREAM_BYTES,
    STREAM_CHUNKS,
)

__all__ = ["call_finished", "call_started"]

_GRPC = "grpc"  # the service is a gRPC service, whichever transport carries the call

# What a gRPC client reports as the status of a call that ended without one from the server.
_GENERATED_STATUS: tuple[tuple[type[BaseException], str], ...] = (
    (ClientClosedError, "CANCELLED"),
    (ProtocolError, "INTERNAL"),
    (TransportError, "UNAVAILABLE"),
)

_tracer = trace.get_tracer(SCOPE_NAME, viam_billing.__version__, schema_url=SCHEMA_URL)
_meter = metrics.get_meter(SCOPE_NAME, viam_billing.__version__, schema_url=SCHEMA_URL)
_duration = _meter.create_histogram(
    "rpc.client.call.duration",
    unit="s",
    description="Measures the duration of an outgoing Remote Procedure Call (RPC).",
    explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
)

_spans: dict[int, tuple[Span, int]] = {}
"""The span of each call in flight and its start (``time.time_ns()``), by ``call_id``."""


@hookimpl
def call_started(event: CallStarted) -> None:
    """Start the call's CLIENT span, a child of the caller's current span, and put its W3C trace context (and
    any baggage) in the call's metadata through the global propagator."""
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):  # no SDK: its span would record nothing
        propagate.inject(event.context.metadata)
        return
    method = event.operation.path[1:]
    start = time.time_ns()
    span = _tracer.start_span(
        method,
        kind=SpanKind.CLIENT,
        attributes={RPC_SYSTEM_NAME: _GRPC, RPC_METHOD: method},
        start_time=start,
    )
    propagate.inject(event.context.metadata, context=trace.set_span_in_context(span))
    _spans[event.call_id] = (span, start)


@hookimpl
def call_finished(event: CallFinished) -> None:
    """Record the call's duration, complete its span with what the transport and the client reported, end it."""
    call = event.context
    outcome = _outcome_attributes(event, call)
    _duration.record(event.duration, {RPC_SYSTEM_NAME: _GRPC, RPC_METHOD: event.operation.path[1:], **outcome})
    started = _spans.pop(event.call_id, None)
    if started is None:  # no SDK when the call started
        return
    span, start = started
    if span.is_recording():
        if event.operation.streaming:
            outcome[STREAM_CHUNKS] = call.messages
            outcome[STREAM_BYTES] = call.payload_bytes
        span.set_attributes(outcome)  # with those set at its start
        for retry in call.retries:
            span.add_event(
                RETRY_EVENT,
                {RETRY_ATTEMPT: retry.attempt, ERROR_TYPE: retry.error_type, RETRY_DELAY: retry.delay},
                timestamp=retry.time_ns,
            )
        if ERROR_TYPE in outcome:
            span.set_status(Status(StatusCode.ERROR, _description(event)))
    # The span lasts exactly what the metric measured, as the conventions ask.
    span.end(end_time=start + round(event.duration * 1e9))


def _outcome_attributes(event: CallFinished, call: CallContext) -> dict[str, Any]:
    """The attributes the span and the metric share, but those known at the start (the system and the method)."""
    attributes: dict[str, Any] = {}
    if call.server_address is not None:
        attributes[SERVER_ADDRESS] = call.server_address
        if call.server_port is not None:
            attributes[SERVER_PORT] = call.server_port
    status, error_type = _status(event)
    attributes[RPC_STATUS_CODE] = status
    if error_type is not None:
        attributes[ERROR_TYPE] = error_type
    if call.replayed:
        attributes[REPLAYED] = True
    return attributes


def _status(event: CallFinished) -> tuple[str, str | None]:
    """``rpc.status_code`` and ``error.type`` (``None`` on success).

    A status from the service (or the deadline, which gRPC reports as DEADLINE_EXCEEDED) is both. A call that
    ended without one gets the status a gRPC client generates for its failure, and the class of its error as
    ``error.type`` (``viam_billing.ConnectError``); a caller's cancellation is CANCELLED.
    """
    if event.outcome == "ok":
        return "OK", None
    if event.outcome == "cancelled":
        return "CANCELLED", "CANCELLED"
    error = event.error
    if isinstance(error, StatusError):
        return error.code.name, error.code.name
    status = next((code for kind, code in _GENERATED_STATUS if isinstance(error, kind)), "UNKNOWN")
    kind = type(error)
    return status, f"{kind.__module__}.{kind.__qualname__}"


def _description(event: CallFinished) -> str:
    """The span status description: the error's message. viam-billing's messages never hold a credential."""
    if event.outcome == "cancelled":
        return "cancelled by the caller"
    error = event.error
    if isinstance(error, StatusError):
        return error.message or error.code.name
    if isinstance(error, BillingError):
        return str(error)
    return type(error).__name__  # not ours: its message is unknown ground
