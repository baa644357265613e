"""The hook implementation that registers the built-in sinks."""

from __future__ import annotations

from viam_billing.plugin import Sink, hookimpl
from viam_billing.plugin import RegisterSink

from ._csv import CsvSink
from ._jsonl import JsonlSink
from ._pdf import PdfSink
from ._sqlite import SqliteSink

__all__ = ["register_sinks"]


@hookimpl
def register_sinks(register: RegisterSink) -> None:
    """Register ``console``, ``jsonl``, ``csv``, ``sqlite`` and ``pdf``."""
    register("console", _console)
    register("jsonl", JsonlSink.from_spec)
    register("csv", CsvSink.from_spec)
    register("sqlite", SqliteSink.from_spec)
    register("pdf", PdfSink.from_spec)


def _console(rest: str) -> Sink:
    from ._console import ConsoleSink  # rich is loaded only when a console sink is asked for

    return ConsoleSink.from_spec(rest)
