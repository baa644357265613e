"""``Emulator``: a local grpclib server of the billing service, for tests and demos."""

from __future__ import annotations

import asyncio
import collections
import hmac
import inspect
import logging
import math
import secrets
import socket
import ssl
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Collection, Iterable, Iterator
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import anyio
import grpclib.const
import grpclib.server
import viam_billing as vb
from grpclib.config import Configuration
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.utils import graceful_exit
from viam_billing import OPERATIONS, Model, Operation, StatusCode, StatusError
from viam_billing_protos._generated import auth_pb
from viam_billing_protos.codec import from_message, message_type, to_message

from .. import _redact
from .._connection import BlockReusingEncoder
from .._engine import AUTH_PATH
from ._service import Charge, State

if TYPE_CHECKING:
    from viam_billing import Handler

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_KEY_ID", "Emulator"]

logger = logging.getLogger("viam_billing_grpc.emulator")

DEFAULT_API_KEY = "emulator-api-key-0123456789abcdef"
"""The API key :meth:`Emulator.run` and ``python -m viam_billing_grpc.emulator`` accept unless told otherwise."""
DEFAULT_API_KEY_ID = "emulator-api-key-id-00000000"
"""The API key id :meth:`Emulator.run` and ``python -m viam_billing_grpc.emulator`` accept unless told otherwise."""

_AUTHENTICATE = "Authenticate"
_RPC_NAMES = (_AUTHENTICATE, *OPERATIONS)


def _rpc_name(name: str) -> str:
    if name not in _RPC_NAMES:
        raise ValueError(f"unknown RPC {name!r}; the emulator serves {', '.join(_RPC_NAMES)}")
    return name


def _grpc_status(code: StatusCode | Status | int) -> Status:
    value = code.value if isinstance(code, Status) else int(code)
    try:
        return Status(value)
    except ValueError:
        raise ValueError(f"{code!r} is not a gRPC status code (0-16)") from None


class _Fault:
    """What one call must suffer: a delay, a status instead of an answer, a dropped connection, a lost answer."""

    __slots__ = ("delay", "drop_after", "failure", "lost")

    def __init__(self) -> None:
        self.delay = 0.0
        self.failure: tuple[Status, str] | None = None
        self.drop_after: int | None = None
        self.lost: str | None = None
        """``"hang"`` or ``"drop"``: the call is carried out, then its answer never comes."""


class _HeldWrites:
    """A connection's transport whose writes of one turn of the loop go out together, at the next turn.

    grpclib writes an answer's headers, message and trailers one by one: three segments, three wake-ups of the
    client. Held, they are one. Closing writes what is held first; everything else is the transport's own.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            asyncio.get_running_loop().call_soon(self._write_held)
        self._held.append(data)

    def _write_held(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(b"".join(held))

    def close(self) -> None:
        self._write_held()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Server(grpclib.server.Server):
    """grpclib's server, telling the emulator about each connection so that it can count and drop them."""

    def __init__(
        self, handlers: Collection[Any], *, config: Configuration, on_connection: Callable[[H2Protocol], None]
    ) -> None:
        super().__init__(handlers, config=config)
        self._on_connection = on_connection

    def _protocol_factory(self) -> H2Protocol:
        # grpclib has no public hook for new connections; this is the one place that needs one.
        protocol = super()._protocol_factory()
        made = protocol.connection_made

        def connection_made(transport: Any) -> None:
            made(cast("asyncio.Transport", _HeldWrites(transport)))  # a transport in all but its class
            # Answers' headers and trailers are the same call after call: sent again byte for byte, as the
            # client does (the encoder is swapped before any header block is encoded).
            protocol.connection._connection.encoder = BlockReusingEncoder()

        protocol.connection_made = connection_made  # type: ignore[method-assign]
        self._on_connection(protocol)
        return protocol


