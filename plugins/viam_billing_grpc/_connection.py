"""The HTTP/2 connections the transport dials: grpclib's, taught what gRPC's own clients do when one ends.

grpclib handles a connection's end in one way: every stream on it fails. gRPC's clients (grpc-go, grpc-core)
tell apart what the service says it will still answer from what it never saw, and so does this module:

- **GOAWAY** (a server draining: max connection age, a deploy, a load balancer). The streams up to the frame's
  ``last_stream_id`` run to completion and return their answers; those above it were never processed and fail
  with :class:`~._errors.Unprocessed`, which the engine retries transparently on a new connection, whatever the
  operation. No new stream starts on a draining connection: the next call dials a new one at once. A grpc-go
  style two-phase shutdown (GOAWAY with the largest id, a PING, then the real GOAWAY) loses nothing. The
  connection is closed once its last stream ends.
- **REFUSED_STREAM.** A stream the server resets with this code was not processed, by HTTP/2's definition: it
  fails with :class:`~._errors.Unprocessed` too.
- **A lost connection.** Streams on it fail as grpclib fails them (the engine retries safe reads). A call still
  waiting for a stream slot (the server's ``MAX_CONCURRENT_STREAMS`` reached) or for the socket to drain never
  got a stream, so it fails at once with :class:`~._errors.Unprocessed` instead of waiting forever on a
  connection that is gone.

Also here: the limit on a received message, checked against the length prefix before any of the message is
read (``GrpcTransport(max_receive_message_size=...)``); a ``grpc-timeout`` header kept to gRPC's 8 digits by a
coarser unit; h2's table of closed streams kept to the streams that were reset, which are the only ones it needs
(it otherwise keeps 65,536 entries, about 105 bytes a call); header blocks sent again byte for byte while the
HPACK table is unchanged, and h2's count of open streams made only when it could matter (together they halve
h2's cost of starting a stream); and closing that waits for the sockets to be gone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import socket
import ssl
from typing import Any

from grpclib.client import Channel
from grpclib.client import Handler as ClientHandler
from grpclib.protocol import Connection, EventsProcessor, H2Protocol, Stream
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import ConnectionTerminated, StreamReset
from h2.exceptions import NoAvailableStreamIDError, TooManyStreamsError
from h2.settings import SettingCodes
from h2.stream import StreamClosedBy
from hpack import Encoder, HeaderTuple
from hpack.hpack import encode_integer
from viam_billing import ClientClosedError

from ._errors import HandshakeCut, MessageTooLarge, Unprocessed

__all__ = ["BlockReusingEncoder", "GrpcChannel", "encode_timeout"]

logger = logging.getLogger("viam_billing_grpc")

_RESET_STREAMS_KEPT = 4096
"""How many reset streams h2 remembers, so that frames the server sent before it saw the reset are ignored."""

_STREAMS_HELD_BEFORE_COUNTING = 256
"""How many streams, open or closed, h2 may hold before a new stream makes it count the open ones exactly."""

_TIMEOUT_UNITS = (("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("S", 1.0), ("M", 60.0), ("H", 3600.0))
_TIMEOUT_DIGITS_MAX = 99_999_999


def encode_timeout(seconds: float) -> str:
    """A ``grpc-timeout`` value for ``seconds``: at most 8 digits (as gRPC requires) in the finest unit they fit,
    rounded up so that the server never gives up before the client; clamped to ``99999999H`` (11,000 years)."""
    for unit, size in _TIMEOUT_UNITS:
        if seconds / size <= _TIMEOUT_DIGITS_MAX:
            return f"{max(math.ceil(seconds / size), 0)}{unit}"
    return f"{_TIMEOUT_DIGITS_MAX}H"


def _fit_timeout(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with a ``grpc-timeout`` of more than 8 digits re-encoded (grpclib writes any number of seconds)."""
    for index, (name, value) in enumerate(headers):
        if name == "grpc-timeout":
            if len(value) > 9:  # 8 digits and the unit
                # grpclib writes whole seconds ("S") for anything above 10 s, and only those grow this long.
                headers = list(headers)
                headers[index] = (name, encode_timeout(float(value[:-1])))
            break
    return headers


