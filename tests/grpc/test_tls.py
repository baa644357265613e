"""TLS: the transport verifies the server's certificate and speaks HTTP/2 negotiated by ALPN."""

from __future__ import annotations

import contextlib
import ssl
import warnings

import anyio
import anyio.abc
import anyio.streams.tls
import pytest
import trustme
import viam_billing as vb
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_emulator(ca: trustme.CA, anyio_backend) -> Emulator:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    async with Emulator(ssl_context=server_context) as emulator:
        yield emulator


async def test_tls_with_a_trusted_certificate(tls_emulator: Emulator, ca: trustme.CA) -> None:
    """With the CA trusted through ssl_context, every kind of call works over TLS."""
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    options = tls_emulator.connect_options()
    assert options["insecure"] is False
    async with vb.connect(**options, ssl_context=client_context, timeout=30) as billing:
        summary = await billing.get_invoices_summary(ACME_ORG_ID)
        pdf = await billing.get_invoice_pdf_bytes(summary.invoices[0].id, ACME_ORG_ID)
    assert pdf.startswith(b"%PDF")


async def test_an_untrusted_certificate_is_refused(tls_emulator: Emulator) -> None:
    """With the system trust store, a certificate of an unknown CA fails as ConnectError, naming the problem."""
    async with vb.connect(**tls_emulator.connect_options(), retry=None, timeout=30) as billing:
        with pytest.raises(vb.ConnectError, match="certificate") as caught:
            await billing.get_available_billing_tiers()
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert tls_emulator.received["Authenticate"] == 0


@pytest.fixture
async def tls11_server(ca: trustme.CA, anyio_backend) -> str:
    """A TLS server on loopback that speaks TLS 1.1 at most (and nothing after the handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
            context.set_ciphers("ALL:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"this OpenSSL cannot serve TLS 1.1: {exc}")

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            with contextlib.suppress(Exception):
                wrapped = await anyio.streams.tls.TLSStream.wrap(client, server_side=True, ssl_context=context)
                await wrapped.receive()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"127.0.0.1:{listener.extra(anyio.abc.SocketAttribute.local_port)}"
        tg.cancel_scope.cancel()


async def test_a_server_offering_only_tls_1_1_is_named_as_such(tls11_server: str, ca: trustme.CA) -> None:
    """The client refuses TLS below 1.2. The server hanging up mid-handshake used to give a TransportError with
    an empty reason; it is a ConnectError that says what probably happened."""
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with vb.connect(
        address=tls11_server, access_token="t", ssl_context=client_context, retry=None, timeout=10
    ) as billing:
        with pytest.raises(vb.ConnectError, match=r"TLS 1\.1") as caught:
            await billing.get_available_billing_tiers()
    message = str(caught.value)
    assert "TLS 1.2 is the minimum" in message
    assert not message.endswith(": ")
