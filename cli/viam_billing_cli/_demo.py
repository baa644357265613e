"""``demo`` (the whole job, offline, against the local emulator) and ``emulator`` (serve it for your own tests).

The emulator is part of the grpc plugin; it is imported only when one of these commands runs, so that the other
commands (and a broken or missing grpc plugin) never pay for it. ``viam-billing emulator ARGS`` hands ARGS to the
emulator's own command line (``python -m viam_billing_grpc.emulator``): one set of options, defaults and help.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import viam_billing as vb
from rich.text import Text

from ._app import EXIT_FAILED, EXIT_OK, Settings, cli, fail, pass_settings
from ._export import OrgExport, print_summary, run_export, where_it_went
from ._report import print_report

__all__ = ["demo", "emulator"]


def _emulator_module(name: str = "viam_billing_grpc.emulator") -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        fail(f"the emulator comes with the grpc plugin, which could not be imported ({exc})")


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default="viam-billing-demo",
    show_default=True,
    help="Where the demo writes its history database, PDFs and JSON lines.",
)
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--chart/--no-chart", default=True, show_default=True, help="Draw the report's terminal charts.")
@pass_settings
def demo(settings: Settings, directory: Path, concurrency: int, chart: bool) -> None:
    """Run the main job offline: start the emulator here, export every organization through the real gRPC
    transport into DIR (SQLite history, invoice PDFs, JSON lines), then show the summary and the report.
    """
    module = _emulator_module()
    database, pdfs, records = directory / "billing.db", directory / "invoices", directory / "records.jsonl"
    specs = [f"sqlite:{database}", f"pdf:{pdfs}", f"jsonl:{records}"]

    async def go() -> tuple[list[OrgExport], str, list[str]]:
        async with module.Emulator() as emulator:
            settings.err.print(f"emulator listening on {emulator.address} (loopback only, seeded data)")
            options: dict[str, Any] = emulator.connect_options()
            client = vb.connect("grpc", timeout=settings.timeout, sinks=specs, **options)
            outcomes = await run_export(client, list(emulator.org_ids), concurrency=concurrency, console=settings.err)
            return outcomes, emulator.address, where_it_went(client.sinks)

    outcomes, address, locations = settings.run(go)
    print_summary(settings.out, outcomes)
    print_report(settings.out, database, chart=chart)
    out = settings.out
    out.print(Text("Where everything went", style="bold"))
    for line in locations:
        out.print(line, highlight=False)
    out.print(f"\nThe emulator at {address} has stopped. Next:", highlight=False)
    for command, what in (
        (f"viam-billing report --db {database}", "the report again"),
        (f"sqlite3 {database} .tables", "the history tables"),
        ("viam-billing emulator --port 50051", "serve the emulator for your own tests"),
        ("viam-billing export --org ORG_ID", "the same job against Viam, with VIAM_API_KEY and VIAM_API_KEY_ID set"),
    ):
        out.print(f"  {command}", highlight=False)
        out.print(f"      {what}", style="dim", highlight=False)
    raise SystemExit(EXIT_FAILED if any(not o.ok for o in outcomes) else EXIT_OK)


@cli.command(
    cls=click.Command,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
    short_help="Serve the local billing emulator for your own tests (see `viam-billing emulator --help`).",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def emulator(args: tuple[str, ...]) -> None:
    """Serve the local billing emulator until Ctrl-C: the emulator's own command line, which
    `python -m viam_billing_grpc.emulator` runs too (`viam-billing emulator --help` shows its options).
    """
    _emulator_module("viam_billing_grpc.emulator.__main__").main(args, prog_name="viam-billing emulator")
