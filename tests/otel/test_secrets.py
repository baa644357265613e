"""No credential, token or request field ever reaches a span or a metric."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import viam_billing as vb
from viam_billing_grpc.emulator import Emulator

from .conftest import Telemetry

pytestmark = pytest.mark.anyio

SECRET_DESCRIPTION = "support PIN 4471-9921-SECRET"


async def test_no_secret_in_any_span_event_status_or_metric(
    telemetry: Telemetry, emulator: Emulator, make_client: Callable[..., vb.BillingClient]
) -> None:
    """API key, key id, every access token (renewed ones too), a request field's value: none is anywhere in the
    exported spans (attributes, events, status) or the metric points, after successes, retries, a renewal, a
    refused key and a failure."""
    org = emulator.org_ids[0]
    invoice = emulator.invoices(org)[0].id
    tokens: set[str] = set()
    async with make_client() as billing:
        await billing.get_available_billing_tiers()
        tokens |= set(emulator.issued_tokens)
        emulator.expire_tokens()  # the next call is refused, renews its token and goes again
        await billing.charge_organization(org, 12.0, 1.0, description=SECRET_DESCRIPTION)
        emulator.fail_next("GetInvoicesSummary", vb.StatusCode.UNAVAILABLE)
        await billing.get_invoices_summary(org)
        emulator.fail_next("GetCurrentMonthUsage", vb.StatusCode.PERMISSION_DENIED)
        with pytest.raises(vb.PermissionDeniedError):
            await billing.get_current_month_usage(org)
        await billing.get_invoice_pdf_bytes(invoice, org)
        tokens |= set(emulator.issued_tokens)
    access_token = emulator.issue_token()
    options = {**emulator.connect_options(), "api_key": None, "api_key_id": None, "access_token": access_token}
    async with vb.connect(**options) as billing:
        await billing.get_available_billing_tiers()
    wrong = {**emulator.connect_options(), "api_key": "wrong-key-0123456789abcdef", "retry": None}
    async with vb.connect(**wrong) as billing:
        with pytest.raises(vb.UnauthenticatedError):
            await billing.get_available_billing_tiers()

    spans = telemetry.spans()
    assert len(spans) == 7
    assert any(span.events for span in spans)  # the renewal and the retry are there to be scanned
    exported = [span.to_json() for span in spans]
    metric = telemetry.duration_metric()
    assert metric is not None
    exported.append(metric.to_json())
    secrets = {emulator.api_key, emulator.api_key_id, "wrong-key-0123456789abcdef", access_token, *tokens}
    secrets |= {SECRET_DESCRIPTION, "4471-9921"}
    assert len(tokens) >= 2
    for text in exported:
        for secret in secrets:
            assert secret not in text
        assert "Bearer" not in text
        assert "authorization" not in text.lower()
