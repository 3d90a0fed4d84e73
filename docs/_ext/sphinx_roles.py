"""Griffe extension for the docs site: reads cdig's numpydoc/Sphinx docstrings as Markdown.

cdig's docstrings are written for numpydoc and plain ``help()``; mkdocstrings renders their
free text as Markdown. This extension, loaded by ``mkdocs.yml``, rewrites four reST habits in
every docstring before it is rendered, leaving the source untouched:

* roles (``:func:`explain```, ``:class:`~cdig.Attribution```) become optional mkdocs-autorefs
  references: a link when the target is on the site, plain code otherwise (never a warning);
  ``~`` shows the last component only, as in Sphinx;
* doctest blocks outside an ``Examples`` section (``>>>`` would be a Markdown quote) are fenced
  as ``pycon``;
* ``text::`` before an indented literal block loses one colon (the block is Markdown code already);
* simple reST tables (``====  ====`` borders) become Markdown tables.

It also keeps numpydoc types with a top-level comma (``ndarray, shape (N,)``) as written:
griffe would otherwise read them as a Python tuple and print ``(ndarray, shape(N))``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`(~?)([^`<>]+?)`")
SECTION = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}$", re.M)
BORDER = re.compile(r"^ *=+( +=+)+ *$")


def _qualify(name: str, obj: griffe.Object) -> str:
    """``name`` as a full path when it names a member of ``obj`` or of an object around it."""
    if name.startswith("cdig."):
        return name
    head = name.split(".")[0]
    scope: Any = obj
    while scope is not None:
        try:
            if head in scope.members:
                return f"{scope.path}.{name}"
        except Exception:  # an alias that does not resolve: keep the name as written
            pass
        scope = scope.parent
    return name


def _roles(text: str, obj: griffe.Object) -> str:
    def link(m: re.Match) -> str:
        short, name = m.group(1), m.group(2).strip()
        title = name.rsplit(".", 1)[-1] if short else name
        return f'<autoref identifier="{_qualify(name, obj)}" optional><code>{title}</code></autoref>'

    return ROLE.sub(link, text)


def _doctests(text: str) -> str:
    """Fence ``>>>`` blocks that are not in an Examples section (griffe handles those)."""
    lines, out, in_examples, i = text.split("\n"), [], False, 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()) and line.strip():
            in_examples = line.strip() == "Examples"
        if not in_examples and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            out += [f"{indent}```pycon", *[indent + b for b in block], f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _literal_blocks(text: str) -> str:
    """``text::`` + blank line + indented block: Markdown needs no marker (``::`` alone disappears)."""
    text = re.sub(r"(?m)^[ \t]*::[ \t]*\n(?=[ \t]*\n[ \t]+\S)", "", text)
    return re.sub(r"(?m)(\S)::[ \t]*\n(?=[ \t]*\n[ \t]+\S)", r"\1:\n", text)


def _tables(text: str) -> str:
    """Simple reST tables -> Markdown tables (a row's continuation lines join its last cell)."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        border = lines[i]
        starts = [m.start() for m in re.finditer(r"=+", border)]
        end = i + 1
        while end < len(lines) and not BORDER.match(lines[end]):
            end += 1
        if end == len(lines):  # no closing border: not a table
            out.append(lines[i])
            i += 1
            continue
        rows: list[list[str]] = []
        for line in lines[i + 1:end]:
            if not line.strip():
                continue
            cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
            if rows and not cells[0]:
                rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
            else:
                rows.append(cells)
        indent = border[: len(border) - len(border.lstrip())]
        out.append(indent + "| " + " | ".join([" "] * len(starts)) + " |")
        out.append(indent + "|" + "---|" * len(starts))
        out += [indent + "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        i = end + 1
    return "\n".join(out)


def _keep_comma_types() -> None:
    """Keep numpydoc types such as ``ndarray, shape (N,)`` as text instead of a parsed tuple."""
    try:
        from griffe._internal.docstrings import numpy as numpy_parser
    except ImportError:  # another griffe layout: types render as griffe parses them
        return
    original = numpy_parser.parse_docstring_annotation
    if getattr(original, "_cdig_keeps_commas", False):
        return

    def parse(annotation: str, docstring: Any, *args: Any, **kwargs: Any) -> Any:
        if "," in re.sub(r"\[[^\[\]]*\]", "", annotation):
            return annotation
        return original(annotation, docstring, *args, **kwargs)

    parse._cdig_keeps_commas = True  # type: ignore[attr-defined]
    numpy_parser.parse_docstring_annotation = parse


_keep_comma_types()


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring's reST habits as Markdown (see the module docstring)."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.is_alias or obj.docstring is None:
            return
        text = obj.docstring.value
        text = _tables(_literal_blocks(_doctests(text)))
        obj.docstring.value = _roles(text, obj)
