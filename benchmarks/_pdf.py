"""The large invoice PDF streamed to a file: throughput beside the raw grpclib stream, and memory growth.

Throughput: ours (``BillingClient.get_invoice_pdf(id, org, path)``: a temporary file, fsync, atomic replace)
and the raw stub (``open(path, "wb")`` and a write per chunk, as the SDK does) take turns downloading into the
same path, on one asyncio loop.

Memory: each download runs in a fresh interpreter (``python -m benchmarks._pdf``). After its set-up (client
connected, one small call and one small PDF made) it resets the RSS high-water mark to the current RSS and
notes it; after the large download it reads the high-water mark (``VmHWM``) again; the growth is the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._harness import TIMEOUT, EmulatorProcess, RawStub, Row, Settings, Target

_MiB = 1 << 20
_SMALL_INVOICE = "inv-acme-0001"  # a seeded one-page PDF, to warm the streaming code paths up


async def _ours_download(billing: object, emulator: EmulatorProcess, path: str) -> float:
    start = time.perf_counter()
    size = await billing.get_invoice_pdf(emulator.large_invoice_id, emulator.org_id, path)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    _check(size, emulator)
    return float(size / _MiB / elapsed)


async def _raw_download(raw: RawStub, emulator: EmulatorProcess, path: str) -> float:
    start = time.perf_counter()
    size = await raw.pdf_to_file(emulator.large_invoice_id, path)
    elapsed = time.perf_counter() - start
    _check(size, emulator)
    return float(size / _MiB / elapsed)


def _check(size: int, emulator: EmulatorProcess) -> None:
    if size != emulator.large_pdf_size:
        raise SystemExit(f"downloaded {size} bytes of {emulator.large_invoice_id}, expected {emulator.large_pdf_size}")


async def _throughput(emulator: EmulatorProcess, settings: Settings, directory: str) -> tuple[list[float], list[float]]:
    import viam_billing as vb

    path = os.path.join(directory, "invoice.pdf")
    raw = RawStub(emulator)
    ours_runs: list[float] = []
    raw_runs: list[float] = []
    try:
        await raw.authenticate()
        async with vb.connect(**emulator.connect_options(), timeout=None) as billing:
            await billing.get_invoice_pdf(_SMALL_INVOICE, emulator.org_id, path)
            await raw.pdf_to_file(_SMALL_INVOICE, path)
            for run in range(settings.pdf_runs):
                if run % 2 == 0:
                    ours_runs.append(await _ours_download(billing, emulator, path))
                    raw_runs.append(await _raw_download(raw, emulator, path))
                else:
                    raw_runs.append(await _raw_download(raw, emulator, path))
                    ours_runs.append(await _ours_download(billing, emulator, path))
    finally:
        raw.close()
    return ours_runs, raw_runs


def _memory_growth(emulator: EmulatorProcess, side: str, directory: str) -> float:
    """MiB the RSS high-water mark of a fresh process grew by during one large download by ``side``."""
    command = [sys.executable, "-m", "benchmarks._pdf", side, "--address", emulator.address]
    command += ["--invoice", emulator.large_invoice_id, "--dest", os.path.join(directory, f"{side}.pdf")]
    command += ["--size", str(emulator.large_pdf_size)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=_root())
    if result.returncode != 0:
        raise SystemExit(f"the {side} memory probe failed:\n{result.stderr}")
    report = json.loads(result.stdout)
    return float(report["after_kib"] - report["before_kib"]) / 1024


def _root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def run(emulator: EmulatorProcess, settings: Settings) -> list[Row]:
    mib = emulator.large_pdf_size / _MiB
    with tempfile.TemporaryDirectory(prefix="viam-billing-bench-") as directory:
        ours, raw = asyncio.run(_throughput(emulator, settings, directory))
        ours_memory: list[float] = []
        raw_memory: list[float] = []
        for _ in range(settings.memory_runs):
            ours_memory.append(_memory_growth(emulator, "ours", directory))
            raw_memory.append(_memory_growth(emulator, "raw", directory))
    return [
        Row(
            key="pdf-throughput",
            figure=f"{mib:g} MiB invoice PDF to a file: throughput ours / raw grpclib stream writing the same file",
            unit="MiB/s",
            target=Target("ratio", ">=", 0.9),
            baseline_name="raw grpclib stream, open(path, 'wb')",
            note=f"{settings.chunk_kib} KiB chunks, asyncio; ours writes a temporary file, fsyncs it, then renames",
        ).measured(ours, raw),
        Row(
            key="pdf-memory",
            figure="the same download: peak memory growth of the process",
            unit="MiB",
            target=Target("value", "<=", 16.0),
            baseline_name="raw grpclib stream (for reference)",
            note="a fresh process per download; RSS high-water mark (VmHWM, reset after set-up) before vs after",
        ).measured(ours_memory, raw_memory),
    ]


# --- the probe: one download in this fresh process ----------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_high_water() -> int:
    """Make the RSS high-water mark the current RSS, and return it (KiB).

    Without the reset, a peak of the set-up (imports, say) could hide the download's. Linux resets it when
    "5" is written to /proc/self/clear_refs; where that is refused, the high-water mark is read as it is.
    """
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return _high_water_kib()
    return _status_kib("VmRSS")


def _high_water_kib() -> int:
    try:
        return _status_kib("VmHWM")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def _probe(side: str, address: str, invoice: str, dest: str, size: int) -> dict[str, int]:
    import viam_billing as vb
    from viam_billing_grpc.emulator import ACME_ORG_ID, DEFAULT_API_KEY, DEFAULT_API_KEY_ID

    emulator = EmulatorProcess(address, DEFAULT_API_KEY, DEFAULT_API_KEY_ID, ACME_ORG_ID, invoice, size)
    if side == "ours":
        async with vb.connect(**emulator.connect_options(), timeout=TIMEOUT) as billing:
            await billing.get_invoices_summary(ACME_ORG_ID)
            await billing.get_invoice_pdf(_SMALL_INVOICE, ACME_ORG_ID, dest)
            before = _reset_high_water()
            got = await billing.get_invoice_pdf(invoice, ACME_ORG_ID, dest, timeout=None)
            after = _high_water_kib()
    else:
        raw = RawStub(emulator)
        try:
            await raw.authenticate()
            await raw.read("GetInvoicesSummary")()
            await raw.pdf_to_file(_SMALL_INVOICE, dest)
            before = _reset_high_water()
            got = await raw.pdf_to_file(invoice, dest)
            after = _high_water_kib()
        finally:
            raw.close()
    if got != size:
        raise SystemExit(f"downloaded {got} bytes, expected {size}")
    return {"before_kib": before, "after_kib": after, "size": got}


def main() -> None:
    parser = argparse.ArgumentParser(description="One large PDF download in a fresh process; prints RSS figures.")
    parser.add_argument("side", choices=["ours", "raw"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--invoice", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    report = asyncio.run(_probe(args.side, args.address, args.invoice, args.dest, args.size))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
