"""Authentication: the API key handshake, the Bearer token, expiry and renewal, and secrets kept out of sight."""

from __future__ import annotations

import logging

import anyio
import pytest
import viam_billing as vb
from viam_billing_grpc import GrpcTransport, RetryPolicy
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio


async def test_concurrent_calls_share_one_handshake(make_client, emulator: Emulator) -> None:
    """Twenty calls started together on a fresh client cause exactly one Authenticate."""
    async with make_client() as billing:
        results = []

        async def call() -> None:
            results.append(await billing.get_available_billing_tiers())

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
    assert len(results) == 20
    assert emulator.received["Authenticate"] == 1


async def test_wrong_key_raises_unauthenticated_without_the_key(emulator: Emulator) -> None:
    """A refused key fails the call as UNAUTHENTICATED from Authenticate, naming the fix, printing no key."""
    wrong_key = "not-the-right-key-5e3c2a"
    options = {**emulator.connect_options(), "api_key": wrong_key}
    async with vb.connect(**options, timeout=30) as billing:
        with pytest.raises(vb.UnauthenticatedError) as caught:
            await billing.get_invoices_summary(ACME_ORG_ID)
    error = caught.value
    assert error.operation == "Authenticate"
    assert "VIAM_API_KEY" in str(error)
    for secret in (wrong_key, emulator.api_key, emulator.api_key_id):
        assert secret not in str(error)
        assert secret not in repr(error)
    assert emulator.received["GetInvoicesSummary"] == 0


async def test_wrong_key_is_tried_again_on_the_next_call(emulator: Emulator) -> None:
    """A failed handshake is not cached: the next call authenticates again."""
    options = {**emulator.connect_options(), "api_key": "wrong"}
    async with vb.connect(**options, timeout=30) as billing:
        for _ in range(2):
            with pytest.raises(vb.UnauthenticatedError):
                await billing.get_available_billing_tiers()
    assert emulator.received["Authenticate"] == 2


async def test_expired_token_is_renewed_once_and_the_call_retried(
    billing: vb.BillingClient, emulator: Emulator
) -> None:
    """After expiry the refused call authenticates again and succeeds, for every RPC (a charge included)."""
    await billing.get_available_billing_tiers()
    emulator.expire_tokens()
    charged = await billing.charge_organization(ACME_ORG_ID, 1.0, 0.0)
    assert emulator.received["Authenticate"] == 2
    assert emulator.received["ChargeOrganization"] == 2  # refused once before acting, then served
    assert [c.invoice_id for c in emulator.charges] == [charged.invoice_id]


async def test_concurrent_calls_after_expiry_renew_the_token_once(
    billing: vb.BillingClient, emulator: Emulator
) -> None:
    """Calls refused together after expiry share a single new handshake."""
    await billing.get_available_billing_tiers()
    emulator.expire_tokens()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(billing.get_available_billing_tiers)
    assert emulator.received["Authenticate"] == 2


async def test_streams_renew_an_expired_token(billing: vb.BillingClient, emulator: Emulator) -> None:
    """The PDF stream renews an expired token like a unary call."""
    await billing.get_available_billing_tiers()
    emulator.expire_tokens()
    pdf = await billing.get_invoice_pdf_bytes("inv-acme-0001", ACME_ORG_ID)
    assert pdf == emulator.pdf(ACME_ORG_ID, "inv-acme-0001")
    assert emulator.received["Authenticate"] == 2


async def test_a_token_refused_at_once_is_not_renewed(anyio_backend) -> None:
    """A token that never worked is not renewed: the error comes after one handshake, not a loop of them."""
    async with Emulator(token_ttl=1e-9) as emulator, vb.connect(**emulator.connect_options(), timeout=30) as billing:
        with pytest.raises(vb.UnauthenticatedError) as caught:
            await billing.get_invoices_summary(ACME_ORG_ID)
        assert caught.value.operation == "GetInvoicesSummary"
        assert emulator.received["Authenticate"] == 1
        assert emulator.received["GetInvoicesSummary"] == 1


async def test_access_token_given_directly(emulator: Emulator) -> None:
    """access_token= skips the handshake and is sent as a Bearer token; a refused one is not renewed."""
    token = emulator.issue_token()
    async with vb.connect(address=emulator.address, access_token=token, insecure=True, timeout=30) as billing:
        assert (await billing.get_available_billing_tiers()).tiers
        emulator.expire_tokens()
        with pytest.raises(vb.UnauthenticatedError, match="API key"):
            await billing.get_available_billing_tiers()
    assert emulator.received["Authenticate"] == 0


