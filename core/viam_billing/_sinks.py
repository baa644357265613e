"""The sink seam: where the results of successful operations go."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._models import Model
from ._operations import Operation

__all__ = ["Record", "Sink"]


@attrs.frozen(kw_only=True)
class Record:
    """One successful operation's result, as handed to every attached sink.

    ``org_id`` is the organization the request is about (``None`` for calls about no organization, such as
    ``GetAvailableBillingTiers``); ``fetched_at`` is a timezone-aware UTC time. Invoice PDFs reach sinks only
    through :meth:`~viam_billing.BillingClient.get_invoice_pdf_bytes`, as the whole document in one
    :class:`~viam_billing.GetInvoicePdfResponse`; downloads to a file or a stream never hold the document whole.
    """

    operation: Operation[Any, Any]
    request: Model
    result: Model
    org_id: str | None
    fetched_at: datetime


class Sink:
    """Base class of output sinks.

    ``open()`` is awaited once before the first record and must fail early (for example on an unwritable
    destination) with a :class:`~viam_billing.BillingError` that says what to fix. ``write()`` stores one record;
    ``aclose()`` flushes and releases. ``name`` is shown in listings and error messages.
    """

    name: str = "sink"

    async def open(self) -> None:
        """Prepare the destination; called once, before any record."""

    async def write(self, record: Record) -> None:
        """Store one record."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Flush and release the destination. Calling it twice is harmless."""

    async def __aenter__(self) -> Sink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
