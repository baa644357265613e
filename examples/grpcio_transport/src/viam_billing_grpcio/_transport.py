"""``GrpcioTransport``: the billing service over grpcio's asyncio API, without generated stubs.

Every RPC is called by its path from viam_billing's operation table with grpc.aio's generic multi-callables;
requests and replies cross as bytes, encoded and decoded with viam_billing_protos' codec. Whatever grpcio
raises is mapped into viam_billing's error tree here, at the edge; the caller's cancellation passes untouched.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar

import grpc
import grpc.aio
from viam_billing.plugin import (
    AsyncTransport,
    BillingError,
    ConfigurationError,
    DeadlineExceededError,
    Model,
    Operation,
    StatusCode,
    StatusError,
    TransportError,
    status_error,
)
from viam_billing_protos.codec import from_message, message_type, to_message

from ._auth import access_token, authenticate_request

__all__ = ["AUTH_PATH", "GrpcioTransport"]

AUTH_PATH = "/proto.rpc.v1.AuthService/Authenticate"
"""The gRPC path of the API-key handshake."""

_API_KEY_ENV = "VIAM_API_KEY"
_API_KEY_ID_ENV = "VIAM_API_KEY_ID"
_AUTHENTICATE = "Authenticate"
_UNAUTHENTICATED = StatusCode.UNAUTHENTICATED.value
_DEADLINE_EXCEEDED = StatusCode.DEADLINE_EXCEEDED.value

ResponseT = TypeVar("ResponseT", bound=Model)
T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]


class GrpcioTransport(AsyncTransport):
    """The billing service over ``grpc.aio``: the ``"grpcio"`` transport, for asyncio programs.

    Usually made by ``viam_billing.connect(transport="grpcio", ...)``, which hands over its keywords::

        async with viam_billing.connect(transport="grpcio", api_key=key, api_key_id=key_id) as billing:
            usage = await billing.get_current_month_usage(org_id)

    ``address`` is ``host:port`` (default ``app.viam.com:443``), over TLS with grpcio's trusted roots, or
    ``root_certificates`` (PEM bytes) for a private CA; ``insecure=True`` speaks plaintext (loopback, tests).
    Credentials are ``api_key`` with ``api_key_id``, exchanged on first use for an access token shared by all
    calls and renewed once when the service refuses it, or an ``access_token``; with neither, the
    ``VIAM_API_KEY`` and ``VIAM_API_KEY_ID`` environment variables. ``channel_options`` are grpcio channel
    arguments (``[("grpc.max_receive_message_length", 8 << 20)]``); ``auth_timeout`` bounds the handshake.

    The channel is made on first use, on the running asyncio event loop, and only that loop may use the
    transport. Under trio (grpc.aio has no trio support) a call raises :class:`~viam_billing.ConfigurationError`.
    Nothing is retried but a refused token. Raises :class:`~viam_billing.ConfigurationError` for options it
    cannot use; the ``repr`` shows the address, never a key or token.
    """

    def __init__(
        self,
        address: str = "app.viam.com:443",
        *,
        api_key: str | None = None,
        api_key_id: str | None = None,
        access_token: str | None = None,
        insecure: bool = False,
        root_certificates: bytes | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        auth_timeout: float = 30.0,
    ) -> None:
        if not isinstance(address, str) or "://" in address or ":" not in address:
            raise ConfigurationError(f"address must be 'host:port', got {address!r}")
        if not isinstance(insecure, bool):
            raise ConfigurationError(f"insecure must be True or False, got {insecure!r}")
        if root_certificates is not None and (insecure or not isinstance(root_certificates, bytes)):
            raise ConfigurationError("root_certificates must be PEM bytes, and only for TLS (without insecure=True)")
        if isinstance(auth_timeout, bool) or not isinstance(auth_timeout, (int, float)) or not auth_timeout > 0:
            raise ConfigurationError(f"auth_timeout must be a positive number of seconds, got {auth_timeout!r}")
        self._address = address
        self._insecure = insecure
        self._root_certificates = root_certificates
        self._channel_options = [(str(key), value) for key, value in channel_options]
        self._auth_timeout = float(auth_timeout)
        self._key, self._token = _credentials(api_key, api_key_id, access_token)
        self._given_token = self._token
        self._obtained: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel: grpc.aio.Channel | None = None
        self._auth_lock: asyncio.Lock | None = None
        self._closed = False

    def __repr__(self) -> str:
        security = "plaintext" if self._insecure else "tls"
        auth = "api-key" if self._key is not None else "access-token"
        return f"<GrpcioTransport {self._address} {security} auth={auth}{' closed' if self._closed else ''}>"

    def secrets(self) -> Iterator[str]:
        """The API key and its id, or the access token given, and every access token obtained (also after
        :meth:`aclose`): for wrappers that must keep them out of what they write."""
        if self._key is not None:
            yield from self._key
        if self._given_token is not None:
            yield self._given_token
        yield from self._obtained

    # -- the channel -----------------------------------------------------------------------------------------

    def _bind(self) -> grpc.aio.Channel:
        """The channel, made on first use on the running asyncio loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigurationError(
                "the grpcio transport runs on asyncio only (grpc.aio has no trio support); under trio, use "
                "viam-billing's own transport: connect(transport='grpc', ...)"
            ) from None
        if self._closed:
            raise BillingError(f"this grpcio transport to {self._address} is closed; make a new client")
        channel = self._channel
        if channel is None:
            options = [("grpc.primary_user_agent", "viam-billing-grpcio"), *self._channel_options]
            if self._insecure:
                channel = grpc.aio.insecure_channel(self._address, options=options)
            else:
                credentials = grpc.ssl_channel_credentials(root_certificates=self._root_certificates)
                channel = grpc.aio.secure_channel(self._address, credentials, options=options)
            self._channel, self._loop, self._auth_lock = channel, loop, asyncio.Lock()
        elif loop is not self._loop:
            raise BillingError(
                f"this grpcio transport to {self._address} was first used on another event loop; make one client "
                "per event loop"
            )
        return channel

    # -- authentication --------------------------------------------------------------------------------------

    async def _current_token(self, channel: grpc.aio.Channel) -> str:
        token = self._token
        if token is None:
            assert self._auth_lock is not None
            # One handshake for all the calls waiting on it; if its caller is cancelled, the next one does it.
            async with self._auth_lock:
                if self._token is None:
                    self._token = await self._authenticate(channel)
                token = self._token
        return token

    async def _authenticate(self, channel: grpc.aio.Channel) -> str:
        assert self._key is not None
        api_key_id, api_key = self._key
        call = channel.unary_unary(AUTH_PATH)(authenticate_request(api_key_id, api_key), timeout=self._auth_timeout)
        reply = await _finish(call, _AUTHENTICATE, self._auth_timeout)
        try:
            token = access_token(reply)
        except Exception as exc:  # protobuf's DecodeError: the reply is no AuthenticateResponse
            raise TransportError(
                f"{self._address} answered the handshake with something else than an AuthenticateResponse ({exc})",
                operation=_AUTHENTICATE,
            ) from exc
        if not token:
            raise status_error(
                _UNAUTHENTICATED, "the service answered without an access token", operation=_AUTHENTICATE
            )
        self._obtained.append(token)
        return token

    async def _authorized(self, channel: grpc.aio.Channel, attempt: Callable[[Metadata], Awaitable[T]]) -> T:
        """``attempt(metadata)``, made again once with a fresh token if the service refuses the one it had."""
        token = await self._current_token(channel)
        try:
            return await attempt(_bearer(token))
        except StatusError as exc:
            if exc.code != _UNAUTHENTICATED or self._key is None:
                raise
        # Refused before the call did anything: safe to make again, even a charge. Concurrent calls refused
        # alike share the one new handshake.
        if self._token == token:
            self._token = None
        return await attempt(_bearer(await self._current_token(channel)))

    # -- calls ---------------------------------------------------------------------------------------------------

    async def unary(self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None) -> ResponseT:
        payload = _encode(request)
        channel = self._bind()
        deadline = _deadline(timeout)
        multicallable = channel.unary_unary(operation.path)

        async def attempt(metadata: Metadata) -> bytes:
            call = multicallable(payload, timeout=_remaining(deadline), metadata=metadata)
            return await _finish(call, operation.name, timeout)

        with _local_deadline(operation.name, timeout):
            async with asyncio.timeout_at(deadline):
                reply = await self._authorized(channel, attempt)
        return _decode(operation, reply)

    def stream(
        self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None
    ) -> AbstractAsyncContextManager[AsyncIterator[ResponseT]]:
        return self._stream(operation, _encode(request), timeout)

    @asynccontextmanager
    async def _stream(
        self, operation: Operation[Any, ResponseT], payload: bytes, timeout: float | None
    ) -> AsyncIterator[AsyncIterator[ResponseT]]:
        channel = self._bind()
        deadline = _deadline(timeout)
        multicallable = channel.unary_stream(operation.path)

        async def attempt(metadata: Metadata) -> tuple[Any, Any]:
            # The first message is awaited here, so that a refused token shows before the caller reads.
            call = multicallable(payload, timeout=_remaining(deadline), metadata=metadata)
            try:
                return call, await _read(call, operation.name, timeout)
            except BaseException:
                call.cancel()
                raise

        with _local_deadline(operation.name, timeout):
            async with asyncio.timeout_at(deadline):
                call, first = await self._authorized(channel, attempt)
        messages = _messages(call, first, operation, timeout)
        try:
            yield messages
        finally:
            # Left early (break, an error, cancellation): the call is cancelled on the wire, not drained.
            call.cancel()
            await messages.aclose()

    async def aclose(self) -> None:
        """Close the channel, cancelling the calls still running. Calling it twice is harmless.

        Call it on the event loop that used the transport; anywhere else, the channel is left to grpcio.
        """
        if self._closed:
            return
        self._closed = True
        channel, self._channel = self._channel, None
        if channel is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self._loop:
            # Shielded: a cancelled caller must not leave the channel half closed.
            await asyncio.shield(channel.close())


