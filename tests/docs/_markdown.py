"""Reading the code blocks of the documentation pages, and matching printed output against a page's."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import attrs

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
_SKIP = "<!-- docs-test: skip -->"


@attrs.frozen
class Block:
    """One fenced code block of a page: its language, info string, first line number (1-based) and text."""

    language: str
    info: str
    line: int
    text: str
    skipped: bool = False
    """Marked ``<!-- docs-test: skip -->`` on the line before: shown, never run."""

    @property
    def title(self) -> str | None:
        """The block's ``title="..."``: ``Output`` for what the block before prints, else a file name."""
        match = _TITLE.search(self.info)
        return match["title"] if match else None

    @property
    def runs(self) -> bool:
        """Python code of the page (a block that includes a file, ``--8<--``, is that file's: its tests run it)."""
        return self.language in ("python", "py") and not self.skipped and "--8<--" not in self.text


@attrs.frozen
class Command:
    """One ``$`` line of a console block: the arguments after ``viam-billing``, what it prints, its exit code."""

    line: int
    args: tuple[str, ...]
    shown: str
    exit_code: int


def pages() -> list[Path]:
    """Every page of the site, in a stable order (the files MkDocs builds, less the hooks' folder)."""
    return sorted(path for path in DOCS.rglob("*.md") if "_ext" not in path.relative_to(DOCS).parts)


def blocks(text: str) -> Iterator[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence, info = len(match["indent"]), match["fence"], match["info"].strip()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            line = lines[index]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            index += 1
        index += 1  # the closing fence
        language = info.split()[0] if info else ""
        skipped = start > 0 and lines[start - 1].strip() == _SKIP
        yield Block(language=language, info=info, line=start + 2, text="\n".join(body) + "\n", skipped=skipped)


def commands(block: Block) -> Iterator[Command]:
    """The commands of a console block: ``$ viam-billing ...`` lines (continued by a trailing ``\\``), each
    followed by what it prints, up to the next ``$``; ``# exits N`` at the end of a command gives its exit code.
    """
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        start = index
        if not lines[index].startswith("$ "):
            raise AssertionError(f"line {block.line + start}: a console block holds '$ ' commands and their output")
        command = lines[index][2:]
        while command.endswith("\\") and index + 1 < len(lines):
            index += 1
            command = command[:-1] + lines[index]
        index += 1
        shown = []
        while index < len(lines) and not lines[index].startswith("$ "):
            shown.append(lines[index])
            index += 1
        exits = re.search(r"#\s*exits\s+(\d+)\s*$", command)
        words = shlex.split(command, comments=True)
        if words[:1] != ["viam-billing"]:
            raise AssertionError(f"line {block.line + start}: only viam-billing commands run here, got {command!r}")
        yield Command(
            line=block.line + start,
            args=tuple(words[1:]),
            shown="".join(f"{line}\n" for line in shown),
            exit_code=int(exits.group(1)) if exits else 0,
        )


def matches(printed: str, expected: str) -> bool:
    """Whether ``printed`` is ``expected``, where a line ``...`` stands for any lines (none included) and ``...``
    inside a line for any text on it. Trailing spaces, and blank lines at the end, do not count.
    """
    pattern = []
    for line in expected.rstrip().splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            pattern.append(".*?".join(re.escape(part) for part in line.rstrip().split("...")) + r"\n")
    text = "".join(line.rstrip() + "\n" for line in printed.rstrip().splitlines())
    return re.fullmatch("".join(pattern), text) is not None
