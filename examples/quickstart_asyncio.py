"""viam-billing on asyncio: this month's usage, the invoices, and one invoice PDF saved atomically.

python examples/quickstart_asyncio.py                 # against the bundled local emulator (offline)
python examples/quickstart_asyncio.py ORG_ID          # against app.viam.com, with VIAM_API_KEY and
                                                      # VIAM_API_KEY_ID set in the environment
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import viam_billing
from viam_billing.plugin import safe_name


@contextlib.asynccontextmanager
async def billing_service(argv: list[str]) -> AsyncIterator[tuple[dict[str, Any], str]]:
    """Connection options and an organization: the real service when an org id is given, else the emulator."""
    if argv:
        yield {}, argv[0]  # connect() reads VIAM_API_KEY and VIAM_API_KEY_ID itself
        return
    from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

    async with Emulator() as emulator:
        yield emulator.connect_options(), ACME_ORG_ID


def day(value: datetime | None) -> str:
    """A date, or "?" when the service left it out."""
    return "?" if value is None else f"{value:%Y-%m-%d}"


async def main(argv: list[str]) -> None:
    async with (
        billing_service(argv) as (options, org_id),
        viam_billing.connect(timeout=10, **options) as billing,
    ):
        usage = await billing.get_current_month_usage(org_id)
        print(f"{day(usage.start_date)} to {day(usage.end_date)}, usage so far:")
        # Each source's cost lines, less its discount, make its total; the totals make the subtotal.
        for source in usage.resource_usage_costs_by_source:
            costs = source.resource_usage_costs
            before = sum(line.cost for line in costs.usage_costs) if costs else 0.0
            discount = costs.discount if costs else 0.0
            print(f"  {source.source_type.name:<22} {source.tier_name:<20} ${before:>9,.2f} "
                  f"- ${discount:>7,.2f} = ${before - discount:>9,.2f}")  # fmt: skip
        print(f"  subtotal after discounts, before tax: ${usage.subtotal:,.2f}")

        summary = await billing.get_invoices_summary(org_id)
        print(f"outstanding balance: ${summary.outstanding_balance:,.2f}")
        for invoice in summary.invoices:
            print(f"  {invoice.id:<20} {invoice.status:<20} ${invoice.invoice_amount:,.2f}")

        if summary.invoices:
            first = summary.invoices[0]
            # The id comes from the server: safe_name keeps it from naming a path outside this directory.
            path = f"{safe_name(first.id)}.pdf"
            size = await billing.get_invoice_pdf(first.id, org_id, path)
            print(f"saved {path} ({size} bytes)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
