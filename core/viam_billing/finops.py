"""Where the month is heading, and whether it stays within budget: forecasts and budget checks from usage.

Everything here works on :class:`~viam_billing.GetCurrentMonthUsageResponse` and the clock, nothing else::

    from viam_billing.finops import check_budgets, forecast_month_end

    usage = await billing.get_current_month_usage(org_id)
    print(forecast_month_end(usage).forecast)                       # the month's projected subtotal, US dollars

    report = await check_budgets(billing, {org_a: 500.0, org_b: 2_000.0})   # on the forecast by default
    if report.over:
        ...                                                          # `viam-billing budget` exits 6 here

**The forecast is a run-rate** (:func:`project`). The cost before discounts so far, divided by the time elapsed
since the period started, is the rate; the forecast is the service's subtotal so far plus that rate over the time
left until the period ends. So:

- *Discounts* are not extrapolated: the discounts granted so far are kept as they are. Many discounts are
  allowances that get used up (a free tier, a fixed credit), and a budget alarm should rather ring early than
  late; with a percentage discount the forecast errs high by that percentage of the rest of the month.
- *Minimum*: the forecast is never below the subtotal so far. The rate is never negative (usage already incurred
  is not given back), so the forecast is the cost already incurred plus what the rest of the period adds.
- *Maximum*: the time elapsed counts as at least :data:`MIN_ELAPSED` (one day; the whole period if shorter), so
  the forecast is at most the subtotal plus the usage so far times the period's length in days: at midnight on
  the 1st, a few minutes of usage are not multiplied by ten thousand; a month's first figures count as a day's.
- Once the period has ended, the forecast is the subtotal (:attr:`Forecast.final`).
- The period is the usage's ``start_date`` up to its ``end_date`` (:func:`billing_period`).

**Budgets** compare a limit with the forecast or with the subtotal so far (``on="actual"``); an organization is
over when its amount, in cents, is above the limit. :func:`check_budget` checks one usage answer,
:func:`check_budgets` fetches and checks many; ``viam-billing budget`` calls the latter.

This module is loaded on its own (``import viam_billing.finops``); ``import viam_billing`` does not load it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Literal, get_args

import attrs

from ._errors import BillingError, ValidationError
from ._models import GetCurrentMonthUsageResponse

if TYPE_CHECKING:
    from ._client import BillingClient

__all__ = [
    "BUDGET_BASES",
    "BillingPeriod",
    "BudgetBasis",
    "BudgetCheck",
    "BudgetFailure",
    "BudgetReport",
    "Forecast",
    "MIN_ELAPSED",
    "billing_period",
    "check_budget",
    "check_budgets",
    "forecast_month_end",
    "project",
    "usage_figures",
]

MIN_ELAPSED = timedelta(days=1)
"""The least time elapsed a run-rate is measured over (see the module's notes on the maximum)."""

BudgetBasis = Literal["forecast", "actual"]
BUDGET_BASES: tuple[BudgetBasis, ...] = get_args(BudgetBasis)
"""What a budget can be checked against: the month-end forecast, or the subtotal so far."""


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime, got {value!r}", argument=name)
    return value.astimezone(timezone.utc)


def _now(now: datetime | None) -> datetime:
    return datetime.now(timezone.utc) if now is None else _utc(now, "now")


def _next_month(moment: datetime) -> datetime:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


@attrs.frozen(kw_only=True)
class BillingPeriod:
    """A billing period in UTC: from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        """How long the period is."""
        return self.end - self.start

    def elapsed(self, at: datetime) -> timedelta:
        """How much of the period has passed at ``at``: from zero (before it starts) to :attr:`length`."""
        return min(max(at - self.start, timedelta(0)), self.length)


def billing_period(usage: GetCurrentMonthUsageResponse, *, now: datetime | None = None) -> BillingPeriod:
    """The period ``usage`` covers, in UTC, with an exclusive end.

    The service's ``end_date`` is the period's last moment (such as the last day at 23:59:59), so the end is the
    midnight that follows it; an ``end_date`` at midnight is already exclusive and kept. A missing ``start_date``
    counts as the first of ``now``'s month (UTC), and a missing ``end_date`` (or one not after the start) as the
    first of the month after the start. Raises :class:`~viam_billing.ValidationError` for a naive ``now``.

    >>> from datetime import datetime, timezone
    >>> usage = GetCurrentMonthUsageResponse(start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    ...                                      end_date=datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc))
    >>> billing_period(usage).end.isoformat()
    '2026-12-01T00:00:00+00:00'
    """
    if usage.start_date is not None:
        start = _utc(usage.start_date, "start_date")
    else:
        start = _now(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = _next_month(start)
    if usage.end_date is not None:
        last = _utc(usage.end_date, "end_date")
        exclusive = last if last.timetz() == time(tzinfo=timezone.utc) else _midnight_after(last)
        if exclusive > start:
            end = exclusive
    return BillingPeriod(start=start, end=end)


def _midnight_after(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), time(), tzinfo=timezone.utc)


@attrs.frozen(kw_only=True)
class Forecast:
    """A month-end forecast, with the figures it comes from (US dollars; amounts after discounts, before tax).

    ``actual`` is the service's subtotal so far and ``before_discounts``/``discounts`` the cost lines and the
    discounts (a positive amount) it is made of; ``rate_per_day`` is the run-rate (before discounts) and
    ``forecast`` the projected subtotal at ``period.end``, as of ``as_of``. See the module's notes for the method.
    """

    period: BillingPeriod
    as_of: datetime
    before_discounts: float
    discounts: float
    actual: float
    rate_per_day: float
    forecast: float
    method: str = "run-rate"

    @property
    def elapsed(self) -> timedelta:
        """How much of the period had passed at :attr:`as_of`."""
        return self.period.elapsed(self.as_of)

    @property
    def fraction_elapsed(self) -> float:
        """:attr:`elapsed` as a fraction of the period, from 0 to 1."""
        length = self.period.length.total_seconds()
        return self.elapsed.total_seconds() / length if length > 0 else 1.0

    @property
    def final(self) -> bool:
        """Whether the period had ended at :attr:`as_of` (the forecast is then the subtotal)."""
        return self.as_of >= self.period.end


def project(
    period: BillingPeriod,
    *,
    as_of: datetime,
    before_discounts: float,
    discounts: float,
    actual: float,
    min_elapsed: timedelta = MIN_ELAPSED,
) -> Forecast:
    """Project the period-end subtotal from figures taken at ``as_of`` (the run-rate of the module's notes).

    ``before_discounts`` is the cost of the usage lines so far, ``discounts`` the discounts granted so far (a
    positive amount) and ``actual`` the subtotal after them. Used by :func:`forecast_month_end`, and by anything
    holding these figures without the usage answer (a report from a history, summed over organizations).
    Raises :class:`~viam_billing.ValidationError` for a naive ``as_of`` or a negative ``min_elapsed``.

    >>> from datetime import datetime, timezone
    >>> november = BillingPeriod(start=datetime(2026, 11, 1, tzinfo=timezone.utc),
    ...                          end=datetime(2026, 12, 1, tzinfo=timezone.utc))
    >>> project(november, as_of=datetime(2026, 11, 16, tzinfo=timezone.utc),
    ...         before_discounts=150.0, discounts=10.0, actual=140.0).forecast      # 140 + 10/day for 15 days
    290.0
    """
    as_of = _utc(as_of, "as_of")
    if min_elapsed < timedelta(0):
        raise ValidationError(f"min_elapsed must not be negative, got {min_elapsed!r}", argument="min_elapsed")
    remaining = period.length - period.elapsed(as_of)
    basis = max(period.elapsed(as_of), min(min_elapsed, period.length))
    # Never negative: usage already incurred is not given back, so the forecast never drops below the subtotal.
    rate = max(before_discounts, 0.0) / basis.total_seconds() if basis > timedelta(0) else 0.0
    forecast = actual + rate * remaining.total_seconds()
    return Forecast(
        period=period,
        as_of=as_of,
        before_discounts=round(before_discounts, 2),
        discounts=round(discounts, 2),
        actual=round(actual, 2),
        rate_per_day=round(rate * 86_400, 2),
        forecast=round(forecast, 2),
    )


def usage_figures(usage: GetCurrentMonthUsageResponse) -> tuple[float, float]:
    """The sum of ``usage``'s cost lines and of its sources' discounts (a positive amount), unrounded."""
    lines = discounts = 0.0
    for source in usage.resource_usage_costs_by_source:
        costs = source.resource_usage_costs
        if costs is not None:
            lines += sum(line.cost for line in costs.usage_costs)
            discounts += costs.discount
    return lines, discounts


def forecast_month_end(
    usage: GetCurrentMonthUsageResponse, *, now: datetime | None = None, min_elapsed: timedelta = MIN_ELAPSED
) -> Forecast:
    """Project the month-end subtotal of ``usage`` (an organization's current-month usage) as of ``now``.

    ``now`` defaults to the current time; pass the time the usage was fetched for a forecast as of then. The
    period comes from :func:`billing_period`, the method is :func:`project`'s. Raises
    :class:`~viam_billing.ValidationError` for a naive ``now``.

    >>> usage = await billing.get_current_month_usage(org_id)                      # doctest: +SKIP
    >>> forecast = forecast_month_end(usage)                                       # doctest: +SKIP
    >>> print(f"{forecast.actual} so far, {forecast.forecast} by {forecast.period.end:%Y-%m-%d}")  # doctest: +SKIP
    """
    at = _now(now)
    before_discounts, discounts = usage_figures(usage)
    return project(
        billing_period(usage, now=at),
        as_of=at,
        before_discounts=before_discounts,
        discounts=discounts,
        actual=usage.subtotal,
        min_elapsed=min_elapsed,
    )


def _cents(amount: float) -> int:
    return round(amount * 100)


@attrs.frozen(kw_only=True)
class BudgetCheck:
    """One organization's budget, checked: ``amount`` (the forecast, or the subtotal so far, as ``on`` says)
    against ``limit``, with the :class:`Forecast` both come from."""

    org_id: str
    limit: float
    on: BudgetBasis
    amount: float
    forecast: Forecast

    @property
    def over(self) -> bool:
        """Whether the amount is above the limit, compared in whole cents. An amount that is not a finite number
        (a broken answer) counts as over: a budget check must not pass on garbage."""
        if not math.isfinite(self.amount):
            return True
        return _cents(self.amount) > _cents(self.limit)

    @property
    def used(self) -> float:
        """The amount as a fraction of the limit (1.0 is exactly at the limit; infinite for a limit of 0)."""
        if self.limit > 0:
            return self.amount / self.limit
        return 0.0 if self.amount <= 0 else math.inf


@attrs.frozen(kw_only=True)
class BudgetFailure:
    """An organization whose budget could not be checked: ``error`` is why (its usage could not be fetched)."""

    org_id: str
    limit: float
    error: BillingError


@attrs.frozen(kw_only=True)
class BudgetReport:
    """The budgets checked by :func:`check_budgets`, one result per budget asked for, in the order given."""

    results: tuple[BudgetCheck | BudgetFailure, ...]

    @property
    def checks(self) -> tuple[BudgetCheck, ...]:
        """The budgets that were checked."""
        return tuple(r for r in self.results if isinstance(r, BudgetCheck))

    @property
    def failures(self) -> tuple[BudgetFailure, ...]:
        """The budgets that could not be checked."""
        return tuple(r for r in self.results if isinstance(r, BudgetFailure))

    @property
    def over(self) -> tuple[BudgetCheck, ...]:
        """The budgets checked and found over their limit."""
        return tuple(check for check in self.checks if check.over)


def _limit(limit: float) -> float:
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit) or limit < 0:
        raise ValidationError(f"limit must be a finite amount of 0 or more, got {limit!r}", argument="limit")
    return float(limit)


def _org_id(org_id: str) -> str:
    if not isinstance(org_id, str) or not org_id.strip():
        raise ValidationError(f"org_id must be a non-empty string, got {org_id!r}", argument="org_id")
    return org_id


def _basis(on: str) -> BudgetBasis:
    for basis in BUDGET_BASES:
        if on == basis:
            return basis
    raise ValidationError(f"on must be one of {', '.join(BUDGET_BASES)}, got {on!r}", argument="on")


def check_budget(
    usage: GetCurrentMonthUsageResponse,
    limit: float,
    *,
    org_id: str = "",
    on: BudgetBasis = "forecast",
    now: datetime | None = None,
) -> BudgetCheck:
    """Check one organization's usage against ``limit`` (US dollars), on its forecast or its subtotal so far.

    Raises :class:`~viam_billing.ValidationError` for a limit that is negative or not a finite number, an
    ``on`` other than ``"forecast"`` or ``"actual"``, or a naive ``now``.

    >>> check = check_budget(usage, 500.0, org_id=org_id)                          # doctest: +SKIP
    >>> check.over, check.amount, check.forecast.actual                            # doctest: +SKIP
    (False, 312.4, 141.08)
    """
    limit, basis = _limit(limit), _basis(on)
    forecast = forecast_month_end(usage, now=now)
    amount = forecast.forecast if basis == "forecast" else forecast.actual
    return BudgetCheck(org_id=org_id, limit=limit, on=basis, amount=amount, forecast=forecast)


async def check_budgets(
    billing: BillingClient,
    budgets: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    on: BudgetBasis = "forecast",
    now: datetime | None = None,
    timeout: float | None = None,
) -> BudgetReport:
    """Fetch each organization's current-month usage and check it against its limit.

    ``budgets`` maps organization ids to limits in US dollars, or is a sequence of ``(org_id, limit)`` pairs (an
    organization may appear twice, say with a warning and a hard limit; its usage is fetched once). Every
    argument is checked before anything is fetched. An organization whose usage cannot be fetched is a
    :class:`BudgetFailure` carrying the error, and the others are still checked. ``now`` fixes the clock of every
    forecast (default: the time of the checks, once every usage has arrived). Works under asyncio and trio.

    >>> report = await check_budgets(billing, {org_a: 500.0, org_b: 2_000.0}, on="forecast")  # doctest: +SKIP
    >>> [(check.org_id, check.over) for check in report.checks]                              # doctest: +SKIP
    """
    pairs = list(budgets.items() if isinstance(budgets, Mapping) else budgets)
    wanted = [(_org_id(org_id), _limit(limit)) for org_id, limit in pairs]
    basis = _basis(on)
    fixed = None if now is None else _utc(now, "now")
    fetched: dict[str, GetCurrentMonthUsageResponse | BillingError] = {}
    for org_id, _ in wanted:
        if org_id not in fetched:
            try:
                fetched[org_id] = await billing.get_current_month_usage(org_id, timeout=timeout)
            except BillingError as exc:  # this organization is reported as not checked; the others go on
                fetched[org_id] = exc
    results: list[BudgetCheck | BudgetFailure] = []
    for org_id, limit in wanted:
        usage = fetched[org_id]
        if isinstance(usage, BillingError):
            results.append(BudgetFailure(org_id=org_id, limit=limit, error=usage))
        else:
            results.append(check_budget(usage, limit, org_id=org_id, on=basis, now=fixed))
    return BudgetReport(results=tuple(results))
