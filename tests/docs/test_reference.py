"""The API reference documents every public name, and its docstring markup turns into the Markdown the site shows.

The reference pages are ``docs/reference/*.md``: each ``::: path`` line there makes mkdocstrings render that object
(a whole module: every name its ``__all__`` lists; ``members:`` under it: only those). A public name is one a
documented module lists in ``__all__``. It is documented when a page renders it under that module, or renders the
very same class, function or module (or the same constant under the same name) under another public path:
``viam_billing.plugin.Sink`` is ``viam_billing.Sink``, documented once.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

import attrs
import pytest

from ._markdown import DOCS

REFERENCE = DOCS / "reference"
MODULES = [
    "viam_billing",
    "viam_billing.charges",
    "viam_billing.finops",
    "viam_billing.hookspecs",
    "viam_billing.plugin",
    "viam_billing.sync",
    "viam_billing.testing",
    "viam_billing_cli.console",
    "viam_billing_focus",
    "viam_billing_grpc",
    "viam_billing_grpc.emulator",
    "viam_billing_replay",
    "viam_billing_replay.pytest_plugin",
    "viam_billing_sinks",
]


@attrs.frozen
class Directive:
    """A ``::: path`` line of a reference page, and the members its options limit it to (``None``: all)."""

    page: str
    path: str
    members: tuple[str, ...] | None


def directives() -> list[Directive]:
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            match = re.match(r"^::: ([\w.]+)\s*$", line)
            if match is None:
                continue
            options = []
            for following in lines[index + 1 :]:
                if not following.startswith("    "):
                    break
                options.append(following.strip())
            members: tuple[str, ...] | None = None
            if "members:" in options:  # a list follows
                start = options.index("members:") + 1
                members = tuple(item[2:] for item in options[start:] if item.startswith("- "))
            elif "members: false" in options:
                members = ()
            found.append(Directive(page=page.name, path=match[1], members=members))
    return found


def resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        if importlib.util.find_spec(parts[0]) is None:
            break
        try:
            obj: Any = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise LookupError(path)


def _identities(name: str, obj: object) -> set[tuple[str, int]]:
    """How an object documented under one path is recognised under another: a class, function or module by
    identity alone, any other value (a constant, a table) by identity under the same name."""
    if isinstance(obj, (type, types.FunctionType, types.ModuleType)):
        return {("", id(obj))}
    return {(name.rsplit(".", 1)[-1], id(obj))}


def documented() -> tuple[set[str], set[tuple[str, int]]]:
    """Every documented path, and the identities of the objects behind them."""
    paths: set[str] = set()
    identities: set[tuple[str, int]] = set()
    for directive in directives():
        obj = resolve(directive.path)
        names = [directive.path]
        if isinstance(obj, types.ModuleType):
            members = getattr(obj, "__all__", []) if directive.members is None else directive.members
            names += [f"{directive.path}.{member}" for member in members]
        for name in names:
            paths.add(name)
            identities |= _identities(name, resolve(name))
    return paths, identities


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_is_in_the_reference(module_name: str) -> None:
    """Each name in the module's ``__all__`` is rendered by some ``:::`` directive of the reference pages."""
    module = importlib.import_module(module_name)
    paths, identities = documented()
    assert module_name in paths, f"no reference page renders {module_name}"
    missing = [
        name
        for name in module.__all__
        if f"{module_name}.{name}" not in paths and not _identities(name, getattr(module, name)) & identities
    ]
    assert missing == [], f"{module_name}: not in the reference: {missing}"


def test_every_directive_names_something_that_exists() -> None:
    """A ``:::`` path that no longer exists fails here, with its page, before the site build does."""
    broken = []
    for directive in directives():
        try:
            obj = resolve(directive.path)
            for member in directive.members or ():
                getattr(obj, member)
        except (LookupError, AttributeError) as exc:
            broken.append(f"{directive.page}: {directive.path} ({exc})")
    assert broken == []


# --- the docstring markup: reST roles and blocks to Markdown (docs/_ext/rest_docstrings.py) -------------------------


@pytest.fixture(scope="module")
def rest() -> types.ModuleType:
    """The griffe extension's module, loaded from its file.

    griffe comes with the site build (``nox -s docs``), not with the test extra; the text conversion does not use
    it, so where it is missing a stand-in with the one base class the module subclasses is enough to load it.
    """
    stand_in = None
    if importlib.util.find_spec("griffe") is None:
        stand_in = types.ModuleType("griffe")
        stand_in.Extension = object  # type: ignore[attr-defined]
        sys.modules["griffe"] = stand_in
    try:
        spec = importlib.util.spec_from_file_location("docs_rest_docstrings", DOCS / "_ext" / "rest_docstrings.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if stand_in is not None:
            del sys.modules["griffe"]
    return module


def test_cross_reference_roles_become_links(rest: types.ModuleType) -> None:
    resolved = {"Sink": "viam_billing._sinks.Sink", "viam_billing.connect": "viam_billing.connect", "rich": None}
    text = "Subclass :class:`Sink`; see :func:`~viam_billing.connect`, :mod:`rich` and ``:class:`literal```."
    assert rest.to_markdown(text, resolved.get) == (
        "Subclass [`Sink`][viam_billing._sinks.Sink]; see [`connect()`][viam_billing.connect], `rich` and "
        "``:class:`literal```."
    )


def test_literal_blocks_become_fenced_code(rest: types.ModuleType) -> None:
    text = "Example::\n\n    async with connect() as billing:\n        ...\n\nAfter."
    assert rest.to_markdown(text) == "Example:\n\n```python\nasync with connect() as billing:\n    ...\n```\n\nAfter."


def test_toml_and_doctest_blocks_keep_their_language(rest: types.ModuleType) -> None:
    text = "In pyproject.toml::\n\n    [project]\n    name = 'x'\n\n>>> 1 + 1\n2"
    assert rest.to_markdown(text) == (
        "In pyproject.toml:\n\n```toml\n[project]\nname = 'x'\n```\n\n```pycon\n>>> 1 + 1\n2\n```"
    )


def test_simple_tables_become_markdown_tables(rest: types.ModuleType) -> None:
    rule = "=====  =========="
    text = f"{rule}\nspec   what\n{rule}\n``a``  one\n       continued\n``b``  two\n{rule}"
    assert rest.to_markdown(text) == "| spec | what |\n|---|---|\n| ``a`` | one continued |\n| ``b`` | two |"


def test_definition_lists_become_markdown_definition_lists(rest: types.ModuleType) -> None:
    text = "Fixtures:\n\n``billing_client``\n    A client.\n    Closed after the test."
    assert rest.to_markdown(text) == "Fixtures:\n\n``billing_client``\n:   A client.\n    Closed after the test."


def test_list_items_continued_on_indented_lines_stay_list_items(rest: types.ModuleType) -> None:
    text = "- one item\n  continued\n\n  a second paragraph of it"
    assert rest.to_markdown(text) == text


def test_reference_pages_exist_for_every_module() -> None:
    """Each documented module has a page (a missing one would leave the nav's link dangling)."""
    pages = {path.stem for path in REFERENCE.glob("*.md")}
    assert {"client", "models", "errors", "operations", "plugin", "hookspecs", "testing", "sync"} <= pages
    assert Path(REFERENCE / "cli.md").read_text(encoding="utf-8").count("<!-- click: viam_billing_cli:cli") == 1
