"""The gRPC calls themselves, made on one asyncio event loop with grpclib.

The engine works on protobuf messages; converting models is the transport's job. Under asyncio it runs on the
caller's loop; under trio, on the loop of the transport's own thread (see :mod:`._bridge`). Every failure
leaves it mapped to a viam_billing error (see :mod:`._errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, NoReturn, TypeVar

from grpclib.client import Channel, Stream
from grpclib.client import Handler as ClientHandler
from grpclib.config import Configuration
from grpclib.const import Cardinality
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from viam_billing import Operation, StatusCode, UnauthenticatedError
from viam_billing_protos._generated import auth_pb
from viam_billing_protos.codec import message_type

from ._address import Address
from ._auth import Authenticator, Credentials, Metadata
from ._errors import AUTH_OPERATION, is_connection_loss, map_error
from ._retry import RetryPolicy

__all__ = ["AUTH_PATH", "Engine", "Plan", "Pump", "StreamCall"]

logger = logging.getLogger("viam_billing_grpc")

AUTH_PATH = "/proto.rpc.v1.AuthService/Authenticate"

_UNARY = Cardinality.UNARY_UNARY
_SERVER_STREAM = Cardinality.UNARY_STREAM
_UNAUTHENTICATED = StatusCode.UNAUTHENTICATED.value

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


class _Protocol(H2Protocol):
    """grpclib's connection protocol, keeping its transport so that closing can make sure the socket is gone."""

    transport: asyncio.BaseTransport | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.gone = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            self.gone.set()


class _Channel(Channel):
    """A grpclib channel whose :meth:`aclose` returns only once its sockets are closed.

    grpclib's ``close()`` starts a graceful close (after buffered data, after the TLS goodbye) that a loop
    stopping next, as the trio bridge's does, would cut short, leaving the socket to the garbage collector.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracked: list[_Protocol] = []

    def _protocol_factory(self) -> H2Protocol:
        # grpclib offers no public hook on new connections; this mirrors its own factory.
        protocol = _Protocol(ClientHandler(), self._config, self._h2_config)
        self._tracked = [p for p in self._tracked if not p.gone.is_set()]
        self._tracked.append(protocol)
        return protocol

    async def aclose(self, within: float = 1.0) -> None:
        tracked, self._tracked = self._tracked, []
        self.close()
        opened = [p for p in tracked if p.transport is not None]
        for protocol in opened:
            if not protocol.gone.is_set():
                protocol.transport.abort()  # type: ignore[union-attr]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.gone.wait() for p in opened)), within)


class _Abandoned(Exception):
    """Handed to grpclib's stream exit when the caller leaves before the end: it resets the stream."""


