"""Fixtures of the command-line tests: run ``viam-billing`` in-process, over a switchable in-memory transport."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
import viam_billing as vb
from viam_billing_cli import main

NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)


def sample_handler(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
    """Answers like a small service: org-bad is refused, everything else has data."""
    org = getattr(request, "org_id", "")
    if org == "org-bad":
        raise vb.PermissionDeniedError("not an owner of org-bad", operation=operation.name)
    if org == "org-down":
        raise vb.UnavailableError("try again later", operation=operation.name)
    name = operation.name
    if name == "GetCurrentMonthUsage":
        cost = vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_STANDARD_COMPUTE, cost=9.5)
        source = vb.ResourceUsageCostsBySource(
            source_type=vb.SourceType.SOURCE_TYPE_ORG, resource_usage_costs=vb.ResourceUsageCosts(usage_costs=(cost,))
        )
        return vb.GetCurrentMonthUsageResponse(
            start_date=NOV, end_date=datetime(2026, 12, 1, tzinfo=timezone.utc), subtotal=9.5,
            resource_usage_costs_by_source=(source,),
        )  # fmt: skip
    if name == "GetInvoicesSummary":
        invoice = vb.InvoiceSummary(
            id=f"inv-{org}", invoice_date=datetime(2026, 10, 1, tzinfo=timezone.utc), invoice_amount=7.0, status="paid"
        )
        return vb.GetInvoicesSummaryResponse(outstanding_balance=0.0, invoices=(invoice,))
    if name == "GetOrgBillingInformation":
        return vb.GetOrgBillingInformationResponse(billing_email=f"{org}@example.com")
    if name == "GetInvoicePdf":
        return [vb.GetInvoicePdfResponse(chunk=b"%PDF-1.4 "), vb.GetInvoicePdfResponse(chunk=b"body %%EOF")]
    if name == "GetAvailableBillingTiers":
        return vb.GetAvailableBillingTiersResponse(tiers=("free", "pro"))
    if name == "ChargeOrganization":
        return vb.ChargeOrganizationResponse(invoice_id="inv-new")
    if name == "GetLocationBillingOrganization":
        return vb.GetLocationBillingOrganizationResponse(billing_organization_id=f"payer-of-{request.location_id}")
    return operation.response_type()


class _State:
    handler: Callable[..., Any] = staticmethod(sample_handler)
    transports: list[vb.MockTransport] = []  # noqa: RUF012
    options: list[dict[str, Any]] = []  # noqa: RUF012


class _CliMockPlugin:
    @vb.plugin.hookimpl
    def register_transports(self, register: Any) -> None:
        def make(**options: Any) -> vb.MockTransport:
            transport = vb.MockTransport(lambda op, req: _State.handler(op, req))
            _State.transports.append(transport)
            _State.options.append(options)
            return transport

        register("cli-mock", make)


@pytest.fixture(scope="session", autouse=True)
def _cli_mock_transport() -> None:
    registry = vb.get_registry()
    if "cli-mock" not in registry.transports:
        registry.register(_CliMockPlugin(), name="cli-mock")


@attrs.frozen
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def calls() -> list[vb.MockTransport]:
    """The mock transports the commands built, in order (their ``.calls`` list what was sent)."""
    _State.transports = []
    return _State.transports


@pytest.fixture
def options() -> list[dict[str, Any]]:
    """The keyword options each mock transport was built with, in order."""
    _State.options = []
    return _State.options


@pytest.fixture
def sent(calls) -> Callable[[], list[tuple[str, vb.Model]]]:
    """``sent()``: every (operation name, request) the commands sent so far, in order."""
    return lambda: [call for transport in calls for call in transport.calls]


@pytest.fixture
def run(monkeypatch, capsys, calls, options) -> Callable[..., Outcome]:
    """``run(*args, handler=..., env=...)``: viam-billing in-process on the mock transport; code, stdout, stderr."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VIAM_API_KEY", "test-key-secret")
    monkeypatch.setenv("VIAM_API_KEY_ID", "test-key-id")
    monkeypatch.delenv("VIAM_PRIMARY_ORG_ID", raising=False)

    def invoke(*args: str, handler: Callable[..., Any] = sample_handler, env: dict[str, str | None] | None = None):
        for name, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        _State.handler = handler
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--transport", "cli-mock", *args])
        captured = capsys.readouterr()
        code = exited.value.code
        return Outcome(code=code if isinstance(code, int) else (0 if code is None else 1), out=captured.out,
                       err=captured.err)  # fmt: skip

    return invoke


@pytest.fixture
def handler() -> Callable[..., Any]:
    return sample_handler


# --- against the emulator: in this process, or the real command line in a process of its own -----------------------


@pytest.fixture
def emulator():
    """An emulator serving on loopback from an event loop in a thread, so the command line can run here."""
    pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")
    from anyio.from_thread import start_blocking_portal
    from viam_billing_grpc.emulator import Emulator

    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(Emulator()) as running:
        yield running


@pytest.fixture
def cli(monkeypatch, capsys, emulator, tmp_path):
    """``cli(*args, columns=200)``: viam-billing in-process against the emulator, in tmp_path; returns
    (exit code, stdout, stderr). The address and --insecure come from the environment and the global options."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIAM_API_KEY", emulator.api_key)
    monkeypatch.setenv("VIAM_API_KEY_ID", emulator.api_key_id)
    monkeypatch.delenv("VIAM_PRIMARY_ORG_ID", raising=False)
    monkeypatch.delenv("VIAM_BILLING_ADDRESS", raising=False)

    def invoke(*args: str, columns: int = 200) -> tuple[int, str, str]:
        monkeypatch.setenv("COLUMNS", str(columns))
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--address", emulator.address, "--insecure", "--timeout", "20", *args])
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    return invoke


def command_line(*args: str) -> list[str]:
    """The real ``viam-billing`` in a fresh interpreter."""
    return [sys.executable, "-m", "viam_billing_cli", *args]


@pytest.fixture
def cli_env(emulator, tmp_path) -> dict[str, str]:
    """The environment a ``viam-billing`` process needs to reach the emulator (VIAM_BILLING_ADDRESS included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAM_")}
    env.update(VIAM_API_KEY=emulator.api_key, VIAM_API_KEY_ID=emulator.api_key_id, COLUMNS="200",
               VIAM_BILLING_ADDRESS=emulator.address, PYTHONUNBUFFERED="1")  # fmt: skip
    return env
