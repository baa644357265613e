"""Running a charge plan against the service: journal first, then the charge, then its outcome.

Which failures are definite (the charge certainly did not happen) and which are ambiguous (it may have) is
decided here, once, by :func:`is_definite`; reconciliation against ``GetInvoicesSummary`` is :func:`match_invoice`.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from ._charges_journal import Journal, JournalEntry, LineState
from ._charges_plan import ChargeLine, ChargePlan, dollars
from ._enums import StatusCode
from ._errors import BillingError, ConnectError, SinkError, StatusError, ValidationError

if TYPE_CHECKING:
    from ._client import BillingClient
    from ._models import InvoiceSummary

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_TIMEOUT",
    "Found",
    "LineOutcome",
    "NotFound",
    "Outcome",
    "RunReport",
    "Undecided",
    "is_definite",
    "match_invoice",
    "preview_plan",
    "run_plan",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds each call of a run may take (a charge with no answer by then is ambiguous, and reconciled)."""
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
"""How much earlier than the intent an invoice may be dated and still be the charge's: the service's clock and
ours differ a little, and invoice dates may be cut to the second."""

_AUTHENTICATE = "Authenticate"
_RETRY_HINT = (
    "Check the organization's invoices: if it was not charged, run again with --retry-unknown; if one of them is "
    "its charge, record it with --mark-charged LINE=INVOICE_ID."
)

# The service looked at the request and said no: nothing was charged. Every other status (UNKNOWN, INTERNAL,
# UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, DATA_LOSS, codes not known yet) may come after the charge was made:
# a server that failed after charging, a proxy answering for a backend that died, a deadline that passed while
# the charge went through.
_REFUSALS = frozenset(
    {
        StatusCode.INVALID_ARGUMENT,
        StatusCode.NOT_FOUND,
        StatusCode.ALREADY_EXISTS,
        StatusCode.PERMISSION_DENIED,
        StatusCode.FAILED_PRECONDITION,
        StatusCode.OUT_OF_RANGE,
        StatusCode.UNIMPLEMENTED,
        StatusCode.UNAUTHENTICATED,
        StatusCode.RESOURCE_EXHAUSTED,
        StatusCode.ABORTED,
    }
)
# Refusals about the line itself (its organization, its amounts): the next line may fare better. Any other
# failure is about the service, the connection or the credentials, and stops the run before more is sent.
_ABOUT_THE_LINE = frozenset(
    {
        StatusCode.INVALID_ARGUMENT,
        StatusCode.NOT_FOUND,
        StatusCode.ALREADY_EXISTS,
        StatusCode.PERMISSION_DENIED,
        StatusCode.FAILED_PRECONDITION,
        StatusCode.OUT_OF_RANGE,
    }
)


def is_definite(error: BillingError) -> bool:
    """Whether a charge that raised ``error`` certainly did not happen (``False``: it may have).

    Definite: a check before sending (:class:`~viam_billing.ValidationError`), no connection at all
    (:class:`~viam_billing.ConnectError`), a failed authentication (the charge was never sent), and a status by
    which the service refuses a request (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
    FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ABORTED). Everything
    else is ambiguous: a deadline, a connection lost after the request went out, any other status, any error a
    transport adds later.
    """
    if isinstance(error, (ValidationError, ConnectError)):
        return True
    if isinstance(error, StatusError):
        return error.operation == _AUTHENTICATE or error.code in _REFUSALS
    return False


def _about_the_line(error: BillingError) -> bool:
    return isinstance(error, StatusError) and error.operation != _AUTHENTICATE and error.code in _ABOUT_THE_LINE


