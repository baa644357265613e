"""``BillingClient``: the typed operations of the billing service, over any transport."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, TypeVar, Union

import anyio

from . import _models as m
from . import _operations as ops
from . import _validate as v
from ._errors import BillingError, ClientClosedError, FileError, ProtocolError, SinkError, ValidationError
from ._events import CallContext, CallFinished, CallStarted, _current
from ._operations import Operation, org_id_of
from ._plugins import Observers, PluginRegistry, get_registry
from ._sinks import Record, Sink
from ._transport import AsyncTransport

if TYPE_CHECKING:  # loaded with the first download to a path
    from ._saving import CommitGroup

__all__ = ["DEFAULT_TRANSPORT", "BillingClient", "connect"]

logger = logging.getLogger("viam_billing")

ResponseT = TypeVar("ResponseT", bound=m.Model)
PdfDestination = Union[str, "os.PathLike[str]", IO[bytes]]

_call_ids = itertools.count(1)

DEFAULT_TRANSPORT = "grpc"
"""The transport :func:`connect` uses when none is named: Viam's billing service over gRPC."""


class BillingClient:
    """The billing operations of one organization owner's credentials, over a transport.

    Build it with :func:`connect`, or directly around any transport::

        async with BillingClient(MockTransport(handler), timeout=5) as billing:
            usage = await billing.get_current_month_usage("org-id")

    ``timeout`` is the default per-call timeout in seconds (``None``: no deadline); each method's ``timeout``
    overrides it. Every result also flows to each attached sink. Works under asyncio and trio; one client may
    serve many concurrent calls. Leaving the ``async with`` block closes the sinks and the transport.
    """

    def __init__(
        self,
        transport: AsyncTransport,
        *,
        timeout: float | None = None,
        sinks: Iterable[Sink] = (),
        registry: PluginRegistry | None = None,
    ) -> None:
        if not isinstance(transport, AsyncTransport):
            raise ValidationError(
                f"transport must be an AsyncTransport, got {type(transport).__name__}", argument="transport"
            )
        self._transport = transport
        self._timeout = v.require_timeout(timeout)
        self._sinks = tuple(sinks)
        self._open_sinks_list: list[Sink] | None = None  # the sinks opened so far; None until opening starts
        self._sinks_lock = anyio.Lock()
        self._observers = (registry or get_registry()).observers()
        self._closed = False
        self._commits: CommitGroup | None = None  # for downloads to a path, made at the first one

    def __repr__(self) -> str:
        return f"<BillingClient transport={self._transport!r} timeout={self._timeout}>"

    @property
    def transport(self) -> AsyncTransport:
        """The transport calls go through."""
        return self._transport

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The sinks every result is written to."""
        return self._sinks

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> BillingClient:
        try:
            await self._open_sinks()
        except BaseException:
            # A sink that cannot open must not leave the ones before it, or the transport, open behind it.
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport, then the sinks. Calling it twice is harmless.

        Calls still in flight end with :class:`ClientClosedError` (the transport cancels them on the wire and
        retries none of them), so no result reaches a sink after it closed; calls made afterwards raise it too.
        """
        if self._closed:
            return
        self._closed = True
        try:
            await self._transport.aclose()
        finally:
            for sink in self._open_sinks_list or ():
                try:
                    await sink.aclose()
                except Exception:
                    logger.exception("sink %r failed to close", sink.name)

    async def _open_sinks(self) -> None:
        """Open every sink once, even when the first calls race to it; only sinks that opened are closed later."""
        if self._open_sinks_list is not None and len(self._open_sinks_list) == len(self._sinks):
            return
        async with self._sinks_lock:
            if self._open_sinks_list is None:
                self._open_sinks_list = []
            for sink in self._sinks[len(self._open_sinks_list) :]:
                await sink.open()
                self._open_sinks_list.append(sink)

    # -- the machinery every method goes through ---------------------------------------------------------------

    def _check_open(self, operation: Operation[Any, Any]) -> None:
        if self._closed:
            raise ClientClosedError("this client is closed; make a new one with connect()", operation=operation.name)

    def _timeout_for(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is None else v.require_timeout(timeout)

    async def call(
        self, operation: Operation[Any, ResponseT], request: m.Model, *, timeout: float | None = None
    ) -> ResponseT:
        """Send one unary operation from the operation table with a ready request model.

        The typed methods below are the usual way in; this one serves generic tools (the command line, replay).
        """
        self._check_open(operation)
        timeout = self._timeout_for(timeout)
        if self._observers is None:
            result = await self._transport.unary(operation, request, timeout=timeout)
            if self._sinks:
                await self._emit(operation, request, result)
            return result
        call = self._started(self._observers, operation, request)
        start = time.perf_counter()
        outcome, error = "error", None
        token = _current.set(call)
        try:
            result = await self._transport.unary(operation, request, timeout=timeout)
            outcome = "ok"
        except anyio.get_cancelled_exc_class() as exc:
            outcome, error = "cancelled", exc
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            _current.reset(token)
            self._finished(self._observers, call, request, start, outcome, error)
        await self._emit(operation, request, result)
        return result

    @asynccontextmanager
    async def open_stream(
        self, operation: Operation[Any, ResponseT], request: m.Model, *, timeout: float | None = None
    ) -> AsyncIterator[AsyncIterator[ResponseT]]:
        """Open one server-streaming operation; the context yields its messages as they arrive.

        Leaving the block early cancels the call on the wire.
        """
        self._check_open(operation)
        timeout = self._timeout_for(timeout)
        observers = self._observers
        if observers is None:
            async with self._transport.stream(operation, request, timeout=timeout) as messages:
                yield messages
            return
        call = self._started(observers, operation, request)
        start = time.perf_counter()
        outcome, error = "error", None
        try:
            async with AsyncExitStack() as stack:
                # The call is current while the transport opens the stream and fetches each message (where it
                # works, retries and reports), not in the caller's block: calls made there are calls of their own.
                token = _current.set(call)
                try:
                    messages = await stack.enter_async_context(
                        self._transport.stream(operation, request, timeout=timeout)
                    )
                finally:
                    _current.reset(token)
                yield _Counted(messages, call)
            outcome = "ok"
        except anyio.get_cancelled_exc_class() as exc:
            outcome, error = "cancelled", exc
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finished(observers, call, request, start, outcome, error)

    @staticmethod
    def _started(observers: Observers, operation: Operation[Any, Any], request: m.Model) -> CallContext:
        call = CallContext(call_id=next(_call_ids), operation=operation)
        observers.started(CallStarted(call_id=call.call_id, operation=operation, request=request, context=call))
        return call

    @staticmethod
    def _finished(
        observers: Observers,
        call: CallContext,
        request: m.Model,
        start: float,
        outcome: str,
        error: BaseException | None,
    ) -> None:
        event = CallFinished(
            call_id=call.call_id,
            operation=call.operation,
            request=request,
            duration=time.perf_counter() - start,
            outcome=outcome,  # type: ignore[arg-type]
            error=error,
            context=call,
        )
        observers.finished(event)

    async def _emit(self, operation: Operation[Any, Any], request: m.Model, result: m.Model) -> None:
        if not self._sinks:
            return
        await self._open_sinks()
        record = Record(
            operation=operation,
            request=request,
            result=result,
            org_id=org_id_of(request),
            fetched_at=datetime.now(timezone.utc),
        )
        failures: dict[str, Exception] = {}
        for sink in self._sinks:
            try:
                await sink.write(record)
            except Exception as exc:
                logger.debug("sink %r failed on %s", sink.name, operation.name, exc_info=True)
                failures[sink.name] = exc
        if failures:
            detail = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in failures.items())
            # A charge that went through must not look like one that failed: a caller retrying it would bill twice.
            advice = "" if operation.idempotent else "; do not send it again: the result is on this error's .result"
            raise SinkError(
                f"the call succeeded, but {len(failures)} sink(s) failed to store its result ({detail}){advice}",
                operation=operation.name,
                failures=failures,
                result=result,
            )

    # -- reads -------------------------------------------------------------------------------------------------

    async def get_current_month_usage(
        self, org_id: str, *, timeout: float | None = None
    ) -> m.GetCurrentMonthUsageResponse:
        """Return the organization's usage and costs for the current month so far.

        Example: ``usage = await billing.get_current_month_usage(org_id); print(usage.subtotal)``.

        Raises :class:`ValidationError` for an empty ``org_id``, :class:`PermissionDeniedError` when the key is not
        an owner of the organization, :class:`DeadlineExceededError` when ``timeout`` expires.
        """
        request = m.GetCurrentMonthUsageRequest(org_id=v.require_id(org_id, "org_id"))
        return await self.call(ops.GET_CURRENT_MONTH_USAGE, request, timeout=timeout)

    async def get_org_billing_information(
        self, org_id: str, *, timeout: float | None = None
    ) -> m.GetOrgBillingInformationResponse:
        """Return how the organization pays: method type, billing e-mail, card or bank account, tier.

        Example: ``info = await billing.get_org_billing_information(org_id); print(info.billing_email)``.
        """
        request = m.GetOrgBillingInformationRequest(org_id=v.require_id(org_id, "org_id"))
        return await self.call(ops.GET_ORG_BILLING_INFORMATION, request, timeout=timeout)

    async def get_invoices_summary(self, org_id: str, *, timeout: float | None = None) -> m.GetInvoicesSummaryResponse:
        """Return the outstanding balance and every invoice of the organization.

        Example: ``for invoice in (await billing.get_invoices_summary(org_id)).invoices: print(invoice.id)``.
        """
        request = m.GetInvoicesSummaryRequest(org_id=v.require_id(org_id, "org_id"))
        return await self.call(ops.GET_INVOICES_SUMMARY, request, timeout=timeout)

    async def get_available_billing_tiers(self, *, timeout: float | None = None) -> m.GetAvailableBillingTiersResponse:
        """Return the names of the billing tiers an organization can be put on."""
        return await self.call(ops.GET_AVAILABLE_BILLING_TIERS, m.GetAvailableBillingTiersRequest(), timeout=timeout)

    async def get_location_billing_organization(
        self, location_id: str, *, timeout: float | None = None
    ) -> m.GetLocationBillingOrganizationResponse:
        """Return which organization pays for the location's usage."""
        request = m.GetLocationBillingOrganizationRequest(location_id=v.require_id(location_id, "location_id"))
        return await self.call(ops.GET_LOCATION_BILLING_ORGANIZATION, request, timeout=timeout)

    # -- invoice PDFs --------------------------------------------------------------------------------------------

    def _pdf_request(self, invoice_id: str, org_id: str) -> m.GetInvoicePdfRequest:
        return m.GetInvoicePdfRequest(id=v.require_id(invoice_id, "invoice_id"), org_id=v.require_id(org_id, "org_id"))

    @asynccontextmanager
    async def stream_invoice_pdf(
        self, invoice_id: str, org_id: str, *, timeout: float | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Stream an invoice PDF: the context yields its chunks (``bytes``) as they arrive.

        Example::

            async with billing.stream_invoice_pdf(invoice_id, org_id) as chunks:
                async for chunk in chunks:
                    upload(chunk)

        Leaving the block before the last chunk cancels the download on the wire. A stream that ends without a
        single byte raises :class:`ProtocolError` at its end: no invoice has an empty document.
        """
        request = self._pdf_request(invoice_id, org_id)

        async def chunks(messages: AsyncIterator[m.GetInvoicePdfResponse]) -> AsyncIterator[bytes]:
            size = 0
            async for message in messages:
                size += len(message.chunk)
                yield message.chunk
            if not size:
                raise ProtocolError(
                    f"the service sent an empty PDF for invoice {invoice_id!r} (the stream ended with status OK and "
                    "no bytes); nothing was saved, and a file already there was kept",
                    operation=ops.GET_INVOICE_PDF.name,
                )

        async with self.open_stream(ops.GET_INVOICE_PDF, request, timeout=timeout) as messages:
            iterator = chunks(messages)
            try:
                yield iterator
            finally:
                await iterator.aclose()  # type: ignore[attr-defined]

    async def get_invoice_pdf_bytes(self, invoice_id: str, org_id: str, *, timeout: float | None = None) -> bytes:
        """Download an invoice PDF into memory and return it.

        The whole document also flows to the attached sinks, as one :class:`GetInvoicePdfResponse` (the other ways
        of downloading never hold the whole document, so they leave sinks out).

        Example: ``pdf = await billing.get_invoice_pdf_bytes(invoice_id, org_id)``.
        """
        async with self.stream_invoice_pdf(invoice_id, org_id, timeout=timeout) as chunks:
            document = b"".join([chunk async for chunk in chunks])
        request = self._pdf_request(invoice_id, org_id)
        await self._emit(ops.GET_INVOICE_PDF, request, m.GetInvoicePdfResponse(chunk=document))
        return document

    async def get_invoice_pdf(
        self,
        invoice_id: str,
        org_id: str,
        dest: PdfDestination,
        *,
        timeout: float | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> int:
        """Download an invoice PDF to ``dest`` and return its size in bytes.

        ``dest`` is a path (``str`` or ``os.PathLike``) or a writable binary file object. A path is written
        atomically: a temporary file beside it replaces ``dest`` only after the last chunk arrived and was
        flushed to disk. A document of up to 1 MiB is kept in memory until then and saved in a worker thread
        together with the other downloads finishing at the same time (one flush to disk for all of them); a
        larger one streams to its temporary file as it arrives. On any error, timeout or cancellation ``dest`` is
        untouched (an existing file keeps its content, a missing one stays missing) and no temporary file remains.
        A file object receives the chunks as they arrive and is neither flushed nor closed. ``progress``, if
        given, is called with the size of each chunk once it is received (for a progress bar).

        Raises :class:`ValidationError` for an empty ``dest``, and :class:`FileError` (also an ``OSError``) naming
        ``dest`` when it cannot be written: a missing directory or a directory in its place (found before anything
        is fetched), no permission, a full disk. An empty document raises :class:`ProtocolError`, leaving ``dest``
        as it was.

        Example: ``await billing.get_invoice_pdf(invoice_id, org_id, "invoice.pdf")``.
        """
        self._pdf_request(invoice_id, org_id)  # fail on bad ids before touching the disk
        if isinstance(dest, (str, os.PathLike)):
            return await self._pdf_to_path(invoice_id, org_id, os.fspath(dest), timeout, progress)
        if not callable(getattr(dest, "write", None)):
            raise ValidationError(
                f"dest must be a path or a writable binary file object, got {type(dest).__name__}",
                argument="dest",
            )
        size = 0
        async with self.stream_invoice_pdf(invoice_id, org_id, timeout=timeout) as chunks:
            async for chunk in chunks:
                dest.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        return size

    async def _pdf_to_path(
        self,
        invoice_id: str,
        org_id: str,
        path: str,
        timeout: float | None,
        progress: Callable[[int], object] | None,
    ) -> int:
        # Loaded here, not with the client: tempfile and the worker threads serve only downloads to a path.
        import anyio.to_thread

        from . import _files, _saving

        _check_destination(path)
        # A small document is kept in memory and saved with the others finishing now (a worker thread creates,
        # flushes and renames the files: see _saving); a larger one streams to its own temporary file.
        chunks: list[bytes] = []
        file: IO[bytes] | None = None
        tmp = ""
        try:
            size = handed = 0
            async with self.stream_invoice_pdf(invoice_id, org_id, timeout=timeout) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if file is None and size > _saving.KEPT_IN_MEMORY:
                        file, tmp = _files.open_temporary(path)
                        file.writelines(chunks)
                        chunks.clear()
                    if file is None:
                        chunks.append(chunk)
                    else:
                        # A buffered write of one chunk returns in microseconds; a thread hop per chunk would
                        # cost more than it saves.
                        file.write(chunk)
                        if size - handed >= _files.WRITEBACK_BYTES:
                            _files.start_writeback(file, handed, size)
                            handed = size
                    if progress is not None:
                        progress(len(chunk))
            if file is None:
                if self._commits is None:
                    self._commits = _saving.CommitGroup()
                await self._commits.save(path, b"".join(chunks))
            else:
                with file:
                    file.flush()
                    await anyio.to_thread.run_sync(os.fsync, file.fileno())
                _files.replace(tmp, path)
        except BaseException as exc:
            if file is not None:
                file.close()
                _files.discard(tmp)
            # Our own errors pass as they are: DeadlineExceededError is an OSError too (a TimeoutError).
            if isinstance(exc, OSError) and not isinstance(exc, BillingError):
                raise _file_error(path, exc) from exc
            raise
        return size

    # -- changes -------------------------------------------------------------------------------------------------

    async def charge_organization(
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
        """Charge an organization ``subtotal`` + ``tax`` US dollars and return the new invoice's id.

        **Not idempotent**: it is never retried automatically, because a retried charge can bill twice. After an
        error such as :class:`UnavailableError` or :class:`DeadlineExceededError` the charge may or may not have
        happened: check :meth:`get_invoices_summary` before charging again. The invoice's status starts as
        ``payment_processing`` and later becomes ``paid`` or ``outstanding``.

        Example: ``invoice = await billing.charge_organization(customer_org, 120.0, 9.6, "November support")``.
        """
        request = m.ChargeOrganizationRequest(
            org_id_to_charge=v.require_id(org_id_to_charge, "org_id_to_charge"),
            subtotal=v.require_amount(subtotal, "subtotal"),
            tax=v.require_amount(tax, "tax"),
            description=v.optional_description(description),
            org_id_for_branding=v.optional_id(org_id_for_branding, "org_id_for_branding"),
            disable_confirmation_email=v.require_bool(disable_confirmation_email, "disable_confirmation_email"),
        )
        return await self.call(ops.CHARGE_ORGANIZATION, request, timeout=timeout)

    async def create_invoice_and_charge_immediately(
        self,
        org_id_to_charge: str,
        amount: float,
        description: str | None = None,
        org_id_for_branding: str | None = None,
        disable_email: bool = False,
        *,
        timeout: float | None = None,
    ) -> m.CreateInvoiceAndChargeImmediatelyResponse:
        """Deprecated: use :meth:`charge_organization`. Charges ``amount`` US dollars; not idempotent."""
        warnings.warn(
            "create_invoice_and_charge_immediately() is deprecated by the service; "
            "use charge_organization(org_id_to_charge, subtotal, tax, ...) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        request = m.CreateInvoiceAndChargeImmediatelyRequest(
            org_id_to_charge=v.require_id(org_id_to_charge, "org_id_to_charge"),
            amount=v.require_amount(amount, "amount"),
            description=v.optional_description(description),
            org_id_for_branding=v.optional_id(org_id_for_branding, "org_id_for_branding"),
            disable_email=v.require_bool(disable_email, "disable_email"),
        )
        return await self.call(ops.CREATE_INVOICE_AND_CHARGE_IMMEDIATELY, request, timeout=timeout)

    async def send_payment_required_email(
        self, customer_org_id: str, billing_owner_org_id: str, *, timeout: float | None = None
    ) -> None:
        """Send the customer organization an e-mail saying payment is required. Never retried automatically."""
        request = m.SendPaymentRequiredEmailRequest(
            customer_org_id=v.require_id(customer_org_id, "customer_org_id"),
            billing_owner_org_id=v.require_id(billing_owner_org_id, "billing_owner_org_id"),
        )
        await self.call(ops.SEND_PAYMENT_REQUIRED_EMAIL, request, timeout=timeout)

    async def update_organization_billing_tier(
        self, organization_id: str, billing_tier: str, *, timeout: float | None = None
    ) -> None:
        """Put the organization on ``billing_tier`` (one of :meth:`get_available_billing_tiers`)."""
        request = m.UpdateOrganizationBillingTierRequest(
            organization_id=v.require_id(organization_id, "organization_id"),
            billing_tier=v.require_id(billing_tier, "billing_tier"),
        )
        await self.call(ops.UPDATE_ORGANIZATION_BILLING_TIER, request, timeout=timeout)

    async def update_location_billing_organization(
        self, location_id: str, billing_organization_id: str, *, timeout: float | None = None
    ) -> None:
        """Make ``billing_organization_id`` pay for the location's usage."""
        request = m.UpdateLocationBillingOrganizationRequest(
            location_id=v.require_id(location_id, "location_id"),
            billing_organization_id=v.require_id(billing_organization_id, "billing_organization_id"),
        )
        await self.call(ops.UPDATE_LOCATION_BILLING_ORGANIZATION, request, timeout=timeout)


class _Counted:
    """A stream's messages, counted on their call for its observers, with the bytes of those that carry a
    ``chunk`` of a document (``GetInvoicePdfResponse``).

    A plain iterator rather than an async generator: a caller that leaves the stream early leaves no generator
    to finalise behind it.
    """

    __slots__ = ("_call", "_messages")

    def __init__(self, messages: AsyncIterator[Any], call: CallContext) -> None:
        self._messages = messages
        self._call = call

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> Any:
        call = self._call
        # Current while the transport fetches the message: a transport may do its work there (MockTransport
        # calls its handler at the first one).
        token = _current.set(call)
        try:
            message = await self._messages.__anext__()
        finally:
            _current.reset(token)
        call.messages += 1
        chunk = getattr(message, "chunk", None)
        if isinstance(chunk, bytes):
            call.payload_bytes += len(chunk)
        return message


def _check_destination(path: str) -> None:
    """Refuse, before anything is fetched, a ``dest`` that cannot become a file."""
    if not path:
        raise ValidationError("dest must name a file, got an empty path", argument="dest")
    # The usual case in two system calls (on the event loop's thread, download after download): ``path`` is not a
    # directory, and its directory is one we may write in (a missing directory fails access() as well).
    try:
        usable = not stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        usable = True
    except OSError:
        usable = False
    if usable and os.access(os.path.dirname(path) or os.curdir, os.W_OK | os.X_OK):
        return
    _refuse_destination(path)


def _refuse_destination(path: str) -> None:
    """Raise the FileError saying why ``path`` cannot become a file (if it can after all, return)."""
    directory, name = os.path.split(os.path.abspath(path))
    if not name or os.path.isdir(path):
        raise FileError(
            f"cannot save the PDF as {path!r}: it is a directory; name a file in it",
            path=path,
            cause=IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)),
        )
    if not os.path.isdir(directory):
        code, what = (
            (errno.ENOTDIR, "is not a directory") if os.path.exists(directory) else (errno.ENOENT, "does not exist")
        )
        raise FileError(
            f"cannot save the PDF as {path!r}: {directory!r} {what}", path=path, cause=OSError(code, os.strerror(code))
        )
    if not os.access(directory, os.W_OK | os.X_OK):  # no permission, or a read-only file system
        raise FileError(
            f"cannot save the PDF as {path!r}: Permission denied",
            path=path,
            cause=PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
        )


