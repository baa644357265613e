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
