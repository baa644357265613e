"""``focus:PATH``: the FOCUS 1.2 dataset file, as CSV or (``.parquet``) Parquet, rewritten whole and atomically."""

from __future__ import annotations

import csv
import importlib.util
import math
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from viam_billing import ConfigurationError, GetCurrentMonthUsageResponse, Record, Sink
from viam_billing.plugin import atomic_file, ensure_writable_directory

from ._rows import COLUMNS, DATETIME_COLUMNS, DECIMAL_COLUMNS, INTEGER_COLUMNS, focus_rows, period_bounds

__all__ = ["FLUSH_INTERVAL", "FocusSink", "PARQUET_EXTRA"]

FLUSH_INTERVAL = 1.0
"""Seconds a :class:`FocusSink` waits at least between two rewrites of its file while records keep arriving."""

PARQUET_EXTRA = "viam-billing[parquet]"
"""What to install for Parquet output (it brings pyarrow)."""

Key = tuple[str, str]
"""An organization and the start of a billing period (``YYYY-MM-DDTHH:MM:SSZ``): whose rows replace whose."""

_KEY_COLUMNS = (COLUMNS.index("BillingAccountId"), COLUMNS.index("BillingPeriodStart"))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Format(Protocol):
    """How one file format reads a dataset back, encodes new rows and writes the whole dataset."""

    def load(self, path: Path) -> dict[Key, list[Any]]: ...

    def encode(self, rows: list[dict[str, Any]]) -> list[Any]: ...

    def write(self, path: Path, rows: list[Any]) -> None: ...


def _decimal(value: float) -> str:
    """A float as FOCUS's NumericFormat writes a decimal: plain notation, a decimal point, no ``+`` (``-10.0``)."""
    text = format(Decimal(repr(value + 0.0)), "f")  # + 0.0 turns -0.0 into 0.0
    return text if "." in text else text + ".0"


def _cell(value: Any) -> str:
    if value is None:
        return ""  # an empty cell is how CSV says null
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, float):
        return _decimal(value)
    return str(value)


