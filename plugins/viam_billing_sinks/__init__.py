"""viam-billing's built-in file sinks, registered through the ``register_sinks`` hook like any plugin.

==================  ========================================================================================
spec                what it does
==================  ========================================================================================
``jsonl:PATH``      one JSON object per record, encoded as cassettes are (``jsonl:-``: standard output)
``csv:DIR``         one CSV file per record kind, header once, rows appended
``sqlite:PATH``     the history database, with a versioned, migrated schema (``sqlite:`` alone:
                    ``viam-billing.db`` in the working directory)
``pdf:DIR``         invoice PDFs as ``DIR/<org>/<invoice>.pdf``, atomically, never replacing one already kept
==================  ========================================================================================

Example::

    async with viam_billing.connect(api_key=..., api_key_id=..., sinks=["sqlite:billing.db"]) as billing:
        await billing.get_current_month_usage(org_id)   # stored in the history

The ``console`` sink (tables on the terminal) comes with the command line, :mod:`viam_billing_cli.console`.
:class:`History` reads the SQLite history back (``viam-billing report`` uses it); :func:`tables_for` flattens a
record into the rows the CSV and SQLite sinks store.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._csv import CsvSink as CsvSink
from ._jsonl import JsonlSink as JsonlSink
from ._jsonl import read_records as read_records
from ._pdf import PdfSink as PdfSink
from ._plugin import register_sinks as register_sinks
from ._rows import Table as Table
from ._rows import tables_for as tables_for
from ._sqlite import SCHEMA_VERSION as SCHEMA_VERSION
from ._sqlite import History as History
from ._sqlite import MonthlyCost as MonthlyCost
from ._sqlite import MonthlyInvoices as MonthlyInvoices
from ._sqlite import SqliteSink as SqliteSink
from ._sqlite import migrate as migrate

__all__ = [
    "CsvSink",
    "History",
    "JsonlSink",
    "MonthlyCost",
    "MonthlyInvoices",
    "PdfSink",
    "SCHEMA_VERSION",
    "SqliteSink",
    "Table",
    "migrate",
    "read_records",
    "register_sinks",
    "tables_for",
]

_publish(globals())
