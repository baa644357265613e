"""A griffe extension that turns the reST markup of our docstrings into the Markdown mkdocstrings renders.

The docstrings are written for readers of the source and of ``help()``: Sphinx roles (``:class:`Name```,
``:meth:`~pkg.Class.method```), ``Example::`` literal blocks, simple tables, and ``:param x:`` fields. The
``sphinx`` docstring style of mkdocstrings parses the fields; this extension rewrites the rest before it does:

- a role becomes a cross-reference to the object it names, resolved from the docstring's own scope as Python
  would resolve the name there; a name that resolves nowhere is handed on as written, so that ``mkdocs build
  --strict`` fails on it instead of printing a dead link;
- a paragraph ending in ``::`` loses one colon and the indented block after it becomes a fenced code block, and
  so does an indented block after a blank line (reST would make it a quotation; our docstrings mean code);
- a simple table (rows between ``====  ====`` rules) becomes a Markdown table;
- a definition list (a line, then lines indented under it) becomes a Markdown definition list.

Nothing here changes what the code says: only how its docstrings are laid out on the site.
"""

from __future__ import annotations

import builtins
import re
import textwrap
from collections.abc import Callable, Iterator
from functools import partial

import griffe

__all__ = ["RestDocstrings", "to_markdown"]

Resolver = Callable[[str], "str | None"]
_OURS = ("viam_billing",)  # the top-level packages whose objects this site documents (a prefix)
_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`<]+?)(?:\s*<([^>`]+)>)?`")
_CALLABLE_ROLES = {"func", "meth"}
_TABLE_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")
_FIELD = re.compile(r"^\s*:\w+(\s+[\w*]+)?:(?!`)")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+\.)\s")


class RestDocstrings(griffe.Extension):
    """Rewrite every docstring of a package when griffe has loaded it (so that every name can be resolved).

    A method without a docstring that overrides a documented one (a sink's ``write``, a transport's ``unary``)
    then shows the docstring it overrides, as Sphinx's autodoc does: the base class's words are the contract the
    override keeps.
    """

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        objects = list(_walk(pkg))
        for obj in objects:
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value, partial(_resolve, obj))
        for obj in objects:
            if obj.docstring is None and obj.is_function and obj.parent is not None and obj.parent.is_class:
                inherited = _overridden_docstring(obj.parent, obj.name)  # type: ignore[arg-type]
                if inherited is not None:
                    obj.docstring = griffe.Docstring(inherited, parent=obj)


def _overridden_docstring(cls: griffe.Class, name: str) -> str | None:
    """The docstring of the nearest base class's ``name`` that has one (bases not loaded are skipped)."""
    try:
        bases = cls.mro()
    except (griffe.AliasResolutionError, griffe.CyclicAliasError, ValueError):
        return None
    for base in bases:
        member = base.members.get(name)
        try:
            docstring = None if member is None else member.docstring
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        if docstring is not None:
            return docstring.value
    return None


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """The path of ``name`` as seen from ``obj``'s scope (``Name``, ``Name.attr`` or an absolute dotted path).

    A name the scope does not know is looked up in the package's public modules (a private module's docstring
    may name what its package exports beside it). ``None`` means a name outside our packages (a builtin, a
    library's): no page of ours documents it.
    """
    name = name.lstrip(".")
    head, _, rest = name.partition(".")
    if "." in name and head in obj.modules_collection.members:  # an absolute path, pkg.module.Name
        return name if head.startswith(_OURS) else None
    try:
        resolved = obj.resolve(head)
    except griffe.NameResolutionError:
        found = _exported(obj, head)
        if found is None:
            # A builtin (``TimeoutError``) or another library's path (``rich.console.Console``) is on no page of
            # ours; anything else unknown is a mistake for autorefs to report.
            foreign = hasattr(builtins, head) or ("." in name and not head.startswith(_OURS))
            return None if foreign else name
        resolved = found
    if not resolved.startswith(_OURS):
        return None
    return f"{resolved}.{rest}" if rest else resolved


def _exported(obj: griffe.Object, name: str) -> str | None:
    """Where a public module of ``obj``'s package exports ``name``, if exactly one object goes by it."""
    package = obj.package
    found = set()
    for module in _public_modules(package):
        member = module.members.get(name)
        if member is not None:
            found.add(member.target_path if member.is_alias else member.path)  # type: ignore[union-attr]
    return found.pop() if len(found) == 1 else None


def _public_modules(module: griffe.Module) -> Iterator[griffe.Module]:
    yield module
    for member in module.members.values():
        if not member.is_alias and member.is_module and not member.name.startswith("_"):
            yield from _public_modules(member)  # type: ignore[arg-type]


def to_markdown(text: str, resolve: Resolver | None = None) -> str:
    """Rewrite one docstring; ``resolve(name)`` gives the path a role's target refers to (unchanged if omitted),
    or ``None`` for a name no page documents (it is shown as code, not linked).
    """
    resolver: Resolver = resolve or (lambda name: name)
    lines = text.splitlines()
    lines = _tables(lines)
    lines = _blocks(lines)
    out = "\n".join(lines)
    return _roles(out, resolver)


def _roles(text: str, resolve: Resolver) -> str:
    # Roles inside code (fences or backticks) are code: leave them alone.
    parts = re.split(r"(```.*?```|``.*?``)", text, flags=re.DOTALL)
    for index in range(0, len(parts), 2):
        parts[index] = _ROLE.sub(lambda match: _role(match, resolve), parts[index])
    return "".join(parts)


