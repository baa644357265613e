"""``report``: usage and invoices per month from the SQLite history, as tables and terminal charts.

Every figure says what it is: usage before discounts (by cost type), the discounts, the subtotal after them
(what the month's usage bills before tax), and invoices by the month of their date. Usage and invoiced amounts
are never added together, and a month whose usage was fetched before it ended is labelled "so far" and gets a
month-end forecast, labelled as an estimate.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text
from viam_billing_sinks import History, MonthlyCost, MonthlyInvoices, MonthlyUsage

from ._app import EXIT_FAILED, Settings, cli, pass_settings
from ._finops import month_forecast
from ._layout import Column, FitTable
from ._params import ID
from ._render import cost_type_label, money

__all__ = ["axis_ticks", "print_report"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CHART_TYPES = 8


def _month_label(usage: MonthlyUsage) -> str:
    return f"{usage.month} so far" if usage.partial else usage.month


def print_report(
    console: Console,
    database: Path,
    org_ids: Sequence[str] = (),
    *,
    chart: bool = True,
    notes: Console | None = None,
) -> list[str]:
    """Print the report of ``database`` on ``console`` (charts too when ``chart``) and return the organizations
    asked for that the history has no data of; they are also named on ``notes`` (default: ``console``).

    The history is opened read-only. Raises :class:`~viam_billing.ConfigurationError` when the database does
    not exist or cannot be read.
    """
    with History(database) as history:
        costs = history.monthly_costs(org_ids)
        usage = history.monthly_usage(org_ids)
        invoices = history.monthly_invoices(org_ids)
        organizations = history.organizations()
    missing = [org for org in dict.fromkeys(org_ids) if org not in organizations]
    for org in missing:
        (notes or console).print(
            f"[yellow]warning:[/] {database} has no data of organization {org}: "
            f"export it first (`viam-billing export --org {org}`)",
            highlight=False,
        )
    shown = [org for org in dict.fromkeys(org_ids) if org in organizations]
    scope = ", ".join(shown) if org_ids else f"{len(organizations)} organization(s)"
    console.print(Text(f"Billing report for {scope or 'no organization'}, from {database}", style="bold"))
    console.print(_usage_table(costs, usage))
    console.print(_invoice_table(invoices))
    if chart and (usage or invoices):
        console.print(Text.from_ansi(_charts(costs, usage, invoices, console)))
    return missing


def _usage_table(costs: Sequence[MonthlyCost], usage: Sequence[MonthlyUsage]) -> FitTable:
    """Cost types by month before discounts, then the month's total before discounts, discounts and subtotal.

    The rows above "total before discounts" add up to it; it minus the discounts is the subtotal, the sum of the
    subtotals the service gave for each organization's month."""
    months = [u.month for u in usage]
    caption = Text(
        'Usage is each organization\'s latest export of each month; "so far": exported before the month ended. '
        "Discounts apply to a whole source of usage, so they are not split by cost type."
    )
    odd = [u for u in usage if abs(u.before_discounts - u.discounts - u.subtotal) >= 0.005]
    for u in odd:
        caption.append(
            f"\n{u.month}: the service's subtotals {money(u.subtotal)} are not its lines minus discounts "
            f"({money(u.before_discounts - u.discounts)}).",
            style="yellow",
        )
    table = FitTable(
        Column("cost type"),
        *(Column(_month_label(u), justify="right") for u in usage),
        title="Usage per month and cost type, before discounts",
        caption=caption,
    )
    by_type: dict[str, dict[str, float]] = defaultdict(dict)
    for c in costs:
        by_type[cost_type_label(c.cost_type)][c.month] = c.cost
    labels = sorted(by_type, key=lambda name: -sum(by_type[name].values()))
    for index, label in enumerate(labels):
        table.add_row(label, *(money(by_type[label].get(month, 0.0)) for month in months),
                      end_section=index == len(labels) - 1)  # fmt: skip
    if not usage:
        table.add_row("no usage recorded yet")
        return table
    table.add_row("total before discounts", *(money(u.before_discounts) for u in usage))
    table.add_row("discounts", *(money(-u.discounts) for u in usage))
    table.add_row("subtotal after discounts", *(money(u.subtotal) for u in usage), style="bold")
    forecasts = [month_forecast(u) for u in usage]
    if any(forecasts):  # beside the figures it comes from, labelled as an estimate; the caption says how
        table.add_row("forecast for the month (estimate)", *(money(f.forecast) if f else "" for f in forecasts),
                      style="italic")  # fmt: skip
        caption.append(
            '\nForecast, for months exported before they ended: the subtotal "so far" plus the usage per day so far '
            "continued to the month's end (run-rate, as of the latest export; discounts not extrapolated). An "
            "estimate, not a bill.",
            style="dim",
        )
    return table