async def test_handshake_obeys_the_call_deadline(make_client, emulator: Emulator) -> None:
    """A slow Authenticate fails the waiting call at its deadline; closing stops the pending handshake."""
    emulator.delay("Authenticate", 30)
    async with make_client(timeout=0.2) as billing:
        with pytest.raises(vb.DeadlineExceededError):
            await billing.get_available_billing_tiers()
    assert emulator.received["GetAvailableBillingTiers"] == 0


async def test_handshake_is_retried_through_unavailable(make_client, emulator: Emulator) -> None:
    """Authenticate is safe to repeat: an UNAVAILABLE answer is retried."""
    emulator.fail_next("Authenticate", vb.StatusCode.UNAVAILABLE, count=2)
    async with make_client() as billing:
        await billing.get_available_billing_tiers()
    assert emulator.received["Authenticate"] == 3


async def test_handshake_follows_the_retry_policy(make_client, emulator: Emulator) -> None:
    """Authenticate goes through the retry policy of the calls: with retry=None, one UNAVAILABLE is the error."""
    emulator.fail_next("Authenticate", vb.StatusCode.UNAVAILABLE)
    async with make_client(retry=None) as billing:
        with pytest.raises(vb.UnavailableError) as caught:
            await billing.get_available_billing_tiers()
    assert caught.value.operation == "Authenticate"
    assert emulator.received["Authenticate"] == 1
    assert emulator.received["GetAvailableBillingTiers"] == 0


async def test_debug_logs_hold_no_key_nor_token(now, caplog) -> None:
    """With every logger at DEBUG (the HTTP/2 libraries' too), no key, key id or token is printed.

    The emulator runs in this process and its own redaction would hide the same secrets: it is told not to, so
    what is proven is the client's redaction.
    """
    caplog.set_level(logging.DEBUG)
    fast = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)
    async with Emulator(now=now, redact_logs=False) as emulator:
        emulator.fail_next("GetInvoicesSummary", vb.StatusCode.UNAVAILABLE)
        async with vb.connect(**emulator.connect_options(), timeout=30, retry=fast) as billing:
            await billing.get_invoices_summary(ACME_ORG_ID)
            first = emulator.issued_tokens
            emulator.expire_tokens()
            await billing.get_invoice_pdf_bytes("inv-acme-0001", ACME_ORG_ID)
            renewed = emulator.issued_tokens
        async with vb.connect(**{**emulator.connect_options(), "api_key": "wrong-key-9f8e7d"}, timeout=30) as bad:
            with pytest.raises(vb.UnauthenticatedError):
                await bad.get_available_billing_tiers()
        secrets = (emulator.api_key, emulator.api_key_id, "wrong-key-9f8e7d", *first, *renewed)
    assert first
    assert renewed
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"hpack", "viam_billing_grpc"} <= loggers, "the DEBUG capture reached the headers and our logger"
    text = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in secrets:
        assert secret not in text


async def test_secrets_hold_the_key_its_id_and_every_session_token(
    make_client, emulator: Emulator, transport_of
) -> None:
    """secrets() (what the replay transport scans a cassette for) yields the key, the key id and each token the
    handshakes obtained, the renewed one too, and still does once closed; the repr shows none of them."""
    async with make_client() as billing:
        transport = transport_of(billing)
        assert set(transport.secrets()) == {emulator.api_key, emulator.api_key_id}
        await billing.get_available_billing_tiers()
        first = emulator.issued_tokens
        emulator.expire_tokens()
        await billing.get_available_billing_tiers()
        renewed = emulator.issued_tokens
    assert len(first) == len(renewed) == 1
    assert first != renewed
    assert set(transport.secrets()) == {emulator.api_key, emulator.api_key_id, *first, *renewed}
    for secret in transport.secrets():
        assert secret not in repr(transport)


def test_secrets_hold_an_access_token_given() -> None:
    """A token passed as access_token= is among the secrets, and only secrets that are not empty are yielded."""
    transport = GrpcTransport("127.0.0.1:1", access_token="tok-4b9d1e", insecure=True)
    secrets = list(transport.secrets())
    assert "tok-4b9d1e" in secrets
    assert all(secrets)


async def test_repr_shows_the_address_and_no_secret(make_client, emulator: Emulator, transport_of) -> None:
    """The client's and the transport's repr name the address, never the key, key id or token."""
    async with make_client() as billing:
        await billing.get_available_billing_tiers()
        texts = [repr(billing), repr(transport_of(billing)), str(billing)]
    assert emulator.address in texts[1]
    for text in texts:
        for secret in (emulator.api_key, emulator.api_key_id, *emulator.issued_tokens):
            assert secret not in text


def test_transport_repr_before_use_has_no_secret() -> None:
    """A transport built with an access token does not show it."""
    transport = GrpcTransport("127.0.0.1:1", access_token="tok-4b9d1e", insecure=True)
    assert "tok-4b9d1e" not in repr(transport)
    assert "http://127.0.0.1:1" in repr(transport)
