"""One subcommand per operation, and ``plugins``."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import click
import viam_billing as vb
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text
from viam_billing import BillingClient, PluginInfo
from viam_billing.plugin import safe_name

from ._app import EXIT_FILE, EXIT_USAGE, Settings, cli, fail, file_error, pass_settings, stop_if_interrupted
from ._layout import FitTable
from ._output import FORMAT_OPTION, print_result
from ._params import AMOUNT, CHARGE_AMOUNT, ID, LimitedText
from ._render import money

__all__ = ["charge", "invoice_pdf", "plugins", "usage"]

DESCRIPTION_LIMIT = 1000
"""The longest invoice description the service takes, in characters."""
ENV_CONFIRM_ABOVE = "VIAM_BILLING_CONFIRM_ABOVE"
DEFAULT_CONFIRM_ABOVE = 10_000.0
"""Charges above this many US dollars (subtotal plus tax) need a second, explicit confirmation."""


def _show(
    settings: Settings, fmt: str, request: vb.Model, call: Callable[[BillingClient], Awaitable[vb.Model]]
) -> None:
    """Run ``call`` (a typed client method) and print its result for ``request``."""
    client = settings.connect()

    async def go() -> vb.Model:
        async with client:
            return await call(client)

    print_result(settings, fmt, request, settings.run(go))


@cli.command()
@click.argument("org_id", type=ID)
@FORMAT_OPTION
@pass_settings
def usage(settings: Settings, org_id: str, fmt: str) -> None:
    """The organization's usage this month so far: each cost line, the discounts, the subtotal after them."""
    request = vb.GetCurrentMonthUsageRequest(org_id=org_id)
    _show(settings, fmt, request, lambda c: c.get_current_month_usage(org_id))


@cli.command()
@click.argument("org_id", type=ID)
@FORMAT_OPTION
@pass_settings
def invoices(settings: Settings, org_id: str, fmt: str) -> None:
    """The organization's invoices and outstanding balance."""
    request = vb.GetInvoicesSummaryRequest(org_id=org_id)
    _show(settings, fmt, request, lambda c: c.get_invoices_summary(org_id))


@cli.command()
@click.argument("org_id", type=ID)
@FORMAT_OPTION
@pass_settings
def info(settings: Settings, org_id: str, fmt: str) -> None:
    """How the organization pays: method, billing e-mail, tier."""
    request = vb.GetOrgBillingInformationRequest(org_id=org_id)
    _show(settings, fmt, request, lambda c: c.get_org_billing_information(org_id))


@cli.command()
@FORMAT_OPTION
@pass_settings
def tiers(settings: Settings, fmt: str) -> None:
    """The billing tiers an organization can be put on."""
    request = vb.GetAvailableBillingTiersRequest()
    _show(settings, fmt, request, lambda c: c.get_available_billing_tiers())


@cli.command("location-org")
@click.argument("location_id", type=ID)
@FORMAT_OPTION
@pass_settings
def location_org(settings: Settings, location_id: str, fmt: str) -> None:
    """Which organization pays for a location."""
    request = vb.GetLocationBillingOrganizationRequest(location_id=location_id)
    call = lambda c: c.get_location_billing_organization(location_id)  # noqa: E731
    _show(settings, fmt, request, call)


def _destination(output: str | None, invoice_id: str) -> Path | None:
    """Where ``invoice-pdf`` writes (``None``: standard output), checked before anything is fetched."""
    if output == "-":
        if sys.stdout.isatty():
            fail("-o - writes the PDF to standard output, which is a terminal: redirect or pipe it", EXIT_USAGE)
        return None
    path = Path(output) if output else Path(f"{safe_name(invoice_id)}.pdf")
    folder = path.resolve().parent
    if path.is_dir():
        fail(f"cannot write {path}: it is a directory; name a file, such as {path / (safe_name(invoice_id) + '.pdf')}",
             EXIT_FILE)  # fmt: skip
    if not folder.is_dir():
        fail(f"cannot write {path}: the folder {folder} does not exist", EXIT_FILE)
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"cannot write {path}: the folder {folder} is not writable", EXIT_FILE)
    return path


@cli.command("invoice-pdf")
@click.argument("org_id", type=ID)
@click.argument("invoice_id", type=ID)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Where to save the PDF (default: <invoice id>.pdf here); - writes it to standard output.",
)
@pass_settings
def invoice_pdf(settings: Settings, org_id: str, invoice_id: str, output: str | None) -> None:
    """Download an invoice PDF, with a progress bar on a terminal. A file appears only once complete: an error
    or an interruption leaves no partial or temporary file, and an existing file keeps its content."""
    path = _destination(output, invoice_id)
    client = settings.connect()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=settings.err,
        transient=True,
        disable=not settings.err.is_terminal,
    )
    dest: Path | IO[bytes] = path if path is not None else sys.stdout.buffer

    async def download() -> int:
        with progress:
            task = progress.add_task(f"{invoice_id}.pdf", total=None)

            def advance(size: int) -> None:
                stop_if_interrupted()  # a chunk at a time: a signal stops the download here at once
                progress.advance(task, size)

            async with client:
                # A path is written atomically by the client: the file appears only once complete.
                return await client.get_invoice_pdf(invoice_id, org_id, dest, progress=advance)

    try:
        size = settings.run(download)
    except OSError as exc:  # viam_billing.FileError among them: said in terms of what the user named
        raise file_error(str(path) if path is not None else "standard output", exc) from exc
    if path is None:
        sys.stdout.buffer.flush()
        settings.err.print(f"wrote {invoice_id} to standard output ({size:,} bytes)", highlight=False)
    else:
        settings.out.print(f"saved {path} ({size:,} bytes)", highlight=False)


