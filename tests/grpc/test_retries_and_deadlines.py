"""Deadlines, retries of the safe reads only, connection loss, and the mapping of failures to our errors."""

from __future__ import annotations

import socket

import anyio
import pytest
import viam_billing as vb
from viam_billing import StatusCode
from viam_billing_grpc import GrpcTransport, RetryPolicy
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio


async def test_timeout_becomes_the_deadline(make_client, emulator: Emulator, eventually) -> None:
    """A call slower than its timeout raises DeadlineExceededError, and the server sees the call end."""
    emulator.delay("GetInvoicesSummary", 30)
    async with make_client(timeout=30) as billing:
        with pytest.raises(vb.DeadlineExceededError) as caught:
            await billing.get_invoices_summary(ACME_ORG_ID, timeout=0.2)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.operation == "GetInvoicesSummary"
    await eventually(lambda: emulator.cancelled["GetInvoicesSummary"] == 1)
    assert emulator.received["GetInvoicesSummary"] == 1


async def test_the_clients_default_timeout_applies(make_client, emulator: Emulator) -> None:
    """With no per-call timeout, the client's default becomes the deadline."""
    emulator.delay("GetAvailableBillingTiers", 30)
    async with make_client(timeout=0.2) as billing:
        with pytest.raises(vb.DeadlineExceededError):
            await billing.get_available_billing_tiers()


async def test_reads_are_retried_through_an_unavailable_burst(billing: vb.BillingClient, emulator: Emulator) -> None:
    """Two UNAVAILABLE answers in a row are retried; the third attempt succeeds."""
    emulator.fail_next("GetInvoicesSummary", StatusCode.UNAVAILABLE, count=2)
    summary = await billing.get_invoices_summary(ACME_ORG_ID)
    assert summary.invoices
    assert emulator.received["GetInvoicesSummary"] == 3


async def test_a_charge_hitting_unavailable_is_sent_exactly_once(billing: vb.BillingClient, emulator: Emulator) -> None:
    """A charge is never retried: UNAVAILABLE is raised after one attempt and nothing was charged twice."""
    emulator.fail_next("ChargeOrganization", StatusCode.UNAVAILABLE, count=2)
    with pytest.raises(vb.UnavailableError) as caught:
        await billing.charge_organization(ACME_ORG_ID, 10.0, 0.8, "support")
    assert caught.value.operation == "ChargeOrganization"
    assert emulator.received["ChargeOrganization"] == 1
    assert emulator.charges == []


@pytest.mark.parametrize(
    ("call", "rpc"),
    [
        (lambda b: b.update_organization_billing_tier(ACME_ORG_ID, "pro"), "UpdateOrganizationBillingTier"),
        (
            lambda b: b.update_location_billing_organization("loc-acme-field", ACME_ORG_ID),
            "UpdateLocationBillingOrganization",
        ),
        (lambda b: b.send_payment_required_email(ACME_ORG_ID, ACME_ORG_ID), "SendPaymentRequiredEmail"),
    ],
)
async def test_updates_and_the_email_are_never_retried(
    billing: vb.BillingClient, emulator: Emulator, call, rpc
) -> None:
    """Every call the operation table does not mark safe is made once only."""
    emulator.fail_next(rpc, StatusCode.UNAVAILABLE)
    with pytest.raises(vb.UnavailableError):
        await call(billing)
    assert emulator.received[rpc] == 1


async def test_retries_stop_after_max_attempts(make_client, emulator: Emulator) -> None:
    """A longer outage than the policy allows raises the last UNAVAILABLE after max_attempts calls."""
    emulator.fail_next("GetAvailableBillingTiers", StatusCode.UNAVAILABLE, count=10)
    async with make_client(retry=RetryPolicy(max_attempts=3, initial_backoff=0.001)) as billing:
        with pytest.raises(vb.UnavailableError):
            await billing.get_available_billing_tiers()
    assert emulator.received["GetAvailableBillingTiers"] == 3


