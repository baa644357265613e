"""``ReplayTransport``: answers calls from a cassette, and records them through another transport."""

from __future__ import annotations

import difflib
import enum
import inspect
import json
import os
import time
import warnings
from collections.abc import AsyncIterator, Hashable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import viam_billing
from viam_billing.plugin import (
    AsyncTransport,
    BillingError,
    ConfigurationError,
    Model,
    Operation,
    current_call,
    to_data,
)

from ._cassette import Cassette, Interaction, Outcome, RecordedError
from ._errors import CassetteError, StaleCassetteError, UnmatchedRequestError, UnplayedInteractionsWarning
from ._matching import DEFAULT_REDACTIONS, Matcher, Redactor, RequestKeys, nearest

if TYPE_CHECKING:
    from viam_billing import PluginRegistry

__all__ = ["RecordMode", "ReplayTransport"]

ResponseT = TypeVar("ResponseT", bound=Model)

OnUnplayed = Literal["ignore", "warn", "error"]

_CANCEL_MARGIN = 0.25


class RecordMode(str, enum.Enum):
    """When a :class:`ReplayTransport` may call through to the real transport and record.

    ``none``
        Replay only. The cassette must exist; a request it cannot answer raises
        :class:`UnmatchedRequestError`. Nothing is ever written. The default, and the one for CI.
    ``once``
        If the cassette file exists, exactly like ``none``. If it does not, every call goes through and is
        recorded, and the cassette is written on close.
    ``new_episodes``
        Requests the cassette can answer are replayed; the others go through and are recorded, and on close the
        cassette is rewritten with the old interactions followed by the new ones.
    ``all``
        Nothing is replayed: every call goes through, and on close the cassette is replaced by exactly the
        interactions of this session. The way to refresh a cassette.

    A cassette is only written when at least one interaction was recorded.
    """

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"


class _Queue:
    """The interactions recorded for one matching key, played in recorded order."""

    __slots__ = ("indexes", "position")

    def __init__(self) -> None:
        self.indexes: list[int] = []
        self.position = 0


