"""``pdf:DIR``: invoice PDFs saved as ``DIR/<org>/<invoice>.pdf``."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import anyio.to_thread
import viam_billing as vb
from viam_billing import ConfigurationError, Record, Sink
from viam_billing.plugin import atomic_write, ensure_writable_directory, safe_name

__all__ = ["STALE_AFTER", "PdfSink"]

STALE_AFTER = 24 * 3600.0
"""Seconds after which a temporary download file left in a sink's folder is removed when the sink opens."""

# What viam_billing.plugin.atomic_file names its temporary files: ".<name>.<random>.part" beside <name>.
_TEMPORARY = re.compile(r"^\..+\.pdf\.[^.]+\.part$")


def remove_stale_downloads(directory: Path, *, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove the temporary files of PDF downloads that never finished (a process killed with ``kill -9``,
    a power cut) from ``directory`` and its organization folders, when older than ``older_than`` seconds;
    return those removed.

    Younger ones may belong to an export running right now, so they stay. Only names our atomic writer gives
    (``.<invoice>.pdf.<random>.part``) are touched; a file that cannot be removed is left alone.
    """
    cutoff = time.time() - older_than
    removed = []
    folders: list[Path | os.DirEntry[str]] = [directory]
    folders += [entry for entry in _entries(directory) if entry.is_dir(follow_symlinks=False)]
    for folder in folders:
        for entry in _entries(folder):
            if not _TEMPORARY.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue
    return removed


def _entries(directory: Path | os.DirEntry[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except OSError:
        return []


class PdfSink(Sink):
    """Keeps invoice PDFs as ``DIR/<org>/<invoice>.pdf``, written atomically, never replacing one it has.

    Ids come from the server, so both become file names through :func:`viam_billing.plugin.safe_name`: an id
    such as ``../../x`` cannot escape ``DIR``. A ``GetInvoicePdf`` record (the whole document, from
    :meth:`~viam_billing.BillingClient.get_invoice_pdf_bytes`) is saved unless its file exists; other records
    are ignored. A program that downloads PDFs to disk instead (``viam-billing export`` does) asks the sink
    which are :meth:`missing` and downloads each itself with ``client.get_invoice_pdf(invoice_id, org_id,
    sink.path_for(org_id, invoice_id))``; the sink never calls the client.

    Opening the sink removes temporary download files older than a day (:data:`STALE_AFTER`) from its folder:
    what a killed process leaves behind is gone by the next export.
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
        ensure_writable_directory(self._directory, owner=f"sink {self.name}")
        await anyio.to_thread.run_sync(remove_stale_downloads, self._directory)

    def path_for(self, org_id: str, invoice_id: str) -> Path:
        """Where the invoice's PDF is kept; always inside the sink's directory (its parent may not exist yet)."""
        # safe_name never yields a separator, "." or "..", so the path stays two levels below the directory.
        return self._directory / safe_name(org_id) / f"{safe_name(invoice_id)}.pdf"

    def has(self, org_id: str, invoice_id: str) -> bool:
        """Whether the invoice's PDF is already saved."""
        return self.path_for(org_id, invoice_id).is_file()

    def missing(self, org_id: str, invoice_ids: Sequence[str]) -> list[str]:
        """Those of the organization's ``invoice_ids`` whose PDF is not saved yet, in order; the organization's
        folder is made for them if needed, so that each can be downloaded to :meth:`path_for`.

        One listing of the folder, however many invoices. It blocks on the file system: from async code, run it
        in a worker thread (``await anyio.to_thread.run_sync(sink.missing, org_id, invoice_ids)``).
        """
        if not invoice_ids:
            return []
        folder = self._directory / safe_name(org_id)
        try:
            with os.scandir(folder) as entries:
                kept = {entry.name for entry in entries if entry.is_file()}
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
            kept = set()
        return [invoice_id for invoice_id in invoice_ids if f"{safe_name(invoice_id)}.pdf" not in kept]

    async def write(self, record: Record) -> None:
        request, result = record.request, record.result
        if not isinstance(request, vb.GetInvoicePdfRequest) or not isinstance(result, vb.GetInvoicePdfResponse):
            return
        path = self.path_for(request.org_id, request.id)
        # An invoice's PDF does not change once issued: the copy already kept stays as it is.
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(atomic_write, path, result.chunk)

    def __repr__(self) -> str:
        return f"<PdfSink {self.name}>"
