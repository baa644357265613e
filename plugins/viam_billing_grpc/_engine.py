"""The gRPC calls themselves, made on one asyncio event loop with grpclib.

The engine works on protobuf messages; converting models is the transport's job. Under asyncio it runs on the
caller's loop; under trio, on the loop of the transport's own thread (see :mod:`._bridge`). Every failure
leaves it mapped to a viam_billing error (see :mod:`._errors`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, NoReturn, TypeVar

from grpclib.client import Channel, Stream
from grpclib.config import Configuration
from grpclib.const import Cardinality
from grpclib.exceptions import GRPCError
from viam_billing import ClientClosedError, Operation, ProtocolError, StatusCode, UnauthenticatedError
from viam_billing.plugin import CallContext, current_call
from viam_billing_protos._generated import auth_pb
from viam_billing_protos.codec import message_type

from ._address import Address
from ._auth import Authenticator, Credentials, Metadata, header_problem, observer_metadata
from ._connection import GrpcChannel
from ._errors import AUTH_OPERATION, ExtraReply, NoReply, Unprocessed, is_connection_loss, map_error
from ._retry import RetryPolicy

__all__ = ["AUTH_PATH", "Engine", "Plan", "Pump", "StreamCall"]

logger = logging.getLogger("viam_billing_grpc")

AUTH_PATH = "/proto.rpc.v1.AuthService/Authenticate"

_UNARY = Cardinality.UNARY_UNARY
_SERVER_STREAM = Cardinality.UNARY_STREAM
_UNAUTHENTICATED = StatusCode.UNAUTHENTICATED.value

_TRANSPARENT_RETRIES = 4
"""How many times one call is sent again, at once and whatever the operation, because the service did not
process it (it never got a stream, or came after the last stream of a GOAWAY). Bounded, so that a server that
turns every connection away cannot keep a call without a deadline forever; past it, a safe read goes on under
its retry policy and any other call fails, saying it had no effect."""

T = TypeVar("T")


class Plan(NamedTuple):
    """What a call needs on the wire and for retrying, worked out once per operation rather than on every call."""

    name: str
    path: str
    request_type: Any
    reply_type: Any
    idempotent: bool
    """Whether the call is safe to repeat: only such calls are retried."""
    response_model: Any = None
    """The model class of the replies, for the transport to convert them."""

    @classmethod
    def of(cls, operation: Operation[Any, Any]) -> Plan:
        """The plan of a billing operation."""
        model = operation.response_type
        request_type, reply_type = message_type(operation.request_type), message_type(model)
        return cls(operation.name, operation.path, request_type, reply_type, operation.idempotent, model)


_AUTH_PLAN = Plan(AUTH_OPERATION, AUTH_PATH, auth_pb.AuthenticateRequest, auth_pb.AuthenticateResponse, True)
"""``AuthService/Authenticate``: safe to repeat, so retried like a read."""


class _Abandoned(Exception):
    """Handed to grpclib's stream exit when the caller leaves before the end: it resets the stream."""


