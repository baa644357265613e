"""Usage as FOCUS 1.2 rows: the column mapping, in one place.

Each usage line (a cost type of one source) is one ``Usage`` row; each source's discount is one ``Credit`` row of
the negative amount, so that ``BilledCost`` adds up to the service's subtotal. Rows are dicts of plain values
(``str``, ``float``, ``int``, aware ``datetime`` in UTC, whole seconds, or ``None`` for null), in :data:`COLUMNS`
order; the CSV and Parquet writers only encode them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from viam_billing import DecodeError, GetCurrentMonthUsageResponse, SourceType, UsageCostType
from viam_billing.finops import billing_period

__all__ = [
    "COLUMNS",
    "CUSTOM_COLUMNS",
    "DATETIME_COLUMNS",
    "DECIMAL_COLUMNS",
    "FOCUS_COLUMNS",
    "INTEGER_COLUMNS",
    "PROVIDER",
    "SERVICE_CATEGORIES",
    "focus_rows",
    "period_bounds",
    "service_of",
]

PROVIDER = "Viam"
"""ProviderName, PublisherName and InvoiceIssuerName of every row."""

FOCUS_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SubAccountId",
    "SubAccountName",
)
"""The FOCUS 1.2 columns written, in the specification's (alphabetical) order."""

CUSTOM_COLUMNS = (
    "x_ViamCostTypeId",
    "x_ViamCostTypeName",
    "x_ViamFetchedAt",
    "x_ViamSourceIndex",
    "x_ViamSourceType",
    "x_ViamTierName",
)
"""Viam's own columns, after the FOCUS ones as the specification asks, with its ``x_`` prefix."""

COLUMNS = FOCUS_COLUMNS + CUSTOM_COLUMNS
"""Every column of the dataset, in the order written."""

