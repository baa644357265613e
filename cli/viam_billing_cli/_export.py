"""``export``: the main job. Usage, invoices, billing information and missing PDFs of many organizations.

Standard output belongs to the sinks (``console``, ``jsonl:-``): the progress display, the summary, where the
results went and the failures all go to standard error.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread
import attrs
import click
import viam_billing as vb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.text import Text
from viam_billing import BillingClient, BillingError, Sink, SinkError
from viam_billing_sinks import PdfSink

from ._app import (
    ENV_PRIMARY_ORG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Settings,
    cli,
    fail,
    pass_settings,
    stop_if_interrupted,
)
from ._layout import Column, FitTable
from ._params import ID
from ._render import money

__all__ = [
    "DEFAULT_SINKS",
    "LISTED_IN_FULL",
    "READS",
    "OrgExport",
    "download_pdf",
    "export_organizations",
    "print_summary",
]

T = TypeVar("T")

DEFAULT_SINKS = ("sqlite:viam-billing.db", "pdf:invoices", "console")

LISTED_IN_FULL = 100
"""Up to this many organizations, the summary lists each; beyond, it lists the failed ones and the totals."""

READS = 3
"""Calls that read an organization: usage, invoices and billing information, made side by side."""


@attrs.define(kw_only=True)
class OrgExport:
    """What exporting one organization gave: its usage so far this month (subtotal, after discounts), invoices,
    outstanding balance, PDFs downloaded or already kept, and what went wrong."""

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


async def download_pdf(client: BillingClient, sink: PdfSink, org_id: str, invoice_id: str) -> int:
    """Download the invoice's PDF to where ``sink`` keeps it; return its size in bytes.

    The client saves it atomically (whole, flushed to disk, then renamed into place), so on any failure (raised
    as the client raises it) nothing is left and a later export tries again.
    """
    # Checked at each chunk: SIGINT or SIGTERM stops the download at once (the client leaves nothing behind).
    path = sink.path_for(org_id, invoice_id)
    return await client.get_invoice_pdf(invoice_id, org_id, path, progress=lambda size: stop_if_interrupted())


class _Display:
    """The progress display: a bar for the organizations, one for the invoice PDFs (once some are found), and a
    line per organization while it reads.

    So it stays as tall as ``--concurrency`` allows, whatever the number of organizations. ``None`` progress
    (not a terminal) makes every method a no-op.
    """

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self._failed = 0
        self._overall = None if progress is None else progress.add_task(self._label(), total=total)
        self._pdfs: TaskID | None = None
        self._pdfs_found = 0

    def _label(self) -> str:
        return "organizations" + (f" ([red]{self._failed} failed[/])" if self._failed else "")

    def reading(self, org_id: str) -> _Line:
        """Show ``org_id`` until :meth:`_Line.close`: what it is reading, and how many of its reads are done."""
        return _Line(self._progress, org_id)

    def pdfs(self, found: int = 0, done: int = 0) -> None:
        """Count on the PDFs' bar ``found`` more PDFs to download, and ``done`` more downloaded."""
        if self._progress is None:
            return
        if self._pdfs is None:
            self._pdfs = self._progress.add_task("invoice PDFs", total=0)
        self._pdfs_found += found
        self._progress.update(self._pdfs, total=self._pdfs_found, advance=done)

    def finished(self, ok: bool) -> None:
        if self._progress is None or self._overall is None:
            return
        self._failed += not ok
        self._progress.update(self._overall, advance=1, description=self._label())


