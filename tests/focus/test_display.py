"""The forecast where people read figures: ``usage`` and ``report`` show it beside them, labelled as an estimate."""

from __future__ import annotations

from datetime import datetime, timezone

from viam_billing.finops import forecast_month_end
from viam_billing_cli._finops import forecast_note, month_forecast
from viam_billing_grpc.emulator import ACME_ORG_ID
from viam_billing_sinks import MonthlyUsage

from .conftest import T, org_usage


def november(partial: bool, as_of: str = "2026-11-16T00:00:00Z") -> MonthlyUsage:
    return MonthlyUsage(month="2026-11", before_discounts=150.0, discounts=10.0, subtotal=140.0, partial=partial,
                        as_of=as_of, organizations=2)  # fmt: skip


def test_a_month_exported_before_it_ended_gets_a_run_rate_forecast():
    forecast = month_forecast(november(partial=True))
    assert forecast is not None
    assert (forecast.actual, forecast.rate_per_day, forecast.forecast) == (140.0, 10.0, 290.0)
    assert forecast.period.start == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert forecast.period.end == datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_a_month_seen_whole_gets_none():
    assert month_forecast(november(partial=False, as_of="2026-12-02T00:00:00Z")) is None


def test_the_note_says_estimate_and_the_figures_it_comes_from():
    usage = org_usage([(T.USAGE_COST_TYPE_STANDARD_COMPUTE, 150.0)], 10.0)
    note = forecast_note(forecast_month_end(usage, now=datetime(2026, 11, 16, tzinfo=timezone.utc)))
    assert note == (
        "Forecast for the month (run-rate estimate, not a bill): $290.00 by the end of 2026-11-30, from $140.00 so "
        "far after discounts over 15.0 of 30.0 days ($10.00/day before discounts; discounts so far, $10.00, are not "
        "extrapolated)."
    )
    ended = forecast_note(forecast_month_end(usage, now=datetime(2026, 12, 3, tzinfo=timezone.utc)))
    assert ended == "The period ended with 2026-11-30: its subtotal is $140.00, no forecast."


def test_usage_shows_the_forecast_under_the_subtotal(cli):
    code, out, err = cli("usage", ACME_ORG_ID)
    assert code == 0, err
    lines = out.splitlines()
    subtotal = next(i for i, line in enumerate(lines) if "subtotal after discounts" in line)
    assert "forecast for the month (estimate)" in lines[subtotal + 1]
    assert "Forecast for the month (run-rate estimate, not a bill)" in " ".join(out.split())


def test_usage_as_json_stays_the_services_answer(cli):
    code, out, _ = cli("usage", ACME_ORG_ID, "-f", "json")
    assert code == 0
    assert "forecast" not in out.lower()


def test_report_shows_the_forecast_of_a_month_exported_before_it_ended(cli):
    assert cli("export", "--org", ACME_ORG_ID, "--sink", "sqlite:h.db")[0] == 0
    code, out, err = cli("report", "--db", "h.db", "--no-chart")
    assert code == 0, err
    lines = out.splitlines()
    subtotal = next(i for i, line in enumerate(lines) if line.startswith("subtotal after discounts"))
    assert lines[subtotal + 1].startswith("forecast for the month (estimate)")
    assert "$" in lines[subtotal + 1]
    assert "An estimate, not a bill." in " ".join(out.split())