class _ResetStreams(collections.OrderedDict[int, Any]):
    """h2's record of closed streams, keeping only the most recent streams closed by a reset.

    h2 looks a stream up here when a frame arrives for a stream it no longer has: one closed by a reset is
    expected to get a few more frames (sent before the server saw the reset), which are ignored; any other is a
    connection error, whether or not it is recorded. So streams that ended normally (nearly all) need no entry,
    and the reset ones only until the server has caught up.
    """

    def __setitem__(self, stream_id: int, closed_by: Any) -> None:
        if closed_by is StreamClosedBy.SEND_RST_STREAM or closed_by is StreamClosedBy.RECV_RST_STREAM:
            super().__setitem__(stream_id, closed_by)
            if len(self) > _RESET_STREAMS_KEPT:
                self.popitem(last=False)


class BlockReusingEncoder(Encoder):
    """hpack's encoder, sending again byte for byte the header blocks it has sent before.

    A call's headers are those of the calls before it (method, scheme, path, authority, te, content-type,
    user-agent, authorization) but for ``grpc-timeout``. Once each of the others is in the dynamic table, their
    block is a few index bytes, valid for as long as the table does not change: it is kept, and encoded again
    only after the table changed (a header seen for the first time, a new token, a new table size). The timeout
    is sent never indexed, as is: it changes with every call, and indexed it would change the table every call.
    """

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[tuple[Any, ...], bytes] = {}

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        if isinstance(headers, dict):
            return super().encode(headers, huffman)
        headers = list(headers)
        if any(isinstance(header, HeaderTuple) or len(header) != 2 for header in headers):
            return super().encode(headers, huffman)  # indexing chosen header by header: no shortcut
        others = tuple(header for header in headers if header[0] != b"grpc-timeout")
        block = self._blocks.get(others)
        if block is None or self.header_table.resized:
            block = self._encode_others(others, huffman)
        if len(others) == len(headers):
            return block
        return block + b"".join(_never_indexed(value) for name, value in headers if name == b"grpc-timeout")

    def _encode_others(self, others: tuple[Any, ...], huffman: bool) -> bytes:
        table = self.header_table
        resized = table.resized  # the block then starts with the size change: sent once, kept by none
        entries = table.dynamic_entries
        count, first = len(entries), entries[0] if entries else None
        block = super().encode(list(others), huffman)
        if resized or len(entries) != count or (entries[0] if entries else None) is not first:
            self._blocks.clear()  # the table changed: the indexes in the blocks kept may point elsewhere now
        else:
            self._blocks[others] = block
        return block


def _never_indexed(timeout: bytes) -> bytes:
    """``grpc-timeout: timeout`` as a literal never indexed, name and value as they are (RFC 7541, 6.2.3)."""
    return b"\x10\x0cgrpc-timeout" + bytes(encode_integer(len(timeout), 7)) + timeout