def _role(match: re.Match[str], resolve: Resolver) -> str:
    role, tilde, text, explicit = match.groups()
    target = (explicit or text).strip()
    if explicit:
        title = text.strip()
    else:
        title = target.lstrip(".").rsplit(".", 1)[-1] if tilde else target.lstrip(".")
        if role in _CALLABLE_ROLES:
            title += "()"
    path = resolve(target)
    return f"`{title}`" if path is None else f"[`{title}`][{path}]"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(lines: list[str]) -> list[str]:
    """Literal blocks to fences, definition lists to Markdown's."""
    out: list[str] = []
    index = 0
    literal_next = False  # the paragraph before ended in "::"
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        previous = out[-1] if out else ""
        if stripped.startswith("```"):  # already Markdown: copy the fence through
            end = index + 1
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            out.extend(lines[index : end + 1])
            index = end + 1
            continue
        if stripped and previous.strip() == "" and out and _is_code_start(out, index, lines, literal_next):
            base = _paragraph_indent(out)
            end = index
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
                end += 1
            while end > index and not lines[end - 1].strip():
                end -= 1
            code = textwrap.dedent("\n".join(lines[index:end]))
            pad = " " * base
            out.append(f"{pad}```{_language(code)}")
            out.extend(f"{pad}{code_line}" if code_line else "" for code_line in code.splitlines())
            out.append(f"{pad}```")
            index = end
            literal_next = False
            continue
        if stripped.startswith(">>>") and previous.strip() == "":  # a doctest: the session until a blank line
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            pad = " " * _indent(line)
            out.append(f"{pad}```pycon")
            out.extend(lines[index:end])
            out.append(f"{pad}```")
            index = end
            continue
        if stripped.endswith("::") and not _FIELD.match(line):
            literal_next = True
            if stripped == "::":
                line = ""
            elif stripped.endswith(" ::"):
                line = line.rstrip()[:-3]
            else:
                line = line.rstrip()[:-1]
        elif stripped:
            literal_next = False
        if _is_definition(lines, index, out):
            out.append(line)
            base = _indent(line)
            index += 1
            first = True
            while index < len(lines) and lines[index].strip() and _indent(lines[index]) > base:
                text = lines[index].strip()
                out.append(f"{' ' * base}:   {text}" if first else f"{' ' * base}    {text}")
                first = False
                index += 1
            continue
        out.append(line)
        index += 1
    return out


def _paragraph_indent(out: list[str]) -> int:
    """The indentation of the last non-blank line written: the level an indented block is indented from."""
    for line in reversed(out):
        if line.strip():
            return _indent(line)
    return 0


def _is_code_start(out: list[str], index: int, lines: list[str], literal_next: bool) -> bool:
    """Whether ``lines[index]`` starts an indented block that is code."""
    base = _paragraph_indent(out)
    if _indent(lines[index]) <= base:
        return False
    if literal_next:
        return True
    last = next(line for line in reversed(out) if line.strip())
    # Under a list item or a field, indentation continues the item: that is Markdown's reading too.
    if _LIST_ITEM.match(last) or _FIELD.match(last):
        return False
    # A continuation of a list item, indented to the item's text, is not code either.
    return _indent(lines[index]) >= base + 4 and not _in_list(out)


def _in_list(out: list[str]) -> bool:
    """Whether the paragraph just written belongs to a list item (its first line is one)."""
    paragraph: list[str] = []
    for line in reversed(out):
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line)
    return bool(paragraph) and bool(_LIST_ITEM.match(paragraph[-1]))


def _is_definition(lines: list[str], index: int, out: list[str]) -> bool:
    """A term line, not in a paragraph, followed at once by lines indented under it."""
    line = lines[index]
    if not line.strip() or index + 1 >= len(lines):
        return False
    following = lines[index + 1]
    if not following.strip() or _indent(following) <= _indent(line):
        return False
    if out and out[-1].strip():  # the term must start a paragraph
        return False
    return not (_LIST_ITEM.match(line) or _FIELD.match(line) or line.rstrip().endswith(":"))


def _language(code: str) -> str:
    meaningful = [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    first = meaningful[0].lstrip() if meaningful else ""
    if first.startswith("["):
        return "toml"
    if re.match(r"(\$ |pip |viam-billing |python -m |pytest |nox |export )", first):
        return "bash"
    return "python"


def _tables(lines: list[str]) -> list[str]:
    """Simple reST tables (``===  ===`` rules, a header, rows whose first cell may continue) to Markdown."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        if not _TABLE_RULE.match(lines[index]):
            out.append(lines[index])
            index += 1
            continue
        rule = lines[index]
        spans = [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]
        rows: list[list[str]] = []
        index += 1
        rules_seen = 1
        while index < len(lines) and rules_seen < 3:
            line = lines[index]
            index += 1
            if _TABLE_RULE.match(line):
                rules_seen += 1
                continue
            cells = [
                _cell(line, start, spans[i + 1][0] if i + 1 < len(spans) else None)
                for i, (start, _) in enumerate(spans)
            ]
            if rows and not cells[0] and rules_seen == 2:
                rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
            else:
                rows.append(cells)
        header, *body = rows
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        out.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body)
    return out


def _cell(line: str, start: int, end: int | None) -> str:
    return line[start:end].strip() if end is not None else line[start:].strip()
