"""BillingClient over the in-memory transport, on both backends."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest
import viam_billing as vb

pytestmark = pytest.mark.anyio


class Recorder:
    """A handler that records requests and answers each operation with a fixed response."""

    def __init__(self, responses: dict[str, Any] | None = None) -> None:
        self.requests: list[tuple[str, vb.Model]] = []
        self.responses = responses or {}

    def __call__(self, operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        self.requests.append((operation.name, request))
        return self.responses.get(operation.name, operation.response_type())


def client_for(handler: Any, **kwargs: Any) -> vb.BillingClient:
    return vb.BillingClient(vb.MockTransport(handler), registry=vb.PluginRegistry(load_entry_points=False), **kwargs)


CALLS = [
    (
        "get_current_month_usage",
        ("org-1",),
        vb.GetCurrentMonthUsageRequest(org_id="org-1"),
        vb.GetCurrentMonthUsageResponse(subtotal=12.5),
    ),
    (
        "get_org_billing_information",
        ("org-1",),
        vb.GetOrgBillingInformationRequest(org_id="org-1"),
        vb.GetOrgBillingInformationResponse(billing_email="owner@example.com"),
    ),
    (
        "get_invoices_summary",
        ("org-1",),
        vb.GetInvoicesSummaryRequest(org_id="org-1"),
        vb.GetInvoicesSummaryResponse(outstanding_balance=3.0),
    ),
    (
        "get_available_billing_tiers",
        (),
        vb.GetAvailableBillingTiersRequest(),
        vb.GetAvailableBillingTiersResponse(tiers=("free", "pro")),
    ),
    (
        "get_location_billing_organization",
        ("loc-1",),
        vb.GetLocationBillingOrganizationRequest(location_id="loc-1"),
        vb.GetLocationBillingOrganizationResponse(billing_organization_id="org-2"),
    ),
    (
        "charge_organization",
        ("org-3", 100.0, 8.25, "November", "org-1", True),
        vb.ChargeOrganizationRequest(
            org_id_to_charge="org-3",
            subtotal=100.0,
            tax=8.25,
            description="November",
            org_id_for_branding="org-1",
            disable_confirmation_email=True,
        ),
        vb.ChargeOrganizationResponse(invoice_id="inv-9"),
    ),
    (
        "send_payment_required_email",
        ("org-3", "org-1"),
        vb.SendPaymentRequiredEmailRequest(customer_org_id="org-3", billing_owner_org_id="org-1"),
        None,
    ),
    (
        "update_organization_billing_tier",
        ("org-3", "pro"),
        vb.UpdateOrganizationBillingTierRequest(organization_id="org-3", billing_tier="pro"),
        None,
    ),
    (
        "update_location_billing_organization",
        ("loc-1", "org-3"),
        vb.UpdateLocationBillingOrganizationRequest(location_id="loc-1", billing_organization_id="org-3"),
        None,
    ),
]


@pytest.mark.parametrize(("method", "args", "request_model", "response"), CALLS, ids=[c[0] for c in CALLS])
async def test_each_method_sends_its_request_and_returns_the_model(
    method: str, args: tuple[Any, ...], request_model: vb.Model, response: vb.Model | None
) -> None:
    """Every operation builds the wire request from its arguments and returns the typed result."""
    operation = vb.OPERATIONS.for_request(request_model)
    handler = Recorder({operation.name: response} if response is not None else {})
    async with client_for(handler) as billing:
        result = await getattr(billing, method)(*args)
    assert handler.requests == [(operation.name, request_model)]
    assert result == response


async def test_deprecated_charge_warns_and_still_charges() -> None:
    """create_invoice_and_charge_immediately works and points to charge_organization."""
    handler = Recorder(
        {"CreateInvoiceAndChargeImmediately": vb.CreateInvoiceAndChargeImmediatelyResponse(invoice_id="i")}
    )
    async with client_for(handler) as billing:
        with pytest.warns(DeprecationWarning, match="charge_organization"):
            result = await billing.create_invoice_and_charge_immediately("org-3", 5.0, disable_email=True)
    assert result.invoice_id == "i"
    assert handler.requests == [
        (
            "CreateInvoiceAndChargeImmediately",
            vb.CreateInvoiceAndChargeImmediatelyRequest(org_id_to_charge="org-3", amount=5.0, disable_email=True),
        )
    ]


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda b: b.get_current_month_usage(""), "org_id"),
        (lambda b: b.get_invoices_summary("   "), "org_id"),
        (lambda b: b.get_org_billing_information(None), "org_id"),
        (lambda b: b.get_location_billing_organization(7), "location_id"),
        (lambda b: b.charge_organization("", 1.0, 0.0), "org_id_to_charge"),
        (lambda b: b.charge_organization("o", -1.0, 0.0), "subtotal"),
        (lambda b: b.charge_organization("o", math.nan, 0.0), "subtotal"),
        (lambda b: b.charge_organization("o", 1.0, math.inf), "tax"),
        (lambda b: b.charge_organization("o", "10", 0.0), "subtotal"),
        (lambda b: b.charge_organization("o", True, 0.0), "subtotal"),
        (lambda b: b.charge_organization("o", 1.0, 0.0, "x" * 1001), "description"),
        (lambda b: b.charge_organization("o", 1.0, 0.0, None, ""), "org_id_for_branding"),
        (
            lambda b: b.charge_organization("o", 1.0, 0.0, disable_confirmation_email="yes"),
            "disable_confirmation_email",
        ),
        (lambda b: b.send_payment_required_email("o", ""), "billing_owner_org_id"),
        (lambda b: b.update_organization_billing_tier("o", ""), "billing_tier"),
        (lambda b: b.update_location_billing_organization("", "o"), "location_id"),
        (lambda b: b.get_invoice_pdf_bytes("", "o"), "invoice_id"),
        (lambda b: b.get_invoice_pdf("i", "", "x.pdf"), "org_id"),
        (lambda b: b.get_invoices_summary("o", timeout=-1), "timeout"),
        # Ints too large for a float: math.isfinite raises OverflowError for them, which must not escape.
        (lambda b: b.charge_organization("o", 10**400, 0.0), "subtotal"),
        (lambda b: b.charge_organization("o", 1.0, -(10**400)), "tax"),
        (lambda b: b.get_invoices_summary("o", timeout=10**400), "timeout"),
        (lambda b: b.get_invoices_summary("o", timeout=-(10**5000)), "timeout"),  # too long even for repr()
    ],
)
async def test_bad_arguments_are_rejected_before_sending(call: Any, argument: str) -> None:
    """Validation errors name the argument, and nothing reaches the transport."""
    handler = Recorder()
    async with client_for(handler) as billing:
        with pytest.raises(vb.ValidationError) as info:
            await call(billing)
    assert info.value.argument == argument
    assert argument in str(info.value)
    assert handler.requests == []


async def test_description_of_exactly_1000_characters_is_accepted() -> None:
    """The limit is inclusive."""
    handler = Recorder()
    async with client_for(handler) as billing:
        await billing.charge_organization("o", 1.0, 0.0, "x" * 1000)
    assert handler.requests[0][1].description == "x" * 1000  # type: ignore[attr-defined]


async def test_timeout_expires_as_deadline_error() -> None:
    """A call slower than its timeout raises DeadlineExceededError naming the operation."""

    async def slow(operation: vb.Operation[Any, Any], request: vb.Model) -> vb.Model:
        await anyio.sleep(10)
        return operation.response_type()

    async with client_for(slow) as billing:
        with pytest.raises(vb.DeadlineExceededError) as info:
            await billing.get_invoices_summary("org-1", timeout=0.05)
    assert info.value.operation == "GetInvoicesSummary"


async def test_client_default_timeout_applies() -> None:
    """The client's timeout is used where a call gives none."""

    async def slow(operation: vb.Operation[Any, Any], request: vb.Model) -> vb.Model:
        await anyio.sleep(10)
        return operation.response_type()

    async with client_for(slow, timeout=0.05) as billing:
        with pytest.raises(TimeoutError):
            await billing.get_available_billing_tiers()


