"""The codec between billing models and protobuf messages loses nothing, in either direction, for every message.

Hypothesis generates messages from our descriptors and models from the models' type hints, independently of the
codec's own introspection. Doubles are compared by their bits, so ``-0.0`` and NaN payloads count.

Decided about NaN: the codec carries any double bit pattern (NaN with its payload, signalling or quiet, and the
infinities) unchanged, so the properties draw from every 64-bit pattern rather than from finite values only. One
limit is protobuf's, not ours: its pure-Python backend turns every NaN it parses into the one canonical quiet NaN
(upb, the default, keeps the bits), so on that backend a NaN is compared as "some NaN" after a trip over the wire.
Outside the domain, by design: strings with lone surrogates (protobuf strings are UTF-8; encoding them is a
``ValidationError``), timestamps outside the years 1-9999 and unknown fields (dropped: a model has no place for
them). Each has an explicit test below.

``VIAM_BILLING_CODEC_EXAMPLES`` sets the examples per property and message type (default 60) for a deeper run.
"""

from __future__ import annotations

import enum
import os
import struct
import types
import typing
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
import viam_billing as vb
from google.protobuf import descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.internal import api_implementation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from viam_billing_protos import codec
from viam_billing_protos._generated import billing_pb

FILE = billing_pb.InvoiceSummary.DESCRIPTOR.file
MESSAGE_NAMES = sorted(FILE.message_types_by_name)
MODELS = sorted(
    (obj for obj in vars(vb).values() if isinstance(obj, type) and issubclass(obj, vb.Model) and obj is not vb.Model),
    key=lambda cls: cls.__name__,
)

