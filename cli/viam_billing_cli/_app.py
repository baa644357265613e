"""The ``viam-billing`` command group: global options, credentials, running async work, signals, errors, exits."""

from __future__ import annotations

import gc
import importlib.util
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import click
from rich.console import Console
from viam_billing import (
    DEFAULT_TRANSPORT,
    BillingClient,
    BillingError,
    ConfigurationError,
    DeadlineExceededError,
    FileError,
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

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXIT_CODES",
    "BillingCommand",
    "Interrupted",
    "Settings",
    "cli",
    "fail",
    "main",
    "pass_settings",
    "stop_if_interrupted",
]

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_SERVICE = 4
EXIT_UNREACHABLE = 5
EXIT_OVER_BUDGET = 6
EXIT_FILE = 7
EXIT_DEADLINE = 8
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "something failed (for export: at least one organization; the others were exported)",
    EXIT_USAGE: "usage error: a bad option or argument, refused input, missing credentials, not confirmed",
    EXIT_AUTH: "authentication failed, or the key may not do this (UNAUTHENTICATED, PERMISSION_DENIED)",
    EXIT_SERVICE: "the service answered with an error status",
    EXIT_UNREACHABLE: "the service could not be reached, or the connection broke",
    EXIT_OVER_BUDGET: "budget: an organization is over its limit",
    EXIT_FILE: "a file could not be written or read",
    EXIT_DEADLINE: "no answer within the deadline (--timeout)",
    EXIT_SIGINT: "interrupted (Ctrl-C, SIGINT); nothing half-written is left",
    EXIT_SIGTERM: "terminated (SIGTERM); nothing half-written is left",
}

ENV_API_KEY = "VIAM_API_KEY"
ENV_API_KEY_ID = "VIAM_API_KEY_ID"
ENV_PRIMARY_ORG = "VIAM_PRIMARY_ORG_ID"
ENV_ADDRESS = "VIAM_BILLING_ADDRESS"

DEFAULT_TIMEOUT = 60.0
"""Seconds each call may take unless ``--timeout`` says otherwise (a whole PDF download is one call)."""

_YOUNG_OBJECTS = 10_000
"""New objects between two passes of the garbage collector over the youngest ones (Python's default: 700)."""

# Set when a command's settings are made; read when an error escapes (the traceback with -v, the deadline).
_verbosity = 0
_active: Settings | None = None


class Interrupted(BaseException):  # a signal, like KeyboardInterrupt: not an error
    """Raised when SIGINT or SIGTERM stopped the command; ``signum`` is the signal. A BaseException, so that no
    ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@attrs.define(kw_only=True)
class Settings:
    """What the global options chose; handed to every subcommand."""

    address: str | None = None
    insecure: bool = False
    transport: str = DEFAULT_TRANSPORT
    cassette: str | None = None
    record_mode: str | None = None
    timeout: float = DEFAULT_TIMEOUT
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

        Never from an option: a value typed on the command line lands in the shell history. Raises
        :class:`CliError` (exit status 2) naming the variable that is missing when there is no terminal to ask on.
        """
        key, key_id = os.environ.get(ENV_API_KEY) or None, os.environ.get(ENV_API_KEY_ID) or None
        if (key and key_id) or not self.needs_credentials():
            return key, key_id
        if not sys.stdin.isatty():
            missing = [name for name, value in ((ENV_API_KEY_ID, key_id), (ENV_API_KEY, key)) if not value]
            verb = "is" if len(missing) == 1 else "are"
            raise CliError(
                f"{' and '.join(missing)} {verb} not set: export the API key id and key of an organization "
                f"owner's API key as {ENV_API_KEY_ID} and {ENV_API_KEY} (never as options)",
                EXIT_USAGE,
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
        """Run ``await function(*args)`` on a fresh event loop of the chosen backend and return its result.

        SIGINT and SIGTERM cancel the work (downloads stop, temporary files are removed, sinks are closed) and
        then raise :class:`Interrupted`. A second signal during that clean-up acts at once.
        """

        async def guarded() -> T:
            results: list[T] = []
            failure: Exception | None = None
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_when_signalled, group.cancel_scope)
                try:
                    results.append(await function(*args))
                except Exception as exc:  # kept aside, so that the task group does not wrap it in a group
                    failure = exc
                finally:
                    group.cancel_scope.cancel()
            if failure is not None:
                raise failure
            return results[0]

        # Everything loaded so far lives until the exit: kept out of the collector's sight, so that its passes
        # during a long export look at the objects of the work only. And those passes come after 10,000 new
        # objects rather than 700: an export makes short-lived objects in bursts (tasks, frames, messages) that
        # reference counting frees anyway, and at 700 the collector took 5% of the export's CPU (0.5% at 10,000).
        gc.freeze()
        gc.set_threshold(_YOUNG_OBJECTS, *gc.get_threshold()[1:])
        with _signals_recorded():
            try:
                result = anyio.run(guarded, backend=self.backend)
            except BaseException:
                stop_if_interrupted()  # whatever the cancellation made of the work, the signal is the news
                raise
            stop_if_interrupted()
            return result


