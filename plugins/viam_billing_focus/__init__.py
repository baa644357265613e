"""The ``focus`` sink: organizations' usage as a FinOps FOCUS 1.2 dataset, for the tools that read FOCUS.

``focus:PATH`` writes CSV, or Parquet when ``PATH`` ends in ``.parquet`` (pyarrow, from the ``parquet`` extra:
``pip install 'viam-billing[parquet]'``). One row per charge: each cost line of each usage source is a ``Usage``
row, each source's discount a ``Credit`` row of the negative amount, so ``BilledCost`` adds up to the service's
subtotal. Viam's own fields are the ``x_`` columns. Re-running replaces an organization's rows for the same
billing period; the file is always rewritten atomically. Example::

    async with viam_billing.connect(api_key=..., api_key_id=..., sinks=["focus:viam-focus.parquet"]) as billing:
        await billing.get_current_month_usage(org_id)      # its rows are in viam-focus.parquet

From the command line: ``viam-billing export --org ORG --sink focus:viam-focus.csv``. :func:`focus_rows` gives the
rows without a file; :data:`COLUMNS` and :data:`SERVICE_CATEGORIES` are the mapping.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._plugin import register_sinks as register_sinks
from ._rows import COLUMNS as COLUMNS
from ._rows import CUSTOM_COLUMNS as CUSTOM_COLUMNS
from ._rows import FOCUS_COLUMNS as FOCUS_COLUMNS
from ._rows import PROVIDER as PROVIDER
from ._rows import SERVICE_CATEGORIES as SERVICE_CATEGORIES
from ._rows import focus_rows as focus_rows
from ._rows import service_of as service_of
from ._sink import FLUSH_INTERVAL as FLUSH_INTERVAL
from ._sink import PARQUET_EXTRA as PARQUET_EXTRA
from ._sink import FocusSink as FocusSink

__all__ = [
    "COLUMNS",
    "CUSTOM_COLUMNS",
    "FLUSH_INTERVAL",
    "FOCUS_COLUMNS",
    "FocusSink",
    "PARQUET_EXTRA",
    "PROVIDER",
    "SERVICE_CATEGORIES",
    "focus_rows",
    "register_sinks",
    "service_of",
]

_publish(globals())
