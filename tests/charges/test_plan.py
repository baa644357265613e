"""Charge plans: every check made before anything is sent, every problem named with its line and column."""

from __future__ import annotations

import subprocess
import sys
import types
from datetime import datetime, timezone

import pytest
import viam_billing
from viam_billing import charges
from viam_billing.charges import ChargePlan, PlanError, current_period, dollars, line_key

HEADER = "org_id,subtotal,tax,description\n"


def problems(text: str, period: str = "2026-11") -> list[str]:
    with pytest.raises(PlanError) as raised:
        ChargePlan.parse(text, period=period, source="plan.csv")
    assert isinstance(raised.value, viam_billing.ValidationError)  # so the command exits 2 for it
    return [str(problem) for problem in raised.value.problems]


def test_a_plan_reads_amounts_as_exact_cents():
    plan = ChargePlan.parse(HEADER + "org-a,120,9.6,November support\norg-b,0.1,0.05,\n", period="2026-11")
    first, second = plan.lines
    assert (first.line, first.org_id, first.subtotal_cents, first.tax_cents) == (2, "org-a", 12000, 960)
    assert (second.subtotal_cents, second.tax_cents, second.description) == (10, 5, None)
    assert plan.total_cents == 12960 + 15
    # What goes on the wire is dollars, made from the exact cents.
    assert first.charge_arguments() == ("org-a", 120.0, 9.6, "November support", None, False)


def test_optional_columns_any_order_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_bytes(
        "\ufeffKey, description ,tax,subtotal,org_id,org_id_for_branding,disable_confirmation_email\n"
        "k-1,Support,1.00,10,org-a,org-brand,yes\n"
        ",Hosting,0,5,org-a,,\n".encode()
    )
    plan = ChargePlan.read(path, period="2026-11")
    first, second = plan.lines
    assert (first.key, first.explicit_key, first.org_id_for_branding, first.disable_confirmation_email) == (
        "k-1", True, "org-brand", True,
    )  # fmt: skip
    assert second.key == line_key("2026-11", "org-a", "Hosting")
    assert (second.explicit_key, second.org_id_for_branding, second.disable_confirmation_email) == (False, None, False)
    assert plan.source == str(path)
    assert len(plan.sha256) == 64


def test_every_problem_is_reported_at_once_with_line_and_column():
    text = (
        HEADER
        + "org-a,12.345,0,ok\n"  # line 2: three decimals
        + ",1,0,no org\n"  # line 3: empty org
        + "org-c,NaN,inf,x\n"  # line 4: two bad amounts
        + "org-d,0,0.00,free\n"  # line 5: total under a cent
        + f"org-e,1,0,{'x' * 1001}\n"  # line 6: description too long
        + "org-f,1,0\n"  # line 7: a cell missing
        + "org-g,-1,0,negative\n"  # line 8: negative
        + 'org-h,"1,000",0,thousands\n'  # line 9: a thousands separator
    )
    found = problems(text)
    amount = "is not an amount of US dollars with at most two decimals, like 120 or 120.50"
    assert found == [
        f"line 2, column subtotal: '12.345' {amount}",
        "line 3, column org_id: empty; every line needs the organization to charge",
        f"line 4, column subtotal: 'NaN' {amount}",
        f"line 4, column tax: 'inf' {amount}",
        "line 5, column subtotal: subtotal + tax is $0.00; a charge must be at least $0.01",
        "line 6, column description: 1001 characters; the service takes at most 1000",
        "line 7: 3 cells where the header has 4",
        f"line 8, column subtotal: '-1' {amount}",
        f"line 9, column subtotal: '1,000' {amount}",
    ]


def test_the_error_message_names_the_file_and_lists_the_problems():
    with pytest.raises(PlanError) as raised:
        ChargePlan.parse(HEADER + ",1,0,x\n", period="2026-11", source="november.csv")
    assert str(raised.value) == (
        "the charge plan november.csv has 1 problem\n  line 2, column org_id: empty; every line needs the "
        "organization to charge"
    )


