"""The cassette file: its format, malformed files, atomic saving, writers side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import viam_billing as vb
import viam_billing_replay as replay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 11, 1, 12, 30, tzinfo=timezone.utc)


def sample_interactions() -> list[replay.Interaction]:
    usage = vb.GetCurrentMonthUsageResponse(
        start_date=T0,
        resource_usage_costs_by_source=(
            vb.ResourceUsageCostsBySource(
                source_type=vb.SourceType.SOURCE_TYPE_FRAGMENT,
                resource_usage_costs=vb.ResourceUsageCosts(
                    usage_costs=(
                        vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_PER_MACHINE, cost=1.5),
                        vb.UsageCost(resource_type=vb.UsageCostType(4242), cost=0.25),
                    )
                ),
            ),
        ),
        subtotal=1.75,
    )
    summary = vb.GetInvoicesSummaryResponse(
        outstanding_balance=3.5,
        invoices=(vb.InvoiceSummary(id="inv-1", invoice_date=T0, status="outstanding", invoice_amount=3.5),),
    )
    return [
        replay.Interaction(
            operation=vb.operation("GetCurrentMonthUsage"),
            request=vb.GetCurrentMonthUsageRequest(org_id="org-1"),
            responses=(usage,),
            duration=0.012,
        ),
        replay.Interaction(
            operation=vb.operation("GetInvoicesSummary"),
            request=vb.GetInvoicesSummaryRequest(org_id="org-1"),
            responses=(summary,),
        ),
        replay.Interaction(
            operation=vb.operation("GetInvoicePdf"),
            request=vb.GetInvoicePdfRequest(id="inv-1", org_id="org-1"),
            responses=(vb.GetInvoicePdfResponse(chunk=b"%PDF\x00\xff"), vb.GetInvoicePdfResponse(chunk=b"%%EOF")),
            outcome="error",
            error=replay.RecordedError(type="UnavailableError", code=vb.StatusCode.UNAVAILABLE, message="reset"),
        ),
        replay.Interaction(
            operation=vb.operation("ChargeOrganization"),
            request=vb.ChargeOrganizationRequest(org_id_to_charge="org-2", subtotal=10.0, tax=0.5, description="Nov"),
            outcome="cancelled",
            duration=2.0,
        ),
        replay.Interaction(
            operation=vb.operation("GetAvailableBillingTiers"),
            request=vb.GetAvailableBillingTiersRequest(),
            outcome="error",
            error=replay.RecordedError(type="ConnectError", message="refused"),
        ),
    ]


SAMPLE = replay.Cassette(path="sample.json", interactions=sample_interactions()).dumps()


def load_text(text: str) -> replay.Cassette:
    return replay.Cassette.loads(text, path="broken.json")


# -- the format ---------------------------------------------------------------------------------------------------


def test_the_format_is_readable_json_with_a_fixed_key_order() -> None:
    """Header keys, interaction keys, base64 bytes, ISO times, enum names and unknown enum numbers."""
    document = json.loads(SAMPLE)
    assert list(document) == ["format", "version", "library_version", "recorded_at", "interactions"]
    assert document["format"] == "viam-billing-cassette"
    assert document["version"] == replay.FORMAT_VERSION == 1
    assert document["library_version"] == vb.__version__
    assert datetime.fromisoformat(document["recorded_at"].replace("Z", "+00:00")).tzinfo is not None
    usage, _, pdf, charge, tiers = document["interactions"]
    assert list(usage) == ["operation", "request", "outcome", "duration", "responses"]
    assert usage["duration"] == 0.012
    assert usage["responses"][0]["start_date"] == "2026-11-01T12:30:00Z"
    costs = usage["responses"][0]["resource_usage_costs_by_source"][0]
    assert costs["source_type"] == "SOURCE_TYPE_FRAGMENT"
    assert [cost["resource_type"] for cost in costs["resource_usage_costs"]["usage_costs"]] == [
        "USAGE_COST_TYPE_PER_MACHINE",
        4242,
    ]
    assert list(pdf) == ["operation", "request", "outcome", "duration", "error", "responses"]
    assert pdf["responses"] == [{"chunk": "JVBERgD/"}, {"chunk": "JSVFT0Y="}]
    assert pdf["error"] == {"type": "UnavailableError", "code": "UNAVAILABLE", "message": "reset"}
    assert charge["outcome"] == "cancelled"
    assert charge["responses"] == []
    assert tiers["error"] == {"type": "ConnectError", "message": "refused"}


def test_one_block_per_interaction() -> None:
    """Each interaction starts its own indented block, so a re-recorded call shows as one hunk in a diff."""
    lines = SAMPLE.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "    {"]
    assert len(starts) == 5
    assert all(lines[i + 1].startswith('      "operation": ') for i in starts)
    assert SAMPLE.endswith("}\n")


def test_a_cassette_round_trips() -> None:
    """Loading what was dumped gives the same interactions, including unknown enum numbers."""
    loaded = load_text(SAMPLE)
    assert loaded.interactions == sample_interactions()
    assert loaded.library_version == vb.__version__
    assert loaded.dumps().split('"interactions"')[1] == SAMPLE.split('"interactions"')[1]


def test_recorded_at_is_written_in_utc_to_the_whole_second() -> None:
    """Sub-second digits and offsets are dropped on saving; what is read back is that UTC time."""
    when = datetime(2026, 11, 1, 13, 30, 5, 987654, tzinfo=timezone(timedelta(hours=1)))
    text = replay.Cassette(path="when.json", interactions=[], recorded_at=when).dumps()
    assert json.loads(text)["recorded_at"] == "2026-11-01T12:30:05Z"
    assert load_text(text).recorded_at == datetime(2026, 11, 1, 12, 30, 5, tzinfo=timezone.utc)
    with pytest.raises(replay.CassetteFormatError, match="recorded_at"):
        load_text(text.replace("12:30:05Z", "12:30:05"))


def test_recorded_errors_rebuild_the_exact_class() -> None:
    """A recorded error becomes the same viam_billing class with code and message, for the operation."""
    error = replay.RecordedError(type="NotFoundError", code=vb.StatusCode.NOT_FOUND, message="gone")
    exc = error.to_exception("GetInvoicePdf")
    assert type(exc) is vb.NotFoundError
    assert (exc.code, exc.message, exc.operation) == (vb.StatusCode.NOT_FOUND, "gone", "GetInvoicePdf")
    plain = replay.RecordedError(type="StatusError", code=vb.StatusCode.NOT_FOUND, message="gone").to_exception("X")
    assert type(plain) is vb.StatusError
    assert plain.code == vb.StatusCode.NOT_FOUND
    unknown_code = replay.RecordedError(type="StatusError", code=vb.StatusCode(77), message="new").to_exception("X")
    assert int(unknown_code.code) == 77


# -- malformed cassettes ------------------------------------------------------------------------------------------


def corrupt(edit: Any) -> str:
    document = json.loads(SAMPLE)
    edit(document)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "location", "reason"),
    [
        ('{"format": "viam-billing-cassette",\n  "version": 1,,}', "line 2, column 16", "broken JSON"),
        ("[1, 2]", "", "expected a JSON object"),
        (corrupt(lambda d: d.pop("format")), "format", "not a viam-billing cassette"),
        (corrupt(lambda d: d.update(version=2)), "version", "version 2 is not supported"),
        (corrupt(lambda d: d.update(version="1")), "version", "must be an integer"),
        (corrupt(lambda d: d.update(extra=True)), "extra", "unknown key 'extra'"),
        (corrupt(lambda d: d.update(recorded_at="yesterday")), "recorded_at", "ISO 8601"),
        (corrupt(lambda d: d.update(interactions={})), "interactions", "must be a list"),
        (
            corrupt(lambda d: d["interactions"][1].update(operation="GetInvoices")),
            "interactions[1].operation",
            "unknown operation",
        ),
        (
            corrupt(lambda d: d["interactions"][0]["request"].update(org_id=7)),
            "interactions[0].request.org_id",
            "expected str",
        ),
        (
            corrupt(lambda d: d["interactions"][1]["responses"][0]["invoices"][0].update(invoice_date="soon")),
            "interactions[1].responses[0].invoices[0].invoice_date",
            "not an ISO 8601 time",
        ),
        (
            corrupt(lambda d: d["interactions"][2]["responses"][0].update(chunk="***")),
            "interactions[2].responses[0].chunk",
            "base64",
        ),
        (
            corrupt(lambda d: d["interactions"][0]["request"].update(orgid="x")),
            "interactions[0].request",
            "no field 'orgid'",
        ),
        (corrupt(lambda d: d["interactions"][0].update(outcome="maybe")), "interactions[0].outcome", "must be one of"),
        (corrupt(lambda d: d["interactions"][0].update(duration=-1)), "interactions[0].duration", ">= 0"),
        (
            corrupt(lambda d: d["interactions"][0].update(responses=[])),
            "interactions[0].responses",
            "exactly one response",
        ),
        (corrupt(lambda d: d["interactions"][2].pop("error")), "interactions[2]", "needs an 'error'"),
        (
            corrupt(lambda d: d["interactions"][2]["error"].update(type="KeyError")),
            "interactions[2].error.type",
            "not a viam_billing error",
        ),
        (
            corrupt(lambda d: d["interactions"][2]["error"].update(code="SO_SO")),
            "interactions[2].error.code",
            "not a status code name",
        ),
        (
            corrupt(lambda d: d["interactions"][4]["error"].update(code=5)),
            "interactions[4].error.code",
            "takes no 'code'",
        ),
        (SAMPLE.replace("0.012", "NaN"), "", "NaN is not a JSON number"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "", "nested too deeply"),
    ],
)
def test_a_malformed_cassette_says_where(text: str, location: str, reason: str) -> None:
    """Each problem gives a CassetteFormatError with the path and the location, never a bare traceback."""
    with pytest.raises(replay.CassetteFormatError) as info:
        load_text(text)
    assert info.value.location == location
    assert reason in info.value.reason
    assert "broken.json" in str(info.value)
    assert info.value.__cause__ is None


def test_a_cassette_that_is_not_utf8_is_malformed() -> None:
    """Binary garbage is reported with the byte offset."""
    with pytest.raises(replay.CassetteFormatError, match="byte 1"):
        replay.Cassette.loads(b"{\xff}", path="x.json")


def test_a_missing_or_unreadable_cassette_is_a_cassette_error(tmp_path: Path) -> None:
    """Not found and is-a-directory are CassetteErrors naming the path, not OSErrors."""
    with pytest.raises(replay.CassetteError, match="does not exist"):
        replay.Cassette.load(tmp_path / "missing.json")
    with pytest.raises(replay.CassetteError, match="could not be read") as info:
        replay.Cassette.load(tmp_path)
    assert not isinstance(info.value, replay.CassetteFormatError)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*path, index)))
    return found


PATHS = _paths(json.loads(SAMPLE))


def _check(text: str | bytes) -> None:
    """Loading either works, and then round-trips, or raises a CassetteFormatError: nothing else."""
    try:
        cassette = replay.Cassette.loads(text, path="fuzzed.json")
    except replay.CassetteFormatError:
        return
    again = replay.Cassette.loads(cassette.dumps(), path="again.json")
    assert again.interactions == cassette.interactions


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON_VALUES, action=st.sampled_from(["replace", "delete", "add"]))
def test_structural_corruptions_yield_only_cassette_errors(path: tuple[Any, ...], value: Any, action: str) -> None:
    """A value replaced, a key or item deleted, a key added anywhere: a CassetteFormatError or a valid cassette."""
    document = json.loads(SAMPLE)
    if not path:
        document = value
    else:
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if action == "replace":
            parent[path[-1]] = value
        elif action == "delete":
            del parent[path[-1]]
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target["added"] = value
            elif isinstance(target, list):
                target.append(value)
            else:
                parent[path[-1]] = [target, value]
    _check(json.dumps(document))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_byte_corruptions_yield_only_cassette_errors(data: st.DataObject) -> None:
    """Bytes flipped, cut out, inserted, or the file truncated: a CassetteFormatError or a valid cassette."""
    raw = bytearray(SAMPLE.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if kind == "flip":
            raw[position] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[position : position + data.draw(st.integers(1, 20))]
        elif kind == "insert":
            raw[position:position] = data.draw(st.binary(min_size=1, max_size=6))
        else:
            del raw[position:]
        if not raw:
            raw = bytearray(b" ")
    _check(bytes(raw))


# -- saving -------------------------------------------------------------------------------------------------------


def write_sample(path: Path) -> bytes:
    replay.Cassette(path=str(path), interactions=sample_interactions()[:2]).save()
    return path.read_bytes()


def new_cassette(path: Path) -> replay.Cassette:
    return replay.Cassette(path=str(path), interactions=sample_interactions())


def test_save_creates_directories_and_leaves_only_the_file(tmp_path: Path) -> None:
    """Missing directories are made; no temporary file remains; the mode is the usual one for new files."""
    path = tmp_path / "a" / "b" / "c.json"
    new_cassette(path).save()
    assert replay.Cassette.load(path).interactions == sample_interactions()
    assert os.listdir(path.parent) == ["c.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_rename_keeps_the_old_cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError at the last step raises a CassetteError; the old file is intact and no temporary file remains."""
    path = tmp_path / "c.json"
    before = write_sample(path)

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(replay.CassetteError, match="No space left on device"):
        new_cassette(path).save()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.json"]


