"""Export at scale: an organization's independent calls run side by side, and the progress display stays as tall
as --concurrency allows, whatever the number of organizations."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

import anyio
import pytest
import viam_billing as vb
import viam_billing_sinks as sinks
from rich.console import Console
from viam_billing_cli._export import export_organizations, make_progress

LATENCY = 0.2


def _answer(operation, request):
    """Each organization has two invoices, each a tiny PDF; other answers are empty."""
    org = getattr(request, "org_id", "")
    if operation.name == "GetInvoicesSummary":
        day = datetime(2026, 10, 1, tzinfo=timezone.utc)
        invoices = tuple(vb.InvoiceSummary(id=f"inv-{org}-{n}", invoice_date=day, invoice_amount=1.0) for n in (1, 2))
        return vb.GetInvoicesSummaryResponse(invoices=invoices)
    if operation.name == "GetInvoicePdf":
        return [vb.GetInvoicePdfResponse(chunk=b"%PDF-1.4 %%EOF")]
    return operation.response_type()


def _slow_service(in_flight: list[int], peak: list[int], on_call=None):
    async def handler(operation, request):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        if on_call is not None:
            on_call()
        try:
            await anyio.sleep(LATENCY)
        finally:
            in_flight[0] -= 1
        return _answer(operation, request)

    return handler


@pytest.mark.anyio
async def test_an_organizations_independent_calls_run_side_by_side(tmp_path):
    in_flight, peak = [0], [0]
    async with vb.BillingClient(vb.MockTransport(_slow_service(in_flight, peak)),
                                sinks=[sinks.PdfSink(tmp_path)]) as client:  # fmt: skip
        start = time.monotonic()
        (outcome,) = await export_organizations(client, ["org-1"])
        took = time.monotonic() - start
    assert (outcome.ok, outcome.pdfs_downloaded) == (True, 2)
    # Usage, invoices and billing information at once; then both PDFs at once: two rounds, not five calls in turn.
    assert peak[0] == 3
    assert took < 3.5 * LATENCY, f"{took:.2f} s"


@pytest.mark.anyio
async def test_the_progress_display_shows_two_bars_and_the_organizations_reading(tmp_path):
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = make_progress(console)
    assert progress is not None
    rows: list[int] = []
    in_flight, peak = [0], [0]
    handler = _slow_service(in_flight, peak, on_call=lambda: rows.append(len(progress.tasks)))
    async with vb.BillingClient(vb.MockTransport(handler), sinks=[sinks.PdfSink(tmp_path)]) as client:
        with progress:
            outcomes = await export_organizations(client, [f"org-{n}" for n in range(12)], concurrency=3,
                                                  progress=progress)  # fmt: skip
    assert all(o.ok for o in outcomes)
    # The organizations reading, the organizations' bar and the PDFs' bar: never one row per organization.
    assert 3 <= max(rows) <= 3 + 2
    organizations, pdfs = progress.tasks
    assert (organizations.completed, organizations.total) == (12, 12)
    assert (pdfs.description, pdfs.completed, pdfs.total) == ("invoice PDFs", 24, 24)


@pytest.mark.anyio
async def test_calls_in_flight_stay_within_three_per_organization_and_downloads_overlap_the_next_reads(tmp_path):
    """--concurrency N allows 3N calls in flight, as many as N organizations reading: all of them are used, and
    an organization's PDFs download while N other organizations read."""
    in_flight: list[tuple[str, str]] = []  # (operation, organization)
    peak, organizations = [0], [0]

    async def handler(operation, request):
        call = (operation.name, request.org_id)
        in_flight.append(call)
        peak[0] = max(peak[0], len(in_flight))
        organizations[0] = max(organizations[0], len({org for _, org in in_flight}))
        try:
            await anyio.sleep(0.05)
        finally:
            in_flight.remove(call)
        return _answer(operation, request)

    async with vb.BillingClient(vb.MockTransport(handler), sinks=[sinks.PdfSink(tmp_path)]) as client:
        outcomes = await export_organizations(client, [f"org-{n}" for n in range(10)], concurrency=2)
    assert [(o.ok, o.pdfs_downloaded) for o in outcomes] == [(True, 2)] * 10
    assert peak[0] == 3 * 2
    assert organizations[0] > 2


def test_no_progress_display_without_a_terminal():
    assert make_progress(Console(file=io.StringIO(), force_terminal=False)) is None


def test_through_the_command_line_an_export_takes_two_round_trips_after_signing_in(cli, emulator):
    for name in ("GetCurrentMonthUsage", "GetInvoicesSummary", "GetOrgBillingInformation", "GetInvoicePdf"):
        emulator.delay(name, LATENCY)
    start = time.monotonic()
    code, _, err = cli("export", "--org", emulator.org_ids[0], "--sink", "pdf:p", "--sink", "sqlite:h.db")
    took = time.monotonic() - start
    assert code == 0, err
    assert emulator.received["GetInvoicePdf"] == 4
    # One at a time this is 3 + 4 calls of LATENCY each (1.4 s); side by side, two rounds (0.4 s) and set-up.
    assert took < 5 * LATENCY, f"{took:.2f} s"
