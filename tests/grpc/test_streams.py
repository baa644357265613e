"""Streaming PDF downloads: cancellation on the wire, dropped connections, flow control and backpressure."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import trio
import viam_billing as vb
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator, invoice_pdf

pytestmark = pytest.mark.anyio

_MiB = 1 << 20


def _big_invoice(emulator: Emulator, size: int) -> str:
    pdf = invoice_pdf("Invoice inv-big", ["A large document for flow-control tests."], padding=size)
    return emulator.add_invoice(ACME_ORG_ID, amount=1.0, pdf=pdf, invoice_id="inv-big").id


async def test_leaving_a_stream_early_cancels_it_on_the_wire(
    billing: vb.BillingClient, emulator: Emulator, eventually
) -> None:
    """``break`` after the first chunk resets the stream: the server stops sending and sees the cancellation."""
    invoice_id = _big_invoice(emulator, 4 * _MiB)
    total = len(emulator.pdf(ACME_ORG_ID, invoice_id)) // 512
    async with billing.stream_invoice_pdf(invoice_id, ACME_ORG_ID) as chunks:
        async for _chunk in chunks:
            break
    await eventually(lambda: emulator.cancelled["GetInvoicePdf"] == 1)
    assert emulator.sent["GetInvoicePdf"] < total


async def test_a_stream_opened_as_its_caller_is_cancelled_is_cancelled_on_the_wire(
    billing: vb.BillingClient, emulator: Emulator, eventually, transport_of, anyio_backend: str
) -> None:
    """A stream that opens just as its caller is cancelled is reset on the wire, not left reading until close."""
    invoice_id = _big_invoice(emulator, 4 * _MiB)
    await billing.get_available_billing_tiers()  # the transport's engine exists from here on
    engine = transport_of(billing)._engine
    open_stream = engine.open_stream
    with anyio.CancelScope() as scope:
        if anyio_backend == "trio":
            token = trio.lowlevel.current_trio_token()

            def cancel() -> None:
                # From the gRPC thread: queued to trio before the bridge hears that the call has finished.
                token.run_sync_soon(scope.cancel)

        else:
            cancel = scope.cancel

        async def open_then_cancel_the_caller(*args: Any) -> Any:
            call = await open_stream(*args)
            cancel()
            return call

        engine.open_stream = open_then_cancel_the_caller
        async with billing.stream_invoice_pdf(invoice_id, ACME_ORG_ID) as chunks:
            async for _chunk in chunks:
                pass
    assert scope.cancelled_caught
    # Checked with the client still open: closing it would cut the stream along with the connection.
    await eventually(lambda: emulator.cancelled["GetInvoicePdf"] == 1, within=5)
    assert emulator.received["GetInvoicePdf"] == 1


async def test_an_exception_in_the_consumer_cancels_the_stream(
    billing: vb.BillingClient, emulator: Emulator, eventually
) -> None:
    """An error raised while consuming leaves the block, resets the stream and propagates unchanged."""
    invoice_id = _big_invoice(emulator, 4 * _MiB)

    async def consume() -> None:
        async with billing.stream_invoice_pdf(invoice_id, ACME_ORG_ID) as chunks:
            async for _chunk in chunks:
                raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await consume()
    await eventually(lambda: emulator.cancelled["GetInvoicePdf"] == 1)


async def test_cancelling_the_caller_cancels_the_call_on_the_server(
    billing: vb.BillingClient, emulator: Emulator, eventually
) -> None:
    """A cancelled caller (no deadline involved) is seen by the server as a cancelled call."""
    await billing.get_available_billing_tiers()
    emulator.delay("GetInvoicesSummary", 30)
    with anyio.move_on_after(0.2) as scope:
        await billing.get_invoices_summary(ACME_ORG_ID, timeout=60)
    assert scope.cancelled_caught
    await eventually(lambda: emulator.cancelled["GetInvoicesSummary"] == 1)
    # The connection is still good for the next call.
    emulator.delay("GetInvoicesSummary", 0)
    assert (await billing.get_invoices_summary(ACME_ORG_ID)).invoices


async def test_cancelling_a_download_cancels_it_on_the_server(
    billing: vb.BillingClient, emulator: Emulator, eventually, tmp_path
) -> None:
    """Cancelling a download in progress resets its stream and leaves no file behind: a new path stays missing,
    an existing one keeps its content, and no temporary file remains."""
    invoice_id = _big_invoice(emulator, 4 * _MiB)
    existing = tmp_path / "existing.pdf"
    existing.write_bytes(b"the previous download")

    async def cancel_after_the_first_chunk(dest: Any) -> None:
        got_one = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def download() -> None:
                await billing.get_invoice_pdf(invoice_id, ACME_ORG_ID, dest, progress=lambda size: got_one.set())

            tg.start_soon(download)
            await got_one.wait()
            tg.cancel_scope.cancel()

    await cancel_after_the_first_chunk(tmp_path / "new.pdf")
    await eventually(lambda: emulator.cancelled["GetInvoicePdf"] == 1)
    await cancel_after_the_first_chunk(existing)
    await eventually(lambda: emulator.cancelled["GetInvoicePdf"] == 2)
    assert [p.name for p in tmp_path.iterdir()] == ["existing.pdf"]
    assert existing.read_bytes() == b"the previous download"


async def test_a_download_dropped_midway_leaves_dest_unchanged(
    billing: vb.BillingClient, emulator: Emulator, tmp_path
) -> None:
    """A connection lost after some chunks raises TransportError; an existing dest keeps its content, no temp file."""
    dest = tmp_path / "invoice.pdf"
    dest.write_bytes(b"the previous download")
    emulator.drop_connection("GetInvoicePdf", after_chunks=2)
    with pytest.raises(vb.TransportError) as caught:
        await billing.get_invoice_pdf("inv-acme-0001", ACME_ORG_ID, dest)
    assert caught.value.operation == "GetInvoicePdf"
    assert dest.read_bytes() == b"the previous download"
    assert [p.name for p in tmp_path.iterdir()] == ["invoice.pdf"]
    assert emulator.received["GetInvoicePdf"] == 1  # chunks had arrived: never retried


async def test_a_download_dropped_midway_leaves_no_new_file(
    billing: vb.BillingClient, emulator: Emulator, tmp_path
) -> None:
    """A failed download to a new path creates nothing."""
    emulator.drop_connection("GetInvoicePdf", after_chunks=1)
    with pytest.raises(vb.TransportError):
        await billing.get_invoice_pdf("inv-acme-0002", ACME_ORG_ID, tmp_path / "new.pdf")
    assert list(tmp_path.iterdir()) == []


async def test_a_stream_failing_before_its_first_chunk_is_retried(
    billing: vb.BillingClient, emulator: Emulator
) -> None:
    """UNAVAILABLE or a dropped connection before the first chunk is retried: the download succeeds."""
    emulator.fail_next("GetInvoicePdf", vb.StatusCode.UNAVAILABLE)
    emulator.drop_connection("GetInvoicePdf", after_chunks=0)
    pdf = await billing.get_invoice_pdf_bytes("inv-acme-0001", ACME_ORG_ID)
    assert pdf == emulator.pdf(ACME_ORG_ID, "inv-acme-0001")
    assert emulator.received["GetInvoicePdf"] == 3


async def test_a_stalled_download_does_not_block_other_calls(billing: vb.BillingClient, emulator: Emulator) -> None:
    """A download nobody reads fills its own flow-control window only: a summary on the same connection completes."""
    invoice_id = _big_invoice(emulator, 6 * _MiB)
    async with billing.stream_invoice_pdf(invoice_id, ACME_ORG_ID) as chunks:
        await chunks.__anext__()
        # Let the server fill every window it is given before asking for something else.
        previous = -1
        while emulator.sent["GetInvoicePdf"] != previous:
            previous = emulator.sent["GetInvoicePdf"]
            await anyio.sleep(0.1)
        with anyio.fail_after(30):
            summary = await billing.get_invoices_summary(ACME_ORG_ID)
        assert summary.invoices[0].id == invoice_id
        # The stalled stream holds back at most its window (1 MiB) plus the bridge's small buffer.
        assert emulator.sent["GetInvoicePdf"] * 512 < 2 * _MiB


async def test_read_ahead_is_bounded(make_client, emulator: Emulator) -> None:
    """However slow the consumer, the data read ahead stays bounded by the stream window and buffer."""
    invoice_id = _big_invoice(emulator, 1 * _MiB)
    client = make_client(stream_buffer=4, stream_window=256 * 1024)
    async with client as billing, billing.stream_invoice_pdf(invoice_id, ACME_ORG_ID) as chunks:
        await chunks.__anext__()
        previous = -1
        while emulator.sent["GetInvoicePdf"] != previous:
            previous = emulator.sent["GetInvoicePdf"]
            await anyio.sleep(0.1)
        assert emulator.sent["GetInvoicePdf"] * 512 < 256 * 1024 + 64 * 1024
        size = 512 + sum([len(chunk) async for chunk in chunks])
    assert size == len(emulator.pdf(ACME_ORG_ID, invoice_id))


async def test_a_stream_obeys_its_deadline(billing: vb.BillingClient, emulator: Emulator) -> None:
    """A download whose first chunk comes too late raises DeadlineExceededError, without retrying."""
    emulator.delay("GetInvoicePdf", 30)
    with pytest.raises(vb.DeadlineExceededError) as caught:
        await billing.get_invoice_pdf_bytes("inv-acme-0001", ACME_ORG_ID, timeout=0.2)
    assert caught.value.operation == "GetInvoicePdf"
    assert emulator.received["GetInvoicePdf"] == 1


async def test_the_deadline_covers_the_whole_stream(billing: vb.BillingClient, emulator: Emulator) -> None:
    """The deadline is the call's: a consumer still reading when it passes gets DeadlineExceededError."""
    invoice_id = _big_invoice(emulator, 4 * _MiB)

    async def slow_consumer() -> None:
        async with billing.stream_invoice_pdf(invoice_id, ACME_ORG_ID, timeout=0.3) as chunks:
            async for _chunk in chunks:
                await anyio.sleep(0.05)

    with anyio.fail_after(30), pytest.raises(vb.DeadlineExceededError):
        await slow_consumer()
