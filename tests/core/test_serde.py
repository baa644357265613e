"""Models to JSON-ready data and back."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import viam_billing as vb

USAGE = vb.GetCurrentMonthUsageResponse(
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    end_date=datetime(2026, 11, 30, 23, 59, 59, 250000, tzinfo=timezone.utc),
    resource_usage_costs_by_source=[
        vb.ResourceUsageCostsBySource(
            source_type=vb.SourceType.SOURCE_TYPE_FRAGMENT,
            tier_name="pro",
            resource_usage_costs=vb.ResourceUsageCosts(
                usage_costs=[
                    vb.UsageCost(resource_type=3, cost=1.25),
                    vb.UsageCost(resource_type=404, cost=2.0),
                ],
                discount=0.5,
            ),
        )
    ],
    subtotal=2.75,
)


def test_round_trip_through_json_text() -> None:
    """to_data output survives json.dumps/loads and decodes to an equal model."""
    data = json.loads(json.dumps(vb.to_data(USAGE)))
    assert vb.from_data(vb.GetCurrentMonthUsageResponse, data) == USAGE


def test_encoding_is_readable() -> None:
    """Enums by name, unknown enum numbers as numbers, times in ISO 8601 UTC, bytes as base64."""
    data = vb.to_data(USAGE)
    assert data["start_date"] == "2026-11-01T00:00:00Z"
    costs = data["resource_usage_costs_by_source"][0]
    assert costs["source_type"] == "SOURCE_TYPE_FRAGMENT"
    assert [c["resource_type"] for c in costs["resource_usage_costs"]["usage_costs"]] == [
        "USAGE_COST_TYPE_REMOTE_CONTROL",
        404,
    ]
    assert vb.to_data(vb.GetInvoicePdfResponse(chunk=b"\x00\xff")) == {"chunk": "AP8="}
    assert list(data) == [f.name for f in __import__("attrs").fields(vb.GetCurrentMonthUsageResponse)]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"subtotal": "12"}, "subtotal"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2026-11-01T00:00:00"}, "start_date"),
        ({"resource_usage_costs_by_source": {}}, "resource_usage_costs_by_source"),
        (
            {"resource_usage_costs_by_source": [{"source_type": "SOURCE_TYPE_MOON"}]},
            "resource_usage_costs_by_source[0].source_type",
        ),
        (
            {"resource_usage_costs_by_source": [{"tier_name": 5}]},
            "resource_usage_costs_by_source[0].tier_name",
        ),
        ({"subtotall": 1.0}, ""),
    ],
)
def test_bad_data_names_the_place(data: dict[str, object], path: str) -> None:
    """DecodeError locates the problem instead of leaking a TypeError or KeyError."""
    with pytest.raises(vb.DecodeError) as info:
        vb.from_data(vb.GetCurrentMonthUsageResponse, data)
    assert info.value.path == path


def test_bad_base64_and_booleans_are_rejected() -> None:
    """Invalid base64 and a bool where a string or number belongs are errors."""
    with pytest.raises(vb.DecodeError, match="base64"):
        vb.from_data(vb.GetInvoicePdfResponse, {"chunk": "not base64!"})
    with pytest.raises(vb.DecodeError, match="expected a number"):
        vb.from_data(vb.UsageCost, {"cost": True})
    with pytest.raises(vb.DecodeError, match="expected an object"):
        vb.from_data(vb.UsageCost, [])
