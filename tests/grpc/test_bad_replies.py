"""Replies that break the protocol (bytes that are no reply message, compression, a cut message, no message or
two for a unary call, an empty PDF) raise ProtocolError naming the operation, never a protobuf or grpclib
exception; a message over the size limit is refused before it is read; our own bugs stay visible."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import anyio
import google.protobuf.message
import pytest
import viam_billing as vb
from viam_billing_grpc._errors import map_error
from viam_billing_grpc.emulator import Emulator
from viam_billing_protos._generated import billing_pb

pytestmark = pytest.mark.anyio

NOT_A_MESSAGE = b"\\xff\\xff\\xff\\xff"  # a field tag that never ends: no protobuf message parses it


def framed(payload: bytes, *, compressed: bool = False, length: int | None = None) -> bytes:
    """One gRPC length-prefixed message; ``length`` may claim more bytes than follow."""
    return struct.pack(">?I", compressed, len(payload) if length is None else length) + payload


def client_of(address: str) -> vb.BillingClient:
    # An access token skips the handshake: the billing call is the first request the server sees.
    return vb.connect(address=address, access_token="tok-raw", insecure=True, timeout=10, retry=None)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (framed(NOT_A_MESSAGE), "not a valid GetInvoicesSummary reply"),
        (framed(b"\\x08\\x01", compressed=True), "compressed"),
        (framed(b"\\x08", length=100), "cut short or malformed"),
    ],
    ids=["garbage", "compressed", "truncated"],
)
async def test_a_bad_unary_reply_raises_transport_error(raw_server, body: bytes, what: str) -> None:
    """The error is a TransportError for the operation that says what was wrong, chained to the cause."""
    async with raw_server([body]) as address, client_of(address) as billing:
        with pytest.raises(vb.TransportError) as caught:
            await billing.get_invoices_summary("org-1")
    error = caught.value
    assert error.operation == "GetInvoicesSummary"
    assert what in str(error)
    assert address in str(error)
    assert error.__cause__ is not None


async def test_garbage_after_good_chunks_of_a_stream_raises_transport_error(raw_server) -> None:
    """A stream whose third message does not parse yields the two good chunks, then raises TransportError."""
    good = billing_pb.GetInvoicePdfResponse(chunk=b"%PDF-").SerializeToString()
    received: list[bytes] = []

    async def download(billing: vb.BillingClient) -> None:
        async with billing.stream_invoice_pdf("inv-1", "org-1") as chunks:
            async for chunk in chunks:
                received.append(chunk)  # noqa: PERF401 - one by one: the chunks before the error are kept

    async with (
        raw_server([framed(good), framed(good), framed(NOT_A_MESSAGE)]) as address,
        client_of(address) as billing,
    ):
        with pytest.raises(vb.TransportError, match="not a valid GetInvoicePdf reply") as caught:
            await download(billing)
    assert received == [b"%PDF-", b"%PDF-"]
    assert caught.value.operation == "GetInvoicePdf"
    assert isinstance(caught.value.__cause__, google.protobuf.message.DecodeError)


async def test_garbage_as_the_first_message_of_a_stream_raises_transport_error(raw_server) -> None:
    """A stream whose first message does not parse fails when it is opened."""
    async with raw_server([framed(NOT_A_MESSAGE)]) as address, client_of(address) as billing:
        with pytest.raises(vb.TransportError, match="not a valid GetInvoicePdf reply"):
            await billing.get_invoice_pdf_bytes("inv-1", "org-1")


@pytest.mark.parametrize("error", [NotImplementedError("ours"), AssertionError("ours"), ValueError("ours")])
def test_our_own_bugs_are_not_mapped(error: Exception) -> None:
    """An exception raised by our code (not by grpclib or protobuf decoding) comes back unchanged."""
    with pytest.raises(type(error)) as caught:
        raise error
    assert map_error(caught.value, operation="GetInvoicesSummary", target="http://127.0.0.1:1", timeout=None) is error


# -- a unary call must have exactly one reply message ---------------------------------------------------------------

SUMMARY = billing_pb.GetInvoicesSummaryResponse(outstanding_balance=1.5).SerializeToString()
CHARGED = billing_pb.ChargeOrganizationResponse(invoice_id="inv-1").SerializeToString()


async def reply_with(h2_server: Any, answer: Any, rpc: str) -> vb.BillingError:
    """Make one ``rpc`` call (a read or a charge) against a server answering it with ``answer(connection,
    request)``; return the error raised."""

    async def script(connection: Any) -> None:
        await answer(connection, await connection.request())

    async with h2_server(script) as server, client_of(server.address) as billing:
        call = (
            billing.charge_organization("org-1", 10.0, 0.8)
            if rpc == "ChargeOrganization"
            else billing.get_invoices_summary("org-1")
        )
        with anyio.fail_after(5), pytest.raises(vb.BillingError) as caught:
            await call
    return caught.value


@pytest.mark.parametrize("rpc", ["GetInvoicesSummary", "ChargeOrganization"])
@pytest.mark.parametrize(
    "answer",
    [
        lambda connection, request: connection.trailers_only(request),
        lambda connection, request: connection.answer(request),
    ],
    ids=["trailers-only", "headers-and-trailers"],
)
async def test_ok_with_no_message_is_a_protocol_error(h2_server, answer: Any, rpc: str) -> None:
    """Status OK with no reply message is a ProtocolError naming the operation (not a TypeError from decoding);
    for a charge, it says that the charge may have been carried out."""
    error = await reply_with(h2_server, answer, rpc)
    assert type(error) is vb.ProtocolError
    assert isinstance(error, vb.TransportError)
    assert error.operation == rpc
    assert "status OK but no reply message" in str(error)
    charged_warning = "may have carried out the ChargeOrganization call; check the invoices before charging again"
    assert (charged_warning in str(error)) is (rpc == "ChargeOrganization")


@pytest.mark.parametrize("rpc", ["GetInvoicesSummary", "ChargeOrganization"])
async def test_two_messages_for_a_unary_call_are_a_protocol_error(h2_server, rpc: str) -> None:
    """A second reply message for a unary call is a ProtocolError, not silently dropped."""
    reply = SUMMARY if rpc == "GetInvoicesSummary" else CHARGED
    error = await reply_with(h2_server, lambda connection, request: connection.answer(request, reply, reply), rpc)
    assert type(error) is vb.ProtocolError
    assert "more than one reply message" in str(error)
    assert ("may have carried out" in str(error)) is (rpc == "ChargeOrganization")


async def test_an_error_status_without_a_message_is_still_the_services_answer(h2_server) -> None:
    """No message with a status other than OK is that status, as before (not a protocol error)."""
    error = await reply_with(
        h2_server, lambda connection, request: connection.trailers_only(request, status=5), "GetInvoicesSummary"
    )
    assert type(error) is vb.NotFoundError


# -- the received-message limit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("announced", [512 << 20, 0xFFFFFFFF], ids=["512MiB", "4GiB"])
async def test_a_message_over_the_limit_fails_before_it_is_read(
    h2_server, eventually, announced: int, tmp_path: Path
) -> None:
    """A length prefix over the 4 MiB default fails the call with RESOURCE_EXHAUSTED as soon as it arrives: the
    server sends the prefix and a few bytes and then nothing, so waiting for the message would hang. The stream
    is reset; a path download leaves the old file."""
    first_bytes = framed(b"\x08\x01" * 8, length=announced)

    async def script(connection: Any) -> None:
        while True:
            request = await connection.request()
            await connection.answer(request, first_bytes, raw=True, end=False)

    dest = tmp_path / "invoice.pdf"
    dest.write_bytes(b"%PDF-old")
    async with h2_server(script) as server, client_of(server.address) as billing:
        with anyio.fail_after(5):
            with pytest.raises(vb.ResourceExhaustedError, match="max_receive_message_size") as caught:
                await billing.get_invoices_summary("org-1")
            with pytest.raises(vb.ResourceExhaustedError, match=f"a message of {announced} bytes"):
                await billing.get_invoice_pdf("inv-1", "org-1", dest)
            await eventually(lambda: len(server.connections[0].client_reset) == 2)
    assert caught.value.operation == "GetInvoicesSummary"
    assert f"over the limit of {4 << 20} bytes" in str(caught.value)
    assert dest.read_bytes() == b"%PDF-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoice.pdf"]


async def test_the_limit_is_an_option_and_pdf_chunks_stay_far_below_it(anyio_backend) -> None:
    """A 5 MiB message fails with the default limit and passes with max_receive_message_size=8 MiB. A PDF larger
    than the limit, in chunks (the service's are small), downloads with the default limit."""
    big = bytes(5 << 20)
    chunk = bytes(64 << 10)

    def handler(operation: vb.Operation[Any, Any], request: Any) -> Any:
        if request.id == "inv-one-message":
            return [vb.GetInvoicePdfResponse(chunk=big)]
        return [vb.GetInvoicePdfResponse(chunk=chunk)] * 96  # 6 MiB

    async with Emulator(handler=handler) as emulator:
        async with vb.connect(**emulator.connect_options(), timeout=30) as billing:
            with pytest.raises(vb.ResourceExhaustedError, match="max_receive_message_size"):
                await billing.get_invoice_pdf_bytes("inv-one-message", "org-1")
            assert len(await billing.get_invoice_pdf_bytes("inv-chunked", "org-1")) == 96 * len(chunk)
        async with vb.connect(**emulator.connect_options(), timeout=30, max_receive_message_size=8 << 20) as billing:
            assert await billing.get_invoice_pdf_bytes("inv-one-message", "org-1") == big


def test_the_limit_option_is_checked() -> None:
    """max_receive_message_size must be an int of bytes in range."""
    for value in (0, 10, 2**40, 1.5, True):
        with pytest.raises(vb.ConfigurationError, match="max_receive_message_size"):
            vb.connect(address="127.0.0.1:1", insecure=True, access_token="t", max_receive_message_size=value)


# -- PDFs -----------------------------------------------------------------------------------------------------------


async def test_an_empty_pdf_stream_over_grpc_keeps_the_old_file(h2_server, tmp_path: Path) -> None:
    """GetInvoicePdf answered OK with no message: a ProtocolError; the existing file keeps its content and no
    temporary file remains (before, it was replaced by 0 bytes and 0 returned)."""

    async def script(connection: Any) -> None:
        while True:
            await connection.answer(await connection.request())

    dest = tmp_path / "inv.pdf"
    dest.write_bytes(b"%PDF-old")
    async with h2_server(script) as server, client_of(server.address) as billing:
        with pytest.raises(vb.ProtocolError, match="empty PDF"):
            await billing.get_invoice_pdf("inv-1", "org-1", dest)
        with pytest.raises(vb.ProtocolError, match="empty PDF"):
            await billing.get_invoice_pdf_bytes("inv-1", "org-1")
    assert dest.read_bytes() == b"%PDF-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv.pdf"]
