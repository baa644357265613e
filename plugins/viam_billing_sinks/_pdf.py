"""``pdf:DIR``: invoice PDFs saved as ``DIR/<org>/<invoice>.pdf``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio.to_thread
import viam_billing as vb
from viam_billing import BillingClient, ConfigurationError, Record, Sink
from viam_billing.plugin import atomic_write

from ._files import ensure_writable_directory, safe_name

__all__ = ["InvoicePdfStore", "PdfSink"]


@runtime_checkable
class InvoicePdfStore(Protocol):
    """A sink that keeps invoice PDFs. The export job calls it for every invoice it lists, so that a PDF is
    streamed straight to where it is kept, never held in memory, and only when it is missing.
    """

    async def store_invoice_pdf(self, client: BillingClient, org_id: str, invoice_id: str) -> bool:
        """Download the invoice's PDF with ``client`` unless it is already kept; return whether it downloaded."""
        ...


class PdfSink(Sink):
    """Keeps invoice PDFs as ``DIR/<org>/<invoice>.pdf``, written atomically, never downloading one twice.

    Ids come from the server, so both become file names through :func:`safe_name`: an id such as ``../../x``
    cannot escape ``DIR``. The export job hands it every listed invoice through :meth:`store_invoice_pdf`;
    a ``GetInvoicePdf`` record written to it (a whole document) is saved the same way. Other records are
    ignored.
    """

    def __init__(self, directory: str | Path) -> None:
        if not str(directory):
            raise ConfigurationError("pdf sink needs a directory: pdf:DIR")
        self._directory = Path(directory)
        self.name = f"pdf:{directory}"

    @classmethod
    def from_spec(cls, rest: str) -> PdfSink:
        """Build from the text after ``pdf:``."""
        return cls(rest)

    @property
    def directory(self) -> Path:
        """The directory PDFs are saved under."""
        return self._directory

    async def open(self) -> None:
        ensure_writable_directory(self._directory, sink=self.name)

    def path_for(self, org_id: str, invoice_id: str) -> Path:
        """Where the invoice's PDF is kept; always inside the sink's directory."""
        # safe_name never yields a separator, "." or "..", so the path stays two levels below the directory.
        return self._directory / safe_name(org_id) / f"{safe_name(invoice_id)}.pdf"

    def has(self, org_id: str, invoice_id: str) -> bool:
        """Whether the invoice's PDF is already saved."""
        return self.path_for(org_id, invoice_id).is_file()

    async def store_invoice_pdf(self, client: BillingClient, org_id: str, invoice_id: str) -> bool:
        """Download the PDF to :meth:`path_for` unless it is there; return whether it was downloaded.

        The download streams to a temporary file beside the target (see
        :meth:`~viam_billing.BillingClient.get_invoice_pdf`); on any failure nothing is left behind.
        """
        path = self.path_for(org_id, invoice_id)
        if path.is_file():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        await client.get_invoice_pdf(invoice_id, org_id, path)
        return True

    async def write(self, record: Record) -> None:
        request, result = record.request, record.result
        if not isinstance(request, vb.GetInvoicePdfRequest) or not isinstance(result, vb.GetInvoicePdfResponse):
            return
        path = self.path_for(request.org_id, request.id)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(atomic_write, path, result.chunk)

    def __repr__(self) -> str:
        return f"<PdfSink {self.name}>"