def _credentials(
    api_key: str | None, api_key_id: str | None, token: str | None
) -> tuple[tuple[str, str] | None, str | None]:
    """``((api_key_id, api_key), None)`` or ``(None, access_token)``, from the options or the environment."""
    if token is not None:
        if api_key is not None or api_key_id is not None:
            raise ConfigurationError("give either access_token or api_key with api_key_id, not both")
        if not isinstance(token, str) or not token:
            raise ConfigurationError("access_token must be a non-empty string")
        return None, token
    if api_key is None and api_key_id is None:
        api_key, api_key_id = os.environ.get(_API_KEY_ENV), os.environ.get(_API_KEY_ID_ENV)
        if not api_key or not api_key_id:
            raise ConfigurationError(
                f"no credentials: pass api_key= and api_key_id= (or access_token=), or set {_API_KEY_ENV} and "
                f"{_API_KEY_ID_ENV}"
            )
    if not isinstance(api_key, str) or not api_key or not isinstance(api_key_id, str) or not api_key_id:
        raise ConfigurationError("api_key and api_key_id must both be given, as non-empty strings")
    return (api_key_id, api_key), None


# -- one call ------------------------------------------------------------------------------------------------


def _bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


def _remaining(deadline: float | None) -> float | None:
    """Seconds left for grpcio's own deadline, which the service also learns (the grpc-timeout header)."""
    if deadline is None:
        return None
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        raise TimeoutError
    return remaining


