"""OpenTelemetry traces and metrics for every viam-billing call: the ``otel`` observer plugin.

Installed with ``pip install 'viam-billing[otel]'`` (it needs only ``opentelemetry-api``) and active from then on
in every client, under asyncio and trio, over any transport: it is listed under the ``viam_billing.observers``
entry-point group as ``otel``. ``VIAM_BILLING_BLOCK_PLUGINS=otel`` turns it off. It records nothing until the
application installs an OpenTelemetry SDK (before or after the first client is built); without one it makes no
span and adds to a call under 2% of what a unary call to the local emulator takes (``otel-no-sdk`` in
BENCHMARKS.md). Installed without the extra, it stays inert: no hook, no cost, no warning.

Each call is one ``CLIENT`` span named after its method, ``viam.app.v1.BillingService/GetInvoicesSummary``, a
child of the caller's current span, following the RPC and gRPC semantic conventions v1.45.0:

- ``rpc.system.name`` = ``"grpc"``, ``rpc.method`` = the span name, ``rpc.status_code`` (``"OK"``,
  ``"UNAVAILABLE"``, ...), ``server.address`` and ``server.port`` (the service as configured; absent on a
  replayed call);
- on failure ``error.type`` (the status name; for a call that got no status the error's class, such as
  ``viam_billing.ConnectError``, beside the status a gRPC client generates for it; ``CANCELLED`` for a caller's
  cancellation) and the span status ``ERROR`` with the error's message;
- each retry the transport made is a :data:`RETRY_EVENT` event (``viam_billing.retry``) with ``error.type``,
  :data:`RETRY_ATTEMPT` and :data:`RETRY_DELAY`;
- an invoice PDF stream is one span, lasting until the caller leaves its block, with :data:`STREAM_CHUNKS` and
  :data:`STREAM_BYTES`;
- a call answered from a replay cassette has :data:`REPLAYED` = ``True``.

Each call is also measured on the ``rpc.client.call.duration`` histogram (seconds, the conventions' bucket
advice :data:`DURATION_BUCKETS`) with the span's attributes but the stream counts. The W3C trace context (and
baggage) goes with the request as gRPC metadata through the global propagator, so the service's spans join the
trace. No credential, token or request field is ever recorded.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._names import DURATION_BUCKETS as DURATION_BUCKETS
from ._names import REPLAYED as REPLAYED
from ._names import RETRY_ATTEMPT as RETRY_ATTEMPT
from ._names import RETRY_DELAY as RETRY_DELAY
from ._names import RETRY_EVENT as RETRY_EVENT
from ._names import SCHEMA_URL as SCHEMA_URL
from ._names import SCOPE_NAME as SCOPE_NAME
from ._names import STREAM_BYTES as STREAM_BYTES
from ._names import STREAM_CHUNKS as STREAM_CHUNKS

__all__ = [
    "DURATION_BUCKETS",
    "REPLAYED",
    "RETRY_ATTEMPT",
    "RETRY_DELAY",
    "RETRY_EVENT",
    "SCHEMA_URL",
    "SCOPE_NAME",
    "STREAM_BYTES",
    "STREAM_CHUNKS",
]

# The entry point is listed whether or not the extra is installed: without opentelemetry-api this module
# implements no hook, so clients see no observer and pay nothing, and no warning is given.
try:
    from ._observer import call_finished as call_finished
    from ._observer import call_started as call_started
except ModuleNotFoundError as exc:  # pragma: no cover - the tests run with the extra installed
    if not (exc.name or "").startswith("opentelemetry"):
        raise

_publish(globals())
