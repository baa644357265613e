"""Credentials, and the handshake that turns an API key into the Bearer token sent on every billing call."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from viam_billing import ConfigurationError

from . import _redact

__all__ = [
    "API_KEY_ENV",
    "API_KEY_ID_ENV",
    "Authenticator",
    "Credentials",
    "Metadata",
    "header_problem",
    "observer_metadata",
    "resolve_credentials",
]

logger = logging.getLogger("viam_billing_grpc")

API_KEY_ENV = "VIAM_API_KEY"
API_KEY_ID_ENV = "VIAM_API_KEY_ID"

Metadata = tuple[tuple[str, str], ...]
"""gRPC metadata as grpclib takes it: ``(("authorization", "Bearer ..."),)``."""

_NAMED = {
    "\n": "a line break (\\n)",
    "\r": "a carriage return (\\r)",
    "\t": "a tab",
    "\x00": "a NUL character",
    "\x7f": "a DEL character",
}
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
_RESERVED = frozenset({"te", "content-type", "user-agent"})  # headers gRPC itself sends


def _key_allowed(key: str) -> bool:
    """Whether ``key`` can name a text metadata entry that gRPC does not send itself."""
    return bool(_METADATA_KEY.fullmatch(key)) and not (
        key.startswith("grpc-") or key.endswith("-bin") or key in _RESERVED
    )


def header_problem(value: str) -> str | None:
    """What keeps ``value`` from being sent as gRPC metadata (an HTTP/2 header), in words that never quote it;
    ``None`` when it can be sent.

    gRPC's text metadata is printable ASCII (``0x20``-``0x7E``), and HTTP/2 forbids a space at either end. The
    same rule is applied to API keys, which travel in a message but are printable ASCII too: a key or token read
    from a file with its final line break, say, is refused when it is given instead of at the first call.
    """
    if value.isascii() and value.isprintable() and value[:1] != " " and value[-1:] != " ":
        return None
    for index, char in enumerate(value):
        if " " < char < "\x7f" or (char == " " and 0 < index < len(value) - 1):
            continue
        if char in _NAMED:
            what = _NAMED[char]
        elif char == " ":
            what = "a space"
        elif "\ud800" <= char <= "\udfff":
            what = "a lone surrogate (text that is not valid Unicode)"
        elif char < " ":
            what = f"a control character (U+{ord(char):04X})"
        else:
            what = "a character outside ASCII"
        where = "at its end" if index == len(value) - 1 else "at its start" if index == 0 else f"at position {index}"
        return f"{what} {where}"
    return None  # pragma: no cover - the fast test above only fails on a character found here


def _checked(value: str, source: str) -> str:
    """``value`` if it can be sent; else a ConfigurationError naming ``source`` and the problem, never the value."""
    problem = header_problem(value)
    if problem is not None:
        raise ConfigurationError(
            f"{source} contains {problem}, which cannot be sent to the service; keys and tokens are printable "
            "ASCII (one read from a file may have kept its line break). The value is not shown"
        )
    return value


def observer_metadata(entries: Mapping[str, str]) -> Metadata:
    """The entries observers put in a call's metadata (``CallContext.metadata``) that can go with it.

    An entry that cannot be sent (a key gRPC or HTTP/2 refuses, a value with a line break), or that would stand
    beside the credentials (``authorization``), is left out and logged by key only: observers never break calls,
    and never choose what authenticates one.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in entries.items():
        if (
            isinstance(key, str)
            and isinstance(value, str)
            and key != "authorization"
            and _key_allowed(key)
            and header_problem(value) is None
        ):
            pairs.append((key, value))
        else:
            logger.debug("an observer's metadata entry %r cannot be sent with the call; it was left out", key)
    return tuple(pairs)


class Credentials:
    """What a transport authenticates with. Its ``repr`` names the kind only, never a value.

    Build it with :func:`resolve_credentials`. ``kind`` is ``"api-key"`` (an API key and its id, exchanged for
    a token by ``AuthService/Authenticate``), ``"access-token"`` (a token given directly) or ``"metadata"``
    (metadata taken over from another client, sent as it is).
    """

    __slots__ = ("__weakref__", "_api_key", "_api_key_id", "_metadata", "kind")

    def __init__(
        self,
        kind: str,
        *,
        api_key: str = "",
        api_key_id: str = "",
        metadata: Metadata = (),
    ) -> None:
        self.kind = kind
        self._api_key = api_key
        self._api_key_id = api_key_id
        self._metadata = metadata
        _redact.watch(self)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str] | Iterable[tuple[str, str]]) -> Credentials:
        """Credentials that send ``metadata`` (a mapping or pairs) unchanged on every call."""
        pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
        checked: list[tuple[str, str]] = []
        for pair in pairs:
            key, value = pair
            if not isinstance(key, str) or not isinstance(value, str):
                raise ConfigurationError(f"metadata keys and values must be strings; the key {key!r} is not")
            key = key.lower()
            if not _key_allowed(key):
                raise ConfigurationError(
                    f"metadata key {key!r} cannot be sent: keys are 0-9 a-z _ . -, neither start with grpc- nor "
                    f"end with -bin, and are none of {', '.join(sorted(_RESERVED))}"
                )
            checked.append((key, _checked(value, f"the value of metadata {key!r}")))
        return cls("metadata", metadata=tuple(checked))

    def secrets(self) -> Iterable[str]:
        """Every secret value held, for log redaction."""
        yield from (self._api_key, self._api_key_id)
        for key, value in self._metadata:
            if key == "authorization":
                yield value
                yield value.partition(" ")[2]

    def __repr__(self) -> str:
        return f"<Credentials {self.kind}>"


