"""Models to and from plain JSON-ready data, the one format cassettes and JSON sinks share.

``bytes`` become base64 strings, datetimes ISO 8601 strings, enum members their names and unknown enum numbers
plain numbers; every field is written, in declaration order, so the output is stable and diff-friendly.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from ._enums import OpenIntEnum
from ._errors import DecodeError
from ._models import Model
from ._schema import ModelField, model_fields

__all__ = ["decode_time", "encode", "encode_time", "from_data", "to_data"]

ModelT = TypeVar("ModelT", bound=Model)


def to_data(model: Model) -> dict[str, Any]:
    """Return ``model`` as a dict of JSON-ready values."""
    return {name: encode(getattr(model, name)) for name, _ in _fields(type(model))}


def from_data(cls: type[ModelT], data: object, *, path: str = "") -> ModelT:
    """Build a ``cls`` model from what :func:`to_data` produced; :class:`DecodeError` says where it is wrong.

    Missing fields take their defaults; unknown fields are an error, so typos do not pass silently.
    """
    if not isinstance(data, dict):
        raise DecodeError(f"expected an object for {cls.__name__}, got {_kind(data)}", path=path)
    fields = dict(_fields(cls))
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise DecodeError(f"{cls.__name__} has no field {unknown[0]!r}", path=path)
    values = {name: fields[name](value, f"{path}.{name}" if path else name) for name, value in data.items()}
    return cls(**values)


def encode(value: Any) -> Any:
    """Return one field value as JSON-ready data."""
    if isinstance(value, Model):
        return to_data(value)
    if isinstance(value, enum.IntEnum):
        return value.name if value.name in type(value).__members__ else int(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return encode_time(value)
    if isinstance(value, tuple):
        return [encode(item) for item in value]
    return value


Decoder = Callable[[Any, str], Any]


_FIELDS: dict[type[Model], tuple[tuple[str, Decoder], ...]] = {}


def _fields(cls: type[Model]) -> tuple[tuple[str, Decoder], ...]:
    """Each field's name and decoder, worked out once per class."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple((field.name, _decoder(field)) for field in model_fields(cls))
    return fields


def _decoder(field: ModelField) -> Decoder:
    decode_one = _value_decoder(field)
    if field.repeated:

        def decode_tuple(value: Any, path: str) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise DecodeError(f"expected a list, got {_kind(value)}", path=path)
            return tuple(decode_one(item, f"{path}[{i}]") for i, item in enumerate(value))

        return decode_tuple
    if field.optional:
        return lambda value, path: None if value is None else decode_one(value, path)
    return decode_one


def _value_decoder(field: ModelField) -> Decoder:
    kind, cls = field.kind, field.type
    if kind == "model":
        return lambda value, path: from_data(cls, value, path=path)
    if kind == "enum":
        return _enum_decoder(cls)
    if kind == "time":
        return decode_time
    if kind == "bytes":
        return _decode_bytes
    if kind == "float":
        return _decode_float
    return _exact(cls)


def _kind(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _exact(expected: type) -> Decoder:
    def decode(value: Any, path: str) -> Any:
        # bool is an int in Python but not in the data: reject it where a number is expected, and vice versa.
        if type(value) is not expected:
            raise DecodeError(f"expected {expected.__name__}, got {_kind(value)}", path=path)
        return value

    return decode


def _decode_float(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DecodeError(f"expected a number, got {_kind(value)}", path=path)
    return float(value)


def _decode_bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise DecodeError(f"expected base64 text, got {_kind(value)}", path=path)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"not valid base64: {exc}", path=path) from None


def encode_time(value: datetime) -> str:
    """A time as ISO 8601 UTC text ending in ``Z`` (``2026-11-01T00:00:00Z``), the form of every stored time."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def decode_time(value: object, path: str = "") -> datetime:
    """Parse what :func:`encode_time` wrote (any ISO 8601 time with a timezone) into an aware UTC datetime.

    Raises :class:`DecodeError` at ``path`` for anything else.
    """
    if not isinstance(value, str):
        raise DecodeError(f"expected an ISO 8601 time, got {_kind(value)}", path=path)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DecodeError(f"not an ISO 8601 time: {value!r}", path=path) from None
    if parsed.tzinfo is None:
        raise DecodeError(f"time without a timezone: {value!r}", path=path)
    return parsed.astimezone(timezone.utc)


def _enum_decoder(cls: type[enum.IntEnum]) -> Decoder:
    def decode(value: Any, path: str) -> enum.IntEnum:
        if isinstance(value, str) and issubclass(cls, OpenIntEnum):
            try:
                return cls.from_name(value)  # type: ignore[no-any-return]
            except ValueError:
                raise DecodeError(f"{value!r} is not a {cls.__name__} name", path=path) from None
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise DecodeError(f"expected a {cls.__name__} name or number, got {_kind(value)}", path=path)

    return decode
