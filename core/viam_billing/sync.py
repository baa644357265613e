"""Blocking versions of the billing operations, for scripts and notebooks.

    from viam_billing import sync

    with sync.connect(api_key=key, api_key_id=key_id) as billing:
        usage = billing.get_current_month_usage(org_id)
        billing.get_invoice_pdf(invoice_id, org_id, "invoice.pdf")

The async client runs on an event loop in a private thread (anyio's blocking portal); each method sends the call
there and waits for its result. Leaving the ``with`` block (or :meth:`SyncBillingClient.close`) closes the client
and its sinks and ends the thread. Calls may come from several threads at once. Do not use it from inside a
running event loop: there, ``await`` the async client instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from typing import Any, Literal, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from . import _models as m
from ._client import DEFAULT_TRANSPORT, BillingClient, PdfDestination
from ._client import connect as _connect
from ._errors import ClientClosedError
from ._operations import Operation
from ._sinks import Sink

__all__ = ["SyncBillingClient", "connect"]

T = TypeVar("T")
ResponseT = TypeVar("ResponseT", bound=m.Model)
Backend = Literal["asyncio", "trio"]


class SyncBillingClient:
    """A :class:`~viam_billing.BillingClient` driven from blocking code.

    Build it with :func:`connect`, or around any factory of async clients (called on the private loop)::

        with SyncBillingClient(lambda: BillingClient(MockTransport(handler))) as billing:
            billing.get_invoices_summary("org-1")

    ``backend`` picks the loop the client runs on (``"asyncio"`` or ``"trio"``). Errors are the async client's,
    raised in the calling thread. The sinks are opened when the client starts, so a bad destination fails here.
    """

    def __init__(self, factory: Callable[[], BillingClient], *, backend: Backend = "asyncio") -> None:
        self._stack = contextlib.ExitStack()
        self._closed = False
        try:
            self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal(backend))
            client = self._portal.call(_build, factory)
            self._client: BillingClient = self._stack.enter_context(self._portal.wrap_async_context_manager(client))
        except BaseException:
            self._closed = True
            self._stack.close()
            raise

    def __enter__(self) -> SyncBillingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client, its sinks and transport, and stop the private thread. Calling it twice is harmless.

        Calls in flight from other threads end at once with :class:`~viam_billing.ClientClosedError` (with the
        grpc transport: cancelled on the wire, never retried), and so do calls made afterwards.
        """
        if not self._closed:
            self._closed = True
            self._stack.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SyncBillingClient {state} {self._client!r}>"

    @property
    def client(self) -> BillingClient:
        """The async client underneath; its coroutines only run on the private loop (see :meth:`run`)."""
        return self._client

    def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await function(*args)`` on the private loop and return its result: the escape hatch for
        anything async not wrapped here (``billing.run(billing.client.call, operation, request)``).
        """
        if self._closed:
            raise ClientClosedError("this client is closed; make a new one with viam_billing.sync.connect()")
        return self._portal.call(function, *args)

    # -- the operations ----------------------------------------------------------------------------------------

    def call(
        self, operation: Operation[Any, ResponseT], request: m.Model, *, timeout: float | None = None
    ) -> ResponseT:
        """Blocking :meth:`~viam_billing.BillingClient.call`."""
        result: ResponseT = self._do(self._client.call, operation, request, timeout=timeout)
        return result

    def get_current_month_usage(self, org_id: str, *, timeout: float | None = None) -> m.GetCurrentMonthUsageResponse:
        """Blocking :meth:`~viam_billing.BillingClient.get_current_month_usage`."""
        return self._do(self._client.get_current_month_usage, org_id, timeout=timeout)

    def get_org_billing_information(
        self, org_id: str, *, timeout: float | None = None
    ) -> m.GetOrgBillingInformationResponse:
        """Blocking :meth:`~viam_billing.BillingClient.get_org_billing_information`."""
        return self._do(self._client.get_org_billing_information, org_id, timeout=timeout)

    def get_invoices_summary(self, org_id: str, *, timeout: float | None = None) -> m.GetInvoicesSummaryResponse:
        """Blocking :meth:`~viam_billing.BillingClient.get_invoices_summary`."""
        return self._do(self._client.get_invoices_summary, org_id, timeout=timeout)

    def get_available_billing_tiers(self, *, timeout: float | None = None) -> m.GetAvailableBillingTiersResponse:
        """Blocking :meth:`~viam_billing.BillingClient.get_available_billing_tiers`."""
        return self._do(self._client.get_available_billing_tiers, timeout=timeout)

    def get_location_billing_organization(
        self, location_id: str, *, timeout: float | None = None
    ) -> m.GetLocationBillingOrganizationResponse:
        """Blocking :meth:`~viam_billing.BillingClient.get_location_billing_organization`."""
        return self._do(self._client.get_location_billing_organization, location_id, timeout=timeout)

    def get_invoice_pdf(
        self,
        invoice_id: str,
        org_id: str,
        dest: PdfDestination,
        *,
        timeout: float | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> int:
        """Blocking :meth:`~viam_billing.BillingClient.get_invoice_pdf`: download to
        a path (atomically) or a binary file object, and return the size. The chunks never sit in memory whole.
        ``progress`` is called with each chunk's size, from the facade's event-loop thread.
        """
        return self._do(self._client.get_invoice_pdf, invoice_id, org_id, dest, timeout=timeout, progress=progress)

    def get_invoice_pdf_bytes(self, invoice_id: str, org_id: str, *, timeout: float | None = None) -> bytes:
        """Blocking :meth:`~viam_billing.BillingClient.get_invoice_pdf_bytes`."""
        return self._do(self._client.get_invoice_pdf_bytes, invoice_id, org_id, timeout=timeout)

    @contextlib.contextmanager
    def stream_invoice_pdf(
        self, invoice_id: str, org_id: str, *, timeout: float | None = None
    ) -> Iterator[Iterator[bytes]]:
        """Blocking :meth:`~viam_billing.BillingClient.stream_invoice_pdf`: the
        context yields an iterator of chunks; leaving it early cancels the download on the wire.

        Example::

            with billing.stream_invoice_pdf(invoice_id, org_id) as chunks:
                for chunk in chunks:
                    upload(chunk)
        """
        if self._closed:
            raise ClientClosedError("this client is closed; make a new one with viam_billing.sync.connect()")
        stream = self._client.stream_invoice_pdf(invoice_id, org_id, timeout=timeout)
        with self._portal.wrap_async_context_manager(stream) as chunks:

            def blocking_chunks() -> Iterator[bytes]:
                while True:
                    try:
                        yield self._portal.call(chunks.__anext__)
                    except StopAsyncIteration:
                        return

            yield blocking_chunks()

    def charge_organization(
        self,
        org_id_to_charge: str,
        subtotal: float,
        tax: float,
        description: str | None = None,
        org_id_for_branding: str | None = None,
        disable_confirmation_email: bool = False,
        *,
        timeout: float | None = None,
    ) -> m.ChargeOrganizationResponse:
        """Blocking :meth:`~viam_billing.BillingClient.charge_organization`.

        **Not idempotent** and never retried: after a timeout or an unavailable service, check the invoices
        before charging again.
        """
        return self._do(
            self._client.charge_organization,
            org_id_to_charge,
            subtotal,
            tax,
            description,
            org_id_for_branding,
            disable_confirmation_email,
            timeout=timeout,
        )

    def create_invoice_and_charge_immediately(
        self,
        org_id_to_charge: str,
        amount: float,
        description: str | None = None,
        org_id_for_branding: str | None = None,
        disable_email: bool = False,
        *,
        timeout: float | None = None,
    ) -> m.CreateInvoiceAndChargeImmediatelyResponse:
        """Deprecated: use :meth:`charge_organization`. Blocking
        :meth:`~viam_billing.BillingClient.create_invoice_and_charge_immediately`.
        """
        return self._do(
            self._client.create_invoice_and_charge_immediately,
            org_id_to_charge,
            amount,
            description,
            org_id_for_branding,
            disable_email,
            timeout=timeout,
        )

    def send_payment_required_email(
        self, customer_org_id: str, billing_owner_org_id: str, *, timeout: float | None = None
    ) -> None:
        """Blocking :meth:`~viam_billing.BillingClient.send_payment_required_email`."""
        self._do(self._client.send_payment_required_email, customer_org_id, billing_owner_org_id, timeout=timeout)

    def update_organization_billing_tier(
        self, organization_id: str, billing_tier: str, *, timeout: float | None = None
    ) -> None:
        """Blocking :meth:`~viam_billing.BillingClient.update_organization_billing_tier`."""
        self._do(self._client.update_organization_billing_tier, organization_id, billing_tier, timeout=timeout)

    def update_location_billing_organization(
        self, location_id: str, billing_organization_id: str, *, timeout: float | None = None
    ) -> None:
        """Blocking :meth:`~viam_billing.BillingClient.update_location_billing_organization`."""
        self._do(
            self._client.update_location_billing_organization, location_id, billing_organization_id, timeout=timeout
        )

    def _do(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return self.run(partial(method, *args, **kwargs))


async def _build(factory: Callable[[], BillingClient]) -> BillingClient:
    # Built on the private loop: a transport may take loop-bound resources when it is made.
    return factory()


def connect(
    transport: str = DEFAULT_TRANSPORT,
    *,
    timeout: float | None = None,
    sinks: Sequence[str | Sink] = (),
    backend: Backend = "asyncio",
    **options: Any,
) -> SyncBillingClient:
    """Connect like :func:`viam_billing.connect`, for blocking code; use the result as a context manager.

    Example::

        with viam_billing.sync.connect(api_key=key, api_key_id=key_id, sinks=["sqlite:billing.db"]) as billing:
            print(billing.get_current_month_usage(org_id).subtotal)

    Takes the same arguments as :func:`viam_billing.connect` (the transport's options among them), plus
    ``backend`` (``"asyncio"`` or ``"trio"``) for the private event loop, and raises the same errors.
    """
    return SyncBillingClient(partial(_connect, transport, timeout=timeout, sinks=sinks, **options), backend=backend)