def resolve_credentials(
    *,
    api_key: str | None = None,
    api_key_id: str | None = None,
    access_token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Choose the credentials from the arguments, else from ``VIAM_API_KEY`` / ``VIAM_API_KEY_ID``.

    Raises :class:`~viam_billing.ConfigurationError` when they are missing or contradict each other, or when one
    holds what cannot be sent (see :func:`header_problem`: a line break, a control or non-ASCII character); the
    message names the arguments or environment variables involved and never prints a value.
    """
    for name, value in (("api_key", api_key), ("api_key_id", api_key_id), ("access_token", access_token)):
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
    api_key, api_key_id, access_token = api_key or None, api_key_id or None, access_token or None
    if access_token is not None:
        if api_key is not None or api_key_id is not None:
            raise ConfigurationError("give either access_token or api_key with api_key_id, not both")
        token = _checked(access_token, "access_token")
        return Credentials("access-token", metadata=(("authorization", f"Bearer {token}"),))
    if api_key is not None or api_key_id is not None:
        if api_key is None:
            raise ConfigurationError("api_key_id was given without api_key; pass both")
        if api_key_id is None:
            raise ConfigurationError("api_key was given without api_key_id; pass both")
        return Credentials(
            "api-key", api_key=_checked(api_key, "api_key"), api_key_id=_checked(api_key_id, "api_key_id")
        )
    env = os.environ if environ is None else environ
    key, key_id = env.get(API_KEY_ENV, ""), env.get(API_KEY_ID_ENV, "")
    if key and key_id:
        return Credentials(
            "api-key",
            api_key=_checked(key, f"the environment variable {API_KEY_ENV}"),
            api_key_id=_checked(key_id, f"the environment variable {API_KEY_ID_ENV}"),
        )
    missing = " and ".join(name for name, value in ((API_KEY_ENV, key), (API_KEY_ID_ENV, key_id)) if not value)
    raise ConfigurationError(
        "no credentials: pass api_key= and api_key_id= (or access_token=), or set the environment variables "
        f"{API_KEY_ENV} and {API_KEY_ID_ENV} (not set: {missing})"
    )


class Authenticator:
    """Hands out the metadata of billing calls, authenticating once for all concurrent callers.

    Lives on the event loop that makes the calls. ``handshake(api_key_id, api_key)`` performs
    ``AuthService/Authenticate`` and returns the access token.
    """

    def __init__(self, credentials: Credentials, handshake: Callable[[str, str], Awaitable[str]]) -> None:
        self._credentials = credentials
        self._handshake = handshake
        self._tokens: list[str] = []
        self.can_refresh = credentials.kind == "api-key"
        self.metadata: Metadata | None = None if self.can_refresh else credentials._metadata
        """The metadata to send now, or ``None`` while a handshake is due."""
        self.accepted: Metadata | None = None
        """The metadata of the last call the service accepted."""
        self._task: asyncio.Task[Metadata] | None = None
        _redact.watch(self)

    def secrets(self) -> Iterable[str]:
        """Every access token the handshakes obtained, the expired ones too (they may still be in logs)."""
        # A copy: the transport's secrets() reads from other threads while handshakes append on the loop.
        yield from tuple(self._tokens)

    async def ensure(self, deadline: float | None) -> Metadata:
        """Return the metadata to send, authenticating first if needed, within ``deadline`` (monotonic).

        Concurrent callers share one handshake. A caller's deadline or cancellation ends its own wait, not the
        handshake the others wait for. Raises ``TimeoutError`` when the deadline passes first, and what the
        handshake raised when it failed (the next call then tries again).
        """
        metadata = self.metadata
        if metadata is not None:
            return metadata
        task = self._task
        if task is None:
            task = self._task = asyncio.get_running_loop().create_task(self._authenticate())
        remaining = None if deadline is None else deadline - time.monotonic()
        return await asyncio.wait_for(asyncio.shield(task), remaining)

    async def _authenticate(self) -> Metadata:
        try:
            logger.debug("authenticating with an API key")
            token = await self._handshake(self._credentials._api_key_id, self._credentials._api_key)
            self._tokens.append(token)
            metadata: Metadata = (("authorization", f"Bearer {token}"),)
            self.metadata = metadata
            return metadata
        finally:
            self._task = None

    def retry_after_refusal(self, metadata: Metadata) -> bool:
        """A call sent with ``metadata`` was refused as UNAUTHENTICATED: return whether to try it once more.

        Only a token that worked before (it expired since) is renewed; a fresh token the service refuses
        would be refused again. Only one handshake follows however many calls fail together.
        """
        if not self.can_refresh:
            return False
        if metadata is not self.metadata:
            return True  # another call has already renewed the token
        if self.accepted is not metadata:
            return False
        logger.debug("the access token was refused after being accepted; authenticating again")
        self.metadata = None
        return True

    async def aclose(self) -> None:
        """Cancel a handshake in progress and wait for it to end."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved, so that asyncio does not report it as lost
