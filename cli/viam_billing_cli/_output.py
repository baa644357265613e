"""Printing results as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone

import click
import viam_billing as vb
from viam_billing_sinks import tables_for

from ._app import Settings
from ._render import render_result

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


def print_result(settings: Settings, fmt: str, request: vb.Model, result: vb.Model) -> None:
    """Print ``result``, the answer to ``request``, in the chosen format."""
    org_id = vb.org_id_of(request)
    if fmt == "json":
        click.echo(json.dumps(vb.to_data(result), indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        operation = vb.OPERATIONS.for_request(request)
        record = vb.Record(
            operation=operation, request=request, result=result, org_id=org_id, fetched_at=datetime.now(timezone.utc)
        )
        tables = tables_for(record)
        wanted = _CSV_TABLE.get(operation.name)
        table = next((t for t in tables if t.name == wanted), tables[0])
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return
    settings.out.print(render_result(result, org_id=org_id))
