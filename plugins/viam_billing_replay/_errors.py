"""The exceptions and warnings of the replay transport.

All derive from :class:`viam_billing.PluginError`::

    PluginError
    └── CassetteError                          a cassette could not be read, written or used
        ├── CassetteFormatError (also ValueError)  the file is not a valid cassette; ``location`` says where
        ├── UnmatchedRequestError (also LookupError)  no recorded interaction answers a request
        ├── CassetteSecretError                a secret was found in what would be written; nothing was written
        └── StaleCassetteError                 recorded interactions were never played (when asked to fail)
"""

from __future__ import annotations

from viam_billing import PluginError

__all__ = [
    "CassetteError",
    "CassetteFormatError",
    "CassetteSecretError",
    "StaleCassetteError",
    "UnmatchedRequestError",
    "UnplayedInteractionsWarning",
]


class CassetteError(PluginError):
    """Raised when a cassette cannot be read, written or used; ``cassette`` is its path."""

    def __init__(self, message: str, *, cassette: str, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.cassette = cassette


class CassetteFormatError(CassetteError, ValueError):
    """Raised when a file is not a valid cassette.

    ``location`` points at the problem: ``line 3, column 5`` for broken JSON, or a path into the document such as
    ``interactions[2].request.org_id``. Re-record the cassette, or fix the file by hand at that place.
    """

    def __init__(self, message: str, *, cassette: str, location: str) -> None:
        where = f" at {location}" if location else ""
        super().__init__(f"cassette {cassette!r} is not valid{where}: {message}", cassette=cassette)
        self.location = location
        self.reason = message


class UnmatchedRequestError(CassetteError, LookupError):
    """Raised when a request has no recorded interaction left to answer it and the record mode may not record.

    The message names the cassette, the operation, the request and the nearest recorded candidates with the
    fields that differ. ``request`` is the request model.
    """

    def __init__(self, message: str, *, cassette: str, operation: str, request: object) -> None:
        super().__init__(message, cassette=cassette, operation=operation)
        self.request = request


class CassetteSecretError(CassetteError):
    """Raised when a cassette about to be saved contains a secret the transport knows; nothing was written.

    ``kind`` says which secret (for example ``"secret held by the inner MockTransport (from its secrets())"``); its
    value is never shown.
    """

    def __init__(self, message: str, *, cassette: str, kind: str) -> None:
        super().__init__(message, cassette=cassette)
        self.kind = kind


class StaleCassetteError(CassetteError):
    """Raised on close when ``on_unplayed="error"`` and recorded interactions were never played.

    ``unplayed`` lists ``(index, operation name)`` of each; delete them from the cassette or re-record it.
    """

    def __init__(self, message: str, *, cassette: str, unplayed: list[tuple[int, str]]) -> None:
        super().__init__(message, cassette=cassette)
        self.unplayed = unplayed


class UnplayedInteractionsWarning(UserWarning):
    """Warned on close when ``on_unplayed="warn"`` and recorded interactions were never played."""
