"""The hook implementation that registers the ``focus`` sink."""

from __future__ import annotations

from viam_billing.plugin import RegisterSink, hookimpl

from ._sink import FocusSink

__all__ = ["register_sinks"]


@hookimpl
def register_sinks(register: RegisterSink) -> None:
    """Register ``focus`` (``focus:PATH``: a FOCUS 1.2 dataset, CSV or ``.parquet``)."""
    register("focus", FocusSink.from_spec)