class _Line:
    """One organization's line on the display, while it reads."""

    def __init__(self, progress: Progress | None, org_id: str) -> None:
        self._progress = progress
        self._org_id = org_id
        self._task = None if progress is None else progress.add_task(f"  {org_id}", total=READS)

    def step(self, what: str, advance: int = 0) -> None:
        """Say what the organization is doing now, and how many more of its reads are done."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=advance, description=f"  {self._org_id}: {what}")

    def close(self) -> None:
        """Take the line away (again: nothing)."""
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


def _nothing(*args: Any, **kwargs: Any) -> None:
    pass


async def export_organization(
    client: BillingClient,
    org_id: str,
    step: Callable[..., None] = _nothing,
    *,
    calls: anyio.Semaphore | None = None,
    read: Callable[[], None] = _nothing,
    pdfs: Callable[..., None] = _nothing,
) -> OrgExport:
    """Fetch one organization's month usage, invoices summary, billing information and missing invoice PDFs.

    The three reads run at once, and each PDF download starts as soon as the invoices are known. Each call holds
    one of ``calls``, when given, while it is in flight (its results stored included). Every result flows to the
    client's sinks, and each invoice's PDF is downloaded into every attached :class:`~viam_billing_sinks.PdfSink`
    that does not have it yet. A sink failure is noted and the export goes on (the data was fetched); any other
    failure ends this organization's export (its other calls are cancelled) and is noted. Never raises a
    BillingError.

    ``step(what, advance=0)`` is told what the organization is reading, and how many of its reads are done;
    ``pdfs(found=0, done=0)`` how many PDFs it is to download and has downloaded. ``read()`` is called once,
    when the reads are done and every PDF download has begun (or the export ended): from then on the
    organization only waits for its downloads.
    """
    outcome = OrgExport(org_id=org_id)
    pdf_sinks = [sink for sink in client.sinks if isinstance(sink, PdfSink)]
    found: list[str] = []  # the invoices' ids

    async with anyio.create_task_group() as group:

        async def guarded(what: str, work: Callable[[], Awaitable[T]], advance: int = 1) -> T | None:
            step(what)
            try:
                result = await work()
            except SinkError as exc:  # stored nowhere or somewhere; fetched all the same
                outcome.errors.append(f"{what}: {exc}")
                result = exc.result  # type: ignore[assignment]
            except (BillingError, OSError) as exc:  # OSError: a PDF that could not be written
                outcome.errors.append(f"{what}: {exc}" if isinstance(exc, OSError) else str(exc))
                group.cancel_scope.cancel()
                return None
            step(f"{what} done", advance=advance)
            return result

        async def start(tasks: anyio.abc.TaskGroup, work: Callable[[], Awaitable[object]]) -> None:
            """Take one of ``calls`` (waiting for it here), then run ``work`` in ``tasks``; it gives it back."""

            async def holding() -> None:
                try:  # first: a task started is run, if only to be cancelled, so the call is always given back
                    await work()
                finally:
                    if calls is not None:
                        calls.release()

            if calls is not None:
                await calls.acquire()
            tasks.start_soon(holding)

        async def usage() -> None:
            result = await guarded("usage", lambda: client.get_current_month_usage(org_id))
            if isinstance(result, vb.GetCurrentMonthUsageResponse):
                outcome.subtotal = result.subtotal

        async def billing_information() -> None:
            await guarded("billing information", lambda: client.get_org_billing_information(org_id))

        async def invoices() -> None:
            summary = await guarded("invoices", lambda: client.get_invoices_summary(org_id))
            if isinstance(summary, vb.GetInvoicesSummaryResponse):
                outcome.invoices, outcome.outstanding = len(summary.invoices), summary.outstanding_balance
                found.extend(invoice.id for invoice in summary.invoices)

        async def pdf(sink: PdfSink, invoice_id: str) -> None:
            downloaded = await guarded(
                f"PDF {invoice_id}", lambda: download_pdf(client, sink, org_id, invoice_id), advance=0
            )
            if downloaded is not None:
                outcome.pdfs_downloaded += 1
                pdfs(done=1)

        try:
            async with anyio.create_task_group() as reads:
                await start(reads, usage)
                await start(reads, billing_information)
                await start(reads, invoices)
            for sink in pdf_sinks if found else ():
                # One listing of the organization's folder (made if need be), in a worker thread: a mkdir can
                # wait for the file system's journal, the event loop not.
                listing = partial(anyio.to_thread.run_sync, sink.missing, org_id, found)
                missing = await guarded("PDFs kept", listing, advance=0)
                if missing is None:
                    break
                outcome.pdfs_kept += len(found) - len(missing)
                pdfs(found=len(missing))
                for invoice_id in missing:
                    await start(group, partial(pdf, sink, invoice_id))
        finally:
            read()
    return outcome


async def export_organizations(
    client: BillingClient,
    org_ids: Sequence[str],
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> list[OrgExport]:
    """Export ``org_ids``, ``concurrency`` organizations' reads at a time; results in the order given.

    At most ``READS * concurrency`` calls are in flight, as many as ``concurrency`` organizations reading at
    once, and they are kept busy: an organization's PDF downloads go on while the next organizations read.
    ``progress`` shows a bar for the organizations, one for the PDFs, and a line per organization reading (see
    :func:`make_progress`).
    """
    unique = list(dict.fromkeys(org_ids))
    reading = anyio.Semaphore(concurrency)
    calls = anyio.Semaphore(READS * concurrency)
    display = _Display(progress, len(unique))
    results: dict[str, OrgExport] = {}

    async def one(org_id: str) -> None:
        line = display.reading(org_id)

        def read() -> None:
            line.close()
            reading.release()

        results[org_id] = await export_organization(
            client, org_id, line.step, calls=calls, read=read, pdfs=display.pdfs
        )
        display.finished(results[org_id].ok)

    async with anyio.create_task_group() as group:
        for org_id in unique:
            await reading.acquire()
            group.start_soon(one, org_id)
    return [results[org_id] for org_id in unique]


def print_summary(console: Console, outcomes: Sequence[OrgExport]) -> None:
    """The final summary: a row per organization (only the failed ones beyond :data:`LISTED_IN_FULL`), then
    the totals over those exported. Every id, amount and error is shown whole at any width."""

    def amount(value: float | None) -> str:
        return "" if value is None else money(value)

    listed = outcomes if len(outcomes) <= LISTED_IN_FULL else [o for o in outcomes if not o.ok]
    table = FitTable(
        Column("organization"),
        Column("usage\nso far", justify="right"),
        Column("invoices", justify="right"),
        Column("outstanding", justify="right"),
        Column("PDFs\nnew/kept", justify="right"),
        Column("status", wrap=True),
        title="Export summary",
        caption="usage so far: this month's subtotal, after discounts; PDFs: downloaded now / already kept",
    )
    for o in listed:
        status = Text("ok", style="green") if o.ok else Text("; ".join(o.errors), style="red")
        invoices = "" if o.invoices is None else str(o.invoices)
        table.add_row(o.org_id, amount(o.subtotal), invoices, amount(o.outstanding),
                      f"{o.pdfs_downloaded}/{o.pdfs_kept}", status, end_section=o is listed[-1])  # fmt: skip
    failed = sum(not o.ok for o in outcomes)
    table.add_row(
        f"total of {len(outcomes)}",
        money(sum(o.subtotal or 0.0 for o in outcomes)),
        str(sum(o.invoices or 0 for o in outcomes)),
        money(sum(o.outstanding or 0.0 for o in outcomes)),
        f"{sum(o.pdfs_downloaded for o in outcomes)}/{sum(o.pdfs_kept for o in outcomes)}",
        Text(f"{failed} failed", style="red") if failed else Text("all ok", style="green"),
        style="bold",
    )
    console.print(table)
    if len(listed) < len(outcomes):
        console.print(
            f"{len(outcomes) - len(listed)} organizations exported without error are not listed one by one; "
            "`viam-billing report` shows their figures.",
            highlight=False,
        )


def make_progress(console: Console) -> Progress | None:
    """The progress display on ``console``, or ``None`` when it is not a terminal (nothing to animate)."""
    if not console.is_terminal:
        return None
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )


async def run_export(
    client: BillingClient, org_ids: Sequence[str], *, concurrency: int, console: Console
) -> list[OrgExport]:
    """Open the client (and so its sinks), export with a progress display on ``console``, return the outcomes."""
    progress = make_progress(console)
    async with client:
        if progress is None:
            return await export_organizations(client, org_ids, concurrency=concurrency)
        with progress:
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
    type=ID,
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
    help="How many organizations are read at once (their three reads side by side); at most three times as "
    "many calls are in flight, PDF downloads included.",
)
@pass_settings
def export(settings: Settings, org_ids: tuple[str, ...], sink_specs: tuple[str, ...], concurrency: int) -> None:
    """Export organizations: this month's usage, invoices, billing information and every invoice PDF not yet
    saved, to the sinks. Exits 1 when any organization failed; the others are exported all the same.

    Standard output carries only what sinks write there (console, jsonl:-); the progress, the summary and
    the errors go to standard error.
    """
    chosen = list(org_ids) or [org for org in [os.environ.get(ENV_PRIMARY_ORG, "").strip()] if org]
    if not chosen:
        fail(f"no organization: pass --org ORG_ID (repeatable) or set {ENV_PRIMARY_ORG}", EXIT_USAGE)
    client = settings.connect(sinks=list(sink_specs) or list(DEFAULT_SINKS))
    outcomes = settings.run(_export_with, client, chosen, concurrency, settings.err)
    report = settings.err
    print_summary(report, outcomes)
    report.print("Stored in:")
    for line in where_it_went(client.sinks):
        report.print(line, highlight=False)
    failed = [o.org_id for o in outcomes if not o.ok]
    if failed:
        report.print(
            f"[red]error:[/] {len(failed)} of {len(outcomes)} organization(s) failed: {', '.join(failed)}",
            highlight=False,
        )
    raise SystemExit(EXIT_FAILED if failed else EXIT_OK)


async def _export_with(
    client: BillingClient, org_ids: Sequence[str], concurrency: int, console: Console
) -> list[OrgExport]:
    return await run_export(client, org_ids, concurrency=concurrency, console=console)
