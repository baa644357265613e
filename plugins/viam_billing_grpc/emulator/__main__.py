"""The emulator's one command line: ``python -m viam_billing_grpc.emulator`` and ``viam-billing emulator``.

Both entry points run :data:`command` (``viam-billing emulator ARGS`` hands its arguments here unchanged), so
they take the same options with the same defaults, print the same help and the same lines once listening:

.. code-block:: text

    viam-billing emulator listening on 127.0.0.1:50051
    organizations: Acme Robotics ac3e0001-..., Globex Agritech 610be002-..., ...
    large invoice: inv-acme-large of ac3e0001-..., 64 MiB PDF        (only with --large-pdf-mib)
    credentials (fixed, for tests only):
      export VIAM_API_KEY_ID=emulator-api-key-id-00000000
      export VIAM_API_KEY=emulator-api-key-0123456789abcdef
    then: viam-billing --address 127.0.0.1:50051 --insecure export --org ac3e0001-...
    Ctrl-C stops it.

The first line ends with the address, so a script can read it from a pipe (each line is flushed at once).
"""

from __future__ import annotations

import errno
import gc
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from viam_billing import OPERATIONS

from ._emulator import DEFAULT_API_KEY, DEFAULT_API_KEY_ID, Emulator
from ._pdf import invoice_pdf
from ._seed import ACME_ORG_ID, generated_org_id

__all__ = ["DEFAULT_PORT", "LARGE_INVOICE_ID", "command", "large_pdf", "main"]

DEFAULT_PORT = 50051
"""The port both entry points listen on unless told otherwise (gRPC's customary one)."""

LARGE_INVOICE_ID = "inv-acme-large"
"""The invoice ``--large-pdf-mib N`` adds to Acme Robotics (status ``paid``)."""

LOOPBACK = ("127.0.0.1", "::1", "localhost")
ENV_API_KEY = "VIAM_EMULATOR_API_KEY"
ENV_API_KEY_ID = "VIAM_EMULATOR_API_KEY_ID"
EXIT_CANNOT_LISTEN = 1


def large_pdf(size: int) -> bytes:
    """A valid one-page invoice PDF of exactly ``size`` bytes (at least the unpadded document's size)."""
    title, lines = f"Invoice {LARGE_INVOICE_ID}", [f"A padded document of {size:,} bytes, for download benchmarks."]
    pdf = invoice_pdf(title, lines)
    padding = size - len(pdf)
    # Padding also lengthens the /Length number and adds a newline: a few rounds settle on the exact size.
    while padding > 0 and len(pdf) != size:
        pdf = invoice_pdf(title, lines, padding=padding)
        padding += size - len(pdf)
    return pdf


