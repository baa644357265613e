"""Month-end forecasts (viam_billing.finops) with fixed clocks: the period, the run-rate, discounts, the bounds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import viam_billing as vb
from viam_billing.finops import MIN_ELAPSED, BillingPeriod, billing_period, forecast_month_end, project

from .conftest import NOV_1, T, make_usage, org_usage

DEC_1 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=timezone.utc)


# --- the period ------------------------------------------------------------------------------------------------------


def test_the_services_last_second_ends_the_period_at_the_following_midnight():
    period = billing_period(org_usage([]))
    assert (period.start, period.end) == (NOV_1, DEC_1)
    assert period.length == timedelta(days=30)


def test_an_end_date_at_midnight_is_already_exclusive():
    assert billing_period(org_usage([], end=DEC_1)).end == DEC_1


def test_missing_dates_fall_back_to_the_calendar_month():
    assert billing_period(org_usage([], end=None)) == BillingPeriod(start=NOV_1, end=DEC_1)
    # No start either: the month of `now`, in UTC, even when `now` is given in another zone.
    late_evening = datetime(2026, 11, 30, 20, tzinfo=timezone(timedelta(hours=-8)))  # December 1st, 04:00 UTC
    assert billing_period(org_usage([], start=None, end=None), now=late_evening) == BillingPeriod(
        start=DEC_1, end=datetime(2027, 1, 1, tzinfo=timezone.utc)
    )


def test_an_end_before_the_start_is_ignored():
    assert billing_period(org_usage([], end=datetime(2026, 10, 5, tzinfo=timezone.utc))).end == DEC_1


# --- the run-rate at fixed clocks ------------------------------------------------------------------------------------


def test_mid_month_continues_the_rate_so_far_to_the_end():
    """Half of November gone, $150 of usage and a $10 discount: $10 a day for 15 more days on top of $140."""
    usage = org_usage([(T.USAGE_COST_TYPE_STANDARD_COMPUTE, 100.0), (T.USAGE_COST_TYPE_PER_MACHINE, 50.0)], 10.0)
    forecast = forecast_month_end(usage, now=at(16))
    assert forecast.actual == 140.0
    assert (forecast.before_discounts, forecast.discounts) == (150.0, 10.0)
    assert forecast.rate_per_day == 10.0
    assert forecast.forecast == 290.0
    assert forecast.fraction_elapsed == pytest.approx(0.5)
    assert not forecast.final
    assert forecast.method == "run-rate"


def test_at_the_start_of_the_month_the_rate_is_measured_over_at_least_a_day():
    """At midnight on the 1st nothing has elapsed: the $12 already there count as one day's usage, so the month
    projects to 30 days of it instead of dividing by zero or by a few seconds."""
    usage = org_usage([(T.USAGE_COST_TYPE_PER_MACHINE, 12.0)])
    at_start = forecast_month_end(usage, now=NOV_1)
    assert at_start.rate_per_day == 12.0
    assert at_start.forecast == 12.0 + 12.0 * 30
    one_hour_in = forecast_month_end(usage, now=NOV_1 + timedelta(hours=1))
    assert one_hour_in.forecast == round(12.0 + 12.0 * (30 - 1 / 24), 2)  # still one day's rate, not 24 days'
    assert one_hour_in.forecast < at_start.forecast
    assert timedelta(days=1) == MIN_ELAPSED


def test_on_the_last_day_only_the_hours_left_are_added():
    usage = org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, 295.0)])
    forecast = forecast_month_end(usage, now=at(30, 12))  # 29.5 days gone, $10 a day
    assert forecast.rate_per_day == 10.0
    assert forecast.forecast == 300.0
    assert forecast.elapsed == timedelta(days=29, hours=12)


def test_after_the_period_the_forecast_is_the_subtotal():
    usage = org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, 295.0)], 5.0)
    forecast = forecast_month_end(usage, now=DEC_1 + timedelta(days=2))
    assert forecast.final
    assert forecast.forecast == forecast.actual == 290.0
    assert forecast.fraction_elapsed == 1.0


@pytest.mark.parametrize("now", [NOV_1, at(16), at(30, 23), DEC_1])
def test_a_month_without_usage_forecasts_zero(now):
    for usage in (make_usage([]), org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, 0.0)])):
        forecast = forecast_month_end(usage, now=now)
        assert (forecast.actual, forecast.rate_per_day, forecast.forecast) == (0.0, 0.0, 0.0)


# --- discounts and the bounds ----------------------------------------------------------------------------------------


def test_discounts_are_kept_as_they_are_not_extrapolated():
    """The same usage with and without a $40 discount: the forecasts differ by the $40 granted, not by $40 per
    half month."""
    lines = [(T.USAGE_COST_TYPE_STANDARD_COMPUTE, 150.0)]
    plain = forecast_month_end(org_usage(lines), now=at(16))
    discounted = forecast_month_end(org_usage(lines, 40.0), now=at(16))
    assert plain.forecast - discounted.forecast == pytest.approx(40.0)
    assert discounted.forecast == 110.0 + 150.0


def test_the_forecast_is_never_below_the_subtotal():
    """A negative line (a credit) gives a negative rate, which is not continued: usage is never given back."""
    usage = org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, 30.0), (T.USAGE_COST_TYPE_STANDARD_COMPUTE, -50.0)])
    forecast = forecast_month_end(usage, now=at(10))
    assert forecast.actual == -20.0
    assert forecast.rate_per_day == 0.0
    assert forecast.forecast == -20.0


def test_the_services_subtotal_is_the_base_even_when_it_is_not_lines_minus_discounts():
    usage = org_usage([(T.USAGE_COST_TYPE_STANDARD_COMPUTE, 150.0)], subtotal=99.0)
    assert forecast_month_end(usage, now=at(16)).forecast == 99.0 + 150.0


def test_project_works_from_figures_alone():
    period = BillingPeriod(start=NOV_1, end=DEC_1)
    forecast = project(period, as_of=at(11), before_discounts=100.0, discounts=0.0, actual=100.0)
    assert forecast.forecast == 100.0 + 10.0 * 20
    assert project(period, as_of=at(11), before_discounts=100.0, discounts=0.0, actual=100.0,
                   min_elapsed=timedelta(days=20)).forecast == 100.0 + 5.0 * 20  # fmt: skip


def test_the_clock_must_be_timezone_aware():
    with pytest.raises(vb.ValidationError) as raised:
        forecast_month_end(org_usage([]), now=datetime(2026, 11, 16))  # naive: the point of the test
    assert raised.value.argument == "now"
    assert "timezone-aware" in str(raised.value)


def test_without_a_clock_the_forecast_is_as_of_now():
    before = datetime.now(timezone.utc)
    forecast = forecast_month_end(org_usage([], start=None, end=None))
    assert before <= forecast.as_of <= datetime.now(timezone.utc)
    assert forecast.period.start <= forecast.as_of < forecast.period.end


def test_finops_is_not_loaded_by_importing_the_package():
    import subprocess
    import sys

    code = "import sys, viam_billing; print('viam_billing.finops' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_naive_figures_in_the_usage_are_not_accepted_silently():
    # Models always hold aware times; a hand-made naive one is refused, naming the field.
    usage = org_usage([], start=datetime(2026, 11, 1))
    with pytest.raises(vb.ValidationError) as raised:
        billing_period(usage)
    assert raised.value.argument == "start_date"
