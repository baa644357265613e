"""Conversion between :mod:`viam_billing` models and our protobuf messages.

Both directions are lossless for every message, with one documented exception: protobuf timestamps carry
nanoseconds and Python ``datetime`` microseconds, so sub-microsecond digits are dropped (truncated towards the
past, never rounded up into the next second; the service's times are whole seconds). Unknown enum numbers survive
as :class:`~viam_billing.OpenIntEnum` pseudo-members; unset message fields and absent proto3 ``optional`` fields
become ``None`` and back, while a present one keeps its presence even when it holds the zero value
(``billing_tier=""``). Doubles keep their exact bits: ``-0.0``, subnormals, infinities and NaN (with its payload)
come back as they went (protobuf's pure-Python backend, unlike upb, makes every NaN it parses the canonical one).
Datetimes are sent as the instant they denote: a naive one is taken as UTC, and decoded ones are always UTC.

What cannot be represented fails loudly and names the field: :class:`~viam_billing.ValidationError` when a model
holds a value protobuf cannot carry (a string with a lone surrogate, an enum number outside int32, an int outside
int64), :class:`~viam_billing.DecodeError` when a message holds a timestamp outside the years 1-9999 that
``datetime`` supports, or one whose ``nanos`` lie outside 0-999,999,999. Such nanos are refused, not normalised
into the seconds: ``google.protobuf.Timestamp`` defines them as that range only, so a sender that breaks it has a
bug, and carrying the overflow into the seconds would turn it into a plausible but wrong date (a negative value,
for one, would move the time backwards across a second). Passing a message of another type than the model's is a
``TypeError``.

This runs on every call, so each model class gets a plan once, on first use: a tuple with one step per field, in
the order of the core's model walker (:func:`viam_billing.plugin.model_fields`), each holding what converting the
field needs already looked up. Converting is one loop over those steps, in each direction, whether or not
something fails: a failure is caught where it happens and reported with the path of its field.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
from google.protobuf import message_factory
from viam_billing.plugin import DecodeError, Model, ModelField, ValidationError, model_fields

from ._generated import billing_pb

__all__ = ["from_message", "message_type", "model_type", "to_message"]

ModelT = TypeVar("ModelT", bound=Model)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_Timestamp: Any = message_factory.GetMessageClass(
    billing_pb.InvoiceSummary.DESCRIPTOR.fields_by_name["invoice_date"].message_type
)

# What protobuf and datetime raise for a value they cannot take.
_VALUE_ERRORS = (TypeError, ValueError, OverflowError)


def message_type(model_cls: type[Model]) -> Any:
    """Return the protobuf message class of a model class (the one with the same name).

    Raises ``TypeError`` for a class that is not a billing model.
    """
    message_cls = getattr(billing_pb, getattr(model_cls, "__name__", ""), None)
    if not (isinstance(model_cls, type) and issubclass(model_cls, Model) and hasattr(message_cls, "FromString")):
        raise TypeError(f"{model_cls!r} is not a billing model with a protobuf message")
    return message_cls


def model_type(message_cls: Any) -> type[Model]:
    """Return the model class of a protobuf message class (ours or the official SDK's).

    Raises ``TypeError`` for a message that is not one of ``viam.app.v1`` billing.
    """
    import viam_billing

    full_name = getattr(getattr(message_cls, "DESCRIPTOR", None), "full_name", repr(message_cls))
    package, _, name = full_name.rpartition(".")
    cls = getattr(viam_billing, name, None)
    if package != "viam.app.v1" or not (isinstance(cls, type) and issubclass(cls, Model)):
        raise TypeError(f"no viam_billing model for {full_name}")
    return cls


def to_message(model: Model) -> Any:
    """Return the protobuf message for ``model``.

    Raises :class:`~viam_billing.ValidationError` (``argument`` is the field's path, such as
    ``invoices[1].status``) when a value cannot be carried by protobuf, and ``TypeError`` for an object that is
    not a billing model.
    """
    cls = type(model)
    plan = _ENCODE_PLANS.get(cls) or _encode_plan(cls)
    try:
        return _encode(plan, model)
    except _FieldFailure as failure:
        raise ValidationError(
            f"cannot encode {cls.__name__}.{failure.path} as protobuf: {failure.cause}", argument=failure.path
        ) from failure.cause


def from_message(model_cls: type[ModelT], message: Any) -> ModelT:
    """Return the ``model_cls`` model for a protobuf ``message``.

    ``message`` may come from any descriptor pool (ours, or the official SDK's) as long as its type is the one of
    ``model_cls``; another type is a ``TypeError``. Raises :class:`~viam_billing.DecodeError`, whose ``path``
    names the field, for a timestamp that ``datetime`` cannot hold.
    """
    plan = _DECODE_PLANS.get(model_cls) or _decode_plan(model_cls)
    message_cls = plan[1]
    if type(message) is not message_cls:  # another pool's class of the same type is fine too
        expected = message_cls.DESCRIPTOR.full_name
        actual = getattr(getattr(message, "DESCRIPTOR", None), "full_name", None)
        if actual != expected:
            got = actual or type(message).__name__
            raise TypeError(f"from_message({model_cls.__name__}, ...) needs a {expected} message, got {got}")
    try:
        return typing.cast("ModelT", _decode(plan, message))
    except _FieldFailure as failure:
        raise DecodeError(
            f"cannot decode {model_cls.__name__} from protobuf: {failure.cause}", path=failure.path
        ) from failure.cause


class _FieldFailure(Exception):
    """A conversion failed at ``path``; the conversions of the enclosing messages extend the path on the way out."""

    def __init__(self, path: str, cause: Exception) -> None:
        super().__init__(path, cause)
        self.path = path
        self.cause = cause

    def within(self, name: str) -> _FieldFailure:
        if not self.path or self.path.startswith("["):
            return _FieldFailure(name + self.path, self.cause)
        return _FieldFailure(f"{name}.{self.path}", self.cause)


# --- plans ----------------------------------------------------------------------------------------------------

# How a field is converted, from the shape the core's model walker gives it. Each step holds one of these very
# objects, so ``is`` tells them apart: the cheapest test there is, made for every field on every call. The most
# common kinds come first, as the conversions test them in this order.
_PLAIN = 0  # a scalar, copied as it is
_ENUM = 1  # an enum number: its member, or a pseudo-member for a number the enum does not know
_MODEL = 2  # a nested message; None when absent
_LIST = 3  # repeated nested messages: a tuple of models
_TIME = 4  # a timestamp; None when absent
_OPTIONAL = 5  # a proto3 optional scalar; None when absent
_REPEATED = 6  # repeated scalars: a tuple

_new_instance = object.__new__

_Put = Callable[[Any, Any], None]
"""Stores a value in a slot of a new model instance: the slot descriptor's ``__set__``."""

_DecodePlan = tuple[type[Model], Any, tuple[tuple[str, _Put, int, Any], ...], bool]
"""The model class, the message class, per field its name, its slot's setter, its kind, and the enum's
``(value map, class)`` or the nested model's plan; and whether any field has presence (is ``None`` when absent)."""

_EncodePlan = tuple[Any, tuple[tuple[str, int, Any], ...]]
"""The message class, and per field: its name, its kind, and the nested model's plan."""

_DECODE_PLANS: dict[type[Model], _DecodePlan] = {}
_ENCODE_PLANS: dict[type[Model], _EncodePlan] = {}


def _kind(model_cls: type[Model], field: ModelField) -> int:
    """How ``field`` is converted. Raises ``TypeError`` for a shape that no billing message has, so that a new
    one is noticed here rather than converted wrongly."""
    kind, repeated, optional = field.kind, field.repeated, field.optional
    if kind == "model":
        return _LIST if repeated else _MODEL
    if kind == "time":
        if not repeated:
            return _TIME  # a message on the wire, so it has presence, declared optional or not
    elif kind == "enum":
        if not (repeated or optional):
            return _ENUM
    else:
        return _REPEATED if repeated else _OPTIONAL if optional else _PLAIN
    raise TypeError(f"the codec has no conversion for {model_cls.__name__}.{field.name} ({field}): teach it one")


def _slot_setters(model_cls: type[Model], fields: tuple[ModelField, ...]) -> dict[str, _Put]:
    """The slot setter of every field: decoding fills a new instance's slots directly.

    That is all the models' ``__init__`` does besides converting (they are frozen, slotted attrs classes), and
    the values the codec makes are already what their converters return (tuples, enum members). Skipping the
    keyword parsing and the converters is most of the cost of building a model. A class with validators or init
    hooks needs its ``__init__``: it is refused here, so that no instance is ever built without them.
    """
    checked = any(field.validator is not None for field in attrs.fields(model_cls)) or any(
        hasattr(model_cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")
    )
    slots = {field.name: model_cls.__dict__.get(field.name) for field in fields}
    if checked or not all(isinstance(slot, types.MemberDescriptorType) for slot in slots.values()):
        raise TypeError(f"the codec builds only slotted attrs models without validators or hooks, not {model_cls!r}")
    return {name: slot.__set__ for name, slot in slots.items()}  # type: ignore[union-attr]


def _decode_plan(model_cls: type[Model]) -> _DecodePlan:
    message_cls = message_type(model_cls)
    fields = model_fields(model_cls)
    setters = _slot_setters(model_cls, fields)
    steps = []
    for field in fields:
        kind = _kind(model_cls, field)
        extra: Any = None
        if kind is _ENUM:
            enum_cls = typing.cast("type[enum.IntEnum]", field.type)
            extra = (enum_cls._value2member_map_, enum_cls)
        elif kind is _MODEL or kind is _LIST:
            extra = _DECODE_PLANS.get(field.type) or _decode_plan(field.type)
        steps.append((field.name, setters[field.name], kind, extra))
    presence = any(kind in (_MODEL, _TIME, _OPTIONAL) for _, _, kind, _ in steps)
    plan = _DECODE_PLANS[model_cls] = (model_cls, message_cls, tuple(steps), presence)
    return plan


def _encode_plan(model_cls: type[Model]) -> _EncodePlan:
    message_cls = message_type(model_cls)
    steps = []
    for field in model_fields(model_cls):
        kind = _kind(model_cls, field)
        if kind is _REPEATED:
            kind = _PLAIN  # protobuf takes any iterable for a repeated scalar
        sub = None
        if kind is _MODEL or kind is _LIST:
            sub = _ENCODE_PLANS.get(field.type) or _encode_plan(field.type)
        steps.append((field.name, kind, sub))
    plan = _ENCODE_PLANS[model_cls] = (message_cls, tuple(steps))
    return plan


# --- decoding -------------------------------------------------------------------------------------------------

# Whole-second times seen lately, by their seconds: the same dates (invoice, due, month start) come back in
# every answer, and a dict lookup costs a fraction of building the datetime. Datetimes are immutable, so sharing
# one is safe. Bounded: emptied when full.
_WHOLE_SECONDS: dict[int, datetime] = {}
_WHOLE_SECONDS_MAX = 4096


def _from_timestamp(message: Any) -> datetime:
    seconds, nanos = message.seconds, message.nanos
    if nanos:
        if not 0 < nanos < 1_000_000_000:
            raise ValueError(f"the timestamp's nanos are {nanos}, outside 0 to 999,999,999")
        # Positional arguments: timedelta's keyword parsing doubled the cost of this, which runs for every date.
        return _EPOCH + timedelta(0, seconds, nanos // 1000)
    value = _WHOLE_SECONDS.get(seconds)
    if value is None:
        value = _EPOCH + timedelta(0, seconds)
        if len(_WHOLE_SECONDS) >= _WHOLE_SECONDS_MAX:
            _WHOLE_SECONDS.clear()
        _WHOLE_SECONDS[seconds] = value
    return value


def _decode(plan: _DecodePlan, message: Any) -> Model:
    """Build the model of ``message`` by ``plan``; raises :class:`_FieldFailure` naming the field that failed.

    Nested messages recurse with their own plans.
    """
    model_cls, _, steps, presence = plan
    model = _new_instance(model_cls)
    # Looked up once, and only when needed: finding a method on a protobuf message costs as much as reading a field.
    has: Any = message.HasField if presence else None
    name = ""
    try:
        for name, put, kind, extra in steps:
            if kind is _PLAIN:
                put(model, getattr(message, name))
            elif kind is _ENUM:
                number = getattr(message, name)
                members, enum_cls = extra
                try:
                    put(model, members[number])
                except KeyError:
                    put(model, enum_cls(number))
            elif kind is _MODEL:
                put(model, _decode(extra, getattr(message, name)) if has(name) else None)
            elif kind is _LIST:
                items: list[Model] = []
                try:
                    for item in getattr(message, name):
                        items.append(_decode(extra, item))  # noqa: PERF401 - len(items) is where it failed
                except _FieldFailure as failure:
                    raise failure.within(f"[{len(items)}]") from None
                put(model, tuple(items))
            elif kind is _TIME:
                put(model, _from_timestamp(getattr(message, name)) if has(name) else None)
            elif kind is _OPTIONAL:
                put(model, getattr(message, name) if has(name) else None)
            else:  # _REPEATED
                put(model, tuple(getattr(message, name)))
    except _FieldFailure as failure:
        raise failure.within(name) from None
    except _VALUE_ERRORS as exc:
        raise _FieldFailure(name, exc) from exc
    return model


# --- encoding -------------------------------------------------------------------------------------------------


def _to_timestamp(value: datetime) -> Any:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    return _Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def _encode(plan: _EncodePlan, model: Model) -> Any:
    """Build the message of ``model`` by ``plan``; raises :class:`_FieldFailure` naming the field that failed.

    A field holding ``None`` is left out, so that the message field stays absent.
    """
    message_cls, steps = plan
    values: dict[str, Any] = {}
    name = ""
    try:
        for name, kind, sub in steps:
            value = getattr(model, name)
            if kind is _PLAIN:
                values[name] = value
            elif kind is _ENUM:
                values[name] = int(value)
            elif kind is _LIST:
                items: list[Any] = []
                try:
                    for item in value:
                        items.append(_encode(sub, item))  # noqa: PERF401 - len(items) is where it failed
                except _FieldFailure as failure:
                    raise failure.within(f"[{len(items)}]") from None
                values[name] = items
            elif value is None:
                continue
            elif kind is _MODEL:
                values[name] = _encode(sub, value)
            elif kind is _TIME:
                values[name] = _to_timestamp(value)
            else:  # _OPTIONAL
                values[name] = value
    except _FieldFailure as failure:
        raise failure.within(name) from None
    except _VALUE_ERRORS as exc:
        raise _FieldFailure(name, exc) from exc
    try:
        return message_cls(**values)
    except _VALUE_ERRORS as exc:
        raise _FieldFailure(_culprit(message_cls, values), exc) from exc


def _culprit(message_cls: Any, values: dict[str, Any]) -> str:
    """The path of the value that made ``message_cls(**values)`` fail; only runs once something did."""
    for name, value in values.items():
        try:
            message_cls(**{name: value})
        except _VALUE_ERRORS:
            if isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    try:
                        message_cls(**{name: [item]})
                    except _VALUE_ERRORS:
                        return f"{name}[{index}]"
            return name
    return ""
