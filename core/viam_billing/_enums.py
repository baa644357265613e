"""Open enums: the service adds values, and a value we do not know yet is data, not an error."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["OpenIntEnum", "PaymentMethodType", "SourceType", "StatusCode", "UsageCostType"]


_MAX_CACHED_UNKNOWN = 1024


class OpenIntEnum(enum.IntEnum):
    """An ``IntEnum`` that keeps numbers it has no member for.

    ``UsageCostType(999)`` returns a pseudo-member whose value is 999 and whose name is ``"UNKNOWN_999"``; it
    compares equal to ``999``, round-trips through every codec unchanged, and is the same object each time it is
    asked for (for the first 1024 distinct unknown numbers; later ones are equal but not cached).
    :meth:`is_known` tells the two kinds apart.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        # Cached so that equal unknown numbers give one identical object, like real members; bounded, so that a
        # server sending ever new numbers cannot grow memory without end (beyond the bound, equal, not identical).
        if len(cls._value2member_map_) - len(cls.__members__) >= _MAX_CACHED_UNKNOWN:
            return member
        return cls._value2member_map_.setdefault(value, member)

    @classmethod
    def from_name(cls, name: str) -> Any:
        """Return the member called ``name``, or the pseudo-member an ``UNKNOWN_<n>`` name stands for.

        Raises ``ValueError`` for any other name. ``UsageCostType.from_name("UNKNOWN_99") == 99``.
        """
        member = cls.__members__.get(name)
        if member is not None:
            return member
        prefix, _, number = name.partition("UNKNOWN_")
        if prefix or not number.lstrip("-").isdigit():
            raise ValueError(f"{name!r} is not a {cls.__name__} name")
        return cls(int(number))

    def is_known(self) -> bool:
        """Return whether this value is one of the enum's declared members."""
        return self._name_ in type(self).__members__


class PaymentMethodType(OpenIntEnum):
    """How an organization pays (``viam.app.v1.PaymentMethodType``)."""

    PAYMENT_METHOD_TYPE_UNSPECIFIED = 0
    PAYMENT_METHOD_TYPE_CARD = 1
    PAYMENT_METHOD_TYPE_USBANKACCOUNT = 2


class UsageCostType(OpenIntEnum):
    """What a usage cost line is for (``viam.app.v1.UsageCostType``).

    The service adds values regularly; numbers not listed here are kept as ``UNKNOWN_<n>`` pseudo-members.
    Members marked deprecated on the wire are kept so that old data still reads.
    """

    USAGE_COST_TYPE_UNSPECIFIED = 0
    USAGE_COST_TYPE_DATA_UPLOAD = 1  # deprecated on the wire
    USAGE_COST_TYPE_DATA_EGRESS = 2  # deprecated on the wire
    USAGE_COST_TYPE_REMOTE_CONTROL = 3
    USAGE_COST_TYPE_STANDARD_COMPUTE = 4
    USAGE_COST_TYPE_CLOUD_STORAGE = 5  # deprecated on the wire
    USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE = 6
    USAGE_COST_TYPE_OTHER_CLOUD_STORAGE = 7  # deprecated on the wire
    USAGE_COST_TYPE_PER_MACHINE = 8
    USAGE_COST_TYPE_TRIGGER_NOTIFICATION = 9
    USAGE_COST_TYPE_TABULAR_DATA_CLOUD_STORAGE = 10
    USAGE_COST_TYPE_CONFIG_HISTORY_CLOUD_STORAGE = 11
    USAGE_COST_TYPE_LOGS_CLOUD_STORAGE = 12
    USAGE_COST_TYPE_TRAINING_LOGS_CLOUD_STORAGE = 13
    USAGE_COST_TYPE_PACKAGES_CLOUD_STORAGE = 14
    USAGE_COST_TYPE_BINARY_DATA_UPLOAD = 15
    USAGE_COST_TYPE_TABULAR_DATA_UPLOAD = 16
    USAGE_COST_TYPE_LOGS_UPLOAD = 17
    USAGE_COST_TYPE_BINARY_DATA_EGRESS = 18
    USAGE_COST_TYPE_TABULAR_DATA_EGRESS = 19
    USAGE_COST_TYPE_LOGS_EGRESS = 20
    USAGE_COST_TYPE_TRAINING_LOGS_EGRESS = 21
    USAGE_COST_TYPE_TABULAR_DATA_DATABASE_CLOUD_STORAGE = 22
    USAGE_COST_TYPE_TABULAR_DATA_DATABASE_COMPUTE = 23
    USAGE_COST_TYPE_BINARY_DATA_CROSS_REGION_EGRESS = 24
    USAGE_COST_TYPE_PIPELINE_SINK_CLOUD_STORAGE = 25
    USAGE_COST_TYPE_PIPELINE_SINK_COMPUTE = 26
    USAGE_COST_TYPE_PREMIUM_MODULE = 27
    USAGE_COST_TYPE_SIMULATION_COMPUTE = 28


class SourceType(OpenIntEnum):
    """Where a block of usage comes from (``viam.app.v1.SourceType``)."""

    SOURCE_TYPE_UNSPECIFIED = 0
    SOURCE_TYPE_ORG = 1
    SOURCE_TYPE_FRAGMENT = 2


class StatusCode(OpenIntEnum):
    """gRPC status codes, as numbers on the wire; transports map their own code types onto these."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16