class Emulator:
    """A real gRPC server (grpclib, HTTP/2 on loopback) of ``AuthService`` and all 11 ``BillingService`` RPCs.

    Seeded with the organizations, usage, invoices (with small real PDFs), locations and tiers documented in
    :mod:`viam_billing_grpc.emulator`. It checks the API key in ``Authenticate`` and the Bearer token on every
    billing call, like the service. Use it as an async context manager under asyncio or trio::

        async with Emulator() as emulator:
            async with viam_billing.connect(**emulator.connect_options()) as billing:
                summary = await billing.get_invoices_summary(emulator.org_ids[0])

    ``port=0`` (the default) takes a free port; ``api_key``/``api_key_id`` default to random values per
    instance; ``token_ttl`` makes tokens expire that many seconds after they are issued (``None``: never);
    ``chunk_size`` is the size of the PDF chunks streamed; ``now`` fixes the clock (a ``datetime``, or a
    function returning one) that places the seeded months and dates new invoices. ``ssl_context`` (a server
    context with a certificate loaded; ALPN ``h2`` is set on it) serves TLS instead of plaintext.
    ``redact_logs=False`` leaves the emulator's key, key id and tokens out of the log redaction of the HTTP/2
    libraries, which then rests on the clients' own: for tests that the clients keep secrets out of logs.
    ``orgs=N`` adds N generated organizations after the seeded ones, for exports at scale (see
    :func:`~viam_billing_grpc.emulator.generated_org_id`).

    ``handler`` replaces the seeded service with a function, to script a backend the way
    :class:`~viam_billing.MockTransport` does, but behind real gRPC and the emulator's authentication: it takes
    the same :data:`~viam_billing.Handler` (``(operation, request) -> response``, sync or async; for
    ``GetInvoicePdf`` an iterable or async iterator of chunks), and the :class:`~viam_billing.StatusError` it
    raises is answered as that gRPC status with its message. A call cancelled by its client, or cut off,
    cancels the handler's work and closes its iterator. :mod:`viam_billing.testing` runs its transport
    conformance checks this way::

        def handler(operation, request):
            raise viam_billing.NotFoundError("no such invoice")

        async with Emulator(handler=handler) as emulator: ...

    The handler runs on the emulator's event loop (see below), so it waits with ``anyio`` or ``asyncio``, and
    shares state with the test through thread-safe means. The seed and :attr:`charges`, :attr:`emails`, ... are
    then unused; faults and counters work as with the seed.

    Under asyncio the server runs on the caller's event loop, under trio on an asyncio loop in a thread of its
    own. Fault injection (:meth:`fail_next`, :meth:`delay`, :meth:`drop_connection`, :meth:`apply_then_hang`,
    :meth:`apply_then_drop`) and the counters (:attr:`received`, :attr:`sent`, :attr:`cancelled`, :attr:`charges`,
    :attr:`charges_per_org`, :attr:`emails`) can be used from the test's thread.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        api_key_id: str | None = None,
        token_ttl: float | None = None,
        chunk_size: int = 512,
        now: datetime | Callable[[], datetime] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        redact_logs: bool = True,
        handler: Handler | None = None,
        orgs: int = 0,
    ) -> None:
        if isinstance(orgs, bool) or not isinstance(orgs, int) or orgs < 0:
            raise ValueError(f"orgs must be an int of 0 or more, got {orgs!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port must be an int from 0 to 65535, got {port!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        if token_ttl is not None and not (isinstance(token_ttl, (int, float)) and token_ttl > 0):
            raise ValueError(f"token_ttl must be a positive number of seconds or None, got {token_ttl!r}")
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be a function (operation, request) -> response, got {handler!r}")
        self._handler = handler
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        self.api_key = api_key or secrets.token_urlsafe(24)
        """The API key ``Authenticate`` accepts."""
        self.api_key_id = api_key_id or f"key-id-{secrets.token_hex(8)}"
        """The API key id ``Authenticate`` accepts."""
        self.token_ttl = token_ttl
        if now is None:
            clock: Callable[[], datetime] = partial(datetime.now, timezone.utc)
        elif isinstance(now, datetime):
            fixed = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
            clock = lambda: fixed  # noqa: E731
        else:
            clock = now
        self._state = State(clock, chunk_size, orgs)
        self._tokens: dict[str, float] = {}
        self._faults_lock = threading.Lock()
        self._failures: dict[str, collections.deque[tuple[Status, str]]] = collections.defaultdict(collections.deque)
        self._delays: dict[str, list[Any]] = {}
        self._drops: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
        self._lost: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._connections: set[H2Protocol] = set()
        self._server: _Server | None = None
        self._thread: Any = None
        self._stopping = False
        self.received: collections.Counter[str] = collections.Counter()
        """How many requests of each RPC arrived (by name, ``"Authenticate"`` included), refused ones too."""
        self.sent: collections.Counter[str] = collections.Counter()
        """How many response messages of each RPC were sent (each PDF chunk counts)."""
        self.cancelled: collections.Counter[str] = collections.Counter()
        """How many calls of each RPC ended before the emulator had answered: cancelled by the client, or cut
        with their connection."""
        self.received_metadata: collections.deque[tuple[str, dict[str, str]]] = collections.deque(maxlen=1000)
        """``(RPC name, metadata)`` of the last 1000 billing calls received, oldest first, for tests of what
        clients send (a ``traceparent``, say). The ``authorization`` entry is never kept."""
        if redact_logs:
            _redact.watch(self)

    # -- what tests look at --------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"<Emulator {self._host}:{self._port} {state}>"

    def secrets(self) -> Iterator[str]:
        yield self.api_key
        yield self.api_key_id
        yield from list(self._tokens)

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port listened on (the free one picked, once started with ``port=0``)."""
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` to connect to, as in ``"127.0.0.1:50123"``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    def connect_options(self) -> dict[str, Any]:
        """The keywords for ``viam_billing.connect(**options)`` that reach this emulator.

        With TLS they ask for TLS (``insecure=False``); add ``ssl_context=`` trusting the emulator's certificate.
        """
        return {
            "address": self.address,
            "api_key": self.api_key,
            "api_key_id": self.api_key_id,
            "insecure": self._ssl_context is None,
        }

    @property
    def org_ids(self) -> tuple[str, ...]:
        """The seeded organizations the emulator's key owns, Acme Robotics first."""
        return tuple(org_id for org_id, org in self._state.orgs.items() if org.owned)

    @property
    def charges(self) -> list[Charge]:
        """Every charge carried out (``ChargeOrganization`` and ``CreateInvoiceAndChargeImmediately``), in order."""
        return self._state.charges

    @property
    def charges_per_org(self) -> collections.Counter[str]:
        """How many charges each organization received, by org id: ``max(...values())`` of 1 means none twice.

        Counted from :attr:`charges`, so a charge whose answer was lost (:meth:`apply_then_hang`) counts too.
        """
        with self._state.lock:
            return collections.Counter(charge.org_id for charge in self._state.charges)

    @property
    def emails(self) -> list[tuple[str, str]]:
        """``(customer_org_id, billing_owner_org_id)`` of every payment-required e-mail sent, in order."""
        return self._state.emails

    @property
    def open_connections(self) -> int:
        """How many client connections are open now."""
        # The set is pruned in place: the server adds new connections to this very set (its bound ``add``), so
        # rebinding it would hide every later connection from drop_connection() and aclose().
        connections = list(self._connections)  # one step, safe against the server's thread adding to it
        closed = [protocol for protocol in connections if _closed(protocol)]
        self._connections.difference_update(closed)
        return len(connections) - len(closed)

    def invoices(self, org_id: str) -> tuple[vb.InvoiceSummary, ...]:
        """The organization's invoices, newest first, as ``GetInvoicesSummary`` lists them."""
        with self._state.lock:
            return tuple(self._state.orgs[org_id].invoices)

    def pdf(self, org_id: str, invoice_id: str) -> bytes:
        """The PDF document ``GetInvoicePdf`` streams for the invoice."""
        with self._state.lock:
            return self._state.orgs[org_id].pdfs[invoice_id]

    def billing_information(self, org_id: str) -> vb.GetOrgBillingInformationResponse:
        """What ``GetOrgBillingInformation`` answers for the organization now."""
        with self._state.lock:
            return self._state.orgs[org_id].billing

    def location_billing_organization(self, location_id: str) -> str:
        """The organization billed for the location now."""
        with self._state.lock:
            return self._state.locations[location_id]

    def add_invoice(
        self,
        org_id: str,
        *,
        amount: float,
        status: str = "outstanding",
        pdf: bytes | None = None,
        invoice_id: str | None = None,
    ) -> vb.InvoiceSummary:
        """Add an invoice (dated now) with ``pdf`` as its document (default: a generated one); return it."""
        if not math.isfinite(amount):
            raise ValueError(f"amount must be finite, got {amount!r}")
        with self._state.lock:
            return self._state.new_invoice(self._state.orgs[org_id], amount, status, invoice_id=invoice_id, pdf=pdf)

    def reset_counters(self) -> None:
        """Zero :attr:`received`, :attr:`sent` and :attr:`cancelled`; empty :attr:`received_metadata`."""
        self.received_metadata.clear()
        self.received.clear()
        self.sent.clear()
        self.cancelled.clear()

    # -- faults --------------------------------------------------------------------------------------------------

    def fail_next(self, name: str, code: StatusCode | Status | int, count: int = 1, message: str | None = None) -> None:
        """Answer the next ``count`` calls of RPC ``name`` with status ``code`` instead of serving them.

        The calls count as received but change nothing. Example:
        ``emulator.fail_next("GetInvoicesSummary", StatusCode.UNAVAILABLE, count=2)``.
        """
        status = _grpc_status(code)
        text = message if message is not None else f"{status.name.lower().replace('_', ' ')} (injected by the emulator)"
        with self._faults_lock:
            self._failures[_rpc_name(name)].extend([(status, text)] * count)

    def delay(self, name: str, seconds: float, count: int | None = None) -> None:
        """Wait ``seconds`` before serving the next ``count`` calls of ``name`` (``None``: every call from now on).

        ``seconds=0`` removes the delay.
        """
        with self._faults_lock:
            if seconds <= 0:
                self._delays.pop(_rpc_name(name), None)
            else:
                self._delays[_rpc_name(name)] = [float(seconds), count]

    def drop_connection(self, name: str, *, after_chunks: int = 0, count: int = 1) -> None:
        """Close the client's connection during the next ``count`` calls of ``name``.

        With ``after_chunks=0`` it is closed before any answer; for the streaming ``GetInvoicePdf``,
        ``after_chunks=K`` closes it after K chunks were sent.
        """
        with self._faults_lock:
            self._drops[_rpc_name(name)].extend([after_chunks] * count)

    def apply_then_hang(self, name: str, count: int = 1) -> None:
        """Carry out the next ``count`` calls of the unary RPC ``name``, then never answer them.

        A charge is made and its invoice listed, but the call waits until its client gives up (its deadline
        passes, it is cancelled, or the client process dies): the service acted, and the answer was lost.
        """
        self._lose_answers(name, "hang", count)

    def apply_then_drop(self, name: str, count: int = 1) -> None:
        """Carry out the next ``count`` calls of the unary RPC ``name``, then close the client's connection
        instead of answering: the service acted, and the connection was lost before the answer."""
        self._lose_answers(name, "drop", count)

    def _lose_answers(self, name: str, how: str, count: int) -> None:
        if OPERATIONS.get(_rpc_name(name)) is None or OPERATIONS[name].streaming:
            raise ValueError(f"answers can be lost only for the unary billing RPCs, not {name!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        with self._faults_lock:
            self._lost[name].extend([how] * count)

    def issue_token(self) -> str:
        """Issue an access token as ``Authenticate`` would (for tests of ``access_token=``) and return it."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.monotonic()
        return token

    @property
    def issued_tokens(self) -> tuple[str, ...]:
        """The access tokens issued and not expired with :meth:`expire_tokens`."""
        return tuple(self._tokens)

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid, as if it had expired."""
        self._tokens.clear()

    def clear_faults(self) -> None:
        """Remove every pending fault and delay."""
        with self._faults_lock:
            self._failures.clear()
            self._delays.clear()
            self._drops.clear()
            self._lost.clear()

    def _take_fault(self, name: str) -> _Fault | None:
        with self._faults_lock:
            if not (self._failures or self._delays or self._drops or self._lost):
                return None
            fault = _Fault()
            delay = self._delays.get(name)
            if delay is not None:
                fault.delay = delay[0]
                if delay[1] is not None:
                    delay[1] -= 1
                    if delay[1] <= 0:
                        del self._delays[name]
            drops = self._drops.get(name)
            if drops:
                fault.drop_after = drops.popleft()
            failures = self._failures.get(name)
            if failures and fault.drop_after is None:
                fault.failure = failures.popleft()
            lost = self._lost.get(name)
            if lost and fault.drop_after is None and fault.failure is None:
                fault.lost = lost.popleft()
            return fault

    # -- serving -------------------------------------------------------------------------------------------------

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        """The grpclib handler table, derived from the operation table."""
        mapping = {
            AUTH_PATH: grpclib.const.Handler(
                self._authenticate, Cardinality.UNARY_UNARY, auth_pb.AuthenticateRequest, auth_pb.AuthenticateResponse
            )
        }
        for operation in OPERATIONS.values():
            mapping[operation.path] = grpclib.const.Handler(
                partial(self._serve, operation),
                Cardinality.UNARY_STREAM if operation.streaming else Cardinality.UNARY_UNARY,
                message_type(operation.request_type),
                message_type(operation.response_type),
            )
        return mapping

    def _drop(self, stream: grpclib.server.Stream[Any, Any]) -> None:
        peer = stream.peer.addr() if stream.peer is not None else None
        for protocol in list(self._connections):
            if not _closed(protocol) and protocol.connection.get_peer().addr() == peer:
                logger.debug("dropping the connection from %s (fault injection)", peer)
                protocol.processor.close("dropped by the emulator")

    async def _suffer(self, name: str, stream: grpclib.server.Stream[Any, Any]) -> _Fault | None:
        """Apply the call's faults that come before an answer; ``None`` when nothing is left to do."""
        fault = self._take_fault(name)
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop_after == 0:
            self._drop(stream)
            raise _Dropped
        if fault.failure is not None:
            raise GRPCError(*fault.failure)
        return fault

    async def _authenticate(self, stream: grpclib.server.Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        self.received[_AUTHENTICATE] += 1
        try:
            await self._suffer(_AUTHENTICATE, stream)
        except _Dropped:
            return
        assert request is not None
        credentials = request.credentials
        valid = (
            hmac.compare_digest(request.entity.encode(), self.api_key_id.encode())
            and credentials.type == "api-key"
            and hmac.compare_digest(credentials.payload.encode(), self.api_key.encode())
        )
        if not valid:
            raise GRPCError(Status.UNAUTHENTICATED, "invalid API key or API key id")
        await stream.send_message(auth_pb.AuthenticateResponse(access_token=self.issue_token()))
        self.sent[_AUTHENTICATE] += 1

    def _check_token(self, stream: grpclib.server.Stream[Any, Any]) -> None:
        header = stream.metadata.get("authorization", "") if stream.metadata is not None else ""
        scheme, _, token = str(header).partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise GRPCError(Status.UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata")
        issued = self._tokens.get(token)
        if issued is None or (self.token_ttl is not None and time.monotonic() - issued > self.token_ttl):
            raise GRPCError(Status.UNAUTHENTICATED, "the access token is invalid or has expired")

    async def _serve(self, operation: Operation[Any, Any], stream: grpclib.server.Stream[Any, Any]) -> None:
        name = operation.name
        message = await stream.recv_message()
        self.received[name] += 1
        if stream.metadata is not None:
            self.received_metadata.append(
                (name, {key: str(value) for key, value in stream.metadata.items() if key != "authorization"})
            )
        try:
            fault = await self._suffer(name, stream)
            self._check_token(stream)
            request = from_message(operation.request_type, message)
            result = await self._answer(operation, request)
            if fault is not None and fault.lost is not None:
                await self._lose_answer(fault.lost, stream)
                return
            if not operation.streaming:
                await stream.send_message(to_message(result))
                self.sent[name] += 1
                return
            drop_after = fault.drop_after if fault is not None else None
            chunks = _each(result)
            try:
                sent = 0
                async for chunk in chunks:
                    if drop_after is not None and sent >= drop_after:
                        self._drop(stream)
                        return
                    await stream.send_message(to_message(chunk))
                    self.sent[name] += 1
                    sent += 1
            finally:
                # Also when the client cancelled: the handler's generator learns it now, not when collected.
                await chunks.aclose()
        except _Dropped:
            return
        except StatusError as exc:
            raise GRPCError(_grpc_status(exc.code), exc.message) from exc
        except asyncio.CancelledError:
            if not self._stopping:
                self.cancelled[name] += 1
            raise

    async def _lose_answer(self, how: str, stream: grpclib.server.Stream[Any, Any]) -> None:
        """The call was carried out: now drop its connection, or wait until the client gives up on it."""
        if how == "drop":
            self._drop(stream)
            return
        # Never set: the wait ends when grpclib cancels this handler (stream reset, connection lost, stop).
        await asyncio.Event().wait()

    async def _answer(self, operation: Operation[Any, Any], request: Model) -> Any:
        """The seed's answer to ``request``, or the handler's: a model, or the chunks of a stream."""
        if self._handler is None:
            return self._state.handlers[operation.name](request)
        result: Any = self._handler(operation, request)
        if inspect.isawaitable(result):
            result = await result
        if operation.streaming:
            if not isinstance(result, (Iterable, AsyncIterable)):
                raise TypeError(f"the emulator's handler returned {result!r} for {operation.name}; expected chunks")
        elif not isinstance(result, operation.response_type):
            raise TypeError(
                f"the emulator's handler returned {type(result).__name__} for {operation.name}; "
                f"expected {operation.response_type.__name__}"
            )
        return result

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def _listen(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP spelled out: grpclib turns Nagle's algorithm off only on sockets that say they are TCP,
        # and without that every answer waits for a delayed ACK (40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        return sock

    async def _start_here(self) -> None:
        sock = self._listen()
        try:
            server = _Server([self], config=Configuration(), on_connection=self._connections.add)
            await server.start(sock=sock, ssl=self._ssl_context)
        except BaseException:
            sock.close()
            raise
        self._stopping = False
        self._server = server
        logger.debug("emulator listening on %s", self.address)

    async def _stop_here(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        server.close()
        for protocol in list(self._connections):
            if not _closed(protocol):
                protocol.processor.close("the emulator is stopping")
        self._connections.clear()
        await server.wait_closed()
        await _transports_gone(server)

    async def _start_in_thread(self) -> None:
        # The thread's tasks inherit the trio caller's context, where sniffio's variable says "trio"; the server's
        # tasks (and a handler using anyio) must see the asyncio loop they run on.
        import sniffio

        sniffio.current_async_library_cvar.set(None)
        await self._start_here()

    async def start(self) -> None:
        """Start serving; under trio, in a thread of its own. Prefer ``async with``."""
        if self._server is not None or self._thread is not None:
            raise RuntimeError("this emulator is already running")
        if asyncio._get_running_loop() is not None:
            await self._start_here()
            return
        from .._bridge import LoopThread

        thread = LoopThread("viam-billing-emulator")
        try:
            await thread.run(self._start_in_thread)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await thread.aclose()
            raise
        self._thread = thread

    async def aclose(self) -> None:
        """Stop serving: close every connection, wait for the handlers, release the port (and the thread)."""
        with anyio.CancelScope(shield=True):
            thread, self._thread = self._thread, None
            if thread is None:
                await self._stop_here()
                return
            try:
                await thread.run(self._stop_here)
            finally:
                await thread.aclose()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @classmethod
    def run(
        cls,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        ready: Callable[[Emulator], None] | None = None,
        **options: Any,
    ) -> None:
        """Serve on ``host:port`` until interrupted (Ctrl-C or SIGTERM): blocking, for command lines.

        Unless given, the credentials are :data:`DEFAULT_API_KEY` and :data:`DEFAULT_API_KEY_ID`. ``ready`` is
        called with the running emulator once it listens (``port=0`` picks a free port). Other keywords are
        the constructor's.
        """
        options.setdefault("api_key", DEFAULT_API_KEY)
        options.setdefault("api_key_id", DEFAULT_API_KEY_ID)
        emulator = cls(host=host, port=port, **options)
        asyncio.run(emulator._serve_until_signalled(ready))

    async def _serve_until_signalled(self, ready: Callable[[Emulator], None] | None) -> None:
        await self._start_here()
        server = self._server
        assert server is not None
        try:
            with graceful_exit([server]):
                if ready is not None:
                    ready(self)
                await server.wait_closed()
        finally:
            await self._stop_here()


async def _transports_gone(server: grpclib.server.Server, within: float = 1.0) -> None:
    """Wait (bounded) until every accepted connection's transport is gone, so that no socket outlives stop.

    A TLS connection whose handshake failed never reaches grpclib, so it cannot be closed from here; asyncio
    closes it a moment later. Python 3.11 has no public count of those transports: the private one is read,
    and without it one loop turn is all that is waited for.
    """
    listener = getattr(server, "_server", None)
    deadline = time.monotonic() + within
    await asyncio.sleep(0)  # the close callbacks of the connections closed above run now
    while getattr(listener, "_active_count", 0) and time.monotonic() < deadline:  # noqa: ASYNC110 - no event exists
        await asyncio.sleep(0.005)


def _closed(protocol: H2Protocol) -> bool:
    # A protocol whose TLS handshake failed never had connection_made(): it has no connection at all.
    return not hasattr(protocol, "connection") or protocol.connection.is_closing()


async def _each(chunks: Iterable[Model] | AsyncIterable[Model]) -> AsyncGenerator[Model, None]:
    """The chunks of a stream, from an iterable or an async iterable; closing this closes a generator given."""
    if not isinstance(chunks, AsyncIterable):
        iterator = iter(chunks)
        try:
            for chunk in iterator:
                yield chunk
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        return
    async_iterator = aiter(chunks)
    try:
        async for chunk in async_iterator:
            yield chunk
    finally:
        aclose = getattr(async_iterator, "aclose", None)
        if aclose is not None:
            await aclose()


class _Dropped(Exception):
    """The call's connection was dropped on purpose: nothing more to send."""
