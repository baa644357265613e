"""A MkDocs hook that writes the command-line reference from the click commands themselves.

A page holding the line ``<!-- click: package.module:attribute prog-name -->`` gets, in its place, one section per
command of that click group (recursively): the help text, the usage line, the options as click's own ``--help``
words them (defaults included), and the subcommands. Options that every command shares with the group (the
``viam-billing`` global options) are listed once, on the group.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import click

__all__ = ["on_page_markdown", "render"]

_MARKER = re.compile(r"^<!-- click: (?P<target>[\w.]+:\w+) (?P<prog>[\w.-]+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs event: replace each marker with the reference of the group it names."""

    def expand(match: re.Match[str]) -> str:
        module, _, attribute = match["target"].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{match['target']} is a {type(command).__name__}, not a click command")
        return render(command, match["prog"])

    return _MARKER.sub(expand, markdown)


def render(command: click.Command, prog: str) -> str:
    """The Markdown reference of ``command`` and every command under it, ``prog`` being its name on the shell."""
    root = click.Context(command, info_name=prog, **command.context_settings)
    shared = {param.name for param in command.params if isinstance(param, click.Option)}
    return "\n".join(_sections(root, shared, level=2))


def _sections(ctx: click.Context, shared: set[str | None], level: int) -> Iterator[str]:
    command = ctx.command
    path = ctx.command_path
    yield f"{'#' * level} `{path}` {{ #{_anchor(path)} }}"
    yield ""
    yield from _text(command.help or "")
    yield "```text"
    yield f"{path} {' '.join(command.collect_usage_pieces(ctx))}"
    yield "```"
    yield ""
    is_root = ctx.parent is None
    options = [
        param
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and (is_root or param.name not in shared)
    ]
    records = [record for record in (option.get_help_record(ctx) for option in options) if record is not None]
    if records:
        yield "| option | description |"
        yield "|---|---|"
        for names, help_text in records:
            yield f"| `{names}` | {_cell(help_text)} |"
        yield ""
    if not is_root and shared:
        root_path = ctx.find_root().command_path
        yield f"It also takes the [global options](#{_anchor(root_path)}), before or after its name."
        yield ""
    if isinstance(command, click.Group):
        names = command.list_commands(ctx)
        if names:
            yield "| command | what it does |"
            yield "|---|---|"
            for name in names:
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    link = f"[`{name}`](#{_anchor(f'{path} {name}')})"
                    yield f"| {link} | {_cell(sub.get_short_help_str(limit=200))} |"
            yield ""
    if command.epilog:
        yield from _text(command.epilog)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
                yield from _sections(sub_ctx, shared, level + 1)


def _anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def _text(help_text: str) -> Iterator[str]:
    """Help text as Markdown paragraphs; a paragraph that click keeps as typed (``\\b``) and that is laid out
    with indentation (a table of exit codes) stays preformatted.
    """
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(click.unstyle(help_text))):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            lines = lines[1:]
            if any(line[:1].isspace() for line in lines):  # laid out as a table: keep it so
                yield "```text"
                yield from (line.rstrip() for line in lines)
                yield "```"
                yield ""
                continue
        if paragraph.strip():
            yield _escape(" ".join(line.strip() for line in lines))
        yield ""


def _escape(text: str) -> str:
    # Backticks stay code; anything that could be read as HTML is shown as typed.
    return html.escape(text, quote=False)


def _cell(text: str) -> str:
    return _escape(" ".join(text.split())).replace("|", "\\|")
