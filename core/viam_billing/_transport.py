"""The transport seam, and an in-memory transport that calls a handler function.

A transport moves models, not protobuf: the client hands it an :class:`~viam_billing.Operation` and a request
model and gets response models back. Everything about the wire (gRPC, recording, ...) lives in plugins.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

from ._errors import BillingError, ClientClosedError, DeadlineExceededError
from ._models import Model
from ._operations import Operation

__all__ = ["AsyncTransport", "Handler", "MockTransport"]

ResponseT = TypeVar("ResponseT", bound=Model)


class AsyncTransport:
    """Base class of transports: one unary call, one server-streaming call, and ``aclose()``.

    ``timeout`` is in seconds (``None``: no deadline); a transport must raise
    :class:`~viam_billing.DeadlineExceededError` when it expires. Failures must be raised as
    :class:`~viam_billing.BillingError` subclasses carrying ``operation``; caller cancellation must propagate
    untouched. A transport may be used by many concurrent calls.
    """

    async def unary(self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None) -> ResponseT:
        """Send ``request`` and return the single response model."""
        raise NotImplementedError

    def stream(
        self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None
    ) -> AbstractAsyncContextManager[AsyncIterator[ResponseT]]:
        """Open a server-streaming call; the context yields the response models as they arrive.

        Leaving the context before the stream ended (``break``, an exception, cancellation) must cancel the call
        on the wire instead of waiting for the server to finish.
        """
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections, threads and tasks. Calling it twice is harmless.

        Calls still in flight should end at once with :class:`~viam_billing.ClientClosedError` (never be retried),
        and calls made afterwards raise it too.
        """

    def secrets(self) -> Iterable[str]:
        """The credentials this transport holds or has obtained (keys, tokens), none by default.

        An optional capability: a transport that holds secrets returns each one, so that a wrapper which
        stores what passes through it (the replay transport's cassettes) can make sure none is ever written.
        """
        return ()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


Handler = Callable[
    [Operation[Any, Any], Model],
    Model | Iterable[Model] | AsyncIterator[Model] | Awaitable[Model | Iterable[Model]],
]
"""A :class:`MockTransport` handler: ``(operation, request) -> response``.

Sync or async. For a streaming operation it returns an iterable or async iterator of response models. It
fails a call by raising a :class:`~viam_billing.BillingError` (for example ``NotFoundError("no such invoice")``).
"""


class MockTransport(AsyncTransport):
    """A transport that answers every call with a handler function, for tests and offline use.

    Example::

        def handler(operation, request):
            if operation.name == "GetInvoicesSummary":
                return GetInvoicesSummaryResponse(outstanding_balance=12.5)
            raise NotFoundError("nothing here")

        async with BillingClient(MockTransport(handler)) as billing:
            summary = await billing.get_invoices_summary("org-1")

    The call's ``timeout`` is honoured (the handler is cancelled and :class:`DeadlineExceededError` raised), and
    an exception the handler raises that is not a :class:`BillingError` is raised as it is, so test failures
    stay visible. :meth:`aclose` cancels the handlers still running; their calls raise
    :class:`ClientClosedError`, as do calls made after it.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.calls: list[tuple[str, Model]] = []
        """``(operation name, request)`` of every call made, in order."""
        self._running: set[anyio.CancelScope] = set()
        self._closed = False

    @contextmanager
    def _open_while(self, operation: Operation[Any, Any]) -> Iterator[None]:
        """Run the block unless the transport is closed, and end it with ClientClosedError if it closes meanwhile."""
        if self._closed:
            raise ClientClosedError("this MockTransport is closed", operation=operation.name)
        scope = anyio.CancelScope()
        self._running.add(scope)
        try:
            with scope:
                yield
        finally:
            self._running.discard(scope)
        if scope.cancelled_caught:  # only aclose() cancels these scopes
            raise ClientClosedError("the transport was closed while the call ran", operation=operation.name)

    async def aclose(self) -> None:
        self._closed = True
        for scope in self._running:
            scope.cancel()

    async def _invoke(self, operation: Operation[Any, Any], request: Model) -> Any:
        self.calls.append((operation.name, request))
        result = self._handler(operation, request)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def unary(self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None) -> ResponseT:
        deadline = _deadline(timeout)
        with self._open_while(operation), _deadline_error(operation, timeout, deadline):
            result = await self._invoke(operation, request)
        _check_type(operation, result)
        return result  # type: ignore[no-any-return]

    def stream(
        self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None
    ) -> AbstractAsyncContextManager[AsyncIterator[ResponseT]]:
        return self._stream(operation, request, timeout)

    @asynccontextmanager
    async def _stream(
        self, operation: Operation[Any, ResponseT], request: Model, timeout: float | None
    ) -> AsyncIterator[AsyncIterator[ResponseT]]:
        deadline = _deadline(timeout)

        async def messages() -> AsyncIterator[ResponseT]:
            # The deadline covers the handler's work, never the consumer's time between items: a cancel scope
            # must not stay open across a ``yield``.
            with self._open_while(operation), _deadline_error(operation, timeout, deadline):
                result = await self._invoke(operation, request)
            if hasattr(result, "__aiter__"):
                source = result.__aiter__()
                try:
                    while True:
                        with self._open_while(operation), _deadline_error(operation, timeout, deadline):
                            try:
                                item = await source.__anext__()
                            except StopAsyncIteration:
                                return
                        _check_type(operation, item)
                        yield item
                finally:
                    # Closing the handler's generator is what "cancel the stream" means here.
                    aclose = getattr(source, "aclose", None)
                    if aclose is not None:
                        await aclose()
            else:
                for item in result:
                    with self._open_while(operation), _deadline_error(operation, timeout, deadline):
                        await anyio.lowlevel.checkpoint()
                    _check_type(operation, item)
                    yield item

        iterator = messages()
        try:
            yield iterator
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]


def _deadline(timeout: float | None) -> float:
    return float("inf") if timeout is None else anyio.current_time() + timeout


@contextmanager
def _deadline_error(operation: Operation[Any, Any], timeout: float | None, deadline: float) -> Iterator[None]:
    """Apply ``deadline`` and report its expiry as :class:`DeadlineExceededError`."""
    try:
        with anyio.fail_at(deadline):
            yield
    except TimeoutError as exc:
        if isinstance(exc, BillingError):
            raise
        raise DeadlineExceededError(f"no answer within {timeout} s", operation=operation.name) from exc


def _check_type(operation: Operation[Any, Any], result: object) -> None:
    if not isinstance(result, operation.response_type):
        raise TypeError(
            f"MockTransport handler returned {type(result).__name__} for {operation.name}; "
            f"expected {operation.response_type.__name__}"
        )
