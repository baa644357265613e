"""pytest plugin of viam-billing: a ``billing_client`` fixture on the replay transport.

Installed with viam-billing and active in every pytest run (``pytest11`` entry point); importing it costs nothing
beyond pytest itself, and nothing of viam-billing is loaded until a test uses the fixture. Write tests like::

    import pytest

    pytestmark = pytest.mark.anyio

    async def test_report(billing_client):
        usage = await billing_client.get_current_month_usage("org-1")
        assert usage.subtotal == 12.5

    @pytest.mark.billing_cassette("shared_report", match_ignore=["description"])
    async def test_charge(billing_client): ...

The fixture is async: it runs under anyio's pytest plugin (``pytest.mark.anyio``), which comes with anyio.

Fixtures (override any of them in a ``conftest.py``):

``billing_client``
    A :class:`viam_billing.BillingClient` on the replay transport, closed (and its cassette saved, when it
    recorded) after the test.
``billing_record_mode``
    ``--billing-record-mode`` (``none``, ``once``, ``new_episodes`` or ``all``), else the ``billing_record_mode``
    ini value, else ``none``.
``billing_cassette_dir``
    ``cassettes/<module>/`` beside the test module.
``billing_cassette_path``
    ``<billing_cassette_dir>/<test name>.json``, or the marker's name. Tests that differ only by their anyio
    backend share one cassette; other parameters are part of the name (``test_x[org-2].json``).
``billing_connect_options``
    Extra keywords for :func:`viam_billing.connect`: ``timeout``, replay options for every test (``inner``,
    ``redact``, ``secrets``, ...; see :class:`viam_billing_replay.ReplayTransport`), and the options of the inner
    transport that records, which is built only when a call must go through (an emulator's
    ``connect_options()``, say). Empty by default: recording then goes through
    :data:`viam_billing.DEFAULT_TRANSPORT` with its own defaults (it reads its credentials from the environment).
    Point it at an emulator to record offline.

The ``billing_cassette`` marker sets, per test, class or module: the cassette name (relative to
``billing_cassette_dir``, ``.json`` added) and the replay options ``match_ignore``, ``matcher``,
``allow_playback_repeats``, ``redact`` and the client ``timeout``.

Recorded interactions that a passing test never played are listed at the end of the run;
``--billing-unplayed=error`` makes them fail the test instead, ``ignore`` silences them.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from viam_billing import BillingClient

__all__ = [
    "billing_cassette_dir",
    "billing_cassette_path",
    "billing_client",
    "billing_connect_options",
    "billing_record_mode",
]

RECORD_MODES = ("none", "once", "new_episodes", "all")
UNPLAYED_CHOICES = ("report", "error", "ignore")
MARKER_OPTIONS = frozenset(("match_ignore", "matcher", "allow_playback_repeats", "redact", "timeout"))

_stale_key = pytest.StashKey[list[str]]()
_call_passed_key = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("viam-billing", "viam-billing replay cassettes")
    group.addoption(
        "--billing-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="when the billing_client fixture may record: none (replay only, the default), once (record missing "
        "cassettes), new_episodes (record what no cassette answers), all (re-record everything)",
    )
    group.addoption(
        "--billing-unplayed",
        choices=UNPLAYED_CHOICES,
        default="report",
        help="recorded interactions a passing test never played: report them at the end (default), fail the "
        "test (error), or ignore them",
    )
    parser.addini("billing_record_mode", "default record mode of the billing_client fixture", default="none")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "billing_cassette(name=None, *, match_ignore=(), matcher=None, allow_playback_repeats=False, redact=..., "
        "timeout=None): the cassette and replay options of the billing_client fixture",
    )
    config.stash[_stale_key] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_call_passed_key] = report.passed
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    stale = config.stash.get(_stale_key, [])
    if not stale:
        return
    terminalreporter.section("viam-billing: recorded interactions never played")
    for line in stale:
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        "The code no longer makes these calls: re-record with --billing-record-mode=all, or delete them."
    )


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def billing_record_mode(request: pytest.FixtureRequest) -> str:
    """The record mode of ``billing_client``: the command line, else the ini file, else ``"none"``."""
    mode = request.config.getoption("--billing-record-mode") or request.config.getini("billing_record_mode")
    mode = str(mode).strip() or "none"
    if mode not in RECORD_MODES:
        pytest.fail(f"billing_record_mode must be one of {', '.join(RECORD_MODES)}, got {mode!r}", pytrace=False)
    return mode


@pytest.fixture
def billing_cassette_dir(request: pytest.FixtureRequest) -> Path:
    """``cassettes/<module>/`` in the directory of the test module."""
    module = request.node.path
    return Path(module).parent / "cassettes" / Path(module).stem


@pytest.fixture
def billing_connect_options() -> dict[str, Any]:
    """Extra keywords for ``viam_billing.connect``: replay options and where to record from (the inner
    transport's options). Override it in a ``conftest.py``."""
    return {}


@pytest.fixture
def billing_cassette_path(request: pytest.FixtureRequest, billing_cassette_dir: Path) -> Path:
    """The cassette of this test: the marker's name, else the test's name, in ``billing_cassette_dir``."""
    marker = request.node.get_closest_marker("billing_cassette")
    name = marker.args[0] if marker is not None and marker.args else None
    if name is None:
        name = _test_name(request)
    name = os.fspath(name)
    if not name.endswith(".json"):
        name += ".json"
    return Path(billing_cassette_dir) / name


@pytest.fixture
async def billing_client(
    request: pytest.FixtureRequest,
    anyio_backend: Any,
    billing_cassette_path: Path,
    billing_record_mode: str,
    billing_connect_options: dict[str, Any],
) -> AsyncIterator[BillingClient]:
    """A ``BillingClient`` on the replay transport, for this test's cassette and record mode."""
    import viam_billing

    options = _marker_options(request)
    timeout = options.pop("timeout", billing_connect_options.get("timeout"))
    connect_options = {key: value for key, value in billing_connect_options.items() if key != "timeout"}
    client = viam_billing.connect(
        transport="replay",
        cassette=billing_cassette_path,
        record_mode=billing_record_mode,
        timeout=timeout,
        **{**connect_options, **options, "on_unplayed": "ignore"},
    )
    from . import CassetteSecretError

    try:
        async with client:
            yield client
    except CassetteSecretError as exc:
        # The message names the kind of secret, never its value; a traceback would print the values held by the
        # frames it passes through (pytest shows their arguments), so the test fails with the message alone.
        pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)
    _check_unplayed(request, client)