class ReplayTransport(AsyncTransport):
    """A transport that replays recorded interactions from a cassette, and records new ones through another.

    Usually built through :func:`viam_billing.connect`::

        async with viam_billing.connect(transport="replay", cassette="tests/cassettes/usage.json") as billing:
            usage = await billing.get_current_month_usage("org-1")   # from the cassette, offline

        # recording: the options replay does not take go to the transport it records through
        async with viam_billing.connect(
            transport="replay", cassette="usage.json", record_mode="once", **emulator.connect_options()
        ) as billing:
            ...

    It wraps any transport (the *inner* one) and knows none of its options. Options:

    ``cassette``
        Path of the JSON cassette file.
    ``record_mode``
        ``"none"`` (default), ``"once"``, ``"new_episodes"`` or ``"all"``; see :class:`RecordMode`.
    ``inner``
        The transport recorded through: a registered transport name (default
        :data:`viam_billing.DEFAULT_TRANSPORT`), built with ``inner_options`` by ``create_transport`` only when a
        call must go through (replaying needs neither its plugin nor its credentials); or a ready
        :class:`~viam_billing.AsyncTransport`, which this transport then owns and closes, and which takes no
        ``inner_options``.
    ``**inner_options``
        Every keyword not listed here: handed unchanged to the inner transport's factory, which checks them when
        it is built. One that looks like a misspelt replay option (``record_mod=``) is refused at once.
    ``match_ignore``
        Request fields left out of matching: ``"description"`` for every operation, or
        ``"ChargeOrganization.description"`` for one.
    ``matcher``
        A function from a (redacted) request model to a hashable key; requests of one operation match when
        their keys are equal. Replaces field-by-field matching.
    ``allow_playback_repeats``
        By default each recorded interaction plays once, in recorded order among requests that match. When
        true, the last matching interaction plays again once all of them have been played.
    ``redact``
        Field names whose values are replaced with placeholders before anything is recorded (at any depth of
        requests and responses); a mapping gives the placeholder per field. Defaults to
        :data:`DEFAULT_REDACTIONS` (billing e-mail, card and bank digits). Matching applies the same redaction
        to live requests, so redacted request fields still match. ``()`` turns redaction off.
    ``secrets``
        Values that must never be written to the cassette, besides those the inner transport reports: an
        iterable of strings, or a mapping of a description (``"support PIN"``) to the value.
    ``on_unplayed``
        What closing does when recorded interactions were never played: ``"ignore"`` (default), ``"warn"``
        (an :class:`UnplayedInteractionsWarning`) or ``"error"`` (:class:`StaleCassetteError`).
    ``registry``
        The :class:`~viam_billing.PluginRegistry` in which an ``inner`` name is looked up (default: the
        process-wide one). ``connect(registry=...)`` keeps its registry to itself (a transport factory is not told
        which registry called it), so with a registry of your own pass ``inner`` as a transport built from it,
        ``inner=registry.create_transport(name, ...)``, or build a ``ReplayTransport`` with ``registry=``.

    Replaying gives back the recorded models; a recorded error is raised again as the same
    :mod:`viam_billing` class with the same code and message; a stream yields its recorded messages one by one
    (then its recorded error, if it had one). A call whose caller cancelled it while recording (or left its stream
    early) stays pending on replay for a little longer than it took then, so that the same cancel scope cancels it
    again; if nothing does, :class:`CassetteError` says the code under test changed. Calls replay concurrently.
    Call observers see a replayed call as such (:attr:`viam_billing.plugin.CallContext.replayed`); a call
    recorded through the inner transport is reported by that one, as a live call.

    Secrets never reach the cassette: request metadata is not recorded at all, and before saving, the text is
    scanned for every value of ``secrets`` and every value the inner transport's
    :meth:`~viam_billing.AsyncTransport.secrets` returns then (the credentials it holds or obtained); if one is
    found nothing is written (:class:`CassetteSecretError`, naming the kind of secret, never its value).

    Raises :class:`CassetteError` when the cassette is needed and missing, :class:`CassetteFormatError` when it
    is malformed, :class:`~viam_billing.ConfigurationError` for bad options.
    """

    def __init__(
        self,
        *,
        cassette: str | os.PathLike[str],
        record_mode: RecordMode | str = RecordMode.NONE,
        inner: str | AsyncTransport | None = None,
        match_ignore: Iterable[str] = (),
        matcher: Matcher | None = None,
        allow_playback_repeats: bool = False,
        redact: Iterable[str] | Mapping[str, object] = DEFAULT_REDACTIONS,
        secrets: Iterable[str] | Mapping[str, str] = (),
        on_unplayed: OnUnplayed = "ignore",
        registry: PluginRegistry | None = None,
        **inner_options: Any,
    ) -> None:
        if not isinstance(cassette, (str, os.PathLike)) or not os.fspath(cassette):
            raise ConfigurationError(f"the replay transport needs cassette='path/to/cassette.json', got {cassette!r}")
        self.path = os.fspath(cassette)
        self.record_mode = _record_mode(record_mode)
        _check_inner_options(inner_options)
        if inner is None or isinstance(inner, str):
            if inner == "replay":
                raise ConfigurationError("the replay transport cannot record through another replay transport")
            if inner == "":
                raise ConfigurationError("inner must name a registered transport, got ''")
        elif not isinstance(inner, AsyncTransport):
            raise ConfigurationError(f"inner must be a transport name or an AsyncTransport, got {type(inner).__name__}")
        elif inner_options:
            raise ConfigurationError(
                f"inner is a ready {type(inner).__name__}, so the option(s) {', '.join(sorted(inner_options))} "
                "would go nowhere: give them to the inner transport when building it, or pass inner by name"
            )
        if on_unplayed not in ("ignore", "warn", "error"):
            raise ConfigurationError(f"on_unplayed must be 'ignore', 'warn' or 'error', got {on_unplayed!r}")
        self._inner_name = inner if isinstance(inner, str) else None  # None: the default transport, when needed
        self._inner: AsyncTransport | None = inner if isinstance(inner, AsyncTransport) else None
        self._inner_options = inner_options
        self._registry = registry
        self._redactor = Redactor(redact)
        self._keys = RequestKeys(redactor=self._redactor, ignore=match_ignore, matcher=matcher)
        self._repeats = bool(allow_playback_repeats)
        self._given_secrets = _given_secrets(secrets)
        self._on_unplayed: OnUnplayed = on_unplayed
        self._closed = False

        self._cassette = Cassette(path=self.path)
        self._loaded = 0
        self._played: list[bool] = []
        self._index: dict[Hashable, _Queue] = {}
        self._recorded: list[Interaction] = []
        mode = self.record_mode
        exists = os.path.exists(self.path)
        if mode is RecordMode.NONE and not exists:
            raise CassetteError(
                f"cassette {self.path!r} does not exist and record_mode is 'none'. Record it once against the "
                "emulator or the service with record_mode='once' (pytest: --billing-record-mode=once), then "
                "commit it.",
                cassette=self.path,
            )
        if mode is not RecordMode.ALL and exists:
            self._cassette = Cassette.load(self.path)
            self._build_index()
        self._replaying = mode is not RecordMode.ALL
        self._may_record = mode in (RecordMode.NEW_EPISODES, RecordMode.ALL) or (mode is RecordMode.ONCE and not exists)

    def __repr__(self) -> str:
        # Options are not shown: they may hold credentials.
        return f"<ReplayTransport cassette={self.path!r} record_mode={self.record_mode.value!r}>"

    def _build_index(self) -> None:
        interactions = self._cassette.interactions
        self._loaded = len(interactions)
        self._played = [False] * len(interactions)
        key = self._keys.key
        index = self._index
        for position, interaction in enumerate(interactions):
            queue_key = key(interaction.operation.name, interaction.request)
            queue = index.get(queue_key)
            if queue is None:
                queue = index[queue_key] = _Queue()
            queue.indexes.append(position)

    # -- what was played ---------------------------------------------------------------------------------------

    @property
    def interactions(self) -> list[Interaction]:
        """The interactions loaded from the cassette, then those recorded in this session."""
        return [*self._cassette.interactions, *self._recorded]

    @property
    def recorded(self) -> list[Interaction]:
        """The interactions recorded in this session, in the order their calls ended."""
        return list(self._recorded)

    def unplayed(self) -> list[tuple[int, Interaction]]:
        """``(index, interaction)`` of each interaction loaded from the cassette that was never played."""
        return [(i, self._cassette.interactions[i]) for i, played in enumerate(self._played) if not played]

    # -- the transport -----------------------------------------------------------------------------------------

    def _take(self, operation: Operation[Any, Any], request: Model) -> Interaction | None:
        """The recorded interaction that answers this call, marked played (and the call, for its observers,
        replayed); ``None`` when there is none left."""
        queue = self._index.get(self._keys.key(operation.name, request))
        if queue is None:
            return None
        if queue.position < len(queue.indexes):
            position = queue.indexes[queue.position]
            queue.position += 1
        elif self._repeats:
            position = queue.indexes[-1]
        else:
            return None
        self._played[position] = True
        call = current_call()
        if call is not None:
            call.replayed = True
        return self._cassette.interactions[position]

    async def unary(self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None) -> ResponseT:
        self._check_open(operation)
        if self._replaying:
            await anyio.lowlevel.checkpoint()
            interaction = self._take(operation, request)
            if interaction is not None:
                if interaction.outcome == "ok":
                    return interaction.responses[0]  # type: ignore[return-value]
                await self._end_of_recording(interaction, received=0)
            if not self._may_record:
                raise self._unmatched(operation, request)
        return await self._record_unary(operation, request, timeout)

    def stream(
        self, operation: Operation[Any, ResponseT], request: Model, *, timeout: float | None
    ) -> AbstractAsyncContextManager[AsyncIterator[ResponseT]]:
        self._check_open(operation)
        if self._replaying:
            interaction = self._take(operation, request)
            if interaction is not None:
                return self._replay_stream(interaction)
            if not self._may_record:
                raise self._unmatched(operation, request)
        return self._record_stream(operation, request, timeout)

    async def aclose(self) -> None:
        """Save what was recorded (when anything was), close the wrapped transport, check for unplayed ones.

        Saving is shielded from cancellation so that a recording is never lost to a cancelled teardown.
        Raises :class:`CassetteSecretError` (nothing written) when the cassette would contain a known secret,
        and :class:`StaleCassetteError` when ``on_unplayed="error"`` and interactions were never played.
        """
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            try:
                if self._recorded:
                    await anyio.to_thread.run_sync(self._save, self._secrets_to_refuse())
            finally:
                if self._inner is not None:
                    await self._inner.aclose()
        self._check_unplayed()

    # -- replaying ---------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _replay_stream(self, interaction: Interaction) -> AsyncIterator[AsyncIterator[Any]]:
        messages = self._replay_messages(interaction)
        try:
            yield messages
        finally:
            await messages.aclose()  # type: ignore[attr-defined]

    async def _replay_messages(self, interaction: Interaction) -> AsyncIterator[Model]:
        # One checkpoint per message, as a live stream has: cancellation and early exits land where they would.
        for message in interaction.responses:
            await anyio.lowlevel.checkpoint()
            yield message
        await anyio.lowlevel.checkpoint()
        if interaction.outcome != "ok":
            await self._end_of_recording(interaction, received=len(interaction.responses))

    async def _end_of_recording(self, interaction: Interaction, *, received: int) -> None:
        """Finish replaying an interaction that did not end well: raise its error, or stand for a cancelled call."""
        name = interaction.operation.name
        if interaction.error is not None:
            raise interaction.error.to_exception(name)
        # The recorded caller stopped waiting (cancelled, or left the stream) after ``duration``. A faithful
        # replay keeps the call pending for longer than that, with a margin for a slow machine, so that the same
        # cancel scope cancels it again; only code that no longer cancels reaches the error below.
        await anyio.sleep(interaction.duration * 2 + _CANCEL_MARGIN)
        raise CassetteError(
            f"{name} was cancelled by its caller after {interaction.duration:.3f} s and {received} message(s) when "
            f"cassette {self.path!r} was recorded, but nothing cancelled it on replay; the code under test no longer "
            "behaves as when it was recorded: re-record the cassette",
            cassette=self.path,
            operation=name,
        )

    def _unmatched(self, operation: Operation[Any, Any], request: Model) -> UnmatchedRequestError:
        redacted = self._redactor(request)
        try:
            shown = json.dumps(to_data(request), ensure_ascii=False)
        except (TypeError, ValueError):  # a request with a value JSON cannot show
            shown = repr(request)
        if len(shown) > 300:
            shown = shown[:297] + "..."
        lines = [
            f"cassette {self.path!r} has no recorded {operation.name} call left that matches the request {shown} "
            f"(record_mode={self.record_mode.value!r})."
        ]
        same = [
            (i, interaction.request, self._played[i])
            for i, interaction in enumerate(self._cassette.interactions)
            if interaction.operation.name == operation.name
        ]
        if same:
            skip = self._keys.ignored(type(request))
            lines.append("Nearest recorded candidates:")
            for index, played, differences in nearest(same, redacted, skip=skip):
                state = " (already played)" if played else ""
                if differences:
                    what = "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
                else:
                    what = "same request"
                lines.append(f"  interaction {index}{state}: {what}")
            if all(played for _, _, played in same) and any(
                not differences for _, _, differences in nearest(same, redacted, skip=skip, limit=len(same))
            ):
                lines.append(
                    "Every matching interaction was already played: the code makes this call more often than when "
                    "it was recorded (pass allow_playback_repeats=True to replay the last one again)."
                )
        else:
            counts: dict[str, int] = {}
            for interaction in self._cassette.interactions:
                counts[interaction.operation.name] = counts.get(interaction.operation.name, 0) + 1
            recorded = ", ".join(f"{name} x{count}" for name, count in counts.items()) or "nothing"
            lines.append(f"The cassette holds no {operation.name} call at all (it holds: {recorded}).")
        lines.append(
            "To record the missing call, run once with record_mode='new_episodes' (pytest: "
            "--billing-record-mode=new_episodes) against the emulator or the service, or re-record everything "
            "with record_mode='all'."
        )
        return UnmatchedRequestError("\n".join(lines), cassette=self.path, operation=operation.name, request=request)

    # -- recording ---------------------------------------------------------------------------------------------

    def _inner_transport(self) -> AsyncTransport:
        if self._inner is None:
            create = viam_billing.create_transport if self._registry is None else self._registry.create_transport
            self._inner = create(self._inner_name or viam_billing.DEFAULT_TRANSPORT, **self._inner_options)
        return self._inner

    def _record(
        self,
        operation: Operation[Any, Any],
        request: Model,
        responses: list[Model],
        outcome: Outcome,
        error: BillingError | None,
        start: float,
    ) -> None:
        redact = self._redactor
        self._recorded.append(
            Interaction(
                operation=operation,
                request=redact(request),
                responses=tuple(redact(response) for response in responses),
                outcome=outcome,
                error=RecordedError.from_exception(error) if error is not None else None,
                duration=time.perf_counter() - start,
            )
        )

    async def _record_unary(
        self, operation: Operation[Any, ResponseT], request: Model, timeout: float | None
    ) -> ResponseT:
        inner = self._inner_transport()
        start = time.perf_counter()
        try:
            response = await inner.unary(operation, request, timeout=timeout)
        except BillingError as exc:
            self._record(operation, request, [], "error", exc, start)
            raise
        except anyio.get_cancelled_exc_class():
            self._record(operation, request, [], "cancelled", None, start)
            raise
        self._record(operation, request, [response], "ok", None, start)
        return response

    @asynccontextmanager
    async def _record_stream(
        self, operation: Operation[Any, ResponseT], request: Model, timeout: float | None
    ) -> AsyncIterator[AsyncIterator[ResponseT]]:
        inner = self._inner_transport()
        start = time.perf_counter()
        received: list[Model] = []
        state: dict[str, Any] = {"finished": False, "error": None, "from_consumer": None}

        async def relay(messages: AsyncIterator[ResponseT]) -> AsyncIterator[ResponseT]:
            try:
                async for message in messages:
                    received.append(message)
                    yield message
            except BillingError as exc:
                state["error"] = exc
                raise
            state["finished"] = True

        outcome: Outcome = "cancelled"
        error: BillingError | None = None
        try:
            async with inner.stream(operation, request, timeout=timeout) as messages:
                iterator = relay(messages)
                try:
                    yield iterator
                except BaseException as exc:
                    # Raised in the caller's block: the stream's own error (already noted by relay) or the
                    # caller's, which says nothing about how the stream would have ended.
                    if exc is not state["error"]:
                        state["from_consumer"] = exc
                    raise
                finally:
                    await iterator.aclose()  # type: ignore[attr-defined]
        except BillingError as exc:
            if exc is state["error"] or exc is not state["from_consumer"]:
                outcome, error = "error", exc
            raise
        finally:
            if error is None and state["finished"]:
                outcome = "ok"
            self._record(operation, request, received, outcome, error, start)

    def _save(self, secrets: list[tuple[str, str]]) -> None:
        __tracebackhide__ = True  # pytest: the secrets argument must not be printed with a CassetteSecretError
        if self.record_mode is RecordMode.ALL:
            interactions = list(self._recorded)
        else:
            interactions = [*self._cassette.interactions, *self._recorded]
        Cassette(path=self.path, interactions=interactions).save(secrets=secrets)

    def _secrets_to_refuse(self) -> list[tuple[str, str]]:
        """``(kind, value)`` of every secret this transport knows now: those given, then the inner transport's."""
        known = list(self._given_secrets)
        if self._inner is not None:
            # Asked at save time: a transport may obtain secrets while it works (a session token, say).
            kind = f"secret held by the inner {type(self._inner).__name__} (from its secrets())"
            known.extend((kind, value) for value in self._inner.secrets())
        return [(kind, value) for kind, value in known if isinstance(value, str) and value]

    def secrets(self) -> Iterator[str]:
        """The values given in ``secrets``, and those the inner transport holds (once it has been built)."""
        for _, value in self._secrets_to_refuse():
            yield value

    # -- checks ------------------------------------------------------------------------------------------------

    def _check_open(self, operation: Operation[Any, Any]) -> None:
        if self._closed:
            raise BillingError(
                f"the replay transport of cassette {self.path!r} is closed; make a new client",
                operation=operation.name,
            )

    def _check_unplayed(self) -> None:
        if self._on_unplayed == "ignore":
            return
        unplayed = [(i, interaction.operation.name) for i, interaction in self.unplayed()]
        if not unplayed:
            return
        listing = ", ".join(f"{i} ({name})" for i, name in unplayed[:10]) + (", ..." if len(unplayed) > 10 else "")
        message = (
            f"cassette {self.path!r}: {len(unplayed)} of {self._loaded} recorded interaction(s) were never played: "
            f"{listing}. The code no longer makes these calls: re-record the cassette with record_mode='all'."
        )
        if self._on_unplayed == "error":
            raise StaleCassetteError(message, cassette=self.path, unplayed=unplayed)
        warnings.warn(message, UnplayedInteractionsWarning, stacklevel=3)