async def test_retry_none_turns_retrying_off(make_client, emulator: Emulator) -> None:
    """retry=None makes every read exactly once."""
    emulator.fail_next("GetAvailableBillingTiers", StatusCode.UNAVAILABLE)
    async with make_client(retry=None) as billing:
        with pytest.raises(vb.UnavailableError):
            await billing.get_available_billing_tiers()
    assert emulator.received["GetAvailableBillingTiers"] == 1


async def test_retries_never_sleep_past_the_deadline(make_client, emulator: Emulator) -> None:
    """When the next backoff would end after the deadline, the last error is raised instead of sleeping."""
    emulator.fail_next("GetAvailableBillingTiers", StatusCode.UNAVAILABLE, count=100)
    policy = RetryPolicy(max_attempts=100, initial_backoff=60, max_backoff=60, multiplier=1)
    async with make_client(retry=policy, timeout=30) as billing:
        with anyio.fail_after(30):  # a sleep of up to 60 s would have hung here
            with pytest.raises(vb.UnavailableError):
                await billing.get_available_billing_tiers(timeout=0.5)
    # Only the attempts whose backoff happened to fit in the 0.5 s budget were made.
    assert emulator.received["GetAvailableBillingTiers"] < 100


async def test_other_statuses_are_not_retried(billing: vb.BillingClient, emulator: Emulator) -> None:
    """Only the policy's statuses are retried: INTERNAL fails at once, with the server's message."""
    emulator.fail_next("GetInvoicesSummary", StatusCode.INTERNAL, message="database on fire")
    with pytest.raises(vb.InternalError, match="database on fire") as caught:
        await billing.get_invoices_summary(ACME_ORG_ID)
    assert caught.value.code == StatusCode.INTERNAL
    assert emulator.received["GetInvoicesSummary"] == 1


async def test_a_read_is_retried_after_the_connection_is_lost(billing: vb.BillingClient, emulator: Emulator) -> None:
    """A connection dropped before any answer is retried on a new connection for a safe read."""
    await billing.get_available_billing_tiers()
    emulator.drop_connection("GetInvoicesSummary")
    summary = await billing.get_invoices_summary(ACME_ORG_ID)
    assert summary.invoices
    assert emulator.received["GetInvoicesSummary"] == 2


async def test_a_charge_is_not_retried_after_the_connection_is_lost(
    billing: vb.BillingClient, emulator: Emulator
) -> None:
    """A charge cut off with its connection raises TransportError: it may or may not have happened."""
    await billing.get_available_billing_tiers()
    emulator.drop_connection("ChargeOrganization")
    with pytest.raises(vb.TransportError, match="may or may not") as caught:
        await billing.charge_organization(ACME_ORG_ID, 5.0, 0.0)
    assert caught.value.operation == "ChargeOrganization"
    assert emulator.received["ChargeOrganization"] == 1
    # The client recovers on a new connection.
    assert (await billing.get_available_billing_tiers()).tiers


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_connection_raises_connect_error(anyio_backend) -> None:
    """Nothing listening: a ConnectError naming the address, after the read's retries."""
    port = _closed_port()
    transport = GrpcTransport(
        f"127.0.0.1:{port}", access_token="t", insecure=True, retry=RetryPolicy(initial_backoff=0.001)
    )
    async with vb.BillingClient(transport, timeout=30) as billing:
        with pytest.raises(vb.ConnectError, match=f"127.0.0.1:{port}.*refused") as caught:
            await billing.get_available_billing_tiers()
    assert caught.value.operation == "GetAvailableBillingTiers"
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_plaintext_server_behind_a_tls_address_raises_connect_error(emulator: Emulator) -> None:
    """Speaking TLS to a plaintext server fails as a ConnectError, not a hang or a raw ssl error."""
    transport = GrpcTransport(emulator.address, access_token="t", retry=None)
    async with vb.BillingClient(transport, timeout=30) as billing:
        with pytest.raises(vb.ConnectError, match="TLS"):
            await billing.get_available_billing_tiers()