class Engine:
    """Unary and server-streaming calls with authentication, deadlines and retries on one event loop.

    ``channel`` is a grpclib channel to use instead of dialling ``address`` (and which is then not closed).
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
        self.auth = Authenticator(credentials, self._handshake)

    def _get_channel(self) -> Channel:
        channel = self._channel
        if channel is None:
            address = self._address
            assert address is not None
            # Built here, on the loop that will use it: grpclib binds a channel to the loop current at creation.
            channel = self._channel = _Channel(address.host, address.port, ssl=self._ssl_context, config=self._config)
            logger.debug("dialling %s on first use", self._target)
        return channel

    # -- calls -------------------------------------------------------------------------------------------------

    async def unary(self, plan: Plan, message: Any, timeout: float | None) -> Any:
        """Send ``message`` and return the reply message; retries, re-authentication and deadline included."""
        return await self._call(plan, message, timeout, self._exchange, self.auth)

    async def open_stream(self, plan: Plan, message: Any, timeout: float | None) -> StreamCall:
        """Start a server-streaming call and wait for its first message (or its end).

        Failures before the first message are retried like a unary call's; once a message has been received,
        nothing is retried. The deadline covers the whole stream.
        """
        stream, first = await self._call(plan, message, timeout, self._open, self.auth)
        return StreamCall(stream, first, plan.name, self._target, timeout)

    async def open_pump(self, plan: Plan, message: Any, timeout: float | None, capacity: int) -> Pump:
        """:meth:`open_stream`, then read ahead into a buffer of ``capacity`` messages (for the trio bridge)."""
        return Pump(await self.open_stream(plan, message, timeout), capacity)

    async def _handshake(self, api_key_id: str, api_key: str) -> str:
        """``AuthService/Authenticate``: exchange the API key for an access token, retried like a safe read."""
        request = auth_pb.AuthenticateRequest(
            entity=api_key_id, credentials=auth_pb.Credentials(type="api-key", payload=api_key)
        )
        reply = await self._call(_AUTH_PLAN, request, self._auth_timeout, self._exchange, None)
        token = str(reply.access_token) if reply is not None else ""
        if not token:
            raise UnauthenticatedError("the service answered without an access token", operation=AUTH_OPERATION)
        logger.debug("authenticated to %s", self._target)
        return token

    async def _call(
        self,
        plan: Plan,
        message: Any,
        timeout: float | None,
        attempt: Callable[[Plan, Any, Metadata | None, float | None], Awaitable[T]],
        auth: Authenticator | None,
    ) -> T:
        """Make ``attempt(plan, message, metadata, remaining seconds)`` until one succeeds; return its result.

        Every call goes through here: unary, streaming and the handshake itself (with no ``auth``). With ``auth``,
        each attempt first gets the metadata (one handshake shared by concurrent calls), and a call refused as
        UNAUTHENTICATED with a token that worked before is made once more after a new handshake. A failure is
        retried under the retry policy when the plan is idempotent, with backoff, never past the deadline (from
        ``timeout``); otherwise it is raised mapped to our error tree. Cancellation passes through untouched.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        attempts = 1
        refreshed = False
        while True:
            metadata = None
            try:
                if auth is not None:
                    metadata = auth.metadata
                    if metadata is None:
                        metadata = await auth.ensure(deadline)
                result = await attempt(plan, message, metadata, None if deadline is None else _remaining(deadline))
            except Exception as exc:
                if (
                    not refreshed
                    and auth is not None
                    and metadata is not None
                    and _refused(exc)
                    and auth.retry_after_refusal(metadata)
                ):
                    refreshed = True
                    continue
                delay = self._retry_delay(exc, attempts, deadline) if plan.idempotent else None
                if delay is None:
                    _raise_mapped(exc, plan.name, self._target, timeout)
                self._log_retry(plan.name, exc, attempts, delay)
                await asyncio.sleep(delay)
                attempts += 1
                continue
            if auth is not None:
                auth.accepted = metadata
            return result

    async def _exchange(self, plan: Plan, message: Any, metadata: Metadata | None, timeout: float | None) -> Any:
        """One unary attempt: the reply message (``None`` if the service sent none)."""
        async with self._get_channel().request(
            plan.path, _UNARY, plan.request_type, plan.reply_type, timeout=timeout, metadata=metadata
        ) as stream:
            await stream.send_message(message, end=True)
            return await stream.recv_message()

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
            reason = f"{exc.status.name}" if isinstance(exc, GRPCError) else type(exc).__name__
            logger.debug(
                "%s failed (%s) on attempt %d of %d; retrying in %.3f s",
                name,
                reason,
                attempt,
                self._retry.max_attempts,
                delay,
            )

    # -- closing -------------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop a handshake in progress and close the channel this engine dialled."""
        await self.auth.aclose()
        channel, self._channel = self._channel, None
        if isinstance(channel, _Channel) and self._owns_channel:
            await channel.aclose()


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the deadline passed before the call could be sent")
    return remaining


def _refused(exc: Exception) -> bool:
    return isinstance(exc, GRPCError) and exc.status.value == _UNAUTHENTICATED


def _raise_mapped(failure: Exception, name: str, target: str, timeout: float | None) -> NoReturn:
    """Raise ``failure`` mapped to our error tree (``raise ... from failure``); a failure that is not a transport
    error (a bug, say) is raised as it is, to stay visible."""
    mapped = map_error(failure, operation=name, target=target, timeout=timeout)
    if mapped is failure:
        raise failure
    raise mapped from failure


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

    __slots__ = ("_ended", "_first", "_name", "_released", "_stream", "_target", "_timeout")

    def __init__(self, stream: Stream[Any, Any], first: Any, name: str, target: str, timeout: float | None) -> None:
        self._stream = stream
        self._first = first
        self._ended = first is None
        self._released = False
        self._name = name
        self._target = target
        self._timeout = timeout

    async def recv(self) -> Any:
        """Return the next message, or ``None`` once the stream ended with status OK."""
        first = self._first
        if first is not None:
            self._first = None
            return first
        if self._ended:
            return None
        try:
            message = await self._stream.recv_message()
            if message is None:
                await self._stream.recv_trailing_metadata()
                self._ended = True
        except Exception as exc:
            self._ended = True
            self._released = True
            failure = await _release(self._stream, exc)
            assert isinstance(failure, Exception)
            _raise_mapped(failure, self._name, self._target, self._timeout)
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
