"""The blocking facade: every operation, errors, streams, sinks, and a clean close on both loops."""

from __future__ import annotations

import inspect
import io
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import viam_billing as vb
from viam_billing import sync

PDF = b"%PDF-1.4 " + bytes(range(256)) * 20


def handler(operation, request):
    name = operation.name
    if name == "GetCurrentMonthUsage":
        return vb.GetCurrentMonthUsageResponse(subtotal=12.0)
    if name == "GetInvoicesSummary":
        if request.org_id == "missing":
            raise vb.NotFoundError("no such organization", operation=name)
        return vb.GetInvoicesSummaryResponse(outstanding_balance=3.0)
    if name == "GetInvoicePdf":
        return [vb.GetInvoicePdfResponse(chunk=PDF[i : i + 512]) for i in range(0, len(PDF), 512)]
    if name == "GetAvailableBillingTiers":
        return vb.GetAvailableBillingTiersResponse(tiers=("free",))
    if name == "ChargeOrganization":
        return vb.ChargeOrganizationResponse(invoice_id="inv-7")
    return operation.response_type()


@pytest.fixture(params=["asyncio", "trio"])
def backend(request):
    return request.param


@pytest.fixture
def threads_before():
    return set(threading.enumerate())


def _ours(threads):
    # Trio keeps idle worker threads (used for file work) in a process-wide cache for a few seconds; they are
    # daemons, shared by every trio loop, and not the facade's.
    return {t for t in threads if not (t.daemon and t.name.startswith("Trio thread"))}


def _left_after_close(threads_before):
    """Threads of ours still alive once those that are ending have ended (anyio's workers stop on their own
    right after their loop closes, so they get a moment to finish)."""
    for thread in _ours(threading.enumerate()) - threads_before:
        thread.join(timeout=10)
    return _ours(threading.enumerate()) - threads_before


@pytest.fixture
def open_client(backend, threads_before):
    clients = []

    def make(**kwargs):
        transport = vb.MockTransport(handler)
        client = sync.SyncBillingClient(lambda: vb.BillingClient(transport, **kwargs), backend=backend)
        clients.append((client, transport))
        return client, transport

    yield make
    for client, _ in clients:
        client.close()
    assert not _left_after_close(threads_before)


def test_every_public_async_method_has_a_blocking_twin():
    async_methods = {
        name for name, member in inspect.getmembers(vb.BillingClient) if not name.startswith("_") and callable(member)
    } - {"aclose", "open_stream"}
    assert async_methods <= set(dir(sync.SyncBillingClient))
    for name in async_methods:
        twin = getattr(sync.SyncBillingClient, name)
        assert not inspect.iscoroutinefunction(twin), name
        theirs = list(inspect.signature(getattr(vb.BillingClient, name)).parameters)
        assert list(inspect.signature(twin).parameters) == theirs, name


def test_reads_return_models_and_reach_the_transport(open_client):
    client, transport = open_client()
    with client as billing:
        assert billing.get_current_month_usage("org-1").subtotal == 12.0
        assert billing.get_invoices_summary("org-1").outstanding_balance == 3.0
        assert billing.get_available_billing_tiers().tiers == ("free",)
        assert billing.charge_organization("org-1", 10.0, 1.0).invoice_id == "inv-7"
        assert billing.update_organization_billing_tier("org-1", "free") is None
    assert [name for name, _ in transport.calls] == [
        "GetCurrentMonthUsage",
        "GetInvoicesSummary",
        "GetAvailableBillingTiers",
        "ChargeOrganization",
        "UpdateOrganizationBillingTier",
    ]


def test_errors_are_raised_in_the_calling_thread(open_client):
    client, _ = open_client()
    with client as billing:
        with pytest.raises(vb.NotFoundError, match="no such organization"):
            billing.get_invoices_summary("missing")
        with pytest.raises(vb.ValidationError, match="org_id"):
            billing.get_current_month_usage("")
        # the client is still usable after an error
        assert billing.get_current_month_usage("org-1").subtotal == 12.0