async def test_handler_errors_reach_the_caller() -> None:
    """A status error raised by the service side arrives as it is."""

    def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> vb.Model:
        raise vb.NotFoundError("no such organization", operation=operation.name)

    async with client_for(handler) as billing:
        with pytest.raises(vb.NotFoundError, match="no such organization"):
            await billing.get_invoices_summary("missing")


async def test_closed_client_refuses_calls() -> None:
    """After aclose() a call raises ClientClosedError."""
    billing = client_for(Recorder())
    await billing.aclose()
    await billing.aclose()
    with pytest.raises(vb.ClientClosedError, match="closed"):
        await billing.get_available_billing_tiers()


def test_huge_timeouts_are_validation_errors_in_the_constructors() -> None:
    """connect() and BillingClient refuse 10**400 seconds with ValidationError, never OverflowError."""
    with pytest.raises(vb.ValidationError, match="an int of 1329 bits"):
        vb.BillingClient(vb.MockTransport(Recorder()), timeout=10**400)
    with pytest.raises(vb.ValidationError, match="timeout"):
        vb.connect("grpc", timeout=-(10**400), access_token="t")


def test_client_requires_a_transport() -> None:
    """A wrong transport object is named."""
    with pytest.raises(vb.ValidationError, match="transport"):
        vb.BillingClient(object())  # type: ignore[arg-type]


