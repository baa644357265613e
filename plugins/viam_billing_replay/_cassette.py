"""Cassettes: recorded interactions, and the JSON file that holds them.

A cassette is model-level and transport-agnostic: it records the operation, the request model, every response
message and the outcome of each call, serialized with :mod:`viam_billing`'s own ``to_data``/``from_data`` (the
format the JSON sinks use too). The file looks like this::

    {
      "format": "viam-billing-cassette",
      "version": 1,
      "library_version": "0.1.0",
      "recorded_at": "2026-11-26T10:00:00Z",
      "interactions": [
        {
          "operation": "GetInvoicesSummary",
          "request": {"org_id": "..."},
          "outcome": "ok",
          "duration": 0.012,
          "responses": [{"outstanding_balance": 0.0, "invoices": [...]}]
        },
        {
          "operation": "GetInvoicePdf",
          "request": {...},
          "outcome": "error",
          "duration": 0.004,
          "error": {"type": "NotFoundError", "code": "NOT_FOUND", "message": "no such invoice"},
          "responses": []
        }
      ]
    }

``outcome`` is ``"ok"`` (one response for a unary call, each chunk in order for a stream), ``"error"`` (the
responses received before it, then ``error``) or ``"cancelled"`` (the caller cancelled the call or left the
stream before it ended; the responses it had received). Keys keep a fixed order, ``bytes`` are base64, times
ISO 8601 UTC, enums their names (unknown enum numbers stay numbers), so diffs of re-recorded cassettes are small.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Literal

import attrs
import viam_billing
from viam_billing.plugin import (
    OPERATIONS,
    BillingError,
    DecodeError,
    Model,
    Operation,
    StatusCode,
    StatusError,
    atomic_write,
    decode_time,
    encode_time,
    from_data,
    model_fields,
    status_error,
    to_data,
)

from ._errors import CassetteError, CassetteFormatError, CassetteSecretError

__all__ = ["FORMAT", "FORMAT_VERSION", "Cassette", "Interaction", "Outcome", "RecordedError"]

FORMAT = "viam-billing-cassette"
"""The value of a cassette's ``format`` key."""

FORMAT_VERSION = 1
"""The cassette format version this release reads and writes."""

Outcome = Literal["ok", "error", "cancelled"]
_OUTCOMES: frozenset[str] = frozenset(("ok", "error", "cancelled"))

# Errors whose constructor takes more than ``(message, *, operation)``; a transport does not raise them, and one
# that does is recorded as the nearest ancestor that can be rebuilt.
_NOT_REBUILDABLE = frozenset(("ValidationError", "DecodeError", "SinkError"))


@lru_cache(maxsize=1)
def _error_classes() -> dict[str, type[BillingError]]:
    """The public error classes of viam_billing that a replay can raise again, by name."""
    classes: dict[str, type[BillingError]] = {}
    for name in viam_billing.__all__:
        # Through getattr: viam_billing loads some of its names on first use. Only CapWords names can be classes;
        # the others (functions, constants, the submodules sync and testing) are not looked up, so not imported.
        if not name[:1].isupper() or name.isupper():
            continue
        obj = getattr(viam_billing, name)
        if isinstance(obj, type) and issubclass(obj, BillingError) and name not in _NOT_REBUILDABLE:
            classes[name] = obj
    return classes


def _json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(dict(details), allow_nan=False)))
    except (TypeError, ValueError):
        return {str(key): str(value) for key, value in details.items()}


@attrs.frozen(kw_only=True)
class RecordedError:
    """A failure as recorded: the error class name, the status code (for status errors) and the message.

    :meth:`to_exception` builds the same :mod:`viam_billing` error class again, with the same code and message.
    """

    type: str
    message: str
    code: StatusCode | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)

    @classmethod
    def from_exception(cls, exc: BillingError) -> RecordedError:
        """Describe ``exc`` by the nearest public :mod:`viam_billing` class in its ancestry."""
        known = _error_classes()
        name = next(
            (klass.__name__ for klass in type(exc).__mro__ if known.get(klass.__name__) is klass), "BillingError"
        )
        if isinstance(exc, StatusError):
            return cls(type=name, message=exc.message, code=exc.code, details=_json_safe(exc.details))
        return cls(type=name, message=exc.message)

    def to_exception(self, operation: str) -> BillingError:
        """Build the recorded error again, as raised by a live call of ``operation``."""
        klass = _error_classes()[self.type]
        if self.code is not None and issubclass(klass, StatusError):
            error = status_error(self.code, self.message, operation=operation, details=self.details)
            if type(error) is klass:
                return error
            return klass(self.message, operation=operation, code=self.code, details=self.details)
        return klass(self.message, operation=operation)


