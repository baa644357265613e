"""The reconciliation rule (match_invoice) and which failures are definite (is_definite), without a network."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import viam_billing as vb
from viam_billing import StatusCode
from viam_billing.charges import Found, JournalEntry, LineState, NotFound, Undecided, is_definite, match_invoice

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
SKEW = timedelta(seconds=5)


def entry(key: str = "k1", *, at: datetime = T0, cents: int = 12960, state: LineState = LineState.SENDING):
    return JournalEntry(
        key=key, period="2026-11", org_id="org-a", subtotal_cents=cents, tax_cents=0, description=None,
        org_id_for_branding=None, disable_confirmation_email=False, state=state, invoice_id=None, detail=None,
        attempts=1, first_intent_at=at, intent_at=at, updated_at=at,
    )  # fmt: skip


def invoice(invoice_id: str, *, at: datetime | None = T0, amount: float = 129.6) -> vb.InvoiceSummary:
    return vb.InvoiceSummary(id=invoice_id, invoice_date=at, invoice_amount=amount, status="payment_processing")


def match(line, invoices, **options):
    options.setdefault("clock_skew", SKEW)
    return match_invoice(line, invoices, **options)


def test_the_one_invoice_for_the_amount_dated_after_the_intent_is_the_lines():
    found = match(entry(), [invoice("old", at=T0 - timedelta(days=30)), invoice("new", at=T0 + timedelta(seconds=1))])
    assert found == Found(invoice("new", at=T0 + timedelta(seconds=1)))


def test_amounts_are_compared_in_whole_cents():
    # 129.6 is not exact in binary: compared in cents it matches; a cent more does not.
    assert isinstance(match(entry(), [invoice("a", amount=120.0 + 9.6)]), Found)
    assert match(entry(), [invoice("a", amount=129.61)]) == NotFound()


def test_the_clock_skew_allowance_reaches_back_from_the_first_attempt():
    assert isinstance(match(entry(), [invoice("a", at=T0 - timedelta(seconds=4))]), Found)
    assert match(entry(), [invoice("a", at=T0 - timedelta(seconds=6))]) == NotFound()


def test_an_invoice_already_recorded_for_a_line_is_never_taken_again():
    assert match(entry(), [invoice("a")], claimed={"a"}) == NotFound()


def test_more_candidates_than_attempts_cannot_be_decided():
    verdict = match(entry(), [invoice("a"), invoice("b", at=T0 + timedelta(seconds=1))])
    assert isinstance(verdict, Undecided)
    assert "2 invoices of org-a for $129.60 dated after the attempt (a, b)" in verdict.reason
    assert not verdict.stop


def test_two_unknown_lines_of_one_amount_take_one_invoice_each_in_time_order():
    first = entry("k1", at=T0)
    second = entry("k2", at=T0 + timedelta(minutes=1))
    invoices = [
        invoice("late", at=T0 + timedelta(minutes=1, seconds=2)),
        invoice("early", at=T0 + timedelta(seconds=2)),
    ]
    assert match(first, invoices, rivals=[first, second]) == Found(invoices[1])
    assert match(second, invoices, rivals=[first, second]) == Found(invoices[0])
    # With only one of the two charged, the earlier attempt takes it; the later one is not found.
    assert match(second, invoices[1:], rivals=[first, second]) == NotFound()


def test_a_line_whose_last_attempt_was_refused_yields_to_unknown_ones():
    failed = entry("k1", at=T0, state=LineState.FAILED)
    unknown = entry("k2", at=T0)
    assert match(failed, [invoice("a")], rivals=[unknown]) == NotFound()
    assert isinstance(match(unknown, [invoice("a")], rivals=[unknown, failed]), Found)


def test_an_undated_invoice_of_the_amount_cannot_be_placed():
    verdict = match(entry(), [invoice("a", at=None)])
    assert isinstance(verdict, Undecided)
    assert "without a date (a)" in verdict.reason


@pytest.mark.parametrize(
    ("error", "definite"),
    [
        (vb.InvalidArgumentError("x", operation="ChargeOrganization"), True),
        (vb.PermissionDeniedError("x", operation="ChargeOrganization"), True),
        (vb.NotFoundError("x", operation="ChargeOrganization"), True),
        (vb.FailedPreconditionError("x", operation="ChargeOrganization"), True),
        (vb.UnauthenticatedError("x", operation="ChargeOrganization"), True),
        (vb.ConnectError("refused", operation="ChargeOrganization"), True),
        (vb.ValidationError("bad", argument="subtotal"), True),
        # The handshake failed, whatever its status: the charge itself was never sent.
        (vb.UnavailableError("x", operation="Authenticate"), True),
        (vb.DeadlineExceededError("x", operation="ChargeOrganization"), False),
        (vb.UnavailableError("x", operation="ChargeOrganization"), False),
        (vb.InternalError("x", operation="ChargeOrganization"), False),
        (vb.UnknownError("x", operation="ChargeOrganization"), False),
        (vb.CancelledStatusError("x", operation="ChargeOrganization"), False),
        (vb.DataLossError("x", operation="ChargeOrganization"), False),
        (vb.TransportError("cut off; may or may not have acted on it", operation="ChargeOrganization"), False),
        (vb.status_error(StatusCode.UNKNOWN.value, "x", operation="ChargeOrganization"), False),
        (vb.BillingError("some error a transport adds later"), False),
    ],
)
def test_only_refusals_and_failures_before_sending_are_definite(error, definite):
    assert is_definite(error) is definite