EXAMPLES = int(os.environ.get("VIAM_BILLING_CODEC_EXAMPLES", "60"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded CI machine must not turn a slow example into a failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# protobuf's Timestamp range, which is also datetime's: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799
UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# protobuf's pure-Python parser returns one canonical NaN for every NaN on the wire; upb keeps payload and sign.
PARSER_CANONICALISES_NAN = api_implementation.Type() == "python"


def _float(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def _bits(value: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


EDGE_DOUBLES = [
    0.0,
    -0.0,
    5e-324,  # smallest subnormal
    -5e-324,
    2.225073858507201e-308,  # largest subnormal
    2.2250738585072014e-308,  # smallest normal
    1.7976931348623157e308,
    -1.7976931348623157e308,
    float("inf"),
    float("-inf"),
    _float(0x7FF8000000000000),  # quiet NaN
    _float(0xFFF8000000000001),  # negative quiet NaN with a payload
    _float(0x7FF0000000000001),  # signalling NaN
]
DOUBLES = st.one_of(
    st.floats(),  # hypothesis' own mix, which favours awkward values
    st.sampled_from(EDGE_DOUBLES),
    st.integers(0, 2**64 - 1).map(_float),  # every bit pattern: subnormals and NaN payloads included
)
# Protobuf strings are UTF-8 on the wire, which has no encoding for a lone surrogate.
TEXT = st.text(st.characters(codec="utf-8"))
INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
UTC_DATETIMES = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=st.just(UTC))


def _repeated(element: st.SearchStrategy[Any], *, nested: bool) -> st.SearchStrategy[list[Any]]:
    """Empty, short, and long lists; long ones of messages stay shorter so nested lists stay affordable."""
    long = (12, 40) if nested else (50, 300)
    return st.one_of(st.just([]), st.lists(element, max_size=3), st.lists(element, min_size=long[0], max_size=long[1]))


# --- protobuf messages, from the descriptors ------------------------------------------------------------------


def _timestamps(message_cls: Any) -> st.SearchStrategy[Any]:
    seconds = st.one_of(st.integers(MIN_SECONDS, MAX_SECONDS), st.sampled_from([MIN_SECONDS, 0, -1, MAX_SECONDS]))
    micros = st.one_of(st.integers(0, 999_999), st.sampled_from([0, 999_999]))
    return st.builds(lambda s, us: message_cls(seconds=s, nanos=us * 1000), seconds, micros)


def _field_values(field: Any) -> st.SearchStrategy[Any]:
    t = field.type
    fd = type(field)
    if t == fd.TYPE_DOUBLE:
        return DOUBLES
    if t == fd.TYPE_STRING:
        return TEXT
    if t == fd.TYPE_BYTES:
        return st.binary()
    if t == fd.TYPE_BOOL:
        return st.booleans()
    if t == fd.TYPE_INT64:
        return INT64
    if t == fd.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), INT32)  # proto3 enums are open: any int32 is a valid value
    if t == fd.TYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return _timestamps(message_factory.GetMessageClass(field.message_type))
        return st.deferred(lambda: messages(field.message_type))
    raise AssertionError(f"no strategy for {field.full_name} (type {t}): teach test_codec about it")


def messages(descriptor: Any) -> st.SearchStrategy[Any]:
    """Random messages of ``descriptor``: every field independently unset, zero or any value of its type."""
    message_cls = message_factory.GetMessageClass(descriptor)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        values = _field_values(field)
        if field.is_repeated:
            fields[field.name] = _repeated(values, nested=field.type == type(field).TYPE_MESSAGE)
        elif field.has_presence:  # sub-messages and proto3 optional: None leaves the field unset
            fields[field.name] = st.none() | values
        else:
            fields[field.name] = values
    return st.fixed_dictionaries(fields).map(
        lambda kw: message_cls(**{name: value for name, value in kw.items() if value is not None})
    )


def _wire(message: Any) -> bytes:
    return bytes(message.SerializeToString(deterministic=True))


# --- models, from the type hints ------------------------------------------------------------------------------


def _model_values(hint: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return st.none() | _model_values(inner)
    if origin is tuple:
        inner, _ = typing.get_args(hint)
        nested = isinstance(inner, type) and issubclass(inner, vb.Model)
        return _repeated(_model_values(inner), nested=nested).map(tuple)
    simple = {float: DOUBLES, str: TEXT, bytes: st.binary(), bool: st.booleans(), int: INT64, datetime: UTC_DATETIMES}
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and issubclass(hint, vb.OpenIntEnum):
        return st.one_of(st.sampled_from(list(hint)), INT32.map(hint))
    if isinstance(hint, type) and issubclass(hint, vb.Model):
        return st.deferred(lambda: models(hint))
    raise AssertionError(f"no strategy for model field type {hint!r}: teach test_codec about it")


def models(cls: type[vb.Model]) -> st.SearchStrategy[vb.Model]:
    fields = attrs.fields(cls)
    assert not any(isinstance(field.type, str) for field in fields), "the core resolves model annotations"
    return st.builds(cls, **{field.name: _model_values(field.type) for field in fields})


def canonical(value: Any) -> Any:
    """``value`` as nested tuples that differ whenever two values differ in any way a round trip could lose.

    Stricter than ``==``: float bits (``-0.0`` vs ``0.0``, NaN payloads), the exact types (tuple vs list, enum vs
    int, bool vs int), enum pseudo-members and timezones all count.
    """
    if isinstance(value, vb.Model):
        fields = tuple((f.name, canonical(getattr(value, f.name))) for f in attrs.fields(type(value)))
        return (type(value).__name__, fields)
    if isinstance(value, enum.IntEnum):
        return (type(value).__name__, value.name, int(value))
    if isinstance(value, float):
        if value != value and PARSER_CANONICALISES_NAN:
            return ("float", "nan")
        return ("float", hex(_bits(value)))
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    if isinstance(value, tuple):
        return ("tuple", tuple(canonical(item) for item in value))
    if value is None or type(value) in (str, bytes, int, bool):
        return (type(value).__name__, value)
    raise AssertionError(f"unexpected value in a model: {value!r}")


# --- the properties -------------------------------------------------------------------------------------------


def test_every_message_has_a_model_and_every_model_a_message() -> None:
    """The properties below cover every message because every message maps to a model, one to one."""
    assert [cls.__name__ for cls in MODELS] == MESSAGE_NAMES
    for cls in MODELS:
        message_cls = codec.message_type(cls)
        assert message_cls.DESCRIPTOR.full_name == f"viam.app.v1.{cls.__name__}"
        assert codec.model_type(message_cls) is cls


@pytest.mark.parametrize("name", MESSAGE_NAMES)
@PROPERTY
@given(data=st.data())
def test_message_to_model_to_message_is_identity(name: str, data: st.DataObject) -> None:
    descriptor = FILE.message_types_by_name[name]
    original = data.draw(messages(descriptor), label="message")
    received = type(original).FromString(original.SerializeToString())  # what a transport gets off the wire
    model = codec.from_message(codec.model_type(type(original)), received)
    again = codec.to_message(model)
    assert type(again) is type(original)
    assert _wire(again) == _wire(received)
    if not PARSER_CANONICALISES_NAN:
        assert _wire(received) == _wire(original)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@PROPERTY
@given(data=st.data())
def test_model_to_message_to_model_is_identity(cls: type[vb.Model], data: st.DataObject) -> None:
    original = data.draw(models(cls), label="model")
    message = codec.to_message(original)
    received = type(message).FromString(message.SerializeToString())
    again = codec.from_message(cls, received)
    assert type(again) is cls
    assert canonical(again) == canonical(original)


# --- explicit cases -------------------------------------------------------------------------------------------


def test_sub_microsecond_nanos_are_truncated_towards_the_past() -> None:
    """Timestamps keep microseconds; the nanoseconds below them are dropped, never rounded up."""
    cases = [
        (1, 1_999, datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=UTC), 1_000),
        (1, 999, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), 0),
        (59, 999_999_999, datetime(1970, 1, 1, 0, 0, 59, 999_999, tzinfo=UTC), 999_999_000),
        (-1, 999_999_999, datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), 999_999_000),
    ]
    for seconds, nanos, expected, nanos_back in cases:
        message = billing_pb.InvoiceSummary(paid_date={"seconds": seconds, "nanos": nanos})
        model = codec.from_message(vb.InvoiceSummary, message)
        assert model.paid_date == expected
        back = codec.to_message(model).paid_date
        assert (back.seconds, back.nanos) == (seconds, nanos_back)


