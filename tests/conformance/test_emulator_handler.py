"""``Emulator(handler=...)``: the emulator serving a function instead of its seed, behind real gRPC and its auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import viam_billing as vb
from viam_billing_grpc.emulator import Emulator

pytestmark = pytest.mark.anyio


async def test_a_handler_answers_each_call_with_the_request_it_was_sent(anyio_backend: str) -> None:
    seen: list[tuple[str, Any]] = []

    async def handler(operation: vb.Operation[Any, Any], request: Any) -> Any:
        seen.append((operation.name, request))
        await anyio.sleep(0.001)  # anyio works on the emulator's loop, under trio too (an asyncio thread there)
        return vb.GetInvoicesSummaryResponse(outstanding_balance=12.5)

    async with Emulator(handler=handler) as emulator, vb.connect(**emulator.connect_options(), timeout=10) as billing:
        summary = await billing.get_invoices_summary("org-1")
    assert summary == vb.GetInvoicesSummaryResponse(outstanding_balance=12.5)
    assert seen == [("GetInvoicesSummary", vb.GetInvoicesSummaryRequest(org_id="org-1"))]
    assert emulator.received["Authenticate"] == 1


async def test_the_handler_is_behind_the_api_key_check(anyio_backend: str) -> None:
    calls = []

    def handler(operation: vb.Operation[Any, Any], request: Any) -> Any:
        calls.append(operation.name)
        return vb.GetAvailableBillingTiersResponse()

    async with Emulator(handler=handler) as emulator:
        options = {**emulator.connect_options(), "api_key": "not-the-key", "retry": None}
        async with vb.connect(**options, timeout=10) as billing:
            with pytest.raises(vb.UnauthenticatedError):
                await billing.get_available_billing_tiers()
    assert calls == []


async def test_a_status_error_raised_by_the_handler_is_the_calls_status(anyio_backend: str) -> None:
    def handler(operation: vb.Operation[Any, Any], request: Any) -> Any:
        raise vb.FailedPreconditionError("tier is locked ✓")

    async with Emulator(handler=handler) as emulator, vb.connect(**emulator.connect_options(), timeout=10) as billing:
        with pytest.raises(vb.FailedPreconditionError) as failure:
            await billing.update_organization_billing_tier("org-1", "pro")
    assert failure.value.message == "tier is locked ✓"
    assert failure.value.operation == "UpdateOrganizationBillingTier"


async def test_a_stream_from_a_generator_is_closed_when_the_client_leaves(anyio_backend: str) -> None:
    closed: list[int] = []

    def chunks() -> Iterator[vb.GetInvoicePdfResponse]:
        sent = 0
        try:
            while True:
                yield vb.GetInvoicePdfResponse(chunk=b"x" * 1000)
                sent += 1
        finally:
            closed.append(sent)

    def handler(operation: vb.Operation[Any, Any], request: Any) -> Any:
        return chunks()

    async with Emulator(handler=handler) as emulator, vb.connect(**emulator.connect_options(), timeout=10) as billing:
        async with billing.stream_invoice_pdf("inv-1", "org-1") as stream:
            async for _ in stream:
                break
        with anyio.fail_after(10):
            while not closed:  # noqa: ASYNC110 - the emulator closes it on its own loop, maybe another thread
                await anyio.sleep(0.005)
    assert closed[0] >= 1


async def test_faults_apply_to_a_handler_too(anyio_backend: str) -> None:
    async with Emulator(handler=lambda operation, request: vb.ChargeOrganizationResponse(invoice_id="i")) as emulator:
        emulator.fail_next("ChargeOrganization", vb.StatusCode.UNAVAILABLE)
        async with vb.connect(**emulator.connect_options(), timeout=10) as billing:
            with pytest.raises(vb.UnavailableError):
                await billing.charge_organization("org-1", 1.0, 0.0)
            assert (await billing.charge_organization("org-1", 1.0, 0.0)).invoice_id == "i"


def test_a_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"handler must be a function \(operation, request\) -> response"):
        Emulator(handler="not a function")  # type: ignore[arg-type]
