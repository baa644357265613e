"""Replay speed: loading a 10,000-interaction cassette, and one replayed call.

    python benchmarks/replay_bench.py [--interactions 10000] [--calls 20000]

Targets (issue 4): the cassette loads (parsed, checked and indexed) in under 1 s, and a replayed unary call
through ``BillingClient`` takes under 100 µs, on asyncio and on trio. Prints the figures and exits non-zero when a
target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import viam_billing as vb
import viam_billing_replay as replay

LOAD_TARGET = 1.0
CALL_TARGET = 100e-6


def build_cassette(path: Path, count: int) -> None:
    """``count`` interactions shaped like real ones: invoice summaries and month usage for distinct orgs."""
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
            operation, request = vb.operation("GetInvoicesSummary"), vb.GetInvoicesSummaryRequest(org_id=org)
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


def time_load(path: Path, rounds: int = 5) -> float:
    """Best of ``rounds``: building a replay transport (read, parse, check, index) for the cassette."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        replay.ReplayTransport(cassette=path)
        best = min(best, time.perf_counter() - start)
    return best


async def time_calls(path: Path, calls: int) -> float:
    """Median per-call time of replayed ``get_invoices_summary`` calls, in batches of 1,000."""
    transport = replay.ReplayTransport(cassette=path, allow_playback_repeats=True)
    registry = vb.PluginRegistry(load_entry_points=False)
    samples = []
    async with vb.BillingClient(transport, registry=registry) as billing:
        for _ in range(max(1, calls // 1000)):
            start = time.perf_counter()
            for _ in range(1000):
                await billing.get_invoices_summary("org-00001")
            samples.append((time.perf_counter() - start) / 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        build_cassette(path, args.interactions)
        size = path.stat().st_size
        load = time_load(path)
        print(f"load {args.interactions} interactions ({size / 1e6:.1f} MB): {load * 1e3:.0f} ms (target < 1000 ms)")
        ok = load < LOAD_TARGET
        for backend in ("asyncio", "trio"):
            per_call = anyio.run(time_calls, path, args.calls, backend=backend)
            print(f"replayed call on {backend}: {per_call * 1e6:.1f} µs (target < 100 µs)")
            ok = ok and per_call < CALL_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
