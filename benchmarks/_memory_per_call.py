"""Memory kept per call over 100,000 calls on one connection: flat after warm-up, beside the raw grpclib stub.

Each side runs in a fresh interpreter (``python -m benchmarks._memory_per_call``): it connects and makes all its
calls (``GetInvoicesSummary``, ten at a time, on one connection), reading the process's RSS and its count of
Python objects (``sys.getallocatedblocks()``) after a garbage collection at checkpoints: after a warm-up of 5% of
the calls (connection, caches, code paths), then at each fifth of the rest. The figure is the RSS growth from the
end of the warm-up to the last call, divided by the number of calls in between: what each call leaves behind, in
bytes. The checkpoints are in the note, to show the shape. RSS rather than a Python allocation tracer, which
would slow every call several times over: RSS is what a long-running client pays. It moves in steps of pages and
allocator arenas, so only a long run (the 100,000 calls) says anything; a quick run's figure is noise.

What this catches: h2 remembers each closed stream of a connection in a table of up to 65,536 entries, about 105
bytes each (6.9 MB per connection once full), which the raw stub shows and our transport bounds.

``BENCH_MEMORY_CALLS`` sets the number of calls (100,000; 2,000 with ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ._harness import TIMEOUT, EmulatorProcess, RawStub, Row, Settings, Target

_BATCH = 10  # calls in flight at a time: one connection, several streams, as a busy client has


def calls_for(settings: Settings) -> int:
    """How many calls each side makes: ``BENCH_MEMORY_CALLS``, else 100,000 (2,000 for a quick run)."""
    text = os.environ.get("BENCH_MEMORY_CALLS")
    if text is not None:
        if not text.strip().isdigit() or int(text) < 100:
            raise SystemExit(f"BENCH_MEMORY_CALLS must be an integer of at least 100, got {text!r}")
        return int(text)
    return 100_000 if settings.calls >= 100 else 2_000


def _probe_in_a_fresh_process(emulator: EmulatorProcess, side: str, calls: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks._memory_per_call", side, "--address", emulator.address]
    command += ["--calls", str(calls)]
    root = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
    if result.returncode != 0:
        raise SystemExit(f"the {side} memory-per-call probe failed:\n{result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def run(emulator: EmulatorProcess, settings: Settings) -> list[Row]:
    calls = calls_for(settings)
    ours = _probe_in_a_fresh_process(emulator, "ours", calls)
    raw = _probe_in_a_fresh_process(emulator, "raw", calls)

    def shape(report: dict[str, Any]) -> str:
        return " → ".join(f"{kib / 1024:.1f}" for kib in report["rss_kib"])

    return [
        Row(
            key="memory-per-call",
            figure=f"memory kept per call over {calls:,} calls on one connection, after a 5% warm-up",
            unit="bytes/call",
            target=Target("value", "<=", 2.0),
            baseline_name="raw grpclib stub, one channel (for reference)",
            note=(
                f"GetInvoicesSummary, {_BATCH} at a time, asyncio; RSS growth after the warm-up / calls. RSS in MiB "
                f"after the warm-up and at each fifth of the rest: ours {shape(ours)}; raw {shape(raw)}. Python "
                f"objects (pymalloc blocks) kept per call: ours {ours['blocks_per_call']:.3f}, "
                f"raw {raw['blocks_per_call']:.3f}"
            ),
        ).measured([ours["bytes_per_call"]], [raw["bytes_per_call"]])
    ]


# --- the probe: the calls in this fresh process -------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _probe(side: str, address: str, calls: int) -> dict[str, Any]:
    import viam_billing as vb
    from viam_billing_grpc.emulator import ACME_ORG_ID, DEFAULT_API_KEY, DEFAULT_API_KEY_ID

    emulator = EmulatorProcess(address, DEFAULT_API_KEY, DEFAULT_API_KEY_ID, ACME_ORG_ID, "", 0)
    warmup = max(calls // 20 // _BATCH, 1)
    fifth = max((calls // _BATCH - warmup) // 5, 1)

    async def measure(call: Callable[[], Awaitable[object]]) -> dict[str, Any]:
        checkpoints: list[int] = []
        blocks: list[int] = []
        for batches in (warmup, fifth, fifth, fifth, fifth, fifth):
            for _ in range(batches):
                await asyncio.gather(*(call() for _ in range(_BATCH)))
            gc.collect()
            checkpoints.append(_rss_kib())
            blocks.append(sys.getallocatedblocks())
        measured = 5 * fifth * _BATCH
        growth = (checkpoints[-1] - checkpoints[0]) * 1024
        return {
            "bytes_per_call": growth / measured,
            "rss_kib": checkpoints,
            "blocks": blocks,
            "blocks_per_call": (blocks[-1] - blocks[0]) / measured,
            "calls": measured,
        }

    if side == "ours":
        async with vb.connect(**emulator.connect_options(), timeout=TIMEOUT) as billing:
            return await measure(lambda: billing.get_invoices_summary(ACME_ORG_ID, timeout=TIMEOUT))
    raw = RawStub(emulator)
    try:
        await raw.authenticate()
        return await measure(raw.read("GetInvoicesSummary"))
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Calls on one connection in a fresh process; prints bytes kept.")
    parser.add_argument("side", choices=["ours", "raw"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_probe(args.side, args.address, args.calls))))


if __name__ == "__main__":
    main()
