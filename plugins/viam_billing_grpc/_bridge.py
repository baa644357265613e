"""One asyncio event loop in a thread of its own, and trio tasks running coroutines on it.

grpclib only runs on asyncio. Under trio, the transport (and the emulator) start one such thread and run each
call on it with :meth:`LoopThread.run`, which works like anyio's ``BlockingPortal.call_async``: the caller
waits without blocking trio, and cancelling the caller cancels the coroutine on the loop (so grpclib resets the
stream on the wire) and waits for it to finish before the cancellation goes on. The coroutine runs in a copy of
the caller's context variables, as it would on the caller's own loop under asyncio: the call being observed
(:func:`viam_billing.plugin.current_call`) and the current OpenTelemetry span cross with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import sniffio
import trio
from viam_billing import ClientClosedError

__all__ = ["LoopThread"]

T = TypeVar("T")


class _Call(Generic[T]):
    """One coroutine run on the loop thread for one trio task."""

    __slots__ = ("args", "context", "done", "error", "fn", "produced", "result", "task", "token")

    def __init__(self, fn: Callable[..., Coroutine[Any, Any, T]], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.token = trio.lowlevel.current_trio_token()
        self.done = trio.Event()
        self.task: asyncio.Task[T] | None = None
        self.result: T | None = None
        self.produced = False
        """Whether the coroutine returned (``result`` is what it returned)."""
        self.error: BaseException | None = None
        # The caller's context variables, except sniffio's "current async library": anyio sets it to "trio" for
        # the caller, and anyio or sniffio code on the loop must find asyncio there (as trio's own threads do).
        self.context = contextvars.copy_context()
        self.context.run(sniffio.current_async_library_cvar.set, None)

    # On the loop thread:

    def start(self) -> None:
        task = self.task = asyncio.get_running_loop().create_task(self.fn(*self.args), context=self.context)
        task.add_done_callback(self._finished)

    def cancel(self) -> None:
        # start() was queued before this, and the loop runs callbacks in order: the task exists.
        if self.task is not None:
            self.task.cancel()

    def _finished(self, task: asyncio.Task[T]) -> None:
        if not task.cancelled():
            error = task.exception()
            if error is None:
                self.result = task.result()
                self.produced = True
            else:
                self.error = error
        # If the trio run that waited for this is gone, there is nobody to tell.
        with contextlib.suppress(trio.RunFinishedError):
            self.token.run_sync_soon(self.done.set)


class LoopThread:
    """A daemon thread running a fresh asyncio event loop until :meth:`aclose`.

    :meth:`run` and :meth:`aclose` are called from trio. Nothing of the thread or its loop outlives
    :meth:`aclose`: tasks still running are cancelled and awaited, async generators finalised, the loop closed
    and the thread joined.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._exited = False
        self._on_exit: list[Callable[[], None]] = []
        self._closing = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<LoopThread {self._thread.name} {'closed' if self._exited else 'running'}>"

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            # Cancel what is left, again if cancelling let a queued call start another task.
            while leftovers := asyncio.all_tasks(loop):
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.wait(leftovers))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            with self._lock:
                self._exited = True
                waiters, self._on_exit = self._on_exit, []
            for notify in waiters:
                notify()

    async def run(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        on_orphan: Callable[[T], Coroutine[Any, Any, object]] | None = None,
    ) -> T:
        """Run ``fn(*args)`` on the loop and return its result, from a trio task.

        Cancelling the trio task cancels the coroutine and waits for it to unwind. The coroutine may still
        finish with a result (it completed as the cancellation arrived): nobody will receive it, so when that
        result holds something to release (an open stream), pass ``on_orphan``, a coroutine function run on
        the loop with the result before the cancellation goes on. Raises what the coroutine raised, or
        :class:`~viam_billing.ClientClosedError` when the loop was closed.
        """
        call = _Call(fn, args)
        try:
            self.loop.call_soon_threadsafe(call.start)
        except RuntimeError:
            raise ClientClosedError("the transport's event-loop thread is closed; make a new client") from None
        try:
            await call.done.wait()
        except BaseException:
            self.loop.call_soon_threadsafe(call.cancel)
            with trio.CancelScope(shield=True):
                await call.done.wait()
                if on_orphan is not None and call.produced:
                    await self._release(on_orphan, call.result)  # type: ignore[arg-type]
            raise
        if call.error is not None:
            raise call.error
        if call.task is not None and call.task.cancelled():
            raise ClientClosedError("the call was cancelled because its transport is closing")
        return call.result  # type: ignore[return-value]

    async def _release(self, on_orphan: Callable[[T], Coroutine[Any, Any, object]], result: T) -> None:
        # The caller's own cancellation is what propagates. A loop that has closed meanwhile (ClientClosedError) has
        # cancelled everything it ran, the orphan's reading included: nothing is left to release.
        with contextlib.suppress(ClientClosedError):
            await self.run(on_orphan, result)

    async def aclose(self) -> None:
        """Stop the loop, let it cancel what is left, and join the thread. Calling it twice is harmless."""
        token = trio.lowlevel.current_trio_token()
        stopped = trio.Event()

        def on_exit() -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(stopped.set)

        with self._lock:
            exited = self._exited
            if not exited:
                self._on_exit.append(on_exit)
        if not exited:
            if not self._closing:
                self._closing = True
                self.loop.call_soon_threadsafe(self.loop.stop)
            with trio.CancelScope(shield=True):
                await stopped.wait()
        # The thread signalled as its very last act: this join returns at once.
        self._thread.join()
