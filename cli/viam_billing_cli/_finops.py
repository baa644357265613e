"""``budget``: organizations' month-end forecasts (or usage so far) against limits, for people, cron and CI; and
the forecast as ``usage`` and ``report`` show it.

Standard error gets one line per budget; ``-f json`` puts the same results on standard output for programs. The
exit status says whether every organization is within its limit (0) or any is over (6).
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from viam_billing import StatusError
from viam_billing.finops import (
    BUDGET_BASES,
    BillingPeriod,
    BudgetBasis,
    BudgetCheck,
    BudgetFailure,
    BudgetReport,
    Forecast,
    check_budgets,
    project,
)
from viam_billing.plugin import decode_time, encode_time
from viam_billing_sinks import MonthlyUsage, to_json

from ._app import ENV_PRIMARY_ORG, EXIT_OVER_BUDGET, EXIT_USAGE, Settings, cli, fail, pass_settings
from ._params import AMOUNT, ID
from ._render import money

__all__ = ["budget", "budget_data", "budget_line", "forecast_note", "month_forecast"]
"""The exit status of ``budget`` when any organization is over its limit."""


def _days(seconds: float) -> str:
    return f"{seconds / 86_400:.1f}"


def forecast_note(forecast: Forecast) -> str:
    """One sentence presenting ``forecast`` as the estimate it is, with the figures it comes from."""
    last_day = forecast.period.end - timedelta(microseconds=1)
    if forecast.final:
        return f"The period ended with {last_day:%Y-%m-%d}: its subtotal is {money(forecast.actual)}, no forecast."
    return (
        f"Forecast for the month (run-rate estimate, not a bill): {money(forecast.forecast)} by the end of "
        f"{last_day:%Y-%m-%d}, from {money(forecast.actual)} so far after discounts over "
        f"{_days(forecast.elapsed.total_seconds())} of {_days(forecast.period.length.total_seconds())} days "
        f"({money(forecast.rate_per_day)}/day before discounts; discounts so far, {money(forecast.discounts)}, "
        "are not extrapolated)."
    )


def month_forecast(usage: MonthlyUsage) -> Forecast | None:
    """The month-end forecast of a month of the history that was exported before it ended (``None`` for a month
    seen whole): the run-rate of its figures summed over the organizations, as of the latest export, over the
    calendar month (UTC) the history files them under."""
    if not usage.partial:
        return None
    start = datetime.strptime(usage.month, "%Y-%m").replace(tzinfo=timezone.utc)
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return project(
        BillingPeriod(start=start, end=end),
        as_of=decode_time(usage.as_of, "as_of"),
        before_discounts=usage.before_discounts,
        discounts=usage.discounts,
        actual=usage.subtotal,
    )


def budget_line(result: BudgetCheck | BudgetFailure) -> str:
    """The stderr line of one budget: ``within``, ``OVER`` or ``ERROR``, the organization, the figures."""
    if isinstance(result, BudgetFailure):
        error = result.error
        why = error.code.name if isinstance(error, StatusError) else type(error).__name__
        return f"ERROR   {result.org_id}: not checked against {money(result.limit)} ({why}; see the error below)"
    forecast = result.forecast
    verdict = "is above" if result.over else "is within"
    used = "a limit of zero" if result.limit == 0 else f"{result.used:.0%}"
    # The figure compared first, then the other one, so both are always on the line.
    if result.on == "forecast":
        compared, other = f"forecast {money(forecast.forecast)}", f"{money(forecast.actual)} so far"
    else:
        compared, other = f"so far {money(forecast.actual)}", f"forecast {money(forecast.forecast)}"
    return (
        f"{'OVER  ' if result.over else 'within'}  {result.org_id}: {compared} {verdict} the limit "
        f"{money(result.limit)} ({used}); {other}, day {_days(forecast.elapsed.total_seconds())} of "
        f"{_days(forecast.period.length.total_seconds())}"
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def budget_data(report: BudgetReport, on: BudgetBasis) -> dict[str, Any]:
    """The JSON ``budget -f json`` prints: every budget asked for, in order, checked or not."""
    entries: list[dict[str, Any]] = []
    for result in report.results:
        if isinstance(result, BudgetFailure):
            error = result.error
            entries.append({
                "org_id": result.org_id,
                "limit": result.limit,
                "checked": False,
                "error": str(error),
                "code": error.code.name if isinstance(error, StatusError) else None,
            })  # fmt: skip
            continue
        forecast = result.forecast
        entries.append({
            "org_id": result.org_id,
            "limit": result.limit,
            "checked": True,
            "on": result.on,
            "amount": result.amount,
            "over": result.over,
            "used": _finite(result.used),
            "actual": forecast.actual,
            "forecast": forecast.forecast,
            "before_discounts": forecast.before_discounts,
            "discounts": forecast.discounts,
            "rate_per_day": forecast.rate_per_day,
            "method": forecast.method,
            "period_start": encode_time(forecast.period.start),
            "period_end": encode_time(forecast.period.end),
            "as_of": encode_time(forecast.as_of),
            "fraction_elapsed": round(forecast.fraction_elapsed, 4),
        })  # fmt: skip
    return {
        "on": on,
        "over": bool(report.over),
        "checked": len(report.checks),
        "not_checked": len(report.failures),
        "budgets": entries,
    }


_EPILOG = f"""\b
Exit status: 0 every organization is within its limit; {EXIT_OVER_BUDGET} at least one is over; otherwise the
codes of every command (2 usage, 3 authentication, 4 service error, 5 unreachable, ...): an organization that
could not be checked makes the run fail with its error, after the others were checked and shown.

