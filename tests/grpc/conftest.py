"""Fixtures of the gRPC tests: a running emulator on loopback and clients of it, on either anyio backend."""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hyperframe.frame
import pytest
import viam_billing as vb
from viam_billing_grpc import GrpcTransport, RetryPolicy
from viam_billing_grpc.emulator import Emulator
from viam_billing_protos._generated import auth_pb, billing_pb

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


class Request(NamedTuple):
    """A gRPC request as the raw server received it."""

    stream_id: int
    path: str
    headers: dict[str, str]
    message: bytes
    """The request message, without its 5-byte gRPC prefix."""

    @property
    def name(self) -> str:
        """The RPC's name: ``GetInvoicesSummary``, ``Authenticate``, ..."""
        return self.path.rsplit("/", 1)[-1]


REPLIES: dict[str, Any] = {
    "Authenticate": auth_pb.AuthenticateResponse(access_token="tok-raw-session"),
    "GetInvoicesSummary": billing_pb.GetInvoicesSummaryResponse(outstanding_balance=12.5),
    "GetAvailableBillingTiers": billing_pb.GetAvailableBillingTiersResponse(tiers=["free", "pro"]),
    "ChargeOrganization": billing_pb.ChargeOrganizationResponse(invoice_id="inv-raw"),
    "GetInvoicePdf": billing_pb.GetInvoicePdfResponse(chunk=b"%PDF-raw"),
}
"""What :meth:`RawConnection.serve` answers, by RPC name."""


