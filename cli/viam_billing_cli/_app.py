"""The ``viam-billing`` command group: global options, credentials, running async work, errors and exit codes."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import click
from rich.console import Console
from rich.logging import RichHandler
from viam_billing import (
    DEFAULT_TRANSPORT,
    BillingClient,
    BillingError,
    ConfigurationError,
    PermissionDeniedError,
    Sink,
    StatusError,
    TransportError,
    UnauthenticatedError,
    UnknownSinkError,
    UnknownTransportError,
    ValidationError,
    connect,
)

__all__ = ["EXIT_CODES", "Settings", "cli", "fail", "main", "pass_settings"]

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_SERVICE = 4
EXIT_UNREACHABLE = 5

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "something failed (for export: at least one organization; the others were exported)",
    EXIT_USAGE: "usage error: a bad option, argument, sink spec or missing credentials",
    EXIT_AUTH: "authentication failed, or the key may not do this (UNAUTHENTICATED, PERMISSION_DENIED)",
    EXIT_SERVICE: "the service answered with an error status",
    EXIT_UNREACHABLE: "the service could not be reached",
}

ENV_API_KEY = "VIAM_API_KEY"
ENV_API_KEY_ID = "VIAM_API_KEY_ID"
ENV_PRIMARY_ORG = "VIAM_PRIMARY_ORG_ID"

# Set by the group from -v; read when an error escapes, to decide whether to show the traceback.
_verbosity = 0


@attrs.define(kw_only=True)
class Settings:
    """What the global options chose; handed to every subcommand."""

    address: str | None = None
    insecure: bool = False
    transport: str = DEFAULT_TRANSPORT
    cassette: str | None = None
    record_mode: str | None = None
    timeout: float | None = None
    backend: str = "asyncio"
    verbose: int = 0
    out: Console = attrs.field(factory=Console)
    err: Console = attrs.field(factory=lambda: Console(stderr=True))

    def needs_credentials(self) -> bool:
        """Whether the chosen transport will talk to a service (a cassette in replay-only mode does not)."""
        if self.transport == "replay":
            return (self.record_mode or "none") != "none"
        return True

    def credentials(self) -> tuple[str | None, str | None]:
        """The API key and key id, from the environment or, on a terminal, a hidden prompt.

        Never from an option: a value typed on the command line lands in the shell history.
        """
        key, key_id = os.environ.get(ENV_API_KEY) or None, os.environ.get(ENV_API_KEY_ID) or None
        if (key and key_id) or not self.needs_credentials():
            return key, key_id
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"no credentials: set {ENV_API_KEY} and {ENV_API_KEY_ID} in the environment "
                "(an organization owner's API key; never pass it as an option)"
            )
        key_id = key_id or click.prompt("API key id", hide_input=True, err=True)
        key = key or click.prompt("API key", hide_input=True, err=True)
        return key, key_id

    def connect(self, *, sinks: Sequence[str | Sink] = ()) -> BillingClient:
        """A client as the global options describe it, with ``sinks`` attached.

        Only the options the user gave reach the transport, so its own defaults hold for the rest; the
        credentials come from :meth:`credentials`. Raises what :func:`viam_billing.connect` raises.
        """
        key, key_id = self.credentials()
        given: dict[str, Any] = {
            "address": self.address,
            "insecure": self.insecure or None,  # a flag left off is not an option given
            "cassette": self.cassette,
            "record_mode": self.record_mode,
            "api_key": key,
            "api_key_id": key_id,
        }
        options = {name: value for name, value in given.items() if value is not None}
        return connect(self.transport, timeout=self.timeout, sinks=sinks, **options)

    def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await function(*args)`` on a fresh event loop of the chosen backend."""
        return anyio.run(function, *args, backend=self.backend)


