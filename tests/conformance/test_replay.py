"""The conformance kit over the replay transport, recording through the in-memory and the grpc transports.

In record mode ``all`` every call goes through to the inner transport and is recorded: the replay transport
must hand back what the inner one gives, and leave its errors, timeouts and cancellations as they are.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import pytest
import viam_billing as vb
from viam_billing.testing import Harness, TransportConformance

from .harnesses import grpc_harness, mock_harness, replay_harness


class TestReplayTransport(TransportConformance):
    @pytest.fixture(autouse=True, params=["mock", "grpc"])
    def inner(self, request: pytest.FixtureRequest) -> None:
        """The transport recorded through: MockTransport, or the grpc transport against the emulator."""
        inners: dict[str, Harness] = {"mock": mock_harness, "grpc": grpc_harness}
        self.replay = replay_harness(inners[request.param])

    def harness(self, handler: vb.Handler) -> AbstractAsyncContextManager[vb.AsyncTransport]:
        return self.replay(handler)
