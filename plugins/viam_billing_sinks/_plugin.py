"""The hook implementation that registers the built-in sinks."""

from __future__ import annotations

from viam_billing import hookimpl
from viam_billing.hookspecs import RegisterSink

from ._console import ConsoleSink
from ._csv import CsvSink
from ._jsonl import JsonlSink
from ._pdf import PdfSink
from ._sqlite import SqliteSink

__all__ = ["register_sinks"]


@hookimpl
def register_sinks(register: RegisterSink) -> None:
    """Register ``console``, ``jsonl``, ``csv``, ``sqlite`` and ``pdf``."""
    register("console", ConsoleSink.from_spec)
    register("jsonl", JsonlSink.from_spec)
    register("csv", CsvSink.from_spec)
    register("sqlite", SqliteSink.from_spec)
    register("pdf", PdfSink.from_spec)
