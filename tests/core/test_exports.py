"""The public face of ``viam_billing``."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest
import viam_billing

PUBLIC_MODULES = [
    "viam_billing",
    "viam_billing.plugin",
    "viam_billing.testing",
    "viam_billing.finops",
    "viam_billing.charges",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_unique(name: str) -> None:
    """__all__ is sorted, without duplicates."""
    module = importlib.import_module(name)
    assert module.__all__ == sorted(set(module.__all__))


def test_all_lists_every_public_name() -> None:
    """Every public attribute of the package is in __all__, and every name in __all__ exists."""
    public = {name for name in dir(viam_billing) if not name.startswith("_")} - {"hookspecs", "annotations"}
    assert public == set(viam_billing.__all__) - {"__version__"}
    for name in viam_billing.__all__:
        assert getattr(viam_billing, name) is not None, name


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_classes_and_functions_report_a_public_module(name: str) -> None:
    """Tracebacks and reprs show viam_billing.X (or viam_billing.plugin.X), never the private module."""
    module = importlib.import_module(name)
    for attribute in module.__all__:
        obj = getattr(module, attribute)
        if isinstance(obj, (type, types.FunctionType)):
            home = "viam_billing" if attribute in viam_billing.__all__ else name
            assert obj.__module__ == home, attribute


def test_the_plugin_api_names_what_a_plugin_needs() -> None:
    """The plugin module holds the hook marker, the seams, the file and data helpers and the errors."""
    needed = {
        "hookimpl", "AsyncTransport", "Sink", "Record", "TransportFactory", "SinkFactory", "atomic_file",
        "atomic_write", "safe_name", "to_data", "from_data", "encode_time", "decode_time", "model_fields",
        "BillingError", "ConfigurationError", "status_error",
    }  # fmt: skip
    assert needed <= set(viam_billing.plugin.__all__)


def test_making_a_client_loads_neither_rich_nor_the_thread_portal() -> None:
    """The terminal renderer and the blocking facade load on first use, not with every client."""
    code = (
        "import sys, viam_billing\n"
        "viam_billing.connect(address='127.0.0.1:1', insecure=True, access_token='x')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] == 'rich'}),"
        " 'anyio.from_thread' in sys.modules)\n"
        "print(viam_billing.sync.connect.__module__, 'anyio.from_thread' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.splitlines() == ["[] False", "viam_billing.sync True"]
