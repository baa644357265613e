"""Replay: loading a cassette of many interactions, and one replayed call, on asyncio and trio.

The cassette holds interactions shaped like real ones (invoice summaries and month usage of distinct
organizations). Loading means building a ``ReplayTransport`` for it: read, parse, check and index. A replayed
call is ``BillingClient.get_invoices_summary`` over that transport; each run times ``replay_calls`` of them.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio

from ._harness import Row, Settings, Target


def build_cassette(path: Path, count: int) -> None:
    """Save a cassette of ``count`` interactions to ``path``."""
    import viam_billing as vb
    import viam_billing_replay as replay

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    interactions = []
    for i in range(count):
        org = f"org-{i:05d}"
        if i % 2:
            response: vb.Model = vb.GetInvoicesSummaryResponse(
                outstanding_balance=12.5,
                invoices=tuple(
                    vb.InvoiceSummary(
                        id=f"inv-{i}-{n}",
                        invoice_date=t0 + timedelta(days=30 * n),
                        invoice_amount=10.0 + n,
                        status="paid",
                        due_date=t0 + timedelta(days=30 * n + 14),
                        paid_date=t0 + timedelta(days=30 * n + 3),
                    )
                    for n in range(3)
                ),
            )
            operation = vb.operation("GetInvoicesSummary")
            request: vb.Model = vb.GetInvoicesSummaryRequest(org_id=org)
        else:
            response = vb.GetCurrentMonthUsageResponse(
                start_date=t0,
                end_date=t0 + timedelta(days=30),
                resource_usage_costs_by_source=(
                    vb.ResourceUsageCostsBySource(
                        source_type=vb.SourceType.SOURCE_TYPE_ORG,
                        resource_usage_costs=vb.ResourceUsageCosts(
                            usage_costs=(
                                vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_STANDARD_COMPUTE, cost=4.0),
                                vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_PER_MACHINE, cost=2.5),
                            ),
                            total_with_discount=6.5,
                            total_without_discount=6.5,
                        ),
                        tier_name="pro",
                    ),
                ),
                subtotal=6.5,
            )
            operation, request = vb.operation("GetCurrentMonthUsage"), vb.GetCurrentMonthUsageRequest(org_id=org)
        interactions.append(
            replay.Interaction(operation=operation, request=request, responses=(response,), duration=0.02)
        )
    replay.Cassette(path=str(path), interactions=interactions).save()


def time_load(path: Path) -> float:
    import viam_billing_replay as replay

    start = time.perf_counter()
    replay.ReplayTransport(cassette=path)
    return time.perf_counter() - start


async def time_calls(path: Path, calls: int) -> float:
    """Mean seconds per replayed ``get_invoices_summary`` call over ``calls`` calls."""
    import viam_billing as vb
    import viam_billing_replay as replay

    transport = replay.ReplayTransport(cassette=path, allow_playback_repeats=True)
    registry = vb.PluginRegistry(load_entry_points=False)
    async with vb.BillingClient(transport, registry=registry) as billing:
        for _ in range(min(calls, 1000)):  # warm-up
            await billing.get_invoices_summary("org-00001")
        start = time.perf_counter()
        for _ in range(calls):
            await billing.get_invoices_summary("org-00001")
        return (time.perf_counter() - start) / calls


def run(settings: Settings) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="viam-billing-bench-") as directory:
        path = Path(directory) / "cassette.json"
        build_cassette(path, settings.interactions)
        megabytes = path.stat().st_size / 1e6
        loads = [time_load(path) * 1e3 for _ in range(settings.runs)]
        per_call = {
            backend: [
                anyio.run(time_calls, path, settings.replay_calls, backend=backend) * 1e6 for _ in range(settings.runs)
            ]
            for backend in ("asyncio", "trio")
        }
    rows = [
        Row(
            key="replay-load",
            figure=f"replay: load a {settings.interactions:,}-interaction cassette",
            unit="ms",
            target=Target("value", "<", 1000.0),
            note=f"{megabytes:.1f} MB of JSON: read, parsed, checked, indexed",
        ).measured(loads)
    ]
    for backend, values in per_call.items():
        rows.append(
            Row(
                key=f"replay-call-{backend}",
                figure=f"replay: one replayed call ({backend})",
                unit="µs/call",
                target=Target("value", "<", 100.0),
                note=f"get_invoices_summary through BillingClient, mean of {settings.replay_calls:,} calls per run",
            ).measured(values)
        )
    return rows
