"""Unary calls: sequential latency beside the raw grpclib stub (asyncio, trio) and the SDK, and 1,000 at once.

A sequential run makes ``calls`` rounds of the three reads both clients offer (GetCurrentMonthUsage,
GetInvoicesSummary, GetOrgBillingInformation) on each side; its figure is the mean over the three reads of each
read's median per-call time. On one asyncio loop the two sides take turns call by call (ABBA), so drift hits
both alike; ours under trio runs in blocks that alternate with blocks of the raw stub on asyncio.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio

from ._harness import (
    READS,
    TIMEOUT,
    EmulatorProcess,
    RawStub,
    Row,
    Settings,
    Target,
    ours_read,
    sdk_available,
    timed_calls,
)

Calls = dict[str, Callable[[], Awaitable[object]]]


def _figure(times: dict[str, list[float]]) -> float:
    """Microseconds per call: the mean over the reads of each read's median."""
    return statistics.fmean(statistics.median(values) for values in times.values()) * 1e6


async def _side_by_side(a: Calls, b: Calls, rounds: int, warmup: int) -> tuple[float, float]:
    """``a`` and ``b`` call by call in turn (ABBA...), after a warm-up of both; their figures."""
    for _ in range(warmup):
        for rpc in READS:
            await a[rpc]()
            await b[rpc]()
    times_a: dict[str, list[float]] = {rpc: [] for rpc in READS}
    times_b: dict[str, list[float]] = {rpc: [] for rpc in READS}
    for index in range(rounds):
        for rpc in READS:
            pair = ((a, times_a), (b, times_b)) if index % 2 == 0 else ((b, times_b), (a, times_a))
            for calls, times in pair:
                times[rpc] += await timed_calls(calls[rpc], 1)
    return _figure(times_a), _figure(times_b)


async def _block(calls: Calls, rounds: int, warmup: int) -> float:
    for _ in range(warmup):
        for rpc in READS:
            await calls[rpc]()
    times = {rpc: [] for rpc in READS}  # type: dict[str, list[float]]
    for _ in range(rounds):
        for rpc in READS:
            times[rpc] += await timed_calls(calls[rpc], 1)
    return _figure(times)


async def _asyncio_vs_raw(emulator: EmulatorProcess, settings: Settings) -> tuple[list[float], list[float]]:
    import viam_billing as vb

    raw = RawStub(emulator)
    try:
        await raw.authenticate()
        raw_calls = {rpc: raw.read(rpc) for rpc in READS}
        async with vb.connect(**emulator.connect_options(), timeout=TIMEOUT) as billing:
            ours_calls = {rpc: ours_read(billing, rpc, emulator.org_id) for rpc in READS}
            return await _paired_runs(ours_calls, raw_calls, settings)
    finally:
        raw.close()


async def _paired_runs(ours: Calls, base: Calls, settings: Settings) -> tuple[list[float], list[float]]:
    """``settings.runs`` side-by-side runs of both sides (warm-up before the first only); per-run figures."""
    ours_runs: list[float] = []
    base_runs: list[float] = []
    for run in range(settings.runs):
        ours_figure, base_figure = await _side_by_side(ours, base, settings.calls, settings.warmup if run == 0 else 0)
        ours_runs.append(ours_figure)
        base_runs.append(base_figure)
    return ours_runs, base_runs


async def _raw_block(emulator: EmulatorProcess, settings: Settings) -> float:
    raw = RawStub(emulator)
    try:
        await raw.authenticate()
        return await _block({rpc: raw.read(rpc) for rpc in READS}, settings.calls, settings.warmup)
    finally:
        raw.close()


async def _ours_block(emulator: EmulatorProcess, settings: Settings) -> float:
    import viam_billing as vb

    async with vb.connect(**emulator.connect_options(), timeout=TIMEOUT) as billing:
        calls = {rpc: ours_read(billing, rpc, emulator.org_id) for rpc in READS}
        return await _block(calls, settings.calls, settings.warmup)


async def _asyncio_vs_sdk(emulator: EmulatorProcess, settings: Settings) -> tuple[list[float], list[float]]:
    import viam_billing as vb
    from viam.app.billing_client import BillingClient as SdkBillingClient  # type: ignore[import-not-found,unused-ignore]

    raw = RawStub(emulator)  # its channel and token serve the SDK client, as ViamClient would hand them over
    try:
        token = await raw.authenticate()
        sdk = SdkBillingClient(raw.channel, {"authorization": f"Bearer {token}"})
        org = emulator.org_id
        sdk_calls: Calls = {
            "GetCurrentMonthUsage": lambda: sdk.get_current_month_usage(org, timeout=TIMEOUT),
            "GetInvoicesSummary": lambda: sdk.get_invoices_summary(org, timeout=TIMEOUT),
            "GetOrgBillingInformation": lambda: sdk.get_org_billing_information(org, timeout=TIMEOUT),
        }
        async with vb.connect(**emulator.connect_options(), timeout=TIMEOUT) as billing:
            ours_calls = {rpc: ours_read(billing, rpc, org) for rpc in READS}
            return await _paired_runs(ours_calls, sdk_calls, settings)
    finally:
        raw.close()


