"""Checks of caller arguments, made before anything is sent; each error names the argument."""

from __future__ import annotations

import math

from ._errors import ValidationError

MAX_DESCRIPTION_LENGTH = 1000


def is_finite(value: int | float) -> bool:
    """Whether a number is finite as a float: an int too large for one (``10**400``) is not.

    ``math.isfinite`` raises ``OverflowError`` for such an int instead of answering.
    """
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def require_id(value: object, argument: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{argument} must be a non-empty string, got {value!r}", argument=argument)
    return value


def require_amount(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            f"{argument} must be a number of US dollars, got {type(value).__name__} {value!r}",
            argument=argument,
        )
    if not is_finite(value) or value < 0:
        raise ValidationError(f"{argument} must be finite and not negative, got {_short(value)}", argument=argument)
    return float(value)


def optional_description(value: object, argument: str = "description") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{argument} must be a string or None, got {type(value).__name__}", argument=argument)
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError(
            f"{argument} must be at most {MAX_DESCRIPTION_LENGTH} characters, got {len(value)}",
            argument=argument,
        )
    return value


def optional_id(value: object, argument: str) -> str | None:
    return None if value is None else require_id(value, argument)


def require_bool(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{argument} must be True or False, got {value!r}", argument=argument)
    return value


def require_timeout(value: object, argument: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not is_finite(value) or value <= 0:
        raise ValidationError(
            f"{argument} must be a positive number of seconds or None, got {_short(value)}", argument=argument
        )
    return float(value)


def _short(value: object) -> str:
    """How an error message shows a rejected value: its ``repr``, except for an int too long to be read (or,
    past 4300 digits, to be printed at all)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    return repr(value)
