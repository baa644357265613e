"""What the call-observing hooks receive."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._models import Model
from ._operations import Operation

__all__ = ["CallFinished", "CallStarted"]


@attrs.frozen(kw_only=True)
class CallStarted:
    """An operation is about to be sent."""

    call_id: int
    operation: Operation[Any, Any]
    request: Model


@attrs.frozen(kw_only=True)
class CallFinished:
    """An operation ended; ``error`` is set unless ``outcome`` is ``"ok"``."""

    call_id: int
    operation: Operation[Any, Any]
    request: Model
    duration: float
    outcome: Literal["ok", "error", "cancelled"]
    error: BaseException | None = None
