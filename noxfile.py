"""Project sessions: ``nox -l`` lists them."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typing", "protos", "tests", "sdk", "focus", "docs"]

PROTOBUF = {
    "6": "protobuf==6.33.5",  # the version viam-sdk 0.85.1 pins: our oldest supported runtime
    "7": "protobuf>=7,<8",
}
GRPCIO_TOOLS = "grpcio-tools==1.85.1"
VIAM_SDK = "viam-sdk==0.85.1"  # the official SDK we must load beside; it pins protobuf==6.33.5
# The FinOps Foundation's FOCUS validator (it ships the FOCUS 1.2 rules; Python 3.12+), with the numpy and pyarrow
# it works with.
FOCUS_VALIDATOR = ("focus-validator==2.2.1", "numpy==1.26.4", "pyarrow<18")


def _python_312() -> str:
    """Python 3.12: pyenv's own install when there is one (pyenv's python3.12 shim answers only while 3.12 is a
    selected version), else whatever python3.12 is on PATH."""
    installed = sorted(Path.home().glob(".pyenv/versions/3.12.*/bin/python3.12"))
    return str(installed[-1]) if installed else "3.12"


@nox.session
@nox.parametrize("protobuf", list(PROTOBUF))
def tests(session: nox.Session, protobuf: str) -> None:
    """Run the test suite on one protobuf major version."""
    session.install("-e", ".[test]", PROTOBUF[protobuf])
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", "mypy==2.4.1", "types-protobuf")
    session.run("mypy")


@nox.session
def protos(session: nox.Session) -> None:
    """Regenerate the protobuf modules from protos/src/**/*.proto and fail if the committed ones drifted."""
    session.install(GRPCIO_TOOLS)
    session.run("python", "protos/generate.py")
    # Against HEAD, not the index: regenerated files that were staged but not committed still count as drift.
    session.run("git", "diff", "--exit-code", "HEAD", "--", "protos/viam_billing_protos/_generated", external=True)


@nox.session
def sdk(session: nox.Session) -> None:
    """Run tests/protos beside the official SDK, in both import orders; a missing SDK fails instead of skipping."""
    session.install("-e", ".[test]", VIAM_SDK)
    session.run("python", "-m", "pytest", "tests/protos", *session.posargs, env={"VIAM_BILLING_REQUIRE_SDK": "1"})
    # protobuf's pure-Python backend (chosen where no upb wheel exists) parses and serialises on its own code path.
    pure_python = {"VIAM_BILLING_REQUIRE_SDK": "1", "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    session.run("python", "-m", "pytest", "tests/protos", *session.posargs, env=pure_python)


# The documentation site's tools. ruff formats the reference's signatures; the same version as the lint session.
DOCS_TOOLS = (
    "mkdocs==1.6.1",
    "mkdocs-material==9.8.2",
    "mkdocstrings==1.0.8",
    "mkdocstrings-python==2.0.11",
    "griffe==2.4.1",
    "mkdocs-autorefs==1.4.5",
    "pymdown-extensions==13.1.2",
    "ruff==0.17.6",
)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ with --strict: a broken link, cross-reference or snippet fails.

    The API reference comes from the docstrings, the command-line reference from the click commands; the code of
    the guides is run by tests/docs, in the tests sessions.
    """
    session.install("-e", ".", *DOCS_TOOLS)
    # NO_MKDOCS_2_WARNING: Material prints a banner about MkDocs 2 on every build, which says nothing about ours.
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks beside a raw grpclib stub and viam-sdk; writes BENCHMARKS.md. Not in the default run.

    ``nox -s bench -- --quick`` is a smoke run; counts come from ``BENCH_<NAME>`` variables (see benchmarks/).
    """
    # opentelemetry-sdk: the otel-overhead rows install it as an application would (the plugin needs the API only)
    session.install("-e", ".[trio,otel]", VIAM_SDK, "pyinstrument", "opentelemetry-sdk>=1.30")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=_python_312())
def focus(session: nox.Session) -> None:
    """Export the emulator's organizations with the focus sink to CSV and Parquet and check both files with the
    FinOps Foundation's focus-validator (FOCUS 1.2); fails on any failed rule but the one InvoiceId rule the
    validator fails on every dataset (tests/focus/validate.py, TOLERATED)."""
    session.install("-e", ".[parquet]", *FOCUS_VALIDATOR)
    session.run("python", "tests/focus/validate.py")