def test_line_numbers_count_quoted_line_breaks():
    text = HEADER + 'org-a,1,0,"two\nlines"\norg-b,x,0,bad\n'
    assert problems(text) == [
        "line 4, column subtotal: 'x' is not an amount of US dollars with at most two decimals, like 120 or 120.50"
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("org_id,subtotal,tax\n", "line 1: missing column description; the first line must name at least "
                                  "org_id,subtotal,tax,description"),
        ("org_id,subtotal,tax,description,org_id_for_brandng\n", "line 1, column org_id_for_brandng: unknown column; "
         "the columns are org_id,subtotal,tax,description,org_id_for_branding,disable_confirmation_email,key"),
        ("org_id,subtotal,tax,description,tax\n", "line 1, column tax: the column appears twice"),
    ],
)  # fmt: skip
def test_the_header_is_checked(header, expected):
    assert problems(header + "org-a,1,0,x,y\n") == [expected]


def test_empty_files_and_plans_without_lines_are_refused():
    assert problems("") == ["the file is empty; the first line must name the columns org_id,subtotal,tax,description"]
    assert problems(HEADER + "\n\n") == ["no charges: the plan has a header and no lines"]


def test_a_bad_email_flag_is_named():
    text = "org_id,subtotal,tax,description,disable_confirmation_email\norg-a,1,0,x,maybe\n"
    assert problems(text) == [
        "line 2, column disable_confirmation_email: 'maybe' is not true or false (also: yes/no, 1/0, empty for false)"
    ]


def test_two_lines_with_one_key_are_refused():
    same_content = HEADER + "org-a,1,0,Support\norg-a,2,0,Support\n"
    assert problems(same_content) == [
        "line 3, column key: same organization and description as line 2, so the same key: two such charges in one "
        "period need different descriptions, or a key column telling them apart"
    ]
    explicit = "key,org_id,subtotal,tax,description\nk,org-a,1,0,a\nk,org-b,1,0,b\n"
    assert problems(explicit) == ["line 3, column key: the key 'k' is also line 2's; each line needs its own key"]


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_bytes(HEADER.encode() + b"org-\xff,1,0,x\n")
    with pytest.raises(PlanError, match="not UTF-8 text"):
        ChargePlan.read(path, period="2026-11")


def test_derived_keys_depend_on_period_org_and_description_only():
    key = line_key("2026-11", "org-a", "Support")
    assert key.startswith("2026-11/")
    assert key == line_key("2026-11", "org-a", "Support")
    assert len({key, line_key("2026-12", "org-a", "Support"), line_key("2026-11", "org-b", "Support"),
                line_key("2026-11", "org-a", "Hosting")}) == 4  # fmt: skip
    # Amounts are not part of the key, so a changed amount is caught as a change to the same line.
    low = ChargePlan.parse(HEADER + "org-a,1,0,Support\n", period="2026-11").lines[0]
    high = ChargePlan.parse(HEADER + "org-a,2,0,Support\n", period="2026-11").lines[0]
    assert low.key == high.key == key


def test_periods_are_checked():
    assert current_period(datetime(2026, 1, 31, 23, 59, tzinfo=timezone.utc)) == "2026-01"
    with pytest.raises(viam_billing.ValidationError, match=r"period must be a month as YYYY-MM .* got '2026-13'"):
        ChargePlan.parse(HEADER + "org-a,1,0,x\n", period="2026-13")


def test_dollars_formats_cents():
    assert [dollars(0), dollars(5), dollars(123450), dollars(-1999)] == ["$0.00", "$0.05", "$1,234.50", "-$19.99"]


def test_the_public_face_is_sorted_and_reports_its_own_module():
    assert charges.__all__ == sorted(set(charges.__all__))
    public = {name for name in dir(charges) if not name.startswith("_")} - {"annotations"}
    assert public == set(charges.__all__)
    for name in charges.__all__:
        obj = getattr(charges, name)
        if isinstance(obj, (type, types.FunctionType)):
            assert obj.__module__ == "viam_billing.charges", name


def test_importing_viam_billing_does_not_load_charges():
    code = "import sys, viam_billing; print('viam_billing.charges' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