@contextmanager
def _local_deadline(operation: str, timeout: float | None) -> Iterator[None]:
    """Report the expiry of ``asyncio.timeout_at`` around a call (its handshake, and the wait for it, included)
    as :class:`~viam_billing.DeadlineExceededError`."""
    try:
        yield
    except TimeoutError as exc:
        if isinstance(exc, BillingError):
            raise
        raise DeadlineExceededError(f"no answer within {timeout} s", operation=operation) from exc


async def _finish(call: Any, operation: str, timeout: float | None) -> bytes:
    """The reply of a unary call, or its status as our error."""
    try:
        return await _untouched(call, call, operation)
    except grpc.aio.AioRpcError as exc:
        raise _status_error(exc, operation, timeout) from exc


async def _read(call: Any, operation: str, timeout: float | None) -> Any:
    """The next message of a stream (bytes), or ``grpc.aio.EOF`` after the last; its status as our error."""
    try:
        return await _untouched(call.read(), call, operation)
    except grpc.aio.AioRpcError as exc:
        raise _status_error(exc, operation, timeout) from exc


async def _untouched(awaitable: Awaitable[T], call: Any, operation: str) -> T:
    """Await grpc.aio's ``awaitable`` (of ``call``) so that cancelling this task reaches the caller as it was sent.

    Cancelled while awaiting its call, grpc.aio catches the cancellation and raises a new ``CancelledError`` in
    its place, without the message by which anyio's cancel scopes and ``asyncio.timeout`` know their own: theirs
    would escape them as a stranger. So this task waits on a shield, whose cancellation is this task's own, and
    cancels the call on the wire itself.
    """
    inner = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        call.cancel()
        inner.add_done_callback(_retrieve)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        # Not this task's cancellation: grpcio cancelled the call, which aclose() does to the calls running.
        raise BillingError("the transport was closed during the call", operation=operation) from None


def _retrieve(inner: asyncio.Future[Any]) -> None:
    # The outcome of a call nobody waits for any more (cancelled, or an error after the cancellation): taken,
    # so that asyncio does not log it as never retrieved.
    if not inner.cancelled():
        inner.exception()


async def _messages(
    call: Any, first: Any, operation: Operation[Any, ResponseT], timeout: float | None
) -> AsyncGenerator[ResponseT, None]:
    # Reads run under grpcio's deadline alone: a timeout scope must not stay open across a ``yield``.
    message = first
    while message is not grpc.aio.EOF:
        yield _decode(operation, message)
        message = await _read(call, operation.name, timeout)


def _status_error(exc: grpc.aio.AioRpcError, operation: str, timeout: float | None) -> StatusError:
    code = exc.code()
    number = code.value[0] if isinstance(code, grpc.StatusCode) else StatusCode.UNKNOWN.value
    message = exc.details() or ""
    if number == _UNAUTHENTICATED:
        hint = "check api_key and api_key_id" if operation == _AUTHENTICATE else "the access token was refused"
        message = f"{message} ({hint})" if message else hint
    elif number == _DEADLINE_EXCEEDED and timeout is not None:
        message = f"no answer within {timeout} s ({message})"
    return status_error(number, message, operation=operation)


def _encode(request: Model) -> bytes:
    # Before anything is dialled: a request protobuf cannot carry fails here, naming the field.
    return to_message(request).SerializeToString()  # type: ignore[no-any-return]


def _decode(operation: Operation[Any, ResponseT], data: bytes) -> ResponseT:
    try:
        message = message_type(operation.response_type).FromString(data)
    except Exception as exc:  # protobuf's DecodeError: these bytes are no such message
        raise TransportError(
            f"the reply is not a {operation.response_type.__name__} message ({exc})", operation=operation.name
        ) from exc
    return from_message(operation.response_type, message)
