"""What the otel observer plugin costs per call: installed without an SDK, and with one recording every call.

Each variant runs in a fresh interpreter (``python -m benchmarks._otel_overhead none|sdk``), because an
OpenTelemetry SDK, once installed as the global provider, stays for the process. There, two clients over
``MockTransport`` (a handler answering at once, so that nothing but the client is timed) take turns call by call
(ABBA): one with no observer, one with the plugin registered. The figure of a run is the difference of their
median per-call times. The ``sdk`` variant installs the SDK as an application would: a ``TracerProvider`` with a
``BatchSpanProcessor`` (to an exporter that drops the batches) and a ``MeterProvider`` with a reader, every span
sampled. For scale, the same process times a unary call to the emulator over gRPC without the plugin: the ratio
is the time added over that call's.

The rest of the benchmarks run with the plugin blocked (``VIAM_BILLING_BLOCK_PLUGINS=otel``, as ``__main__``
sets it), which is what an installation without the ``otel`` extra gets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._harness import TIMEOUT, EmulatorProcess, Row, Settings, Target


def _sdk_missing() -> str:
    """Empty when the OpenTelemetry SDK can be imported, else why not."""
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as exc:
        return f"opentelemetry-sdk is not installed here ({exc.name}); `nox -s bench` installs it"
    return ""


def _install_sdk() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


async def _probe(variant: str, address: str, calls: int, runs: int, warmup: int) -> dict[str, list[float]]:
    """In this process: per run, the microseconds the plugin adds to a call, and those of a gRPC call."""
    import viam_billing as vb
    import viam_billing_otel
    from viam_billing_grpc.emulator import DEFAULT_API_KEY, DEFAULT_API_KEY_ID

    if variant == "sdk":
        _install_sdk()
    answer = vb.GetAvailableBillingTiersResponse(tiers=("free", "pro"))
    bare = vb.PluginRegistry(load_entry_points=False)
    observed = vb.PluginRegistry(load_entry_points=False)
    observed.register(viam_billing_otel, "otel")
    plain = vb.BillingClient(vb.MockTransport(lambda operation, request: answer), registry=bare)
    watched = vb.BillingClient(vb.MockTransport(lambda operation, request: answer), registry=observed)
    options = {"address": address, "api_key": DEFAULT_API_KEY, "api_key_id": DEFAULT_API_KEY_ID, "insecure": True}
    remote = vb.BillingClient(vb.create_transport("grpc", **options), timeout=TIMEOUT, registry=bare)
    clock = time.perf_counter
    added: list[float] = []
    grpc: list[float] = []
    async with plain, watched, remote:
        for _ in range(warmup):
            await plain.get_available_billing_tiers()
            await watched.get_available_billing_tiers()
            await remote.get_available_billing_tiers()
        for _ in range(runs):
            times: dict[bool, list[float]] = {False: [], True: []}
            for index in range(calls):
                for with_plugin in (False, True) if index % 2 == 0 else (True, False):
                    client = watched if with_plugin else plain
                    start = clock()
                    await client.get_available_billing_tiers()
                    times[with_plugin].append(clock() - start)
            added.append((statistics.median(times[True]) - statistics.median(times[False])) * 1e6)
            remote_times = []
            for _ in range(max(calls // 10, 3)):
                start = clock()
                await remote.get_available_billing_tiers()
                remote_times.append(clock() - start)
            grpc.append(statistics.median(remote_times) * 1e6)
    return {"added": added, "grpc": grpc}


def _in_a_fresh_process(emulator: EmulatorProcess, settings: Settings, variant: str) -> dict[str, list[float]]:
    command = [sys.executable, "-m", "benchmarks._otel_overhead", variant, "--address", emulator.address]
    command += ["--calls", str(settings.calls * 10), "--runs", str(settings.runs), "--warmup", str(settings.warmup)]
    root = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
    if result.returncode != 0:
        raise SystemExit(f"the otel overhead probe ({variant}) failed:\n{result.stderr}")
    report: dict[str, list[float]] = json.loads(result.stdout)
    return report


def run(emulator: EmulatorProcess, settings: Settings) -> list[Row]:
    calls = settings.calls * 10
    rows = [
        Row(
            key="otel-no-sdk",
            figure="otel plugin installed, no SDK: time added per call",
            unit="µs",
            target=Target("ratio", "<=", 0.05),
            baseline_name="a gRPC call to the emulator",
            note=(
                f"{calls:,} calls per run of each of two MockTransport clients in turn, without and with the plugin;"
                " the difference of their medians. The baseline is the median of a unary call to the emulator"
                " without the plugin, in the same process: the ratio is the share the plugin adds to it. Without"
                " an SDK the plugin makes no span: it injects the caller's context and records to a no-op"
                " instrument"
            ),
        ),
        Row(
            key="otel-sdk",
            figure="otel plugin with the SDK, every span sampled: time added per call",
            unit="µs",
            target=Target("ratio", "<=", 0.5),
            baseline_name="a gRPC call to the emulator",
            note=(
                "as above, with the OpenTelemetry SDK installed: a TracerProvider with a BatchSpanProcessor (to an"
                " exporter dropping the batches), a MeterProvider with a reader, every span sampled. Most of it is"
                " the SDK's own work on a span"
            ),
        ),
    ]
    missing = _sdk_missing()
    if missing:
        return [row.skip(missing) for row in rows]
    measured = []
    for row, variant in zip(rows, ("none", "sdk"), strict=True):
        report = _in_a_fresh_process(emulator, settings, variant)
        measured.append(row.measured(report["added"], report["grpc"]))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._otel_overhead")
    parser.add_argument("variant", choices=("none", "sdk"))
    parser.add_argument("--address", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    args = parser.parse_args()
    import anyio

    report = anyio.run(_probe, args.variant, args.address, args.calls, args.runs, args.warmup)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
