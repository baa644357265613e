"""The public face of ``viam_billing``."""

from __future__ import annotations

import subprocess
import sys
import types

import viam_billing


def test_all_is_sorted_and_unique() -> None:
    """__all__ is sorted, without duplicates."""
    assert viam_billing.__all__ == sorted(set(viam_billing.__all__))


def test_all_lists_every_public_name() -> None:
    """Every public attribute of the package is in __all__, and every name in __all__ exists."""
    public = {name for name in dir(viam_billing) if not name.startswith("_")} - {"hookspecs", "annotations"}
    assert public == set(viam_billing.__all__) - {"__version__"}


def test_public_classes_and_functions_report_the_public_module() -> None:
    """Tracebacks and reprs show viam_billing.X, not the private module."""
    for name in viam_billing.__all__:
        obj = getattr(viam_billing, name)
        if isinstance(obj, (type, types.FunctionType)):
            assert obj.__module__ == "viam_billing", name


def test_import_loads_no_transport_machinery() -> None:
    """The core imports neither grpclib, h2 nor protobuf."""
    code = (
        "import sys, viam_billing\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ('grpclib', 'h2') or m.startswith('google.protobuf'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == ""


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