# -- helpers -------------------------------------------------------------------------------------------------------


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("billing_cassette")
    if marker is None:
        return {}
    if len(marker.args) > 1:
        pytest.fail(f"billing_cassette takes one positional argument (the cassette name), got {marker.args!r}")
    unknown = sorted(set(marker.kwargs) - MARKER_OPTIONS)
    if unknown:
        pytest.fail(
            f"billing_cassette got unknown option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(MARKER_OPTIONS))}",
            pytrace=False,
        )
    return dict(marker.kwargs)


def _test_name(request: pytest.FixtureRequest) -> str:
    """The test's name for its cassette: class and function, and parameters other than the anyio backend."""
    node = request.node
    function = getattr(node, "originalname", None) or node.name
    cls = getattr(request, "cls", None)
    name = f"{cls.__name__}.{function}" if cls is not None else function
    callspec = getattr(node, "callspec", None)
    if callspec is not None:
        ids = list(getattr(callspec, "_idlist", None) or callspec.id.split("-"))
        backend = callspec.params.get("anyio_backend")
        if backend is not None:
            backend_name = backend if isinstance(backend, str) else backend[0]
            if backend_name in ids:
                ids.remove(backend_name)
        if ids:
            name += "[" + "-".join(ids) + "]"
    return re.sub(r"[^\w.\-\[\]=]", "_", name)


def _check_unplayed(request: pytest.FixtureRequest, client: BillingClient) -> None:
    setting = request.config.getoption("--billing-unplayed")
    transport = client.transport
    unplayed = getattr(transport, "unplayed", None)
    if setting == "ignore" or unplayed is None or not request.node.stash.get(_call_passed_key, False):
        return
    left = unplayed()
    if not left:
        return
    listing = ", ".join(f"{index} ({interaction.operation.name})" for index, interaction in left[:10])
    if len(left) > 10:
        listing += ", ..."
    path = getattr(transport, "path", "?")
    line = f"{request.node.nodeid}: {path}: {len(left)} never played: {listing}"
    if setting == "error":
        pytest.fail(
            f"cassette {path} has {len(left)} recorded interaction(s) this test never played: {listing}. Re-record "
            "it with --billing-record-mode=all, or delete them.",
            pytrace=False,
        )
    request.config.stash[_stale_key].append(line)
