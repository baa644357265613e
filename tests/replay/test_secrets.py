"""Secrets never reach disk: field redaction at record time, and the scan that refuses to save."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import viam_billing as vb
import viam_billing_replay as replay
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio

ORG = "org-1"
API_KEY = "key-5f0c3b1d9e8a47c2b6d4e1f0a9b8c7d6"
API_KEY_ID = "keyid-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
TOKEN = "tok-Zm9vYmFyYmF6cXV4cXV1eA"


def answering(**responses: Any) -> vb.MockTransport:
    """A transport answering each named operation with the given response (or raising the given error)."""

    def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        answer = responses[operation.name]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return vb.MockTransport(handler)


async def test_sensitive_fields_are_redacted_by_default(open_client: Any, cassette: Path) -> None:
    """Billing e-mail, card and bank digits and the verification link are placeholders in the cassette only."""
    async with open_client("once") as billing:
        live = await billing.get_org_billing_information(ORG)
    assert live.billing_email == "owner@example.com"  # the caller got the real answer while recording
    text = cassette.read_text()
    for secret in ("owner@example.com", "4242", "6789", "110000000", "https://verify.example/abc"):
        assert secret not in text
    async with open_client("none") as billing:
        replayed = await billing.get_org_billing_information(ORG)
    assert replayed.billing_email == replay.REDACTED
    assert replayed.method == vb.PaymentMethodCard(brand="visa", last_four_digits=replay.REDACTED)
    account = replayed.method_us_bank_account
    assert account is not None
    assert (account.bank_name, account.account_type) == ("First Loopback", "checking")
    assert (account.last_four_digits_account_number, account.routing_number) == (replay.REDACTED, replay.REDACTED)
    assert account.verification_info == vb.VerificationInfo(
        arrival_date=1764547200, hosted_verification_page_url=replay.REDACTED
    )
    assert set(replay.DEFAULT_REDACTIONS) >= {"billing_email", "last_four_digits", "routing_number"}


async def test_redaction_can_be_turned_off(open_client: Any, cassette: Path) -> None:
    """redact=() records every field as it came."""
    async with open_client("once", redact=()) as billing:
        await billing.get_org_billing_information(ORG)
    assert "owner@example.com" in cassette.read_text()


async def test_placeholders_can_be_chosen_per_field(open_client: Any) -> None:
    """A mapping gives each redacted field its own placeholder; absent fields stay absent."""
    inner = answering(
        GetOrgBillingInformation=vb.GetOrgBillingInformationResponse(
            billing_email="cfo@corp.example", billing_tier=None
        ),
        GetInvoicesSummary=vb.GetInvoicesSummaryResponse(outstanding_balance=1234.5),
    )
    redact = {"billing_email": "someone@example.invalid", "billing_tier": "hidden", "outstanding_balance": 0}
    async with open_client("once", inner=inner, redact=redact) as billing:
        await billing.get_org_billing_information(ORG)
        await billing.get_invoices_summary(ORG)
    async with open_client("none", redact=redact) as billing:
        info = await billing.get_org_billing_information(ORG)
        summary = await billing.get_invoices_summary(ORG)
    assert (info.billing_email, info.billing_tier) == ("someone@example.invalid", None)
    assert summary.outstanding_balance == 0.0


async def test_a_placeholder_of_the_wrong_type_is_refused(open_client: Any, cassette: Path) -> None:
    """A text placeholder for a number field is a configuration error, not a cassette that cannot load."""
    inner = answering(GetInvoicesSummary=vb.GetInvoicesSummaryResponse(outstanding_balance=1.0))
    with pytest.raises(vb.ConfigurationError, match=r"GetInvoicesSummaryResponse.outstanding_balance must be a float"):
        async with open_client("once", inner=inner, redact={"outstanding_balance": "lots"}) as billing:
            await billing.get_invoices_summary(ORG)
    assert not cassette.exists()


async def test_redacted_request_fields_still_match(open_client: Any, cassette: Path) -> None:
    """A redacted request field is redacted on both sides of matching, so the live request finds its recording."""
    async with open_client("once", redact=["org_id"]) as billing:
        await billing.get_invoices_summary(ORG)
    assert ORG not in cassette.read_text()
    async with open_client("none", redact=["org_id"], on_unplayed="error") as billing:
        assert (await billing.get_invoices_summary(ORG)).outstanding_balance == 42.0


async def test_credentials_and_metadata_are_not_recorded(open_client: Any, cassette: Path) -> None:
    """Recording with credentials writes neither them nor any authorization metadata."""
    async with open_client("once", api_key=API_KEY, api_key_id=API_KEY_ID, access_token=TOKEN) as billing:
        await billing.get_invoices_summary(ORG)
        await billing.get_invoice_pdf_bytes("inv-1", ORG)
    text = cassette.read_text().lower()
    for needle in (API_KEY, API_KEY_ID, TOKEN, "authorization", "bearer"):
        assert needle.lower() not in text


@pytest.mark.parametrize(
    ("options", "environment", "responses", "kind", "where"),
    [
        (
            {"api_key": API_KEY},
            {},
            {"GetOrgBillingInformation": vb.GetOrgBillingInformationResponse(billing_tier=f"tier {API_KEY}")},
            "API key (api_key option)",
            "interaction 0 (GetOrgBillingInformation)",
        ),
        (
            {"api_key_id": API_KEY_ID},
            {},
            {
                "GetLocationBillingOrganization": vb.GetLocationBillingOrganizationResponse(
                    billing_organization_id=API_KEY_ID
                )
            },
            "API key id (api_key_id option)",
            "interaction 0 (GetLocationBillingOrganization)",
        ),
        (
            {"access_token": TOKEN},
            {},
            {"GetAvailableBillingTiers": vb.UnauthenticatedError(f"token {TOKEN} expired")},
            "access token (access_token option)",
            "interaction 0 (GetAvailableBillingTiers)",
        ),
        (
            {},
            {"VIAM_API_KEY": API_KEY},
            {
                "GetInvoicePdf": [
                    vb.GetInvoicePdfResponse(chunk=b"%PDF " + API_KEY[:10].encode()),
                    vb.GetInvoicePdfResponse(chunk=API_KEY[10:].encode() + b" %%EOF"),
                ]
            },
            "API key (VIAM_API_KEY environment variable)",
            "interaction 0 (GetInvoicePdf)",
        ),
        (
            {"api_key": 'key"with\\quote'},
            {},
            {"GetOrgBillingInformation": vb.GetOrgBillingInformationResponse(billing_tier='key"with\\quote')},
            "API key (api_key option)",
            "interaction 0 (GetOrgBillingInformation)",
        ),
    ],
)
async def test_the_secret_scan_refuses_to_save(
    open_client: Any,
    cassette: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
    environment: dict[str, str],
    responses: dict[str, Any],
    kind: str,
    where: str,
) -> None:
    """A known secret anywhere in the cassette (text, JSON-escaped, split across PDF chunks) stops the save."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    async with open_client("once", redact=()) as billing:
        await billing.get_available_billing_tiers()
    before = cassette.read_bytes()

    async def session() -> None:
        async with open_client("all", inner=answering(**responses), redact=(), **options) as billing:
            for name in responses:
                operation = vb.operation(name)
                request = operation.request_type(**({"org_id": ORG} if name == "GetInvoicePdf" else {}))
                try:
                    if operation.streaming:
                        async with billing.open_stream(operation, request) as messages:
                            _ = [message async for message in messages]
                    else:
                        await billing.call(operation, request)
                except vb.StatusError:
                    pass

    with pytest.raises(replay.CassetteSecretError) as info:
        await session()
    error = info.value
    assert error.kind == kind
    assert kind in str(error)
    assert where in str(error)
    secret = options.get("api_key") or options.get("api_key_id") or options.get("access_token") or API_KEY
    assert secret not in str(error)
    assert secret not in repr(error)
    assert cassette.read_bytes() == before  # nothing was written
    assert os.listdir(cassette.parent) == ["test.json"]


