"""``export``: the main job. Usage, invoices, billing information and missing PDFs of many organizations."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import attrs
import click
import viam_billing as vb
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table
from rich.text import Text
from viam_billing import BillingClient, BillingError, Sink, SinkError
from viam_billing_sinks import PdfSink

from ._app import ENV_PRIMARY_ORG, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Settings, cli, fail, pass_settings
from ._render import money

__all__ = ["DEFAULT_SINKS", "OrgExport", "download_missing_pdf", "export_organizations", "print_summary"]

DEFAULT_SINKS = ("sqlite:viam-billing.db", "pdf:invoices", "console")

Step = Callable[..., None]
"""Progress callback: ``step(what, advance=0, grow=0)``: what is happening, steps done, steps added."""


@attrs.define(kw_only=True)
class OrgExport:
    """What exporting one organization gave."""

    org_id: str
    subtotal: float | None = None
    invoices: int | None = None
    outstanding: float | None = None
    pdfs_downloaded: int = 0
    pdfs_kept: int = 0
    errors: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


async def download_missing_pdf(client: BillingClient, sink: PdfSink, org_id: str, invoice_id: str) -> bool:
    """Download the invoice's PDF to where ``sink`` keeps it, unless it is there; return whether it downloaded.

    The PDF streams straight to disk: the client writes a temporary file beside the target and renames it once
    complete, so on any failure (raised as the client raises it) nothing is left and a later export tries again.
    """
    path = sink.path_for(org_id, invoice_id)
    if path.is_file():  # an issued invoice's PDF never changes: the copy kept is never replaced
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    await client.get_invoice_pdf(invoice_id, org_id, path)
    return True


async def export_organization(client: BillingClient, org_id: str, step: Step) -> OrgExport:
    """Fetch one organization's month usage, invoices summary, billing information and missing invoice PDFs.

    Every result flows to the client's sinks, and each invoice's PDF is downloaded into every attached
    :class:`~viam_billing_sinks.PdfSink` that does not have it yet. A sink failure is noted and the export goes on
    (the data was fetched); any other failure ends this organization's export and is noted. Never raises a
    BillingError.
    """
    outcome = OrgExport(org_id=org_id)

    async def fetch(what: str, call: Callable[[], Any]) -> Any:
        step(what)
        try:
            result = await call()
        except SinkError as exc:
            outcome.errors.append(f"{what}: {exc}")
            result = exc.result
        step(f"{what} done", advance=1)
        return result

    try:
        usage: vb.GetCurrentMonthUsageResponse = await fetch("usage", lambda: client.get_current_month_usage(org_id))
        outcome.subtotal = usage.subtotal
        summary: vb.GetInvoicesSummaryResponse = await fetch("invoices", lambda: client.get_invoices_summary(org_id))
        outcome.invoices, outcome.outstanding = len(summary.invoices), summary.outstanding_balance
        await fetch("billing information", lambda: client.get_org_billing_information(org_id))
        pdf_sinks = [sink for sink in client.sinks if isinstance(sink, PdfSink)]
        step("invoice PDFs", grow=len(summary.invoices) * len(pdf_sinks))
        for invoice in summary.invoices:
            for sink in pdf_sinks:
                step(f"PDF {invoice.id}")
                if await download_missing_pdf(client, sink, org_id, invoice.id):
                    outcome.pdfs_downloaded += 1
                else:
                    outcome.pdfs_kept += 1
                step(f"PDF {invoice.id}", advance=1)
    except BillingError as exc:
        outcome.errors.append(str(exc))
    except OSError as exc:  # a PDF that could not be written
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
    return outcome


async def export_organizations(
    client: BillingClient,
    org_ids: Sequence[str],
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> list[OrgExport]:
    """Export ``org_ids`` concurrently, at most ``concurrency`` at a time; results in the order given."""
    limiter = anyio.CapacityLimiter(concurrency)
    results: dict[str, OrgExport] = {}

    async def one(org_id: str) -> None:
        total = 3  # usage, invoices, billing information; the PDFs are added once the invoices are known
        task: TaskID | None = None if progress is None else progress.add_task(f"{org_id}: waiting", total=total)

        def step(what: str, advance: int = 0, grow: int = 0) -> None:
            nonlocal total
            total += grow
            if progress is not None and task is not None:
                progress.update(task, total=total, advance=advance, description=f"{org_id}: {what}")

        async with limiter:
            results[org_id] = await export_organization(client, org_id, step)
        if progress is not None and task is not None:
            mark = "[green]done[/]" if results[org_id].ok else "[red]failed[/]"
            progress.update(task, description=f"{org_id}: {mark}")

    async with anyio.create_task_group() as tg:
        for org_id in dict.fromkeys(org_ids):
            tg.start_soon(one, org_id)
    return [results[org_id] for org_id in dict.fromkeys(org_ids)]


def print_summary(console: Console, outcomes: Sequence[OrgExport]) -> None:
    """The final summary, one entry per organization: a table on a wide console, lines on a narrow one."""

    def amount(value: float | None) -> str:
        return "" if value is None else money(value)

    def pdfs(o: OrgExport) -> str:
        return f"{o.pdfs_downloaded} new, {o.pdfs_kept} kept"

    console.print(Text("Export summary", style="bold"))
    widest = max((len(o.org_id) for o in outcomes), default=0)
    if console.width >= widest + 75:
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("organization", no_wrap=True)
        for column in ("usage so far", "invoices", "outstanding", "PDFs"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("status", overflow="fold")
        for o in outcomes:
            status = Text("ok", style="green") if o.ok else Text("; ".join(o.errors), style="red")
            invoices = "" if o.invoices is None else str(o.invoices)
            table.add_row(o.org_id, amount(o.subtotal), invoices, amount(o.outstanding), pdfs(o), status)
        console.print(table)
        return
    for o in outcomes:
        mark = Text("ok    ", style="green") if o.ok else Text("FAILED", style="red")
        console.print(Text.assemble("  ", mark, " ", (o.org_id, "bold")))
        if o.invoices is not None:
            console.print(
                f"         usage {amount(o.subtotal)} · {o.invoices} invoice(s), {amount(o.outstanding)} "
                f"outstanding · PDFs {pdfs(o)}",
                highlight=False,
            )
        for error in o.errors:
            console.print(Text(f"         {error}", style="red"))


def make_progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


async def run_export(
    client: BillingClient, org_ids: Sequence[str], *, concurrency: int, console: Console
) -> list[OrgExport]:
    """Open the client (and so its sinks), export with a progress display, and return the outcomes."""
    async with client:
        with make_progress(console) as progress:
            return await export_organizations(client, org_ids, concurrency=concurrency, progress=progress)


def where_it_went(sinks: Sequence[Sink]) -> list[str]:
    """One line per sink saying where its output is."""
    lines = []
    for sink in sinks:
        for attribute in ("path", "directory"):
            location = getattr(sink, attribute, None)
            if location is not None:
                lines.append(f"  {sink.name.split(':', 1)[0]:<8} {os.path.abspath(location)}")
                break
        else:
            lines.append(f"  {sink.name}")
    return lines


@cli.command()
@click.option(
    "--org",
    "org_ids",
    multiple=True,
    metavar="ORG_ID",
    help=f"An organization to export; repeat for several (default: ${ENV_PRIMARY_ORG}).",
)
@click.option(
    "--sink",
    "sink_specs",
    multiple=True,
    metavar="SPEC",
    help="Where results go; repeat for several (default: " + ", ".join(DEFAULT_SINKS) + ").",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="How many organizations are fetched at once.",
)
@pass_settings
def export(settings: Settings, org_ids: tuple[str, ...], sink_specs: tuple[str, ...], concurrency: int) -> None:
    """Export organizations: this month's usage, invoices, billing information and every invoice PDF not yet
    saved, to the sinks. Exits 1 when any organization failed; the others are exported all the same.
    """
    chosen = list(org_ids) or [org for org in [os.environ.get(ENV_PRIMARY_ORG, "").strip()] if org]
    if not chosen:
        fail(f"no organization: pass --org ORG_ID (repeatable) or set {ENV_PRIMARY_ORG}", EXIT_USAGE)
    client = settings.connect(sinks=list(sink_specs) or list(DEFAULT_SINKS))
    outcomes = settings.run(_export_with, client, chosen, concurrency, settings.err)
    print_summary(settings.out, outcomes)
    settings.out.print("Stored in:")
    for line in where_it_went(client.sinks):
        settings.out.print(line, highlight=False)
    failed = [o.org_id for o in outcomes if not o.ok]
    if failed:
        settings.err.print(
            f"[red]error:[/] {len(failed)} of {len(outcomes)} organization(s) failed: {', '.join(failed)}"
        )
    raise SystemExit(EXIT_FAILED if failed else EXIT_OK)


async def _export_with(
    client: BillingClient, org_ids: Sequence[str], concurrency: int, console: Console
) -> list[OrgExport]:
    return await run_export(client, org_ids, concurrency=concurrency, console=console)
