"""Fixtures of the example suite: both anyio backends, and where to record from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest

# A fixed clock for the emulator, so that re-recording gives the same cassettes (only durations change).
EMULATOR_NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def billing_connect_options(billing_record_mode: str, anyio_backend: str) -> AsyncIterator[dict[str, Any]]:
    """Where ``billing_client`` records from: an emulator started only when recording.

    Replaying (the default, ``--billing-record-mode=none``) needs nothing at all. When recording, the emulator's
    options (address, key) go to the transport that records, the default ``"grpc"``. To record from the real
    service instead, yield ``{}`` here and set ``VIAM_API_KEY`` and ``VIAM_API_KEY_ID``: the grpc transport
    reads them, and reports them to the replay transport's secret scan.
    """
    if billing_record_mode == "none":
        yield {}
        return
    from viam_billing_grpc.emulator import Emulator

    async with Emulator(now=EMULATOR_NOW) as emulator:
        yield {**emulator.connect_options(), "timeout": 10}