class Engine:
    """Unary and server-streaming calls with authentication, deadlines and retries on one event loop.

    ``channel`` is a grpclib channel to use instead of dialling ``address`` (and which is then not closed).
    ``max_message`` is the largest reply message accepted, in bytes (on the connections it dials).
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        target: str,
        credentials: Credentials,
        retry: RetryPolicy,
        auth_timeout: float,
        address: Address | None = None,
        ssl_context: ssl.SSLContext | None = None,
        config: Configuration | None = None,
        channel: Channel | None = None,
        max_message: int = 4 << 20,
    ) -> None:
        self.loop = loop
        self._target = target
        self._retry = retry
        self._auth_timeout = auth_timeout
        self._address = address
        self._ssl_context = ssl_context
        self._config = config
        self._channel = channel
        self._owns_channel = channel is None
        self._max_message = max_message
        self._server = _server_of(address, channel)
        """``(host, port)`` of the service as configured, for observers (semantic conventions: not the peer IP)."""
        self.auth = Authenticator(credentials, self._handshake)
        self.closed = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        """The tasks running a call (in :meth:`_call`), for :meth:`aclose` to cancel."""
        self._cancelled_by_close: set[asyncio.Task[Any]] = set()

    def _get_channel(self) -> Channel:
        channel = self._channel
        if channel is None:
            if self.closed:
                raise ClientClosedError("the transport is closed")
            address = self._address
            assert address is not None
            # Built here, on the loop that will use it: grpclib binds a channel to the loop current at creation.
            channel = self._channel = GrpcChannel(
                address.host, address.port, ssl=self._ssl_context, config=self._config, max_message=self._max_message
            )
            logger.debug("dialling %s on first use", self._target)
        return channel

    # -- calls -------------------------------------------------------------------------------------------------

    async def unary(self, plan: Plan, message: Any, timeout: float | None) -> Any:
        """Send ``message`` and return the reply message; retries, re-authentication and deadline included."""
        return await self._call(plan, message, timeout, self._exchange, self.auth, self._observed())

    async def open_stream(self, plan: Plan, message: Any, timeout: float | None) -> StreamCall:
        """Start a server-streaming call and wait for its first message (or its end).

        Failures before the first message are retried like a unary call's; once a message has been received,
        nothing is retried. The deadline covers the whole stream.
        """
        stream, first = await self._call(plan, message, timeout, self._open, self.auth, self._observed())
        return StreamCall(stream, first, plan, self, timeout)

    def _observed(self) -> CallContext | None:
        """The observed call this task is making (see :func:`viam_billing.plugin.current_call`), told which
        server it goes to; ``None`` when nothing observes it. Under trio the context crossed the bridge."""
        call = current_call()
        if call is not None:
            call.server_address, call.server_port = self._server
        return call

    async def open_pump(self, plan: Plan, message: Any, timeout: float | None, capacity: int) -> Pump:
        """:meth:`open_stream`, then read ahead into a buffer of ``capacity`` messages (for the trio bridge)."""
        return Pump(await self.open_stream(plan, message, timeout), capacity)

    async def _handshake(self, api_key_id: str, api_key: str) -> str:
        """``AuthService/Authenticate``: exchange the API key for an access token, retried like a safe read."""
        request = auth_pb.AuthenticateRequest(
            entity=api_key_id, credentials=auth_pb.Credentials(type="api-key", payload=api_key)
        )
        reply = await self._call(_AUTH_PLAN, request, self._auth_timeout, self._exchange, None)
        token = str(reply.access_token)
        if not token:
            raise UnauthenticatedError("the service answered without an access token", operation=AUTH_OPERATION)
        problem = header_problem(token)
        if problem is not None:
            # Never shown: even a token that cannot be used is a secret.
            raise ProtocolError(
                f"{self._target} answered with an access token that cannot be sent in an HTTP/2 header: it "
                f"contains {problem} (the token is not shown)",
                operation=AUTH_OPERATION,
            )
        logger.debug("authenticated to %s", self._target)
        return token

    async def _call(
        self,
        plan: Plan,
        message: Any,
        timeout: float | None,
        attempt: Callable[[Plan, Any, Metadata | None, float | None], Awaitable[T]],
        auth: Authenticator | None,
        call: CallContext | None = None,
    ) -> T:
        """Make ``attempt(plan, message, metadata, remaining seconds)`` until one succeeds; return its result.

        Every call goes through here: unary, streaming and the handshake itself (with no ``auth``). With ``auth``,
        each attempt first gets the metadata (one handshake shared by concurrent calls), and a call refused as
        UNAUTHENTICATED with a token that worked before is made once more after a new handshake. A call the
        service did not process (:class:`~._errors.Unprocessed`) is sent again at once, whatever the operation, a
        few times. A failure is retried under the retry policy when the plan is idempotent, with backoff, never
        past the deadline (from ``timeout``); otherwise it is raised mapped to our error tree. Cancellation passes
        through untouched, except the one :meth:`aclose` causes, which becomes
        :class:`~viam_billing.ClientClosedError`.

        ``call`` is the observed billing call (never the handshake's): every attempt carries the metadata its
        observers added, after the credentials, and each attempt sent again is reported to it.
        """
        if self.closed:
            raise ClientClosedError("the transport is closed", operation=plan.name)
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        cancels = task.cancelling()
        deadline = None if timeout is None else time.monotonic() + timeout
        attempts = 1
        transparent = 0
        refreshed = False
        tries = 0  # attempts of every kind, for observers
        extra = observer_metadata(call.metadata) if call is not None and call.metadata else ()
        try:
            while True:
                tries += 1
                metadata = None
                try:
                    if auth is not None:
                        metadata = auth.metadata
                        if metadata is None:
                            metadata = await auth.ensure(deadline)
                    # ``metadata`` stays the authenticator's own object: it tells tokens apart by identity.
                    sent = metadata + extra if extra and metadata is not None else metadata
                    result = await attempt(plan, message, sent, None if deadline is None else _remaining(deadline))
                except Exception as exc:
                    _settle_cancels(task, cancels)
                    if self.closed:
                        self._cancelled_by_close.discard(task)
                        self._raise_mapped(exc, plan, timeout)
                    if isinstance(exc, Unprocessed) and transparent < _TRANSPARENT_RETRIES:
                        transparent += 1
                        logger.debug("%s was not processed (%s); sending it again", plan.name, exc)
                        if call is not None:
                            call.record_retry(tries, _failure_kind(exc))
                        continue
                    if (
                        not refreshed
                        and auth is not None
                        and metadata is not None
                        and _refused(exc)
                        and auth.retry_after_refusal(metadata)
                    ):
                        refreshed = True
                        if call is not None:
                            call.record_retry(tries, _failure_kind(exc))
                        continue
                    delay = self._retry_delay(exc, attempts, deadline) if plan.idempotent else None
                    if delay is None:
                        self._raise_mapped(exc, plan, timeout)
                    self._log_retry(plan.name, exc, attempts, delay)
                    if call is not None:
                        call.record_retry(tries, _failure_kind(exc), delay)
                    await asyncio.sleep(delay)
                    attempts += 1
                    continue
                if auth is not None:
                    auth.accepted = metadata
                return result
        except asyncio.CancelledError:
            if task in self._cancelled_by_close:
                self._cancelled_by_close.discard(task)
                if task.uncancel() == 0:  # nobody else cancelled it: the close is what ends the call
                    raise self._closed_error(plan) from None
            raise
        finally:
            self._in_flight.discard(task)

    async def _exchange(self, plan: Plan, message: Any, metadata: Metadata | None, timeout: float | None) -> Any:
        """One unary attempt: the reply message.

        A reply with status OK must hold exactly one message: none raises :class:`~._errors.NoReply`, two
        :class:`~._errors.ExtraReply`. A status other than OK is raised as grpclib's ``GRPCError``.
        """
        async with self._get_channel().request(
            plan.path, _UNARY, plan.request_type, plan.reply_type, timeout=timeout, metadata=metadata
        ) as stream:
            await stream.send_message(message, end=True)
            reply = await stream.recv_message()
            if reply is None:
                await stream.recv_trailing_metadata()  # a status other than OK is the answer; raised here
                raise NoReply
            if await stream.recv_message() is not None:
                raise ExtraReply
            return reply

    async def _open(
        self, plan: Plan, message: Any, metadata: Metadata | None, timeout: float | None
    ) -> tuple[Stream[Any, Any], Any]:
        """One streaming attempt: the open stream and its first message (``None`` if it ended without one)."""
        stream = (
            await self._get_channel()
            .request(plan.path, _SERVER_STREAM, plan.request_type, plan.reply_type, timeout=timeout, metadata=metadata)
            .__aenter__()
        )
        try:
            await stream.send_message(message, end=True)
            first = await stream.recv_message()
            if first is None:
                await stream.recv_trailing_metadata()
        except BaseException as exc:
            failure = await _release(stream, exc)
            if failure is not exc and isinstance(failure, Exception):
                raise failure from exc  # what grpclib made of it: the deadline's TimeoutError, a status already sent
            raise
        return stream, first

    # -- retries -------------------------------------------------------------------------------------------------

    def _retry_delay(self, exc: Exception, attempt: int, deadline: float | None) -> float | None:
        """Seconds to wait before trying again after ``exc``, or ``None`` to give up."""
        retry = self._retry
        if attempt >= retry.max_attempts:
            return None
        if isinstance(exc, GRPCError):
            if exc.status.value not in retry.retry_on:
                return None
        elif not is_connection_loss(exc):
            return None
        delay = retry.backoff(attempt)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return None
        return delay

    def _log_retry(self, name: str, exc: Exception, attempt: int, delay: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s failed (%s) on attempt %d of %d; retrying in %.3f s",
                name,
                _failure_kind(exc),
                attempt,
                self._retry.max_attempts,
                delay,
            )

    def _raise_mapped(self, failure: Exception, plan: Plan, timeout: float | None) -> NoReturn:
        """Raise ``failure`` mapped to our error tree (``raise ... from failure``); once the engine is closed, as
        :class:`~viam_billing.ClientClosedError`. A failure that is not a transport error (a bug, say) is raised
        as it is, to stay visible."""
        if self.closed:
            raise self._closed_error(plan) from failure
        mapped = map_error(
            failure, operation=plan.name, target=self._target, timeout=timeout, idempotent=plan.idempotent
        )
        if mapped is failure:
            raise failure
        raise mapped from failure

    def _closed_error(self, plan: Plan) -> ClientClosedError:
        outcome = "" if plan.idempotent else "; the service may or may not have acted on it"
        return ClientClosedError(
            f"the client was closed while the call to {self._target} was in flight: it was cancelled, and not "
            f"retried{outcome}",
            operation=plan.name,
        )

    # -- closing -------------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Cancel the calls in flight (each raises :class:`~viam_billing.ClientClosedError`; none is retried),
        stop a handshake in progress and close the channel this engine dialled, sockets included."""
        self.closed = True
        current = asyncio.current_task()
        cancelled = [task for task in self._in_flight if task is not current]
        for task in cancelled:
            self._cancelled_by_close.add(task)
            task.cancel()
        if cancelled:
            # Let them unwind (resetting their streams) before the channel closes under them: its closing would
            # cancel those inside grpclib a second time.
            await asyncio.sleep(0)
        await self.auth.aclose()
        channel, self._channel = self._channel, None
        if isinstance(channel, GrpcChannel) and self._owns_channel:
            await channel.aclose()


def _failure_kind(exc: Exception) -> str:
    """A short, low-cardinality name for why an attempt failed: its gRPC status name (``"UNAVAILABLE"``), else
    the exception's class name (``"Unprocessed"``, ``"ConnectionResetError"``). Never the message."""
    return exc.status.name if isinstance(exc, GRPCError) else type(exc).__name__


def _server_of(address: Address | None, channel: Channel | None) -> tuple[str | None, int | None]:
    """The service's host and port as configured: from the address dialled, or read from a channel given."""
    if address is not None:
        return address.host, address.port
    # grpclib keeps what its Channel was made with but does not publish it; a socket path has no port.
    path = getattr(channel, "_path", None)
    if isinstance(path, str):
        return path, None
    host, port = getattr(channel, "_host", None), getattr(channel, "_port", None)
    return (host if isinstance(host, str) else None), (port if isinstance(port, int) else None)


def _settle_cancels(task: asyncio.Task[Any], count: int) -> None:
    """Withdraw the cancellations of ``task`` that grpclib requested and turned into its own errors.

    grpclib ends a call waiting on a stream by cancelling its task (its deadline, a stream cut off, a GOAWAY
    here) and raises an error instead of the ``CancelledError``, but never withdraws the request. asyncio counts
    each one (``Task.cancelling()``), and a count left behind makes an enclosing ``asyncio.timeout()`` or anyio
    cancel scope believe its task is being cancelled from outside. Called with the count from before the call,
    once an attempt has failed with an ``Exception``.
    """
    while task.cancelling() > count:
        task.uncancel()


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the deadline passed before the call could be sent")
    return remaining


def _refused(exc: Exception) -> bool:
    return isinstance(exc, GRPCError) and exc.status.value == _UNAUTHENTICATED


async def _release(stream: Stream[Any, Any], reason: BaseException | None) -> BaseException | None:
    """Leave grpclib's stream context without waiting for the server; return the error to report.

    With a ``reason`` (an error, a cancellation, or abandonment) a stream that is still open is reset on the
    wire (RST_STREAM) and its unread data is given back to the connection's flow-control window. When the
    connection broke, grpclib may turn ``reason`` into the status the server had already sent: that one is
    returned instead.
    """
    try:
        if reason is None:
            await stream.__aexit__(None, None, None)
        else:
            await stream.__aexit__(type(reason), reason, reason.__traceback__)
    except Exception as better:
        return better
    return reason


class StreamCall:
    """An open server-streaming call: :meth:`recv` its messages, then :meth:`aclose` it (always)."""

    __slots__ = ("_ended", "_engine", "_first", "_plan", "_released", "_stream", "_timeout")

    def __init__(self, stream: Stream[Any, Any], first: Any, plan: Plan, engine: Engine, timeout: float | None) -> None:
        self._stream = stream
        self._first = first
        self._ended = first is None
        self._released = False
        self._plan = plan
        self._engine = engine
        self._timeout = timeout

    async def recv(self) -> Any:
        """Return the next message, or ``None`` once the stream ended with status OK."""
        first = self._first
        if first is not None:
            self._first = None
            return first
        if self._ended:
            return None
        task = asyncio.current_task()
        assert task is not None
        cancels = task.cancelling()
        try:
            message = await self._stream.recv_message()
            if message is None:
                await self._stream.recv_trailing_metadata()
                self._ended = True
        except Exception as exc:
            _settle_cancels(task, cancels)
            self._ended = True
            self._released = True
            failure = await _release(self._stream, exc)
            assert isinstance(failure, Exception)
            self._engine._raise_mapped(failure, self._plan, self._timeout)
        return message

    async def aclose(self) -> None:
        """Release the stream; one still running is cancelled on the wire, without waiting for the server."""
        if self._released:
            return
        self._released = True
        await _release(self._stream, None if self._ended else _Abandoned())


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class Pump:
    """Reads a :class:`StreamCall` ahead into a bounded queue, handed out in batches.

    The bound is the backpressure: when the consumer falls behind, reading stops, grpclib stops acknowledging
    data and HTTP/2 flow control holds the server back.
    """

    def __init__(self, call: StreamCall, capacity: int) -> None:
        self._call = call
        self._queue: asyncio.Queue[Any] = asyncio.Queue(capacity)
        self._ended = False
        self._error: Exception | None = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                message = await self._call.recv()
                await queue.put(message)
                if message is None:
                    return
        except Exception as exc:
            await queue.put(_Failure(exc))

    async def next_batch(self) -> tuple[list[Any], bool]:
        """Wait for at least one message; return every message buffered and whether the stream ended.

        Raises the stream's error once the messages before it were handed out.
        """
        if self._error is not None:
            raise self._error
        if self._ended:
            return [], True
        queue = self._queue
        item = await queue.get()
        batch: list[Any] = []
        while True:
            if item is None:
                self._ended = True
                break
            if isinstance(item, _Failure):
                if not batch:
                    raise item.error
                self._error = item.error
                break
            batch.append(item)
            if queue.empty():
                break
            item = queue.get_nowait()
        return batch, self._ended

    async def aclose(self) -> None:
        """Stop reading and release the call (cancelling it on the wire if it had not ended)."""
        task = self._task
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        await self._call.aclose()