def _record_mode(value: object) -> RecordMode:
    try:
        return RecordMode(value)
    except ValueError:
        choices = ", ".join(repr(mode.value) for mode in RecordMode)
        raise ConfigurationError(f"record_mode must be one of {choices}, got {value!r}") from None


def _given_secrets(secrets: Iterable[str] | Mapping[str, str]) -> list[tuple[str, str]]:
    if isinstance(secrets, (str, bytes)):
        raise ConfigurationError(
            "secrets must be a list of strings or a mapping of description to value, not one string"
        )
    if isinstance(secrets, Mapping):
        pairs = [(f"{kind} (secrets option)", value) for kind, value in secrets.items()]
    else:
        pairs = [("value given in the secrets option", value) for value in secrets]
    for _, value in pairs:
        if not isinstance(value, str):
            raise ConfigurationError(f"secrets: each value must be a string, got {type(value).__name__}")
    return pairs


def _check_inner_options(options: Mapping[str, Any]) -> None:
    """Refuse an option that is not the replay transport's but looks like a misspelling of one of them.

    Every other unknown option belongs to the inner transport, which only sees (and checks) them when it is built:
    in replay-only mode never, so a typo in a replay option would otherwise go unnoticed.
    """
    for name in options:
        close = difflib.get_close_matches(name, _OWN_OPTIONS, n=1, cutoff=0.83)
        if close:
            raise ConfigurationError(
                f"the replay transport has no option {name!r}; did you mean {close[0]!r}? (Options it does not "
                "know go to the inner transport; to give that one an option of this name, pass inner= a transport "
                "built with it.)"
            )


_OWN_OPTIONS = tuple(
    name
    for name, parameter in inspect.signature(ReplayTransport.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)