async def _burst(call: Callable[[], Awaitable[object]], count: int) -> float:
    """Calls per second of ``count`` calls started at once on one client."""
    start = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(count)))
    return count / (time.perf_counter() - start)


async def _concurrent(emulator: EmulatorProcess, settings: Settings) -> tuple[list[float], list[float]]:
    import viam_billing as vb

    raw = RawStub(emulator)
    ours_runs: list[float] = []
    raw_runs: list[float] = []
    try:
        await raw.authenticate()
        raw_call = raw.read("GetInvoicesSummary")
        async with vb.connect(**emulator.connect_options(), timeout=TIMEOUT) as billing:
            ours_call = ours_read(billing, "GetInvoicesSummary", emulator.org_id)
            await _burst(raw_call, settings.concurrency)
            await _burst(ours_call, settings.concurrency)
            # One burst swings by a fifth with what the emulator happens to be doing (its garbage collector, say):
            # each run takes the median of three bursts per side, in ABBAAB order.
            for _ in range(settings.runs):
                ours: list[float] = []
                raw_: list[float] = []
                for first_ours in (True, False, True):
                    pair = [(ours_call, ours), (raw_call, raw_)]
                    for call, into in pair if first_ours else pair[::-1]:
                        into.append(await _burst(call, settings.concurrency))
                ours_runs.append(statistics.median(ours))
                raw_runs.append(statistics.median(raw_))
    finally:
        raw.close()
    return ours_runs, raw_runs


def run(emulator: EmulatorProcess, settings: Settings) -> list[Row]:
    rows = []
    ours, raw = asyncio.run(_asyncio_vs_raw(emulator, settings))
    rows.append(
        Row(
            key="unary-asyncio",
            figure="sequential unary call latency, ours / raw grpclib stub, asyncio",
            unit="µs/call",
            target=Target("ratio", "<=", 1.10),
            baseline_name="raw grpclib stub, asyncio",
            note="the three reads in turn, call by call beside the raw stub on one loop",
        ).measured(ours, raw)
    )

    ours_trio: list[float] = []
    raw_asyncio: list[float] = []
    for index in range(settings.runs):
        if index % 2 == 0:
            ours_trio.append(anyio.run(_ours_block, emulator, settings, backend="trio"))
            raw_asyncio.append(asyncio.run(_raw_block(emulator, settings)))
        else:
            raw_asyncio.append(asyncio.run(_raw_block(emulator, settings)))
            ours_trio.append(anyio.run(_ours_block, emulator, settings, backend="trio"))
    rows.append(
        Row(
            key="unary-trio",
            figure="the same, ours under trio / raw grpclib stub on asyncio",
            unit="µs/call",
            target=Target("ratio", "<=", 1.5),
            baseline_name="raw grpclib stub, asyncio",
            note="blocks of calls, trio and asyncio alternating",
        ).measured(ours_trio, raw_asyncio)
    )

    sdk_row = Row(
        key="unary-sdk",
        figure="ours / viam-sdk BillingClient, same server, same calls (asyncio)",
        unit="µs/call",
        target=Target("ratio", "<=", 1.05),
        baseline_name="viam-sdk 0.85.1 BillingClient",
        note="get_current_month_usage, get_invoices_summary, get_org_billing_information; models vs raw messages",
    )
    missing = sdk_available()
    if missing:
        rows.append(sdk_row.skip(missing))
    else:
        ours, sdk = asyncio.run(_asyncio_vs_sdk(emulator, settings))
        rows.append(sdk_row.measured(ours, sdk))

    ours, raw = asyncio.run(_concurrent(emulator, settings))
    rows.append(
        Row(
            key="concurrent",
            figure=f"{settings.concurrency:,} concurrent calls on one client: throughput ours / raw",
            unit="calls/s",
            target=Target("ratio", ">=", 0.9),
            baseline_name="raw grpclib stub, one channel",
            note="GetInvoicesSummary, asyncio; per run the median of three bursts per side, alternating",
        ).measured(ours, raw)
    )
    return rows
