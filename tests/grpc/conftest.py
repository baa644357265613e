"""Fixtures of the gRPC tests: a running emulator on loopback and clients of it, on either anyio backend."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
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


async def _answer_raw(client: anyio.abc.ByteStream, bodies: Sequence[bytes]) -> None:
    """Speak just enough HTTP/2 to answer every gRPC request with ``bodies`` as its DATA, then status OK."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    connection.initiate_connection()
    await client.send(connection.data_to_send())
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        while True:
            for event in connection.receive_data(await client.receive()):
                if isinstance(event, h2.events.DataReceived):
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    sid = event.stream_id
                    connection.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                    for body in bodies:
                        connection.send_data(sid, body)
                    connection.send_headers(sid, [("grpc-status", "0")], end_stream=True)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            await client.send(connection.data_to_send())


@pytest.fixture
def raw_server(anyio_backend: str) -> Callable[[Sequence[bytes]], Any]:
    """``async with raw_server([body, ...]) as address``: an HTTP/2 server on loopback answering every request
    with those bytes as the reply's DATA frames (a gRPC message is a flag byte, a 4-byte length and the message),
    whatever they hold: for replies no real billing service would send."""

    @contextlib.asynccontextmanager
    async def serve(bodies: Sequence[bytes]) -> AsyncIterator[str]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        async with listener, anyio.create_task_group() as tg:

            async def handle(client: anyio.abc.ByteStream) -> None:
                async with client:
                    await _answer_raw(client, bodies)

            tg.start_soon(listener.serve, handle)
            try:
                yield f"127.0.0.1:{listener.extra(anyio.abc.SocketAttribute.local_port)}"
            finally:
                tg.cancel_scope.cancel()

    return serve
