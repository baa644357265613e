"""The plugin API the otel plugin is built on, as any observer and transport sees it: one ``CallContext`` per
call, ``current_call()`` for transports, metadata observers add, facts transports report."""

from __future__ import annotations

from typing import Any

import pytest
import viam_billing as vb
from viam_billing.plugin import CallContext, CallFinished, CallRetry, CallStarted, current_call, hookimpl
from viam_billing_grpc import GrpcTransport
from viam_billing_grpc.emulator import Emulator

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio


class Recorder:
    """An observer that adds metadata and keeps the events it is given."""

    def __init__(self, metadata: dict[str, str] | None = None) -> None:
        self.metadata = metadata or {}
        self.started: list[CallStarted] = []
        self.finished: list[CallFinished] = []

    @hookimpl
    def call_started(self, event: CallStarted) -> None:
        self.started.append(event)
        event.context.metadata.update(self.metadata)

    @hookimpl
    def call_finished(self, event: CallFinished) -> None:
        self.finished.append(event)


def observed_client(transport: vb.AsyncTransport, observer: object | None) -> vb.BillingClient:
    registry = vb.PluginRegistry(load_entry_points=False)
    if observer is not None:
        registry.register(observer, "recorder")
    return vb.BillingClient(transport, registry=registry)


async def test_the_context_carries_what_the_grpc_transport_reports(emulator: Emulator) -> None:
    """One context per call, the same in both events: the server as configured, and each retry with its reason."""
    recorder = Recorder()
    emulator.fail_next("GetInvoicesSummary", vb.StatusCode.UNAVAILABLE, count=2)
    transport = GrpcTransport(emulator.address, **emulator_credentials(emulator), insecure=True, retry=FAST_RETRY)
    async with observed_client(transport, recorder) as billing:
        await billing.get_invoices_summary(emulator.org_ids[0])
    (started,), (finished,) = recorder.started, recorder.finished
    call = finished.context
    assert started.context is call
    assert call.call_id == started.call_id == finished.call_id
    assert (call.server_address, call.server_port, call.replayed) == ("127.0.0.1", emulator.port, False)
    assert [(retry.attempt, retry.error_type) for retry in call.retries] == [(1, "UNAVAILABLE"), (2, "UNAVAILABLE")]
    assert all(isinstance(retry, CallRetry) and 0 <= retry.delay <= 0.01 for retry in call.retries)
    assert call.retries[0].time_ns <= call.retries[1].time_ns


async def test_metadata_observers_add_is_sent_and_what_cannot_be_sent_is_left_out(emulator: Emulator) -> None:
    """A good entry arrives on every attempt; a bad key, a value with a line break, and an attempt to replace the
    credentials are dropped, and the call still authenticates and succeeds."""
    recorder = Recorder(
        {
            "x-request-id": "req-42",
            "Bad Key": "v",
            "x-multiline": "one\ntwo",
            "grpc-timeout": "1S",
            "authorization": "Bearer forged",
        }
    )
    transport = GrpcTransport(emulator.address, **emulator_credentials(emulator), insecure=True, retry=None)
    async with observed_client(transport, recorder) as billing:
        tiers = await billing.get_available_billing_tiers()
    assert tiers.tiers
    ((rpc, metadata),) = emulator.received_metadata
    assert rpc == "GetAvailableBillingTiers"
    assert metadata["x-request-id"] == "req-42"
    assert not {"bad key", "Bad Key", "x-multiline", "grpc-timeout"} & set(metadata)
    # The emulator keeps no authorization entry to look at: the filter itself shows the forged one goes.
    from viam_billing_grpc._auth import observer_metadata

    assert observer_metadata(recorder.metadata) == (("x-request-id", "req-42"),)


async def test_current_call_is_the_call_while_the_transport_works_and_none_otherwise(anyio_backend: str) -> None:
    """A transport sees the call's context in ``unary`` and while a stream's messages are fetched; without an
    observer, and outside calls, there is none."""
    seen: list[CallContext | None] = []

    def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        seen.append(current_call())
        if operation.streaming:
            return [vb.GetInvoicePdfResponse(chunk=b"%PDF"), vb.GetInvoicePdfResponse(chunk=b"-1.7")]
        return vb.GetAvailableBillingTiersResponse()

    recorder = Recorder()
    async with observed_client(vb.MockTransport(handler), recorder) as billing:
        await billing.get_available_billing_tiers()
        assert current_call() is None
        assert await billing.get_invoice_pdf_bytes("inv-1", "org-1") == b"%PDF-1.7"
    assert seen == [event.context for event in recorder.started]
    pdf = recorder.finished[1].context
    assert (pdf.messages, pdf.payload_bytes, pdf.server_address, pdf.retries) == (2, 8, None, [])
    seen.clear()
    async with observed_client(vb.MockTransport(handler), None) as billing:
        await billing.get_available_billing_tiers()
    assert seen == [None]


def test_events_made_by_hand_get_a_context_of_their_own() -> None:
    """Code that builds the events itself (an observer's tests) needs no context: a fresh one is made."""
    operation = vb.OPERATIONS["GetAvailableBillingTiers"]
    event = CallStarted(call_id=7, operation=operation, request=vb.GetAvailableBillingTiersRequest())
    assert (event.context.call_id, event.context.operation, event.context.metadata) == (7, operation, {})
    assert "metadata" not in repr(event.context)  # whatever observers put there is not shown


def emulator_credentials(emulator: Emulator) -> dict[str, str]:
    return {"api_key": emulator.api_key, "api_key_id": emulator.api_key_id}


async def test_observers_are_told_in_pluggy_s_order_and_one_failing_silences_no_other(
    caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    """tryfirst / plain / trylast order, whatever the registration order; a failing observer is logged by name and
    the ones after it are still told."""
    told: list[str] = []

    class First:
        @hookimpl(tryfirst=True)
        def call_started(self, event: CallStarted) -> None:
            told.append("first")
            raise RuntimeError("observer bug")

    class Plain:
        @hookimpl
        def call_started(self) -> None:  # an implementation may take fewer arguments than the spec
            told.append("plain")

    class Last:
        @hookimpl(trylast=True)
        def call_started(self, event: CallStarted) -> None:
            told.append("last")

    registry = vb.PluginRegistry(load_entry_points=False)
    for name, plugin in (("last", Last()), ("first", First()), ("plain", Plain())):
        registry.register(plugin, name)
    answer = vb.GetAvailableBillingTiersResponse()
    async with vb.BillingClient(vb.MockTransport(lambda operation, request: answer), registry=registry) as billing:
        assert await billing.get_available_billing_tiers() == answer
    assert told == ["first", "plain", "last"]
    # pluggy's name of the plugin: its module for an entry point, its class for an object registered directly
    assert "the call_started hook failed in plugin 'tests.otel.test_call_context." in caplog.text
    assert ".<locals>.First@" in caplog.text


async def test_a_wrapping_observer_is_called_through_pluggy(anyio_backend: str) -> None:
    """A wrapper around the other observers gets pluggy's own call: before, the others, after."""
    told: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def call_finished(self, event: CallFinished) -> Any:
            told.append("before")
            result = yield
            told.append("after")
            return result

    class Plain:
        @hookimpl
        def call_finished(self, event: CallFinished) -> None:
            told.append(event.outcome)

    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(Plain(), "plain")
    registry.register(Wrapper(), "wrapper")
    answer = vb.GetAvailableBillingTiersResponse()
    async with vb.BillingClient(vb.MockTransport(lambda operation, request: answer), registry=registry) as billing:
        await billing.get_available_billing_tiers()
    assert told == ["before", "ok", "after"]
