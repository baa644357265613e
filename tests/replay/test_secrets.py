"""Secrets never reach disk: field redaction at record time, and the scan that refuses to save.

The scan knows no transport: it asks the inner transport's ``secrets()`` (the documented optional capability of
``AsyncTransport``) and adds what the ``secrets`` option gives.
"""

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


class Holding(vb.MockTransport):
    """A MockTransport that holds credentials, as a real transport would, and reports them by ``secrets()``."""

    def __init__(self, handler: vb.Handler, *held: str) -> None:
        super().__init__(handler)
        self.held = list(held)

    def secrets(self) -> list[str]:
        return self.held


def answering(*held: str, **responses: Any) -> Holding:
    """A transport holding ``held`` and answering each named operation with the given response (or error)."""

    def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        answer = responses[operation.name]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Holding(handler, *held)


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


async def test_redaction_reaches_into_lists_of_models_and_fits_each_field(open_client: Any) -> None:
    """Fields inside repeated nested models are redacted; an optional field becomes absent, a list empty, and a
    number given for an enum or a float becomes that enum member or float."""
    async with open_client("once", redact=["id", "due_date", "invoices"]) as billing:
        await billing.get_invoices_summary(ORG)
    async with open_client("none", redact=["id", "due_date", "invoices"]) as billing:
        summary = await billing.get_invoices_summary(ORG)
    assert summary.invoices == ()  # the list itself was chosen
    redact = {"id": "inv-x", "paid_date": None, "source_type": 1, "subtotal": 7}
    async with open_client("all", redact=redact) as billing:
        await billing.get_invoices_summary(ORG)
        await billing.get_current_month_usage(ORG)
    async with open_client("none", redact=redact) as billing:
        summary = await billing.get_invoices_summary(ORG)
        usage = await billing.get_current_month_usage(ORG)
    assert [(invoice.id, invoice.paid_date) for invoice in summary.invoices] == [("inv-x", None), ("inv-x", None)]
    assert summary.invoices[0].due_date is not None  # not chosen: kept
    assert usage.resource_usage_costs_by_source[0].source_type is vb.SourceType(1)
    assert usage.subtotal == 7.0
    assert isinstance(usage.subtotal, float)


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


async def test_a_transport_holding_secrets_records_when_none_is_in_the_answers(
    open_client: Any, service: Any, cassette: Path
) -> None:
    """The scan has no false alarms: credentials the inner transport holds but nobody sent back are fine."""
    inner = Holding(service, API_KEY, API_KEY_ID, TOKEN)
    async with open_client("once", inner=inner) as billing:
        await billing.get_invoices_summary(ORG)
        await billing.get_invoice_pdf_bytes("inv-1", ORG)
    text = cassette.read_text()
    assert [item["operation"] for item in json.loads(text)["interactions"]] == ["GetInvoicesSummary", "GetInvoicePdf"]
    for needle in (API_KEY, API_KEY_ID, TOKEN):
        assert needle not in text


async def test_an_inner_transport_without_secrets_records_and_replays(
    open_client: Any, service: Any, cassette: Path
) -> None:
    """A transport that does not override secrets() (the base class returns none) records like any other."""

    class Bare(vb.AsyncTransport):
        async def unary(self, operation: Any, request: Any, *, timeout: float | None) -> Any:
            return vb.GetAvailableBillingTiersResponse(tiers=("free", API_KEY))

    assert list(Bare().secrets()) == []
    async with open_client("once", inner=Bare()) as billing:
        live = await billing.get_available_billing_tiers()
    assert API_KEY in cassette.read_text()  # nobody said it was a secret
    async with open_client("none", on_unplayed="error") as billing:
        assert await billing.get_available_billing_tiers() == live


INNER_KIND = "secret held by the inner Holding (from its secrets())"


