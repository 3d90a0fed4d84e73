"""Every ```python block of README.md and docs/**/*.md runs (blocks of one file share a namespace; the pages
run in a fresh interpreter, see ``_RUN_PAGES``).

The site (``mkdocs.yml``, built by ``tests/test_docs_site.py``) shows the same files, so every
code block a reader sees there has run here. Blocks in other languages (``bash``, ``text``, ...)
are shown and not run; :func:`test_no_block_is_silently_skipped` makes sure that every block
either runs or says what it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$", re.M)
# Languages shown but not run: shell commands, program output, diffs, file formats.
NOT_RUN = {"bash", "sh", "shell", "console", "text", "diff", "json", "yaml", "toml", "ini", "csv"}
RUNNABLE = [p for p in PAGES if BLOCK.search(p.read_text())]


def _fences(text: str) -> list[tuple[int, str, str]]:
    """(line, indent, info string) of every opening code fence of a Markdown text."""
    out, open_fence = [], None
    for m in FENCE.finditer(text):
        if open_fence is None:
            open_fence = m.group("fence")
            out.append((text.count("\n", 0, m.start()) + 1, m.group("indent"), m.group("info").strip()))
        elif m.group("fence")[0] == open_fence[0] and len(m.group("fence")) >= len(open_fence) and not m.group("info").strip():
            open_fence = None
    return out


# The pages run one after another in one fresh interpreter, each in its own namespace and working folder,
# as the test process ran them (one torch thread, torch seeded with 0 before each page, CdigWarning an
# error); it starts with the session, on the core the other tests leave idle (tests/conftest.py).
_RUN_PAGES = r"""
import json, os, re, sys, traceback, warnings
from pathlib import Path

import torch

import cdig

torch.set_num_threads(1)
block = re.compile(sys.argv[1], re.S)
tmp = Path(sys.argv[2])
for i, (arg, page) in enumerate((a, Path(a).resolve()) for a in sys.argv[3:]):
    work = tmp / f"page{i}"
    work.mkdir()
    os.chdir(work)
    torch.manual_seed(0)
    namespace = {"__name__": f"docs_{page.stem}"}
    error = None
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=cdig.CdigWarning)
        for j, code in enumerate(block.findall(page.read_text())):
            try:
                exec(compile(code, f"{page.name}[block {j}]", "exec"), namespace)
            except (Exception, SystemExit) as e:
                error = f"{page.name} block {j} failed: {e!r}\n{code}\n{traceback.format_exc()}"
                break
    print("PAGE:" + json.dumps({"page": arg, "error": error}), flush=True)
"""


def _run_pages(tmp: Path) -> dict:
    args = [sys.executable, "-c", _RUN_PAGES, BLOCK.pattern, str(tmp), *map(str, RUNNABLE)]
    return dict(args=args, cwd=tmp, env=dict(os.environ), timeout=600)


BACKGROUND_JOBS = {"docs code blocks": _run_pages}


@pytest.fixture(scope="module")
def page_results(background) -> tuple[dict[str, str | None], str]:
    proc = background.result("docs code blocks")
    lines = [json.loads(ln[len("PAGE:") :]) for ln in proc.stdout.splitlines() if ln.startswith("PAGE:")]
    return {d["page"]: d["error"] for d in lines}, f"exit code {proc.returncode}:\n{proc.stderr[-3000:]}"


@pytest.mark.background("docs code blocks")
@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_code_blocks_run(page: Path, page_results) -> None:
    results, log = page_results
    assert str(page) in results, f"the runner of the pages stopped before {page.name}, {log}"
    error = results[str(page)]
    assert error is None, error


def test_every_domain_page_has_a_running_example() -> None:
    """Each page of docs/domains/ shows at least one ```python example (run by test_code_blocks_run)."""
    missing = [p.name for p in sorted((ROOT / "docs" / "domains").glob("*.md")) if p not in RUNNABLE]
    assert not missing, f"domain pages without a python example: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_no_block_is_silently_skipped(page: Path) -> None:
    """Every fence is ```python at the margin (run above) or names a language that is not run."""
    text = page.read_text()
    fences = _fences(text)
    for line, indent, info in fences:
        where = f"{page.relative_to(ROOT)}:{line}"
        lang = info.split()[0].lstrip("{.").rstrip("}") if info else ""
        if lang == "python" or "py" in lang.lower():
            assert info == "python" and indent == "", (
                f"{where}: a Python block must open with a bare ```python at the margin to be run, got {indent!r} + {info!r}"
            )
        else:
            assert lang in NOT_RUN, (
                f"{where}: code block {'without a language' if not lang else f'in {lang!r}'} is neither run "
                f"nor marked as not run; label it ```python (run by this test) or one of {sorted(NOT_RUN)}"
            )
    assert sum(info == "python" for _, _, info in fences) == len(BLOCK.findall(text)), (
        f"{page.relative_to(ROOT)}: the number of ```python fences differs from the blocks that are run"
    )


def test_readme_has_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "<!-- demo-command -->" in text and "cdig demo" in text
    assert "<!-- test-command -->" in text and "pytest" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci, ".ci/run must run the README's test command"


def test_the_gallery_shows_every_figure_it_holds():
    """docs/examples.md shows every image of docs/img/gallery (written by docs/make_gallery.py) and only
    images that exist; every example script has its gallery folder."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    shown = set(re.findall(r"\((img/gallery/[^)]+\.png)\)", (docs / "examples.md").read_text()))
    held = {p.relative_to(docs).as_posix() for p in (docs / "img" / "gallery").rglob("*.png")}
    assert shown == held
    scripts = {p.stem for p in (docs.parent / "examples").glob("*.py")}
    assert scripts | {"demo_real"} == {p.name for p in (docs / "img" / "gallery").iterdir() if p.is_dir()}
