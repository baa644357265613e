"""The example third-party transport on grpcio (examples/grpcio_transport), installed with pip and found through
its entry point, passes the conformance kit against the emulator.

It runs on asyncio only (grpc.aio has no trio support), so the kit runs on asyncio here, and one test checks
what it says under trio.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import viam_billing as vb
from viam_billing.testing import TransportConformance
from viam_billing_grpc.emulator import ACME_ORG_ID, FOREIGN_ORG_ID, Emulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "grpcio_transport"
PACKAGE = "viam_billing_grpcio"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """grpc.aio runs on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example pip-installed into a private directory put on ``sys.path``, as if installed; removed after."""
    if importlib.util.find_spec("grpc") is None:  # pragma: no cover - the test extra installs it
        pytest.fail("grpcio is missing: pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("grpcio-transport")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = shutil.copytree(EXAMPLE, work / "source", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)]
    # Offline when the environment has setuptools; otherwise pip fetches the build backend from the index.
    done = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        subprocess.run(base, capture_output=True, text=True, check=True, timeout=300)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture
def registry(installed: Path) -> vb.PluginRegistry:
    """A plugin registry that read the entry points with the example installed."""
    return vb.PluginRegistry()


def grpcio_options(emulator: Emulator) -> dict[str, Any]:
    return {
        "address": emulator.address,
        "api_key": emulator.api_key,
        "api_key_id": emulator.api_key_id,
        "insecure": True,
    }


def test_the_installed_transport_is_found_through_its_entry_point(registry: vb.PluginRegistry, installed: Path) -> None:
    (info,) = [plugin for plugin in registry.plugins() if plugin.name == "grpcio"]
    assert (info.kind, info.distribution, info.version, info.module) == (
        "transport",
        "viam-billing-grpcio",
        "0.1.0",
        PACKAGE,
    )
    assert not info.loaded
    transport = registry.create_transport("grpcio", address="127.0.0.1:1", access_token="t", insecure=True)
    assert type(transport).__name__ == "GrpcioTransport"
    assert Path(sys.modules[PACKAGE].__file__ or "").is_relative_to(installed)
    (info,) = [plugin for plugin in registry.plugins() if plugin.name == "grpcio"]
    assert info.loaded
    assert info.transports == ("grpcio",)


def test_the_example_imports_only_public_viam_billing_names() -> None:
    for path in (EXAMPLE / "src" / PACKAGE).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in ("viam_billing", "viam_billing_protos"):
                    assert not any(part.startswith("_") for part in module.split(".")), f"{path.name}: {module}"
                    assert module in ("viam_billing.plugin", "viam_billing_protos.codec"), f"{path.name}: {module}"


def test_an_unknown_option_is_named(registry: vb.PluginRegistry) -> None:
    with pytest.raises(vb.ConfigurationError, match=r"no option 'adress'; it takes access_token, address"):
        registry.create_transport("grpcio", adress="127.0.0.1:1")


def test_missing_credentials_name_the_environment_variables(
    registry: vb.PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIAM_API_KEY", raising=False)
    monkeypatch.delenv("VIAM_API_KEY_ID", raising=False)
    with pytest.raises(vb.ConfigurationError, match="VIAM_API_KEY and VIAM_API_KEY_ID"):
        registry.create_transport("grpcio", address="127.0.0.1:1")


@asynccontextmanager
async def grpcio_harness(registry: vb.PluginRegistry, handler: vb.Handler) -> AsyncIterator[vb.AsyncTransport]:
    async with (
        Emulator(handler=handler) as emulator,
        registry.create_transport("grpcio", **grpcio_options(emulator)) as transport,
    ):
        yield transport


class TestGrpcioTransport(TransportConformance):
    @pytest.fixture(autouse=True)
    def _registry(self, registry: vb.PluginRegistry) -> None:
        self.registry = registry

    def harness(self, handler: vb.Handler) -> Any:
        return grpcio_harness(self.registry, handler)


async def test_a_client_reads_the_seeded_emulator_and_renews_an_expired_token(registry: vb.PluginRegistry) -> None:
    async with Emulator() as emulator:
        options = grpcio_options(emulator)
        async with vb.connect(transport="grpcio", registry=registry, timeout=10, **options) as billing:
            summary = await billing.get_invoices_summary(ACME_ORG_ID)
            assert summary.invoices == emulator.invoices(ACME_ORG_ID)
            emulator.expire_tokens()
            invoice = summary.invoices[0].id
            assert await billing.get_invoice_pdf_bytes(invoice, ACME_ORG_ID) == emulator.pdf(ACME_ORG_ID, invoice)
            with pytest.raises(vb.PermissionDeniedError) as denied:
                await billing.get_invoices_summary(FOREIGN_ORG_ID)
        assert emulator.received["Authenticate"] == 2
        assert denied.value.operation == "GetInvoicesSummary"


async def test_secrets_are_the_key_its_id_and_every_token_obtained(registry: vb.PluginRegistry) -> None:
    async with Emulator() as emulator:
        transport = registry.create_transport("grpcio", **grpcio_options(emulator))
        assert set(transport.secrets()) == {emulator.api_key, emulator.api_key_id}
        async with vb.BillingClient(transport) as billing:
            await billing.get_available_billing_tiers()
            (first,) = emulator.issued_tokens
            emulator.expire_tokens()
            await billing.get_available_billing_tiers()
        (second,) = emulator.issued_tokens
        assert set(transport.secrets()) == {emulator.api_key, emulator.api_key_id, first, second}
        assert not any(secret in repr(transport) for secret in transport.secrets())


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_under_trio_a_call_says_to_use_the_grpc_transport(
    registry: vb.PluginRegistry, anyio_backend: str
) -> None:
    transport = registry.create_transport("grpcio", address="127.0.0.1:1", access_token="t", insecure=True)
    async with vb.BillingClient(transport) as billing:
        with pytest.raises(vb.ConfigurationError, match=r"asyncio only .* connect\(transport='grpc'"):
            await billing.get_available_billing_tiers()
    await transport.aclose()