def _invoice_table(invoices: Sequence[MonthlyInvoices]) -> FitTable:
    table = FitTable(
        Column("month"),
        Column("invoices", justify="right"),
        Column("amount", justify="right"),
        Column("not paid", justify="right"),
        title="Invoices per month of their date (amounts invoiced, as the service gave them)",
    )
    for index, month in enumerate(invoices):
        unpaid = money(month.unpaid)
        table.add_row(month.month, str(month.count), money(month.amount),
                      Text(unpaid, style="red") if month.unpaid else unpaid,
                      end_section=index == len(invoices) - 1)  # fmt: skip
    if invoices:
        table.add_row(
            "total",
            str(sum(m.count for m in invoices)),
            money(sum(m.amount for m in invoices)),
            money(sum(m.unpaid for m in invoices)),
            style="bold",
        )
    else:
        table.add_row("no invoices recorded yet")
    return table


def axis_ticks(largest: float, count: int = 5) -> tuple[list[float], list[str]]:
    """Round tick values from 0 up to at least ``largest`` (about ``count`` of them), labelled as dollars:
    ``([0, 500, 1000, 1500], ["$0", "$500", "$1,000", "$1,500"])``."""
    if not math.isfinite(largest) or largest <= 0:
        return [0.0], ["$0"]
    rough = largest / max(1, count - 1)
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    ticks = [step * i for i in range(math.ceil(largest / step - 1e-9) + 1)]
    cents = step < 1 or any(round(t, 2) != round(t) for t in ticks)
    return ticks, [f"${t:,.2f}" if cents else f"${t:,.0f}" for t in ticks]


def _charts(
    costs: Sequence[MonthlyCost], usage: Sequence[MonthlyUsage], invoices: Sequence[MonthlyInvoices], console: Console
) -> str:
    """Terminal charts, each of one kind of figure: usage per month (subtotal after discounts), invoiced per
    month, and the latest month by cost type (before discounts)."""
    import plotext as plt  # type: ignore[import-untyped]

    width = max(40, min(console.width, 100))
    colored = console.is_terminal and not console.no_color
    parts = []

    def chart(labels: list[str], values: list[float], title: str, *, horizontal: bool = False) -> None:
        plt.clear_figure()
        plt.theme("pro" if colored else "clear")
        plt.plotsize(width, max(8, 2 * len(labels) + 4) if horizontal else 14)
        plt.bar(labels, values, width=0.5, orientation="h" if horizontal else "v")
        ticks, tick_labels = axis_ticks(max(values, default=0.0))
        (plt.xticks if horizontal else plt.yticks)(ticks, tick_labels)
        plt.title(title)
        parts.append(plt.build())

    if usage:
        partial = [u.month for u in usage if u.partial]
        note = f"; {', '.join(partial)}: so far" if partial else ""
        chart([_month_label(u) for u in usage], [u.subtotal for u in usage],
              f"Usage per month after discounts, US dollars{note}")  # fmt: skip
    if invoices:
        chart([i.month for i in invoices], [i.amount for i in invoices],
              "Invoiced per month of the invoice date, US dollars")  # fmt: skip
    if usage:
        latest = usage[-1]
        ranked = sorted(
            ((cost_type_label(c.cost_type), c.cost) for c in costs if c.month == latest.month), key=lambda p: -p[1]
        )
        # The biggest few by name; a long tail of cents would only crowd the chart.
        lines = ranked[:_CHART_TYPES]
        if len(ranked) > _CHART_TYPES:
            lines.append((f"{len(ranked) - _CHART_TYPES} other types", sum(cost for _, cost in ranked[_CHART_TYPES:])))
        lines.reverse()
        if lines:
            chart([label for label, _ in lines], [cost for _, cost in lines],
                  f"{_month_label(latest)} by cost type, before discounts, US dollars", horizontal=True)  # fmt: skip
    text = "\n".join(parts)
    return text if colored else _ANSI.sub("", text)


@cli.command()
@click.option(
    "--db",
    "database",
    type=click.Path(dir_okay=False, path_type=Path),
    default="viam-billing.db",
    show_default=True,
    help="The history database `export` wrote (opened read-only).",
)
@click.option(
    "--org", "org_ids", multiple=True, type=ID, metavar="ORG_ID", help="Only these organizations (repeatable)."
)
@click.option("--chart/--no-chart", default=True, show_default=True, help="Draw the terminal charts.")
@pass_settings
def report(settings: Settings, database: Path, org_ids: tuple[str, ...], chart: bool) -> None:
    """Usage per month and cost type (before discounts, discounts, subtotal) and invoices per month, from the
    export history, as tables and charts. The database is only read, never changed. An organization given
    with --org that the history has no data of is named on stderr; if none has data, the exit status is 1.
    """
    missing = print_report(settings.out, database, org_ids, chart=chart, notes=settings.err)
    if org_ids and len(missing) == len(set(org_ids)):
        raise SystemExit(EXIT_FAILED)