def _confirm(settings: Settings, yes: bool, summary: FitTable, question: str) -> None:
    """Show what will happen (on stderr, beside the question) and ask, unless ``--yes`` was given."""
    settings.err.print(summary)
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not confirmed: run it on a terminal to be asked, or pass --yes", EXIT_USAGE)
    if not click.confirm(question, err=True):
        raise click.Abort


def _summary(title: str, **rows: Any) -> FitTable:
    table = FitTable("field", "value", title=title, show_header=False, first_column_style="bold")
    for name, value in rows.items():
        if value is not None:
            table.add_row(name.replace("_", " "), str(value))
    return table


def _cents(amount: float) -> Decimal:
    return Decimal(repr(amount)).quantize(Decimal("0.01"))


def _typed_amount(text: str) -> Decimal | None:
    """An amount as a person types it (``100000``, ``100,000.00``, ``$100000.00``), or ``None``."""
    try:
        amount = Decimal(text.strip().lstrip("$").replace(",", ""))
    except ArithmeticError:
        return None
    return amount if amount.is_finite() else None


@cli.command()
@click.argument("org_id", type=ID)
@click.option("--subtotal", type=CHARGE_AMOUNT, required=True, help="Amount before tax, US dollars (at least 0.01).")
@click.option("--tax", type=AMOUNT, default=0.0, show_default=True, help="Tax, US dollars.")
@click.option(
    "--description",
    type=LimitedText(DESCRIPTION_LIMIT),
    help=f"Shown on the invoice (at most {DESCRIPTION_LIMIT} characters).",
)
@click.option("--branding-org", type=ID, metavar="ORG_ID", help="Organization whose branding the invoice carries.")
@click.option("--no-email", is_flag=True, help="Do not send the confirmation e-mail.")
@click.option("--yes", is_flag=True, help="Charge without asking (a large charge also needs --confirm-total).")
@click.option(
    "--confirm-above",
    type=AMOUNT,
    default=DEFAULT_CONFIRM_ABOVE,
    envvar=ENV_CONFIRM_ABOVE,
    show_envvar=True,
    show_default="10,000.00",
    metavar="AMOUNT",
    help="A total above this needs a second confirmation: typed on a terminal, or --confirm-total.",
)
@click.option(
    "--confirm-total",
    type=AMOUNT,
    metavar="AMOUNT",
    help="The total (subtotal plus tax) you mean to charge: confirms a large charge without a terminal.",
)
@pass_settings
def charge(
    settings: Settings,
    org_id: str,
    subtotal: float,
    tax: float,
    description: str | None,
    branding_org: str | None,
    no_email: bool,
    yes: bool,
    confirm_above: float,
    confirm_total: float | None,
) -> None:
    """Charge an organization subtotal plus tax. Every value is checked first, then the charge is shown and you
    are asked (a total above --confirm-above is asked for twice). Never retried: a retry could charge twice.
    """
    total = _cents(subtotal) + _cents(tax)
    large = total > _cents(confirm_above)
    if confirm_total is not None and _cents(confirm_total) != total:
        fail(f"--confirm-total {confirm_total:.2f} is not the total of this charge, {total:.2f}; nothing was charged",
             EXIT_USAGE)  # fmt: skip
    if large and yes and confirm_total is None:
        fail(f"{money(float(total))} is above {money(confirm_above)} (--confirm-above): add --confirm-total "
             f"{total:.2f} to confirm it, or leave out --yes to be asked on a terminal", EXIT_USAGE)  # fmt: skip
    client = settings.connect()
    summary = _summary(
        "This will charge",
        organization=org_id,
        subtotal=money(subtotal),
        tax=money(tax),
        total=money(float(total)),
        description=description,
        branding=branding_org,
        confirmation_email="no" if no_email else "yes",
    )
    _confirm(settings, yes, summary, f"Charge {money(float(total))} to {org_id}?")
    if large and confirm_total is None:
        typed = click.prompt(
            f"{money(float(total))} is above {money(confirm_above)}. Type the total ({total:.2f}) to charge it",
            err=True,
        )
        if _typed_amount(typed) != total:
            fail(f"the total typed, {typed.strip()!r}, is not {total:.2f}: nothing was charged", EXIT_USAGE)

    async def go() -> vb.ChargeOrganizationResponse:
        async with client:
            return await client.charge_organization(org_id, subtotal, tax, description, branding_org, no_email)

    result = settings.run(go)
    settings.out.print(f"charged: invoice {result.invoice_id} (status starts as payment_processing)", highlight=False)


