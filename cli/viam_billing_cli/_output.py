"""Printing results as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone
from typing import Any

import click

from .. import _models as m
from .._operations import Operation, org_id_of
from .._serde import to_data
from .._sinks import Record
from ._app import Settings

__all__ = ["FORMAT_OPTION", "print_result"]

FORMAT_OPTION = click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json (as cassettes encode models) or csv for programs.",
)

# The one table of a result that CSV output shows when a result flattens into several.
_CSV_TABLE = {"GetCurrentMonthUsage": "usage_lines"}


def print_result(
    settings: Settings, fmt: str, operation: Operation[Any, Any], request: m.Model, result: m.Model
) -> None:
    """Print ``result`` in the chosen format."""
    # The sinks plugin renders and flattens; it ships with viam-billing, so the command line may lean on it.
    import viam_billing_sinks as sinks

    org_id = org_id_of(request)
    if fmt == "json":
        click.echo(json.dumps(to_data(result), indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        record = Record(
            operation=operation, request=request, result=result, org_id=org_id, fetched_at=datetime.now(timezone.utc)
        )
        tables = sinks.tables_for(record)
        wanted = _CSV_TABLE.get(operation.name)
        table = next((t for t in tables if t.name == wanted), tables[0])
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return
    settings.out.print(sinks.render_result(result, org_id=org_id))