def test_a_crash_while_writing_keeps_the_old_cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt in the middle of the write (after part of the text reached disk) changes nothing."""
    path = tmp_path / "c.json"
    before = write_sample(path)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        new_cassette(path).save()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.json"]


@pytest.mark.anyio
async def test_a_failed_save_on_close_keeps_the_old_cassette(
    open_client: Any, cassette: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When saving a recording fails, closing raises and the previous cassette is untouched."""
    async with open_client("once") as billing:
        await billing.get_available_billing_tiers()
    before = cassette.read_bytes()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(replay.CassetteError, match="Permission denied"):
        async with open_client("all") as billing:
            await billing.get_current_month_usage("org-1")
    assert cassette.read_bytes() == before
    assert os.listdir(cassette.parent) == ["test.json"]


@pytest.mark.anyio
async def test_a_cancelled_teardown_still_saves_the_recording(open_client: Any, cassette: Path) -> None:
    """Saving on close is shielded: cancellation that arrives during close does not lose the recording."""
    with anyio.CancelScope() as scope:
        async with open_client("once") as billing:
            await billing.get_available_billing_tiers()
            scope.cancel()
        await anyio.lowlevel.checkpoint()  # the cancellation was pending all through the close
    assert scope.cancelled_caught
    assert [item["operation"] for item in json.loads(cassette.read_text())["interactions"]] == [
        "GetAvailableBillingTiers"
    ]