class _H2Connection(H2Connection):
    """h2's connection, with a bounded record of closed streams, header blocks sent again when unchanged (see
    :class:`BlockReusingEncoder`), a cheap count of open streams, and alive after a GOAWAY.

    h2 moves a connection to its closed state on GOAWAY and then refuses every frame that follows, the answers
    the server promised to finish included. Here a GOAWAY is reported (as ``ConnectionTerminated``) and nothing
    else changes: :class:`_Connection` stops new streams itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._closed_streams = _ResetStreams()
        self.encoder = BlockReusingEncoder()

    @property
    def open_outbound_streams(self) -> int:
        # h2 asks before each new stream whether one more is allowed, and counts by walking every stream it holds
        # (dropping the closed ones as it goes). While it holds fewer than the server allows, closed ones
        # included, one more is allowed whatever the exact count: the number held answers, until it reaches
        # _STREAMS_HELD_BEFORE_COUNTING, which bounds the closed streams kept between two walks.
        held = len(self.streams)
        if held < min(self.remote_settings.max_concurrent_streams, _STREAMS_HELD_BEFORE_COUNTING):
            return held
        return int(super().open_outbound_streams)

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[Any]]:
        event = ConnectionTerminated()
        try:
            event.error_code = ErrorCodes(frame.error_code)
        except ValueError:
            event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class _Connection(Connection):
    """grpclib's connection state, knowing whether new streams may still start on it."""

    def __init__(self, *args: Any, max_message: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_message = max_message
        self.draining = False
        """A GOAWAY arrived: the streams already started go on, no new one starts."""
        self.lost = False
        """The connection is gone (closed, broken, or drained)."""

    def create_stream(self, *, stream_id: int | None = None, wrapper: Any = None) -> _Stream:
        return _Stream(self, self._connection, self._transport, stream_id=stream_id, wrapper=wrapper)

    def refuse_new_streams(self, *, lost: bool) -> None:
        """Stop new streams; wake the calls waiting to start one, so that they go elsewhere."""
        self.draining = True
        if lost:
            self.lost = True
            self.write_ready.set()  # a paused socket that broke never resumes
        self.stream_close_waiter.set()


class _Stream(Stream):
    """grpclib's HTTP/2 stream: one that cannot start fails at once, and a message over the limit is refused
    before it is read."""

    connection: _Connection

    async def send_request(self, headers: list[tuple[str, str]], end_stream: bool = False, *, _processor: Any) -> Any:
        # What grpclib does, plus the checks that keep a call from waiting on a connection that will never
        # give it a stream: each wait (the socket's buffer, a free stream slot) ends when the connection drains
        # or breaks, and the call then leaves with Unprocessed.
        connection = self.connection
        h2 = self._h2_connection
        headers = _fit_timeout(headers)
        while True:
            await connection.write_ready.wait()
            if connection.draining:
                raise Unprocessed("the connection closed or began to drain before the call could start")
            try:
                stream_id = h2.get_next_available_stream_id()
                h2.send_headers(stream_id, headers, end_stream=end_stream)
            except TooManyStreamsError:
                connection.stream_close_waiter.clear()
                await connection.stream_close_waiter.wait()
                continue
            except NoAvailableStreamIDError:
                # Every stream id of this connection is used (after a billion calls): start a new connection.
                connection.refuse_new_streams(lost=False)
                raise Unprocessed("the connection ran out of stream ids") from None
            self.init_stream(stream_id, connection)
            release = _processor.register(self)
            self._transport.write(h2.data_to_send())
            connection.headers_send_process()
            return release

    async def recv_data(self, size: int) -> bytes:
        # grpclib asks for a message's bytes with the size its length prefix announced: refusing here keeps a
        # huge (or lying) prefix from making it buffer the message.
        if size > self.connection.max_message:
            raise MessageTooLarge(size, self.connection.max_message)
        data: bytes = await self.buffer.read(size)
        return data


class _Processor(EventsProcessor):
    """grpclib's HTTP/2 event handling, with a GOAWAY that fails only the streams the server did not take."""

    connection: _Connection

    def register(self, stream: Stream) -> Any:
        release = super().register(stream)

        def release_stream() -> None:
            release()
            if self.connection.draining and not self.streams:
                self.close("drained after GOAWAY")

        return release_stream

    def process_connection_terminated(self, event: ConnectionTerminated) -> None:
        last = event.last_stream_id or 0
        logger.debug("GOAWAY (%s, last stream %s): draining the connection", event.error_code, last)
        self.connection.refuse_new_streams(lost=False)
        for stream_id, stream in list(self.streams.items()):
            if stream_id > last and stream.wrapper is not None:
                stream.wrapper.cancel(
                    Unprocessed(f"the server's GOAWAY (last stream {last}) left this call unprocessed")
                )
        if not self.streams:
            self.close("GOAWAY with no call in flight")

    def process_stream_reset(self, event: StreamReset) -> None:
        # A stream the server refused (RST_STREAM with REFUSED_STREAM) was not processed either: HTTP/2 says so.
        stream = self.streams.get(event.stream_id)
        if event.remote_reset and event.error_code == ErrorCodes.REFUSED_STREAM and stream is not None:
            if stream.wrapper is not None:
                stream.wrapper.cancel(Unprocessed("the server refused the stream (REFUSED_STREAM)"))
            self.connection.streams_failed += 1
            return
        super().process_stream_reset(event)

    def close(self, reason: str = "Connection closed") -> None:
        self.connection.refuse_new_streams(lost=True)
        super().close(reason)


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off: a small request must not wait for the ACK of the one before (40 ms)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Protocol(H2Protocol):
    """grpclib's connection protocol built from the parts above; it keeps its transport, so that closing can
    make sure the socket is gone."""

    transport: asyncio.BaseTransport | None = None
    connection: _Connection
    processor: _Processor

    def __init__(self, *args: Any, max_message: int) -> None:
        super().__init__(*args)
        self.max_message = max_message
        self.gone = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # grpclib's own set-up, with our h2 connection, connection state and event handling in it.
        self.transport = transport
        _no_delay(transport)
        h2 = _H2Connection(config=self.h2_config)
        h2.initiate_connection()
        initial = h2.local_settings.initial_window_size
        if self.config.http2_connection_window_size != initial:
            h2.increment_flow_control_window(self.config.http2_connection_window_size - initial)
        if self.config.http2_stream_window_size != initial:
            h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: self.config.http2_stream_window_size})
        self.connection = _Connection(h2, transport, config=self.config, max_message=self.max_message)
        self.connection.flush()
        self.connection.initialize()
        self.processor = _Processor(self.handler, self.connection)

    def connection_lost(self, exc: BaseException | None) -> None:
        try:
            if hasattr(self, "processor"):  # a TLS handshake that failed never made the connection
                super().connection_lost(exc)
        finally:
            self.gone.set()


