"""The names the plugin records under: what the semantic conventions define, and viam-billing's own.

Kept apart from the observer so that they can be imported without OpenTelemetry installed.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DURATION_BUCKETS",
    "ERROR_TYPE",
    "REPLAYED",
    "RETRY_ATTEMPT",
    "RETRY_DELAY",
    "RETRY_EVENT",
    "RPC_METHOD",
    "RPC_STATUS_CODE",
    "RPC_SYSTEM_NAME",
    "SCHEMA_URL",
    "SCOPE_NAME",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "STREAM_BYTES",
    "STREAM_CHUNKS",
]

SCOPE_NAME: Final = "viam_billing_otel"
"""The instrumentation scope of the tracer and the meter."""
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.45.0"
"""The semantic conventions followed: v1.45.0, where the RPC conventions are stable (``rpc.status_code``)."""

DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The bucket boundaries, in seconds, the conventions advise for ``rpc.client.call.duration``."""

# Semantic-convention attributes (RPC and gRPC, v1.45.0).
RPC_SYSTEM_NAME: Final = "rpc.system.name"
RPC_METHOD: Final = "rpc.method"
RPC_STATUS_CODE: Final = "rpc.status_code"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# viam-billing's own, for what the conventions have no name for.
REPLAYED: Final = "viam_billing.replayed"
"""``True`` on a call answered from a replay cassette instead of the service (absent otherwise)."""
STREAM_CHUNKS: Final = "viam_billing.stream.chunks"
"""On a streaming call (an invoice PDF): how many messages the caller received."""
STREAM_BYTES: Final = "viam_billing.stream.bytes"
"""On an invoice PDF stream: how many bytes of document its chunks held."""
RETRY_EVENT: Final = "viam_billing.retry"
"""The span event of each attempt the transport sent again; it carries ``error.type``, :data:`RETRY_ATTEMPT` and
:data:`RETRY_DELAY`, and is timed when the retry was decided."""
RETRY_ATTEMPT: Final = "viam_billing.retry.attempt"
"""The number of the attempt that failed, from 1."""
RETRY_DELAY: Final = "viam_billing.retry.delay"
"""Seconds waited before the next attempt."""
