"""The transport conformance checks behind :mod:`viam_billing.testing`: a scripted service, and the checks.

Each check opens the transport author's harness around a :class:`ScriptedService`, makes calls through the
transport it gets, and compares what the caller saw with what the service was scripted to do and what it
observed (which requests arrived, which calls were abandoned). The service may run on another thread (the gRPC
emulator under trio runs its own asyncio loop), so what it observes is kept behind a lock and the checks poll
for it, always with a bound: a broken transport fails a check, it never hangs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Literal

import anyio
import anyio.abc
import attrs

from ._enums import StatusCode
from ._errors import BillingError, DeadlineExceededError, StatusError, status_error
from ._models import Model
from ._operations import OPERATIONS, Operation
from ._schema import ModelField, model_fields
from ._transport import AsyncTransport, Handler

__all__ = [
    "CHECKS",
    "DEFAULT_PATIENCE",
    "ConformanceError",
    "Harness",
    "Reply",
    "ScriptedService",
    "ServedCall",
    "check_aclose",
    "check_cancellation",
    "check_concurrent_calls",
    "check_errors",
    "check_operations",
    "check_streams_closed_early",
    "check_timeouts",
    "check_transport",
    "sample",
]

Harness = Callable[[Handler], AbstractAsyncContextManager[AsyncTransport]]
"""``harness(handler)``: an async context manager giving a transport connected to a backend that runs ``handler``.