async def test_secrets_the_wrapped_transport_knows_are_scanned_for(registry: vb.PluginRegistry, cassette: Path) -> None:
    """A wrapped transport's known_secrets() (a session token it obtained) joins the scan."""

    class TokenTransport(vb.MockTransport):
        def known_secrets(self) -> dict[str, str]:
            return {"access token": TOKEN}

    inner = TokenTransport(
        lambda operation, request: vb.GetLocationBillingOrganizationResponse(billing_organization_id=TOKEN)
    )
    with pytest.raises(replay.CassetteSecretError, match=r"access token \(from the TokenTransport\)"):
        async with vb.connect(
            transport="replay", cassette=cassette, record_mode="once", inner=inner, registry=registry
        ) as billing:
            await billing.get_location_billing_organization("loc-1")
    assert not cassette.exists()


async def test_the_scan_finds_secrets_in_the_cassette_before_redaction_saves_it(
    open_client: Any, cassette: Path
) -> None:
    """Redacting the field that carried the secret lets the same recording be saved."""
    inner = answering(GetOrgBillingInformation=vb.GetOrgBillingInformationResponse(billing_tier=API_KEY))
    async with open_client("once", inner=inner, api_key=API_KEY, redact=["billing_tier"]) as billing:
        info = await billing.get_org_billing_information(ORG)
    assert info.billing_tier == API_KEY
    assert API_KEY not in cassette.read_text()
    assert json.loads(cassette.read_text())["interactions"][0]["responses"][0]["billing_tier"] == replay.REDACTED