@pytest.mark.parametrize("nanos", [-1, -999_999_999, 1_000_000_000, 2**31 - 1, -(2**31)])
def test_timestamps_with_nanos_out_of_range_are_refused_naming_the_field(nanos: int) -> None:
    """Nanos outside 0-999,999,999 break google.protobuf.Timestamp's definition: a DecodeError naming the field and
    the value, never a date shifted by the overflow."""
    message = billing_pb.GetInvoicesSummaryResponse(
        invoices=[
            billing_pb.InvoiceSummary(id="ok"),
            billing_pb.InvoiceSummary(due_date={"seconds": 60, "nanos": nanos}),
        ]
    )
    with pytest.raises(vb.DecodeError, match=f"nanos are {nanos}, outside 0 to 999,999,999") as caught:
        codec.from_message(vb.GetInvoicesSummaryResponse, message)
    assert caught.value.path == "invoices[1].due_date"


def test_timestamps_at_the_ends_of_the_datetime_range_round_trip() -> None:
    earliest = datetime.min.replace(tzinfo=UTC)
    latest = datetime.max.replace(tzinfo=UTC)
    message = codec.to_message(vb.InvoiceSummary(invoice_date=earliest, due_date=latest))
    assert (message.invoice_date.seconds, message.invoice_date.nanos) == (MIN_SECONDS, 0)
    assert (message.due_date.seconds, message.due_date.nanos) == (MAX_SECONDS, 999_999_000)
    model = codec.from_message(vb.InvoiceSummary, message)
    assert (model.invoice_date, model.due_date) == (earliest, latest)


def test_decoded_timestamps_are_aware_utc() -> None:
    model = codec.from_message(vb.InvoiceSummary, billing_pb.InvoiceSummary(due_date={"seconds": 1_700_000_000}))
    assert model.due_date is not None
    assert model.due_date.tzinfo is UTC
    assert model.due_date == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_unset_timestamps_are_none_and_the_epoch_is_not() -> None:
    """An unset timestamp is ``None``; a set one at the epoch (an empty sub-message on the wire) is a datetime."""
    unset = codec.from_message(vb.GetCurrentMonthUsageResponse, billing_pb.GetCurrentMonthUsageResponse())
    assert unset.start_date is None
    assert unset.end_date is None
    assert not codec.to_message(unset).HasField("start_date")

    epoch = codec.from_message(vb.GetCurrentMonthUsageResponse, billing_pb.GetCurrentMonthUsageResponse(start_date={}))
    assert epoch.start_date == EPOCH
    assert epoch.end_date is None
    again = codec.to_message(epoch)
    assert again.HasField("start_date")
    assert not again.HasField("end_date")