What the backend must do with the handler is described in :mod:`viam_billing.testing`.
"""

DEFAULT_PATIENCE = 5.0
"""Seconds a check waits for something that should happen at once (an answer, an error after the deadline, the
service noticing a cancelled call) before it reports a failure."""

TIMEOUT = 0.2
"""The ``timeout`` (seconds) of the calls that the timeout checks let expire."""

Outcome = Literal["running", "answered", "failed", "abandoned"]


class ConformanceError(AssertionError):
    """Raised when a transport does not behave as the conformance checks require.

    The message names the transport, the operation and what was expected instead of what happened. It is an
    ``AssertionError``, so that pytest reports it as a test failure.
    """


# -- what the checks send and expect ---------------------------------------------------------------------------

_WHEN = datetime(2026, 3, 14, 15, 9, 26, 535_897, tzinfo=timezone.utc)
# Sizes of sampled byte fields: a small one, one that spans many HTTP/2 frames, a tiny one.
_BYTE_SIZES = (300, 100_000, 7)
_BYTES = bytes(range(256)) * (max(_BYTE_SIZES) // 256 + 1)


def sample(cls: type[Model], variant: int = 0) -> Model:
    """A model of class ``cls`` with every field set to a value other than its default, unique to ``variant``.

    Text is non-ASCII, times carry microseconds, bytes cover every byte value, enums include numbers newer
    than any client knows (``UNKNOWN_<n>``), optionals are present and repeated fields hold two items: what a
    transport must carry unchanged.
    """
    values: dict[str, Any] = {}
    for field in model_fields(cls):
        if field.repeated:
            values[field.name] = tuple(_value(field, variant + i) for i in range(2))
        else:
            values[field.name] = _value(field, variant)
    return cls(**values)


def _value(field: ModelField, variant: int) -> Any:
    kind = field.kind
    if kind == "model":
        return sample(field.type, variant + 1)
    if kind == "str":
        return f"{field.name} {variant} ✓ été"
    if kind == "int":
        return 1_700_000_000 + variant
    if kind == "bool":
        return variant % 2 == 0
    if kind == "float":
        return 1234.5 + variant * 0.25
    if kind == "bytes":
        size = _BYTE_SIZES[variant % len(_BYTE_SIZES)]
        return bytes([variant % 256]) + _BYTES[:size]
    if kind == "time":
        return _WHEN + timedelta(days=variant, microseconds=variant)
    if kind == "enum":
        members: type[enum.IntEnum] = field.type
        if variant % 3 == 2:
            return members(100 + variant)
        known = [member for member in members if member.value != 0]
        return known[variant % len(known)]
    raise TypeError(f"{field.name}: no sample for field kind {kind!r}")  # pragma: no cover - a new kind


def _expected(operation: Operation[Any, Any], variant: int = 0) -> tuple[Model, ...]:
    """What the service answers by default: one response, or three chunks for a stream."""
    if operation.streaming:
        return tuple(sample(operation.response_type, variant + i) for i in range(3))
    return (sample(operation.response_type, variant),)


# -- the scripted service --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Reply:
    """What the service does with one call: send ``messages``, then fail with ``error`` (a status code and
    message) if given. ``stall_at`` makes it wait, before sending message number ``stall_at`` (0: before any;
    ``len(messages)``: after all), for longer than any check waits: until the call is cancelled."""

    messages: tuple[Model, ...] = ()
    error: tuple[StatusCode, str] | None = None
    stall_at: int | None = None


class ServedCall:
    """One call as the service saw it: the request, how far it got, and how it ended."""

    def __init__(self, operation: Operation[Any, Any], request: Model) -> None:
        self.operation = operation
        self.request = request
        self.outcome: Outcome = "running"
        self.stalled = False
        self.sent = 0

    def __enter__(self) -> ServedCall:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # Cancellation (asyncio's, trio's) and the GeneratorExit of a stream closed early are BaseExceptions:
        # they are what "abandoned" means.
        if exc is None:
            self.outcome = "answered"
        elif isinstance(exc, Exception):
            self.outcome = "failed"
        else:
            self.outcome = "abandoned"

    def __repr__(self) -> str:
        return f"<ServedCall {self.operation.name} {self.outcome} sent={self.sent}>"


class ScriptedService:
    """The billing service whose behaviour a check scripts: the handler a harness's backend runs.

    Called as ``service(operation, request)``, it returns a coroutine giving the response (unary operations)
    or an async generator of the messages (streaming ones), and fails by raising the
    :class:`~viam_billing.StatusError` of the scripted status, ``operation`` set. Every operation answers
    :func:`sample` responses until :meth:`script` says otherwise. Thread-safe: the backend may run it on
    another thread than the checks.
    """

    def __init__(self, *, patience: float = DEFAULT_PATIENCE) -> None:
        # A stall outlasts every bound of the checks, yet ends: a transport that ignores cancellation makes a
        # check fail, not hang.
        self._stall_for = 2 * patience + TIMEOUT
        self._lock = threading.Lock()
        self._calls: list[ServedCall] = []
        self._replies: dict[str, Callable[[Model], Reply]] = {}

    @property
    def calls(self) -> list[ServedCall]:
        """Every call received so far, in order of arrival."""
        with self._lock:
            return list(self._calls)

    def script(self, operation: Operation[Any, Any], reply: Reply | Callable[[Model], Reply] | None) -> None:
        """Answer calls of ``operation`` with ``reply`` (or ``reply(request)``); ``None`` restores the default."""
        with self._lock:
            if reply is None:
                self._replies.pop(operation.name, None)
            elif isinstance(reply, Reply):
                self._replies[operation.name] = lambda request: reply
            else:
                self._replies[operation.name] = reply

    def __call__(self, operation: Operation[Any, Any], request: Model) -> Awaitable[Model] | AsyncIterator[Model]:
        call = ServedCall(operation, request)
        with self._lock:
            self._calls.append(call)
            scripted = self._replies.get(operation.name)
        reply = scripted(request) if scripted is not None else Reply(messages=_expected(operation))
        if operation.streaming:
            return self._stream(call, reply)
        return self._unary(call, reply)

    async def _unary(self, call: ServedCall, reply: Reply) -> Model:
        with call:
            if reply.stall_at == 0:
                await self._stall(call)
            self._raise_error(call, reply)
            call.sent = 1
            return reply.messages[0]

    async def _stream(self, call: ServedCall, reply: Reply) -> AsyncIterator[Model]:
        with call:
            for index, message in enumerate(reply.messages):
                if reply.stall_at == index:
                    await self._stall(call)
                yield message
                call.sent += 1
            if reply.stall_at == len(reply.messages):
                await self._stall(call)
            self._raise_error(call, reply)

    async def _stall(self, call: ServedCall) -> None:
        call.stalled = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            await anyio.sleep(self._stall_for)
        else:
            # asyncio named outright: a backend on an asyncio thread started from trio may have inherited the
            # trio caller's context, and with it sniffio's word (which anyio asks) that this is trio.
            await asyncio.sleep(self._stall_for)

    @staticmethod
    def _raise_error(call: ServedCall, reply: Reply) -> None:
        if reply.error is not None:
            code, message = reply.error
            raise status_error(code, message, operation=call.operation.name)


# -- helpers of the checks ---------------------------------------------------------------------------------------


@asynccontextmanager
async def _opened(harness: Harness, service: ScriptedService) -> AsyncIterator[AsyncTransport]:
    """The harness's transport; a failure to close it is reported, yet never hides the check's own failure."""
    manager = harness(service)
    transport = await manager.__aenter__()
    try:
        yield transport
    except ConformanceError as failure:
        with contextlib.suppress(Exception):
            await manager.__aexit__(type(failure), failure, failure.__traceback__)
        raise
    except BaseException as exc:
        if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        try:
            await manager.__aexit__(None, None, None)
        except Exception as exc:
            raise ConformanceError(
                f"{_name(transport)}: leaving the harness (closing the transport) raised {exc!r}"
            ) from exc


def _name(transport: AsyncTransport) -> str:
    return type(transport).__name__


def _show(value: object, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


@contextmanager
def _bounded(seconds: float, what: str) -> Iterator[anyio.CancelScope]:
    """Give up on the block after ``seconds`` and report ``what`` did not finish in time."""
    with anyio.move_on_after(seconds) as scope:
        yield scope
    if scope.cancelled_caught:
        raise ConformanceError(f"{what} did not finish within {seconds:g} s")


async def _eventually(condition: Callable[[], bool], within: float) -> bool:
    """Poll ``condition`` (it changes on the service's side, maybe on another thread); whether it came true."""
    deadline = anyio.current_time() + within
    while not condition():
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(0.005)
    return True


async def _receive(
    transport: AsyncTransport,
    operation: Operation[Any, Any],
    request: Model,
    timeout: float | None,
    received: list[Model],
) -> None:
    """Make one call, appending each message of the answer to ``received`` as it arrives (one if unary)."""
    if not operation.streaming:
        received.append(await transport.unary(operation, request, timeout=timeout))
        return
    async with transport.stream(operation, request, timeout=timeout) as messages:
        async for message in messages:
            received.append(message)  # noqa: PERF401 - one by one: when the stream fails, what came first is kept


async def _call(
    transport: AsyncTransport, operation: Operation[Any, Any], request: Model, timeout: float | None
) -> list[Model]:
    """Make one call and return every message of the answer (one for a unary operation)."""
    received: list[Model] = []
    await _receive(transport, operation, request, timeout, received)
    return received


async def _served(
    service: ScriptedService,
    transport: AsyncTransport,
    operation: Operation[Any, Any],
    request: Model,
    *,
    timeout: float | None,
    patience: float,
) -> tuple[list[Model], ServedCall]:
    """Make a call that must succeed and reach the service exactly once; return the answer and the served call."""
    before = len(service.calls)
    with _bounded(patience, f"{_name(transport)}: {operation.name}"):
        try:
            got = await _call(transport, operation, request, timeout)
        except BillingError as exc:
            raise ConformanceError(
                f"{_name(transport)}: {operation.name} raised {exc!r}; the service answered it normally"
            ) from exc
    served = service.calls[before:]
    if len(served) != 1 or served[0].operation.name != operation.name:
        raise ConformanceError(
            f"{_name(transport)}: one {operation.name} call reached the service as {_show(served)}; expected it "
            "exactly once"
        )
    return got, served[0]


async def _still_usable(service: ScriptedService, transport: AsyncTransport, after: str, patience: float) -> None:
    """A unary call and a whole stream still work: ``after`` did not break the transport."""
    for operation in (OPERATIONS["GetInvoicesSummary"], OPERATIONS["GetInvoicePdf"]):
        service.script(operation, None)
        try:
            got, _ = await _served(
                service, transport, operation, sample(operation.request_type), timeout=None, patience=patience
            )
        except ConformanceError as exc:
            raise ConformanceError(f"after {after}, the transport no longer works: {exc}") from exc
        if got != list(_expected(operation)):
            raise ConformanceError(f"after {after}, {operation.name} answered {_show(got)}")


async def _abandoned(call: ServedCall | None, what: str, patience: float) -> None:
    """The service saw ``call`` abandoned (cancelled on the wire) within ``patience`` seconds; ``what`` says
    what happened to the call, naming the transport."""
    if call is None:
        raise ConformanceError(f"{what}: the call never reached the service")
    if not await _eventually(lambda: call.outcome != "running", patience):
        raise ConformanceError(
            f"{what}, but the service was still serving the call {patience:g} s later: the transport must cancel "
            "the call on the wire"
        )
    if call.outcome != "abandoned":
        raise ConformanceError(f"{what}, but the service's call ended {call.outcome!r} instead of being cancelled")


def _last_call(service: ScriptedService, operation: Operation[Any, Any], after: int) -> ServedCall | None:
    calls = [call for call in service.calls[after:] if call.operation.name == operation.name]
    return calls[-1] if calls else None


# -- the checks ---------------------------------------------------------------------------------------------------


async def check_operations(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """Every operation returns the service's answer as its typed model; requests arrive unchanged.

    All 11 operations are called once, alternately with and without a ``timeout``, with requests and responses
    whose every field is set (non-ASCII text, microsecond times, all byte values, unknown enum numbers, a
    100 kB chunk). ``GetInvoicePdf`` must yield its three chunks in order, and an empty stream nothing.
    """
    service = ScriptedService(patience=patience)
    async with _opened(harness, service) as transport:
        name = _name(transport)
        for index, operation in enumerate(OPERATIONS.values()):
            request = sample(operation.request_type, index)
            expected = list(_expected(operation))
            timeout = patience * 2 if index % 2 else None
            got, served = await _served(service, transport, operation, request, timeout=timeout, patience=patience)
            if served.request != request:
                raise ConformanceError(
                    f"{name}: {operation.name} reached the service as {_show(served.request)}; sent {_show(request)}"
                )
            for message in got:
                if not isinstance(message, operation.response_type):
                    raise ConformanceError(
                        f"{name}: {operation.name} returned a {type(message).__name__}; expected "
                        f"{operation.response_type.__name__}"
                    )
            if got != expected:
                raise ConformanceError(
                    f"{name}: {operation.name} returned {_show(got)}; the service sent {_show(expected)}"
                )
        pdf = OPERATIONS["GetInvoicePdf"]
        service.script(pdf, Reply())
        got, _ = await _served(service, transport, pdf, sample(pdf.request_type), timeout=None, patience=patience)
        if got:
            raise ConformanceError(f"{name}: an empty {pdf.name} stream yielded {_show(got)}")


def _error_cases() -> list[tuple[Operation[Any, Any], StatusCode]]:
    """Every status code but OK, each on a unary operation; UNAVAILABLE on one never retried."""
    unary = [operation for operation in OPERATIONS.values() if not operation.streaming]
    never_retried = next(operation for operation in unary if not operation.idempotent)
    cases: list[tuple[Operation[Any, Any], StatusCode]] = []
    for index, code in enumerate(code for code in StatusCode if code is not StatusCode.OK):
        # A transport may retry safe reads on UNAVAILABLE (with backoff): not what this check is about.
        operation = never_retried if code is StatusCode.UNAVAILABLE else unary[index % len(unary)]
        cases.append((operation, code))
    return cases


async def check_errors(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """A status from the service is raised as its :class:`~viam_billing.StatusError` class.

    Each of the 16 gRPC codes comes back as the class :func:`~viam_billing.status_error` gives for it, with
    ``.code``, ``.operation`` and the service's (non-ASCII) message; CANCELLED as
    :class:`~viam_billing.CancelledStatusError`, never as a cancellation of the caller. On ``GetInvoicePdf``, an
    error before any chunk, and one after two chunks (which the caller receives first).
    """
    service = ScriptedService(patience=patience)
    async with _opened(harness, service) as transport:
        for operation, code in _error_cases():
            await _expect_status(service, transport, operation, code, stall_at=None, patience=patience)
        pdf = OPERATIONS["GetInvoicePdf"]
        await _expect_status(service, transport, pdf, StatusCode.NOT_FOUND, stall_at=None, patience=patience)
        await _expect_status(
            service, transport, pdf, StatusCode.DATA_LOSS, stall_at=None, patience=patience, messages=2
        )
        await _still_usable(service, transport, "errors", patience)


async def _expect_status(
    service: ScriptedService,
    transport: AsyncTransport,
    operation: Operation[Any, Any],
    code: StatusCode,
    *,
    stall_at: int | None,
    patience: float,
    messages: int = 0,
) -> None:
    name = _name(transport)
    message = f"{code.name.lower().replace('_', ' ')} from the service ✓ {operation.name}"
    sent = _expected(operation)[:messages]
    service.script(operation, Reply(messages=sent, error=(code, message), stall_at=stall_at))
    expected = type(status_error(code, message))
    received: list[Model] = []
    what = f"{name}: {operation.name} answered with status {code.name}"
    with _bounded(patience, what) as bound:
        try:
            await _receive(transport, operation, sample(operation.request_type), None, received)
        except StatusError as exc:
            if not isinstance(exc, expected) or exc.code != code:
                raise ConformanceError(
                    f"{what} raised {type(exc).__name__} (code {exc.code!r}); expected {expected.__name__}"
                ) from exc
            if exc.operation != operation.name:
                raise ConformanceError(f"{what} raised an error whose .operation is {exc.operation!r}") from exc
            if message not in exc.message:
                raise ConformanceError(
                    f"{what} raised an error whose .message {exc.message!r} lacks the service's {message!r}"
                ) from exc
        except BillingError as exc:
            raise ConformanceError(f"{what} raised {exc!r}; expected {expected.__name__}") from exc
        except anyio.get_cancelled_exc_class() as exc:
            if bound.cancel_called:
                raise
            raise ConformanceError(
                f"{what} made the caller look cancelled ({type(exc).__name__}); a status from the service is a "
                f"{expected.__name__}, never a cancellation"
            ) from exc
        else:
            raise ConformanceError(f"{what} returned {_show(received)} instead of raising {expected.__name__}")
    service.script(operation, None)
    if received != list(sent):
        raise ConformanceError(f"{what} after {len(sent)} message(s); the caller received {_show(received)} first")


async def check_timeouts(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """A call the service does not answer in time raises :class:`~viam_billing.DeadlineExceededError`.

    Unary calls (a read and a charge) and ``GetInvoicePdf`` (stalling before its first chunk, and after one)
    are made with ``timeout=0.2``. Each must raise ``DeadlineExceededError`` (also a ``TimeoutError``) with
    ``.operation`` set, no earlier than the timeout and no later than ``patience`` seconds after it; the service
    must see the call cancelled; the transport must work afterwards.
    """
    service = ScriptedService(patience=patience)
    async with _opened(harness, service) as transport:
        # Connected and authenticated first: the deadline is then about the stalled call alone.
        await _still_usable(service, transport, "opening", patience)
        cases = [
            (OPERATIONS["GetInvoicesSummary"], 0),
            (OPERATIONS["ChargeOrganization"], 0),
            (OPERATIONS["GetInvoicePdf"], 0),
            (OPERATIONS["GetInvoicePdf"], 1),
        ]
        for operation, stall_at in cases:
            await _expect_timeout(service, transport, operation, stall_at, patience)
        await _still_usable(service, transport, "timeouts", patience)


async def _expect_timeout(
    service: ScriptedService, transport: AsyncTransport, operation: Operation[Any, Any], stall_at: int, patience: float
) -> None:
    name = _name(transport)
    sent = _expected(operation)
    service.script(operation, Reply(messages=sent, stall_at=stall_at))
    what = f"{name}: {operation.name} with timeout={TIMEOUT} (the service stalling after {stall_at} message(s))"
    before = len(service.calls)
    received: list[Model] = []
    start = anyio.current_time()
    with _bounded(TIMEOUT + patience, f"{what}: raising DeadlineExceededError"):
        try:
            await _receive(transport, operation, sample(operation.request_type), TIMEOUT, received)
        except DeadlineExceededError as exc:
            elapsed = anyio.current_time() - start
            if not isinstance(exc, TimeoutError):
                raise ConformanceError(f"{what} raised a DeadlineExceededError that is not a TimeoutError") from exc
            if exc.operation != operation.name:
                raise ConformanceError(f"{what} raised an error whose .operation is {exc.operation!r}") from exc
            # A little slack for clocks that tick coarsely; an error well before the deadline is a bug.
            if elapsed < TIMEOUT * 0.8:
                raise ConformanceError(f"{what} raised DeadlineExceededError after only {elapsed:.3f} s") from exc
        except BillingError as exc:
            raise ConformanceError(f"{what} raised {exc!r}; expected DeadlineExceededError") from exc
        else:
            raise ConformanceError(f"{what} returned {_show(received)} instead of raising DeadlineExceededError")
    service.script(operation, None)
    if received != list(sent[:stall_at]):
        raise ConformanceError(f"{what}: the caller received {_show(received)} before the deadline")
    await _abandoned(_last_call(service, operation, before), f"{what} timed out", patience)


async def check_cancellation(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """Cancelling the caller cancels the call: untouched, promptly, on the wire.

    The caller's cancel scope is cancelled while the service stalls on a unary call, on a stream before its
    first chunk, and on a stream after one chunk. The cancellation must reach the caller's scope as the event
    loop's own cancellation (never a :class:`~viam_billing.BillingError`, never a result) within ``patience``
    seconds, the service must see the call cancelled, and the transport must work afterwards.
    """
    service = ScriptedService(patience=patience)
    async with _opened(harness, service) as transport:
        await _still_usable(service, transport, "opening", patience)
        cases = [
            (OPERATIONS["GetOrgBillingInformation"], 0),
            (OPERATIONS["GetInvoicePdf"], 0),
            (OPERATIONS["GetInvoicePdf"], 1),
        ]
        for operation, stall_at in cases:
            await _expect_cancellation(service, transport, operation, stall_at, patience)
        await _still_usable(service, transport, "cancelled calls", patience)


async def _expect_cancellation(
    service: ScriptedService, transport: AsyncTransport, operation: Operation[Any, Any], stall_at: int, patience: float
) -> None:
    name = _name(transport)
    what = f"{name}: {operation.name} cancelled by its caller (the service stalling after {stall_at} message(s))"
    service.script(operation, Reply(messages=_expected(operation), stall_at=stall_at))
    before = len(service.calls)
    outcome: dict[str, Any] = {}

    async def caller(*, task_status: anyio.abc.TaskStatus[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            try:
                outcome["result"] = await _call(transport, operation, sample(operation.request_type), None)
            except Exception as exc:
                outcome["error"] = exc
        outcome["cancelled"] = scope.cancelled_caught
        outcome["ended"] = anyio.current_time()

    def stalled() -> bool:
        call = _last_call(service, operation, before)
        return "ended" in outcome or (call is not None and call.stalled)

    async with anyio.create_task_group() as tasks:
        scope = await tasks.start(caller)
        reached = await _eventually(stalled, patience)
        cancelled_at = anyio.current_time()
        scope.cancel()
    service.script(operation, None)
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, BillingError):
            raise ConformanceError(f"{what}: the cancellation was turned into {error!r}") from error
        raise ConformanceError(f"{what}: the call raised {error!r}") from error
    if not reached:
        raise ConformanceError(f"{what}: the call did not reach the service within {patience:g} s")
    if "result" in outcome:
        raise ConformanceError(
            f"{what}: the call returned {_show(outcome['result'])} although its caller was cancelled"
        )
    if not outcome.get("cancelled"):
        raise ConformanceError(f"{what}: the caller's cancel scope did not see the cancellation")
    if outcome["ended"] - cancelled_at > patience:
        raise ConformanceError(
            f"{what}: the call took {outcome['ended'] - cancelled_at:.1f} s to give way to the cancellation"
        )
    await _abandoned(_last_call(service, operation, before), what, patience)


class _LeftEarly(Exception):
    """Raised inside a stream's block by the check, to leave it with an exception of the caller's own."""


async def _leave_early(transport: AsyncTransport, operation: Operation[Any, Any], how: str, first: list[Model]) -> None:
    """Open a stream and leave it: by ``"break"`` or ``"exception"`` after one message, or at once (``"no read"``)."""
    async with transport.stream(operation, sample(operation.request_type), timeout=None) as messages:
        if how == "no read":
            return
        async for message in messages:
            first.append(message)
            if how == "exception":
                raise _LeftEarly(how)
            break


async def check_streams_closed_early(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """Leaving a stream before its end cancels it on the wire, promptly, and the transport stays usable.

    ``GetInvoicePdf`` is left by ``break`` after one chunk, by an exception of the caller's raised in the
    block (which must come out as it is), and without reading anything, each while the service still has
    chunks to send: leaving must take under ``patience`` seconds and the service must see the call cancelled.
    Then twenty streams are left after one chunk in a row, and the transport must still work.
    """
    service = ScriptedService(patience=patience)
    pdf = OPERATIONS["GetInvoicePdf"]
    chunks = _expected(pdf)
    async with _opened(harness, service) as transport:
        name = _name(transport)
        for how in ("break", "exception", "no read"):
            what = f"{name}: a {pdf.name} stream left early ({how}) while the service had more to send"
            service.script(pdf, Reply(messages=chunks, stall_at=2))
            before = len(service.calls)
            first: list[Model] = []
            with _bounded(patience, f"{what}: leaving the stream"):
                try:
                    await _leave_early(transport, pdf, how, first)
                except _LeftEarly:
                    pass
                except Exception as exc:
                    raise ConformanceError(f"{what}: leaving raised {exc!r}") from exc
                else:
                    if how == "exception":
                        raise ConformanceError(f"{what}: the caller's exception did not come out of the stream")
            if how != "no read" and first != list(chunks[:1]):
                raise ConformanceError(f"{what}: the first chunk was {_show(first)}")
            call = _last_call(service, pdf, before)
            # A transport may open a stream lazily: one left unread need not have reached the service at all.
            if how != "no read" or call is not None:
                await _abandoned(call, what, patience)
        service.script(pdf, None)
        for _ in range(20):
            with _bounded(patience, f"{name}: a {pdf.name} stream left after one chunk"):
                async with transport.stream(pdf, sample(pdf.request_type), timeout=None) as messages:
                    async for _message in messages:
                        break
        await _still_usable(service, transport, "streams closed early", patience)


async def check_concurrent_calls(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """Concurrent calls on one transport each get their own answer.

    Ten unary calls (of five operations) and three streams run at once; every answer must be the one the
    service gave to that call's request.
    """
    service = ScriptedService(patience=patience)
    # Operations whose requests have fields: two variants of a request must differ, to tell their answers apart.
    unary = [
        OPERATIONS[name]
        for name in (
            "GetCurrentMonthUsage",
            "GetOrgBillingInformation",
            "GetInvoicesSummary",
            "ChargeOrganization",
            "GetLocationBillingOrganization",
        )
    ]
    calls = [(operation, variant) for operation in unary for variant in (0, 3)]
    calls += [(OPERATIONS["GetInvoicePdf"], variant) for variant in (0, 3, 6)]
    answers = {(operation.name, sample(operation.request_type, variant)): variant for operation, variant in calls}
    for operation in {operation for operation, _ in calls}:

        def reply(request: Model, operation: Operation[Any, Any] = operation) -> Reply:
            return Reply(messages=_expected(operation, answers[operation.name, request]))

        service.script(operation, reply)
    results: dict[int, list[Model] | BaseException] = {}
    async with _opened(harness, service) as transport:
        name = _name(transport)

        async def make(index: int, operation: Operation[Any, Any], variant: int) -> None:
            try:
                results[index] = await _call(transport, operation, sample(operation.request_type, variant), None)
            except BillingError as exc:
                results[index] = exc

        with _bounded(patience, f"{name}: {len(calls)} concurrent calls"):
            async with anyio.create_task_group() as tasks:
                for index, (operation, variant) in enumerate(calls):
                    tasks.start_soon(make, index, operation, variant)
        for index, (operation, variant) in enumerate(calls):
            expected = list(_expected(operation, variant))
            if results[index] != expected:
                raise ConformanceError(
                    f"{name}: among concurrent calls, {operation.name} (request variant {variant}) got "
                    f"{_show(results[index])}; the service answered {_show(expected)}"
                )


async def check_aclose(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """``aclose()`` is idempotent, used or not; ``secrets()`` gives strings; a closed transport fails cleanly.

    A transport is closed twice before any call, another twice after calls. A call on a closed transport must
    raise a :class:`~viam_billing.BillingError` (or still work) within ``patience`` seconds: never hang, never
    raise anything else.
    """
    service = ScriptedService(patience=patience)
    async with _opened(harness, service) as transport:
        await _close_twice(transport, "an unused transport", patience)
    async with _opened(harness, service) as transport:
        name = _name(transport)
        await _still_usable(service, transport, "opening", patience)
        _check_secrets(transport)
        await _close_twice(transport, "a transport after calls", patience)
        _check_secrets(transport)
        operation = OPERATIONS["GetInvoicesSummary"]
        with _bounded(patience, f"{name}: a call on a closed transport"):
            try:
                await transport.unary(operation, sample(operation.request_type), timeout=None)
            except BillingError:
                pass
            except Exception as exc:
                raise ConformanceError(
                    f"{name}: a call on a closed transport raised {exc!r}; expected a BillingError"
                ) from exc


async def _close_twice(transport: AsyncTransport, what: str, patience: float) -> None:
    name = _name(transport)
    for time in ("first", "second"):
        with _bounded(patience, f"{name}: aclose() on {what}, the {time} time"):
            try:
                await transport.aclose()
            except Exception as exc:
                raise ConformanceError(f"{name}: aclose() on {what} raised {exc!r} the {time} time") from exc


def _check_secrets(transport: AsyncTransport) -> None:
    secrets = list(transport.secrets())
    if not all(isinstance(secret, str) for secret in secrets):
        kinds = sorted({type(secret).__name__ for secret in secrets})
        raise ConformanceError(f"{_name(transport)}: secrets() gave {', '.join(kinds)} values; expected strings")


CHECKS: Sequence[Callable[..., Awaitable[None]]] = (
    check_operations,
    check_errors,
    check_timeouts,
    check_cancellation,
    check_streams_closed_early,
    check_concurrent_calls,
    check_aclose,
)


async def check_transport(harness: Harness, *, patience: float = DEFAULT_PATIENCE) -> None:
    """Run every check in turn; raise one :class:`ConformanceError` naming each check that failed, and why."""
    failures = []
    for check in CHECKS:
        try:
            await check(harness, patience=patience)
        except ConformanceError as exc:
            failures.append(f"{check.__name__}: {exc}")
    if failures:
        raise ConformanceError(f"{len(failures)} of {len(CHECKS)} checks failed:\n" + "\n".join(failures))
