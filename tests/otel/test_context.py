"""Trace context: spans are children of the caller's current span, under asyncio and trio, and the W3C trace
context reaches the service in the call's gRPC metadata."""

from __future__ import annotations

import contextvars
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest
import viam_billing as vb
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from viam_billing_grpc.emulator import Emulator

from .conftest import Telemetry

pytestmark = pytest.mark.anyio


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def received(emulator: Emulator, name: str) -> list[dict[str, str]]:
    return [metadata for rpc, metadata in emulator.received_metadata if rpc == name]


async def test_the_trace_context_reaches_the_service_in_the_metadata(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """The service sees the client span as its parent: ``traceparent`` names its trace and span."""
    async with make_client() as billing:
        await billing.get_available_billing_tiers()
    (metadata,) = received(emulator, "GetAvailableBillingTiers")
    assert metadata["traceparent"] == traceparent(telemetry.span())


async def test_every_attempt_carries_the_trace_context(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """A retried call sends the same span's context each time, beside renewed credentials."""
    emulator.fail_next("GetAvailableBillingTiers", vb.StatusCode.UNAVAILABLE, count=2)
    async with make_client() as billing:
        await billing.get_available_billing_tiers()
    sent = [metadata["traceparent"] for metadata in received(emulator, "GetAvailableBillingTiers")]
    assert sent == [traceparent(telemetry.span())] * 3


async def test_the_global_propagator_is_used(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """Baggage set by the application travels too: the plugin injects through the global propagator."""
    from opentelemetry import baggage, context

    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        async with make_client() as billing:
            await billing.get_available_billing_tiers()
    finally:
        context.detach(token)
    (metadata,) = received(emulator, "GetAvailableBillingTiers")
    assert metadata["baggage"] == "tenant=acme"
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    assert "traceparent" not in carrier  # nothing leaked into the test's own context


async def test_concurrent_calls_are_children_of_their_own_caller_s_span(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient], anyio_backend: str
) -> None:
    """Three tasks, each in a span of its own, calling at once (a PDF stream too): each call's span has its task's
    span as parent, and each traceparent the service saw names that call's span. Under trio the calls run on the
    transport's asyncio thread."""
    org = emulator.org_ids[0]
    invoice = emulator.invoices(org)[0].id
    parents: dict[str, int] = {}
    async with make_client() as billing:

        async def run(name: str, call: Callable[[], object]) -> None:
            with telemetry.tracer.start_as_current_span(name) as parent:
                parents[name] = parent.get_span_context().span_id
                await anyio.lowlevel.checkpoint()  # let the others start their spans before this one calls
                await call()  # type: ignore[misc]

        async with anyio.create_task_group() as group:
            group.start_soon(run, "summary", lambda: billing.get_invoices_summary(org))
            group.start_soon(run, "usage", lambda: billing.get_current_month_usage(org))
            group.start_soon(run, "pdf", lambda: billing.get_invoice_pdf_bytes(invoice, org))
    spans = {span.name.rpartition("/")[2]: span for span in telemetry.spans()}
    expected = {"GetInvoicesSummary": "summary", "GetCurrentMonthUsage": "usage", "GetInvoicePdf": "pdf"}
    assert set(spans) == set(expected)
    for method, task in expected.items():
        span = spans[method]
        assert span.parent is not None
        assert span.parent.span_id == parents[task], method
        (metadata,) = received(emulator, method)
        assert metadata["traceparent"] == traceparent(span), method


@pytest.mark.parametrize("anyio_backend", ["trio"])  # the bridge serves trio callers only
async def test_the_bridge_runs_the_call_in_the_caller_s_context_as_asyncio(anyio_backend: str) -> None:
    """Under trio a coroutine run on the grpc transport's asyncio thread sees the caller's context variables (the
    current span among them), and sniffio there says asyncio: anyio's "trio" for the caller does not leak."""
    import sniffio
    from viam_billing_grpc._bridge import LoopThread

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    marker.set("caller's")
    tracer = trace.get_tracer("tests.otel")

    async def on_the_loop() -> tuple[str, str, object]:
        return marker.get(), sniffio.current_async_library(), trace.get_current_span()

    thread = LoopThread("test-bridge")
    try:
        with tracer.start_as_current_span("parent") as parent:
            seen, library, span = await thread.run(on_the_loop)
    finally:
        await thread.aclose()
    assert (seen, library, span) == ("caller's", "asyncio", parent)
    assert sniffio.current_async_library() == "trio"  # the caller's own context is untouched
