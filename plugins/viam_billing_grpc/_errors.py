"""The one place where grpclib, h2, socket and TLS failures become viam_billing errors.

Also the few exceptions the transport raises inside itself, for this module to translate: a call the service never
processed (:class:`Unprocessed`), a message over the size limit, a unary reply with no message or two, a TLS
handshake the server cut off.
"""

from __future__ import annotations

import socket
import ssl
from types import TracebackType
from typing import Any

import h2.exceptions
from google.protobuf.message import DecodeError as ProtobufDecodeError
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from viam_billing import (
    BillingError,
    ConnectError,
    DeadlineExceededError,
    StatusCode,
    TransportError,
    status_error,
)
from viam_billing import (
    ProtocolError as BillingProtocolError,
)

__all__ = [
    "ExtraReply",
    "HandshakeCut",
    "MessageTooLarge",
    "NoReply",
    "Unprocessed",
    "is_connection_loss",
    "map_error",
]


class Unprocessed(StreamTerminatedError):
    """The call never reached the service's application: it never got a stream (its connection closed or began
    to drain first), or the server's GOAWAY named a last stream below it. Sending it again is safe, whatever the
    operation: gRPC's "transparent retry"."""


class MessageTooLarge(Exception):
    """A reply message's length prefix announced more bytes than the transport accepts."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a message of {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class NoReply(Exception):
    """A unary call ended with status OK and no reply message."""


class ExtraReply(Exception):
    """A unary call was answered with more than one reply message."""


class HandshakeCut(ConnectionError):
    """The server closed the connection during the TLS handshake."""


_UNAUTHENTICATED = StatusCode.UNAUTHENTICATED.value
AUTH_OPERATION = "Authenticate"


def map_error(
    exc: Exception, *, operation: str, target: str, timeout: float | None, idempotent: bool = True
) -> Exception:
    """Return the viam_billing error for ``exc``, raised by a call of ``operation`` to ``target``.

    Callers ``raise map_error(...) from exc``. A reply that breaks the protocol (no reply message or two for a
    unary call, bytes that are no reply message, a compressed or cut message) is a
    :class:`~viam_billing.ProtocolError`; for an operation that is not ``idempotent`` (a charge) its message
    says that the service may have acted on it. A message over the size limit is RESOURCE_EXHAUSTED, as in
    gRPC's own clients. An exception of none of the transport's kinds (a bug) is returned unchanged so that it
    stays visible. Only ``Exception`` is ever passed in: cancellation never reaches this function.
    """
    if isinstance(exc, BillingError):
        return exc
    if isinstance(exc, GRPCError):
        code = int(exc.status.value)
        message = exc.message or ""
        if code == _UNAUTHENTICATED:
            message = _unauthenticated_hint(message, operation)
        return status_error(code, message, operation=operation, details=_details(exc.details))
    acted = "" if idempotent else f"; the service may have carried out the {operation} call"
    if isinstance(exc, Unprocessed):
        return TransportError(
            f"{target} did not process the call ({exc}) and the client gave up sending it again; it had no "
            "effect, so it is safe to send again",
            operation=operation,
        )
    if isinstance(exc, StreamTerminatedError):
        return TransportError(
            f"the call to {target} was cut off ({exc}); the service may or may not have acted on it",
            operation=operation,
        )
    if isinstance(exc, NoReply):
        return BillingProtocolError(
            f"{target} answered {operation} with status OK but no reply message{acted}"
            + ("; check the invoices before charging again" if acted else ""),
            operation=operation,
        )
    if isinstance(exc, ExtraReply):
        return BillingProtocolError(
            f"{target} answered {operation} with more than one reply message, where the call has one{acted}"
            + ("; check the invoices before charging again" if acted else ""),
            operation=operation,
        )
    if isinstance(exc, MessageTooLarge):
        return status_error(
            StatusCode.RESOURCE_EXHAUSTED.value,
            f"the reply of {target} is {exc}; nothing of it was read. Pass max_receive_message_size= (bytes) to "
            f"the grpc transport to accept larger messages{acted}",
            operation=operation,
        )
    if isinstance(exc, (ProtocolError, h2.exceptions.H2Error)):
        return BillingProtocolError(f"HTTP/2 protocol error talking to {target}: {exc}{acted}", operation=operation)
    if isinstance(exc, ProtobufDecodeError):
        return BillingProtocolError(
            f"the reply of {target} to {operation} is not a valid {operation} reply message ({exc}); check that "
            f"the address is the Viam billing service's{acted}",
            operation=operation,
        )
    # grpclib refuses compressed messages with NotImplementedError and checks message lengths with assert: raised
    # from grpclib's own code, both say that the reply broke the protocol. The same exceptions raised anywhere
    # else are bugs, and stay as they are.
    if isinstance(exc, NotImplementedError) and _raised_by_grpclib(exc):
        return BillingProtocolError(
            f"the reply of {target} to {operation} is compressed, which this client does not support ({exc}); "
            f"the server must send uncompressed messages{acted}",
            operation=operation,
        )
    if isinstance(exc, AssertionError) and _raised_by_grpclib(exc):
        return BillingProtocolError(
            f"the reply of {target} to {operation} was cut short or malformed "
            f"({exc or 'a gRPC framing check failed'}){acted}",
            operation=operation,
        )
    if isinstance(exc, HandshakeCut):
        return ConnectError(
            f"{target} closed the connection during the TLS handshake ({exc}): it may speak only TLS 1.1 or older, "
            "which this client refuses (TLS 1.2 is the minimum), or not speak TLS on this port (for a plaintext "
            "server, pass insecure=True)",
            operation=operation,
        )
    # TimeoutError is an OSError subclass: test it first. grpclib raises it when the call's deadline expires.
    if isinstance(exc, TimeoutError):
        return DeadlineExceededError(
            f"no answer from {target} within {timeout} s (pass a larger timeout=, or check the network)",
            operation=operation,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectError(
            f"the TLS certificate of {target} could not be verified ({exc.verify_message}); "
            "check the address, or pass ssl_context= with the right CA",
            operation=operation,
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc) or type(exc).__name__
        hint = ""
        if any(word in reason for word in ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "WRONG_VERSION")):
            hint = "; the server may speak only TLS 1.1 or older, which this client refuses (TLS 1.2 is the minimum)"
        return ConnectError(f"TLS with {target} failed: {reason}{hint}", operation=operation)
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"cannot resolve the host of {target}: {exc.strerror}", operation=operation)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"{target} refused the connection; is the service running there?", operation=operation)
    if isinstance(exc, OSError):
        return TransportError(f"network error talking to {target}: {_describe(exc)}", operation=operation)
    return exc


_OS_ERRORS: dict[type[OSError], str] = {
    ConnectionResetError: "the connection was reset by the other side",
    ConnectionAbortedError: "the connection was aborted",
    BrokenPipeError: "the connection was closed by the other side",
}


def _describe(exc: OSError) -> str:
    """What went wrong, in words, also for an OSError raised with no message (asyncio's ``ConnectionResetError()``)."""
    text = exc.strerror or str(exc)
    if text:
        return text
    return _OS_ERRORS.get(type(exc), type(exc).__name__)


def is_connection_loss(exc: Exception) -> bool:
    """Whether ``exc`` says the connection failed or broke, as opposed to an answer from the service."""
    return isinstance(exc, (StreamTerminatedError, ConnectionError))


def _raised_by_grpclib(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by grpclib's code (the innermost frame of its traceback is grpclib's)."""
    tb: TracebackType | None = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    return isinstance(module, str) and (module == "grpclib" or module.startswith("grpclib."))


def _unauthenticated_hint(message: str, operation: str) -> str:
    if operation == AUTH_OPERATION:
        hint = (
            "the API key was not accepted; check api_key and api_key_id "
            "(or the VIAM_API_KEY and VIAM_API_KEY_ID environment variables)"
        )
    else:
        hint = "the access token was not accepted (expired or revoked); reconnect with an API key to refresh it"
    return f"{message} ({hint})" if message else hint


def _details(details: Any) -> dict[str, Any]:
    if not details:
        return {}
    if isinstance(details, (list, tuple)):
        return {"details": tuple(str(item) for item in details)}
    return {"details": (str(details),)}
