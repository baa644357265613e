"""A conformance kit for transports: the same behavioural checks, run against any transport.

A transport (see :class:`~viam_billing.AsyncTransport`) must do more than move bytes: return each operation's
typed model, raise the service's statuses as the right :class:`~viam_billing.StatusError` classes, honour
timeouts, let the caller's cancellation through untouched and cancel the call on the wire, cancel streams left
early, and close idempotently, on asyncio and trio alike. These checks prove it, the way
``trio.testing.check_one_way_stream`` proves a stream. viam-billing runs them over its own ``MockTransport``,
the ``grpc`` transport (against the local emulator) and the ``replay`` transport.

How it works
------------

Each check scripts a fake billing service, a *handler* ``handler(operation, request)``, and asks your *harness*
for a transport connected to a backend that runs it. The harness is a function of the handler returning an
async context manager that yields the transport (and stops the backend on exit)::

    @contextlib.asynccontextmanager
    async def harness(handler):
        async with MyTestServer(handler) as server:               # your backend, serving the handler
            async with MyTransport(server.address) as transport:
                yield transport

The backend must serve the handler the way :class:`~viam_billing.MockTransport` and the gRPC emulator
(``viam_billing_grpc.emulator.Emulator(handler=...)``) do:

- call ``handler(operation, request)`` for each call received, with the :class:`~viam_billing.Operation` and
  the request decoded into its model;
- for a unary operation, await what it returns and answer with that model; for a streaming one
  (``GetInvoicePdf``), iterate the async iterator it returns and send each message as it comes;
- when the handler raises a :class:`~viam_billing.StatusError`, answer with its ``.code`` and ``.message`` as
  the call's status (the transport under test maps it back);
- when the call is cancelled (the client left, its deadline passed), cancel the handler's work: cancel the
  task awaiting it, or ``aclose()`` its iterator. The checks watch for this to tell a call cancelled on the
  wire from one merely forgotten by the client.

The handler never blocks: it waits (to play a service that does not answer) on whatever event loop the
backend runs it on, asyncio or trio, on any thread, and shares what it sees with the checks through a lock.
For an in-memory transport the backend is the transport itself: the harness of ``MockTransport`` is
``MockTransport`` (``MockTransport(handler)`` is an async context manager giving itself).

With pytest
-----------

Subclass :class:`TransportConformance` in a test module and define ``harness``; run it on both backends with
an ``anyio_backend`` fixture::

    import contextlib, pytest
    from viam_billing.testing import TransportConformance

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return request.param

    class TestMyTransport(TransportConformance):
        @contextlib.asynccontextmanager
        async def harness(self, handler):
            async with MyTestServer(handler) as server, MyTransport(server.address) as transport:
                yield transport

Each check is one test (``test_operations``, ``test_errors``, ...). A harness that needs fixtures (a temporary
directory, say) can take them in an autouse fixture of the class and keep them on ``self``.

Without pytest
--------------

The checks are async functions of the harness: ``anyio.run(check_transport, harness)`` runs all of them and
raises one :class:`ConformanceError` listing every check that failed; ``check_errors(harness)`` and the others
run one. ``patience`` (seconds, 5 by default) bounds every wait for something that should happen at once; a
broken transport fails a check within it instead of hanging.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import ClassVar

from ._conformance import DEFAULT_PATIENCE
from ._conformance import ConformanceError as ConformanceError
from ._conformance import Harness as Harness
from ._conformance import check_aclose as check_aclose
from ._conformance import check_cancellation as check_cancellation
from ._conformance import check_concurrent_calls as check_concurrent_calls
from ._conformance import check_errors as check_errors
from ._conformance import check_operations as check_operations
from ._conformance import check_streams_closed_early as check_streams_closed_early
from ._conformance import check_timeouts as check_timeouts
from ._conformance import check_transport as check_transport
from ._exports import publish
from ._transport import AsyncTransport, Handler

__all__ = [
    "ConformanceError",
    "Harness",
    "TransportConformance",
    "check_aclose",
    "check_cancellation",
    "check_concurrent_calls",
    "check_errors",
    "check_operations",
    "check_streams_closed_early",
    "check_timeouts",
    "check_transport",
]


class TransportConformance:
    """Base class of a pytest test class that runs every conformance check against one transport.

    Override :meth:`harness`. The tests take the ``anyio_backend`` fixture, so they run under anyio's pytest
    plugin on the backends that fixture gives (asyncio only, unless the test module or a conftest overrides
    it). ``patience`` is handed to every check. Example::

        class TestMockTransport(TransportConformance):
            def harness(self, handler):
                return viam_billing.MockTransport(handler)

    The class name does not start with ``Test``, so pytest collects only your subclass.
    """

    patience: ClassVar[float] = DEFAULT_PATIENCE
    """Seconds a check waits for what should happen at once before it fails."""

    def harness(self, handler: Handler) -> AbstractAsyncContextManager[AsyncTransport]:
        """An async context manager giving a transport connected to a backend that runs ``handler``.

        See :mod:`viam_billing.testing` for what the backend must do with the handler. Must be overridden.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define harness(self, handler): an async context manager yielding a "
            "transport connected to a backend that serves handler"
        )

    async def test_operations(self, anyio_backend: object) -> None:
        """Every operation returns its typed model; requests arrive unchanged (:func:`check_operations`)."""
        await check_operations(self.harness, patience=self.patience)

    async def test_errors(self, anyio_backend: object) -> None:
        """Service statuses become their StatusError classes (:func:`check_errors`)."""
        await check_errors(self.harness, patience=self.patience)

    async def test_timeouts(self, anyio_backend: object) -> None:
        """Expired timeouts raise DeadlineExceededError in bounded time (:func:`check_timeouts`)."""
        await check_timeouts(self.harness, patience=self.patience)

    async def test_cancellation(self, anyio_backend: object) -> None:
        """The caller's cancellation propagates untouched and cancels the call (:func:`check_cancellation`)."""
        await check_cancellation(self.harness, patience=self.patience)

    async def test_streams_closed_early(self, anyio_backend: object) -> None:
        """Streams left early are cancelled on the wire (:func:`check_streams_closed_early`)."""
        await check_streams_closed_early(self.harness, patience=self.patience)

    async def test_concurrent_calls(self, anyio_backend: object) -> None:
        """Concurrent calls each get their own answer (:func:`check_concurrent_calls`)."""
        await check_concurrent_calls(self.harness, patience=self.patience)

    async def test_aclose(self, anyio_backend: object) -> None:
        """aclose() is idempotent and a closed transport fails cleanly (:func:`check_aclose`)."""
        await check_aclose(self.harness, patience=self.patience)


publish(globals())