class ListSink(vb.Sink):
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.records: list[vb.Record] = []
        self.opened = self.closed = 0

    async def open(self) -> None:
        self.opened += 1

    async def write(self, record: vb.Record) -> None:
        if self.fail:
            raise OSError("disk full")
        self.records.append(record)

    async def aclose(self) -> None:
        self.closed += 1


async def test_results_flow_to_every_sink() -> None:
    """Each successful result is written to each sink, with the organization it is about."""
    first, second = ListSink("first"), ListSink("second")
    handler = Recorder({"GetInvoicesSummary": vb.GetInvoicesSummaryResponse(outstanding_balance=2.0)})
    async with client_for(handler, sinks=[first, second]) as billing:
        assert first.opened == second.opened == 1
        await billing.get_invoices_summary("org-1")
        await billing.charge_organization("org-7", 1.0, 0.0)
    for sink in (first, second):
        assert [r.operation.name for r in sink.records] == ["GetInvoicesSummary", "ChargeOrganization"]
        assert [r.org_id for r in sink.records] == ["org-1", "org-7"]
        assert sink.records[0].result == vb.GetInvoicesSummaryResponse(outstanding_balance=2.0)
        assert sink.records[0].fetched_at.tzinfo is not None
        assert sink.closed == 1


async def test_a_failing_sink_keeps_the_record_from_the_others() -> None:
    """SinkError names the failed sink and carries the result; the healthy sink still got it."""
    broken, healthy = ListSink("broken", fail=True), ListSink("healthy")
    result = vb.GetCurrentMonthUsageResponse(subtotal=9.0)
    async with client_for(Recorder({"GetCurrentMonthUsage": result}), sinks=[broken, healthy]) as billing:
        with pytest.raises(vb.SinkError) as info:
            await billing.get_current_month_usage("org-1")
    assert list(info.value.failures) == ["broken"]
    assert "broken" in str(info.value)
    assert "disk full" in str(info.value)
    assert info.value.result == result
    assert [r.result for r in healthy.records] == [result]


class Observer:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.durations: list[float] = []

    @vb.plugin.hookimpl
    def call_started(self, event: vb.CallStarted) -> None:
        self.events.append(("started", event.operation.name, event.call_id))

    @vb.plugin.hookimpl
    def call_finished(self, event: vb.CallFinished) -> None:
        self.events.append(("finished", event.operation.name, event.call_id, event.outcome, type(event.error)))
        self.durations.append(event.duration)