async def test_values_from_a_secrets_method_are_scanned_for(registry: vb.PluginRegistry, cassette: Path) -> None:
    """A wrapped transport's plain secrets() iterable joins the scan as well, named by its class."""

    class SessionTransport(vb.MockTransport):
        def secrets(self) -> list[str]:
            return ["", TOKEN]

    inner = SessionTransport(lambda operation, request: vb.GetAvailableBillingTiersResponse(tiers=(TOKEN,)))
    with pytest.raises(replay.CassetteSecretError, match="credential held by the SessionTransport"):
        async with vb.connect(
            transport="replay", cassette=cassette, record_mode="once", inner=inner, registry=registry
        ) as billing:
            await billing.get_available_billing_tiers()
    assert not cassette.exists()


async def test_a_session_token_of_the_grpc_transport_is_never_saved(tmp_path: Path) -> None:
    """Recording through the real grpc transport, a response that carries the session token it obtained (an
    invoice id seeded from it) stops the save: the error names the kind of secret, never its value."""
    cassette = tmp_path / "token.json"
    tokens: list[str] = []

    async def session(emulator: Emulator) -> None:
        options = emulator.connect_options()
        async with vb.connect(
            transport="replay", cassette=cassette, record_mode="once", timeout=10, **options
        ) as billing:
            await billing.get_available_billing_tiers()  # authenticates: the session token exists from here on
            tokens.extend(emulator.issued_tokens)
            emulator.add_invoice(ACME_ORG_ID, amount=1.0, invoice_id=tokens[0])
            summary = await billing.get_invoices_summary(ACME_ORG_ID)
            assert summary.invoices[0].id == tokens[0]

    async with Emulator() as emulator:
        with pytest.raises(replay.CassetteSecretError) as info:
            await session(emulator)
    (token,) = tokens
    error = info.value
    assert error.kind == "credential held by the GrpcTransport (key, key id or session token)"
    assert error.kind in str(error)
    assert "interaction 1 (GetInvoicesSummary)" in str(error)
    assert token not in str(error)
    assert token not in repr(error)
    assert os.listdir(tmp_path) == []  # nothing written, no temporary file
