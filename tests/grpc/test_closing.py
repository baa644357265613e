"""Closing a client with calls in flight: each ends at once with ClientClosedError, none is retried on a new
connection, and no socket is left open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import viam_billing as vb
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio


async def close_during(
    billing: vb.BillingClient, call: Callable[[], Awaitable[Any]], started: Callable[[], bool]
) -> BaseException:
    """Start ``call``, wait until ``started()``, close the client; return what the call raised (it must end
    within 2 s of the close)."""
    outcome: list[BaseException] = []

    async def run() -> None:
        try:
            await call()
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(10):
            while not started():  # noqa: ASYNC110 - the emulator has no event for it
                await anyio.sleep(0.005)
        with anyio.fail_after(2):
            await billing.aclose()
            while not outcome:  # noqa: ASYNC110
                await anyio.sleep(0.005)
    return outcome[0]


@pytest.mark.parametrize("rpc", ["GetInvoicesSummary", "ChargeOrganization"])
async def test_a_call_in_flight_ends_with_client_closed_and_is_not_retried(
    make_client, emulator: Emulator, eventually, sockets_to, rpc: str
) -> None:
    """The service is slow; the client closes while the call waits for it. The call raises ClientClosedError
    (for a charge: it may or may not have gone through), the service saw it once, and the socket is closed."""
    emulator.delay(rpc, 30)
    billing = make_client(timeout=None)
    await billing.get_available_billing_tiers()  # authenticated and connected

    async def call() -> None:
        if rpc == "ChargeOrganization":
            await billing.charge_organization(ACME_ORG_ID, 10.0, 0.8)
        else:
            await billing.get_invoices_summary(ACME_ORG_ID)

    error = await close_during(billing, call, lambda: emulator.received[rpc] == 1)
    assert type(error) is vb.ClientClosedError
    assert error.operation == rpc
    assert "was in flight" in str(error)
    assert ("may or may not" in str(error)) is (rpc == "ChargeOrganization")
    assert sockets_to(emulator.port) == 0
    await eventually(lambda: emulator.cancelled[rpc] == 1)
    await anyio.sleep(0.1)  # a retry would have arrived by now
    assert emulator.received[rpc] == 1
    assert emulator.open_connections == 0


async def test_a_download_in_flight_ends_with_client_closed(anyio_backend, sockets_to) -> None:
    """A stream waiting for its next chunk when the client closes: the read raises ClientClosedError."""

    async def slow_pdf(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        yield vb.GetInvoicePdfResponse(chunk=b"%PDF-")
        await anyio.sleep(30)
        yield vb.GetInvoicePdfResponse(chunk=b"never sent")

    chunks_read: list[bytes] = []
    async with Emulator(handler=slow_pdf) as emulator:
        billing = vb.connect(**emulator.connect_options(), timeout=None)

        async def download() -> None:
            async with billing.stream_invoice_pdf("inv-1", "org-1") as chunks:
                async for chunk in chunks:
                    chunks_read.append(chunk)  # noqa: PERF401 - one by one: the close comes after the first

        error = await close_during(billing, download, lambda: bool(chunks_read))
        assert type(error) is vb.ClientClosedError
        assert chunks_read == [b"%PDF-"]
        assert sockets_to(emulator.port) == 0


async def test_calls_waiting_for_the_handshake_end_with_client_closed(
    make_client, emulator: Emulator, sockets_to
) -> None:
    """Calls that wait for the first handshake when the client closes end with ClientClosedError too."""
    emulator.delay("Authenticate", 30)
    billing = make_client(timeout=None)
    error = await close_during(
        billing, lambda: billing.get_invoices_summary(ACME_ORG_ID), lambda: emulator.received["Authenticate"] == 1
    )
    assert type(error) is vb.ClientClosedError
    assert emulator.received["GetInvoicesSummary"] == 0
    assert sockets_to(emulator.port) == 0


async def test_calls_after_close_raise_client_closed(make_client) -> None:
    """A closed client, and a closed transport, refuse calls with ClientClosedError."""
    billing = make_client()
    await billing.aclose()
    with pytest.raises(vb.ClientClosedError):
        await billing.get_available_billing_tiers()
    with pytest.raises(vb.ClientClosedError):
        await billing.transport.unary(
            vb.operation("GetAvailableBillingTiers"), vb.GetAvailableBillingTiersRequest(), timeout=1
        )


async def test_a_cancel_scope_around_a_failed_call_is_not_confused(h2_server) -> None:
    """grpclib ends a call cut off under it by cancelling its task; the count of that cancellation is withdrawn,
    so that an enclosing anyio cancel scope or asyncio timeout does not think its task is being cancelled."""

    async def script(connection: Any) -> None:
        await connection.request()
        await connection.drop()

    async with h2_server(script) as server:
        billing = vb.connect(address=server.address, access_token="t", insecure=True, retry=None, timeout=None)
        async with billing:
            with anyio.fail_after(5):
                with pytest.raises(vb.TransportError, match="cut off"):
                    await billing.get_invoices_summary("org-1")
            await anyio.lowlevel.checkpoint()  # a cancellation left pending would surface here
