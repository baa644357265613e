"""The plugin is on whenever it is installed, off when blocked, and without an SDK records nothing and costs
nothing but a few microseconds (benchmarks/_otel_overhead.py measures them)."""

from __future__ import annotations

import json

import pytest
import viam_billing as vb

from .conftest import run_python

# A process that makes a unary call, a PDF stream and a failing call over a MockTransport, with the SDK installed
# unless told otherwise, and prints what it saw as JSON.
SCRIPT = """
import json, sys
import anyio
import viam_billing as vb

with_sdk = sys.argv[1] == "sdk"
if with_sdk:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

seen = []

def handler(operation, request):
    seen.append(vb.plugin.current_call() is not None)
    if operation.name == "GetInvoicePdf":
        return [vb.GetInvoicePdfResponse(chunk=b"%PDF-1.7")]
    if operation.name == "GetInvoicesSummary":
        raise vb.NotFoundError("no such organization")
    return vb.GetAvailableBillingTiersResponse(tiers=("free",))

async def main():
    async with vb.BillingClient(vb.MockTransport(handler)) as billing:
        await billing.get_available_billing_tiers()
        await billing.get_invoice_pdf_bytes("inv-1", "org-1")
        try:
            await billing.get_invoices_summary("org-1")
        except vb.NotFoundError:
            pass

anyio.run(main)
print(json.dumps({
    "loaded": "viam_billing_otel" in sys.modules,
    "observed": seen,
    "observers": vb.get_registry().observers() is not None,
    "spans": sorted(span.name for span in exporter.get_finished_spans()) if with_sdk else None,
}))
"""


def run(sdk: bool, env: dict[str, str] | None = None) -> dict[str, object]:
    done = run_python(SCRIPT, env={"VIAM_BILLING_BLOCK_PLUGINS": "", **(env or {})}, args=["sdk" if sdk else "none"])
    assert done.stderr == ""  # no warning, no logged error
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_installed_means_on() -> None:
    """With nothing configured but the SDK, every call of a client over any transport is a span."""
    out = run(sdk=True)
    assert out["loaded"] is True
    assert out["observers"] is True
    assert out["observed"] == [True, True, True]
    assert out["spans"] == [
        "viam.app.v1.BillingService/GetAvailableBillingTiers",
        "viam.app.v1.BillingService/GetInvoicePdf",
        "viam.app.v1.BillingService/GetInvoicesSummary",
    ]


def test_the_plugin_blocking_variable_turns_it_off() -> None:
    """VIAM_BILLING_BLOCK_PLUGINS=otel: the plugin is never imported, calls are unobserved, no span is made."""
    out = run(sdk=True, env={"VIAM_BILLING_BLOCK_PLUGINS": "otel"})
    assert out == {"loaded": False, "observed": [False, False, False], "observers": False, "spans": []}


def test_without_an_sdk_calls_work_and_nothing_is_recorded_or_said() -> None:
    """No SDK: the plugin is loaded and observes, every call (an error too) behaves as always, nothing is printed
    or warned (the process runs with warnings as errors)."""
    out = run(sdk=False)
    assert out == {"loaded": True, "observed": [True, True, True], "observers": True, "spans": None}


def test_without_an_sdk_no_trace_context_is_sent() -> None:
    """With no SDK the global propagator has no span to put in the metadata: the call carries nothing extra."""
    code = """
    import anyio, json
    import viam_billing as vb

    sent = []

    def handler(operation, request):
        sent.append(dict(vb.plugin.current_call().metadata))
        return vb.GetAvailableBillingTiersResponse()

    async def main():
        async with vb.BillingClient(vb.MockTransport(handler)) as billing:
            await billing.get_available_billing_tiers()

    anyio.run(main)
    print(json.dumps(sent))
    """
    done = run_python(code, env={"VIAM_BILLING_BLOCK_PLUGINS": ""})
    assert json.loads(done.stdout) == [{}]


def test_the_plugin_is_listed_as_a_built_in_observer() -> None:
    """``viam-billing plugins`` shows it: the observers group, the viam-billing distribution."""
    (info,) = [info for info in vb.list_plugins() if info.name == "otel"]
    assert (info.kind, info.distribution, info.module) == ("observer", "viam-billing", "viam_billing_otel")


@pytest.mark.parametrize("name", ["viam_billing_otel"])
def test_the_public_names_are_sorted_and_at_home(name: str) -> None:
    """__all__ is sorted and every name in it exists; hooks are not part of it."""
    import importlib

    module = importlib.import_module(name)
    assert module.__all__ == sorted(set(module.__all__))
    assert all(hasattr(module, attribute) for attribute in module.__all__)
    assert "call_started" not in module.__all__
    assert callable(module.call_started)