pass_settings = click.make_pass_decorator(Settings)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one error line and leave with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def _exit_code(exc: BillingError) -> int:
    if isinstance(exc, (UnauthenticatedError, PermissionDeniedError)):
        return EXIT_AUTH
    if isinstance(exc, (ValidationError, ConfigurationError, UnknownTransportError, UnknownSinkError)):
        return EXIT_USAGE
    if isinstance(exc, StatusError):
        return EXIT_SERVICE
    if isinstance(exc, TransportError):
        return EXIT_UNREACHABLE
    return EXIT_FAILED  # a sink that failed to store, and anything else


def _hint(exc: BillingError) -> str:
    if isinstance(exc, UnauthenticatedError):
        return f" (check {ENV_API_KEY} and {ENV_API_KEY_ID})"
    if isinstance(exc, PermissionDeniedError):
        return " (billing calls need an organization owner's API key)"
    if isinstance(exc, TransportError):
        return " (check --address and your network; --insecure only for a local emulator)"
    return ""


_EPILOG = "\b\nExit status:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
_EPILOG += (
    f"\n\n\bCredentials come from {ENV_API_KEY} and {ENV_API_KEY_ID} (or a hidden prompt on a terminal);"
    "\nthey are never accepted as options."
)


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--address", metavar="HOST:PORT", help="The billing service (default: app.viam.com:443).")
@click.option("--insecure", is_flag=True, help="Plain-text HTTP/2 without TLS: only for a local emulator.")
@click.option(
    "--transport", default=DEFAULT_TRANSPORT, show_default=True, help="A registered transport (see `plugins`)."
)
@click.option(
    "--cassette",
    type=click.Path(dir_okay=False),
    help="Replay calls from this cassette (and record, with --record-mode); implies --transport replay.",
)
@click.option(
    "--record-mode",
    type=click.Choice(["none", "once", "new_episodes", "all"]),
    help="With --cassette: when calls may go to the service and be recorded (default: none).",
)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Per-call timeout in seconds.")
@click.option(
    "--backend",
    type=click.Choice(["asyncio", "trio"]),
    default="asyncio",
    show_default=True,
    help="The async library to run on.",
)
@click.option("-v", "--verbose", count=True, help="Log what happens (-vv: debug); show tracebacks.")
@click.version_option(package_name="viam-billing", prog_name="viam-billing")
@click.pass_context
def cli(
    ctx: click.Context,
    address: str | None,
    insecure: bool,
    transport: str,
    cassette: str | None,
    record_mode: str | None,
    timeout: float | None,
    backend: str,
    verbose: int,
) -> None:
    """Viam billing from the command line: usage, invoices and PDFs, exports to files and a SQLite history.

    Start with `viam-billing demo`: it runs the whole export offline against a local emulator.
    """
    global _verbosity
    _verbosity = verbose
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(name)s: %(message)s",
            handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        )
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        raise click.UsageError("--backend trio needs trio: pip install 'viam-billing[trio]'")
    if record_mode is not None and cassette is None:
        raise click.UsageError("--record-mode needs --cassette")
    if cassette is not None:
        source = ctx.get_parameter_source("transport")
        if source is not click.core.ParameterSource.DEFAULT and transport != "replay":
            raise click.UsageError("--cassette uses the replay transport; drop --transport or set it to replay")
        transport = "replay"
    ctx.obj = Settings(
        address=address,
        insecure=insecure,
        transport=transport,
        cassette=cassette,
        record_mode=record_mode,
        timeout=timeout,
        backend=backend,
        verbose=verbose,
    )


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``viam-billing`` entry point: run the command, print errors as one line, exit with a clear code."""
    try:
        result = cli.main(args=argv, prog_name="viam-billing", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except BillingError as exc:
        if _verbosity:
            Console(stderr=True).print_exception(show_locals=False)
        click.echo(f"error: {exc}{_hint(exc)}", err=True)
        sys.exit(_exit_code(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        if _verbosity:
            Console(stderr=True).print_exception(show_locals=False)
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(result if isinstance(result, int) else EXIT_OK)
