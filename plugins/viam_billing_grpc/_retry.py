"""When and how often safe reads are retried."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TypeGuard

import attrs
from viam_billing import StatusCode, ValidationError

__all__ = ["RetryPolicy", "finite_number", "shown"]


def finite_number(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is an int or float (not a bool) that is finite as a float.

    ``math.isfinite`` raises ``OverflowError`` for an int too large for a float (``10**400``): that is no finite
    number of seconds either.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def shown(value: object) -> str:
    """How an error message shows a rejected value: its ``repr``, except for an int too long to be read (or,
    past 4300 digits, to be printed at all)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    return repr(value)


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name} must be an int >= 1, got {shown(value)}", argument=attribute.name)


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if not finite_number(value) or value < 0:
        raise ValidationError(
            f"{attribute.name} must be a finite number >= 0, got {shown(value)}", argument=attribute.name
        )


def _at_least_one(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if not finite_number(value) or value < 1:
        raise ValidationError(
            f"{attribute.name} must be a finite number >= 1, got {shown(value)}", argument=attribute.name
        )


def _status_codes(value: object) -> frozenset[StatusCode]:
    try:
        return frozenset(StatusCode(int(code)) for code in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(
            f"retry_on must be gRPC status codes (StatusCode members or ints 0-16), got {value!r}", argument="retry_on"
        ) from None


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the gRPC transport retries a call the operation table marks safe (the ``Get*`` reads).

    A safe call is retried when the service answers with a status in ``retry_on`` (UNAVAILABLE by default) or
    the connection is lost before any response arrived, up to ``max_attempts`` attempts in all. Before retry
    ``n`` (1, 2, ...) it sleeps a random time between 0 and ``min(max_backoff, initial_backoff * multiplier **
    (n - 1))`` seconds ("full jitter", so that many clients do not retry in step), and it never sleeps past the
    call's deadline: when the next attempt could not start in time the last error is raised.

    Charges, updates and the e-mail are never retried, whatever the policy: a retried charge can bill twice.

    Example: ``connect(..., retry=RetryPolicy(max_attempts=6, max_backoff=2.0))``; ``retry=None`` turns
    retrying off (as does ``RetryPolicy.disabled()``).
    """

    max_attempts: int = attrs.field(default=4, validator=_positive_int)
    initial_backoff: float = attrs.field(default=0.1, validator=_non_negative)
    max_backoff: float = attrs.field(default=5.0, validator=_non_negative)
    multiplier: float = attrs.field(default=2.0, validator=_at_least_one)
    retry_on: frozenset[StatusCode] = attrs.field(default=frozenset({StatusCode.UNAVAILABLE}), converter=_status_codes)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that makes every call exactly once."""
        return cls(max_attempts=1)

    @property
    def enabled(self) -> bool:
        """Whether any call may be made more than once."""
        return self.max_attempts > 1

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to sleep before retry number ``retry`` (1 for the second attempt), full jitter applied.

        ``rand`` returns a float in [0, 1); tests pass a fixed one.
        """
        try:
            grown = self.initial_backoff * self.multiplier ** (retry - 1)
        except OverflowError:  # a huge retry number: the ceiling is long reached
            grown = math.inf
        return min(self.max_backoff, grown) * rand()
