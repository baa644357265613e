"""The threshold sink and its registration hook."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import viam_billing as vb
from viam_billing.plugin import ConfigurationError, Record, RegisterSink, Sink, hookimpl

__all__ = ["ThresholdSink", "register_sinks"]


class ThresholdSink(Sink):
    """Alerts when a ``GetCurrentMonthUsage`` result's subtotal is above ``limit`` US dollars.

    Other records are ignored. ``path`` receives one JSON line per alert; without it, alerts go to standard
    error. An unwritable ``path`` is reported when the sink opens, before anything is fetched.
    """

    def __init__(self, limit: float, path: Path | None = None) -> None:
        if not math.isfinite(limit) or limit < 0:
            raise ConfigurationError(f"threshold sink: the limit must be a non-negative amount, got {limit!r}")
        self.limit = limit
        self.path = path
        self.name = f"threshold:{limit:g}" + (f"@{path}" if path else "")
        self.alerts: list[dict[str, object]] = []

    @classmethod
    def from_spec(cls, rest: str) -> ThresholdSink:
        """Build from ``LIMIT`` or ``LIMIT@PATH``."""
        amount, _, path = rest.partition("@")
        try:
            limit = float(amount)
        except ValueError:
            raise ConfigurationError(
                f"threshold sink: expected threshold:LIMIT or threshold:LIMIT@PATH, got threshold:{rest}"
            ) from None
        return cls(limit, Path(path) if path else None)

    async def open(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError as exc:
            raise ConfigurationError(f"sink {self.name}: cannot write {str(self.path)!r} ({exc})") from exc

    async def write(self, record: Record) -> None:
        usage = record.result
        if not isinstance(usage, vb.GetCurrentMonthUsageResponse) or usage.subtotal <= self.limit:
            return
        alert: dict[str, object] = {
            "org_id": record.org_id,
            "month": usage.start_date.strftime("%Y-%m") if usage.start_date else None,
            "subtotal": usage.subtotal,
            "limit": self.limit,
            "fetched_at": record.fetched_at.isoformat(),
        }
        self.alerts.append(alert)
        if self.path is None:
            print(
                f"ALERT: {record.org_id} has used ${usage.subtotal:,.2f} this month, over the ${self.limit:,.2f} limit",
                file=sys.stderr,
            )
            return
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(alert) + "\n")


@hookimpl
def register_sinks(register: RegisterSink) -> None:
    """Register the ``threshold`` scheme."""
    register("threshold", ThresholdSink.from_spec)