def test_invoice_pdf_to_a_path_a_file_and_memory(open_client, tmp_path):
    client, _ = open_client()
    with client as billing:
        assert billing.get_invoice_pdf("inv-1", "org-1", tmp_path / "a.pdf") == len(PDF)
        buffer = io.BytesIO()
        billing.get_invoice_pdf("inv-1", "org-1", buffer)
        assert billing.get_invoice_pdf_bytes("inv-1", "org-1") == PDF
    assert (tmp_path / "a.pdf").read_bytes() == PDF
    assert buffer.getvalue() == PDF


def test_streamed_chunks_arrive_in_order_and_leaving_early_is_clean(open_client):
    client, _ = open_client()
    with client as billing:
        with billing.stream_invoice_pdf("inv-1", "org-1") as chunks:
            assert b"".join(chunks) == PDF
        with billing.stream_invoice_pdf("inv-1", "org-1") as chunks:
            assert next(chunks) == PDF[:512]
        # after an early exit the loop still serves calls
        assert billing.get_current_month_usage("org-1").subtotal == 12.0


def test_calls_from_many_threads_at_once(open_client):
    client, transport = open_client()
    with client as billing, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: billing.get_current_month_usage(f"org-{n}").subtotal, range(32)))
    assert results == [12.0] * 32
    assert len(transport.calls) == 32


def test_close_ends_the_thread_and_later_calls_say_so(backend, threads_before):
    billing = sync.SyncBillingClient(lambda: vb.BillingClient(vb.MockTransport(handler)), backend=backend)
    assert len(_ours(threading.enumerate()) - threads_before) == 1
    billing.close()
    billing.close()
    assert not _left_after_close(threads_before)
    with pytest.raises(vb.BillingError, match="closed"):
        billing.get_current_month_usage("org-1")
    assert "closed" in repr(billing)


def test_sinks_receive_results_and_are_closed(backend, tmp_path):
    db = tmp_path / "h.db"
    with sync.SyncBillingClient(
        lambda: vb.BillingClient(vb.MockTransport(handler), sinks=[vb.create_sink(f"sqlite:{db}")]), backend=backend
    ) as billing:
        billing.get_current_month_usage("org-1")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT org_id, subtotal FROM usage_snapshots").fetchall() == [("org-1", 12.0)]


def test_a_bad_sink_fails_at_connect_and_leaves_no_thread(backend, tmp_path, threads_before):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(vb.ConfigurationError, match="cannot write"):
        sync.SyncBillingClient(
            lambda: vb.BillingClient(vb.MockTransport(handler), sinks=[vb.create_sink(f"pdf:{blocker}/x")]),
            backend=backend,
        )
    assert not _left_after_close(threads_before)


def test_connect_reports_an_unknown_transport_and_leaves_no_thread(backend, threads_before):
    with pytest.raises(vb.UnknownTransportError, match="no-such-transport"):
        sync.connect(transport="no-such-transport", backend=backend)
    assert not _left_after_close(threads_before)


def test_public_names():
    assert sync.__all__ == sorted(sync.__all__)
    assert sync.SyncBillingClient.__module__ == "viam_billing.sync"


class _MockPlugin:
    @vb.plugin.hookimpl
    def register_transports(self, register):
        register("mock", lambda **options: vb.MockTransport(handler))


def test_connect_builds_the_named_transport_and_sinks(backend, tmp_path):
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_MockPlugin(), name="mock")
    registry.register(__import__("viam_billing_sinks"), name="sinks")
    jsonl = tmp_path / "r.jsonl"
    with sync.connect(transport="mock", registry=registry, sinks=[f"jsonl:{jsonl}"], backend=backend) as billing:
        assert billing.get_current_month_usage("org-1").subtotal == 12.0
    assert '"subtotal":12.0' in jsonl.read_text()
