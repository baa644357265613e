"""The exceptions of viam-billing.

Every exception we raise derives from :class:`BillingError`::

    BillingError
    ├── ValidationError (also ValueError)      an argument was rejected before anything was sent
    ├── ConfigurationError (also ValueError)   connect() was given options it cannot work with
    ├── DecodeError (also ValueError)          stored data (a cassette, a JSON record) does not describe a model
    ├── FileError (also OSError)               a file could not be written or read (names the destination)
    ├── ClientClosedError                      the client was closed before or while the call ran
    ├── TransportError                         the service could not be reached or the connection broke
    │   ├── ConnectError                       no connection could be made
    │   └── ProtocolError                      the reply broke the protocol (no message, two, garbage, ...)
    ├── StatusError                            the service answered with a gRPC status other than OK
    │   ├── CancelledStatusError               CANCELLED (the service's status, not task cancellation)
    │   ├── UnknownError                       UNKNOWN
    │   ├── InvalidArgumentError               INVALID_ARGUMENT
    │   ├── DeadlineExceededError (TimeoutError)  DEADLINE_EXCEEDED, or the call's timeout expired locally
    │   ├── NotFoundError                      NOT_FOUND
    │   ├── AlreadyExistsError                 ALREADY_EXISTS
    │   ├── PermissionDeniedError              PERMISSION_DENIED
    │   ├── ResourceExhaustedError             RESOURCE_EXHAUSTED
    │   ├── FailedPreconditionError            FAILED_PRECONDITION
    │   ├── AbortedError                       ABORTED
    │   ├── OutOfRangeError                    OUT_OF_RANGE
    │   ├── UnimplementedError                 UNIMPLEMENTED
    │   ├── InternalError                      INTERNAL
    │   ├── UnavailableError                   UNAVAILABLE
    │   ├── DataLossError                      DATA_LOSS
    │   └── UnauthenticatedError               UNAUTHENTICATED
    └── PluginError                            a plugin failed, or was asked for and is not there
        ├── UnknownTransportError (also LookupError)
        ├── UnknownSinkError (also LookupError)
        └── SinkError                          sinks failed to store a result (the result is kept on it)

Transports translate their own exceptions into these at their edge (``raise ... from exc``), so no grpclib, h2
or socket exception reaches a caller. Cancellation of the caller is never turned into one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ._enums import StatusCode

if TYPE_CHECKING:
    from ._models import Model

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "BillingError",
    "CancelledStatusError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "DecodeError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FileError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "PluginError",
    "ProtocolError",
    "SinkError",
    "ResourceExhaustedError",
    "StatusError",
    "TransportError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "UnknownSinkError",
    "UnknownTransportError",
    "ValidationError",
    "status_error",
]


class BillingError(Exception):
    """Raised for every failure viam-billing reports; the root of the tree above.

    ``operation`` names the RPC (for example ``"GetInvoicesSummary"``) when the failure belongs to one.
    """

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation

    def __str__(self) -> str:
        if self.operation:
            return f"{self.operation}: {self.message}"
        return self.message


class ValidationError(BillingError, ValueError):
    """Raised when an argument is rejected before anything is sent; ``argument`` names it."""

    def __init__(self, message: str, *, argument: str, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.argument = argument


class ConfigurationError(BillingError, ValueError):
    """Raised when ``connect()`` or a transport is given options it cannot work with (missing credentials, ...)."""


class DecodeError(BillingError, ValueError):
    """Raised when stored data does not describe a model; ``path`` locates the problem (``invoices[2].status``)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class FileError(BillingError, OSError):
    """Raised when a file cannot be written or read: a PDF downloaded to a path, say.

    ``filename`` is the destination the caller named (never a temporary name used on the way), and ``errno`` and
    ``strerror`` are the operating system's, when it gave them. It is also an ``OSError``, so code that catches
    those keeps working.
    """

    def __init__(self, message: str, *, path: str, cause: OSError | None = None, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.filename = path
        if cause is not None:
            self.errno = cause.errno
            self.strerror = cause.strerror


class ClientClosedError(BillingError):
    """Raised when a call is made on a closed client, or was in flight when the client (or its transport) closed.

    A call in flight is cancelled on the wire and never retried: a charge cut this way may or may not have been
    acted on, like any call whose answer did not arrive.
    """


class TransportError(BillingError):
    """Raised when the service could not be reached, or the connection broke during a call."""


class ConnectError(TransportError):
    """Raised when no connection to the service could be made (refused, unresolvable, TLS failure)."""


class ProtocolError(TransportError):
    """Raised when a reply breaks the gRPC protocol: a unary call answered OK with no message or with two, bytes
    that are no reply message, a compressed or cut message.

    The service did answer, so a charge or an update may have been carried out: the message says so for those.
    """


class StatusError(BillingError):
    """Raised when the service answered a call with a gRPC status other than OK.

    ``code`` is the :class:`~viam_billing.StatusCode`, ``message`` the server's status message and ``details``
    any structured details the transport could decode (a mapping, possibly empty).
    """

    code: ClassVar[StatusCode] = StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        code: StatusCode | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        if code is not None:
            # An instance may carry a code the class was not made for (an unknown future status, say).
            self.code = code  # type: ignore[misc]
        self.details: Mapping[str, Any] = dict(details or {})

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}" if self.message else self.code.name
        return f"{self.operation}: {text}" if self.operation else text


