"""What the otel plugin records for each call: one CLIENT span per the RPC/gRPC semantic conventions, and the
``rpc.client.call.duration`` histogram with the same attributes."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import viam_billing as vb
import viam_billing_otel as otel
from opentelemetry.trace import SpanKind, StatusCode
from viam_billing_grpc.emulator import Emulator

from .conftest import DURATION, Telemetry

pytestmark = pytest.mark.anyio

SUMMARY = "viam.app.v1.BillingService/GetInvoicesSummary"
PDF = "viam.app.v1.BillingService/GetInvoicePdf"


def semconv(method: str, emulator: Emulator, status: str = "OK", **extra: Any) -> dict[str, Any]:
    return {
        "rpc.system.name": "grpc",
        "rpc.method": method,
        "rpc.status_code": status,
        "server.address": "127.0.0.1",
        "server.port": emulator.port,
        **extra,
    }


async def test_a_call_is_one_client_span_named_after_its_method(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """Name, kind, scope and the convention's attributes; the authentication handshake makes no span of its own."""
    async with make_client() as billing:
        await billing.get_invoices_summary(emulator.org_ids[0])
    span = telemetry.span()
    assert span.name == SUMMARY
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert (span.instrumentation_scope.name, span.instrumentation_scope.schema_url) == (
        otel.SCOPE_NAME,
        otel.SCHEMA_URL,
    )
    assert dict(span.attributes or {}) == semconv(SUMMARY, emulator)
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    assert span.parent is None  # no span was current in the test


