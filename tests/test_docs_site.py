"""The documentation site builds in strict mode, offline, with every page and real API docstrings.

``python -m mkdocs build --strict`` with the repository's ``mkdocs.yml`` (mkdocs-material and
mkdocstrings, ``pip install -e ".[docs]"``), into a temporary folder. Strict mode turns every
warning into a failure: a broken link or anchor between pages, a page of the nav that is missing,
an object of the API reference that cannot be found. The code blocks themselves are run by
``tests/test_docs.py``.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

if importlib.util.find_spec("mkdocs") is None:  # pragma: no cover - the docs extra is part of [test]
    pytest.skip("mkdocs is not installed: pip install -e '.[docs]' to build the documentation site", allow_module_level=True)


def _nav_pages(nav: list) -> list[str]:
    """The .md files of a mkdocs nav, depth first."""
    out: list[str] = []
    for item in nav:
        value = item if isinstance(item, str) else next(iter(item.values()))
        out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def _html_file(site: Path, page: str) -> Path:
    """Where mkdocs writes ``page`` (directory URLs: ``a/b.md`` -> ``a/b/index.html``)."""
    stem = page[: -len(".md")]
    return site / ("index.html" if stem == "index" else f"{stem}/index.html")


def _text(path: Path) -> str:
    """The main article of a built page as plain text, whitespace collapsed."""
    page = path.read_text(encoding="utf-8")
    article = page[page.find("<article") : page.find("</article>")]
    article = re.sub(r"<(script|style)\b.*?</\1>", " ", article, flags=re.S)
    article = re.sub(r"</?(?:p|div|h\d|li|ul|ol|tr|td|th|table|pre|br|dt|dd|details|summary)\b[^>]*>", " ", article)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", article)).split())


def _plain(rst: str) -> str:
    """Docstring text as rendered: roles and ``literal`` markers dropped, whitespace collapsed."""
    return " ".join(re.sub(r":\w+:`~?([^`]+)`", r"\1", rst).replace("``", "").split())


def _param_phrases(obj: object, section: str = "Parameters") -> dict[str, str]:
    """First words of each entry's description in a numpydoc section of ``obj``'s docstring."""
    doc = inspect.getdoc(obj) or ""
    body = doc.split(f"{section}\n{'-' * len(section)}\n", 1)[1]
    body = re.split(r"\n\n[A-Z][A-Za-z ]+\n-{3,}\n", body, maxsplit=1)[0]
    phrases: dict[str, str] = {}
    for m in re.finditer(r"^(\w[\w, ]*?) : .*\n((?:    .*\n?)+)", body, re.M):
        phrases[m.group(1)] = " ".join(_plain(m.group(2)).split()[:5])
    return phrases


def _mkdocs_build(tmp: Path) -> dict:
    return dict(
        args=[sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
        + ["--site-dir", str(tmp / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )


# the build (a fresh interpreter, about 20 s) starts with the session, on the core the tests leave idle
BACKGROUND_JOBS = {"mkdocs build": _mkdocs_build}


@pytest.fixture(scope="module")
def site(background) -> Path:
    proc = background.result("mkdocs build")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    assert not re.search(r"^(WARNING|ERROR)\b", log, re.M), log[-6000:]
    return proc.tmp / "site"


@pytest.fixture(scope="module")
def nav() -> list[str]:
    from mkdocs.config import load_config

    return _nav_pages(load_config(config_file=str(ROOT / "mkdocs.yml"))["nav"])


def test_nav_has_every_required_page(nav: list[str]) -> None:
    for page in ["index.md", "quickstart.md", "method.md", "backends.md", "porting.md", "benchmarks.md"]:
        assert page in nav, f"{page} is not in mkdocs.yml's nav"
    domains = sorted(f"domains/{p.name}" for p in (ROOT / "docs" / "domains").glob("*.md"))
    assert domains and not set(domains) - set(nav), f"domain pages missing from the nav: {set(domains) - set(nav)}"
    api = sorted(f"api/{p.name}" for p in (ROOT / "docs" / "api").glob("*.md"))
    assert api and not set(api) - set(nav), f"API pages missing from the nav: {set(api) - set(nav)}"


@pytest.mark.background("mkdocs build")
def test_every_nav_page_is_built(site: Path, nav: list[str]) -> None:
    for page in nav:
        built = _html_file(site, page)
        assert built.exists(), f"{page} was not built ({built})"
        title = (ROOT / "docs" / page).read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ").strip()
        title = " ".join(re.sub(r"[`*]", "", title).split())
        assert title in _text(built), f"{page}: its title {title!r} is not on the built page"


@pytest.mark.background("mkdocs build")
def test_api_pages_render_docstrings(site: Path) -> None:
    import cdig

    explain = _text(_html_file(site, "api/explain.md"))
    phrases = _param_phrases(cdig.explain)
    assert {"model", "x", "domains", "target", "n_steps", "internal_batch_size"} <= set(phrases)
    for name, phrase in phrases.items():
        assert phrase in explain, f"cdig.explain's parameter {name!r} ({phrase!r}) is not on api/explain"
    assert "One cdig.Attribution per domain" in explain  # the Returns section
    assert "Examples" in explain and 'maps["fourier"].values.shape' in explain

    attribution = _text(_html_file(site, "api/attribution.md"))
    for name, phrase in _param_phrases(cdig.Attribution, "Attributes").items():
        assert phrase in attribution, f"Attribution's attribute {name!r} ({phrase!r}) is not on api/attribution"

    objects = {
        "api/explain.md": ["cdig.explain", "cdig.CrossDomainIG", "cdig.CrossDomainIG.attribute"],
        "api/attribution.md": ["cdig.Attribution", "cdig.Attribution.save", "cdig.Attribution.load"],
        "api/domains.md": [
            f"cdig.{name}"
            for name in (
                "Domain",
                "Time",
                "Fourier",
                "FrequencyBands",
                "STFT",
                "DCT",
                "Wavelet",
                "ICA",
                "LinearBasis",
                "TrendSeason",
                "Compose",
                "MagnitudePhase",
                "ComplexCepstrum",
            )
        ],
        "api/errors.md": [
            "cdig.CdigError",
            "cdig.CdigValueError",
            "cdig.CdigTypeError",
            "cdig.CdigModelError",
            "cdig.CdigWarning",
            "cdig.ConvergenceWarning",
        ],
        "api/plot.md": ["cdig.plot", "cdig.plot.plot_attribution", "cdig.plot.summary"],
        "api/io.md": ["cdig.io", "cdig.io.load_model", "cdig.io.load_data"],
        "api/datasets.md": [
            "cdig.datasets",
            "cdig.datasets.load_bands_sources",
            "cdig.datasets.real",
            "cdig.datasets.real.load_ucr",
        ],
        "api/compat.md": ["cdig.compat", "cdig.compat.TimeIG", "cdig.compat.FourierIG", "cdig.compat.ICAIG"],
    }
    for page, names in objects.items():
        source = _html_file(site, page).read_text(encoding="utf-8")
        text = _text(_html_file(site, page))
        for name in names:
            assert f'id="{name}"' in source, f"{page}: no rendered heading for {name}"
            doc = inspect.getdoc(pkgutil.resolve_name(name)) or ""
            words = " ".join(_plain(doc.split("\n\n")[0]).split()[:4])
            assert words in text, f"{page}: the summary of {name} ({words!r}) is not rendered"
        assert ":::" not in text, f"{page}: an unrendered ::: directive"
        for leftover in ("&lt;autoref", ":func:`", ":class:`", ":meth:`", "=====  ="):
            assert leftover not in source, f"{page}: {leftover!r} left in the rendered docstrings"


@pytest.mark.background("mkdocs build")
def test_site_is_offline(site: Path) -> None:
    """No page loads a script, stylesheet or font from the network (no CDN, no Google Fonts)."""
    remote = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    for page in site.rglob("*.html"):
        hit = remote.search(page.read_text(encoding="utf-8"))
        assert hit is None, f"{page.relative_to(site)} loads {hit.group(0)!r} from the network"
