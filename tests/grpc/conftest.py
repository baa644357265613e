"""Fixtures of the gRPC tests: a running emulator on loopback and clients of it, on either anyio backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import anyio
import pytest
import viam_billing as vb
from viam_billing_grpc import GrpcTransport, RetryPolicy
from viam_billing_grpc.emulator import Emulator

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.01)
"""The default attempts with millisecond backoff, so that retry tests stay fast."""


@pytest.fixture
def now() -> datetime:
    """The emulator's fixed clock."""
    return NOW


@pytest.fixture
async def emulator(anyio_backend: str) -> AsyncIterator[Emulator]:
    """A running emulator on a free port, with its clock fixed at :data:`NOW`."""
    async with Emulator(now=NOW) as running:
        yield running


@pytest.fixture
def make_client(emulator: Emulator) -> Callable[..., vb.BillingClient]:
    """Build clients of the emulator: ``make_client(timeout=..., retry=..., **transport_options)``."""

    def make(*, timeout: float | None = 30, **options: Any) -> vb.BillingClient:
        options.setdefault("retry", FAST_RETRY)
        return vb.connect(**emulator.connect_options(), timeout=timeout, **options)

    return make


@pytest.fixture
async def billing(make_client: Callable[..., vb.BillingClient]) -> AsyncIterator[vb.BillingClient]:
    """A client of the emulator through the grpc transport, closed after the test."""
    async with make_client() as client:
        yield client


@pytest.fixture
def transport_of() -> Callable[[vb.BillingClient], GrpcTransport]:
    def get(client: vb.BillingClient) -> GrpcTransport:
        transport = client.transport
        assert isinstance(transport, GrpcTransport)
        return transport

    return get


async def wait_until(condition: Callable[[], bool], *, within: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``within`` seconds."""
    with anyio.fail_after(within):
        # Polling on purpose: the condition changes in the emulator, on another thread or loop, with no event.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """``await eventually(lambda: ...)``: wait (bounded) for something the server does after the client."""
    return wait_until


def _sockets_to(port: int) -> int:
    """How many sockets this process holds that are connected to ``port`` on loopback (Linux /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as lines:
                rows = [line.split() for line in lines.readlines()[1:]]
        except OSError:
            continue
        count += sum(1 for row in rows if int(row[2].rsplit(":", 1)[1], 16) == port and row[9] in inodes)
    return count


@pytest.fixture
def sockets_to() -> Callable[[int], int]:
    """``sockets_to(port)``: this process's sockets connected to that port (skips where /proc is missing)."""
    if not os.path.exists("/proc/self/net/tcp"):
        pytest.skip("needs Linux /proc to list sockets")
    return _sockets_to
