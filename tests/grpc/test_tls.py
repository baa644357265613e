"""TLS: the transport verifies the server's certificate and speaks HTTP/2 negotiated by ALPN."""

from __future__ import annotations

import ssl

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