def _file_error(path: str, exc: OSError) -> FileError:
    """``exc``, raised while saving to ``path`` (perhaps about the temporary file beside it), as a FileError that
    names ``path`` and the system's reason."""
    return FileError(f"cannot save the PDF as {path!r}: {exc.strerror or exc}", path=path, cause=exc)


def connect(
    transport: str = DEFAULT_TRANSPORT,
    *,
    timeout: float | None = None,
    sinks: Sequence[str | Sink] = (),
    registry: PluginRegistry | None = None,
    **options: Any,
) -> BillingClient:
    """Build a :class:`BillingClient` on a registered transport; use it as an async context manager.

    Example::

        async with viam_billing.connect(api_key=key, api_key_id=key_id, timeout=10) as billing:
            usage = await billing.get_current_month_usage(org_id)

    ``transport`` names a registered transport: ``"grpc"`` (the default: Viam's service over gRPC), ``"replay"``
    (recorded cassettes), or one a plugin adds. Every other keyword in ``options`` goes to that transport's
    factory, which checks them; see the transport's documentation (for ``"grpc"``: ``api_key``, ``api_key_id``,
    ``address``, ``access_token``, ``insecure``, ...). ``timeout`` is the default per-call timeout in seconds.
    ``sinks`` are sink specs such as ``"sqlite:billing.db"`` or :class:`Sink` objects. Nothing is dialled until
    the first call.

    Raises :class:`UnknownTransportError` (listing the registered names) for an unknown transport,
    :class:`UnknownSinkError` for an unknown sink scheme, :class:`ConfigurationError` naming an option the
    transport does not know or cannot use.
    """
    registry = registry or get_registry()
    timeout = v.require_timeout(timeout)
    built_sinks = [registry.create_sink(sink) if isinstance(sink, str) else sink for sink in sinks]
    return BillingClient(
        registry.create_transport(transport, **options), timeout=timeout, sinks=built_sinks, registry=registry
    )
