"""``report``: cost per month and per cost type from the SQLite history, as tables and terminal charts."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from viam_billing_sinks import History, MonthlyCost, MonthlyInvoices

from ._app import Settings, cli, pass_settings
from ._render import cost_type_label, money

__all__ = ["print_report"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CHART_TYPES = 8


def print_report(console: Console, database: Path, org_ids: Sequence[str] = (), *, chart: bool = True) -> None:
    """Print the report of ``database``: tables always, charts when ``chart`` is true.

    Raises :class:`~viam_billing.ConfigurationError` when the database does not exist or cannot be read.
    """
    with History(database) as history:
        costs = history.monthly_costs(org_ids)
        invoices = history.monthly_invoices(org_ids)
        organizations = history.organizations()
    scope = ", ".join(org_ids) if org_ids else f"{len(organizations)} organization(s)"
    console.print(Text(f"Billing report for {scope}, from {database}", style="bold"))

    months = sorted({c.month for c in costs})
    by_type: dict[str, dict[str, float]] = defaultdict(dict)
    for c in costs:
        by_type[cost_type_label(c.cost_type)][c.month] = c.cost
    title = "Usage cost per month and cost type"
    table = Table(title=title, title_justify="left", show_footer=True, min_width=len(title))
    table.add_column("cost type", footer="total")
    for month in months:
        total = sum(c.cost for c in costs if c.month == month)
        table.add_column(month, justify="right", footer=money(total))
    for label in sorted(by_type, key=lambda name: -sum(by_type[name].values())):
        table.add_row(label, *(money(by_type[label].get(month, 0.0)) for month in months))
    if not costs:
        table.add_row("no usage recorded yet")
    console.print(table)

    invoice_table = Table(title="Invoices per month", title_justify="left")
    for column in ("month", "invoices", "amount", "not paid"):
        invoice_table.add_column(column, justify="left" if column == "month" else "right")
    for month_invoices in invoices:
        unpaid = money(month_invoices.unpaid)
        invoice_table.add_row(
            month_invoices.month,
            str(month_invoices.count),
            money(month_invoices.amount),
            Text(unpaid, style="red") if month_invoices.unpaid else unpaid,
        )
    console.print(invoice_table)

    if chart and (costs or invoices):
        console.print(Text.from_ansi(_charts(costs, invoices, console)))


def _charts(costs: Sequence[MonthlyCost], invoices: Sequence[MonthlyInvoices], console: Console) -> str:
    """Two terminal charts: cost per month (invoiced and usage so far) and the latest month by cost type."""
    import plotext as plt  # type: ignore[import-untyped]

    width = max(60, min(console.width, 100))
    colored = console.is_terminal and not console.no_color
    parts = []

    invoiced = {i.month: i.amount for i in invoices}
    usage: dict[str, float] = defaultdict(float)
    for c in costs:
        usage[c.month] += c.cost
    months = sorted(set(invoiced) | set(usage))
    # A month with an invoice shows what was invoiced; a month without one (the current) its usage so far.
    amounts = [invoiced[m] if m in invoiced else usage[m] for m in months]
    plt.clear_figure()
    plt.theme("pro" if colored else "clear")
    plt.plotsize(width, 18)
    plt.bar(months, amounts, width=0.5)
    plt.title("Cost per month in US dollars (invoiced; this month: usage so far)")
    parts.append(plt.build())

    if usage:
        latest = max(usage)
        ranked = sorted(
            ((cost_type_label(c.cost_type), c.cost) for c in costs if c.month == latest), key=lambda p: -p[1]
        )
        # The biggest few by name; a long tail of cents would only crowd the chart.
        lines = ranked[:_CHART_TYPES]
        if len(ranked) > _CHART_TYPES:
            lines.append((f"{len(ranked) - _CHART_TYPES} other types", sum(cost for _, cost in ranked[_CHART_TYPES:])))
        lines.reverse()
        plt.clear_figure()
        plt.theme("pro" if colored else "clear")
        plt.plotsize(width, max(8, 2 * len(lines) + 4))
        plt.bar([label for label, _ in lines], [cost for _, cost in lines], orientation="h")
        plt.title(f"{latest} by cost type, US dollars")
        parts.append(plt.build())
    text = "\n".join(parts)
    return text if colored else _ANSI.sub("", text)


@cli.command()
@click.option(
    "--db",
    "database",
    type=click.Path(dir_okay=False, path_type=Path),
    default="viam-billing.db",
    show_default=True,
    help="The history database `export` wrote.",
)
@click.option("--org", "org_ids", multiple=True, metavar="ORG_ID", help="Only these organizations (repeatable).")
@click.option("--chart/--no-chart", default=True, show_default=True, help="Draw the terminal charts.")
@pass_settings
def report(settings: Settings, database: Path, org_ids: tuple[str, ...], chart: bool) -> None:
    """Cost per month and per cost type from the export history, as tables and charts."""
    print_report(settings.out, database, org_ids, chart=chart)
