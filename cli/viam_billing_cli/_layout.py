"""Tables that never cut a cell: a table where it fits, one block of ``label  value`` lines per row where not.

rich shortens a cell that does not fit with "…" by default; an invoice id, a status or an amount cut that way is
worse than useless. :class:`FitTable` decides at render time, from the width it is given: as a table when every
column fits whole (only free-text columns may wrap), else as blocks, with a value moved under its label or,
past the console's width, folded onto more lines, never shortened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import attrs
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "FitTable"]

Cell = str | Text
_UNBOUNDED = 1 << 20


@attrs.frozen
class Column:
    """A column: its ``header``, how its cells are justified, and whether it holds free text that may wrap
    (a message, a description); other columns are shown whole or the table becomes blocks."""

    header: str
    justify: Literal["left", "right"] = "left"
    wrap: bool = False


@attrs.frozen
class _Row:
    cells: tuple[Text, ...]
    end_section: bool
    style: str | None


def _text(cell: Cell) -> Text:
    return cell.copy() if isinstance(cell, Text) else Text(cell)


class FitTable:
    """A table of text cells that shows every cell whole at any width (see the module documentation).

    >>> table = FitTable(Column("Invoice"), Column("Amount", justify="right"), title="Invoices")
    >>> table.add_row("inv-1", "$10.00")
    >>> console.print(table)

    ``show_header=False`` makes a two-column ``field  value`` list (its blocks are the fields themselves).
    """

    def __init__(
        self,
        *columns: Column | str,
        title: str | None = None,
        caption: Cell | None = None,
        show_header: bool = True,
        first_column_style: str | None = None,
    ) -> None:
        self.columns = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
        self.title = title
        self.caption = caption
        self.show_header = show_header
        self.first_column_style = first_column_style
        self.rows: list[_Row] = []

    def add_row(self, *cells: Cell, style: str | None = None, end_section: bool = False) -> None:
        """Add a row; missing trailing cells are empty."""
        if len(cells) > len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        texts = tuple(_text(cell) for cell in cells) + (Text(),) * (len(self.columns) - len(cells))
        self.rows.append(_Row(texts, end_section, style))

    def table(self) -> Table:
        """The rich table itself (without the title), each column at least as wide as its widest cell unless it
        may wrap."""
        table = Table(
            caption=self.caption,
            box=box.SIMPLE_HEAD,
            show_edge=False,  # no blank frame: a few more columns for the cells themselves
            pad_edge=False,
            show_header=self.show_header,
            title_justify="left",
            caption_justify="left",
        )
        for index, column in enumerate(self.columns):
            widths = [row.cells[index].cell_len for row in self.rows]
            header = max(map(cell_len, column.header.splitlines() or [""])) if self.show_header else 0
            natural = max([header, *widths])
            table.add_column(
                column.header,
                justify=column.justify,
                no_wrap=not column.wrap,
                overflow="fold",
                min_width=None if column.wrap else natural,
                style=self.first_column_style if index == 0 else None,
            )
        for row in self.rows:
            table.add_row(*row.cells, style=row.style, end_section=row.end_section)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table()
        if self._narrowest(console, options, table) > options.max_width:
            yield from self._blocks(options.max_width)
            return
        # The title goes above, wrapped at the console's width rather than squeezed into a narrow table's.
        if self.title:
            yield Text(self.title, style="italic")
        yield table
        yield Text()

    @staticmethod
    def _narrowest(console: Console, options: ConsoleOptions, table: Table) -> int:
        # Measured as if the console were unbounded: rich caps a measurement at the width it is given, which
        # would make every table look as if it fitted.
        return Measurement.get(console, options.update(width=_UNBOUNDED), table).minimum

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table())

    def _blocks(self, width: int) -> Iterator[Text]:
        if self.title:
            yield Text(self.title, style="italic")
        if self.show_header:
            labels = [" ".join(column.header.split()) for column in self.columns[1:]]
            for row in self.rows:
                heading = row.cells[0].copy()
                heading.stylize("bold")
                yield _folded(heading)
                yield from _pairs(labels, list(row.cells[1:]), width, indent=2)
        else:
            yield from _pairs([row.cells[0].plain for row in self.rows], [row.cells[1] for row in self.rows], width)
        if self.caption is not None:
            yield _text(self.caption)
        yield Text()


def _folded(text: Text) -> Text:
    text.overflow = "fold"
    return text


def _pairs(labels: list[str], values: list[Text], width: int, *, indent: int = 0) -> Iterator[Text]:
    """``label  value`` lines, labels aligned; a value that does not fit beside its label goes under it."""
    shown = [(label, value) for label, value in zip(labels, values, strict=True) if label or value.plain]
    label_width = max((cell_len(label) for label, _ in shown), default=0)
    for label, value in shown:
        if not value.plain:
            continue
        line = Text(" " * indent) + Text(label.ljust(label_width), style="bold") + Text("  ")
        if line.cell_len + value.cell_len <= width:
            yield _folded(line + value)
        else:
            line.rstrip()
            yield _folded(line)
            yield _folded(Text(" " * (indent + 2)) + value)
