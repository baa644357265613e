"""Closing: no thread, task or connection outlives ``aclose()``; and building a transport from a grpclib Channel."""

from __future__ import annotations

import asyncio
import threading
import warnings

import anyio
import pytest
import sniffio
import viam_billing as vb
from grpclib.client import Channel
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio


def _tasks() -> set[object]:
    if sniffio.current_async_library() == "asyncio":
        return set(asyncio.all_tasks())
    return set()


async def test_nothing_outlives_aclose(make_client, emulator: Emulator, eventually, sockets_to) -> None:
    """After a busy session (unary calls, a stream left early, a pending handshake), close leaves nothing behind:
    no thread, no task, no socket."""
    threads_before = set(threading.enumerate())
    tasks_before = _tasks()
    billing = make_client()
    async with billing:
        await billing.get_invoices_summary(ACME_ORG_ID)
        async with billing.stream_invoice_pdf("inv-acme-0001", ACME_ORG_ID) as chunks:
            await chunks.__anext__()
        emulator.expire_tokens()
        emulator.delay("Authenticate", 30)
        with anyio.move_on_after(0.1):
            await billing.get_available_billing_tiers()
        assert emulator.open_connections == 1
        assert sockets_to(emulator.port) == 1
    assert sockets_to(emulator.port) == 0
    assert set(threading.enumerate()) <= threads_before
    assert _tasks() == tasks_before
    await eventually(lambda: emulator.open_connections == 0)


async def test_trio_calls_run_on_one_thread_of_the_transport(make_client, anyio_backend) -> None:
    """Under trio one gRPC thread serves every call of a transport; under asyncio none is started."""
    before = set(threading.enumerate())
    async with make_client() as billing:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(billing.get_available_billing_tiers)
        started = [t.name for t in set(threading.enumerate()) - before]
    assert len(started) == (1 if anyio_backend == "trio" else 0)
    assert all(name.startswith("viam-billing-grpc") for name in started)
    assert not set(threading.enumerate()) - before


async def test_aclose_twice_is_harmless_and_calls_after_it_fail(make_client) -> None:
    """A closed client refuses calls with a clear error; closing it again does nothing."""
    billing = make_client()
    async with billing:
        await billing.get_available_billing_tiers()
    await billing.aclose()
    transport = billing.transport
    await transport.aclose()
    with pytest.raises(vb.BillingError, match="closed"):
        await transport.unary(vb.operation("GetAvailableBillingTiers"), vb.GetAvailableBillingTiersRequest(), timeout=1)
    assert "closed" in repr(transport)


async def test_a_transport_never_used_closes_without_dialling(emulator: Emulator) -> None:
    """Building and closing a client dials nothing."""
    async with vb.connect(**emulator.connect_options()):
        pass
    assert emulator.received == {}
    assert emulator.open_connections == 0


def _foreign_channel(port: int) -> tuple[Channel, asyncio.AbstractEventLoop]:
    """A grpclib Channel bound to an event loop that is not running (as one made elsewhere would be)."""
    loop = asyncio.new_event_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return Channel("127.0.0.1", port, loop=loop), loop


async def test_from_an_existing_channel(emulator: Emulator, anyio_backend) -> None:
    """A transport over a grpclib Channel and metadata (what viam-sdk's ViamClient holds) calls through it.

    It works on the channel's asyncio loop and leaves the channel open; under trio it says why it cannot.
    """
    metadata = {"authorization": f"Bearer {emulator.issue_token()}"}
    if anyio_backend == "trio":
        channel, loop = _foreign_channel(emulator.port)
        try:
            async with vb.connect(channel=channel, metadata=metadata, timeout=30) as billing:
                with pytest.raises(vb.ConfigurationError, match="trio"):
                    await billing.get_available_billing_tiers()
        finally:
            loop.close()
        return
    channel = Channel("127.0.0.1", emulator.port)
    try:
        async with vb.connect(channel=channel, metadata=metadata, timeout=30) as billing:
            summary = await billing.get_invoices_summary(ACME_ORG_ID)
            pdf = await billing.get_invoice_pdf_bytes("inv-acme-0001", ACME_ORG_ID)
            assert "Channel('127.0.0.1'" in repr(billing.transport)
        assert summary.invoices
        assert pdf.startswith(b"%PDF")
        assert emulator.received["Authenticate"] == 0
        assert emulator.open_connections == 1  # the channel is still the user's, and open
    finally:
        channel.close()
        await asyncio.sleep(0)  # asyncio closes the socket on its next turn


def test_from_channel_rejects_dial_options() -> None:
    """connect(channel=...) with an address or a key is a contradiction, named in the error."""
    channel, loop = _foreign_channel(1)
    try:
        with pytest.raises(vb.ConfigurationError, match="address"):
            vb.connect(channel=channel, address="example.org:443")
        with pytest.raises(vb.ConfigurationError, match="api_key"):
            vb.connect(channel=channel, api_key="k", api_key_id="i")
        with pytest.raises(vb.ConfigurationError, match="drop insecure"):  # given, so named, even at its default
            vb.connect(channel=channel, insecure=False)
    finally:
        loop.close()
