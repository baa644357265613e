"""One subcommand per operation, and ``plugins``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click
import viam_billing as vb
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text
from viam_billing import BillingClient, PluginInfo
from viam_billing.plugin import safe_name

from ._app import EXIT_USAGE, Settings, cli, fail, pass_settings
from ._output import FORMAT_OPTION, print_result
from ._render import money

__all__ = ["charge", "invoice_pdf", "plugins", "usage"]


def _show(
    settings: Settings, fmt: str, request: vb.Model, call: Callable[[BillingClient], Awaitable[vb.Model]]
) -> None:
    """Run ``call`` (a typed client method, which checks the arguments) and print its result for ``request``."""

    async def go() -> vb.Model:
        async with settings.connect() as client:
            return await call(client)

    print_result(settings, fmt, request, settings.run(go))


@cli.command()
@click.argument("org_id")
@FORMAT_OPTION
@pass_settings
def usage(settings: Settings, org_id: str, fmt: str) -> None:
    """The organization's usage and costs this month so far."""
    request = vb.GetCurrentMonthUsageRequest(org_id=org_id)
    _show(settings, fmt, request, lambda c: c.get_current_month_usage(org_id))


@cli.command()
@click.argument("org_id")
@FORMAT_OPTION
@pass_settings
def invoices(settings: Settings, org_id: str, fmt: str) -> None:
    """The organization's invoices and outstanding balance."""
    request = vb.GetInvoicesSummaryRequest(org_id=org_id)
    _show(settings, fmt, request, lambda c: c.get_invoices_summary(org_id))


@cli.command()
@click.argument("org_id")
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
@click.argument("location_id")
@FORMAT_OPTION
@pass_settings
def location_org(settings: Settings, location_id: str, fmt: str) -> None:
    """Which organization pays for a location."""
    request = vb.GetLocationBillingOrganizationRequest(location_id=location_id)
    call = lambda c: c.get_location_billing_organization(location_id)  # noqa: E731
    _show(settings, fmt, request, call)


@cli.command("invoice-pdf")
@click.argument("org_id")
@click.argument("invoice_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to save the PDF (default: <invoice id>.pdf here).",
)
@pass_settings
def invoice_pdf(settings: Settings, org_id: str, invoice_id: str, output: Path | None) -> None:
    """Download an invoice PDF, with a progress bar; the file appears only once it is complete."""
    path = output or Path(f"{safe_name(invoice_id)}.pdf")
    directory = path.resolve().parent
    if not directory.is_dir():
        fail(f"the directory {str(directory)!r} does not exist", EXIT_USAGE)

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=settings.err,
        transient=True,
    )

    async def download() -> int:
        with progress:
            task = progress.add_task(f"{invoice_id}.pdf", total=None)
            async with settings.connect() as client:
                # A path is written atomically by the client: the file appears only once complete.
                return await client.get_invoice_pdf(
                    invoice_id, org_id, path, progress=lambda size: progress.advance(task, size)
                )

    size = settings.run(download)
    settings.out.print(f"saved {path} ({size:,} bytes)")


def _confirm(settings: Settings, yes: bool, summary: Table, question: str) -> None:
    settings.out.print(summary)
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not confirmed: run it on a terminal to be asked, or pass --yes", EXIT_USAGE)
    if not click.confirm(question, err=True):
        raise click.Abort


def _summary(title: str, **rows: Any) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in rows.items():
        if value is not None:
            table.add_row(name.replace("_", " "), str(value))
    return table


@cli.command()
@click.argument("org_id")
@click.option("--subtotal", type=click.FloatRange(min=0), required=True, help="Amount before tax, US dollars.")
@click.option("--tax", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Tax, US dollars.")
@click.option("--description", help="Shown on the invoice (at most 1000 characters).")
@click.option("--branding-org", help="Organization whose branding the invoice carries.")
@click.option("--no-email", is_flag=True, help="Do not send the confirmation e-mail.")
@click.option("--yes", is_flag=True, help="Charge without asking.")
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
) -> None:
    """Charge an organization. Shows the charge and asks first; never retried (a retry could charge twice)."""
    summary = _summary(
        "This will charge",
        organization=org_id,
        subtotal=money(subtotal),
        tax=money(tax),
        total=money(subtotal + tax),
        description=description,
        branding=branding_org,
        confirmation_email="no" if no_email else "yes",
    )
    _confirm(settings, yes, summary, f"Charge {money(subtotal + tax)} to {org_id}?")

    async def go() -> vb.ChargeOrganizationResponse:
        async with settings.connect() as client:
            return await client.charge_organization(org_id, subtotal, tax, description, branding_org, no_email)

    result = settings.run(go)
    settings.out.print(f"charged: invoice {result.invoice_id} (status starts as payment_processing)")


@cli.command("send-payment-email")
@click.argument("customer_org_id")
@click.argument("billing_owner_org_id")
@click.option("--yes", is_flag=True, help="Send without asking.")
@pass_settings
def send_payment_email(settings: Settings, customer_org_id: str, billing_owner_org_id: str, yes: bool) -> None:
    """E-mail a customer organization that payment is required."""
    summary = _summary("This will e-mail", customer=customer_org_id, billing_owner=billing_owner_org_id)
    _confirm(settings, yes, summary, f"Send the payment-required e-mail to {customer_org_id}?")

    async def go(client: BillingClient) -> None:
        await client.send_payment_required_email(customer_org_id, billing_owner_org_id)

    _change(settings, go)
    settings.out.print("sent")


@cli.command("set-tier")
@click.argument("org_id")
@click.argument("tier")
@click.option("--yes", is_flag=True, help="Change without asking.")
@pass_settings
def set_tier(settings: Settings, org_id: str, tier: str, yes: bool) -> None:
    """Put an organization on a billing tier (see `tiers`)."""
    _confirm(settings, yes, _summary("This will change", organization=org_id, tier=tier), "Change the tier?")

    async def go(client: BillingClient) -> None:
        await client.update_organization_billing_tier(org_id, tier)

    _change(settings, go)
    settings.out.print(f"{org_id} is now on {tier}")


@cli.command("set-location-org")
@click.argument("location_id")
@click.argument("billing_org_id")
@click.option("--yes", is_flag=True, help="Change without asking.")
@pass_settings
def set_location_org(settings: Settings, location_id: str, billing_org_id: str, yes: bool) -> None:
    """Make an organization pay for a location."""
    summary = _summary("This will change", location=location_id, billing_organization=billing_org_id)
    _confirm(settings, yes, summary, "Change who pays for the location?")

    async def go(client: BillingClient) -> None:
        await client.update_location_billing_organization(location_id, billing_org_id)

    _change(settings, go)
    settings.out.print(f"{billing_org_id} now pays for {location_id}")


def _change(settings: Settings, work: Callable[[BillingClient], Awaitable[None]]) -> None:
    async def go() -> None:
        async with settings.connect() as client:
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
