"""The kit catches broken transports: each check fails, with a message saying why, on a transport broken its way.

Every broken transport here is MockTransport with one defect. ``patience`` is short so that failures are quick.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest
import viam_billing as vb
from viam_billing import testing
from viam_billing.testing import ConformanceError, TransportConformance

PATIENCE = 0.5


class Wrapper(vb.AsyncTransport):
    """Passes every call to a MockTransport of the handler; subclasses break one thing."""

    def __init__(self, handler: vb.Handler) -> None:
        self.inner = vb.MockTransport(handler)

    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        return await self.inner.unary(operation, request, timeout=timeout)

    def stream(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        return self.inner.stream(operation, request, timeout=timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()


class AltersResponses(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        result = await super().unary(operation, request, timeout=timeout)
        if operation.name == "GetInvoicesSummary":
            return attrs.evolve(result, outstanding_balance=0.0)
        return result


class DropsARequestField(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        if operation.name == "ChargeOrganization":
            request = attrs.evolve(request, description=None)
        return await super().unary(operation, request, timeout=timeout)


class ReturnsDicts(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        return vb.to_data(await super().unary(operation, request, timeout=timeout))


class ErrorsWithoutClass(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        try:
            return await super().unary(operation, request, timeout=timeout)
        except vb.StatusError as exc:
            raise vb.UnknownError(exc.message, operation=operation.name) from exc


class ErrorsWithoutOperation(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        try:
            return await super().unary(operation, request, timeout=timeout)
        except vb.StatusError as exc:
            raise vb.status_error(exc.code, exc.message) from exc


class SwallowsChunksBeforeAnError(Wrapper):
    @asynccontextmanager
    async def stream(self, operation: Any, request: Any, *, timeout: float | None) -> AsyncIterator[Any]:
        async with self.inner.stream(operation, request, timeout=timeout) as messages:
            chunks = [chunk async for chunk in messages]

            async def replay() -> AsyncIterator[Any]:
                for chunk in chunks:
                    yield chunk

            yield replay()


class IgnoresTimeouts(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        return await super().unary(operation, request, timeout=None)


class TimeoutAsPlainError(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        try:
            return await super().unary(operation, request, timeout=timeout)
        except vb.DeadlineExceededError as exc:
            raise vb.TransportError("too slow", operation=operation.name) from exc


class CancellationAsError(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        try:
            return await super().unary(operation, request, timeout=timeout)
        except anyio.get_cancelled_exc_class():
            raise vb.TransportError("the call was interrupted", operation=operation.name) from None


class ShieldsCalls(Wrapper):
    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        with anyio.CancelScope(shield=True):
            return await super().unary(operation, request, timeout=timeout)


class NeverClosesStreams(Wrapper):
    """Leaves the inner stream open when the caller leaves: nothing is cancelled on the wire."""

    @asynccontextmanager
    async def stream(self, operation: Any, request: Any, *, timeout: float | None) -> AsyncIterator[Any]:
        opened = self.inner.stream(operation, request, timeout=timeout)
        messages = await opened.__aenter__()
        self.leaked = (opened, messages)  # kept alive, as a forgotten call would be
        yield messages


class DrainsStreams(Wrapper):
    """Reads a stream left early to its end instead of cancelling it."""

    @asynccontextmanager
    async def stream(self, operation: Any, request: Any, *, timeout: float | None) -> AsyncIterator[Any]:
        async with self.inner.stream(operation, request, timeout=timeout) as messages:
            try:
                yield messages
            finally:
                async for _ in messages:
                    pass


class CachesByOperation(Wrapper):
    """Answers every call of an operation with the first answer it got for it."""

    def __init__(self, handler: vb.Handler) -> None:
        super().__init__(handler)
        self.cache: dict[str, Any] = {}

    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        if operation.name not in self.cache:
            self.cache[operation.name] = await super().unary(operation, request, timeout=timeout)
        return self.cache[operation.name]


class ClosesOnce(Wrapper):
    closed = False

    async def aclose(self) -> None:
        if self.closed:
            raise RuntimeError("already closed")
        self.closed = True


class BreaksWhenClosed(Wrapper):
    closed = False

    async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
        if self.closed:
            raise OSError("bad file descriptor")
        return await super().unary(operation, request, timeout=timeout)

    async def aclose(self) -> None:
        self.closed = True


BROKEN = [
    (testing.check_operations, AltersResponses, r"GetInvoicesSummary returned .*the service sent"),
    (testing.check_operations, DropsARequestField, r"ChargeOrganization reached the service as .*description=None"),
    (testing.check_operations, ReturnsDicts, r"returned a dict; expected GetCurrentMonthUsageResponse"),
    (testing.check_errors, ErrorsWithoutClass, r"answered with status CANCELLED raised UnknownError"),
    (testing.check_errors, ErrorsWithoutOperation, r"raised an error whose .operation is None"),
    (testing.check_errors, SwallowsChunksBeforeAnError, r"DATA_LOSS after 2 message\(s\); the caller received \[\]"),
    (testing.check_timeouts, IgnoresTimeouts, r"timeout=0.2 .* raising DeadlineExceededError did not finish"),
    (testing.check_timeouts, TimeoutAsPlainError, r"raised TransportError.*expected DeadlineExceededError"),
    (testing.check_cancellation, CancellationAsError, r"the cancellation was turned into TransportError"),
    (testing.check_cancellation, ShieldsCalls, r"returned .* although its caller was cancelled"),
    (testing.check_streams_closed_early, NeverClosesStreams, r"still serving the call .* must cancel the call"),
    (testing.check_streams_closed_early, DrainsStreams, r"left early \(break\).*leaving the stream did not finish"),
    (testing.check_concurrent_calls, CachesByOperation, r"among concurrent calls, \w+ \(request variant [03]\) got"),
    (testing.check_aclose, ClosesOnce, r"aclose\(\) on an unused transport raised RuntimeError.* the second time"),
    (testing.check_aclose, BreaksWhenClosed, r"closed transport raised OSError.*expected a BillingError"),
]


@pytest.mark.parametrize(("check", "broken", "message"), BROKEN, ids=[broken.__name__ for _, broken, _ in BROKEN])
async def test_a_broken_transport_fails_its_check(
    anyio_backend: str, check: Callable[..., Awaitable[None]], broken: type[Wrapper], message: str
) -> None:
    with pytest.raises(ConformanceError, match=message) as failure:
        await check(broken, patience=PATIENCE)
    assert str(failure.value).startswith(f"{broken.__name__}: ")


async def test_check_transport_lists_every_failed_check(anyio_backend: str) -> None:
    with pytest.raises(ConformanceError) as failure:
        await testing.check_transport(ErrorsWithoutOperation, patience=PATIENCE)
    lines = str(failure.value).splitlines()
    assert lines[0] == "2 of 7 checks failed:"
    assert lines[1].startswith("check_errors: ErrorsWithoutOperation: ")
    assert lines[2].startswith("check_timeouts: ErrorsWithoutOperation: ")
    await testing.check_transport(vb.MockTransport, patience=PATIENCE)


def test_a_conformance_class_without_a_harness_says_what_to_write() -> None:
    class TestNothing(TransportConformance):
        pass

    with pytest.raises(NotImplementedError, match=r"TestNothing must define harness\(self, handler\)"):
        TestNothing().harness(lambda operation, request: request)


def test_the_testing_module_exports_its_public_names_from_itself() -> None:
    assert testing.__all__ == sorted(set(testing.__all__))
    for name in testing.__all__:
        obj = getattr(testing, name)
        if isinstance(obj, type) or (callable(obj) and name != "Harness"):
            assert obj.__module__ == "viam_billing.testing", name
    assert vb.testing is testing


def test_a_third_party_runs_the_kit_with_pytest_in_a_few_lines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_my_transport="""
        import pytest
        import viam_billing
        from viam_billing.testing import TransportConformance

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        class TestMockTransport(TransportConformance):
            def harness(self, handler):
                return viam_billing.MockTransport(handler)

        class Forgetful(viam_billing.MockTransport):
            async def unary(self, operation, request, *, timeout):
                return await super().unary(operation, request, timeout=None)

        class TestForgetful(TransportConformance):
            patience = 0.5

            def harness(self, handler):
                return Forgetful(handler)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=26, failed=2)
    result.stdout.fnmatch_lines(["FAILED test_my_transport.py::TestForgetful::test_timeouts[[]asyncio[]]*"])
