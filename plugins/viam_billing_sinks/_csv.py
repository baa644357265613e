"""``csv:DIR``: one CSV file per record kind, header written once, rows appended.

Cells are protected against formula injection: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return (which a spreadsheet would run as a formula) is written with an apostrophe in front, which
spreadsheets show as text and do not display. Numbers are written as numbers (``-50.0`` stays a number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from viam_billing import ConfigurationError, Record, Sink
from viam_billing.plugin import ensure_writable_directory

from ._rows import KNOWN_TABLES, tables_for

__all__ = ["CsvSink", "spreadsheet_safe", "write_csv"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet will not run: text starting like a formula gets a leading ``'``.

    >>> spreadsheet_safe("=HYPERLINK(\"http://x\")"), spreadsheet_safe(-50.0)
    ('\'=HYPERLINK("http://x")', -50.0)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(file: IO[str], rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n") -> None:
    """Write ``rows`` to ``file`` as CSV (RFC 4180 line ends unless told), each cell through
    :func:`spreadsheet_safe`."""
    writer = csv.writer(file, lineterminator=lineterminator)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)


class CsvSink(Sink):
    """Appends rows to ``DIR/<kind>.csv``: ``usage``, ``usage_lines``, ``invoices``, ``billing_information``,
    ``charges``, and one file per other operation (request and result as JSON).

    A file gets its header when it is created; later runs append below it. A file whose header is not the one
    this version writes is refused when the sink opens (rather than mixing two layouts): move it away. Every
    record's rows are flushed before the next record, so an interrupted export leaves whole rows.
    """

    def __init__(self, directory: str | Path) -> None:
        if not str(directory):
            raise ConfigurationError("csv sink needs a directory: csv:DIR")
        self._directory = Path(directory)
        self.name = f"csv:{directory}"
        self._files: dict[str, IO[str]] = {}

    @classmethod
    def from_spec(cls, rest: str) -> CsvSink:
        """Build from the text after ``csv:``."""
        return cls(rest)

    @property
    def directory(self) -> Path:
        """Where the CSV files are."""
        return self._directory

    async def open(self) -> None:
        ensure_writable_directory(self._directory, owner=f"sink {self.name}")
        for name, columns in KNOWN_TABLES.items():
            self._check_header(self._directory / f"{name}.csv", columns)

    def _check_header(self, path: Path, columns: tuple[str, ...]) -> bool:
        """Return whether ``path`` already has content, raising when its header is not ``columns``."""
        try:
            with open(path, encoding="utf-8", newline="") as file:
                first = file.readline()
        except FileNotFoundError:
            return False
        if not first:
            return False
        found = next(csv.reader(io.StringIO(first)), [])
        if tuple(found) != columns:
            raise ConfigurationError(
                f"sink {self.name}: {str(path)!r} has the columns {', '.join(found)}, not the "
                f"{', '.join(columns)} this version writes; move the file away and export again"
            )
        return True

    def _file_for(self, name: str, columns: tuple[str, ...]) -> IO[str]:
        file = self._files.get(name)
        if file is None:
            path = self._directory / f"{name}.csv"
            has_content = self._check_header(path, columns)
            file = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - kept open until aclose()
            if not has_content:
                write_csv(file, [columns])
            self._files[name] = file
        return file

    async def write(self, record: Record) -> None:
        for table in tables_for(record):
            if not table.rows:
                continue
            file = self._file_for(table.name, table.columns)
            write_csv(file, table.rows)
            file.flush()

    async def aclose(self) -> None:
        files, self._files = self._files, {}
        for file in files.values():
            file.close()

    def __repr__(self) -> str:
        return f"<CsvSink {self.name}>"