async def test_observer_hooks_see_success_error_and_cancellation() -> None:
    """call_started / call_finished bracket every call with its outcome."""
    registry = vb.PluginRegistry(load_entry_points=False)
    observer = Observer()
    registry.register(observer, "observer")

    async def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> vb.Model:
        if operation.name == "GetInvoicesSummary":
            raise vb.UnavailableError("try later")
        if operation.name == "GetCurrentMonthUsage":
            await anyio.sleep(10)
        return operation.response_type()

    async with vb.BillingClient(vb.MockTransport(handler), registry=registry) as billing:
        await billing.get_available_billing_tiers()
        with pytest.raises(vb.UnavailableError):
            await billing.get_invoices_summary("o")
        with anyio.move_on_after(0.05):
            await billing.get_current_month_usage("o")

    names = [(e[0], e[1]) for e in observer.events]
    assert names == [
        ("started", "GetAvailableBillingTiers"),
        ("finished", "GetAvailableBillingTiers"),
        ("started", "GetInvoicesSummary"),
        ("finished", "GetInvoicesSummary"),
        ("started", "GetCurrentMonthUsage"),
        ("finished", "GetCurrentMonthUsage"),
    ]
    finished = [e for e in observer.events if e[0] == "finished"]
    assert [e[3] for e in finished] == ["ok", "error", "cancelled"]
    assert finished[0][4] is type(None)
    assert finished[1][4] is vb.UnavailableError
    started_ids = [e[2] for e in observer.events if e[0] == "started"]
    assert started_ids == [e[2] for e in finished]
    assert len(observer.durations) == 3
    assert all(duration >= 0 for duration in observer.durations)
    assert observer.durations[2] >= 0.04  # the cancelled call lasted until its cancellation


