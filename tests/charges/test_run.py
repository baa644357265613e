"""run_plan against the emulator over real gRPC, on asyncio and trio: each line charged once, whatever is lost."""

from __future__ import annotations

import anyio
import pytest
import viam_billing as vb
from viam_billing import StatusCode
from viam_billing.charges import Journal, LineState, Outcome, preview_plan, run_plan
from viam_billing_grpc.emulator import ACME_ORG_ID, FOREIGN_ORG_ID, GLOBEX_ORG_ID

from .conftest import ORGS, THREE, make_plan

pytestmark = pytest.mark.anyio

CHARGE = "ChargeOrganization"
SUMMARY = "GetInvoicesSummary"


async def test_each_line_is_charged_once_and_a_rerun_sends_nothing(emulator, billing, journal, no_org_charged_twice):
    plan = make_plan(THREE)
    seen = []
    report = await run_plan(billing, plan, journal, on_outcome=seen.append)
    assert report.ok
    assert [o.outcome for o in report.outcomes] == [Outcome.CHARGED] * 3
    assert seen == list(report.outcomes)  # told line by line, in order
    assert [o.invoice_id for o in report.outcomes] == [c.invoice_id for c in emulator.charges]
    assert [(c.org_id, c.amount) for c in emulator.charges] == [(ORGS[0], 129.6), (ORGS[1], 50.0), (ORGS[2], 11.55)]
    for outcome in report.outcomes:
        entry = journal.entry(outcome.line.key)
        assert (entry.state, entry.invoice_id, entry.attempts) == (LineState.CHARGED, outcome.invoice_id, 1)

    again = await run_plan(billing, plan, journal)
    assert again.ok
    assert [o.outcome for o in again.outcomes] == [Outcome.ALREADY_CHARGED] * 3
    assert [o.invoice_id for o in again.outcomes] == [o.invoice_id for o in report.outcomes]
    assert emulator.received[CHARGE] == 3
    no_org_charged_twice()


@pytest.mark.parametrize("lose", ["apply_then_hang", "apply_then_drop"])
async def test_a_lost_answer_is_found_among_the_invoices_not_sent_again(
    emulator, billing, journal, no_org_charged_twice, lose
):
    getattr(emulator, lose)(CHARGE)  # the first charge is made, and its answer never arrives
    report = await run_plan(billing, make_plan(THREE), journal, timeout=0.5)
    first = report.outcomes[0]
    assert report.ok
    assert (first.outcome, first.reconciled) == (Outcome.CHARGED, True)
    assert first.invoice_id == emulator.charges[0].invoice_id
    assert "the answer was lost" in first.message
    assert journal.entry(first.line.key).state == LineState.CHARGED
    assert emulator.received[CHARGE] == 3  # never sent twice
    no_org_charged_twice()


async def test_a_definite_refusal_is_failed_with_its_message_and_sent_again_next_run(
    emulator, billing, journal, no_org_charged_twice
):
    emulator.fail_next(CHARGE, StatusCode.INVALID_ARGUMENT, message="card declined for now")
    plan = make_plan(THREE)
    report = await run_plan(billing, plan, journal)
    first = report.outcomes[0]
    assert first.outcome == Outcome.REFUSED
    assert first.message == "ChargeOrganization: INVALID_ARGUMENT: card declined for now"
    assert journal.entry(first.line.key).state == LineState.FAILED
    assert [o.outcome for o in report.outcomes[1:]] == [Outcome.CHARGED] * 2  # a refusal about one line stops nothing
    assert not report.ok
    assert report.stopped is None

    again = await run_plan(billing, plan, journal)
    assert [o.outcome for o in again.outcomes] == [Outcome.CHARGED, Outcome.ALREADY_CHARGED, Outcome.ALREADY_CHARGED]
    assert again.ok
    assert journal.entry(first.line.key).attempts == 2
    no_org_charged_twice()


