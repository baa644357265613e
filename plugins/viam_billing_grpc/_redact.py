"""Keep API keys and access tokens out of log output, including that of the HTTP/2 libraries.

hpack logs every header it encodes or decodes at DEBUG, ``authorization: Bearer <token>`` included. A filter
on its loggers replaces any secret a live transport or emulator holds with ``<redacted>``. It costs nothing
unless DEBUG logging is on for those loggers, since the logging call returns before filters run otherwise.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

__all__ = ["REDACTED", "SecretHolder", "install", "watch"]

REDACTED = "<redacted>"

# The loggers through which third-party code may print header values.
_LOGGERS = ("hpack", "hpack.hpack", "hpack.table", "h2", "h2.connection", "grpclib", "grpclib.protocol")


class SecretHolder(Protocol):
    def secrets(self) -> Iterable[str]:
        """The secret strings this object currently knows."""


_holders: weakref.WeakSet[SecretHolder] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        with _lock:
            holders = list(_holders)
        secrets = [secret for holder in holders for secret in holder.secrets() if secret]
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken log call is the logging module's to report
            return True
        redacted = message
        for secret in secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Put the redacting filter on the HTTP/2 libraries' loggers (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    redactor = _RedactSecrets()
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(redactor)


def watch(holder: SecretHolder) -> None:
    """Redact ``holder``'s secrets from those loggers for as long as it lives."""
    install()
    with _lock:
        _holders.add(holder)
