"""Printing results as a table, JSON or CSV: with ``-f json`` or ``-f csv`` standard output carries data only."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click
import viam_billing as vb
from viam_billing_sinks import tables_for, to_json, write_csv

from ._app import Settings
from ._render import money, render_result, usage_totals

__all__ = ["FORMAT_OPTION", "print_result"]

FORMAT_OPTION = click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json (as cassettes encode models; NaN and infinities as strings) or csv (cells that "
    "start like a formula get a leading ') for programs.",
)

# The one table of a result that CSV output shows when a result flattens into several. Usage lines include a
# DISCOUNT row per discounted source (a negative cost), so that the cost column adds up to the subtotal.
_CSV_TABLE = {"GetCurrentMonthUsage": "usage_lines"}


def print_result(settings: Settings, fmt: str, request: vb.Model, result: vb.Model) -> None:
    """Print ``result``, the answer to ``request``, in the chosen format; notes for people go to stderr."""
    org_id = vb.org_id_of(request)
    if isinstance(result, vb.GetCurrentMonthUsageResponse) and fmt != "table":
        totals = usage_totals(result)
        if not totals.reconciles:
            settings.err.print(
                f"[yellow]warning:[/] the service's subtotal {money(totals.subtotal)} is not its lines minus "
                f"discounts ({money(totals.before_discounts - totals.discounts)})",
                highlight=False,
            )
    if fmt == "json":
        click.echo(to_json(vb.to_data(result), indent=2))
        return
    if fmt == "csv":
        operation = vb.OPERATIONS.for_request(request)
        record = vb.Record(
            operation=operation, request=request, result=result, org_id=org_id, fetched_at=datetime.now(timezone.utc)
        )
        tables = tables_for(record)
        wanted = _CSV_TABLE.get(operation.name)
        table = next((t for t in tables if t.name == wanted), tables[0])
        write_csv(sys.stdout, [table.columns, *table.rows], lineterminator="\n")
        sys.stdout.flush()
        return
    settings.out.print(render_result(result, org_id=org_id))