@cli.command("send-payment-email")
@click.argument("customer_org_id", type=ID)
@click.argument("billing_owner_org_id", type=ID)
@click.option("--yes", is_flag=True, help="Send without asking.")
@pass_settings
def send_payment_email(settings: Settings, customer_org_id: str, billing_owner_org_id: str, yes: bool) -> None:
    """E-mail a customer organization that payment is required."""
    summary = _summary("This will e-mail", customer=customer_org_id, billing_owner=billing_owner_org_id)

    async def go(client: BillingClient) -> None:
        await client.send_payment_required_email(customer_org_id, billing_owner_org_id)

    _change(settings, yes, summary, f"Send the payment-required e-mail to {customer_org_id}?", go)
    settings.out.print("sent")


@cli.command("set-tier")
@click.argument("org_id", type=ID)
@click.argument("tier", type=ID)
@click.option("--yes", is_flag=True, help="Change without asking.")
@pass_settings
def set_tier(settings: Settings, org_id: str, tier: str, yes: bool) -> None:
    """Put an organization on a billing tier (see `tiers`)."""

    async def go(client: BillingClient) -> None:
        await client.update_organization_billing_tier(org_id, tier)

    _change(settings, yes, _summary("This will change", organization=org_id, tier=tier), "Change the tier?", go)
    settings.out.print(f"{org_id} is now on {tier}", highlight=False)


@cli.command("set-location-org")
@click.argument("location_id", type=ID)
@click.argument("billing_org_id", type=ID)
@click.option("--yes", is_flag=True, help="Change without asking.")
@pass_settings
def set_location_org(settings: Settings, location_id: str, billing_org_id: str, yes: bool) -> None:
    """Make an organization pay for a location."""
    summary = _summary("This will change", location=location_id, billing_organization=billing_org_id)

    async def go(client: BillingClient) -> None:
        await client.update_location_billing_organization(location_id, billing_org_id)

    _change(settings, yes, summary, "Change who pays for the location?", go)
    settings.out.print(f"{billing_org_id} now pays for {location_id}", highlight=False)


def _change(
    settings: Settings, yes: bool, summary: FitTable, question: str, work: Callable[[BillingClient], Awaitable[None]]
) -> None:
    """Make the client (credentials and options checked), confirm, then run ``work`` on it."""
    client = settings.connect()
    _confirm(settings, yes, summary, question)

    async def go() -> None:
        async with client:
            await work(client)

    settings.run(go)


@cli.command()
@pass_settings
def plugins(settings: Settings) -> None:
    """Every plugin found: its distribution and version, what it provides, and why it failed if it did.

    Each plugin is imported to show what it registers; one that fails to import is listed with the error.
    """
    table = Table(title="viam-billing plugins", title_justify="left")
    for column in ("plugin", "distribution", "version", "provides", "status"):
        table.add_column(column, overflow="fold")  # names in full, wrapped if need be, never cut short
    for group in _per_plugin(vb.list_plugins(load=True)):
        first = group[0]
        name, distribution, version = first.module or first.name, first.distribution or "", first.version or ""
        table.add_row(name, distribution, version, _provides(group), _status(group))
    settings.out.print(table)


def _per_plugin(infos: Iterable[PluginInfo]) -> list[list[PluginInfo]]:
    """The entries grouped by plugin (a module is listed once per name it provides), in the order found."""
    groups: dict[tuple[str, str | None], list[PluginInfo]] = {}
    for info in infos:
        groups.setdefault((info.module or info.name, info.distribution), []).append(info)
    return list(groups.values())


def _provides(group: Sequence[PluginInfo]) -> str:
    parts = [f"{label}: {names}" for label, names in (("transports", _names(group, "transport")),
                                                      ("sinks", _names(group, "sink"))) if names]  # fmt: skip
    if any(info.kind == "observer" for info in group):
        parts.append("call observer")
    return "; ".join(parts)


def _names(group: Sequence[PluginInfo], kind: str) -> str:
    # What the plugin registered, then any name it is listed under but did not register (it failed to load).
    registered = [name for info in group for name in (info.transports if kind == "transport" else info.sinks)]
    return ", ".join(dict.fromkeys([*registered, *(info.name for info in group if info.kind == kind)]))


def _status(group: Sequence[PluginInfo]) -> Text:
    # Text, not markup: an error message may hold brackets.
    status = Text("loaded", style="green") if any(i.loaded for i in group) else Text()
    for error in dict.fromkeys(i.error for i in group if i.error is not None):
        status.append_text(Text.assemble("; " if status else "", ("failed: ", "red"), error))
    return status or Text("not loaded", style="yellow")