class Outcome(enum.StrEnum):
    """What happened to a plan line in a run (or would, in a preview)."""

    CHARGED = "charged"
    """Charged by this run: the service answered with the invoice, or its lost answer's invoice was found."""
    ALREADY_CHARGED = "already charged"
    """Charged before (by an earlier run, or found now among the invoices); nothing sent."""
    REFUSED = "refused"
    """Not charged: the service refused it, or the plan changed a line already charged."""
    UNKNOWN = "unknown"
    """It may have been charged and no invoice proves it: left alone until checked (``retry_unknown``)."""
    NOT_SENT = "not sent"
    """Not attempted: the run stopped before it, or its invoices could not be checked first."""
    WOULD_CHARGE = "would charge"
    """Preview: a run would send it (after checking its invoices, if it was attempted before)."""
    WOULD_CHECK = "would check"
    """Preview: a run would look for its invoice, and not send it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LineOutcome:
    """The outcome of one plan line: ``outcome``, a ``message`` saying why (for people), the ``invoice_id`` when
    charged, and ``reconciled`` when the invoice was found among the organization's invoices rather than in
    the service's answer."""

    line: ChargeLine
    outcome: Outcome
    message: str = ""
    invoice_id: str | None = None
    reconciled: bool = False

    @property
    def ok(self) -> bool:
        """Whether the line is charged (now or before)."""
        return self.outcome in (Outcome.CHARGED, Outcome.ALREADY_CHARGED)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunReport:
    """What a run (or a preview) did with each line of the plan, in the plan's order.

    ``stopped`` says why the run stopped sending before the end (``None`` if it did not); ``unsettled_elsewhere``
    lists the journal's lines that are not in this plan and may have been charged without proof (``sending`` or
    ``unknown``): a plan that drops a line does not make its charge go away.
    """

    outcomes: tuple[LineOutcome, ...]
    stopped: str | None = None
    unsettled_elsewhere: tuple[JournalEntry, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every line is charged (now or before): the command's exit status 0."""
        return all(outcome.ok for outcome in self.outcomes)

    def lines(self, *outcomes: Outcome) -> tuple[LineOutcome, ...]:
        """The outcomes of these kinds, in the plan's order."""
        return tuple(outcome for outcome in self.outcomes if outcome.outcome in outcomes)

    def total_cents(self, *outcomes: Outcome) -> int:
        """What the lines with these outcomes add up to, in cents."""
        return sum(outcome.line.total_cents for outcome in self.lines(*outcomes))


# -- reconciliation ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    """Reconciliation found the line's invoice."""

    invoice: InvoiceSummary


@dataclass(frozen=True, slots=True)
class NotFound:
    """Reconciliation found no invoice that can be the line's."""


@dataclass(frozen=True, slots=True)
class Undecided:
    """Reconciliation cannot tell: ``reason`` says why. ``stop`` when the reason is the service's trouble."""

    reason: str
    stop: bool = False


Verdict = Found | NotFound | Undecided


def _cents(amount: float) -> int:
    return round(amount * 100)


def _window_start(entry: JournalEntry, skew: timedelta) -> datetime:
    assert entry.first_intent_at is not None, "only attempted lines are reconciled"
    return entry.first_intent_at - skew


def match_invoice(
    entry: JournalEntry,
    invoices: Iterable[InvoiceSummary],
    *,
    rivals: Sequence[JournalEntry] = (),
    claimed: Iterable[str] = (),
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> Verdict:
    """Find, among an organization's ``invoices``, the one the attempted charge ``entry`` made.

    A candidate is an invoice recorded for no line (``claimed``), for exactly ``entry``'s subtotal + tax (in
    cents), dated no earlier than ``entry``'s first attempt minus ``clock_skew``. ``rivals`` are the journal's
    other lines of the same organization and amount whose outcome is unknown: any of them may have made a
    candidate too. With as many candidates as those lines at most, each line takes the earliest candidate dated
    after its own first attempt, first attempts first; so two unknown lines of one amount, both charged, each
    get an invoice. More candidates than lines, or a candidate without a date, cannot be told apart from a charge
    made elsewhere: :class:`Undecided`.
    """
    taken = set(claimed)
    total = entry.total_cents
    same = [i for i in invoices if i.id not in taken and _cents(i.invoice_amount) == total]
    if not same:
        return NotFound()
    group = [entry, *(r for r in rivals if r.key != entry.key and r.total_cents == total)]
    undated = [invoice.id for invoice in same if invoice.invoice_date is None]
    if undated:
        return Undecided(
            f"invoices of {entry.org_id} for {dollars(total)} without a date ({', '.join(undated)}) cannot be placed "
            "before or after the attempt"
        )
    start = min(_window_start(member, clock_skew) for member in group)
    candidates = sorted(
        (i for i in same if i.invoice_date is not None and i.invoice_date >= start),
        key=lambda invoice: (invoice.invoice_date, invoice.id),
    )
    if not candidates:
        return NotFound()
    if len(candidates) > len(group):
        ids = ", ".join(invoice.id for invoice in candidates)
        return Undecided(
            f"{len(candidates)} invoices of {entry.org_id} for {dollars(total)} dated after the attempt ({ids}) are "
            f"recorded for no line, more than the {len(group)} attempt(s) that could have made them: which one, if "
            "any, is this line's cannot be told"
        )
    # Lines whose last attempt was refused are served last: their invoice, if any, is the least likely.
    order = sorted(group, key=lambda m: (m.state == LineState.FAILED, _window_start(m, clock_skew), m.key))
    pool = list(candidates)
    for member in order:
        for invoice in pool:
            assert invoice.invoice_date is not None
            if invoice.invoice_date >= _window_start(member, clock_skew):
                pool.remove(invoice)
                if member.key == entry.key:
                    return Found(invoice)
                break
    return NotFound()


# -- preview -------------------------------------------------------------------------------------------------------


def preview_plan(
    plan: ChargePlan,
    journal: Journal,
    *,
    retry_unknown: bool = False,
    mark_charged: Mapping[str, str] | None = None,
) -> RunReport:
    """What :func:`run_plan` would do with each line, from the journal alone: nothing is sent, nothing recorded.

    ``WOULD_CHARGE`` lines are the most a run could charge (some may turn out to be charged already when their
    invoices are checked); ``WOULD_CHECK`` lines would only be looked for. Charged lines are ``ALREADY_CHARGED``,
    or ``REFUSED`` when the plan changed them.
    """
    marks = mark_charged or {}
    outcomes = []
    for line in plan.lines:
        entry = journal.entry(line.key)
        state = None if entry is None else entry.state
        if line.key in marks and state != LineState.CHARGED:
            message = f"invoice {marks[line.key]}, to be recorded as this line's if the organization has it"
            outcomes.append(LineOutcome(line=line, outcome=Outcome.WOULD_CHECK, message=message))
        elif entry is None or state == LineState.PLANNED:
            outcomes.append(LineOutcome(line=line, outcome=Outcome.WOULD_CHARGE))
        elif state == LineState.CHARGED:
            outcomes.append(_charged(line, entry, plan.period))
        elif state == LineState.FAILED:
            message = f"after checking its invoices; the last attempt failed: {entry.detail}"
            outcomes.append(LineOutcome(line=line, outcome=Outcome.WOULD_CHARGE, message=message))
        elif state == LineState.UNKNOWN and retry_unknown:
            message = f"unless its invoice is found (--retry-unknown); it was unknown: {entry.detail}"
            outcomes.append(LineOutcome(line=line, outcome=Outcome.WOULD_CHARGE, message=message))
        else:
            message = (
                f"its invoices, not sending it: {_previous(entry)}"
                if state == LineState.SENDING
                else f"its invoices again, not sending it: unknown since {_when(entry.updated_at)}: {entry.detail}"
            )
            outcomes.append(LineOutcome(line=line, outcome=Outcome.WOULD_CHECK, message=message))
    return RunReport(outcomes=tuple(outcomes), unsettled_elsewhere=_elsewhere(plan, journal))


def _elsewhere(plan: ChargePlan, journal: Journal) -> tuple[JournalEntry, ...]:
    keys = {line.key for line in plan.lines}
    return tuple(entry for entry in journal.unsettled() if entry.key not in keys)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _previous(entry: JournalEntry) -> str:
    return (
        f"the outcome of the attempt at {_when(entry.intent_at)} was never recorded (the run was stopped or killed "
        "while it was being sent)"
    )


def _charged(line: ChargeLine, entry: JournalEntry, period: str, *, found: str | None = None) -> LineOutcome:
    """The outcome of a line the journal records as charged: already charged, or refused if the plan changed it."""
    invoice = entry.invoice_id or "(no invoice id)"
    changes = entry.differences(line)
    if changes:
        message = (
            f"the plan changed a line already charged (invoice {invoice}, period {entry.period}): "
            f"{'; '.join(changes)}. A charged line is never charged again; bill a difference with a line of its own"
        )
        return LineOutcome(line=line, outcome=Outcome.REFUSED, message=message, invoice_id=entry.invoice_id)
    message = f"invoice {invoice}" + (f", {found}" if found else f", recorded {_when(entry.updated_at)}")
    if entry.period != period:
        message += f" (for the period {entry.period})"
    return LineOutcome(
        line=line, outcome=Outcome.ALREADY_CHARGED, message=message, invoice_id=entry.invoice_id,
        reconciled=found is not None,
    )  # fmt: skip


# -- the run -------------------------------------------------------------------------------------------------------


async def run_plan(
    client: BillingClient,
    plan: ChargePlan,
    journal: Journal,
    *,
    retry_unknown: bool = False,
    timeout: float | None = DEFAULT_TIMEOUT,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    mark_charged: Mapping[str, str] | None = None,
    on_outcome: Callable[[LineOutcome], object] | None = None,
) -> RunReport:
    """Charge every line of ``plan`` not charged yet, once, recording each step in ``journal`` first.

    Lines go one at a time, in the plan's order:

    - charged before: reported, nothing sent (``REFUSED`` if the plan changed it since);
    - never attempted: the intent is committed to the journal, then ``ChargeOrganization`` is sent; its answer
      records the line ``charged``; a definite refusal (:func:`is_definite`) records it ``failed``;
    - attempted before without a recorded success (``sending`` after a crash, ``unknown``, ``failed``): first
      reconciled against ``GetInvoicesSummary`` (:func:`match_invoice`). Found: ``charged`` with that invoice.
      Not found: a ``failed`` line is sent again; an ``unknown`` one only with ``retry_unknown`` (after you
      checked); a ``sending`` one becomes ``unknown``. Cannot tell: ``unknown``;
    - an ambiguous failure (a deadline, a connection lost after sending, ...) is reconciled at once; unless
      its invoice is found the line is ``unknown``.

    The run stops sending after a charge it sent ends ``unknown`` (answers are being lost), or after a failure
    that is not about the line (credentials, the connection, an unavailable service): the lines left are
    ``NOT_SENT``. Before anything is sent
    it reads the first organization's invoices, so that bad credentials or an unreachable service raise
    (:class:`~viam_billing.UnauthenticatedError`, :class:`~viam_billing.TransportError`, ...) with nothing
    recorded but the plan. ``timeout`` bounds every call (``None``: the client's default); ``on_outcome`` is
    called with each line's outcome as soon as it is known.

    ``mark_charged`` maps keys to invoice ids a person found to be those lines' charges (when reconciliation
    cannot tell, say): each is recorded ``charged`` if the organization's invoices list it for the line's amount
    and no other line has it, and is otherwise left as it was (``NOT_SENT``, saying why).

    Works under asyncio and trio. A charge in flight is waited for when the run is cancelled, if ``timeout`` bounds
    it; killed mid-charge (or cancelled with no timeout), the line stays ``sending`` and the next run reconciles it.

    Example::

        with Journal("viam-billing-charges.db") as journal:
            report = await run_plan(billing, ChargePlan.read("plan.csv", period="2026-11"), journal)
        print(report.ok, [o.outcome for o in report.outcomes])
    """
    run = _Run(client, plan, journal, retry_unknown=retry_unknown, timeout=timeout, clock_skew=clock_skew,
               marks=mark_charged or {})  # fmt: skip
    outcomes = []
    with journal._run(plan, retry_unknown=retry_unknown) as run_id:
        run.run_id = run_id
        for line in plan.lines:
            outcome = await run.line(line)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return RunReport(outcomes=tuple(outcomes), stopped=run.stopped, unsettled_elsewhere=_elsewhere(plan, journal))


class _Run:
    """One run of a plan: what :func:`run_plan` does with each line, and whether it has stopped sending."""

    def __init__(
        self,
        client: BillingClient,
        plan: ChargePlan,
        journal: Journal,
        *,
        retry_unknown: bool,
        timeout: float | None,
        clock_skew: timedelta,
        marks: Mapping[str, str],
    ) -> None:
        self.client = client
        self.plan = plan
        self.journal = journal
        self.retry_unknown = retry_unknown
        self.timeout = timeout
        self.clock_skew = clock_skew
        self.run_id = 0
        self.stopped: str | None = None
        self.marks = dict(marks)
        self._checked = False

    def _settle(self, entry: JournalEntry, state: LineState, detail: str, invoice_id: str | None = None) -> None:
        self.journal._settle(entry.key, state, detail, self.run_id, invoice_id)

    def _stop(self, line: ChargeLine, why: str) -> None:
        self.stopped = f"stopped after line {line.line}: {why}"

    async def line(self, line: ChargeLine) -> LineOutcome:
        entry = self.journal.entry(line.key)
        assert entry is not None, "the run recorded every line of the plan"
        if entry.state == LineState.CHARGED:
            return _charged(line, entry, self.plan.period)
        if self.stopped is not None:
            return LineOutcome(line=line, outcome=Outcome.NOT_SENT, message=self.stopped)
        await self._check_service(line.org_id)
        if line.key in self.marks:
            return await self._mark(line, entry, self.marks[line.key])
        if entry.state == LineState.PLANNED:
            return await self._attempt(line)
        verdict = await self._reconcile(entry)
        if isinstance(verdict, Found):
            why = "its invoice was found" + (
                "" if entry.state == LineState.FAILED else " (the earlier answer was lost)"
            )
            found = self._record_found(entry, verdict, why)
            return _charged(line, found, self.plan.period, found=f"found among {line.org_id}'s invoices")
        if isinstance(verdict, Undecided):
            if entry.state == LineState.FAILED:
                # The last attempt was refused for certain; only the check before sending again failed.
                if verdict.stop:
                    self._stop(line, f"the invoices of {line.org_id} could not be read")
                message = (
                    f"{verdict.reason}; a line is sent again only once its invoices are checked. The last attempt "
                    f"failed: {entry.detail}"
                )
                return LineOutcome(line=line, outcome=Outcome.NOT_SENT, message=message)
            return self._unknown(line, entry, verdict.reason, stop=verdict.stop)
        if entry.state == LineState.FAILED or (entry.state == LineState.UNKNOWN and self.retry_unknown):
            return await self._attempt(line)
        if entry.state == LineState.SENDING:
            reason = f"{_previous(entry)}, and no invoice of it was found"
            return self._unknown(line, entry, reason, stop=False)
        message = f"{entry.detail}; still no invoice of it found. {_RETRY_HINT}"
        return LineOutcome(line=line, outcome=Outcome.UNKNOWN, message=message)

    async def _mark(self, line: ChargeLine, entry: JournalEntry, invoice_id: str) -> LineOutcome:
        """A person names the invoice of ``line``: record it, once the service lists it for the line's amount."""
        try:
            invoices = await self._invoices(entry.org_id)
        except BillingError as exc:
            problem = f"the invoices of {entry.org_id} could not be read ({exc})"
        else:
            invoice = next((i for i in invoices if i.id == invoice_id), None)
            if invoice is None:
                problem = f"{entry.org_id} has no invoice {invoice_id}"
            elif _cents(invoice.invoice_amount) != entry.total_cents:
                amount = dollars(_cents(invoice.invoice_amount))
                problem = f"invoice {invoice_id} is for {amount}, the line for {dollars(entry.total_cents)}"
            elif invoice_id in self.journal.claimed_invoices():
                problem = f"invoice {invoice_id} is recorded for another line"
            else:
                found = self._record_found(entry, Found(invoice), "marked charged by hand")
                return _charged(line, found, self.plan.period, found="marked charged by hand")
        message = f"not marked charged: {problem}; the line was left as it was ({entry.state})"
        return LineOutcome(line=line, outcome=Outcome.NOT_SENT, message=message)

    async def _invoices(self, org_id: str) -> tuple[InvoiceSummary, ...]:
        """The organization's invoices, as the service lists them now."""
        try:
            summary = await self.client.get_invoices_summary(org_id, timeout=self.timeout)
        except SinkError as exc:  # read; only a sink failed to store it
            return tuple(getattr(exc.result, "invoices", ()))
        return summary.invoices

    async def _check_service(self, org_id: str) -> None:
        """Once per run, before anything is sent: a read that fails the way every call would (credentials, the
        connection) raises here, with nothing recorded. It also leaves the connection and the token ready, so
        that the charge goes out right after its intent is committed."""
        if self._checked:
            return
        self._checked = True
        try:
            await self._invoices(org_id)
        except BillingError as exc:
            if not _about_the_line(exc):
                raise

    async def _attempt(self, line: ChargeLine) -> LineOutcome:
        # A cancellation that arrived while the previous charge was shielded takes effect here, before a new
        # intent: nothing new is started once the run is cancelled.
        await anyio.lowlevel.checkpoint()
        entry = self.journal._sending(line, self.plan.period, self.run_id)
        failure: BillingError | None = None
        invoice_id = ""
        # With a deadline, a charge in flight is waited for even when the run is cancelled (Ctrl-C, SIGTERM, an
        # enclosing cancel scope), so that its outcome is recorded rather than left for the next run to find.
        with anyio.CancelScope(shield=self.timeout is not None):
            try:
                response = await self.client.charge_organization(*line.charge_arguments(), timeout=self.timeout)
            except SinkError as exc:  # charged; only a sink failed to store the answer
                invoice_id = getattr(exc.result, "invoice_id", "")
            except BillingError as exc:
                failure = exc
            else:
                invoice_id = response.invoice_id
            if failure is None:
                return self._record_answer(line, entry, invoice_id)
            if is_definite(failure):
                self._settle(entry, LineState.FAILED, str(failure))
                if not _about_the_line(failure):
                    self._stop(line, f"the service refused it for a reason that is not about the line ({failure})")
                return LineOutcome(line=line, outcome=Outcome.REFUSED, message=str(failure))
        assert failure is not None, "a shielded scope swallows nothing: both cases above returned"
        return await self._lost_answer(line, entry, failure)

    def _record_answer(self, line: ChargeLine, entry: JournalEntry, invoice_id: str) -> LineOutcome:
        if not invoice_id:
            self._settle(entry, LineState.CHARGED, "charged; the service's answer named no invoice")
            return LineOutcome(line=line, outcome=Outcome.CHARGED, message="the service's answer named no invoice")
        try:
            self._settle(entry, LineState.CHARGED, "charged: the service answered", invoice_id)
        except sqlite3.IntegrityError:
            other = next(e.key for e in self.journal.entries() if e.invoice_id == invoice_id)
            reason = f"the service answered with invoice {invoice_id}, which the journal records for the line {other}"
            return self._unknown(line, entry, reason, stop=True)
        return LineOutcome(line=line, outcome=Outcome.CHARGED, message=f"invoice {invoice_id}", invoice_id=invoice_id)

    async def _lost_answer(self, line: ChargeLine, entry: JournalEntry, error: BillingError) -> LineOutcome:
        """The charge may have happened: look for its invoice now; without it the line is unknown."""
        verdict = await self._reconcile(entry)
        if isinstance(verdict, Found):
            found = self._record_found(entry, verdict, f"the answer was lost ({error}); its invoice was found")
            message = f"invoice {found.invoice_id} (the answer was lost: {error}; the invoice was found)"
            return LineOutcome(
                line=line, outcome=Outcome.CHARGED, message=message, invoice_id=found.invoice_id, reconciled=True
            )
        why = verdict.reason if isinstance(verdict, Undecided) else "no invoice of it was found yet"
        return self._unknown(line, entry, f"{error} (it may or may not have been charged); {why}", stop=True)

    def _record_found(self, entry: JournalEntry, verdict: Found, why: str) -> JournalEntry:
        invoice = verdict.invoice
        detail = f"{why}: {invoice.id} of {_when(invoice.invoice_date)}, {dollars(_cents(invoice.invoice_amount))}"
        self._settle(entry, LineState.CHARGED, detail, invoice.id)
        found = self.journal.entry(entry.key)
        assert found is not None
        return found

    def _unknown(self, line: ChargeLine, entry: JournalEntry, reason: str, *, stop: bool) -> LineOutcome:
        self._settle(entry, LineState.UNKNOWN, reason)
        if stop:
            self._stop(line, "its outcome is unknown; nothing more is sent while answers are being lost")
        return LineOutcome(line=line, outcome=Outcome.UNKNOWN, message=f"{reason}. {_RETRY_HINT}")

    async def _reconcile(self, entry: JournalEntry) -> Verdict:
        try:
            invoices = await self._invoices(entry.org_id)
        except BillingError as exc:
            return Undecided(f"the invoices of {entry.org_id} could not be read ({exc})", stop=not _about_the_line(exc))
        return match_invoice(
            entry,
            invoices,
            rivals=self.journal.unsettled(entry.org_id),
            claimed=self.journal.claimed_invoices(),
            clock_skew=self.clock_skew,
        )
