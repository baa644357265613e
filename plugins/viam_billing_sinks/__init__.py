"""viam-billing's built-in output sinks, registered through the ``register_sinks`` hook like any plugin.

==================  ========================================================================================
spec                what it does
==================  ========================================================================================
``console``         readable tables on the terminal (``console:stderr`` for standard error)
``jsonl:PATH``      one JSON object per record, encoded as cassettes are (``jsonl:-``: standard output)
``csv:DIR``         one CSV file per record kind, header once, rows appended
``sqlite:PATH``     the history database, with a versioned, migrated schema (``sqlite:`` alone:
                    ``viam-billing.db`` in the working directory)
``pdf:DIR``         invoice PDFs as ``DIR/<org>/<invoice>.pdf``, atomically, never downloaded twice
==================  ========================================================================================

Example::

    async with viam_billing.connect(sinks=["sqlite:billing.db", "console"], ...) as billing:
        await billing.get_current_month_usage(org_id)   # stored and printed

:class:`History` reads the SQLite history back (``viam-billing report`` uses it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from viam_billing._exports import lazy as _lazy
from viam_billing.plugin import publish as _publish

from ._csv import CsvSink as CsvSink
from ._files import safe_name as safe_name
from ._jsonl import JsonlSink as JsonlSink
from ._jsonl import read_records as read_records
from ._pdf import InvoicePdfStore as InvoicePdfStore
from ._pdf import PdfSink as PdfSink
from ._plugin import register_sinks as register_sinks
from ._rows import Table as Table
from ._rows import cost_type_label as cost_type_label
from ._rows import source_label as source_label
from ._rows import tables_for as tables_for
from ._sqlite import SCHEMA_VERSION as SCHEMA_VERSION
from ._sqlite import History as History
from ._sqlite import MonthlyCost as MonthlyCost
from ._sqlite import MonthlyInvoices as MonthlyInvoices
from ._sqlite import SqliteSink as SqliteSink
from ._sqlite import migrate as migrate

__all__ = [
    "ConsoleSink",
    "CsvSink",
    "History",
    "InvoicePdfStore",
    "JsonlSink",
    "MonthlyCost",
    "MonthlyInvoices",
    "PdfSink",
    "SCHEMA_VERSION",
    "SqliteSink",
    "Table",
    "cost_type_label",
    "migrate",
    "money",
    "read_records",
    "register_sinks",
    "render_result",
    "safe_name",
    "source_label",
    "tables_for",
]

_publish(globals())

if _TYPE_CHECKING:
    from ._console import ConsoleSink as ConsoleSink
    from ._render import money as money
    from ._render import render_result as render_result

# Terminal rendering loads rich, which only the console sink and the command line use: loaded on first use.
__getattr__, __dir__ = _lazy(
    globals(),
    {"ConsoleSink": "._console:ConsoleSink", "money": "._render:money", "render_result": "._render:render_result"},
)
