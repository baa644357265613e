"""The emulator itself: seed data, checks it enforces, fault API, and running it from a shell."""

from __future__ import annotations

import io
import os
import signal
import socket
import sys

import anyio
import pypdf
import pytest
import viam_billing as vb
from anyio.streams.text import TextReceiveStream
from viam_billing_grpc.emulator import (
    ACME_ORG_ID,
    DEFAULT_API_KEY,
    DEFAULT_API_KEY_ID,
    FOREIGN_ORG_ID,
    GLOBEX_ORG_ID,
    INITECH_ORG_ID,
    UMBRELLA_ORG_ID,
    Emulator,
)

pytestmark = pytest.mark.anyio


async def test_seeded_organizations_and_documents(emulator: Emulator) -> None:
    """The owned organizations are listed in a stable order, and every seeded invoice has a readable PDF."""
    assert emulator.org_ids == (ACME_ORG_ID, GLOBEX_ORG_ID, INITECH_ORG_ID, UMBRELLA_ORG_ID)
    assert FOREIGN_ORG_ID not in emulator.org_ids
    count = 0
    for org_id in emulator.org_ids:
        for invoice in emulator.invoices(org_id):
            reader = pypdf.PdfReader(io.BytesIO(emulator.pdf(org_id, invoice.id)))
            text = reader.pages[0].extract_text()
            assert invoice.id in text
            assert f"{invoice.invoice_amount:,.2f}" in text
            count += 1
    assert count == 8


async def test_seed_dates_follow_the_clock(emulator: Emulator, now) -> None:
    """Invoices sit in the months before the emulator's clock; the newest is dated the first of this month."""
    newest = emulator.invoices(ACME_ORG_ID)[0]
    assert newest.invoice_date == now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert all(i.invoice_date is not None and i.invoice_date <= now for i in emulator.invoices(ACME_ORG_ID))


async def test_billing_calls_need_a_valid_bearer_token(emulator: Emulator) -> None:
    """A token the emulator never issued is refused as UNAUTHENTICATED."""
    async with vb.connect(address=emulator.address, access_token="made-up", insecure=True, timeout=30) as billing:
        with pytest.raises(vb.UnauthenticatedError, match="invalid or has expired"):
            await billing.get_available_billing_tiers()
    assert emulator.received["GetAvailableBillingTiers"] == 1


async def test_fault_api_checks_its_arguments(emulator: Emulator) -> None:
    """Faults name existing RPCs and real status codes; clear_faults removes them all."""
    with pytest.raises(ValueError, match=r"unknown RPC 'GetInvoice'.*GetInvoicePdf"):
        emulator.fail_next("GetInvoice", vb.StatusCode.UNAVAILABLE)
    with pytest.raises(ValueError, match="not a gRPC status"):
        emulator.fail_next("GetInvoicePdf", 99)
    emulator.fail_next("GetAvailableBillingTiers", vb.StatusCode.INTERNAL)
    emulator.delay("GetAvailableBillingTiers", 30)
    emulator.clear_faults()
    async with vb.connect(**emulator.connect_options(), timeout=30) as billing:
        assert (await billing.get_available_billing_tiers()).tiers


async def test_delay_for_a_number_of_calls(emulator: Emulator) -> None:
    """A delay with a count applies to that many calls, then goes away."""
    emulator.delay("GetAvailableBillingTiers", 30, count=1)
    async with vb.connect(**emulator.connect_options(), timeout=30) as billing:
        with pytest.raises(vb.DeadlineExceededError):
            await billing.get_available_billing_tiers(timeout=0.1)
        assert (await billing.get_available_billing_tiers()).tiers


async def test_connections_opened_after_counting_are_counted_and_dropped(
    emulator: Emulator, make_client, eventually
) -> None:
    """Reading open_connections keeps the set the server adds to: connections made afterwards are counted, and
    drop_connection() and closing reach them (the property used to replace the set, hiding every later one)."""
    assert emulator.open_connections == 0
    async with make_client(retry=None) as billing:
        await billing.get_available_billing_tiers()
        assert emulator.open_connections == 1
        emulator.drop_connection("GetInvoicesSummary")
        with pytest.raises(vb.TransportError, match="cut off"):
            await billing.get_invoices_summary(ACME_ORG_ID)
        await eventually(lambda: emulator.open_connections == 0)
        await billing.get_available_billing_tiers()
        assert emulator.open_connections == 1


