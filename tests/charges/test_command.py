"""``viam-billing charge-plan`` end to end against the emulator: in-process, and in real processes killed with
SIGKILL between sending a charge and recording its outcome."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from anyio.from_thread import start_blocking_portal
from viam_billing.charges import Journal, LineState
from viam_billing_cli import main
from viam_billing_grpc.emulator import ACME_ORG_ID, FOREIGN_ORG_ID, Emulator

from .conftest import THREE, plan_text

CHARGE = "ChargeOrganization"
TOTAL = "$191.15"  # THREE: 129.60 + 50.00 + 11.55


@pytest.fixture
def emulator():
    """An emulator on loopback, served from an event loop in a thread, so that commands can run here."""
    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(Emulator()) as running:
        yield running


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text(plan_text(THREE))
    return path


@pytest.fixture
def cli(monkeypatch, capsys, emulator, tmp_path) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args)``: viam-billing in this process, in tmp_path, against the emulator; (exit status, out, err)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VIAM_API_KEY", emulator.api_key)
    monkeypatch.setenv("VIAM_API_KEY_ID", emulator.api_key_id)

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--address", emulator.address, "--insecure", *args])
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    return invoke


@pytest.fixture
def spawn(emulator, tmp_path) -> Callable[..., subprocess.Popen[str]]:
    """``spawn(*args)``: viam-billing in a process of its own, in tmp_path, against the emulator."""
    env = {**os.environ, "VIAM_API_KEY": emulator.api_key, "VIAM_API_KEY_ID": emulator.api_key_id, "COLUMNS": "200"}
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "viam_billing_cli", "--address", emulator.address, "--insecure", *args]
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_until(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def states(path) -> list[str]:
    with Journal(path, read_only=True) as journal:
        return [entry.state for entry in journal.entries()]


def test_dry_run_sends_nothing_and_shows_what_would_be_charged_with_the_total(cli, emulator, plan, tmp_path):
    code, out, err = cli("charge-plan", "plan.csv", "--dry-run")
    assert code == 0, err
    assert out.count("would charge") == 4  # three lines and the summary
    assert f"line 2  {ACME_ORG_ID}  $129.60  would charge" in out
    assert f"Dry run, nothing sent: would charge 3 lines ({TOTAL})." in out
    assert sum(emulator.received.values()) == 0  # not even a connection
    assert not (tmp_path / "viam-billing-charges.db").exists()


def test_without_yes_and_without_a_terminal_nothing_is_charged(cli, emulator, plan):
    code, out, err = cli("charge-plan", "plan.csv")
    assert code == 2
    assert f"This will charge 3 lines, {TOTAL} in total." in out
    assert "not confirmed: run it on a terminal to be asked, or pass --yes" in err
    assert emulator.received[CHARGE] == 0


def test_charged_line_by_line_then_a_rerun_says_already_charged(cli, emulator, plan):
    code, out, err = cli("charge-plan", "plan.csv", "--yes")
    assert code == 0, err
    invoices = [charge.invoice_id for charge in emulator.charges]
    assert f"line 2  {ACME_ORG_ID}  $129.60  charged: invoice {invoices[0]}" in out
    assert f"Summary: charged 3 lines ({TOTAL})." in out

    code, out, err = cli("--backend", "trio", "charge-plan", "plan.csv", "--yes")
    assert code == 0, err
    assert f"line 2  {ACME_ORG_ID}  $129.60  already charged: invoice {invoices[0]}, recorded" in out
    assert f"Nothing to charge: already charged 3 lines ({TOTAL})." in out
    assert emulator.received[CHARGE] == 3


def test_a_refused_line_exits_1_and_names_the_refusal(cli, emulator, tmp_path):
    (tmp_path / "plan.csv").write_text(plan_text([(FOREIGN_ORG_ID, "1", "0", "Not ours"), *THREE[:1]]))
    code, out, _ = cli("charge-plan", "plan.csv", "--yes")
    assert code == 1
    assert f"line 2  {FOREIGN_ORG_ID}  $1.00  refused: ChargeOrganization: PERMISSION_DENIED" in out
    assert "Summary: charged 1 line ($129.60); refused 1 line ($1.00)." in out


def test_a_bad_plan_exits_2_naming_line_and_column_and_touches_no_journal(cli, emulator, tmp_path):
    (tmp_path / "plan.csv").write_text(plan_text([(ACME_ORG_ID, "12.345", "0", "x"), ("", "1", "0", "y")]))
    code, _, err = cli("charge-plan", "plan.csv", "--yes")
    assert code == 2
    assert "the charge plan plan.csv has 2 problems" in err
    assert "line 2, column subtotal: '12.345' is not an amount" in err
    assert "line 3, column org_id: empty" in err
    assert not (tmp_path / "viam-billing-charges.db").exists()
    assert emulator.received[CHARGE] == 0


def test_a_journal_of_another_period_needs_period_said(cli, emulator, plan):
    assert cli("charge-plan", "plan.csv", "--yes", "--period", "2026-10")[0] == 0
    code, _, err = cli("charge-plan", "plan.csv", "--yes")
    assert code == 2
    assert "holds charges for 2026-10: say which period this plan is for" in err
    code, out, _ = cli("charge-plan", "plan.csv", "--yes", "--period", "2026-10")
    assert code == 0
    assert "Nothing to charge: already charged 3 lines" in out
    assert emulator.received[CHARGE] == 3


def test_a_file_that_is_not_a_journal_is_refused(cli, emulator, plan, tmp_path):
    with sqlite3.connect(tmp_path / "viam-billing.db") as conn:
        conn.execute("CREATE TABLE invoices (id TEXT)")
    code, _, err = cli("charge-plan", "plan.csv", "--yes", "--journal", "viam-billing.db")
    assert code == 2
    assert "viam-billing.db is not a charge journal" in err
    assert emulator.received[CHARGE] == 0


def test_kill_9_while_a_charge_is_in_flight_then_a_rerun_finishes_each_org_charged_once(
    emulator, plan, spawn, tmp_path
):
    emulator.apply_then_hang(CHARGE)  # the first charge is made; its answer never comes
    first = spawn("charge-plan", "plan.csv", "--yes", "--timeout", "60")
    wait_until(lambda: len(emulator.charges) == 1, "the first charge was made")
    # The intent was committed before the request went out; the outcome never was.
    second = spawn("charge-plan", "plan.csv", "--yes")
    _, err = second.communicate(timeout=30)
    assert second.returncode == 2
    assert "is in use by another charge-plan run" in err

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert states(tmp_path / "viam-billing-charges.db") == [LineState.SENDING, LineState.PLANNED, LineState.PLANNED]

    rerun = spawn("--backend", "trio", "charge-plan", "plan.csv", "--yes")
    out, err = rerun.communicate(timeout=30)
    assert rerun.returncode == 0, err
    invoice = emulator.charges[0].invoice_id
    assert f"line 2  {ACME_ORG_ID}  $129.60  already charged: invoice {invoice}, found among" in out
    assert states(tmp_path / "viam-billing-charges.db") == [LineState.CHARGED] * 3
    assert emulator.received[CHARGE] == 3
    assert sorted(emulator.charges_per_org.values()) == [1, 1, 1]


def test_kill_9_before_the_charge_was_made_leaves_it_unknown_until_retry_unknown(emulator, plan, spawn, tmp_path):
    emulator.delay(CHARGE, 30, count=1)  # the first charge arrives and waits; the kill ends it before it is made
    first = spawn("charge-plan", "plan.csv", "--yes", "--timeout", "60")
    wait_until(lambda: emulator.received[CHARGE] == 1, "the first charge arrived")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    wait_until(lambda: emulator.cancelled[CHARGE] == 1, "the emulator saw the call end")
    assert emulator.charges == []

    rerun = spawn("charge-plan", "plan.csv", "--yes")
    out, _ = rerun.communicate(timeout=30)
    assert rerun.returncode == 1
    assert f"line 2  {ACME_ORG_ID}  $129.60  unknown: the outcome of the attempt at" in out
    assert "was never recorded" in out
    assert "run again with --retry-unknown" in out
    assert out.count("  charged: invoice") == 2  # the other lines went on
    assert [c.org_id for c in emulator.charges] == [org for org, *_ in THREE[1:]]

    checked = spawn("charge-plan", "plan.csv", "--yes", "--retry-unknown")
    out, err = checked.communicate(timeout=30)
    assert checked.returncode == 0, err
    assert f"line 2  {ACME_ORG_ID}  $129.60  charged: invoice" in out
    assert sorted(emulator.charges_per_org.values()) == [1, 1, 1]


def test_sigterm_waits_for_the_charge_in_flight_and_records_it(emulator, plan, spawn, tmp_path):
    emulator.delay(CHARGE, 1.0, count=1)
    process = spawn("charge-plan", "plan.csv", "--yes")
    wait_until(lambda: emulator.received[CHARGE] == 1, "the first charge arrived")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert states(tmp_path / "viam-billing-charges.db") == [LineState.CHARGED, LineState.PLANNED, LineState.PLANNED]
    assert emulator.received[CHARGE] == 1


def test_mark_charged_names_a_line_of_the_plan(cli, emulator, plan):
    code, _, err = cli("charge-plan", "plan.csv", "--yes", "--mark-charged", "9=inv-1")
    assert code == 2
    assert "'9=inv-1' is not LINE=INVOICE_ID with the line a charge of plan.csv starts on (lines 2, 3, 4)" in err
    assert emulator.received[CHARGE] == 0


def test_refused_credentials_exit_3_before_anything_is_sent(cli, emulator, plan, monkeypatch, tmp_path):
    monkeypatch.setenv("VIAM_API_KEY", "not-the-key")
    code, _, err = cli("charge-plan", "plan.csv", "--yes")
    assert code == 3
    assert "the service refused the credentials" in err
    assert emulator.received[CHARGE] == 0
    assert states(tmp_path / "viam-billing-charges.db") == [LineState.PLANNED] * 3
