"""Replies that break the protocol (bytes that are no reply message, compression, a cut message) raise
TransportError naming the operation, never a protobuf or grpclib exception; our own bugs stay visible."""

from __future__ import annotations

import struct

import google.protobuf.message
import pytest
import viam_billing as vb
from viam_billing_grpc._errors import map_error
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
