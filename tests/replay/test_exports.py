"""The public face of ``viam_billing_replay``."""

from __future__ import annotations

import re
import types
from pathlib import Path

import viam_billing_replay as replay


def test_all_is_sorted_and_unique() -> None:
    """__all__ is sorted, without duplicates."""
    assert replay.__all__ == sorted(set(replay.__all__))


def test_all_lists_every_public_name() -> None:
    """Every public attribute of the package is in __all__, and every name in __all__ exists."""
    # pytest rewrites the modules of distributions that provide pytest plugins: skip its "@py_..." helpers.
    public = {name for name in dir(replay) if not name.startswith(("_", "@"))} - {"annotations", "pytest_plugin"}
    assert public == set(replay.__all__)


def test_public_classes_and_functions_report_the_public_module() -> None:
    """Tracebacks and reprs show viam_billing_replay.X, not the private module."""
    for name in replay.__all__:
        obj = getattr(replay, name)
        if isinstance(obj, (type, types.FunctionType)):
            assert obj.__module__ == "viam_billing_replay", name


def test_cassette_errors_are_plugin_errors() -> None:
    """Every cassette error is a viam_billing.PluginError, so `except BillingError` catches them."""
    import viam_billing as vb

    for cls in (
        replay.CassetteError,
        replay.CassetteFormatError,
        replay.UnmatchedRequestError,
        replay.CassetteSecretError,
        replay.StaleCassetteError,
    ):
        assert issubclass(cls, vb.PluginError)
    assert issubclass(replay.CassetteFormatError, ValueError)
    assert issubclass(replay.UnmatchedRequestError, LookupError)


# What belongs to one transport (the grpc one): its option names, its environment variables, its name. Replay wraps
# any transport through AsyncTransport alone, so none of these may appear in its source, docs included.
TRANSPORT_SPECIFIC = re.compile(
    r"(?i:grpc|api_key|access_token|\binsecure\b|\baddress\b|ssl_context|authorization|bearer)|\bVIAM_[A-Z]"
)


def test_the_plugin_source_names_no_transport_option_nor_variable() -> None:
    """The replay plugin holds no gRPC option, environment or module names; it asks its inner transport."""
    root = Path(replay.__file__).parent
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if TRANSPORT_SPECIFIC.search(line)
    ]
    assert found == []
    assert len(list(root.rglob("*.py"))) >= 6  # the scan did look at the package


def test_the_plugin_asks_its_inner_transport_through_the_base_class_only() -> None:
    """No duck typing of the inner transport: secrets come from AsyncTransport.secrets(), not getattr lookups."""
    source = (Path(replay.__file__).parent / "_transport.py").read_text()
    assert "self._inner.secrets()" in source
    assert not re.search(r"getattr\(\s*self\._inner", source)