def test_other_timezones_are_sent_as_the_same_instant_and_naive_times_as_utc() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2024, 3, 1, 5, 30, tzinfo=kolkata)
    naive = datetime(2024, 3, 1, 0, 0)
    message = codec.to_message(vb.InvoiceSummary(invoice_date=local, due_date=naive))
    assert message.invoice_date.seconds == message.due_date.seconds == 1_709_251_200
    model = codec.from_message(vb.InvoiceSummary, message)
    assert model.invoice_date == local
    assert model.invoice_date is not None
    assert model.invoice_date.tzinfo is UTC


@pytest.mark.parametrize(
    ("enum_cls", "number"),
    [
        (vb.UsageCostType, 999),
        (vb.UsageCostType, 29),  # the next value the service will add
        (vb.UsageCostType, -7),
        (vb.UsageCostType, 2**31 - 1),
        (vb.SourceType, 3),
        (vb.PaymentMethodType, -(2**31)),
    ],
)
def test_unknown_enum_numbers_survive_as_unknown_pseudo_members(enum_cls: type[vb.OpenIntEnum], number: int) -> None:
    field, message = {
        vb.UsageCostType: ("resource_type", billing_pb.UsageCost(resource_type=number)),
        vb.SourceType: ("source_type", billing_pb.ResourceUsageCostsBySource(source_type=number)),
        vb.PaymentMethodType: ("type", billing_pb.GetOrgBillingInformationResponse(type=number)),
    }[enum_cls]
    received = type(message).FromString(message.SerializeToString())
    model = codec.from_message(codec.model_type(type(message)), received)
    value = getattr(model, field)
    assert type(value) is enum_cls
    assert value == number
    assert value.name == f"UNKNOWN_{number}"
    assert not value.is_known()
    assert value is enum_cls(number)
    again = codec.to_message(model)
    assert getattr(again, field) == number
    assert _wire(again) == _wire(message)


def test_known_enum_numbers_decode_to_their_members() -> None:
    for member in vb.UsageCostType:
        model = codec.from_message(vb.UsageCost, billing_pb.UsageCost(resource_type=int(member)))
        assert model.resource_type is member
        assert member.is_known()


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (vb.GetOrgBillingInformationResponse, "billing_tier", ""),
        (vb.GetOrgBillingInformationResponse, "billing_tier", "business"),
        (vb.GetOrgBillingInformationResponse, "method", vb.PaymentMethodCard()),
        (vb.GetOrgBillingInformationResponse, "method_us_bank_account", vb.PaymentMethodUSBankAccount()),
        (vb.PaymentMethodUSBankAccount, "verification_info", vb.VerificationInfo()),
        (vb.ChargeOrganizationRequest, "description", ""),
        (vb.ChargeOrganizationRequest, "org_id_for_branding", ""),
        (vb.CreateInvoiceAndChargeImmediatelyRequest, "description", ""),
        (vb.CreateInvoiceAndChargeImmediatelyRequest, "org_id_for_branding", ""),
        (vb.ResourceUsageCostsBySource, "resource_usage_costs", vb.ResourceUsageCosts()),
    ],
)
def test_presence_round_trips_even_for_zero_values(cls: type[vb.Model], field: str, value: Any) -> None:
    """A present field holding its zero value stays present (``billing_tier=""`` is not ``None``), and back."""
    present = codec.to_message(cls(**{field: value}))
    assert present.HasField(field)
    received = type(present).FromString(present.SerializeToString())
    assert received.HasField(field)
    decoded = getattr(codec.from_message(cls, received), field)
    assert decoded is not None
    assert decoded == value

    absent = codec.to_message(cls())
    assert not absent.HasField(field)
    assert getattr(codec.from_message(cls, absent), field) is None