\b
For cron and CI (standard error carries the lines, standard output only the JSON of -f json):
  viam-billing budget --org ORG_A --limit 500 --org ORG_B --limit 2000 || notify-team
  viam-billing budget --org ORG --limit 500 --on actual -f json > budget.json
"""


@cli.command(epilog=_EPILOG)
@click.option(
    "--org",
    "org_ids",
    multiple=True,
    type=ID,
    metavar="ORG_ID",
    help=f"An organization to check; repeat for several (default: ${ENV_PRIMARY_ORG}).",
)
@click.option(
    "--limit",
    "limits",
    multiple=True,
    required=True,
    type=AMOUNT,
    metavar="AMOUNT",
    help="Its limit in US dollars; repeat once per --org, in the same order (one --limit applies to every --org).",
)
@click.option(
    "--on",
    type=click.Choice(BUDGET_BASES),
    default="forecast",
    show_default=True,
    help="Compare the limit with the month-end forecast (run-rate) or with the subtotal so far.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: the lines on stderr only; json: also the results as JSON on stdout.",
)
@pass_settings
def budget(settings: Settings, org_ids: tuple[str, ...], limits: tuple[float, ...], on: BudgetBasis, fmt: str) -> None:
    """Check organizations' spending against limits: the month-end forecast (default) or the subtotal so far,
    after discounts, before tax. One line per organization on stderr; the exit status tells over from within.

    The forecast is a run-rate: the cost so far over the time elapsed, continued to the end of the month, with
    discounts not extrapolated (viam_billing.finops documents it). The library's check_budgets gives the same
    answer.
    """
    chosen = list(org_ids) or [org for org in [os.environ.get(ENV_PRIMARY_ORG, "").strip()] if org]
    if not chosen:
        fail(f"no organization: pass --org ORG_ID --limit AMOUNT (repeatable) or set {ENV_PRIMARY_ORG}", EXIT_USAGE)
    if len(limits) == 1:
        limits = limits * len(chosen)
    if len(limits) != len(chosen):
        fail(f"{len(chosen)} organization(s) but {len(limits)} --limit values: give one --limit per --org, in the "
             "same order, or a single --limit for all", EXIT_USAGE)  # fmt: skip
    client = settings.connect()

    async def go() -> BudgetReport:
        async with client:
            return await check_budgets(client, list(zip(chosen, limits, strict=True)), on=on)

    report = settings.run(go)
    for result in report.results:
        click.echo(budget_line(result), err=True)
    if fmt == "json":
        click.echo(to_json(budget_data(report, on), indent=2))
    if report.failures:
        raise report.failures[0].error  # its own exit status and message, as for every command
    if report.over:
        raise SystemExit(EXIT_OVER_BUDGET)
