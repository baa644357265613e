"""viam-billing's benchmarks: one harness, run as ``nox -s bench`` or ``python -m benchmarks``.

It measures our client beside its baselines (a raw grpclib stub over our generated messages, and the official
``viam-sdk`` BillingClient) against the emulator serving from a separate process on loopback, and writes
BENCHMARKS.md. ``--quick`` is a smoke run with tiny counts (the test suite uses it); counts are set with
``BENCH_<NAME>`` environment variables (see :class:`benchmarks._harness.Settings`).
"""