async def test_a_broken_observer_never_breaks_calls(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a hook is logged, and the call still succeeds."""

    class Broken:
        @vb.plugin.hookimpl
        def call_started(self, event: vb.CallStarted) -> None:
            raise RuntimeError("observer bug")

    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(Broken(), "broken")
    async with vb.BillingClient(vb.MockTransport(Recorder()), registry=registry) as billing:
        result = await billing.get_available_billing_tiers()
    assert result == vb.GetAvailableBillingTiersResponse()
    assert "call_started hook failed" in caplog.text


async def test_generic_call_uses_the_operation_table() -> None:
    """BillingClient.call sends any unary operation with a ready request model."""
    handler = Recorder(
        {"GetLocationBillingOrganization": vb.GetLocationBillingOrganizationResponse(billing_organization_id="x")}
    )
    async with client_for(handler) as billing:
        result = await billing.call(
            vb.OPERATIONS["GetLocationBillingOrganization"],
            vb.GetLocationBillingOrganizationRequest(location_id="l"),
        )
    assert result.billing_organization_id == "x"


class ClosingTransport(vb.MockTransport):
    closed = 0

    async def aclose(self) -> None:
        self.closed += 1


class RefusingSink(ListSink):
    async def open(self) -> None:
        raise vb.ConfigurationError("cannot write there")


async def test_a_sink_that_cannot_open_closes_what_was_opened() -> None:
    """Entering fails with the sink's error, and the sinks opened before it and the transport are closed."""
    first, refusing, never = ListSink("first"), RefusingSink("refusing"), ListSink("never")
    transport = ClosingTransport(Recorder())
    billing = vb.BillingClient(
        transport, sinks=[first, refusing, never], registry=vb.PluginRegistry(load_entry_points=False)
    )
    with pytest.raises(vb.ConfigurationError, match="cannot write there"):
        async with billing:
            pytest.fail("the block must not run")
    assert (first.opened, first.closed) == (1, 1)
    assert (never.opened, never.closed) == (0, 0)
    assert transport.closed == 1


class SlowOpeningSink(ListSink):
    async def open(self) -> None:
        await anyio.sleep(0.01)
        await super().open()


async def test_concurrent_first_calls_open_each_sink_once() -> None:
    """Without ``async with``, racing first calls still open every sink exactly once."""
    sink = SlowOpeningSink("slow")
    billing = client_for(Recorder(), sinks=[sink])
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(billing.get_available_billing_tiers)
    await billing.aclose()
    assert (sink.opened, sink.closed) == (1, 1)
    assert len(sink.records) == 5


async def test_sink_failure_after_a_charge_says_the_charge_went_through() -> None:
    """A failed sink must not make a completed charge look failed: the error says not to send it again."""
    result = vb.ChargeOrganizationResponse(invoice_id="inv-7")
    async with client_for(Recorder({"ChargeOrganization": result}), sinks=[ListSink("b", fail=True)]) as billing:
        with pytest.raises(vb.SinkError) as info:
            await billing.charge_organization("org-3", 10.0, 0.0)
    assert "succeeded" in str(info.value)
    assert "do not send it again" in str(info.value)
    assert info.value.result == result


def test_open_enums_parse_their_unknown_names() -> None:
    """from_name reads declared names and the UNKNOWN_<n> names of unknown numbers, and nothing else."""
    assert vb.UsageCostType.from_name("USAGE_COST_TYPE_PER_MACHINE") is vb.UsageCostType.USAGE_COST_TYPE_PER_MACHINE
    assert vb.UsageCostType.from_name("UNKNOWN_99") == 99
    assert vb.UsageCostType.from_name(vb.UsageCostType(-5).name) == -5
    for bad in ("UNKNOWN_", "UNKNOWN_x", "XUNKNOWN_3", "per machine"):
        with pytest.raises(ValueError, match="is not a UsageCostType name"):
            vb.UsageCostType.from_name(bad)


async def test_mock_transport_refuses_a_handler_answer_of_the_wrong_type() -> None:
    """A handler returning another operation's response fails loudly, for unary calls and each streamed item."""
    wrong = client_for(lambda operation, request: vb.GetInvoicesSummaryResponse())
    with pytest.raises(TypeError, match="returned GetInvoicesSummaryResponse for GetCurrentMonthUsage"):
        await wrong.get_current_month_usage("org-1")
    streaming = client_for(lambda operation, request: [vb.GetInvoicePdfResponse(chunk=b"%PDF"), vb.UsageCost()])
    with pytest.raises(TypeError, match="returned UsageCost for GetInvoicePdf"):
        await streaming.get_invoice_pdf_bytes("inv-1", "org-1")


async def test_closing_the_client_ends_calls_in_flight_with_client_closed() -> None:
    """aclose() while a call waits on its handler: the call raises ClientClosedError at once, its handler is
    cancelled, and a stream being read ends the same way."""
    cancelled: list[str] = []

    async def slow(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        if operation.streaming:
            return chunks()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            cancelled.append(operation.name)
            raise
        return operation.response_type()

    async def chunks() -> Any:
        yield vb.GetInvoicePdfResponse(chunk=b"%PDF-")
        await anyio.sleep(30)

    outcomes: dict[str, BaseException] = {}
    billing = client_for(slow)

    async def run(name: str, call: Any) -> None:
        try:
            await call()
        except vb.BillingError as exc:
            outcomes[name] = exc

    async def download() -> None:
        async with billing.stream_invoice_pdf("inv-1", "org-1") as pdf:
            async for _ in pdf:
                pass

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "unary", lambda: billing.get_invoices_summary("org-1"))
            tg.start_soon(run, "stream", download)
            await anyio.sleep(0.05)
            await billing.aclose()
    assert {name: type(error) for name, error in outcomes.items()} == {
        "unary": vb.ClientClosedError,
        "stream": vb.ClientClosedError,
    }
    assert cancelled == ["GetInvoicesSummary"]