class CancelledStatusError(StatusError):
    """Raised when the service reports the call as CANCELLED (not when the caller cancels: that propagates)."""

    code = StatusCode.CANCELLED


class UnknownError(StatusError):
    """Raised when the service fails with status UNKNOWN."""

    code = StatusCode.UNKNOWN


class InvalidArgumentError(StatusError):
    """Raised when the service rejects a request as INVALID_ARGUMENT."""

    code = StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(StatusError, TimeoutError):
    """Raised when a call's deadline expires, on the server (DEADLINE_EXCEEDED) or locally."""

    code = StatusCode.DEADLINE_EXCEEDED


class NotFoundError(StatusError):
    """Raised when the organization, invoice or location does not exist (NOT_FOUND)."""

    code = StatusCode.NOT_FOUND


class AlreadyExistsError(StatusError):
    """Raised when the service reports ALREADY_EXISTS."""

    code = StatusCode.ALREADY_EXISTS


class PermissionDeniedError(StatusError):
    """Raised when the key may not do this; billing calls need organization-owner permission (PERMISSION_DENIED)."""

    code = StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(StatusError):
    """Raised when the service rate-limits the caller (RESOURCE_EXHAUSTED)."""

    code = StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(StatusError):
    """Raised when the organization is not in a state that allows the call (FAILED_PRECONDITION)."""

    code = StatusCode.FAILED_PRECONDITION


class AbortedError(StatusError):
    """Raised when the service aborted the call (ABORTED)."""

    code = StatusCode.ABORTED


class OutOfRangeError(StatusError):
    """Raised when the service reports OUT_OF_RANGE."""

    code = StatusCode.OUT_OF_RANGE


class UnimplementedError(StatusError):
    """Raised when the service does not implement the RPC (UNIMPLEMENTED)."""

    code = StatusCode.UNIMPLEMENTED


class InternalError(StatusError):
    """Raised when the service failed internally (INTERNAL)."""

    code = StatusCode.INTERNAL


class UnavailableError(StatusError):
    """Raised when the service is temporarily unavailable (UNAVAILABLE); safe reads are retried on it."""

    code = StatusCode.UNAVAILABLE


class DataLossError(StatusError):
    """Raised when the service reports DATA_LOSS."""

    code = StatusCode.DATA_LOSS


class UnauthenticatedError(StatusError):
    """Raised when the credentials or the access token were not accepted (UNAUTHENTICATED)."""

    code = StatusCode.UNAUTHENTICATED


class PluginError(BillingError):
    """Raised when a plugin fails, or something is asked of a plugin that is not there."""


class UnknownTransportError(PluginError, LookupError):
    """Raised when a transport name is not registered; the message lists the registered ones."""


class UnknownSinkError(PluginError, LookupError):
    """Raised when a sink scheme is not registered; the message lists the registered ones."""


class SinkError(PluginError):
    """Raised when one or more sinks failed to store a result; the other sinks still received it.

    ``failures`` maps each failed sink's name to its exception, and ``result`` is the operation's result, so the
    data is not lost.
    """

    def __init__(self, message: str, *, operation: str, failures: dict[str, Exception], result: Model) -> None:
        super().__init__(message, operation=operation)
        self.failures = failures
        self.result = result


_BY_CODE: dict[StatusCode, type[StatusError]] = {
    cls.code: cls
    for cls in (
        CancelledStatusError,
        UnknownError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
}


def status_error(
    code: int,
    message: str,
    *,
    operation: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> StatusError:
    """Build the most specific :class:`StatusError` for a numeric gRPC status ``code``.

    Transports call this at their edge. An unknown code gives a plain :class:`StatusError` carrying it.

    >>> status_error(5, "no such invoice", operation="GetInvoicePdf")
    NotFoundError('no such invoice')
    """
    status = StatusCode(code)
    cls = _BY_CODE.get(status, StatusError)
    return cls(message, operation=operation, code=status, details=details)
