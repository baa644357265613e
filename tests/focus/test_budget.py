"""Budgets: the library (check_budget, check_budgets) and ``viam-billing budget``, which must give the same answer."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import viam_billing as vb
from viam_billing.finops import BudgetCheck, BudgetFailure, check_budget, check_budgets
from viam_billing_grpc.emulator import ACME_ORG_ID, FOREIGN_ORG_ID, GLOBEX_ORG_ID, INITECH_ORG_ID, Emulator

from .conftest import T, command_line, org_usage

MID_NOVEMBER = datetime(2026, 11, 16, tzinfo=timezone.utc)
USAGE = org_usage([(T.USAGE_COST_TYPE_STANDARD_COMPUTE, 150.0)], 10.0)  # $140 so far; $290 forecast mid-month

# The emulator's figures (see viam_billing_grpc.emulator): subtotals after discounts, and the lines before them.
ACME_SUBTOTAL, ACME_LINES = 160.03, 171.33
INITECH_SUBTOTAL = 0.12


# --- one organization ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "on", "over"),
    [(290.0, "forecast", False), (289.99, "forecast", True), (140.0, "actual", False), (139.99, "actual", True)],
)
def test_over_means_above_the_limit_in_cents(limit, on, over):
    check = check_budget(USAGE, limit, org_id="org-1", on=on, now=MID_NOVEMBER)
    assert check.over is over
    assert check.amount == (290.0 if on == "forecast" else 140.0)
    assert (check.org_id, check.limit, check.on) == ("org-1", limit, on)
    assert check.forecast.forecast == 290.0


def test_the_default_is_the_forecast():
    assert check_budget(USAGE, 200.0, now=MID_NOVEMBER).on == "forecast"


def test_used_is_the_share_of_the_limit():
    assert check_budget(USAGE, 580.0, now=MID_NOVEMBER).used == pytest.approx(0.5)
    assert check_budget(USAGE, 0.0, now=MID_NOVEMBER).used == math.inf
    assert check_budget(org_usage([]), 0.0, now=MID_NOVEMBER).used == 0.0


def test_an_amount_that_is_not_a_number_is_over_budget():
    broken = org_usage([(T.USAGE_COST_TYPE_STANDARD_COMPUTE, 1.0)], subtotal=math.nan)
    assert check_budget(broken, 1e9, on="actual", now=MID_NOVEMBER).over


@pytest.mark.parametrize("limit", [-0.01, math.nan, math.inf, True, "100"])
def test_a_bad_limit_is_refused(limit):
    with pytest.raises(vb.ValidationError) as raised:
        check_budget(USAGE, limit, now=MID_NOVEMBER)
    assert raised.value.argument == "limit"


def test_a_bad_basis_is_refused():
    with pytest.raises(vb.ValidationError, match="forecast, actual") as raised:
        check_budget(USAGE, 1.0, on="estimate", now=MID_NOVEMBER)  # type: ignore[arg-type]
    assert raised.value.argument == "on"


# --- many organizations, fetched -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_check_budgets_fetches_each_organization_once_and_keeps_the_order():
    def handler(operation: vb.Operation[Any, Any], request: Any) -> Any:
        if request.org_id == "org-gone":
            raise vb.NotFoundError("no such organization", operation=operation.name)
        return USAGE

    transport = vb.MockTransport(handler)
    async with vb.BillingClient(transport) as billing:
        report = await check_budgets(billing, [("org-a", 300.0), ("org-gone", 5.0), ("org-a", 250.0)], now=MID_NOVEMBER)
    assert [request.org_id for _, request in transport.calls] == ["org-a", "org-gone"]
    first, gone, second = report.results
    assert isinstance(first, BudgetCheck)
    assert isinstance(second, BudgetCheck)
    assert (first.over, second.over) == (False, True)
    assert isinstance(gone, BudgetFailure)
    assert isinstance(gone.error, vb.NotFoundError)
    assert (gone.org_id, gone.limit) == ("org-gone", 5.0)
    assert report.over == (second,)
    assert report.checks == (first, second)
    assert report.failures == (gone,)


@pytest.mark.anyio
async def test_check_budgets_takes_a_mapping_and_checks_arguments_before_fetching():
    transport = vb.MockTransport(lambda operation, request: USAGE)
    async with vb.BillingClient(transport) as billing:
        report = await check_budgets(billing, {"org-a": 300.0, "org-b": 100.0}, on="actual", now=MID_NOVEMBER)
        assert [(c.org_id, c.over) for c in report.checks] == [("org-a", False), ("org-b", True)]
        calls = len(transport.calls)
        with pytest.raises(vb.ValidationError):
            await check_budgets(billing, {"org-a": 300.0, "org-b": -1.0})
        with pytest.raises(vb.ValidationError, match="org_id must be a non-empty string"):
            await check_budgets(billing, [("org-a", 300.0), ("", 1.0)])
        with pytest.raises(vb.ValidationError):
            await check_budgets(billing, {"org-a": 300.0}, on="bogus")  # type: ignore[arg-type]
    assert len(transport.calls) == calls


@pytest.mark.anyio
async def test_check_budgets_against_the_emulator_answers_as_check_budget_does():
    async with Emulator(now=MID_NOVEMBER) as emulator, vb.connect(**emulator.connect_options()) as billing:
        report = await check_budgets(billing, {ACME_ORG_ID: 200.0, FOREIGN_ORG_ID: 1.0}, now=MID_NOVEMBER)
        usage = await billing.get_current_month_usage(ACME_ORG_ID)
    (acme,), (foreign,) = report.checks, report.failures
    assert acme == check_budget(usage, 200.0, org_id=ACME_ORG_ID, now=MID_NOVEMBER)
    assert acme.forecast.actual == ACME_SUBTOTAL
    assert acme.forecast.forecast == round(ACME_SUBTOTAL + ACME_LINES, 2)  # 15 days gone, as many to go
    assert acme.over
    assert isinstance(foreign.error, vb.PermissionDeniedError)


# --- the command -----------------------------------------------------------------------------------------------------


def test_every_organization_within_exits_0_with_one_line_each(cli):
    code, out, err = cli("budget", "--org", ACME_ORG_ID, "--limit", "1000000", "--org", INITECH_ORG_ID, "--limit", "5")
    assert code == 0, err
    assert out == ""
    lines = err.splitlines()
    assert [line.split()[:2] for line in lines] == [["within", f"{ACME_ORG_ID}:"], ["within", f"{INITECH_ORG_ID}:"]]
    assert lines[1].startswith(f"within  {INITECH_ORG_ID}: forecast $")
    assert "is within the limit $5.00" in lines[1]
    assert f"${INITECH_SUBTOTAL:.2f} so far" in lines[1]


def test_any_organization_over_exits_6(cli):
    code, out, err = cli("budget", "--org", ACME_ORG_ID, "--limit", "1000000", "--org", GLOBEX_ORG_ID, "--limit", "1")
    assert code == 6
    assert out == ""
    acme, globex = err.splitlines()
    assert acme.startswith("within  ")
    assert globex.startswith(f"OVER    {GLOBEX_ORG_ID}: forecast $")
    assert "is above the limit $1.00" in globex


def test_on_actual_compares_the_subtotal_so_far(cli):
    code, _, err = cli("budget", "--org", ACME_ORG_ID, "--limit", f"{ACME_SUBTOTAL}", "--on", "actual")
    assert code == 0, err
    assert err.startswith(f"within  {ACME_ORG_ID}: so far ${ACME_SUBTOTAL} is within the limit ${ACME_SUBTOTAL} (100%)")
    code, _, err = cli("budget", "--org", ACME_ORG_ID, "--limit", f"{ACME_SUBTOTAL - 0.01:.2f}", "--on", "actual")
    assert code == 6
    assert err.startswith("OVER")


def test_one_limit_applies_to_every_organization(cli):
    # Initech's $0.12 so far never forecasts above $5 (at most 31 days of it); Acme's $160.03 always does.
    code, _, err = cli("budget", "--org", ACME_ORG_ID, "--org", INITECH_ORG_ID, "--limit", "5")
    assert code == 6
    assert [line.split()[0] for line in err.splitlines()] == ["OVER", "within"]


def test_json_on_stdout_gives_the_librarys_answer(monkeypatch, tmp_path, capsys):
    """The emulator's month lies ahead of the wall clock, so no time has elapsed for either side: the forecast is
    the same to the cent whenever each computes it, and the command's JSON must match check_budgets exactly."""
    from anyio.from_thread import start_blocking_portal
    from viam_billing_cli import main

    ahead = datetime.now(timezone.utc).replace(day=1) + timedelta(days=400)
    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(Emulator(now=ahead)) as emu:
        monkeypatch.setenv("VIAM_API_KEY", emu.api_key)
        monkeypatch.setenv("VIAM_API_KEY_ID", emu.api_key_id)
        monkeypatch.chdir(tmp_path)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--address", emu.address, "--insecure", "budget", "-f", "json",
                  "--org", ACME_ORG_ID, "--limit", "200", "--org", INITECH_ORG_ID, "--limit", "200"])  # fmt: skip
        out = capsys.readouterr().out

        async def library() -> Any:
            async with vb.connect(**emu.connect_options()) as billing:
                return await check_budgets(billing, [(ACME_ORG_ID, 200.0), (INITECH_ORG_ID, 200.0)])

        expected = portal.call(library)
    assert exited.value.code == 6
    data = json.loads(out)
    assert (data["on"], data["over"], data["checked"], data["not_checked"]) == ("forecast", True, 2, 0)
    for entry, check in zip(data["budgets"], expected.checks, strict=True):
        assert entry["org_id"] == check.org_id
        assert (entry["amount"], entry["over"], entry["limit"]) == (check.amount, check.over, check.limit)
        assert (entry["actual"], entry["forecast"]) == (check.forecast.actual, check.forecast.forecast)
        assert entry["fraction_elapsed"] == 0.0
        assert entry["method"] == "run-rate"
    acme = data["budgets"][0]
    # Nothing elapsed: the lines so far count as one day's usage, continued over the whole month.
    start, end = (datetime.fromisoformat(acme[name]) for name in ("period_start", "period_end"))
    assert acme["actual"] == ACME_SUBTOTAL
    assert acme["forecast"] == round(ACME_SUBTOTAL + ACME_LINES * (end - start).days, 2)