async def test_a_failed_call_has_error_type_and_an_error_status(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """A status from the service is both ``rpc.status_code`` and ``error.type``; its message is the description."""
    emulator.fail_next("GetInvoicesSummary", vb.StatusCode.NOT_FOUND, message="no such organization")
    async with make_client() as billing:
        with pytest.raises(vb.NotFoundError):
            await billing.get_invoices_summary(emulator.org_ids[0])
    span = telemetry.span()
    assert dict(span.attributes or {}) == semconv(SUMMARY, emulator, "NOT_FOUND", **{"error.type": "NOT_FOUND"})
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "no such organization"


async def test_a_call_that_got_no_status_reports_the_status_a_grpc_client_generates(telemetry: Telemetry) -> None:
    """No server listening: UNAVAILABLE, and the error's public class as ``error.type``; nothing about a peer."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {"address": f"127.0.0.1:{port}", "insecure": True, "access_token": "t0ken-never-used", "retry": None}
    async with vb.connect(**options, timeout=10) as billing:
        with pytest.raises(vb.ConnectError):
            await billing.get_available_billing_tiers()
    span = telemetry.span()
    attributes = dict(span.attributes or {})
    assert attributes["rpc.status_code"] == "UNAVAILABLE"
    assert attributes["error.type"] == "viam_billing.ConnectError"
    assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", port)
    assert span.status.status_code is StatusCode.ERROR


async def test_retries_are_events_on_the_call_s_one_span(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """Two UNAVAILABLE answers, then success: one span, OK, with a retry event for each failed attempt."""
    emulator.fail_next("GetInvoicesSummary", vb.StatusCode.UNAVAILABLE, count=2)
    async with make_client() as billing:
        await billing.get_invoices_summary(emulator.org_ids[0])
    span = telemetry.span()
    assert emulator.received["GetInvoicesSummary"] == 3
    assert dict(span.attributes or {}) == semconv(SUMMARY, emulator)
    assert span.status.status_code is StatusCode.UNSET  # a retried failure is no error of the call
    assert [event.name for event in span.events] == [otel.RETRY_EVENT] * 2
    assert [dict(event.attributes or {}) | {otel.RETRY_DELAY: 0} for event in span.events] == [
        {otel.RETRY_ATTEMPT: 1, "error.type": "UNAVAILABLE", otel.RETRY_DELAY: 0},
        {otel.RETRY_ATTEMPT: 2, "error.type": "UNAVAILABLE", otel.RETRY_DELAY: 0},
    ]
    delays = [(event.attributes or {})[otel.RETRY_DELAY] for event in span.events]
    assert all(isinstance(delay, float) and 0 <= delay <= 0.01 for delay in delays)
    assert span.start_time is not None
    assert span.end_time is not None
    assert all(span.start_time <= event.timestamp <= span.end_time for event in span.events)


async def test_a_renewed_token_is_a_retry_too(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """A token refused after it worked: the call goes again after a new handshake, reported as UNAUTHENTICATED."""
    async with make_client() as billing:
        await billing.get_available_billing_tiers()
        emulator.expire_tokens()
        telemetry.reset()
        await billing.get_available_billing_tiers()
    span = telemetry.span()
    assert [dict(event.attributes or {})["error.type"] for event in span.events] == ["UNAUTHENTICATED"]
    assert span.status.status_code is StatusCode.UNSET


async def test_a_pdf_stream_is_one_span_with_its_chunk_and_byte_counts(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient], tmp_path: Path
) -> None:
    """However many chunks: one span, lasting until the stream ended, counting the chunks and the bytes."""
    org = emulator.org_ids[0]
    invoice = emulator.invoices(org)[0].id
    document = emulator.pdf(org, invoice)
    async with make_client() as billing:
        size = await billing.get_invoice_pdf(invoice, org, tmp_path / "invoice.pdf")
    assert size == len(document) > 512
    span = telemetry.span()
    assert span.name == PDF
    chunks = math.ceil(len(document) / 512)  # the emulator's chunk size
    assert emulator.sent["GetInvoicePdf"] == chunks
    assert dict(span.attributes or {}) == semconv(
        PDF, emulator, **{otel.STREAM_CHUNKS: chunks, otel.STREAM_BYTES: len(document)}
    )


async def test_a_stream_left_early_counts_what_the_caller_took(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """Leaving after the first chunk: the span counts one chunk and its bytes, and the call is no failure."""
    org = emulator.org_ids[0]
    invoice = emulator.invoices(org)[0].id
    async with make_client() as billing, billing.stream_invoice_pdf(invoice, org) as chunks:
        async for chunk in chunks:
            first = chunk
            break
    attributes = dict(telemetry.span().attributes or {})
    assert (attributes[otel.STREAM_CHUNKS], attributes[otel.STREAM_BYTES]) == (1, len(first))
    assert attributes["rpc.status_code"] == "OK"


async def test_replayed_calls_are_marked_and_recorded_ones_are_live(
    telemetry: Telemetry, emulator: Emulator, tmp_path: Path
) -> None:
    """Recording through the grpc transport: a live span (with the server). Replaying: marked, and no server."""
    cassette = tmp_path / "cassette.json"
    options = {**emulator.connect_options(), "retry": None}
    org = emulator.org_ids[0]
    async with vb.connect("replay", cassette=cassette, record_mode="once", **options) as billing:
        await billing.get_invoices_summary(org)
    recorded = telemetry.span()
    assert dict(recorded.attributes or {}) == semconv(SUMMARY, emulator)
    telemetry.reset()
    async with vb.connect("replay", cassette=cassette) as billing:
        await billing.get_invoices_summary(org)
        with pytest.raises(vb.PluginError):  # nothing recorded for it: the replay transport's own error
            await billing.get_invoices_summary("org-never-recorded")
    replayed, unmatched = telemetry.spans()
    assert dict(replayed.attributes or {}) == {
        "rpc.system.name": "grpc",
        "rpc.method": SUMMARY,
        "rpc.status_code": "OK",
        otel.REPLAYED: True,
    }
    assert otel.REPLAYED not in (unmatched.attributes or {})
    assert (unmatched.attributes or {})["error.type"] == "viam_billing_replay.UnmatchedRequestError"


async def test_the_duration_histogram_has_the_span_s_attributes_and_duration(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """One point per distinct outcome, in seconds, with the conventions' buckets; its sum is the span's length."""
    emulator.fail_next("GetInvoicesSummary", vb.StatusCode.PERMISSION_DENIED)
    async with make_client() as billing:
        with pytest.raises(vb.PermissionDeniedError):
            await billing.get_invoices_summary(emulator.org_ids[0])
        await billing.get_invoices_summary(emulator.org_ids[0])
    metric = telemetry.duration_metric()
    assert metric is not None
    assert (metric.name, metric.unit) == (DURATION, "s")
    points = {point.attributes.get("rpc.status_code"): point for point in metric.data.data_points}  # type: ignore[union-attr]
    spans = {span.attributes["rpc.status_code"]: span for span in telemetry.spans()}  # type: ignore[index]
    assert set(points) == set(spans) == {"OK", "PERMISSION_DENIED"}
    for status, point in points.items():
        span = spans[status]
        assert dict(point.attributes) == dict(span.attributes or {})  # type: ignore[arg-type]
        assert point.count == 1  # type: ignore[union-attr]
        assert tuple(point.explicit_bounds) == otel.DURATION_BUCKETS  # type: ignore[union-attr]
        assert span.start_time is not None
        assert span.end_time is not None
        assert point.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=1e-6)  # type: ignore[union-attr]


async def test_stream_counts_stay_off_the_metric(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """Counts vary per call: on the span only, so the histogram keeps one series per method and outcome."""
    org = emulator.org_ids[0]
    async with make_client() as billing:
        await billing.get_invoice_pdf_bytes(emulator.invoices(org)[0].id, org)
    (point,) = telemetry.durations()
    assert dict(point.attributes) == semconv(PDF, emulator)  # type: ignore[arg-type]


async def test_a_cancelled_call_and_an_expired_deadline(telemetry: Telemetry) -> None:
    """Any transport (here MockTransport, which knows no server): the caller's cancellation is CANCELLED, the
    call's own timeout DEADLINE_EXCEEDED, both errors of the span."""

    async def slow(operation: vb.Operation[Any, Any], request: vb.Model) -> vb.Model:
        await anyio.sleep(10)
        raise AssertionError("never answered")

    async with vb.BillingClient(vb.MockTransport(slow)) as billing:
        with anyio.move_on_after(0.02):
            await billing.get_available_billing_tiers()
        with pytest.raises(vb.DeadlineExceededError):
            await billing.get_available_billing_tiers(timeout=0.02)
    cancelled, expired = telemetry.spans()
    method = "viam.app.v1.BillingService/GetAvailableBillingTiers"
    assert dict(cancelled.attributes or {}) == {
        "rpc.system.name": "grpc",
        "rpc.method": method,
        "rpc.status_code": "CANCELLED",
        "error.type": "CANCELLED",
    }
    assert (cancelled.status.status_code, cancelled.status.description) == (StatusCode.ERROR, "cancelled by the caller")
    assert (expired.attributes or {})["error.type"] == "DEADLINE_EXCEEDED"
    assert expired.status.status_code is StatusCode.ERROR
