"""The error tree."""

from __future__ import annotations

import pytest
import viam_billing as vb


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1, vb.CancelledStatusError),
        (2, vb.UnknownError),
        (3, vb.InvalidArgumentError),
        (4, vb.DeadlineExceededError),
        (5, vb.NotFoundError),
        (6, vb.AlreadyExistsError),
        (7, vb.PermissionDeniedError),
        (8, vb.ResourceExhaustedError),
        (9, vb.FailedPreconditionError),
        (10, vb.AbortedError),
        (11, vb.OutOfRangeError),
        (12, vb.UnimplementedError),
        (13, vb.InternalError),
        (14, vb.UnavailableError),
        (15, vb.DataLossError),
        (16, vb.UnauthenticatedError),
    ],
)
def test_status_error_picks_the_most_specific_class(code: int, cls: type[vb.StatusError]) -> None:
    """Each gRPC status code maps to its own class carrying operation, code and message."""
    error = vb.status_error(code, "boom", operation="GetInvoicesSummary", details={"k": "v"})
    assert type(error) is cls
    assert error.code == code
    assert error.operation == "GetInvoicesSummary"
    assert error.message == "boom"
    assert error.details == {"k": "v"}
    assert str(error) == f"GetInvoicesSummary: {vb.StatusCode(code).name}: boom"


def test_unknown_status_code_is_kept() -> None:
    """A status code from the future gives a plain StatusError that carries it."""
    error = vb.status_error(42, "new")
    assert type(error) is vb.StatusError
    assert error.code == 42


def test_builtin_bases() -> None:
    """Validation errors are ValueErrors, deadline errors TimeoutErrors, lookups LookupErrors."""
    assert issubclass(vb.ValidationError, ValueError)
    assert issubclass(vb.ConfigurationError, ValueError)
    assert issubclass(vb.DeadlineExceededError, TimeoutError)
    assert issubclass(vb.UnknownTransportError, LookupError)
    for cls in (vb.ValidationError, vb.TransportError, vb.StatusError, vb.PluginError, vb.SinkError):
        assert issubclass(cls, vb.BillingError)


def test_errors_module_draws_the_tree() -> None:
    """The module docstring draws every exception class of the tree."""
    import viam_billing._errors as errors_module

    doc = errors_module.__doc__ or ""
    for name in errors_module.__all__:
        if name != "status_error":
            assert name in doc, name
