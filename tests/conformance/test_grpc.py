"""The conformance kit over the grpc transport, against the emulator serving the kit's handler on loopback."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import viam_billing as vb
from viam_billing.testing import TransportConformance

from .harnesses import grpc_harness


class TestGrpcTransport(TransportConformance):
    def harness(self, handler: vb.Handler) -> AbstractAsyncContextManager[vb.AsyncTransport]:
        return grpc_harness(handler)
