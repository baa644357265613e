"""``charge-plan``: a billing period's charges from a CSV plan, journaled so that no line is ever charged twice."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Settings, cli, fail, pass_settings

if TYPE_CHECKING:
    from viam_billing.charges import ChargePlan, LineOutcome, RunReport

__all__ = ["DEFAULT_JOURNAL", "charge_plan"]

DEFAULT_JOURNAL = "viam-billing-charges.db"

# viam_billing.charges (SQLite, csv, hashlib) is imported when charge-plan runs, not for every other command.


def _period(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from viam_billing.charges import check_period

    if value is None:
        return None
    try:
        return check_period(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month as YYYY-MM (like 2026-11)") from None


@cli.command("charge-plan")
@click.argument("plan_path", metavar="PLAN.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_JOURNAL,
    show_default=True,
    help="The SQLite journal of what was charged (created if missing). Keep it: it is what makes re-runs safe.",
)
@click.option(
    "--period",
    metavar="YYYY-MM",
    callback=_period,
    help="The billing period the plan is for, part of each line's key (default: this month, UTC). Needed when "
    "the journal holds another period's charges.",
)
@click.option("--dry-run", is_flag=True, help="Send nothing: show what would be charged, with the total.")
@click.option("--yes", is_flag=True, help="Charge without asking.")
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Send again the lines an earlier run left unknown whose invoice is still not found. Only after checking "
    "that they were not charged: this is the one way a line can be charged twice.",
)
@click.option(
    "--mark-charged",
    "marks",
    metavar="LINE=INVOICE_ID",
    multiple=True,
    help="After checking: record the plan's line LINE as charged by the invoice INVOICE_ID (one of its "
    "organization's invoices, for the line's amount). For a line left unknown when reconciliation cannot tell "
    "which invoice is its. Repeatable.",
)
@pass_settings
def charge_plan(
    settings: Settings,
    plan_path: Path,
    journal_path: Path,
    period: str | None,
    dry_run: bool,
    yes: bool,
    retry_unknown: bool,
    marks: tuple[str, ...],
) -> None:
    """Charge the organizations of a CSV plan, each line once, however often it is run.

    \b
    The plan's columns: org_id,subtotal,tax,description (amounts in US dollars), and optionally
    org_id_for_branding, disable_confirmation_email (true/false) and key. Each line's key (its key cell, or
    one made from the period, the organization and the description) is recorded in the journal, with the
    intent to charge, before the charge is sent; its outcome after. Running the plan again charges only the
    lines not charged yet, and says what it did line by line. A charge whose answer was lost is looked for
    among the organization's invoices; if it is not found, the line is "unknown" and left alone until you
    check: then pass --retry-unknown (it was not charged) or --mark-charged LINE=INVOICE_ID (it was).

    Exit status 0 when every line is charged (now or before), 1 when any was refused, is unknown or was not
    sent; 2 for a bad plan, a journal in use, or no confirmation.
    """
    from viam_billing.charges import (
        DEFAULT_TIMEOUT,
        ChargePlan,
        Journal,
        JournalError,
        Outcome,
        current_period,
        dollars,
        preview_plan,
        run_plan,
    )

    chosen = period or current_period()
    plan = ChargePlan.read(plan_path, period=chosen)  # a PlanError lists every problem, and exits 2
    mark_charged = _marks(plan, marks)
    try:
        journal = Journal(journal_path, read_only=dry_run)
    except JournalError as exc:
        fail(str(exc), EXIT_USAGE)
    with journal:
        others = sorted(journal.periods() - {chosen})
        if period is None and others:
            fail(
                f"the journal {journal_path} holds charges for {', '.join(others)}: say which period this plan is "
                f"for, --period {chosen} for this month's charges or --period {others[-1]} to finish that "
                "month's (the period is part of each line's key, so the wrong one would charge every line again)",
                EXIT_USAGE,
            )
        preview = preview_plan(plan, journal, retry_unknown=retry_unknown, mark_charged=mark_charged)
        count = len(plan.lines)
        _say(settings, f"Plan {plan.source} for {plan.period}: {_lines(count)}, {dollars(plan.total_cents)} in all "
                       f"(journal {journal_path})")  # fmt: skip
        if dry_run or not preview.lines(Outcome.WOULD_CHARGE, Outcome.WOULD_CHECK):
            # Nothing is sent: a dry run, or every line charged already (then no connection is needed either).
            for outcome in preview.outcomes:
                _show(settings, outcome)
            _warn_elsewhere(settings, preview)
            _say(settings, f"{'Dry run, nothing sent' if dry_run else 'Nothing to charge'}: {_summary(preview)}.")
            raise SystemExit(EXIT_FAILED if preview.lines(Outcome.REFUSED) else EXIT_OK)
        _confirm(settings, preview, yes)

        async def go() -> RunReport:
            async with settings.connect() as client:
                return await run_plan(
                    client,
                    plan,
                    journal,
                    retry_unknown=retry_unknown,
                    mark_charged=mark_charged,
                    timeout=settings.timeout or DEFAULT_TIMEOUT,
                    on_outcome=lambda outcome: _show(settings, outcome),
                )

        report = settings.run(go)
    if report.stopped is not None:
        _say(settings, f"{report.stopped}; the lines after it were not sent", err=True)
    _warn_elsewhere(settings, report)
    _say(settings, f"Summary: {_summary(report)}.")
    raise SystemExit(EXIT_OK if report.ok else EXIT_FAILED)


def _marks(plan: ChargePlan, marks: tuple[str, ...]) -> dict[str, str]:
    """``--mark-charged LINE=INVOICE_ID`` values as ``{key: invoice id}``; a usage error names a bad one."""
    by_line = {line.line: line for line in plan.lines}
    chosen: dict[str, str] = {}
    for mark in marks:
        number, _, invoice_id = mark.partition("=")
        line = by_line.get(int(number)) if number.strip().isdigit() else None
        if line is None or not invoice_id.strip():
            raise click.BadParameter(
                f"{mark!r} is not LINE=INVOICE_ID with the line a charge of {plan.source} starts on "
                f"(lines {', '.join(str(n) for n in by_line)})",
                param_hint="--mark-charged",
            )
        chosen[line.key] = invoice_id.strip()
    return chosen


def _say(settings: Settings, text: str, *, err: bool = False) -> None:
    """Print plain text (no markup: descriptions and messages may hold brackets), never wrapped mid-line."""
    (settings.err if err else settings.out).print(text, markup=False, highlight=False, soft_wrap=True)


def _lines(count: int) -> str:
    return f"{count} line{'s' if count != 1 else ''}"


def _show(settings: Settings, outcome: LineOutcome) -> None:
    """One line of output per plan line: where, whom, how much, what happened and why."""
    from viam_billing.charges import dollars

    line = outcome.line
    text = f"line {line.line}  {line.org_id}  {dollars(line.total_cents)}  {outcome.outcome}"
    _say(settings, f"{text}: {outcome.message}" if outcome.message else text)


def _summary(report: RunReport) -> str:
    """``charged 2 lines ($179.60); refused 1 line ($1.00)``: each kind of outcome, with its count and total."""
    from viam_billing.charges import Outcome, dollars

    order = (Outcome.CHARGED, Outcome.ALREADY_CHARGED, Outcome.WOULD_CHARGE, Outcome.WOULD_CHECK, Outcome.REFUSED,
             Outcome.UNKNOWN, Outcome.NOT_SENT)  # fmt: skip
    kinds = [kind for kind in order if report.lines(kind)]
    return "; ".join(
        f"{kind} {_lines(len(report.lines(kind)))} ({dollars(report.total_cents(kind))})" for kind in kinds
    )


def _warn_elsewhere(settings: Settings, report: RunReport) -> None:
    from viam_billing.charges import dollars

    for entry in report.unsettled_elsewhere:
        _say(
            settings,
            f"warning: the journal's line {entry.key} ({entry.org_id}, {dollars(entry.total_cents)}, period "
            f"{entry.period}) is not in this plan and is {entry.state}: it may have been charged; run its plan "
            "again to settle it",
            err=True,
        )


def _confirm(settings: Settings, preview: RunReport, yes: bool) -> None:
    """Show what the run may charge (count and total) and ask, unless ``--yes``; refuse without a terminal.

    Asked, the person sees every line first; with ``--yes`` only the count and total are printed, since each
    line's outcome follows.
    """
    from viam_billing.charges import Outcome, dollars

    to_charge = preview.lines(Outcome.WOULD_CHARGE)
    checked = len(preview.lines(Outcome.WOULD_CHECK))
    total = dollars(preview.total_cents(Outcome.WOULD_CHARGE))
    also = f"; {_lines(checked)} whose earlier outcome is unknown will be looked for, not sent" if checked else ""
    if not yes:
        for outcome in preview.outcomes:
            _show(settings, outcome)
    _say(settings, f"This will charge {_lines(len(to_charge))}, {total} in total{also}.")
    if yes or not to_charge:  # looking for invoices moves no money: nothing to confirm
        return
    if not sys.stdin.isatty():
        fail("not confirmed: run it on a terminal to be asked, or pass --yes", EXIT_USAGE)
    if not click.confirm(f"Charge {_lines(len(to_charge))}, {total}?", err=True):
        fail("not confirmed: nothing was charged", EXIT_USAGE)