class _QuietDisconnects(logging.Filter):
    """Drops asyncio's "socket.send() raised exception." lines: a client that cancels a download or goes away
    is ordinary for a test server, and asyncio logs one line per write the server had queued for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("socket.send() raised exception")


def _organizations(emulator: Emulator, generated: int) -> str:
    seeded = emulator.org_ids[: len(emulator.org_ids) - generated]
    text = ", ".join(seeded)
    if generated:
        last = f" to {generated_org_id(generated)}" if generated > 1 else ""
        text += f"; {generated} generated: {generated_org_id(1)}{last}"
    return text


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Exit status: 0 after Ctrl-C or SIGTERM, 1 when it cannot listen (a busy port: try --port 0), "
    "2 for a bad option.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address to listen on: 127.0.0.1, ::1 or localhost (its credentials are public).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--api-key",
    envvar=ENV_API_KEY,
    show_envvar=True,
    help="API key to accept (default: the documented DEFAULT_API_KEY).",
)
@click.option(
    "--api-key-id",
    envvar=ENV_API_KEY_ID,
    show_envvar=True,
    help="API key id to accept (default: the documented DEFAULT_API_KEY_ID).",
)
@click.option(
    "--orgs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Also serve N generated organizations (five calls each to export), for exports at scale.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long before answering each call, as a distant service would.",
)
@click.option(
    "--token-ttl", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Access tokens expire after."
)
@click.option(
    "--chunk-size", type=click.IntRange(min=1), default=512, show_default=True, help="Bytes per streamed PDF chunk."
)
@click.option(
    "--large-pdf-mib",
    type=int,
    default=0,
    metavar="N",
    help=f"Also serve invoice {LARGE_INVOICE_ID} of Acme Robotics with an N MiB PDF (for download benchmarks).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each connection and fault at DEBUG.")
def command(
    host: str,
    port: int,
    api_key: str | None,
    api_key_id: str | None,
    orgs: int,
    latency: float,
    token_ttl: float | None,
    chunk_size: int,
    large_pdf_mib: int,
    verbose: bool,
) -> None:
    """Serve a local emulator of Viam's billing service until Ctrl-C or SIGTERM: AuthService and every
    BillingService RPC over plaintext HTTP/2, with seeded organizations, usage, invoices and PDFs.

    Connect with `viam-billing --address HOST:PORT --insecure ...` and the credentials it prints.
    """
    if host not in LOOPBACK:
        raise click.UsageError(f"--host must be a loopback address ({', '.join(LOOPBACK)}), got {host!r}")
    if large_pdf_mib < 0:
        raise click.UsageError(f"--large-pdf-mib must be 0 or more, got {large_pdf_mib}")
    logging.getLogger("asyncio").addFilter(_QuietDisconnects())
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    given_credentials = api_key is not None or api_key_id is not None

    def ready(emulator: Emulator) -> None:
        if latency:
            for name in ("Authenticate", *OPERATIONS):
                emulator.delay(name, latency)
        lines = [
            f"viam-billing emulator listening on {emulator.address}",
            f"organizations: {_organizations(emulator, orgs)}",
        ]
        if large_pdf_mib:
            pdf = large_pdf(large_pdf_mib << 20)
            emulator.add_invoice(ACME_ORG_ID, amount=1.0, status="paid", invoice_id=LARGE_INVOICE_ID, pdf=pdf)
            lines.append(f"large invoice: {LARGE_INVOICE_ID} of {ACME_ORG_ID}, {large_pdf_mib} MiB PDF")
        if given_credentials:
            # Chosen by the user, so possibly not meant for a terminal's scrollback: named, never shown.
            lines.append(f"credentials: those given with --api-key/${ENV_API_KEY} and --api-key-id/${ENV_API_KEY_ID}")
        else:
            lines += [
                "credentials (fixed, for tests only):",
                f"  export VIAM_API_KEY_ID={emulator.api_key_id}",
                f"  export VIAM_API_KEY={emulator.api_key}",
            ]
        lines += [
            f"then: viam-billing --address {emulator.address} --insecure export --org {emulator.org_ids[0]}",
            "Ctrl-C stops it.",
        ]
        for line in lines:
            # One flush per line: a script waiting for the address reads it through a pipe.
            click.echo(line)
            sys.stdout.flush()
        # The seeded organizations live as long as the server: out of the collector's sight. Its passes over
        # the young objects come after 10,000 new ones rather than 700, as in viam-billing's command line: each
        # call makes short-lived objects that reference counting frees anyway.
        gc.freeze()
        gc.set_threshold(10_000, *gc.get_threshold()[1:])

    options: dict[str, Any] = {"token_ttl": token_ttl, "chunk_size": chunk_size, "orgs": orgs}
    options["api_key"] = api_key or DEFAULT_API_KEY
    options["api_key_id"] = api_key_id or DEFAULT_API_KEY_ID
    try:
        Emulator.run(host, port, ready=ready, **options)
    except OSError as exc:
        _cannot_listen(host, port, exc)


def _cannot_listen(host: str, port: int, exc: OSError) -> NoReturn:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        reason = f"port {port} is already in use; pick another with --port N, or --port 0 for any free port"
    else:
        reason = f"{exc.strerror or exc}; check --host and --port (--port 0 picks any free port)"
    click.echo(f"error: cannot listen on {where}: {reason}", err=True)
    sys.exit(EXIT_CANNOT_LISTEN)


def main(argv: Sequence[str] | None = None, prog_name: str = "python -m viam_billing_grpc.emulator") -> NoReturn:
    """Run the emulator's command line with ``argv`` (default: ``sys.argv[1:]``) and exit with its status."""
    command.main(args=list(argv) if argv is not None else None, prog_name=prog_name, standalone_mode=True)
    sys.exit(0)  # pragma: no cover - standalone mode always exits


if __name__ == "__main__":
    main()