@attrs.frozen(kw_only=True)
class Interaction:
    """One recorded call: the operation, the request, the responses in order, the outcome and its duration.

    ``responses`` holds one message for a successful unary call and every chunk, in order, for a stream; for
    an ``"error"`` or ``"cancelled"`` outcome it holds what arrived before. ``duration`` is in seconds.
    """

    operation: Operation[Any, Any]
    request: Model
    responses: tuple[Model, ...] = ()
    outcome: Outcome = "ok"
    error: RecordedError | None = None
    duration: float = 0.0

    def to_data(self) -> dict[str, Any]:
        """The interaction as JSON-ready data, keys in the cassette's order."""
        data: dict[str, Any] = {
            "operation": self.operation.name,
            "request": to_data(self.request),
            "outcome": self.outcome,
            "duration": round(self.duration, 3),
        }
        if self.error is not None:
            error: dict[str, Any] = {"type": self.error.type}
            if self.error.code is not None:
                error["code"] = self.error.code.name if self.error.code.is_known() else int(self.error.code)
            error["message"] = self.error.message
            if self.error.details:
                error["details"] = dict(self.error.details)
            data["error"] = error
        data["responses"] = [to_data(response) for response in self.responses]
        return data


@attrs.define(kw_only=True)
class Cassette:
    """The interactions of one cassette file, with when and by which library version it was recorded.

    Example::

        cassette = Cassette.load("tests/cassettes/test_billing/test_report.json")
        for interaction in cassette.interactions:
            print(interaction.operation.name, interaction.outcome)
    """

    path: str
    interactions: list[Interaction] = attrs.field(factory=list)
    recorded_at: datetime | None = None
    library_version: str | None = None

    # -- reading -----------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read and check a cassette file.

        Raises :class:`CassetteFormatError` (with the path and the location of the problem) when the file is not
        a valid cassette, and :class:`CassetteError` when it cannot be read at all (missing, unreadable).
        """
        path = os.fspath(path)
        try:
            with open(path, "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            raise CassetteError(f"cassette {path!r} does not exist", cassette=path) from None
        except OSError as exc:
            raise CassetteError(f"cassette {path!r} could not be read: {exc.strerror or exc}", cassette=path) from None
        return cls.loads(raw, path=path)

    @classmethod
    def loads(cls, raw: bytes | str, *, path: str) -> Cassette:
        """Parse cassette text; ``path`` is only used in error messages. See :meth:`load`."""
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise CassetteFormatError(
                "the file is not UTF-8 text", cassette=path, location=f"byte {exc.start}"
            ) from None
        try:
            document = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise CassetteFormatError(
                f"broken JSON: {exc.msg}", cassette=path, location=f"line {exc.lineno}, column {exc.colno}"
            ) from None
        except ValueError as exc:  # NaN / Infinity, which JSON does not have
            raise CassetteFormatError(str(exc), cassette=path, location="") from None
        except RecursionError:
            raise CassetteFormatError("the JSON is nested too deeply", cassette=path, location="") from None
        return cls._from_document(document, path)

    @classmethod
    def _from_document(cls, document: object, path: str) -> Cassette:
        def bad(message: str, location: str) -> CassetteFormatError:
            return CassetteFormatError(message, cassette=path, location=location)

        if not isinstance(document, dict):
            raise bad(f"expected a JSON object at the top, got {_kind(document)}", "")
        if document.get("format") != FORMAT:
            raise bad(f"'format' must be {FORMAT!r}; this is not a viam-billing cassette", "format")
        version = document.get("version")
        if type(version) is not int:
            raise bad(f"'version' must be an integer, got {_kind(version)}", "version")
        if version != FORMAT_VERSION:
            raise bad(
                f"format version {version} is not supported (this viam-billing reads version {FORMAT_VERSION}); "
                "upgrade viam-billing or re-record the cassette",
                "version",
            )
        unknown = sorted(set(document) - {"format", "version", "library_version", "recorded_at", "interactions"})
        if unknown:
            raise bad(f"unknown key {unknown[0]!r}", unknown[0])
        library_version = document.get("library_version")
        if library_version is not None and not isinstance(library_version, str):
            raise bad(f"expected a string, got {_kind(library_version)}", "library_version")
        recorded_at = document.get("recorded_at")
        when: datetime | None = None
        if recorded_at is not None:
            when = _parse_time(recorded_at)
            if when is None:
                raise bad(f"expected an ISO 8601 time with a timezone, got {_kind(recorded_at)}", "recorded_at")
        items = document.get("interactions")
        if not isinstance(items, list):
            raise bad(f"'interactions' must be a list, got {_kind(items)}", "interactions")
        interactions = []
        for index, item in enumerate(items):
            location = f"interactions[{index}]"
            try:
                interactions.append(_interaction_from_data(item, location))
            except DecodeError as exc:
                raise bad(_reason(exc), exc.path) from None
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
                # A last line of defence: whatever the models' constructors reject is still a format problem.
                raise bad(f"{type(exc).__name__}: {exc}", location) from None
        return cls(path=path, interactions=interactions, recorded_at=when, library_version=library_version)

    # -- writing -----------------------------------------------------------------------------------------------

    def dumps(self) -> str:
        """The cassette as JSON text: two-space indentation, one block per interaction, a final newline."""
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "library_version": self.library_version or viam_billing.__version__,
            "recorded_at": _format_time(self.recorded_at or datetime.now(timezone.utc)),
            "interactions": [interaction.to_data() for interaction in self.interactions],
        }
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def save(self, *, secrets: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """Write the cassette to :attr:`path` atomically, stamped with the current time and library version.

        The text is first scanned for each value of ``secrets`` (``{kind: value}`` or ``(kind, value)`` pairs, for
        example ``{"access token": token}``), in plain and JSON-escaped form and inside decoded ``bytes``
        fields. If one is found nothing is written and :class:`CassetteSecretError` names its kind, never its
        value. Missing directories are created. The file is replaced in one step (temporary file beside it, then
        rename), so a crash leaves either the old cassette or the new one, and no temporary file.
        """
        __tracebackhide__ = True  # pytest: this frame's arguments hold the secrets; never print them
        self.recorded_at = datetime.now(timezone.utc)
        self.library_version = viam_billing.__version__
        text = self.dumps()
        pairs = list(secrets.items()) if isinstance(secrets, Mapping) else list(secrets)
        if pairs:
            self._refuse_secrets(text, pairs)
        try:
            _write_atomically(self.path, text)
        except OSError as exc:
            raise CassetteError(
                f"cassette {self.path!r} could not be written ({exc.strerror or exc}); the previous file, if any, "
                "is unchanged",
                cassette=self.path,
            ) from None

    def _refuse_secrets(self, text: str, secrets: list[tuple[str, str]]) -> None:
        __tracebackhide__ = True  # see save()
        for kind, secret in secrets:
            if not secret:
                continue
            forms = {secret, json.dumps(secret, ensure_ascii=False)[1:-1]}
            needle = secret.encode("utf-8")
            in_text = any(form in text for form in forms)
            if not in_text and not any(needle in blob for blob in self._binary_blobs()):
                continue
            where = "in the cassette's header"
            for index, interaction in enumerate(self.interactions):
                block = json.dumps(interaction.to_data(), ensure_ascii=False)
                if any(form in block for form in forms) or any(needle in b for b in _blobs(interaction)):
                    where = f"in interaction {index} ({interaction.operation.name})"
                    break
            raise CassetteSecretError(
                f"refusing to write cassette {self.path!r}: it would contain the {kind} {where}. Nothing was "
                "written. Redact the field that carries it (redact=[...]) or keep the secret out of what is "
                "recorded.",
                cassette=self.path,
                kind=kind,
            )

    def _binary_blobs(self) -> Iterable[bytes]:
        for interaction in self.interactions:
            yield from _blobs(interaction)


def _blobs(interaction: Interaction) -> list[bytes]:
    """The bytes fields of the responses, joined per interaction so that a secret split across chunks is seen."""
    parts = [value for response in interaction.responses for value in _bytes_of(response)]
    return [b"".join(parts)] if parts else []


def _bytes_of(model: Model) -> list[bytes]:
    found: list[bytes] = []
    for field in model_fields(type(model)):
        if field.kind not in ("bytes", "model"):
            continue
        value = getattr(model, field.name)
        values = value if field.repeated else () if value is None else (value,)
        if field.kind == "bytes":
            found.extend(values)
        else:
            for item in values:
                found.extend(_bytes_of(item))
    return found


# -- reading helpers ---------------------------------------------------------------------------------------------

_INTERACTION_KEYS = frozenset(("operation", "request", "outcome", "duration", "error", "responses"))


def _interaction_from_data(item: object, location: str) -> Interaction:
    if not isinstance(item, dict):
        raise DecodeError(f"expected an object, got {_kind(item)}", path=location)
    unknown = sorted(set(item) - _INTERACTION_KEYS)
    if unknown:
        raise DecodeError(f"unknown key {unknown[0]!r}", path=f"{location}.{unknown[0]}")
    name = item.get("operation")
    if not isinstance(name, str) or name not in OPERATIONS:
        raise DecodeError(
            f"unknown operation {_kind(name)}; known: {', '.join(OPERATIONS)}",
            path=f"{location}.operation",
        )
    operation = OPERATIONS[name]
    if "request" not in item:
        raise DecodeError("missing 'request'", path=location)
    request = from_data(operation.request_type, item["request"], path=f"{location}.request")
    outcome = item.get("outcome")
    if outcome not in _OUTCOMES:
        raise DecodeError(
            f"'outcome' must be one of 'ok', 'error', 'cancelled', got {_kind(outcome)}", path=f"{location}.outcome"
        )
    duration = item.get("duration", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration < math.inf:
        raise DecodeError(
            f"'duration' must be a number of seconds >= 0, got {_kind(duration)}", path=f"{location}.duration"
        )
    raw_responses = item.get("responses", [])
    if not isinstance(raw_responses, list):
        raise DecodeError(f"expected a list, got {_kind(raw_responses)}", path=f"{location}.responses")
    responses = tuple(
        from_data(operation.response_type, data, path=f"{location}.responses[{i}]")
        for i, data in enumerate(raw_responses)
    )
    error = None
    if outcome == "error":
        if "error" not in item:
            raise DecodeError("an 'error' outcome needs an 'error' object", path=location)
        error = _error_from_data(item["error"], f"{location}.error")
    elif "error" in item:
        raise DecodeError(f"only an 'error' outcome has an 'error', this one is {outcome!r}", path=f"{location}.error")
    if outcome == "ok" and not operation.streaming and len(responses) != 1:
        raise DecodeError(
            f"a successful unary call has exactly one response, found {len(responses)}", path=f"{location}.responses"
        )
    if outcome != "ok" and not operation.streaming and responses:
        raise DecodeError("a failed or cancelled unary call has no response", path=f"{location}.responses")
    return Interaction(
        operation=operation,
        request=request,
        responses=responses,
        outcome=outcome,
        error=error,
        duration=round(float(duration), 3),  # as save() writes it, so that load -> save -> load is stable
    )


_ERROR_KEYS = frozenset(("type", "code", "message", "details"))


def _error_from_data(data: object, location: str) -> RecordedError:
    if not isinstance(data, dict):
        raise DecodeError(f"expected an object, got {_kind(data)}", path=location)
    unknown = sorted(set(data) - _ERROR_KEYS)
    if unknown:
        raise DecodeError(f"unknown key {unknown[0]!r}", path=f"{location}.{unknown[0]}")
    name = data.get("type")
    known = _error_classes()
    if not isinstance(name, str) or name not in known:
        raise DecodeError(
            f"{_kind(name)} is not a viam_billing error class that can be replayed", path=f"{location}.type"
        )
    message = data.get("message", "")
    if not isinstance(message, str):
        raise DecodeError(f"expected a string, got {_kind(message)}", path=f"{location}.message")
    raw_code = data.get("code")
    code: StatusCode | None = None
    if isinstance(raw_code, str):
        if raw_code not in StatusCode.__members__:
            raise DecodeError(f"{raw_code!r} is not a status code name", path=f"{location}.code")
        code = StatusCode[raw_code]
    elif isinstance(raw_code, int) and not isinstance(raw_code, bool):
        if not 0 <= raw_code < 2**31:
            raise DecodeError(f"status code {raw_code} is out of range", path=f"{location}.code")
        code = StatusCode(raw_code)
    elif raw_code is not None:
        raise DecodeError(f"expected a status code name or number, got {_kind(raw_code)}", path=f"{location}.code")
    is_status = issubclass(known[name], StatusError)
    if is_status and code is None:
        raise DecodeError(f"{name} is a status error and needs a 'code'", path=location)
    if not is_status and code is not None:
        raise DecodeError(f"{name} is not a status error and takes no 'code'", path=f"{location}.code")
    details = data.get("details", {})
    if not isinstance(details, dict):
        raise DecodeError(f"expected an object, got {_kind(details)}", path=f"{location}.details")
    return RecordedError(type=name, message=message, code=code, details=details)


def _reason(exc: DecodeError) -> str:
    """The message of a DecodeError without the path it starts with (the location is reported apart)."""
    prefix = f"{exc.path}: "
    return exc.message[len(prefix) :] if exc.path and exc.message.startswith(prefix) else exc.message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_time(value: object) -> datetime | None:
    try:
        return decode_time(value)
    except DecodeError:
        return None


def _format_time(value: datetime) -> str:
    # recorded_at is written to the whole second, as cassettes always have been.
    return encode_time(value.replace(microsecond=0))


def _kind(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:80]


# -- writing helpers ---------------------------------------------------------------------------------------------


def _write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # A lone surrogate can only sit inside a JSON string, where its backslash escape is valid JSON.
    atomic_write(path, text, encoding="utf-8", errors="backslashreplace", newline="\n")
