"""The conformance kit over MockTransport: the in-memory transport behaves as a real one must."""

from __future__ import annotations

import viam_billing as vb
from viam_billing.testing import TransportConformance


class TestMockTransport(TransportConformance):
    def harness(self, handler: vb.Handler) -> vb.MockTransport:
        # MockTransport(handler) is an async context manager giving itself: the kit's harness as it is.
        return vb.MockTransport(handler)
