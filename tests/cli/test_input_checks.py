"""Every check on a command's input runs before anything is shown, asked or sent; a charge needs a finite amount of
at least one cent, and a large one an explicit second confirmation."""

from __future__ import annotations

import io

import pytest
import viam_billing as vb


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--subtotal", "nan"), "--subtotal': must be a finite amount of US dollars, got 'nan'"),
        (("--subtotal", "inf"), "--subtotal': must be a finite amount of US dollars, got 'inf'"),
        (("--subtotal", "-1"), "--subtotal': must be at least $0.01, got '-1'"),
        (("--subtotal", "0"), "--subtotal': must be at least $0.01, got '0'"),
        (("--subtotal", "5.001"), "--subtotal': must be in whole cents (at most two decimals), got '5.001'"),
        (("--subtotal", "1e20"), "--subtotal': must be at most $1,000,000,000,000.00, got '1e20'"),
        (("--subtotal", "ten"), "--subtotal': 'ten' is not an amount of US dollars (such as 12.50)"),
        (("--subtotal", "5", "--tax", "-0.5"), "--tax': must be at least $0.00, got '-0.5'"),
        (("--subtotal", "5", "--tax", "NaN"), "--tax': must be a finite amount of US dollars, got 'NaN'"),
        (("--subtotal", "5", "--description", "x" * 1001), "--description': must be at most 1000 characters, got 1001"),
        (("--subtotal", "5", "--branding-org", ""), "--branding-org': must not be empty, got ''"),
    ],
    ids=["nan", "inf", "negative", "zero", "sub-cent", "huge", "words", "tax", "tax-nan", "description", "branding"],
)
def test_a_bad_charge_is_refused_before_anything_is_shown_or_sent(run, options, args, said):
    result = run("charge", "org-1", *args, "--yes")
    assert result.code == 2
    assert said in result.err
    assert "This will charge" not in result.out + result.err
    assert "$nan" not in result.out + result.err
    assert options == []  # not even a client was made


@pytest.mark.parametrize("org", ["", "   "])
def test_empty_ids_are_refused_up_front_everywhere(run, options, org):
    for args in (("charge", org, "--subtotal", "1", "--yes"), ("set-tier", org, "pro", "--yes"),
                 ("export", "--org", org), ("invoice-pdf", "org-1", org), ("report", "--org", org)):  # fmt: skip
        result = run(*args)
        assert result.code == 2, args
        assert "must not be empty" in result.err
    assert options == []


def test_a_charge_above_the_threshold_needs_the_total_confirmed(run, sent):
    args = ("charge", "org-1", "--subtotal", "10000", "--tax", "0.01", "--yes")
    refused = run(*args)
    assert refused.code == 2
    assert refused.err.splitlines() == [
        "error: $10,000.01 is above $10,000.00 (--confirm-above): add --confirm-total 10000.01 to confirm it, or "
        "leave out --yes to be asked on a terminal"
    ]
    wrong = run(*args, "--confirm-total", "10000")
    assert wrong.code == 2
    assert "--confirm-total 10000.00 is not the total of this charge, 10000.01" in wrong.err
    assert sent() == []
    assert run(*args, "--confirm-total", "10000.01").code == 0
    assert run("charge", "org-1", "--subtotal", "10000", "--yes").code == 0  # at the threshold: one confirmation
    assert [request.subtotal for _, request in sent()] == [10000.0, 10000.0]


def test_the_threshold_is_configurable_by_option_and_environment(run, sent):
    assert run("charge", "org-1", "--subtotal", "60", "--yes", "--confirm-above", "50").code == 2
    assert run("charge", "org-1", "--subtotal", "60", "--yes", env={"VIAM_BILLING_CONFIRM_ABOVE": "50"}).code == 2
    assert run("charge", "org-1", "--subtotal", "60", "--yes", env={"VIAM_BILLING_CONFIRM_ABOVE": "100"}).code == 0
    assert len(sent()) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("typed", "charged"), [("100000.00", True), ("$100,000", True), ("10000", False)])
def test_on_a_terminal_a_large_charge_asks_twice(run, sent, monkeypatch, typed, charged):
    monkeypatch.setattr("sys.stdin", _Terminal(f"y\n{typed}\n"))
    result = run("charge", "org-1", "--subtotal", "100000")
    assert "Charge $100,000.00 to org-1?" in result.err
    assert "Type the total (100000.00) to charge it" in result.err
    assert (result.code, len(sent())) == ((0, 1) if charged else (2, 0))
    if charged:
        assert sent() == [("ChargeOrganization", vb.ChargeOrganizationRequest(org_id_to_charge="org-1",
                                                                                subtotal=100000.0))]  # fmt: skip
