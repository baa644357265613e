"""The one place where grpclib, h2, socket and TLS failures become viam_billing errors."""

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

__all__ = ["is_connection_loss", "map_error"]

_UNAUTHENTICATED = StatusCode.UNAUTHENTICATED.value
AUTH_OPERATION = "Authenticate"


def map_error(exc: Exception, *, operation: str, target: str, timeout: float | None) -> Exception:
    """Return the viam_billing error for ``exc``, raised by a call of ``operation`` to ``target``.

    Callers ``raise map_error(...) from exc``. A reply that breaks the protocol (bytes that are no reply message,
    a compressed or cut message) is a :class:`~viam_billing.TransportError`. An exception of none of the
    transport's kinds (a bug) is returned unchanged so that it stays visible. Only ``Exception`` is ever passed
    in: cancellation never reaches this function.
    """
    if isinstance(exc, BillingError):
        return exc
    if isinstance(exc, GRPCError):
        code = int(exc.status.value)
        message = exc.message or ""
        if code == _UNAUTHENTICATED:
            message = _unauthenticated_hint(message, operation)
        return status_error(code, message, operation=operation, details=_details(exc.details))
    if isinstance(exc, StreamTerminatedError):
        return TransportError(
            f"the call to {target} was cut off ({exc}); the service may or may not have acted on it",
            operation=operation,
        )
    if isinstance(exc, (ProtocolError, h2.exceptions.H2Error)):
        return TransportError(f"HTTP/2 protocol error talking to {target}: {exc}", operation=operation)
    if isinstance(exc, ProtobufDecodeError):
        return TransportError(
            f"the reply of {target} to {operation} is not a valid {operation} reply message ({exc}); check that "
            "the address is the Viam billing service's",
            operation=operation,
        )
    # grpclib refuses compressed messages with NotImplementedError and checks message lengths with assert: raised
    # from grpclib's own code, both say that the reply broke the protocol. The same exceptions raised anywhere
    # else are bugs, and stay as they are.
    if isinstance(exc, NotImplementedError) and _raised_by_grpclib(exc):
        return TransportError(
            f"the reply of {target} to {operation} is compressed, which this client does not support ({exc}); "
            "the server must send uncompressed messages",
            operation=operation,
        )
    if isinstance(exc, AssertionError) and _raised_by_grpclib(exc):
        return TransportError(
            f"the reply of {target} to {operation} was cut short or malformed ({exc or 'a gRPC framing check failed'})",
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
        return ConnectError(f"TLS with {target} failed: {exc.reason or exc}", operation=operation)
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"cannot resolve the host of {target}: {exc.strerror}", operation=operation)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"{target} refused the connection; is the service running there?", operation=operation)
    if isinstance(exc, OSError):
        return TransportError(f"network error talking to {target}: {exc.strerror or exc!s}", operation=operation)
    return exc


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
