"""The hook implementation that registers the built-in file sinks."""

from __future__ import annotations

from viam_billing.plugin import RegisterSink, hookimpl

from ._csv import CsvSink
from ._jsonl import JsonlSink
from ._pdf import PdfSink
from ._sqlite import SqliteSink

__all__ = ["register_sinks"]


@hookimpl
def register_sinks(register: RegisterSink) -> None:
    """Register ``jsonl``, ``csv``, ``sqlite`` and ``pdf`` (``console`` comes with the command line)."""
    register("jsonl", JsonlSink.from_spec)
    register("csv", CsvSink.from_spec)
    register("sqlite", SqliteSink.from_spec)
    register("pdf", PdfSink.from_spec)
