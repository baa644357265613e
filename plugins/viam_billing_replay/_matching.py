"""Field redaction, request matching keys, and the "nearest candidates" of an unmatched request."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, Union

import attrs
import viam_billing
from viam_billing import ConfigurationError, Model

__all__ = ["DEFAULT_REDACTIONS", "REDACTED", "Matcher", "Redactor", "RequestKeys", "describe_differences"]

ModelT = TypeVar("ModelT", bound=Model)

REDACTED = "REDACTED"
"""What a redacted text field holds in a cassette, unless another placeholder was given."""

DEFAULT_REDACTIONS: tuple[str, ...] = (
    "billing_email",
    "last_four_digits",
    "last_four_digits_account_number",
    "routing_number",
    "hosted_verification_page_url",
)
"""Fields redacted unless told otherwise: the billing e-mail, card and bank digits, the bank verification link."""

Matcher = Callable[[Model], Hashable]
"""A custom matcher: maps a request (already redacted) to a key; requests of one operation match when their keys
are equal."""

_USE_DEFAULT: Any = object()


def _model_type(hint: Any) -> tuple[str, type[Model]] | None:
    """``("one", cls)`` for a (possibly optional) model field, ``("many", cls)`` for a tuple of models."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _model_type(inner[0]) if len(inner) == 1 else None
    if origin is tuple:
        args = typing.get_args(hint)
        if args and isinstance(args[0], type) and issubclass(args[0], Model):
            return ("many", args[0])
        return None
    if isinstance(hint, type) and issubclass(hint, Model):
        return ("one", hint)
    return None


class Redactor:
    """Replaces chosen fields, at any depth of a model, with placeholders.

    ``fields`` is a sequence of field names (each replaced by :data:`REDACTED` for text, the zero value of its
    type otherwise, and left alone when absent) or a mapping of field name to the placeholder to use.
    """

    def __init__(self, fields: Iterable[str] | Mapping[str, object]) -> None:
        if isinstance(fields, str):
            raise ConfigurationError(f"redact must be a list of field names, not the string {fields!r}")
        if isinstance(fields, Mapping):
            self._fields: dict[str, object] = {str(name): value for name, value in fields.items()}
        else:
            self._fields = dict.fromkeys(fields, _USE_DEFAULT)
        for name in self._fields:
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"redact: field names must be non-empty strings, got {name!r}")
        self._plans: dict[type[Model], tuple[tuple[str, str, type[Model] | None], ...]] = {}

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    def _plan(self, cls: type[Model]) -> tuple[tuple[str, str, type[Model] | None], ...]:
        plan = self._plans.get(cls)
        if plan is None:
            self._plans[cls] = ()  # a model that (indirectly) contains itself must not recurse forever
            steps: list[tuple[str, str, type[Model] | None]] = []
            for field in attrs.fields(cls):
                if field.name in self._fields:
                    steps.append((field.name, "replace", None))
                    continue
                nested = _model_type(field.type)  # the core resolves field types once
                if nested is not None and self._plan(nested[1]):
                    steps.append((field.name, nested[0], nested[1]))
            plan = self._plans[cls] = tuple(steps)
        return plan

    def touches(self, cls: type[Model]) -> bool:
        """Whether models of ``cls`` have anything to redact."""
        return bool(self._plan(cls))

    def __call__(self, model: ModelT) -> ModelT:
        """Return ``model`` with the chosen fields replaced (the same object when there is nothing to replace)."""
        plan = self._plan(type(model))
        if not plan:
            return model
        changes: dict[str, Any] = {}
        for name, action, _ in plan:
            value = getattr(model, name)
            if value is None:
                continue
            if action == "replace":
                changes[name] = self._placeholder(type(model), name, value)
            elif action == "one":
                changes[name] = self(value)
            else:
                changes[name] = tuple(self(item) for item in value)
        return attrs.evolve(model, **changes)  # type: ignore[misc]

    def _placeholder(self, cls: type[Model], name: str, value: object) -> object:
        chosen = self._fields[name]
        if chosen is _USE_DEFAULT:
            if isinstance(value, str):
                return REDACTED
            if isinstance(value, bytes):
                return REDACTED.encode()
            if isinstance(value, enum.Enum):
                return type(value)(0)
            return type(value)()
        if isinstance(value, float) and isinstance(chosen, int) and not isinstance(chosen, bool):
            return float(chosen)
        if type(chosen) is not type(value) and not (isinstance(value, enum.Enum) and isinstance(chosen, int)):
            raise ConfigurationError(
                f"redact: the placeholder for {cls.__name__}.{name} must be a {type(value).__name__}, "
                f"got {type(chosen).__name__} {chosen!r}"
            )
        return chosen