@pytest.mark.parametrize(
    ("held", "options", "responses", "kind", "secret", "where"),
    [
        pytest.param(
            [API_KEY],
            {},
            {"GetOrgBillingInformation": vb.GetOrgBillingInformationResponse(billing_tier=f"tier {API_KEY}")},
            INNER_KIND,
            API_KEY,
            "interaction 0 (GetOrgBillingInformation)",
            id="inner-secret-in-a-response",
        ),
        pytest.param(
            ["", API_KEY_ID],
            {},
            {"GetAvailableBillingTiers": vb.UnauthenticatedError(f"key id {API_KEY_ID} revoked")},
            INNER_KIND,
            API_KEY_ID,
            "interaction 0 (GetAvailableBillingTiers)",
            id="inner-secret-in-an-error-message",
        ),
        pytest.param(
            [TOKEN],
            {},
            {
                "GetInvoicePdf": [
                    vb.GetInvoicePdfResponse(chunk=b"%PDF " + TOKEN[:10].encode()),
                    vb.GetInvoicePdfResponse(chunk=TOKEN[10:].encode() + b" %%EOF"),
                ]
            },
            INNER_KIND,
            TOKEN,
            "interaction 0 (GetInvoicePdf)",
            id="inner-secret-split-across-pdf-chunks",
        ),
        pytest.param(
            ['key"with\\quote'],
            {},
            {"GetOrgBillingInformation": vb.GetOrgBillingInformationResponse(billing_tier='key"with\\quote')},
            INNER_KIND,
            'key"with\\quote',
            "interaction 0 (GetOrgBillingInformation)",
            id="inner-secret-json-escaped",
        ),
        pytest.param(
            [],
            {"secrets": [TOKEN]},
            {
                "GetLocationBillingOrganization": vb.GetLocationBillingOrganizationResponse(
                    billing_organization_id=TOKEN
                )
            },
            "value given in the secrets option",
            TOKEN,
            "interaction 0 (GetLocationBillingOrganization)",
            id="secrets-option-list",
        ),
        pytest.param(
            [],
            {"secrets": {"support PIN": "pin-80427315"}},
            {"GetOrgBillingInformation": vb.GetOrgBillingInformationResponse(billing_tier="pin-80427315")},
            "support PIN (secrets option)",
            "pin-80427315",
            "interaction 0 (GetOrgBillingInformation)",
            id="secrets-option-mapping",
        ),
    ],
)
async def test_the_secret_scan_refuses_to_save(
    open_client: Any,
    cassette: Path,
    held: list[str],
    options: dict[str, Any],
    responses: dict[str, Any],
    kind: str,
    secret: str,
    where: str,
) -> None:
    """A secret anywhere in the cassette (text, JSON-escaped, an error, split across PDF chunks) stops the save;
    the error names the kind of secret and where it was, never the value."""
    async with open_client("once", redact=()) as billing:
        await billing.get_available_billing_tiers()
    before = cassette.read_bytes()

    async def session() -> None:
        async with open_client("all", inner=answering(*held, **responses), redact=(), **options) as billing:
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
    assert secret not in str(error)
    assert secret not in repr(error)
    assert cassette.read_bytes() == before  # nothing was written
    assert os.listdir(cassette.parent) == ["test.json"]


async def test_secrets_the_inner_transport_obtains_while_recording_are_scanned_for(
    open_client: Any, cassette: Path
) -> None:
    """secrets() is asked when saving, so a token the inner transport obtained during the session is known."""

    def handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        inner.held.append(TOKEN)  # as a login handshake would
        return vb.GetLocationBillingOrganizationResponse(billing_organization_id=TOKEN)

    inner = Holding(handler)
    with pytest.raises(replay.CassetteSecretError) as info:
        async with open_client("once", inner=inner) as billing:
            await billing.get_location_billing_organization("loc-1")
    assert info.value.kind == INNER_KIND
    assert not cassette.exists()


async def test_the_replay_transport_reports_the_secrets_it_knows(open_client: Any, cassette: Path) -> None:
    """ReplayTransport.secrets() gives the secrets option's values and, once built, the inner transport's."""
    inner = Holding(lambda operation, request: request, API_KEY)  # never called
    async with open_client("once", inner=inner, secrets=[TOKEN]) as billing:
        assert sorted(billing.transport.secrets()) == sorted([API_KEY, TOKEN])
    async with open_client("once", inner="never-built", secrets={"PIN": "1234"}) as billing:
        assert list(billing.transport.secrets()) == ["1234"]  # the inner transport was not needed, nor built


@pytest.mark.parametrize(
    ("secrets", "message"),
    [("hunter2", "not one string"), ([b"hunter2"], "must be a string, got bytes"), ({"PIN": 1234}, "got int")],
)
async def test_bad_secrets_options_are_configuration_errors(open_client: Any, secrets: Any, message: str) -> None:
    """A lone string (which would be scanned character by character) or a value that is not text is refused."""
    with pytest.raises(vb.ConfigurationError, match=message):
        open_client("once", secrets=secrets)


async def test_the_scan_finds_secrets_in_the_cassette_before_redaction_saves_it(
    open_client: Any, cassette: Path
) -> None:
    """Redacting the field that carried the secret lets the same recording be saved."""
    inner = answering(API_KEY, GetOrgBillingInformation=vb.GetOrgBillingInformationResponse(billing_tier=API_KEY))
    async with open_client("once", inner=inner, redact=["billing_tier"]) as billing:
        info = await billing.get_org_billing_information(ORG)
    assert info.billing_tier == API_KEY
    assert API_KEY not in cassette.read_text()
    assert json.loads(cassette.read_text())["interactions"][0]["responses"][0]["billing_tier"] == replay.REDACTED


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
    assert error.kind == "secret held by the inner GrpcTransport (from its secrets())"
    assert error.kind in str(error)
    assert "interaction 1 (GetInvoicesSummary)" in str(error)
    assert token not in str(error)
    assert token not in repr(error)
    assert os.listdir(tmp_path) == []  # nothing written, no temporary file
