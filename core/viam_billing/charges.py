"""Charge plans that never charge twice: a month's charges from a CSV file, with a journal that makes re-runs safe.

``ChargeOrganization`` takes no idempotency key, and when its answer is lost (a deadline, a dropped connection,
a killed process) nobody knows whether the customer was charged. This module makes a batch of charges safe to
run, re-run and finish::

    from viam_billing.charges import ChargePlan, Journal, current_period, run_plan

    plan = ChargePlan.read("plan.csv", period=current_period())        # every check before anything is sent
    with Journal("viam-billing-charges.db") as journal:                 # SQLite; one run at a time
        report = await run_plan(billing, plan, journal)                 # asyncio or trio
    for outcome in report.outcomes:
        print(outcome.line.line, outcome.outcome, outcome.message)

How it stays safe:

- Each line has an idempotency key: its ``key`` cell, or one derived from the billing period, the organization
  and the description (:func:`line_key`). The journal holds one line per key.
- The intent to charge is committed to the journal (with its time) *before* the request is sent; the outcome is
  recorded as soon as it is known. A line recorded ``charged`` is never sent again, and a plan that changes a
  charged line's amounts is refused.
- An ambiguous outcome (a deadline, a connection lost after sending, cancellation, a process that died between
  sending and recording) is reconciled against ``GetInvoicesSummary`` before anything else is tried: an invoice of
  the organization for exactly subtotal + tax, dated no earlier than the first attempt (less
  :data:`DEFAULT_CLOCK_SKEW`), recorded for no other line, is the line's (:func:`match_invoice`). With no such
  invoice the line is ``unknown``, and is sent again only when the caller says so (``retry_unknown``) after
  checking. A definite refusal (:func:`is_definite`) is recorded ``failed`` with the service's message, and tried
  again on the next run.

This module is loaded on its own (``import viam_billing.charges``); ``import viam_billing`` does not load it.
"""

from __future__ import annotations

from ._charges_journal import APPLICATION_ID as APPLICATION_ID
from ._charges_journal import SCHEMA_VERSION as SCHEMA_VERSION
from ._charges_journal import Journal as Journal
from ._charges_journal import JournalEntry as JournalEntry
from ._charges_journal import JournalError as JournalError
from ._charges_journal import JournalEvent as JournalEvent
from ._charges_journal import JournalLockedError as JournalLockedError
from ._charges_journal import LineState as LineState
from ._charges_plan import OPTIONAL_COLUMNS as OPTIONAL_COLUMNS
from ._charges_plan import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from ._charges_plan import ChargeLine as ChargeLine
from ._charges_plan import ChargePlan as ChargePlan
from ._charges_plan import PlanError as PlanError
from ._charges_plan import PlanProblem as PlanProblem
from ._charges_plan import check_period as check_period
from ._charges_plan import current_period as current_period
from ._charges_plan import dollars as dollars
from ._charges_plan import line_key as line_key
from ._charges_run import DEFAULT_CLOCK_SKEW as DEFAULT_CLOCK_SKEW
from ._charges_run import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._charges_run import Found as Found
from ._charges_run import LineOutcome as LineOutcome
from ._charges_run import NotFound as NotFound
from ._charges_run import Outcome as Outcome
from ._charges_run import RunReport as RunReport
from ._charges_run import Undecided as Undecided
from ._charges_run import is_definite as is_definite
from ._charges_run import match_invoice as match_invoice
from ._charges_run import preview_plan as preview_plan
from ._charges_run import run_plan as run_plan
from ._exports import publish as _publish

__all__ = [
    "APPLICATION_ID",
    "ChargeLine",
    "ChargePlan",
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_TIMEOUT",
    "Found",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalEvent",
    "JournalLockedError",
    "LineOutcome",
    "LineState",
    "NotFound",
    "OPTIONAL_COLUMNS",
    "Outcome",
    "PlanError",
    "PlanProblem",
    "REQUIRED_COLUMNS",
    "RunReport",
    "SCHEMA_VERSION",
    "Undecided",
    "check_period",
    "current_period",
    "dollars",
    "is_definite",
    "line_key",
    "match_invoice",
    "preview_plan",
    "run_plan",
]

_publish(globals())