class RequestKeys:
    """Computes the key a request is matched by: operation plus the (redacted) request, minus ignored fields.

    ``ignore`` names request fields left out of matching: ``"description"`` for every operation that has it,
    ``"ChargeOrganization.description"`` for one operation. ``matcher`` replaces the field comparison entirely.
    Keys are hashable, so the cassette is indexed once and each call is a dictionary lookup.
    """

    def __init__(self, *, redactor: Redactor, ignore: Iterable[str] = (), matcher: Matcher | None = None) -> None:
        if isinstance(ignore, str):
            raise ConfigurationError(f"match_ignore must be a list of field names, not the string {ignore!r}")
        if matcher is not None and not callable(matcher):
            raise ConfigurationError(f"matcher must be callable, got {type(matcher).__name__}")
        self._redactor = redactor
        self._matcher = matcher
        self.ignore = tuple(ignore)
        self._ignored: dict[type[Model], frozenset[str]] = {}
        for spec in self.ignore:
            self._add_ignored(spec)
        self._plans: dict[type[Model], Callable[[Model], Hashable]] = {}

    def _add_ignored(self, spec: object) -> None:
        if not isinstance(spec, str) or not spec:
            raise ConfigurationError(f"match_ignore: expected field names, got {spec!r}")
        operation_name, _, field = spec.rpartition(".")
        if operation_name:
            if operation_name not in viam_billing.OPERATIONS:
                raise ConfigurationError(
                    f"match_ignore: {spec!r} names no operation; known: {', '.join(viam_billing.OPERATIONS)}"
                )
            types: list[type[Model]] = [viam_billing.OPERATIONS[operation_name].request_type]
        else:
            types = [op.request_type for op in viam_billing.OPERATIONS.values()]
        matched = [cls for cls in types if field in attrs.fields_dict(cls)]
        if not matched:
            raise ConfigurationError(f"match_ignore: no request has a field named {field!r} (from {spec!r})")
        for cls in matched:
            self._ignored[cls] = self._ignored.get(cls, frozenset()) | {field}

    def ignored(self, cls: type[Model]) -> frozenset[str]:
        return self._ignored.get(cls, frozenset())

    def _plan(self, cls: type[Model]) -> Callable[[Model], Hashable]:
        redact: Callable[[Model], Model] | None = self._redactor if self._redactor.touches(cls) else None
        matcher = self._matcher
        if matcher is not None:
            if redact is None:
                return matcher
            return lambda request: matcher(redact(request))
        ignored = self.ignored(cls)
        if ignored:
            kept = tuple(field.name for field in attrs.fields(cls) if field.name not in ignored)

            def without_ignored(request: Model) -> Hashable:
                if redact is not None:
                    request = redact(request)
                return tuple(getattr(request, name) for name in kept)

            return without_ignored
        if redact is not None:
            return redact
        # Frozen attrs models are hashable and compare by value: the request is its own key.
        return _identity

    def key(self, operation_name: str, request: Model) -> Hashable:
        """The matching key of ``request``; equal keys match."""
        plan = self._plans.get(type(request))
        if plan is None:
            plan = self._plans[type(request)] = self._plan(type(request))
        key = plan(request)
        try:
            hash(key)
        except TypeError:
            raise ConfigurationError(
                f"the matcher returned an unhashable {type(key).__name__} for {operation_name}; return a tuple, "
                "a string or another hashable value"
            ) from None
        return (operation_name, key)


def _identity(request: Model) -> Hashable:
    return request


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for name, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return flat if flat or not prefix else {prefix: data}
    return {prefix: data}


def describe_differences(recorded: Model, live: Model, *, skip: frozenset[str] = frozenset()) -> list[str]:
    """``field: recorded X, requested Y`` for each field in which two requests differ (``skip`` left out)."""
    old = _flatten(viam_billing.to_data(recorded))
    new = _flatten(viam_billing.to_data(live))
    differences = []
    for name in sorted(set(old) | set(new)):
        if name.split(".")[0] in skip:
            continue
        if old.get(name) != new.get(name):
            differences.append(f"{name}: recorded {_short(old.get(name))}, requested {_short(new.get(name))}")
    return differences


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def nearest(
    candidates: Sequence[tuple[int, Model, bool]], live: Model, *, skip: frozenset[str], limit: int = 3
) -> list[tuple[int, bool, list[str]]]:
    """The ``limit`` candidates ``(index, request, played)`` that differ from ``live`` in the fewest fields."""
    scored = []
    for index, request, played in candidates:
        differences = describe_differences(request, live, skip=skip)
        scored.append((len(differences), index, played, differences))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [(index, played, differences) for _, index, played, differences in scored[:limit]]