WRITER = textwrap.dedent(
    """
    import sys
    import viam_billing as vb
    import viam_billing_replay as replay

    path, me = sys.argv[1], sys.argv[2]
    for size in range(1, 41):
        interactions = [
            replay.Interaction(
                operation=vb.operation("GetLocationBillingOrganization"),
                request=vb.GetLocationBillingOrganizationRequest(location_id=f"{me}-{i}"),
                responses=(vb.GetLocationBillingOrganizationResponse(billing_organization_id=me),),
            )
            for i in range(size)
        ]
        replay.Cassette(path=path, interactions=interactions).save()
    """
)


def test_processes_saving_their_own_cassettes_side_by_side_never_interfere(tmp_path: Path) -> None:
    """Four processes rewriting their cassettes in one directory at once each end with exactly their own file."""
    directory = tmp_path / "cassettes" / "shared"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(directory / f"w{n}.json"), f"w{n}"]) for n in range(4)
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0, 0, 0]
    assert sorted(os.listdir(directory)) == ["w0.json", "w1.json", "w2.json", "w3.json"]
    for n in range(4):
        cassette = replay.Cassette.load(directory / f"w{n}.json")
        assert len(cassette.interactions) == 40
        assert {i.responses[0].billing_organization_id for i in cassette.interactions} == {f"w{n}"}


def test_a_lone_surrogate_in_a_string_still_saves_as_valid_json(tmp_path: Path) -> None:
    """Text that UTF-8 cannot encode is written as its JSON escape and reads back the same."""
    path = tmp_path / "c.json"
    interaction = replay.Interaction(
        operation=vb.operation("GetLocationBillingOrganization"),
        request=vb.GetLocationBillingOrganizationRequest(location_id="loc-\ud800"),
        responses=(vb.GetLocationBillingOrganizationResponse(),),
    )
    replay.Cassette(path=str(path), interactions=[interaction]).save()
    assert replay.Cassette.load(path).interactions == [interaction]
