"""``console``: readable tables on the terminal."""

from __future__ import annotations

from rich.console import Console
from viam_billing import ConfigurationError, Record, Sink

from ._render import render_result

__all__ = ["ConsoleSink"]


class ConsoleSink(Sink):
    """Prints every record as a table (usage, invoices, billing information; other results field by field).

    Spec: ``console`` (standard output) or ``console:stderr``. Pass ``console`` to print on a rich
    :class:`~rich.console.Console` of your own (a recording one in tests, say).
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
