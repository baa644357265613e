"""``GrpcTransport``: the billing service over gRPC (grpclib), under asyncio and trio."""

from __future__ import annotations

import asyncio
import collections
import itertools
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel
from grpclib.client import Channel
from grpclib.config import Configuration
from viam_billing import AsyncTransport, BillingError, ClientClosedError, ConfigurationError, Model, Operation
from viam_billing_protos.codec import from_message, to_message

from ._address import Address, parse_address
from ._auth import Authenticator, Credentials, resolve_credentials
from ._engine import Engine, Plan, Pump, StreamCall
from ._retry import RetryPolicy, finite_number, shown

if TYPE_CHECKING:
    from ._bridge import LoopThread

__all__ = ["DEFAULT_RETRY", "GrpcTransport"]

ResponseT = TypeVar("ResponseT", bound=Model)

DEFAULT_RETRY = RetryPolicy()
"""The retry policy used unless another is given: 4 attempts, backoff from 0.1 s up to 5 s, full jitter."""

_MiB = 1 << 20
_running_loop = asyncio._get_running_loop


def _tls_context() -> ssl.SSLContext:
    """TLS as the service expects it: the system's trust store, TLS 1.2 or later, HTTP/2 by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    return context


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an int from {low} to {high}, got {shown(value)}")
    return value


def _check_seconds(name: str, value: object) -> float:
    if not finite_number(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {shown(value)}")
    return float(value)


class GrpcTransport(AsyncTransport):
    """The billing service over gRPC with grpclib: the transport ``connect()`` uses by default.

    Usually made by ``viam_billing.connect(...)``, which hands over its keywords; direct use::

        transport = GrpcTransport("127.0.0.1:8080", api_key=key, api_key_id=key_id, insecure=True)
        async with BillingClient(transport, timeout=10) as billing: ...

    ``address`` is ``host:port``, ``https://host[:port]`` or ``http://host:port`` (default
    ``app.viam.com:443`` over TLS). Plaintext is spoken only with ``insecure=True`` (for loopback and tests):
    ``http://`` without it is refused before anything is dialled. Credentials are ``api_key`` with
    ``api_key_id`` (exchanged once for a token shared by all calls, and renewed once when the service refuses a
    token it accepted before), or an ``access_token``; with none of them, ``VIAM_API_KEY`` and
    ``VIAM_API_KEY_ID`` are read from the environment. A credential that cannot be sent (a line break, a
    control or non-ASCII character) is refused here, without showing it.

    ``retry`` is the :class:`RetryPolicy` of the safe reads (``None``: never retry); charges, updates and the
    e-mail are never retried. ``ssl_context`` replaces the default TLS settings (a private CA, say; ALPN
    ``h2`` is set on it).
    ``stream_window`` and ``connection_window`` are the HTTP/2 receive windows in bytes: the stream's is kept
    below the connection's so that a download nobody reads cannot stall the other calls.
    ``stream_buffer`` is how many streamed messages may wait between the gRPC thread and a trio caller.
    ``auth_timeout`` bounds the authentication handshake, in seconds.
    ``max_receive_message_size`` is the largest reply message accepted, in bytes (4 MiB by default, as in
    gRPC's own clients); a larger one fails the call with :class:`~viam_billing.ResourceExhaustedError` as soon
    as its length is known, before it is read. PDFs come in chunks far below it.

    Connections behave as gRPC's own clients' do: on a GOAWAY the calls the server accepted finish and return
    their answers, the others (never processed) are sent again on a new connection, charges too, and new calls
    go to a new connection at once; when a connection breaks, every call on it or waiting for a stream on it ends
    at once (safe reads are retried, a call that never got a stream is sent again whatever it is), with or
    without a deadline. :meth:`aclose` cancels the calls in flight with :class:`~viam_billing.ClientClosedError`.

    Nothing is dialled until the first call. Under asyncio the calls run on the caller's event loop (one
    transport per loop); under trio they run on one asyncio thread that the transport starts on first use and
    stops in :meth:`aclose`. Raises :class:`~viam_billing.ConfigurationError` for options it cannot use; the
    ``repr`` shows the address, never a key or token.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        api_key: str | None = None,
        api_key_id: str | None = None,
        access_token: str | None = None,
        insecure: bool = False,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        ssl_context: ssl.SSLContext | None = None,
        stream_window: int = _MiB,
        connection_window: int = 16 * _MiB,
        stream_buffer: int = 16,
        auth_timeout: float = 30.0,
        max_receive_message_size: int = 4 * _MiB,
    ) -> None:
        if not isinstance(insecure, bool):
            raise ConfigurationError(f"insecure must be True or False, got {insecure!r}")
        self._address: Address | None = parse_address(address, insecure=insecure)
        self._target = str(self._address)
        credentials = resolve_credentials(api_key=api_key, api_key_id=api_key_id, access_token=access_token)
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ConfigurationError(f"ssl_context must be an ssl.SSLContext, got {type(ssl_context).__name__}")
        if ssl_context is not None and not self._address.tls:
            raise ConfigurationError("ssl_context was given for a plaintext address; drop insecure=True or http://")
        max_message = _check_int("max_receive_message_size", max_receive_message_size, 1024, 2**32 - 1)
        stream_window = _check_int("stream_window", stream_window, 65_535, 2**31 - 2)
        connection_window = _check_int("connection_window", connection_window, 65_535, 2**31 - 1)
        if stream_window >= connection_window:
            raise ConfigurationError(
                f"stream_window ({stream_window}) must be below connection_window ({connection_window}), "
                "or one stalled download could block every other call on the connection"
            )
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        ssl_ctx = (ssl_context or _tls_context()) if self._address.tls else None
        config = Configuration(http2_stream_window_size=stream_window, http2_connection_window_size=connection_window)
        self._setup(
            credentials=credentials,
            retry=retry,
            stream_buffer=stream_buffer,
            auth_timeout=auth_timeout,
            engine_options={
                "address": self._address,
                "ssl_context": ssl_ctx,
                "config": config,
                "max_message": max_message,
            },
        )

    @classmethod
    def from_channel(
        cls,
        channel: Channel,
        metadata: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        stream_buffer: int = 16,
    ) -> GrpcTransport:
        """Make a transport that calls through an existing grpclib ``Channel``, sending ``metadata`` as it is.

        For users of the official Viam SDK, whose ``ViamClient`` already holds a channel and the
        ``authorization`` metadata, so they can switch without dialling again. The channel stays theirs:
        :meth:`aclose` does not close it. It works on the asyncio event loop the channel belongs to only (not
        under trio), and keeps the channel's own flow-control windows and connection handling (grpclib's: a GOAWAY
        or a lost connection fails every call on it, and no limit is put on the size of a reply). A refused token
        is not renewed.

        Example: ``GrpcTransport.from_channel(channel, {"authorization": f"Bearer {token}"})``.
        """
        if not isinstance(channel, Channel):
            raise ConfigurationError(f"channel must be a grpclib.client.Channel, got {type(channel).__name__}")
        self = cls.__new__(cls)
        self._address = None
        self._target = repr(channel)
        self._setup(
            credentials=Credentials.from_metadata(metadata),
            retry=retry,
            stream_buffer=stream_buffer,
            auth_timeout=30.0,
            engine_options={"channel": channel},
        )
        return self

    def _setup(
        self,
        *,
        credentials: Credentials,
        retry: RetryPolicy | None,
        stream_buffer: int,
        auth_timeout: float,
        engine_options: dict[str, Any],
    ) -> None:
        if retry is None:
            retry = RetryPolicy.disabled()
        elif not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy or None, got {type(retry).__name__}")
        self._credentials = credentials
        self._retry = retry
        self._stream_buffer = _check_int("stream_buffer", stream_buffer, 1, 1 << 16)
        self._auth_timeout = _check_seconds("auth_timeout", auth_timeout)
        self._engine_options = engine_options
        self._plans: dict[str, Plan] = {}
        self._engine: Engine | None = None
        self._auth: Authenticator | None = None
        self._bridge: LoopThread | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<GrpcTransport {self._target} auth={self._credentials.kind}{state}>"

    def secrets(self) -> Iterable[str]:
        """Yield every secret this transport holds: the API key and its id, or the access token given (and its
        ``authorization`` value), and each access token its handshakes obtained, also after :meth:`aclose`.

        This transport's :meth:`viam_billing.AsyncTransport.secrets`: for scans that keep secrets out of what is
        written, such as the replay transport's before it saves a cassette. The values never appear in the
        ``repr`` nor in log output.
        """
        seen: set[str] = set()
        auth = self._auth
        for secret in itertools.chain(self._credentials.secrets(), auth.secrets() if auth is not None else ()):
            if secret and secret not in seen:
                seen.add(secret)
                yield secret

    @property
    def address(self) -> Address | None:
        """The parsed address dialled, or ``None`` for a transport made :meth:`from_channel`."""
        return self._address

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of the safe reads."""
        return self._retry

    # -- binding to an event loop -------------------------------------------------------------------------------

    def _plan(self, operation: Operation[Any, Any]) -> Plan:
        plan = self._plans.get(operation.name)
        if plan is None or plan.path != operation.path:
            plan = self._plans[operation.name] = Plan.of(operation)
        return plan

    def _bind(self) -> tuple[Engine, LoopThread | None]:
        """The engine for the calling task, made on first use; the bridge to it under trio."""
        if self._closed:
            raise ClientClosedError(f"this transport to {self._target} is closed; make a new client with connect()")
        loop = _running_loop()
        engine = self._engine
        if engine is None:
            if loop is None:
                if "channel" in self._engine_options:
                    raise ConfigurationError(
                        "a transport made from an existing grpclib Channel runs only on that channel's asyncio "
                        "event loop, not under trio"
                    )
                from ._bridge import LoopThread

                self._bridge = LoopThread(f"viam-billing-grpc {self._target}")
                loop = self._bridge.loop
            engine = self._engine = Engine(
                loop=loop,
                target=self._target,
                credentials=self._credentials,
                retry=self._retry,
                auth_timeout=self._auth_timeout,
                **self._engine_options,
            )
            self._auth = engine.auth
            return engine, self._bridge
        if (self._bridge is None and loop is not engine.loop) or (self._bridge is not None and loop is not None):
            raise BillingError(
                f"this transport to {self._target} was first used on another event loop; make one client per event loop"
            )
        return engine, self._bridge

    # -- calls ---------------------------------------------------------------------------------------------------

    async def unary(self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None) -> ResponseT:
        plan = self._plans.get(operation.name) or self._plan(operation)
        message = to_message(request)
        engine = self._engine
        if engine is not None and self._bridge is None and engine.loop is _running_loop():
            reply = await engine.unary(plan, message, timeout)
        else:
            engine, bridge = self._bind()
            if bridge is None:
                reply = await engine.unary(plan, message, timeout)
            else:
                reply = await bridge.run(engine.unary, plan, message, timeout)
        return from_message(plan.response_model, reply)  # type: ignore[no-any-return]

    def stream(
        self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None
    ) -> AbstractAsyncContextManager[AsyncIterator[ResponseT]]:
        return self._stream(self._plan(operation), to_message(request), timeout)

    @asynccontextmanager
    async def _stream(self, plan: Plan, message: Any, timeout: float | None) -> AsyncIterator[AsyncIterator[Any]]:
        engine, bridge = self._bind()
        if bridge is None:
            call = await engine.open_stream(plan, message, timeout)
            try:
                yield _Messages(call, plan.response_model)
            finally:
                await call.aclose()
        else:
            # A pump opened as this caller is cancelled is closed on the loop: otherwise its stream would stay
            # open, reading, until the connection closes.
            pump = await bridge.run(
                engine.open_pump, plan, message, timeout, self._stream_buffer, on_orphan=Pump.aclose
            )
            try:
                yield _BridgedMessages(bridge, pump, plan.response_model)
            finally:
                # Shielded: a cancelled caller must still get the stream reset on the wire.
                with anyio.CancelScope(shield=True):
                    await bridge.run(pump.aclose)

    async def aclose(self) -> None:
        """Close the connection (and, under trio, stop and join the gRPC thread). Calling it twice is harmless.

        Calls in flight are cancelled on the wire and raise :class:`~viam_billing.ClientClosedError`; none is
        retried, and no socket outlives this. A channel given to :meth:`from_channel` is left open.
        """
        if self._closed:
            return
        self._closed = True
        engine, bridge = self._engine, self._bridge
        self._engine = None
        if engine is None:
            return
        with anyio.CancelScope(shield=True):
            if bridge is None:
                await engine.aclose()
            else:
                try:
                    await bridge.run(engine.aclose)
                finally:
                    await bridge.aclose()


class _Messages:
    """The messages of a stream read on the caller's own loop, as models."""

    __slots__ = ("_call", "_model")

    def __init__(self, call: StreamCall, model: type[Model]) -> None:
        self._call = call
        self._model = model

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Model:
        message = await self._call.recv()
        if message is None:
            raise StopAsyncIteration
        return from_message(self._model, message)


class _BridgedMessages:
    """The messages of a stream read on the gRPC thread, fetched by the batch into a trio task."""

    __slots__ = ("_batch", "_bridge", "_ended", "_model", "_pump")

    def __init__(self, bridge: LoopThread, pump: Pump, model: type[Model]) -> None:
        self._bridge = bridge
        self._pump = pump
        self._model = model
        self._batch: collections.deque[Any] = collections.deque()
        self._ended = False

    def __aiter__(self) -> _BridgedMessages:
        return self

    async def __anext__(self) -> Model:
        batch = self._batch
        if batch:
            await anyio.lowlevel.checkpoint_if_cancelled()
        else:
            if self._ended:
                raise StopAsyncIteration
            messages, self._ended = await self._bridge.run(self._pump.next_batch)
            if not messages:
                raise StopAsyncIteration
            batch.extend(messages)
        return from_message(self._model, batch.popleft())