def test_long_repeated_fields_round_trip() -> None:
    invoices = tuple(vb.InvoiceSummary(id=f"inv-{i}", invoice_amount=i / 7) for i in range(5_000))
    model = vb.GetInvoicesSummaryResponse(outstanding_balance=1.5, invoices=invoices)
    message = codec.to_message(model)
    assert len(message.invoices) == 5_000
    assert canonical(codec.from_message(vb.GetInvoicesSummaryResponse, message)) == canonical(model)

    tiers = vb.GetAvailableBillingTiersResponse(tiers=tuple(f"tier-{i}" for i in range(20_000)))
    assert codec.from_message(vb.GetAvailableBillingTiersResponse, codec.to_message(tiers)) == tiers

    chunk = bytes(range(256)) * 4096  # 1 MiB of every byte value
    pdf = codec.from_message(vb.GetInvoicePdfResponse, billing_pb.GetInvoicePdfResponse(chunk=chunk))
    assert pdf.chunk == chunk


def test_doubles_keep_their_bits() -> None:
    for value in EDGE_DOUBLES:
        model = codec.from_message(vb.UsageCost, billing_pb.UsageCost(cost=value))
        assert _bits(model.cost) == _bits(value)
        assert _bits(codec.to_message(model).cost) == _bits(value)


def test_unknown_fields_are_dropped() -> None:
    """A field the contract does not have (a newer server's) is skipped without error; a model has no place for it."""
    extra = b"\xa8\x06\x01"  # field 101, varint 1
    message = billing_pb.ChargeOrganizationResponse.FromString(b"\n\x03inv" + extra)
    model = codec.from_message(vb.ChargeOrganizationResponse, message)
    assert model == vb.ChargeOrganizationResponse(invoice_id="inv")
    assert _wire(codec.to_message(model)) == b"\n\x03inv"


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (vb.PaymentMethodCard(brand="\ud800"), "brand"),
        (vb.UsageCost(resource_type=2**31), "resource_type"),
        (vb.VerificationInfo(arrival_date=2**63), "arrival_date"),
        (
            vb.GetInvoicesSummaryResponse(invoices=[vb.InvoiceSummary(), vb.InvoiceSummary(status="\udfff")]),
            "invoices[1].status",
        ),
        (vb.GetAvailableBillingTiersResponse(tiers=["free", "\ud800"]), "tiers[1]"),
        (vb.GetOrgBillingInformationResponse(billing_tier="\ud800"), "billing_tier"),
        (vb.GetCurrentMonthUsageRequest(org_id="\ud800"), "org_id"),
        (
            vb.GetCurrentMonthUsageResponse(
                resource_usage_costs_by_source=[
                    vb.ResourceUsageCostsBySource(
                        resource_usage_costs=vb.ResourceUsageCosts(usage_costs=[vb.UsageCost(resource_type=-(2**40))])
                    )
                ]
            ),
            "resource_usage_costs_by_source[0].resource_usage_costs.usage_costs[0].resource_type",
        ),
    ],
)
def test_values_protobuf_cannot_carry_are_validation_errors_naming_the_field(model: vb.Model, path: str) -> None:
    with pytest.raises(vb.ValidationError) as caught:
        codec.to_message(model)
    assert caught.value.argument == path
    assert f"{type(model).__name__}.{path}" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_timestamps_beyond_datetime_are_decode_errors_naming_the_field() -> None:
    message = billing_pb.GetInvoicesSummaryResponse(invoices=[{}, {"due_date": {"seconds": MAX_SECONDS + 1}}])
    with pytest.raises(vb.DecodeError) as caught:
        codec.from_message(vb.GetInvoicesSummaryResponse, message)
    assert caught.value.path == "invoices[1].due_date"
    assert "GetInvoicesSummaryResponse" in str(caught.value)


def test_a_message_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"viam\.app\.v1\.GetInvoicesSummaryResponse"):
        codec.from_message(vb.GetInvoicesSummaryResponse, billing_pb.GetInvoicesSummaryRequest(org_id="o"))
    with pytest.raises(TypeError, match="str"):
        codec.from_message(vb.GetInvoicesSummaryResponse, "org")


def test_message_and_model_lookups_reject_what_is_not_billing() -> None:
    from viam_billing_protos._generated import auth_pb

    with pytest.raises(TypeError, match=r"proto\.rpc\.v1\.AuthenticateRequest"):
        codec.model_type(auth_pb.AuthenticateRequest)
    with pytest.raises(TypeError, match="not a billing model"):
        codec.message_type(vb.Model)
    with pytest.raises(TypeError, match="not a billing model"):
        codec.to_message(vb.OPERATIONS["GetInvoicePdf"])  # type: ignore[arg-type]


