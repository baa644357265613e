"""A local emulator of Viam's billing service, to test code that uses viam-billing without the real service.

A real gRPC server (grpclib, HTTP/2 on loopback) of ``AuthService/Authenticate`` and all 11 ``BillingService``
RPCs, enforcing the API key and the Bearer token, with seeded data, fault injection and counters::

    from viam_billing_grpc.emulator import Emulator

    async with Emulator() as emulator:                   # asyncio or trio; a free port on 127.0.0.1
        async with viam_billing.connect(**emulator.connect_options()) as billing:
            summary = await billing.get_invoices_summary(ACME_ORG_ID)
        emulator.fail_next("GetInvoicesSummary", StatusCode.UNAVAILABLE, count=2)
        assert emulator.received["ChargeOrganization"] == 0

``Emulator(handler=...)`` serves a function instead of the seed (the handler of
:class:`~viam_billing.MockTransport`, behind real gRPC and the same authentication): how
:mod:`viam_billing.testing` checks the gRPC transport.

From a shell: ``python -m viam_billing_grpc.emulator`` or ``viam-billing emulator`` (one command line: port 50051
unless ``--port`` says otherwise, credentials :data:`DEFAULT_API_KEY` and :data:`DEFAULT_API_KEY_ID` unless given).

The seed (ids are stable; dates sit in the months before the emulator's clock):

- :data:`ACME_ORG_ID` "Acme Robotics": card (visa 4242), tier ``pro``; usage from the organization (12 cost types,
  a discount) and two fragments; invoices ``inv-acme-0001`` and ``-0002`` paid, ``-0003`` outstanding after a
  failed payment ("Your card was declined."), ``-0004`` outstanding.
- :data:`GLOBEX_ORG_ID` "Globex Agritech": verified US bank account (no verification info), no tier shown;
  usage includes a line of cost type 99 (:data:`UNKNOWN_USAGE_COST_TYPE`, newer than any client);
  ``inv-globex-0001``/``-0002`` paid, ``-0003`` ``payment_processing``.
- :data:`INITECH_ORG_ID` "Initech Labs": US bank account awaiting verification (with verification info), tier
  ``free``, no invoices.
- :data:`UMBRELLA_ORG_ID` "Umbrella Fleet Services": no payment method, tier ``enterprise``, billed for the
  location ``loc-acme-field``; ``inv-umbrella-0001`` paid.
- :data:`FOREIGN_ORG_ID`: exists but the key does not own it: every call about it is PERMISSION_DENIED.
- :data:`LOCATIONS` maps location ids to their billing organization; :data:`BILLING_TIERS` are the tiers.
- ``Emulator(orgs=N)`` (``--orgs N`` from a shell) adds N generated organizations, :func:`generated_org_id`
  ``(1)`` to ``(N)``, each with three usage lines and two invoices (five calls to export one).

Every invoice has a small real one-page PDF, streamed in chunks of ``chunk_size`` bytes (512 by default).
Charges (``ChargeOrganization``, ``CreateInvoiceAndChargeImmediately``) add an invoice ``inv-emu-000001``,
``-000002``, ... with status ``payment_processing``, listed first by ``GetInvoicesSummary`` and recorded in
:attr:`Emulator.charges`. Unknown organizations, invoices and locations are NOT_FOUND; empty ids, unknown tiers
and negative amounts INVALID_ARGUMENT.

To test code that must never charge twice: :meth:`Emulator.apply_then_hang` and :meth:`Emulator.apply_then_drop`
make the next charge and lose its answer (the client's deadline passes, or its connection drops);
:meth:`Emulator.fail_next` refuses one before making it; :attr:`Emulator.charges_per_org` counts the charges each
organization received.
"""

from __future__ import annotations

from viam_billing.plugin import publish as _publish

from ._emulator import DEFAULT_API_KEY as DEFAULT_API_KEY
from ._emulator import DEFAULT_API_KEY_ID as DEFAULT_API_KEY_ID
from ._emulator import Emulator as Emulator
from ._pdf import invoice_pdf as invoice_pdf
from ._seed import ACME_ORG_ID as ACME_ORG_ID
from ._seed import BILLING_TIERS as BILLING_TIERS
from ._seed import FOREIGN_ORG_ID as FOREIGN_ORG_ID
from ._seed import GLOBEX_ORG_ID as GLOBEX_ORG_ID
from ._seed import INITECH_ORG_ID as INITECH_ORG_ID
from ._seed import LOCATIONS as LOCATIONS
from ._seed import UMBRELLA_ORG_ID as UMBRELLA_ORG_ID
from ._seed import UNKNOWN_USAGE_COST_TYPE as UNKNOWN_USAGE_COST_TYPE
from ._seed import generated_org_id as generated_org_id
from ._service import Charge as Charge

__all__ = [
    "ACME_ORG_ID",
    "BILLING_TIERS",
    "Charge",
    "DEFAULT_API_KEY",
    "DEFAULT_API_KEY_ID",
    "Emulator",
    "FOREIGN_ORG_ID",
    "GLOBEX_ORG_ID",
    "INITECH_ORG_ID",
    "LOCATIONS",
    "UMBRELLA_ORG_ID",
    "UNKNOWN_USAGE_COST_TYPE",
    "generated_org_id",
    "invoice_pdf",
]

_publish(globals())
