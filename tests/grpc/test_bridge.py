"""The trio bridge: what a coroutine on the gRPC thread produces for a trio caller that is gone is released."""

from __future__ import annotations

import threading

import trio
from viam_billing_grpc._bridge import LoopThread


def test_a_result_for_a_cancelled_caller_is_handed_to_on_orphan_on_the_loop() -> None:
    """A result that comes back just as its trio caller is cancelled goes to on_orphan, run on the loop thread."""
    released: list[tuple[str, threading.Thread]] = []

    async def release(value: str) -> None:
        released.append((value, threading.current_thread()))

    async def main() -> LoopThread:
        bridge = LoopThread("test-bridge")
        token = trio.lowlevel.current_trio_token()
        try:
            with trio.CancelScope() as scope:

                async def produce() -> str:
                    # Queued to trio before the bridge's own "finished" notice: the caller is cancelled first.
                    token.run_sync_soon(scope.cancel)
                    return "a stream"

                await bridge.run(produce, on_orphan=release)
            assert scope.cancelled_caught
            # Released before the cancellation went on, not some time later.
            assert released == [("a stream", bridge.thread)]
        finally:
            await bridge.aclose()
        return bridge

    trio.run(main)


def test_a_result_delivered_is_not_handed_to_on_orphan() -> None:
    """A caller that gets its result keeps it: on_orphan is for results nobody receives."""
    released: list[str] = []

    async def release(value: str) -> None:
        released.append(value)

    async def produce() -> str:
        return "a stream"

    async def main() -> str:
        bridge = LoopThread("test-bridge")
        try:
            return await bridge.run(produce, on_orphan=release)
        finally:
            await bridge.aclose()

    assert trio.run(main) == "a stream"
    assert released == []
