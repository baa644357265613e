"""The built-in sinks as a plugin: registration, specs, failure isolation, public names."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
import viam_billing as vb
import viam_billing_sinks as sinks

pytestmark = pytest.mark.anyio

SCHEMES = ("jsonl", "csv", "sqlite", "pdf")


def test_built_in_sinks_come_through_their_entry_points_like_any_plugin():
    entries = {p.name: p for p in vb.list_plugins(load=True) if p.kind == "sink"}
    for scheme in SCHEMES:
        info = entries[scheme]
        assert (info.module, info.distribution, info.error) == ("viam_billing_sinks", "viam-billing", None)
        assert info.sinks == SCHEMES
    assert entries["console"].module == "viam_billing_cli.console"


def test_no_file_sink_loads_the_command_line_or_rich(tmp_path):
    code = """
import sys, anyio, viam_billing as vb
async def main():
    sinks = [vb.create_sink(spec) for spec in ("jsonl:r.jsonl", "csv:csv", "sqlite:h.db", "pdf:pdfs")]
    answer = lambda op, req: vb.GetCurrentMonthUsageResponse(subtotal=1.0)
    async with vb.BillingClient(vb.MockTransport(answer), sinks=sinks) as billing:
        await billing.get_current_month_usage("org-1")
anyio.run(main)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "click", "plotext", "viam_billing_cli")))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "h.db").is_file()


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("jsonl:-", sinks.JsonlSink),
        ("csv:out", sinks.CsvSink),
        ("sqlite:", sinks.SqliteSink),
        ("sqlite:h.db", sinks.SqliteSink),
        ("pdf:pdfs", sinks.PdfSink),
    ],
)
def test_specs_build_their_sinks(spec, kind):
    sink = vb.create_sink(spec)
    assert type(sink) is kind
    assert sink.name == ("sqlite:viam-billing.db" if spec == "sqlite:" else spec)


def test_an_unknown_scheme_lists_the_known_ones():
    with pytest.raises(vb.UnknownSinkError) as caught:
        vb.create_sink("parquet:out")
    for scheme in (*SCHEMES, "console"):
        assert scheme in str(caught.value)


@pytest.mark.parametrize("spec", ["jsonl:", "csv:", "pdf:"])
def test_a_spec_without_its_destination_says_what_is_missing(spec):
    with pytest.raises(vb.ConfigurationError, match=rf"{spec}(PATH|DIR)"):
        vb.create_sink(spec)


class _Broken(vb.Sink):
    name = "broken"

    async def write(self, record):
        raise OSError("disk full")


async def test_a_failing_sink_never_keeps_the_record_from_the_others(tmp_path, make_client, usage):
    db = tmp_path / "h.db"
    jsonl = tmp_path / "r.jsonl"
    async with make_client([_Broken(), f"sqlite:{db}", f"jsonl:{jsonl}"]) as client:
        with pytest.raises(vb.SinkError) as caught:
            await client.get_current_month_usage("org-1")
    error = caught.value
    assert list(error.failures) == ["broken"]
    assert "broken: OSError: disk full" in str(error)
    assert error.result == usage
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT subtotal FROM usage_snapshots").fetchall() == [(42.5,)]
    assert len(jsonl.read_text().splitlines()) == 1


def test_public_names_are_sorted_complete_and_public():
    assert sinks.__all__ == sorted(sinks.__all__)
    public = {name for name in dir(sinks) if not name.startswith("_")}
    assert set(sinks.__all__) == public - {"annotations"}
