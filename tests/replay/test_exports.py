"""The public face of ``viam_billing_replay``."""

from __future__ import annotations

import types

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
