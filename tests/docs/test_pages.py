"""The code of the documentation runs as written, and prints what the pages show.

Each page under ``docs/`` is run as one session, top to bottom, in a fresh working directory:

- every ```` ```python ```` block runs, in one module namespace per page (a later block uses what an earlier one
  defined). The examples run offline: they start the bundled emulator or use ``MockTransport`` themselves, as a
  reader who pastes them would. A ```` ```text title="Output" ```` block right after one is what it must print
  (``...`` stands for text that changes between runs: a whole line, or part of one);
- every ```` ```console ```` block is a terminal session: each ``$ viam-billing ...`` command runs, and must print
  the lines after it (standard output and standard error in one stream, as a terminal shows them) and exit 0, or
  the ``N`` of a ``# exits N`` comment.
  The commands of a page run against one emulator with a fixed clock (so that dates are the same on every run),
  with its key in ``VIAM_API_KEY``/``VIAM_API_KEY_ID`` and its address and ``--insecure`` as global options in
  front of the command: what a reader does with ``viam-billing emulator`` running;
- a block with a file name as its title (``title="plan.csv"``) is written to that file before what follows runs.

A block that includes a file (``--8<--``) is not run here: the file is, by the tests of ``examples/``.
``<!-- docs-test: skip -->`` on the line before a block shows it without running it; no page uses it for code,
and a test keeps it so.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import types
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ._markdown import DOCS, Block, blocks, commands, matches, pages

# The clock of the emulator the commands run against: the seeded months and invoice dates follow from it.
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
RUNNABLE = ("python", "py", "console")


def _has_code(page: Path) -> bool:
    return any(block.runs or block.language == "console" for block in blocks(page.read_text(encoding="utf-8")))


PAGES = [page for page in pages() if _has_code(page)]


class _Session:
    """What a page's blocks share: the page's module, and the emulator its commands talk to (started when the
    first command needs it)."""

    def __init__(self, page: Path, stack: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.page = page
        self.module = types.ModuleType(f"docs_page_{page.stem.replace('-', '_')}")
        # A real module, so that classes defined on a page (attrs, dataclasses) find their module.
        monkeypatch.setitem(sys.modules, self.module.__name__, self.module)
        self._stack = stack
        self._monkeypatch = monkeypatch
        self._emulator: Any = None

    def where(self, line: int) -> str:
        return f"{self.page.relative_to(DOCS)}:{line}"

    def emulator(self) -> Any:
        if self._emulator is None:
            from anyio.from_thread import start_blocking_portal
            from viam_billing_grpc.emulator import Emulator

            portal = self._stack.enter_context(start_blocking_portal("asyncio"))
            self._emulator = self._stack.enter_context(portal.wrap_async_context_manager(Emulator(now=NOW)))
            self._monkeypatch.setenv("VIAM_API_KEY", self._emulator.api_key)
            self._monkeypatch.setenv("VIAM_API_KEY_ID", self._emulator.api_key_id)
            self._monkeypatch.setenv("COLUMNS", "100")
        return self._emulator


def _run_python(session: _Session, block: Block, output: Block | None, capsys: pytest.CaptureFixture[str]) -> None:
    # Blank lines in front, so that a traceback names the line of the page.
    code = compile("\n" * (block.line - 1) + block.text, str(session.page), "exec")
    capsys.readouterr()
    exec(code, session.module.__dict__)
    printed = capsys.readouterr().out
    if output is not None:
        assert matches(printed, output.text), (
            f"{session.where(block.line)}: the block printed\n{printed}\nbut the page shows\n{output.text}"
        )


def _run_console(session: _Session, block: Block, capsys: pytest.CaptureFixture[str]) -> None:
    from viam_billing_cli import main

    emulator = session.emulator()
    for command in commands(block):
        capsys.readouterr()
        # One stream for both, as on a terminal: the page shows them in the order they came.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stderr", sys.stdout)
            with pytest.raises(SystemExit) as exited:
                main(["--address", emulator.address, "--insecure", *command.args])
        printed = capsys.readouterr().out
        where = f"{session.where(command.line)}: viam-billing {shlex.join(command.args)}"
        assert int(exited.value.code or 0) == command.exit_code, f"{where} exited {exited.value.code}:\n{printed}"
        assert matches(printed, command.shown), f"{where} printed\n{printed}\nbut the page shows\n{command.shown}"


@pytest.fixture
def session_stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(DOCS)) for page in PAGES])
def test_the_page_runs_as_written(
    page: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    session_stack: contextlib.ExitStack,
) -> None:
    """The page's code runs top to bottom and prints what the page shows."""
    monkeypatch.chdir(tmp_path)
    for name in ("VIAM_API_KEY", "VIAM_API_KEY_ID", "VIAM_PRIMARY_ORG_ID", "VIAM_BILLING_ADDRESS"):
        monkeypatch.delenv(name, raising=False)  # nothing on a page may reach for real credentials
    session = _Session(page, session_stack, monkeypatch)
    found = list(blocks(page.read_text(encoding="utf-8")))
    for index, block in enumerate(found):
        following = found[index + 1] if index + 1 < len(found) else None
        if block.title not in (None, "Output") and not block.runs:
            Path(block.title).write_text(block.text, encoding="utf-8")
        elif block.runs:
            output = following if following is not None and following.title == "Output" else None
            _run_python(session, block, output, capsys)
        elif block.language == "console" and not block.skipped:
            _run_console(session, block, capsys)


def test_every_guide_has_code_that_runs() -> None:
    """Each guide has code that this module runs: a page whose blocks were all included or skipped tests nothing."""
    guides = sorted((DOCS / "guides").glob("*.md"))
    assert guides
    assert [guide.name for guide in guides if guide not in PAGES] == []


def test_no_code_is_skipped() -> None:
    """No page hides code from these tests with ``<!-- docs-test: skip -->``."""
    skipped = [
        f"{page.relative_to(DOCS)}:{block.line}"
        for page in pages()
        for block in blocks(page.read_text(encoding="utf-8"))
        if block.skipped and block.language in RUNNABLE
    ]
    assert skipped == []


@pytest.mark.parametrize(
    ("printed", "expected", "result"),
    [
        ("a\nb\n", "a\nb\n", True),
        ("a\nb\n", "a\nc\n", False),
        ("a\nx\ny\nb\n", "a\n...\nb\n", True),
        ("a\nb\n", "a\n...\nb\n", True),
        ("saved 1234 bytes\n", "saved ... bytes\n", True),
        ("saved 1234 bytes\n", "saved ... kB\n", False),
        ("a  \n", "a\n", True),
        ("a\nb\n", "a\n", False),
        ("", "", True),
        ("a\n", "", False),
    ],
)
def test_output_matching(printed: str, expected: str, result: bool) -> None:
    """``...`` stands for any lines on a line of its own, for any text inside a line; nothing else is loose."""
    assert matches(printed, expected) is result


def test_a_console_block_reads_as_commands_and_their_output() -> None:
    """``$`` lines are commands (continued by ``\\``), the lines after them their output, ``# exits N`` the code."""
    text = "```console\n$ viam-billing usage \\\n  ORG\nline 1\nline 2\n$ viam-billing tiers  # exits 4\n```\n"
    (block,) = blocks(text)
    first, second = commands(block)
    assert (first.line, first.args, first.shown, first.exit_code) == (2, ("usage", "ORG"), "line 1\nline 2\n", 0)
    assert (second.args, second.shown, second.exit_code) == (("tiers",), "", 4)