def test_messages_from_another_pool_decode_the_same() -> None:
    """The codec reads any pool's messages of the right type (the official SDK's live in the default pool)."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(FILE.serialized_pb)
    foreign_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("viam.app.v1.InvoiceSummary"))
    assert foreign_cls is not billing_pb.InvoiceSummary
    ours = billing_pb.InvoiceSummary(id="inv", due_date={"seconds": 86_400}, invoice_amount=-0.0)
    foreign = foreign_cls.FromString(ours.SerializeToString())
    assert codec.model_type(foreign_cls) is vb.InvoiceSummary
    model = codec.from_message(vb.InvoiceSummary, foreign)
    assert canonical(model) == canonical(codec.from_message(vb.InvoiceSummary, ours))


# --- models are built as their own __init__ builds them --------------------------------------------------------


def _fields_typed(model: Any) -> Any:
    """A model as nested (type, value) pairs, so that an int where an enum member belongs, or a list where a
    tuple belongs, makes a difference."""
    if isinstance(model, vb.Model):
        return (type(model), tuple((f.name, _fields_typed(getattr(model, f.name))) for f in attrs.fields(type(model))))
    if isinstance(model, tuple):
        return (tuple, tuple(_fields_typed(item) for item in model))
    if isinstance(model, float):
        return (float, struct.pack("<d", model))
    return (type(model), model)


@pytest.mark.parametrize("name", MESSAGE_NAMES)
@PROPERTY
@given(data=st.data())
def test_decoded_models_are_what_their_init_builds(name: str, data: st.DataObject) -> None:
    """The codec fills a new model's slots directly; the model is the one the class's ``__init__`` (converters
    included) makes of the same values, field types included, and as usable (hash, evolve)."""
    descriptor = FILE.message_types_by_name[name]
    message = data.draw(messages(descriptor), label="message")
    cls = codec.model_type(type(message))
    try:
        decoded = codec.from_message(cls, message)
    except vb.DecodeError:
        return  # out of the models' domain: a timestamp datetime cannot hold
    rebuilt = cls(**{f.name: getattr(decoded, f.name) for f in attrs.fields(cls)})
    assert _fields_typed(decoded) == _fields_typed(rebuilt)  # by bits: NaN != NaN would fail a plain ==
    hash(decoded)  # hashable like any model (a NaN hashes by identity since Python 3.10, so no equality)
    assert _fields_typed(attrs.evolve(decoded)) == _fields_typed(rebuilt)


def test_a_model_with_a_validator_or_hook_is_refused_not_built_without_it() -> None:
    """Filling slots would skip validators and init hooks: the codec refuses such a class instead."""

    @attrs.frozen(kw_only=True)
    class UsageCost(vb.Model):  # the name of a billing message, so that only the check can refuse it
        resource_type: vb.UsageCostType = vb.UsageCostType.USAGE_COST_TYPE_UNSPECIFIED
        cost: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))

    @attrs.frozen(kw_only=True)
    class InvoiceSummary(vb.Model):
        id: str = ""

        def __attrs_post_init__(self) -> None:
            pass

    for cls, message in ((UsageCost, billing_pb.UsageCost(cost=-1.0)), (InvoiceSummary, billing_pb.InvoiceSummary())):
        attrs.resolve_types(cls, globals(), {"vb": vb})
        with pytest.raises(TypeError, match="without validators or hooks"):
            codec.from_message(cls, message)


def test_whole_second_times_are_shared_and_the_cache_is_bounded(monkeypatch) -> None:
    """Equal whole-second timestamps decode to one shared datetime; the cache empties itself when full."""
    monkeypatch.setattr(codec, "_WHOLE_SECONDS_MAX", 3)
    codec._WHOLE_SECONDS.clear()
    first = codec.from_message(vb.InvoiceSummary, billing_pb.InvoiceSummary(due_date={"seconds": 86_400}))
    again = codec.from_message(vb.InvoiceSummary, billing_pb.InvoiceSummary(due_date={"seconds": 86_400}))
    assert first.due_date is again.due_date
    assert first.due_date == datetime(1970, 1, 2, tzinfo=UTC)
    for day in range(2, 8):
        codec.from_message(vb.InvoiceSummary, billing_pb.InvoiceSummary(due_date={"seconds": day * 86_400}))
    assert 0 < len(codec._WHOLE_SECONDS) <= 3