async def test_an_ambiguous_failure_without_invoice_is_unknown_stops_the_run_and_waits_for_retry_unknown(
    emulator, billing, journal, no_org_charged_twice
):
    # UNAVAILABLE may come after a charge was made (a proxy answering for a backend that died): never retried blind.
    emulator.fail_next(CHARGE, StatusCode.UNAVAILABLE)
    plan = make_plan(THREE)
    report = await run_plan(billing, plan, journal)
    assert [o.outcome for o in report.outcomes] == [Outcome.UNKNOWN, Outcome.NOT_SENT, Outcome.NOT_SENT]
    assert "UNAVAILABLE" in report.outcomes[0].message
    assert "--retry-unknown" in report.outcomes[0].message
    assert report.stopped == "stopped after line 2: its outcome is unknown; nothing more is sent while answers are " \
                             "being lost"  # fmt: skip
    assert journal.entry(plan.lines[0].key).state == LineState.UNKNOWN
    assert emulator.received[CHARGE] == 1

    later = await run_plan(billing, plan, journal)  # looked for again, left alone; the others go
    assert [o.outcome for o in later.outcomes] == [Outcome.UNKNOWN, Outcome.CHARGED, Outcome.CHARGED]
    assert emulator.received[CHARGE] == 3

    checked = await run_plan(billing, plan, journal, retry_unknown=True)
    assert [o.outcome for o in checked.outcomes] == [Outcome.CHARGED] + [Outcome.ALREADY_CHARGED] * 2
    assert checked.ok
    assert emulator.received[CHARGE] == 4
    no_org_charged_twice()


async def test_bad_credentials_raise_before_any_charge_is_sent(emulator, tmp_path):
    options = {**emulator.connect_options(), "api_key": "wrong-key"}
    with Journal(tmp_path / "j.db") as journal:
        async with vb.connect(**options, timeout=10) as client:
            with pytest.raises(vb.UnauthenticatedError):
                await run_plan(client, make_plan(THREE), journal)
        assert {entry.state for entry in journal.entries()} == {LineState.PLANNED}
    assert emulator.received[CHARGE] == 0


async def test_a_changed_amount_of_a_charged_line_is_refused_never_charged_again(emulator, billing, journal):
    await run_plan(billing, make_plan(THREE), journal)
    changed = make_plan([(ACME_ORG_ID, "130.00", "9.60", "November support"), *THREE[1:]])
    report = await run_plan(billing, changed, journal)
    first = report.outcomes[0]
    assert first.outcome == Outcome.REFUSED
    assert "subtotal $120.00 -> $130.00" in first.message
    assert first.invoice_id == emulator.charges[0].invoice_id
    assert not report.ok
    assert emulator.received[CHARGE] == 3
    assert preview_plan(changed, journal).outcomes[0].outcome == Outcome.REFUSED


async def test_cancelled_mid_charge_the_line_stays_sending_and_the_next_run_finds_its_invoice(
    emulator, billing, journal, no_org_charged_twice
):
    plan = make_plan(THREE)
    emulator.apply_then_hang(CHARGE)
    with anyio.move_on_after(1):  # timeout=None: an unbounded charge is not waited for when cancelled
        await run_plan(billing, plan, journal, timeout=None)
    assert journal.entry(plan.lines[0].key).state == LineState.SENDING
    assert preview_plan(plan, journal).outcomes[0].outcome == Outcome.WOULD_CHECK

    report = await run_plan(billing, plan, journal)
    first = report.outcomes[0]
    assert (first.outcome, first.reconciled, first.invoice_id) == (
        Outcome.ALREADY_CHARGED, True, emulator.charges[0].invoice_id,
    )  # fmt: skip
    assert report.ok
    no_org_charged_twice()


async def test_a_charge_in_flight_is_waited_for_when_the_run_is_cancelled(emulator, billing, journal):
    plan = make_plan(THREE)
    emulator.delay(CHARGE, 0.5, count=1)
    with anyio.move_on_after(0.2):
        await run_plan(billing, plan, journal, timeout=5)
    entry = journal.entry(plan.lines[0].key)
    assert (entry.state, entry.invoice_id) == (LineState.CHARGED, emulator.charges[0].invoice_id)
    assert journal.entry(plan.lines[1].key).state == LineState.PLANNED  # nothing was started after the cancel