async def test_emulator_repr_shows_no_credentials(emulator: Emulator) -> None:
    """The emulator's repr names its address and state, not its key."""
    text = repr(emulator)
    assert emulator.address in text
    assert "running" in text
    assert emulator.api_key not in text
    assert emulator.api_key_id not in text


async def test_emulator_on_ipv6_loopback(anyio_backend) -> None:
    """The emulator and the client both work over [::1]."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        emulator = Emulator(host="::1")
        await emulator.start()
    except OSError:
        pytest.skip("IPv6 loopback is not available")
    try:
        assert emulator.address.startswith("[::1]:")
        async with vb.connect(**emulator.connect_options(), timeout=30) as billing:
            assert (await billing.get_available_billing_tiers()).tiers
    finally:
        await emulator.aclose()
    assert repr(emulator).endswith("stopped>")


async def test_python_dash_m_serves_until_interrupted(anyio_backend) -> None:
    """``python -m viam_billing_grpc.emulator --port 0`` prints its address, serves the default credentials,
    and exits cleanly on Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAM_EMULATOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "viam_billing_grpc.emulator", "--port", "0"]
    async with await anyio.open_process(command, env=env) as process:
        assert process.stdout is not None
        try:
            output = ""
            with anyio.fail_after(20):
                async for text in TextReceiveStream(process.stdout):
                    output += text
                    if "\n" in output:
                        break
            line = output.splitlines()[0]
            assert line.startswith("viam-billing emulator listening on 127.0.0.1:")
            address = line.rsplit(" ", 1)[1]
            async with vb.connect(
                address=address, api_key=DEFAULT_API_KEY, api_key_id=DEFAULT_API_KEY_ID, insecure=True, timeout=30
            ) as billing:
                summary = await billing.get_invoices_summary(UMBRELLA_ORG_ID)
            assert [invoice.id for invoice in summary.invoices] == ["inv-umbrella-0001"]
        finally:
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(20):
                code = await process.wait()
    assert code == 0


@pytest.mark.parametrize("size", [4096, 100_000, 1 << 20])
def test_large_pdf_has_the_exact_size_and_stays_readable(size: int) -> None:
    """The padded invoice PDF of the download benchmarks is exactly ``size`` bytes and a valid document."""
    from viam_billing_grpc.emulator.__main__ import LARGE_INVOICE_ID, large_pdf

    pdf = large_pdf(size)
    assert len(pdf) == size
    assert LARGE_INVOICE_ID in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


async def test_python_dash_m_serves_a_large_pdf(anyio_backend, tmp_path) -> None:
    """``--large-pdf-mib 1`` adds invoice ``inv-acme-large``, whose PDF of exactly 1 MiB streams to a file."""
    command = [sys.executable, "-m", "viam_billing_grpc.emulator", "--port", "0", "--large-pdf-mib", "1"]
    command += ["--chunk-size", "65536"]
    async with await anyio.open_process(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
        assert process.stdout is not None
        try:
            output = ""
            with anyio.fail_after(20):
                async for text in TextReceiveStream(process.stdout):
                    output += text
                    if output.count("\n") >= 3:
                        break
            lines = output.splitlines()
            assert lines[2] == f"large invoice: inv-acme-large of {ACME_ORG_ID}, 1 MiB PDF"
            address = lines[0].rsplit(" ", 1)[1]
            async with vb.connect(
                address=address, api_key=DEFAULT_API_KEY, api_key_id=DEFAULT_API_KEY_ID, insecure=True, timeout=30
            ) as billing:
                size = await billing.get_invoice_pdf("inv-acme-large", ACME_ORG_ID, tmp_path / "large.pdf")
                summary = await billing.get_invoices_summary(ACME_ORG_ID)
            assert size == 1 << 20
            assert (tmp_path / "large.pdf").read_bytes().startswith(b"%PDF-1.4")
            assert summary.invoices[0].id == "inv-acme-large"
        finally:
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(20):
                assert await process.wait() == 0


async def test_python_dash_m_refuses_a_negative_large_pdf(anyio_backend) -> None:
    """A negative ``--large-pdf-mib`` is a usage error naming the option."""
    command = [sys.executable, "-m", "viam_billing_grpc.emulator", "--port", "0", "--large-pdf-mib", "-1"]
    result = await anyio.run_process(command, check=False)
    assert result.returncode == 2
    assert b"--large-pdf-mib must be 0 or more" in result.stderr