class GrpcChannel(Channel):
    """The grpclib channel the transport dials: connections built by :class:`_Protocol`, a new connection as soon
    as the current one drains, and an :meth:`aclose` that returns only once every socket is closed.

    grpclib's ``close()`` starts a graceful close (after buffered data, after the TLS goodbye) that a loop
    stopping next, as the trio bridge's does, would cut short, leaving the socket to the garbage collector.
    """

    def __init__(self, *args: Any, max_message: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_message = max_message
        self._tracked: list[_Protocol] = []
        self._closed = False

    def _protocol_factory(self) -> H2Protocol:
        # grpclib offers no public hook on new connections; this mirrors its own factory.
        protocol = _Protocol(ClientHandler(), self._config, self._h2_config, max_message=self._max_message)
        self._tracked = [p for p in self._tracked if not p.gone.is_set()]
        self._tracked.append(protocol)
        return protocol

    async def _create_connection(self) -> H2Protocol:
        try:
            return await super()._create_connection()
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            if self._ssl is None:
                raise
            # The server hung up in the middle of the TLS handshake, which says nothing by itself; the usual cause
            # is a server that speaks only TLS 1.1 or older, refused by this client.
            raise HandshakeCut(str(exc) or type(exc).__name__) from exc

    async def __connect__(self) -> H2Protocol:
        if self._closed:
            raise ClientClosedError("the transport is closed")
        protocol = self._protocol
        if isinstance(protocol, _Protocol) and protocol.connection.draining:
            self._protocol = None  # the next call dials a new connection; the draining one finishes its own calls
        protocol = await super().__connect__()
        if self._closed:  # closed while dialling: the new connection must not outlive the transport
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.abort()
            raise ClientClosedError("the transport is closed")
        return protocol

    async def aclose(self, within: float = 1.0) -> None:
        """Close every connection (draining ones too) and wait, at most ``within`` seconds, for their sockets."""
        self._closed = True
        tracked, self._tracked = self._tracked, []
        self.close()
        opened = [p for p in tracked if p.transport is not None]
        for protocol in opened:
            if not protocol.gone.is_set():
                protocol.transport.abort()  # type: ignore[union-attr]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.gone.wait() for p in opened)), within)
