"""The ``console`` sink: every record as a readable table on the terminal.

A sink plugin like any other, listed under the ``viam_billing.sinks`` entry point ``console``; it ships with the
command line because that is where the terminal display lives. Importing it loads rich, never click.

Spec: ``console`` (standard output) or ``console:stderr``::

    async with viam_billing.connect(api_key=..., api_key_id=..., sinks=["console"]) as billing:
        await billing.get_current_month_usage(org_id)   # printed as a table
"""

from __future__ import annotations

from rich.console import Console
from viam_billing.plugin import ConfigurationError, Record, RegisterSink, Sink, hookimpl

from ._render import render_result

__all__ = ["ConsoleSink", "register_sinks"]


class ConsoleSink(Sink):
    """Prints every record as a table (usage, invoices, billing information; other results field by field).

    ``stream`` is ``"stdout"`` or ``"stderr"``; anything else raises :class:`~viam_billing.ConfigurationError`.
    Pass ``console`` to print on a rich :class:`~rich.console.Console` of your own (a recording one in tests, say).
    """

    def __init__(self, console: Console | None = None, *, stream: str = "stdout") -> None:
        if stream not in ("stdout", "stderr"):
            raise ConfigurationError(f"console sink: the stream must be 'stdout' or 'stderr', got {stream!r}")
        self.name = "console" if stream == "stdout" else "console:stderr"
        self._stream = stream
        self._console = console

    @classmethod
    def from_spec(cls, rest: str) -> ConsoleSink:
        """Build from the text after ``console:`` (empty, ``stdout`` or ``stderr``)."""
        return cls(stream=rest or "stdout")

    @property
    def console(self) -> Console:
        """The console records are printed on."""
        if self._console is None:
            # Created lazily so that it writes to whatever sys.stdout is then (a progress display may wrap it).
            self._console = Console(stderr=self._stream == "stderr", file=None)
        return self._console

    async def write(self, record: Record) -> None:
        self.console.print(render_result(record.result, org_id=record.org_id))

    def __repr__(self) -> str:
        return f"<ConsoleSink {self._stream}>"


@hookimpl
def register_sinks(register: RegisterSink) -> None:
    """Register the ``console`` scheme."""
    register("console", ConsoleSink.from_spec)
