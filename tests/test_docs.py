"""Every ```python block of README.md and docs/*.md runs (blocks of one file share a namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path, monkeypatch) -> None:
    blocks = BLOCK.findall(page.read_text())
    if not blocks:
        pytest.skip(f"{page.name} has no python blocks")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.name} block {i} failed: {e!r}\n{code}") from e


def test_readme_has_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "<!-- demo-command -->" in text and "cdig demo" in text
    assert "<!-- test-command -->" in text and "pytest" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci, ".ci/run must run the README's test command"