DECIMAL_COLUMNS = frozenset({"BilledCost", "ContractedCost", "EffectiveCost", "ListCost", "PricingQuantity"})
INTEGER_COLUMNS = frozenset({"x_ViamCostTypeId", "x_ViamSourceIndex"})
DATETIME_COLUMNS = frozenset(
    {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart", "x_ViamFetchedAt"}
)
"""Columns by type; every other column is a string."""

_T = UsageCostType
_STORAGE = ("Storage", "Other (Storage)")
_OBJECT_STORAGE = ("Storage", "Object Storage")
_TRANSFER = ("Networking", "Other (Networking)")
_IOT = ("Internet of Things", "IoT Platforms")
_COMPUTE = ("Compute", "Other (Compute)")
_DATABASES = ("Databases", "Other (Databases)")
_OTHER = ("Other", "Other (Other)")

SERVICE_CATEGORIES: dict[UsageCostType, tuple[str, str]] = {
    _T.USAGE_COST_TYPE_DATA_UPLOAD: _TRANSFER,
    _T.USAGE_COST_TYPE_DATA_EGRESS: _TRANSFER,
    _T.USAGE_COST_TYPE_REMOTE_CONTROL: _IOT,
    _T.USAGE_COST_TYPE_STANDARD_COMPUTE: _COMPUTE,
    _T.USAGE_COST_TYPE_CLOUD_STORAGE: _OBJECT_STORAGE,
    _T.USAGE_COST_TYPE_BINARY_DATA_CLOUD_STORAGE: _OBJECT_STORAGE,
    _T.USAGE_COST_TYPE_OTHER_CLOUD_STORAGE: _STORAGE,
    _T.USAGE_COST_TYPE_PER_MACHINE: _IOT,
    _T.USAGE_COST_TYPE_TRIGGER_NOTIFICATION: ("Integration", "Messaging"),
    _T.USAGE_COST_TYPE_TABULAR_DATA_CLOUD_STORAGE: _STORAGE,
    _T.USAGE_COST_TYPE_CONFIG_HISTORY_CLOUD_STORAGE: _STORAGE,
    _T.USAGE_COST_TYPE_LOGS_CLOUD_STORAGE: ("Management and Governance", "Observability"),
    _T.USAGE_COST_TYPE_TRAINING_LOGS_CLOUD_STORAGE: ("AI and Machine Learning", "Machine Learning"),
    _T.USAGE_COST_TYPE_PACKAGES_CLOUD_STORAGE: _STORAGE,
    _T.USAGE_COST_TYPE_BINARY_DATA_UPLOAD: _TRANSFER,
    _T.USAGE_COST_TYPE_TABULAR_DATA_UPLOAD: _TRANSFER,
    _T.USAGE_COST_TYPE_LOGS_UPLOAD: _TRANSFER,
    _T.USAGE_COST_TYPE_BINARY_DATA_EGRESS: _TRANSFER,
    _T.USAGE_COST_TYPE_TABULAR_DATA_EGRESS: _TRANSFER,
    _T.USAGE_COST_TYPE_LOGS_EGRESS: _TRANSFER,
    _T.USAGE_COST_TYPE_TRAINING_LOGS_EGRESS: _TRANSFER,
    _T.USAGE_COST_TYPE_TABULAR_DATA_DATABASE_CLOUD_STORAGE: _DATABASES,
    _T.USAGE_COST_TYPE_TABULAR_DATA_DATABASE_COMPUTE: _DATABASES,
    _T.USAGE_COST_TYPE_BINARY_DATA_CROSS_REGION_EGRESS: _TRANSFER,
    _T.USAGE_COST_TYPE_PIPELINE_SINK_CLOUD_STORAGE: _STORAGE,
    _T.USAGE_COST_TYPE_PIPELINE_SINK_COMPUTE: ("Analytics", "Data Processing"),
    _T.USAGE_COST_TYPE_PREMIUM_MODULE: ("Developer Tools", "Other (Developer Tools)"),
    _T.USAGE_COST_TYPE_SIMULATION_COMPUTE: _COMPUTE,
}
"""FOCUS ServiceCategory and ServiceSubcategory of each cost type; any other (unspecified, or a type newer than
this version) is ``Other``/``Other (Other)``, as the specification asks when no category fits."""

_DISCOUNT_SERVICE = "Discount"


def service_of(cost_type: UsageCostType) -> tuple[str, str, str]:
    """ServiceName, ServiceCategory and ServiceSubcategory of a cost type.

    >>> service_of(UsageCostType.USAGE_COST_TYPE_REMOTE_CONTROL)
    ('Remote Control', 'Internet of Things', 'IoT Platforms')
    >>> service_of(UsageCostType(99))
    ('Cost Type 99', 'Other', 'Other (Other)')
    """
    if cost_type.is_known():
        name = cost_type.name.removeprefix("USAGE_COST_TYPE_").replace("_", " ").title()
    else:
        name = f"Cost Type {int(cost_type)}"
    return (name, *SERVICE_CATEGORIES.get(cost_type, _OTHER))


def _source_label(source_type: SourceType) -> str:
    if source_type == SourceType.SOURCE_TYPE_ORG:
        return "organization"
    if source_type == SourceType.SOURCE_TYPE_FRAGMENT:
        return "fragment"
    return f"source type {int(source_type)}"


def _whole_second(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def _finite(amount: float, path: str) -> float:
    if not math.isfinite(amount):
        raise DecodeError(f"{amount!r} is not an amount; a FOCUS cost must be a finite decimal", path=path)
    return float(amount)


def period_bounds(usage: GetCurrentMonthUsageResponse, fetched_at: datetime) -> tuple[datetime, datetime]:
    """BillingPeriodStart and BillingPeriodEnd of ``usage`` (:func:`viam_billing.finops.billing_period`, in whole
    seconds, UTC)."""
    period = billing_period(usage, now=fetched_at)
    return _whole_second(period.start), _whole_second(period.end)


def focus_rows(usage: GetCurrentMonthUsageResponse, *, org_id: str, fetched_at: datetime) -> list[dict[str, Any]]:
    """The FOCUS rows of one organization's current-month usage, fetched at ``fetched_at``.

    One ``Usage`` row per cost line, cost types unknown to this version included, and one ``Credit`` row per
    source with a discount. The billing period is :func:`viam_billing.finops.billing_period`'s; the charge
    period runs from its start to the fetch (rounded up to a whole second, within the period), since the
    figures are the month so far. Raises :class:`~viam_billing.DecodeError` naming the field for a cost or
    discount that is not a finite number (FOCUS has no NaN).
    """
    start, end = period_bounds(usage, fetched_at)
    fetched = fetched_at.astimezone(timezone.utc)
    # The figures cover the month up to the fetch: the charge period ends there (at least a second after it starts).
    charge_end = _whole_second(fetched + timedelta(microseconds=999_999))
    charge_end = max(min(charge_end, end), start + timedelta(seconds=1))
    common: dict[str, Any] = {
        "BillingAccountId": org_id,
        # The billing API names no organization; its id is the name FinOps tools can show.
        "BillingAccountName": org_id,
        "BillingCurrency": "USD",
        "BillingPeriodEnd": end,
        "BillingPeriodStart": start,
        "ChargeClass": None,
        "ChargePeriodEnd": charge_end,
        "ChargePeriodStart": start,
        "InvoiceId": None,  # the month so far is not invoiced yet: null, as InvoiceId-C-004-C asks
        "InvoiceIssuerName": PROVIDER,
        "ProviderName": PROVIDER,
        "PublisherName": PROVIDER,
        "SubAccountId": None,  # usage is reported per organization, the billing account: there is nothing below it
        "SubAccountName": None,
        "x_ViamFetchedAt": _whole_second(fetched),
    }
    rows: list[dict[str, Any]] = []
    for index, source in enumerate(usage.resource_usage_costs_by_source):
        costs = source.resource_usage_costs
        if costs is None:
            continue
        where = f"resource_usage_costs_by_source[{index}].resource_usage_costs"
        tier = source.tier_name or None
        of_source = f"{_source_label(source.source_type)} usage" + (f", tier {tier}" if tier else "")
        origin = {
            "x_ViamSourceIndex": index,
            "x_ViamSourceType": source.source_type.name,
            "x_ViamTierName": tier,
        }
        for number, line in enumerate(costs.usage_costs):
            cost = _finite(line.cost, f"{where}.usage_costs[{number}].cost")
            name, category, subcategory = service_of(line.resource_type)
            known = "" if line.resource_type.is_known() else " (a cost type this version does not know)"
            rows.append(_row(
                common, origin, cost,
                ChargeCategory="Usage",
                ChargeDescription=f"{name}{known}: {of_source}, this month so far",
                PricingQuantity=1.0,
                PricingUnit="Units",
                ServiceCategory=category,
                ServiceName=name,
                ServiceSubcategory=subcategory,
                x_ViamCostTypeId=int(line.resource_type),
                x_ViamCostTypeName=line.resource_type.name,
            ))  # fmt: skip
        discount = _finite(costs.discount, f"{where}.discount")
        if discount:
            rows.append(_row(
                common, origin, -discount,
                ChargeCategory="Credit",
                ChargeDescription=f"Discount on {of_source}, this month so far",
                PricingQuantity=None,
                PricingUnit=None,
                ServiceCategory=_OTHER[0],
                ServiceName=_DISCOUNT_SERVICE,
                ServiceSubcategory=_OTHER[1],
                x_ViamCostTypeId=None,
                x_ViamCostTypeName=None,
            ))  # fmt: skip
    return rows


def _row(common: dict[str, Any], origin: dict[str, Any], amount: float, **values: Any) -> dict[str, Any]:
    # Viam prices each line at the organization's tier and exposes no list or negotiated price, so the four cost
    # columns carry the same amount; discounts are Credit rows of their own.
    costs = dict.fromkeys(("BilledCost", "ContractedCost", "EffectiveCost", "ListCost"), amount)
    merged = {**common, **origin, **costs, "ChargeFrequency": "Usage-Based", **values}
    return {column: merged[column] for column in COLUMNS}
