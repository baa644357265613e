"""viam-billing's built-in file sinks, registered through the ``register_sinks`` hook like any plugin.

==================  ========================================================================================
spec                what it does
==================  ========================================================================================
``jsonl:PATH``      one JSON object per record, encoded as cassettes are (``jsonl:-``: standard output); strict
                    JSON: a float that is not finite is the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
``csv:DIR``         one CSV file per record kind, header once, rows appended; a text cell starting like a
                    formula (``= + - @``, tab, CR) gets a leading ``'`` so that spreadsheets show it as text
``sqlite:PATH``     the history database, with a versioned, migrated schema (``sqlite:`` alone:
                    ``viam-billing.db`` in the working directory)
``pdf:DIR``         invoice PDFs as ``DIR/<org>/<invoice>.pdf``, atomically, never replacing one already kept;
                    temporary download files older than a day are removed when it opens
==================  ========================================================================================

Example::

    async with viam_billing.connect(api_key=..., api_key_id=..., sinks=["sqlite:billing.db"]) as billing:
        await billing.get_current_month_usage(org_id)   # stored in the history

The ``console`` sink (tables on the terminal) comes with the command line, :mod:`viam_billing_cli.console`.
:class:`History` reads the SQLite history back, read-only (``viam-billing report`` uses it); :func:`tables_for`
flattens a record into the rows the CSV and SQLite sinks store.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._csv import CsvSink as CsvSink
from ._csv import spreadsheet_safe as spreadsheet_safe
from ._csv import write_csv as write_csv
from ._jsonl import JsonlSink as JsonlSink
from ._jsonl import read_records as read_records
from ._jsonl import to_json as to_json
from ._pdf import STALE_AFTER as STALE_AFTER
from ._pdf import PdfSink as PdfSink
from ._pdf import remove_stale_downloads as remove_stale_downloads
from ._plugin import register_sinks as register_sinks
from ._rows import DISCOUNT as DISCOUNT
from ._rows import Table as Table
from ._rows import tables_for as tables_for
from ._sqlite import SCHEMA_VERSION as SCHEMA_VERSION
from ._sqlite import History as History
from ._sqlite import MonthlyCost as MonthlyCost
from ._sqlite import MonthlyInvoices as MonthlyInvoices
from ._sqlite import MonthlyUsage as MonthlyUsage
from ._sqlite import SqliteSink as SqliteSink
from ._sqlite import migrate as migrate

__all__ = [
    "CsvSink",
    "DISCOUNT",
    "History",
    "JsonlSink",
    "MonthlyCost",
    "MonthlyInvoices",
    "MonthlyUsage",
    "PdfSink",
    "SCHEMA_VERSION",
    "STALE_AFTER",
    "SqliteSink",
    "Table",
    "migrate",
    "read_records",
    "register_sinks",
    "remove_stale_downloads",
    "spreadsheet_safe",
    "tables_for",
    "to_json",
    "write_csv",
]

_publish(globals())