class RawConnection:
    """The server's end of one client connection of :func:`h2_server`: HTTP/2 spoken with h2, so that a test can
    send what a real server would not (a GOAWAY at any moment, trailers without a message, two messages, ...)."""

    def __init__(self, client: anyio.abc.ByteStream, index: int, max_streams: int | None) -> None:
        self.index = index
        """0 for the first connection the server accepted, 1 for the next, ..."""
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams} if max_streams else {}
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.received: list[Request] = []
        """Every request received, in order."""
        self.answered: list[Request] = []
        """The requests :meth:`answer` (or :meth:`serve`) replied to with a message."""
        self.closed = anyio.Event()
        """Set once the client closed the connection (or it broke)."""
        self.client_reset: set[int] = set()
        """The streams the client reset (RST_STREAM)."""
        self._client = client
        self._lock = anyio.Lock()
        self._pending = bytearray()
        self._ping_acked = anyio.Event()
        self._headers: dict[int, dict[str, str]] = {}
        self._bodies: dict[int, bytearray] = {}
        self._queue, self._requests = anyio.create_memory_object_stream[Request](10_000)

    async def _run(self) -> None:
        self.h2.initiate_connection()
        await self.flush()
        try:
            while True:
                data = await self._client.receive()
                for event in self.h2.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        self._headers[event.stream_id] = dict(event.headers)
                        self._bodies[event.stream_id] = bytearray()
                    elif isinstance(event, h2.events.DataReceived):
                        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        self._bodies[event.stream_id] += event.data
                    elif isinstance(event, h2.events.StreamEnded):
                        sid = event.stream_id
                        headers = self._headers.pop(sid)
                        request = Request(sid, headers[":path"], headers, bytes(self._bodies.pop(sid))[5:])
                        self.received.append(request)
                        self._queue.send_nowait(request)
                    elif isinstance(event, h2.events.StreamReset):
                        self.client_reset.add(event.stream_id)
                    elif isinstance(event, h2.events.PingAckReceived):
                        self._ping_acked.set()
                await self.flush()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.closed.set()
            self._queue.close()

    async def flush(self) -> None:
        """Send everything written so far, in one piece (one TCP segment, as far as loopback goes)."""
        async with self._lock:
            self._pending += self.h2.data_to_send()
            data, self._pending = bytes(self._pending), bytearray()
            if data:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._client.send(data)

    async def request(self) -> Request:
        """The next request (its headers and whole message received); fails once the connection is closed."""
        return await self._requests.receive()

    async def requests(self, count: int) -> list[Request]:
        """The next ``count`` requests."""
        return [await self.request() for _ in range(count)]

    async def answer(
        self,
        request: Request,
        *messages: bytes,
        status: int = 0,
        raw: bool = False,
        flush: bool = True,
        end: bool = True,
    ) -> None:
        """Answer with ``messages`` (serialized messages, framed here unless ``raw``), then ``grpc-status``
        (unless ``end=False``: the stream then stays open).

        ``flush=False`` keeps the frames for the next :meth:`flush`, so that what follows arrives with them."""
        sid = request.stream_id
        self.h2.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
        for message in messages:
            data = message if raw else struct.pack(">?I", False, len(message)) + message
            size = self.h2.max_outbound_frame_size
            for start in range(0, len(data), size):
                self.h2.send_data(sid, data[start : start + size])
        if end:
            self.h2.send_headers(sid, [("grpc-status", str(status))], end_stream=True)
        if messages:
            self.answered.append(request)
        if flush:
            await self.flush()

    async def trailers_only(self, request: Request, status: int = 0) -> None:
        """Answer with one HEADERS frame holding the status and nothing else (gRPC's "trailers-only" reply)."""
        self.h2.send_headers(
            request.stream_id,
            [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", str(status))],
            end_stream=True,
        )
        await self.flush()

    async def refuse(self, request: Request) -> None:
        """Reset the request's stream with REFUSED_STREAM: HTTP/2's "not processed, try again"."""
        self.h2.reset_stream(request.stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
        await self.flush()

    async def serve(self, request: Request, *, flush: bool = True) -> None:
        """Answer as the service would: the reply from :data:`REPLIES`."""
        await self.answer(request, REPLIES[request.name].SerializeToString(), flush=flush)

    async def serve_all(self) -> None:
        """Serve every request from now on, until the connection closes."""
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                await self.serve(await self.request())

    async def goaway(self, last_stream_id: int, error_code: int = 0) -> None:
        """Send GOAWAY (with whatever :meth:`answer` kept unflushed before it). Written as raw bytes, behind h2's
        back: h2 would refuse to send anything after it, and a draining server still answers the streams up to
        ``last_stream_id``."""
        frame = hyperframe.frame.GoAwayFrame(0, last_stream_id=last_stream_id, error_code=error_code)
        self._pending += self.h2.data_to_send()
        self._pending += frame.serialize()
        await self.flush()

    async def ping(self) -> None:
        """Send a PING and wait for its ACK: the client has then handled every frame sent before it."""
        self._ping_acked = anyio.Event()
        self.h2.ping(b"drain-me")
        await self.flush()
        await self._ping_acked.wait()

    async def drop(self) -> None:
        """Close the connection at once, as a crash or a cut cable would."""
        await self._client.aclose()


class RawServer:
    """The running server of :func:`h2_server`: its ``address`` and every connection it accepted."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.connections: list[RawConnection] = []

    def answered(self, name: str) -> int:
        """How many calls of RPC ``name`` were answered with a message, on all connections."""
        return sum(request.name == name for connection in self.connections for request in connection.answered)

    def received(self, name: str) -> int:
        """How many requests of RPC ``name`` arrived, on all connections."""
        return sum(request.name == name for connection in self.connections for request in connection.received)


Script = Callable[[RawConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def _serve_raw(script: Script, max_streams: dict[int, int] | None = None) -> AsyncIterator[RawServer]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    server = RawServer(f"127.0.0.1:{listener.extra(anyio.abc.SocketAttribute.local_port)}")
    async with listener, anyio.create_task_group() as tg:

        async def handle(client: anyio.abc.ByteStream) -> None:
            index = len(server.connections)
            connection = RawConnection(client, index, (max_streams or {}).get(index))
            server.connections.append(connection)
            with connection._queue, connection._requests:
                async with client, anyio.create_task_group() as inner:
                    inner.start_soon(connection._run)
                    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await script(connection)
                    # Closing with unread data would reset the connection and lose what was sent: the client closes.
                    await connection.closed.wait()

        tg.start_soon(listener.serve, handle)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


@pytest.fixture
def h2_server(anyio_backend: str) -> Callable[..., Any]:
    """``async with h2_server(script, max_streams={0: 5}) as server``: an HTTP/2 server on loopback that runs
    ``await script(connection)`` for each connection it accepts (a :class:`RawConnection`); ``max_streams``
    limits the concurrent streams of the connections it names by index."""
    return _serve_raw


@pytest.fixture
def raw_server(anyio_backend: str) -> Callable[[Sequence[bytes]], Any]:
    """``async with raw_server([body, ...]) as address``: an HTTP/2 server on loopback answering every request
    with those bytes as the reply's DATA frames (a gRPC message is a flag byte, a 4-byte length and the message),
    whatever they hold: for replies no real billing service would send."""

    @contextlib.asynccontextmanager
    async def serve(bodies: Sequence[bytes]) -> AsyncIterator[str]:
        async def script(connection: RawConnection) -> None:
            while True:
                await connection.answer(await connection.request(), *bodies, raw=True)

        async with _serve_raw(script) as server:
            yield server.address

    return serve