class _Csv:
    """UTF-8 CSV, a header of :data:`COLUMNS`, RFC 4180 quoting, an empty cell for null. Cells are written as
    they are: FOCUS asks for values unchanged, so no spreadsheet escaping is added."""

    def load(self, path: Path) -> dict[Key, list[Any]]:
        groups: dict[Key, list[Any]] = {}
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if header is None:
                return groups
            if tuple(header) != COLUMNS:
                raise ValueError(f"its columns are {', '.join(header)}, not those of this version's FOCUS export")
            for row in reader:
                if len(row) != len(COLUMNS):
                    raise ValueError(f"line {reader.line_num} has {len(row)} cells, not {len(COLUMNS)}")
                groups.setdefault((row[_KEY_COLUMNS[0]], row[_KEY_COLUMNS[1]]), []).append(row)
        return groups

    def encode(self, rows: list[dict[str, Any]]) -> list[Any]:
        return [[_cell(row[column]) for column in COLUMNS] for row in rows]

    def write(self, path: Path, rows: list[Any]) -> None:
        with atomic_file(path, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            writer.writerows(rows)


class _Parquet:
    """Parquet through pyarrow: decimals as float64 (the wire's doubles), times as UTC timestamps, ids as int64."""

    def __init__(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq = pa, pq

        def kind(column: str) -> Any:
            if column in DECIMAL_COLUMNS:
                return pa.float64()
            if column in INTEGER_COLUMNS:
                return pa.int64()
            if column in DATETIME_COLUMNS:
                return pa.timestamp("us", tz="UTC")
            return pa.string()

        self._schema = pa.schema([pa.field(column, kind(column)) for column in COLUMNS])

    def load(self, path: Path) -> dict[Key, list[Any]]:
        table = self._pq.read_table(path)
        if tuple(table.column_names) != COLUMNS:
            raise ValueError(
                f"its columns are {', '.join(table.column_names)}, not those of this version's FOCUS export"
            )
        groups: dict[Key, list[Any]] = {}
        for row in table.cast(self._schema).to_pylist():
            start = row["BillingPeriodStart"]
            key = (row["BillingAccountId"], _timestamp(start) if isinstance(start, datetime) else str(start))
            groups.setdefault(key, []).append(row)
        return groups

    def encode(self, rows: list[dict[str, Any]]) -> list[Any]:
        return rows

    def write(self, path: Path, rows: list[Any]) -> None:
        table = self._pa.Table.from_pylist(rows, schema=self._schema)
        with atomic_file(path, "wb") as file:
            self._pq.write_table(table, file)


class FocusSink(Sink):
    """Keeps the organizations' current-month usage as a FOCUS 1.2 dataset in one file.

    ``PATH`` ending in ``.parquet`` gives Parquet (pyarrow, from the ``parquet`` extra:
    ``pip install 'viam-billing[parquet]'``), anything else CSV. Each ``GetCurrentMonthUsage`` record becomes the
    rows of :func:`~viam_billing_focus.focus_rows`; other records are ignored.

    Re-running never duplicates: an organization's rows for a billing period replace the rows the file already
    had for that organization and period, and every other row is kept. The file is rewritten whole through a
    temporary file renamed over it, so a reader (or a crash) sees the old dataset or the new one, never half of
    one. It is rewritten after a record arrives, at most once per ``flush_interval`` seconds while records keep
    coming (an export of many organizations would otherwise rewrite it for each), and when the sink closes.

    Opening fails with :class:`~viam_billing.ConfigurationError` when the folder cannot be written, the path is a
    folder, pyarrow is missing for Parquet, or an existing file is not a FOCUS export of this layout (move it
    away). Two programs writing one file at once each keep only their own rows: give each its own file.
    """

    def __init__(self, path: str | Path, *, flush_interval: float = FLUSH_INTERVAL) -> None:
        if not str(path):
            raise ConfigurationError("focus sink needs a file: focus:PATH (PATH.csv, or PATH.parquet for Parquet)")
        if not math.isfinite(flush_interval) or flush_interval < 0:
            raise ConfigurationError(f"flush_interval must be 0 or more seconds, got {flush_interval!r}")
        self._path = Path(path)
        self.name = f"focus:{path}"
        self._parquet = self._path.suffix.lower() == ".parquet"
        if self._parquet and importlib.util.find_spec("pyarrow") is None:
            raise ConfigurationError(
                f"sink {self.name} writes Parquet, which needs pyarrow: pip install '{PARQUET_EXTRA}' "
                "(or write CSV: a path that does not end in .parquet)"
            )
        self._flush_interval = flush_interval
        self._format: _Format | None = None
        self._groups: dict[Key, list[Any]] = {}
        self._dirty = False
        self._last_flush = -math.inf
        self._lock = anyio.Lock()

    @classmethod
    def from_spec(cls, rest: str) -> FocusSink:
        """Build from the text after ``focus:``."""
        return cls(rest)

    @property
    def path(self) -> Path:
        """The dataset file."""
        return self._path

    @property
    def format(self) -> str:
        """``"parquet"`` or ``"csv"``."""
        return "parquet" if self._parquet else "csv"

    async def open(self) -> None:
        if self._format is not None:
            return
        self._format, self._groups = await anyio.to_thread.run_sync(self._prepare)

    def _prepare(self) -> tuple[_Format, dict[Key, list[Any]]]:
        path = self._path
        if path.is_dir():
            raise ConfigurationError(f"sink {self.name}: {str(path)!r} is a folder; name a file in it")
        ensure_writable_directory(path.parent, owner=f"sink {self.name}")
        dataset: _Format = _Parquet() if self._parquet else _Csv()
        if not path.exists():
            return dataset, {}
        try:
            return dataset, dataset.load(path)
        except Exception as exc:  # unreadable, not this format, another layout: never overwrite what we cannot keep
            raise ConfigurationError(
                f"sink {self.name}: {str(path)!r} cannot be kept and added to ({exc}); move it away and export again"
            ) from exc

    async def write(self, record: Record) -> None:
        result = record.result
        if not isinstance(result, GetCurrentMonthUsageResponse):
            return
        if self._format is None:
            await self.open()
        assert self._format is not None
        org_id = record.org_id or ""
        rows = focus_rows(result, org_id=org_id, fetched_at=record.fetched_at)
        start, _ = period_bounds(result, record.fetched_at)
        # Same organization and period: the new rows replace the old (none, if the month has no usage yet).
        self._groups[(org_id, _timestamp(start))] = self._format.encode(rows)
        self._dirty = True
        await self._flush(force=False)

    async def _flush(self, *, force: bool) -> None:
        async with self._lock:
            if not self._dirty or self._format is None:
                return
            if not force and time.monotonic() - self._last_flush < self._flush_interval:
                return
            rows = [row for group in self._groups.values() for row in group]
            self._dirty = False
            try:
                await anyio.to_thread.run_sync(self._format.write, self._path, rows)
            except BaseException:
                self._dirty = True  # still to write: the next record or aclose() tries again
                raise
            self._last_flush = time.monotonic()

    async def aclose(self) -> None:
        await self._flush(force=True)

    def __repr__(self) -> str:
        return f"<FocusSink {self.name}>"