def test_an_organization_that_cannot_be_checked_fails_with_its_error_after_the_others(cli):
    code, out, err = cli("budget", "-f", "json", "--org", ACME_ORG_ID, "--org", FOREIGN_ORG_ID, "--limit", "1e9")
    assert code == 3  # PERMISSION_DENIED, as for every command
    acme, foreign, error = err.splitlines()
    assert acme.startswith(f"within  {ACME_ORG_ID}")
    assert foreign == f"ERROR   {FOREIGN_ORG_ID}: not checked against $1,000,000,000.00 " + (
        "(PERMISSION_DENIED; see the error below)"
    )
    assert error.startswith("error: GetCurrentMonthUsage: PERMISSION_DENIED")
    data = json.loads(out)
    assert [entry["checked"] for entry in data["budgets"]] == [True, False]
    assert data["budgets"][1]["code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "a", "--org", "b", "--limit", "1", "--limit", "2", "--limit", "3"], "2 organization(s) but 3"),
        (["--limit", "5"], "no organization"),
        (["--org", "a", "--limit", "-5"], "must be at least $0.00"),
        (["--org", "a", "--limit", "1.001"], "whole cents"),
        (["--org", "a"], "Missing option '--limit'"),
        (["--org", "a", "--limit", "5", "--on", "tomorrow"], "'tomorrow' is not one of"),
    ],
)
def test_bad_arguments_exit_2_before_anything_is_sent(cli, emulator, args, message):
    code, out, err = cli("budget", *args)
    assert code == 2
    assert message in err
    assert out == ""
    assert emulator.received["GetCurrentMonthUsage"] == 0


def test_the_primary_organization_is_the_default(cli, monkeypatch):
    monkeypatch.setenv("VIAM_PRIMARY_ORG_ID", INITECH_ORG_ID)
    code, _, err = cli("budget", "--limit", "5")
    assert code == 0
    assert err.startswith(f"within  {INITECH_ORG_ID}:")


def test_the_real_command_in_its_own_process(process_env, tmp_path):
    done = subprocess.run(
        command_line("--insecure", "budget", "--org", GLOBEX_ORG_ID, "--limit", "10", "-f", "json"),
        env=process_env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert done.stderr.startswith(f"OVER    {GLOBEX_ORG_ID}: forecast $")
    assert json.loads(done.stdout)["budgets"][0]["over"] is True
