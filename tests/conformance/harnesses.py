"""Harnesses of the built-in transports for the conformance kit: a transport connected to a backend serving a
handler."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import viam_billing as vb
from viam_billing.testing import Harness
from viam_billing_grpc.emulator import Emulator


def mock_harness(handler: vb.Handler) -> vb.MockTransport:
    """MockTransport is its own backend: it calls the handler in the caller's task."""
    return vb.MockTransport(handler)


@asynccontextmanager
async def grpc_harness(handler: vb.Handler) -> AsyncIterator[vb.AsyncTransport]:
    """The grpc transport, found by name, authenticating with an API key to an emulator that runs ``handler``."""
    async with (
        Emulator(handler=handler) as emulator,
        vb.create_transport("grpc", **emulator.connect_options()) as transport,
    ):
        yield transport


def replay_harness(inner_harness: Harness) -> Harness:
    """The replay transport recording (``record_mode="all"``: every call goes through) via ``inner_harness``'s."""

    @asynccontextmanager
    async def harness(handler: vb.Handler) -> AsyncIterator[vb.AsyncTransport]:
        with tempfile.TemporaryDirectory() as directory:
            cassette = Path(directory) / "conformance.json"
            async with (
                inner_harness(handler) as inner,
                vb.create_transport("replay", cassette=cassette, record_mode="all", inner=inner) as replay,
            ):
                yield replay

    return harness
