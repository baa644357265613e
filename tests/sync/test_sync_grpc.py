"""The blocking facade over the real gRPC transport, against the emulator on loopback."""

from __future__ import annotations

import pytest
from anyio.from_thread import start_blocking_portal
from viam_billing import sync

# The emulator ships with the grpc plugin, built in parallel; until it is in the tree these tests wait.
pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")


@pytest.fixture
def emulator():
    """An emulator serving on loopback from an event loop in a thread of its own."""
    from viam_billing_grpc.emulator import Emulator

    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(Emulator()) as running:
        yield running


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_facade_over_grpc(emulator, backend, tmp_path):
    org = emulator.org_ids[0]
    with sync.connect(**emulator.connect_options(), backend=backend, sinks=[f"sqlite:{tmp_path / 'h.db'}"]) as billing:
        summary = billing.get_invoices_summary(org)
        assert summary.invoices
        target = tmp_path / "first.pdf"
        size = billing.get_invoice_pdf(summary.invoices[0].id, org, target)
        with billing.stream_invoice_pdf(summary.invoices[0].id, org) as chunks:
            streamed = b"".join(chunks)
    assert size == len(streamed) == target.stat().st_size
    assert streamed.startswith(b"%PDF")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_close_during_a_call_ends_it_at_once(emulator, backend):
    """close() from another thread while a call waits for a slow service: close returns within a second or two
    (not after the service's 30 s), the call raises ClientClosedError, and the service saw it once."""
    import threading
    import time

    import viam_billing as vb

    org = emulator.org_ids[0]
    emulator.delay("GetInvoicesSummary", 30)
    outcome: list[BaseException] = []
    billing = sync.connect(**emulator.connect_options(), backend=backend)
    billing.get_available_billing_tiers()

    def call() -> None:
        try:
            billing.get_invoices_summary(org)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 10
    while emulator.received["GetInvoicesSummary"] < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    billing.close()
    closed_in = time.monotonic() - started
    thread.join(5)
    assert not thread.is_alive()
    assert closed_in < 3
    assert [type(error) for error in outcome] == [vb.ClientClosedError]
    with pytest.raises(vb.ClientClosedError):
        billing.get_invoices_summary(org)
    time.sleep(0.1)
    assert emulator.received["GetInvoicesSummary"] == 1
