"""Project sessions: ``nox -l`` lists them."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typing", "protos", "tests", "sdk"]

PROTOBUF = {
    "6": "protobuf==6.33.5",  # the version viam-sdk 0.85.1 pins: our oldest supported runtime
    "7": "protobuf>=7,<8",
}
GRPCIO_TOOLS = "grpcio-tools==1.85.1"
VIAM_SDK = "viam-sdk==0.85.1"  # the official SDK we must load beside; it pins protobuf==6.33.5


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


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks beside a raw grpclib stub and viam-sdk; writes BENCHMARKS.md. Not in the default run.

    ``nox -s bench -- --quick`` is a smoke run; counts come from ``BENCH_<NAME>`` variables (see benchmarks/).
    """
    session.install("-e", ".[trio]", VIAM_SDK, "pyinstrument")
    session.run("python", "-m", "benchmarks", *session.posargs)