# Signals received while work runs. A plain Python handler records them, because it runs in the main thread
# at once, even while a task is busy: a download whose chunks keep arriving may not yield to its event loop for
# seconds, so a handler that waits for the loop (loop.add_signal_handler, anyio's receiver) would wait too.
_received: list[int] = []


def stop_if_interrupted() -> None:
    """Raise :class:`Interrupted` if SIGINT or SIGTERM arrived: called from busy loops (each chunk of a
    download), where it stops the work at a point the work is ready for, and after the event loop ended."""
    if _received:
        raise Interrupted(_received[0])


def _record_signal(signum: int, frame: FrameType | None) -> None:
    if _received:  # a second signal: stop now, without waiting for the clean-up
        raise Interrupted(signum)
    _received.append(signum)


async def _cancel_when_signalled(scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` soon after a signal was recorded (tasks waiting on the network or a timer)."""
    # Polled: a signal handler may not touch an event loop's objects (an anyio.Event) from where it interrupts.
    while not _received:  # noqa: ASYNC110
        await anyio.sleep(0.05)
    scope.cancel()


@contextmanager
def _signals_recorded() -> Iterator[None]:
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, _record_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def _sigterm_as_interrupted() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` while the command runs (outside an event loop too); restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


pass_settings = click.make_pass_decorator(Settings)


class CliError(Exception):
    """Raised to end a command with one ``error:`` line and exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """End the command with ``error: message`` on stderr and exit status ``code``."""
    raise CliError(message, code)


# --- global options: accepted before the command and after it -------------------------------------------------------


def _global_options() -> list[click.Option]:
    """The global options, as fresh objects: the group and every command each get their own copies."""
    return [
        click.Option(
            ["--address"],
            metavar="HOST:PORT",
            help=f"The billing service (default: ${ENV_ADDRESS}, else app.viam.com:443). "
            "http://HOST:PORT needs --insecure.",
        ),
        click.Option(
            ["--insecure"],
            is_flag=True,
            help="Plaintext HTTP/2 without TLS, which sends the API key unencrypted: only for a local emulator.",
        ),
        click.Option(
            ["--transport"], default=DEFAULT_TRANSPORT, show_default=True, help="A registered transport (`plugins`)."
        ),
        click.Option(
            ["--cassette"],
            type=click.Path(dir_okay=False),
            help="Replay calls from this cassette (and record, with --record-mode); implies --transport replay.",
        ),
        click.Option(
            ["--record-mode"],
            type=click.Choice(["none", "once", "new_episodes", "all"]),
            help="With --cassette: when calls may go to the service and be recorded (default: none).",
        ),
        click.Option(
            ["--timeout"],
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            metavar="SECONDS",
            help="Deadline of each call (a whole PDF download is one call).",
        ),
        click.Option(
            ["--backend"],
            type=click.Choice(["asyncio", "trio"]),
            default="asyncio",
            show_default=True,
            help="The async library to run on.",
        ),
        click.Option(["-v", "--verbose"], count=True, help="Log what happens (-vv: debug); show tracebacks."),
    ]


GLOBAL_OPTIONS = tuple(option.name for option in _global_options() if option.name is not None)


@attrs.frozen
class _Given:
    """The global options as one place (group or command) received them, and which were typed there."""

    values: dict[str, Any]
    typed: frozenset[str]

    @classmethod
    def of(cls, ctx: click.Context, values: dict[str, Any]) -> _Given:
        typed = {
            name for name in values if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
        }
        return cls(values, frozenset(typed))

    def then(self, later: _Given) -> _Given:
        """These options overridden by those typed ``later`` (after the command); -v counts add up."""
        values = {**self.values, **{name: later.values[name] for name in later.typed}}
        values["verbose"] = (self.values.get("verbose") or 0) + (later.values.get("verbose") or 0)
        return _Given(values, self.typed | later.typed)


def _settings(given: _Given) -> Settings:
    """Check the global options together and turn them into :class:`Settings`; click.UsageError if they clash."""
    global _verbosity, _active
    values = given.values
    verbose = int(values["verbose"] or 0)
    _verbosity = verbose
    if verbose:
        from rich.logging import RichHandler

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(name)s: %(message)s",
            handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        )
    if values["backend"] == "trio" and importlib.util.find_spec("trio") is None:
        raise click.UsageError("--backend trio needs trio: pip install 'viam-billing[trio]'")
    if values["record_mode"] is not None and values["cassette"] is None:
        raise click.UsageError("--record-mode needs --cassette")
    transport = values["transport"]
    if values["cassette"] is not None:
        if "transport" in given.typed and transport != "replay":
            raise click.UsageError("--cassette uses the replay transport; drop --transport or set it to replay")
        transport = "replay"
    address = values["address"] or os.environ.get(ENV_ADDRESS, "").strip() or None
    if address is not None and address.lower().startswith("http://") and not values["insecure"]:
        source = "--address" if values["address"] else f"${ENV_ADDRESS}"
        raise click.UsageError(
            f"{source} {address} is plaintext, which would send the API key unencrypted: add --insecure to ask "
            "for it (for a local emulator only), or use an https:// address"
        )
    _active = Settings(
        address=address,
        insecure=bool(values["insecure"]),
        transport=transport,
        cassette=values["cassette"],
        record_mode=values["record_mode"],
        timeout=float(values["timeout"]),
        backend=values["backend"],
        verbose=verbose,
    )
    return _active


class BillingCommand(click.Command):
    """A command that also takes the global options after its name: ``viam-billing usage ORG --address X``.

    Those typed after the command win over those typed before it; its callback gets :class:`Settings` through
    :data:`pass_settings`, never the global options themselves.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = [(param.name, param.get_help_record(ctx)) for param in self.get_params(ctx)]
        own = [record for name, record in records if record is not None and name not in GLOBAL_OPTIONS]
        shared = [record for name, record in records if record is not None and name in GLOBAL_OPTIONS]
        if own:
            with formatter.section("Options"):
                formatter.write_dl(own)
        with formatter.section("Global options (before or after the command)"):
            formatter.write_dl(shared)

    def invoke(self, ctx: click.Context) -> Any:
        here = _Given.of(ctx, {name: ctx.params.pop(name) for name in GLOBAL_OPTIONS})
        before = ctx.find_object(_Given)
        ctx.obj = _settings(before.then(here) if before is not None else here)
        return super().invoke(ctx)


class BillingGroup(click.Group):
    command_class = BillingCommand


def _epilog() -> str:
    lines = ["\b", "Exit status:", *(f"  {code:<3}  {text}" for code, text in EXIT_CODES.items())]
    lines += [
        "",
        "\b",
        f"Credentials come from {ENV_API_KEY_ID} and {ENV_API_KEY} (or a hidden prompt on a terminal); they",
        f"are never accepted as options. {ENV_ADDRESS} sets the address; {ENV_PRIMARY_ORG} the organization",
        "`export` exports when no --org is given.",
    ]
    return "\n".join(lines)


@click.group(
    cls=BillingGroup,
    epilog=_epilog(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.version_option(package_name="viam-billing", prog_name="viam-billing")
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """Viam billing from the command line: usage, invoices and PDFs, exports to files and a SQLite history.

    Start with `viam-billing demo`: it runs the whole export offline against a local emulator.
    """
    ctx.obj = _Given.of(ctx, options)


cli.params.extend(_global_options())


# --- errors and exit status -----------------------------------------------------------------------------------------


def _describe(exc: BillingError, settings: Settings | None) -> tuple[str, int]:
    """The one line an error is shown as, in the command line's words, and the exit status it gives."""
    if isinstance(exc, UnauthenticatedError):
        # The library's message adds its own advice in its own words (api_key=...): said here once, ours.
        return (
            f"the service refused the credentials (UNAUTHENTICATED): check {ENV_API_KEY_ID} and {ENV_API_KEY}, "
            "an organization owner's API key id and key (-v shows the service's message)",
            EXIT_AUTH,
        )
    if isinstance(exc, PermissionDeniedError):
        return f"{exc} (billing calls need an organization owner's API key)", EXIT_AUTH
    if isinstance(exc, DeadlineExceededError):
        timeout = settings.timeout if settings is not None else DEFAULT_TIMEOUT
        what = exc.operation or "the call"
        return (
            f"{what} got no answer within the deadline of {_seconds(timeout)}; if the service is just slow, "
            "pass a longer --timeout SECONDS",
            EXIT_DEADLINE,
        )
    if isinstance(exc, FileError | OSError) or (
        isinstance(exc, ConfigurationError) and isinstance(exc.__cause__, OSError)
    ):
        # A destination that cannot be written: FileError names it (never a temporary file); a sink that cannot
        # write where it was told to says so in a ConfigurationError caused by the operating system's error.
        return str(exc), EXIT_FILE
    if isinstance(exc, (ValidationError, ConfigurationError, UnknownTransportError, UnknownSinkError)):
        return str(exc), EXIT_USAGE
    if isinstance(exc, StatusError):
        return str(exc), EXIT_SERVICE
    if isinstance(exc, TransportError):
        return f"{exc} (check --address and your network; --insecure only for a local emulator)", EXIT_UNREACHABLE
    return str(exc), EXIT_FAILED  # a sink that failed to store, and anything else


def _seconds(value: float) -> str:
    return f"{value:g} s" if math.isfinite(value) else "no deadline"


def file_error(path: str, exc: OSError) -> CliError:
    """The error for a file the command could not write or read, naming ``path`` (what the user gave)."""
    reason = exc.strerror or str(exc)
    return CliError(f"cannot write {path}: {reason}", EXIT_FILE)


def _leave(message: str, code: int) -> NoReturn:
    if _verbosity and code not in (EXIT_SIGINT, EXIT_SIGTERM):
        Console(stderr=True).print_exception(show_locals=False)
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _only(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (task groups wrap what they raise)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``viam-billing`` entry point: run the command, print errors as one line, exit with a clear code."""
    global _verbosity, _active
    _verbosity, _active = 0, None
    with _sigterm_as_interrupted():
        try:
            result = cli.main(args=argv, prog_name="viam-billing", standalone_mode=False)
        except BaseException as raised:  # every way out is mapped to an exit status
            _exit_for(_only(raised))
    sys.exit(result if isinstance(result, int) else EXIT_OK)


def _exit_for(exc: BaseException) -> NoReturn:
    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, Interrupted) or (isinstance(exc, click.exceptions.Abort) and _by_ctrl_c(exc)):
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        click.echo(f"interrupted ({signal.Signals(signum).name}); nothing half-written was left", err=True)
        sys.exit(128 + signum)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted (SIGINT); nothing half-written was left", err=True)
        sys.exit(EXIT_SIGINT)
    if isinstance(exc, click.exceptions.Abort):
        click.echo("aborted: nothing was done", err=True)
        sys.exit(EXIT_FAILED)
    if isinstance(exc, click.ClickException):
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    if isinstance(exc, CliError):
        _leave(str(exc), exc.code)
    if isinstance(exc, BillingError):
        _leave(*_describe(exc, _active))
    if isinstance(exc, OSError):
        _leave(str(exc), EXIT_FILE)
    raise exc


def _by_ctrl_c(exc: BaseException) -> bool:
    return isinstance(exc.__cause__, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt)