async def test_when_invoices_cannot_be_read_the_line_is_unknown_until_they_can(
    emulator, billing, journal, no_org_charged_twice
):
    def after(outcome):
        if outcome.line.line == 2:  # the first line went through; the next charge's answer is lost, and the
            emulator.apply_then_hang(CHARGE)  # invoices cannot be read to find it
            emulator.fail_next(SUMMARY, StatusCode.PERMISSION_DENIED, message="not now")

    plan = make_plan(THREE)
    report = await run_plan(billing, plan, journal, timeout=0.5, on_outcome=after)
    second = report.outcomes[1]
    assert second.outcome == Outcome.UNKNOWN
    assert "could not be read (GetInvoicesSummary: PERMISSION_DENIED: not now)" in second.message

    again = await run_plan(billing, plan, journal)
    assert (again.outcomes[1].outcome, again.outcomes[1].reconciled) == (Outcome.ALREADY_CHARGED, True)
    assert again.ok
    assert emulator.received[CHARGE] == 3
    no_org_charged_twice()


async def test_two_lost_charges_of_one_organization_and_amount_each_get_their_own_invoice(emulator, billing, journal):
    plan = make_plan([(GLOBEX_ORG_ID, "25", "0", "Seats"), (GLOBEX_ORG_ID, "25", "0", "Storage")])
    emulator.apply_then_hang(CHARGE, count=2)
    report = await run_plan(billing, plan, journal, timeout=0.5)
    assert [o.outcome for o in report.outcomes] == [Outcome.CHARGED, Outcome.CHARGED]
    assert [o.invoice_id for o in report.outcomes] == [c.invoice_id for c in emulator.charges]
    assert emulator.charges_per_org[GLOBEX_ORG_ID] == 2


async def test_an_invoice_that_may_be_someone_elses_leaves_the_line_unknown_even_with_retry_unknown(
    emulator, billing, journal
):
    # A charge of the same amount, made outside the journal a moment ago: within the clock-skew allowance.
    emulator.add_invoice(GLOBEX_ORG_ID, amount=50.0, invoice_id="inv-manual", status="payment_processing")
    plan = make_plan([THREE[1]])
    emulator.apply_then_hang(CHARGE)
    report = await run_plan(billing, plan, journal, timeout=0.5)
    (outcome,) = report.outcomes
    assert outcome.outcome == Outcome.UNKNOWN
    assert f"2 invoices of {GLOBEX_ORG_ID} for $50.00 dated after the attempt (" in outcome.message
    assert "inv-manual" in outcome.message
    assert emulator.charges[0].invoice_id in outcome.message

    retried = await run_plan(billing, plan, journal, retry_unknown=True)
    assert retried.outcomes[0].outcome == Outcome.UNKNOWN
    assert emulator.received[CHARGE] == 1  # which invoice is whose cannot be told: nothing is sent again

    # A person checks, and names the line's invoice: one of another amount is refused, the right one recorded.
    key = plan.lines[0].key
    other = emulator.add_invoice(GLOBEX_ORG_ID, amount=49.99, invoice_id="inv-other-amount")
    wrong = await run_plan(billing, plan, journal, mark_charged={key: other.id})
    assert wrong.outcomes[0].outcome == Outcome.NOT_SENT
    assert "invoice inv-other-amount is for $49.99, the line for $50.00" in wrong.outcomes[0].message
    assert journal.entry(key).state == LineState.UNKNOWN

    ours = emulator.charges[0].invoice_id
    marked = await run_plan(billing, plan, journal, mark_charged={key: ours})
    assert (marked.outcomes[0].outcome, marked.outcomes[0].invoice_id) == (Outcome.ALREADY_CHARGED, ours)
    assert "marked charged by hand" in marked.outcomes[0].message
    assert journal.entry(key).state == LineState.CHARGED
    assert marked.ok
    assert emulator.received[CHARGE] == 1


async def test_a_line_for_an_organization_the_key_does_not_own_is_refused_and_the_rest_go(emulator, billing, journal):
    plan = make_plan([(FOREIGN_ORG_ID, "1", "0", "Not ours"), *THREE])
    report = await run_plan(billing, plan, journal)
    assert [o.outcome for o in report.outcomes] == [Outcome.REFUSED] + [Outcome.CHARGED] * 3
    assert "PERMISSION_DENIED" in report.outcomes[0].message
