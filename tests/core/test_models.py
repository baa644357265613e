"""Models and open enums."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest
import viam_billing as vb


def test_unknown_enum_number_is_kept() -> None:
    """A number the enum does not declare becomes a pseudo-member with that value, never an error."""
    value = vb.UsageCostType(999)
    assert value == 999
    assert int(value) == 999
    assert value.name == "UNKNOWN_999"
    assert not value.is_known()
    assert vb.UsageCostType(999) is value


def test_known_enum_member_is_known() -> None:
    """Declared members say so and keep their names."""
    assert vb.UsageCostType(3) is vb.UsageCostType.USAGE_COST_TYPE_REMOTE_CONTROL
    assert vb.UsageCostType(3).is_known()


def test_unknown_numbers_are_not_members() -> None:
    """Pseudo-members do not join the enum's listing."""
    vb.SourceType(77)
    assert 77 not in [member.value for member in vb.SourceType]


@pytest.mark.parametrize("value", ["3", 1.5, None])
def test_enum_rejects_non_integers(value: object) -> None:
    """Only integers may become enum values."""
    with pytest.raises(ValueError, match="is not a valid"):
        vb.UsageCostType(value)


def test_model_fields_convert_enums_and_tuples() -> None:
    """Enum numbers become enum members and lists become tuples at construction."""
    costs = vb.ResourceUsageCosts(usage_costs=[vb.UsageCost(resource_type=4, cost=1.0)])
    assert isinstance(costs.usage_costs, tuple)
    assert costs.usage_costs[0].resource_type is vb.UsageCostType.USAGE_COST_TYPE_STANDARD_COMPUTE


@pytest.mark.parametrize(
    ("build", "field", "enum"),
    [
        (lambda v: vb.UsageCost(resource_type=v), "resource_type", vb.UsageCostType),
        (lambda v: vb.ResourceUsageCostsBySource(source_type=v), "source_type", vb.SourceType),
        (lambda v: vb.GetOrgBillingInformationResponse(type=v), "type", vb.PaymentMethodType),
    ],
)
def test_enum_fields_convert_like_the_enum_itself(build, field, enum) -> None:
    """Each enum field's converter gives what calling the enum gives: the member (itself, for a member or its
    number), the cached pseudo-member for an unknown number, and the enum's own error for a non-integer."""
    for member in enum:
        assert getattr(build(int(member)), field) is member
        assert getattr(build(member), field) is member
    assert getattr(build(4242), field) is enum(4242)
    for bad in ("3", 1.5, None, [1]):
        with pytest.raises(ValueError, match="is not a valid"):
            build(bad)


def test_every_collection_field_becomes_a_tuple() -> None:
    """Lists and generators given to the four repeated fields are stored as tuples."""
    usage = vb.GetCurrentMonthUsageResponse(resource_usage_costs_by_source=[vb.ResourceUsageCostsBySource()])
    summary = vb.GetInvoicesSummaryResponse(invoices=(vb.InvoiceSummary(id=str(i)) for i in range(2)))
    tiers = vb.GetAvailableBillingTiersResponse(tiers=["free", "pro"])
    assert usage.resource_usage_costs_by_source == (vb.ResourceUsageCostsBySource(),)
    assert [i.id for i in summary.invoices] == ["0", "1"]
    assert isinstance(summary.invoices, tuple)
    assert tiers.tiers == ("free", "pro")


def test_models_are_frozen_and_compare_by_value() -> None:
    """Models are immutable values."""
    a = vb.InvoiceSummary(id="inv-1", invoice_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    b = vb.InvoiceSummary(id="inv-1", invoice_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.id = "other"  # type: ignore[misc]
    assert "inv-1" in repr(a)


def test_defaults_are_proto3_zero_values() -> None:
    """Unset scalars are zero values; unset timestamps, sub-messages and optionals are None."""
    info = vb.GetOrgBillingInformationResponse()
    assert info.type is vb.PaymentMethodType.PAYMENT_METHOD_TYPE_UNSPECIFIED
    assert info.billing_email == ""
    assert info.method is None
    assert info.billing_tier is None
    usage = vb.GetCurrentMonthUsageResponse()
    assert usage.start_date is None
    assert usage.resource_usage_costs_by_source == ()


def test_models_require_keywords() -> None:
    """Positional construction is refused, so field order never silently matters."""
    with pytest.raises(TypeError):
        vb.UsageCost(3, 1.0)  # type: ignore[misc]


def test_unknown_enum_cache_is_bounded() -> None:
    """Ever new unknown numbers stay correct values but stop growing the enum's cache."""
    for value in range(100_000, 100_000 + 3000):
        assert vb.StatusCode(value) == value
        assert vb.StatusCode(value).name == f"UNKNOWN_{value}"
    unknown_cached = len(vb.StatusCode._value2member_map_) - len(vb.StatusCode.__members__)
    assert unknown_cached <= 1024
