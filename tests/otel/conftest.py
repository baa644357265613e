"""Fixtures of the otel tests: the OpenTelemetry SDK with in-memory exporters, and an emulator to call.

OpenTelemetry's providers are global and can be set once per process, so the SDK is installed on first use and
kept; each test starts from an empty exporter and a fresh metric reading, and outside these tests its sampler
records nothing (other tests' calls in the same process cost no more than without an SDK). Tests that need a
process without an SDK, or with the plugin blocked, run one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
import viam_billing as vb
import viam_billing_otel as otel
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, HistogramDataPoint, InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from viam_billing_grpc import RetryPolicy
from viam_billing_grpc.emulator import Emulator

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.01)
DURATION = "rpc.client.call.duration"


class Switch(Sampler):
    """Records every span while on, none while off."""

    on = False

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return (ALWAYS_ON if self.on else ALWAYS_OFF).should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "tests.otel switch"


class Telemetry:
    """What the SDK received: the finished spans, and the duration histogram's points since the last reading."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.switch = Switch()
        self.tracer_provider = TracerProvider(sampler=self.switch)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        # Delta: each reading holds the measurements made since the one before, so tests do not see each other's.
        self.reader = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("tests.otel")

    def reset(self) -> None:
        self.exporter.clear()
        self.reader.get_metrics_data()

    def spans(self) -> list[ReadableSpan]:
        """The spans the plugin finished, oldest first (the tests' own parent spans left out)."""
        return [
            span
            for span in self.exporter.get_finished_spans()
            if span.instrumentation_scope is not None and span.instrumentation_scope.name == otel.SCOPE_NAME
        ]

    def span(self) -> ReadableSpan:
        """The one span the plugin finished; fails when there are more or none."""
        (span,) = self.spans()
        return span

    def duration_metric(self) -> Metric | None:
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name != otel.SCOPE_NAME:
                    continue
                for metric in scope_metrics.metrics:
                    if metric.name == DURATION:
                        return metric
        return None

    def durations(self) -> list[HistogramDataPoint]:
        metric = self.duration_metric()
        return [] if metric is None else list(metric.data.data_points)  # type: ignore[arg-type]


_installed: Telemetry | None = None


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """The process's SDK, installed as the global tracer and meter providers on first use; empty for each test."""
    global _installed
    if _installed is None:
        _installed = Telemetry()
        trace.set_tracer_provider(_installed.tracer_provider)
        metrics.set_meter_provider(_installed.meter_provider)
    _installed.reset()
    _installed.switch.on = True
    try:
        yield _installed
    finally:
        _installed.switch.on = False
        _installed.reset()


@pytest.fixture
async def emulator(anyio_backend: str) -> AsyncIterator[Emulator]:
    async with Emulator() as running:
        yield running


@pytest.fixture
def make_client(emulator: Emulator) -> Callable[..., vb.BillingClient]:
    """Clients of the emulator through the grpc transport, with millisecond retries."""

    def make(**options: Any) -> vb.BillingClient:
        options.setdefault("retry", FAST_RETRY)
        return vb.connect(**emulator.connect_options(), timeout=30, **options)

    return make


def run_python(
    code: str, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with warnings as errors; fail the test with its output if it fails."""
    environ = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done
