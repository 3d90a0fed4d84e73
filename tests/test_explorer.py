"""``cdig.explorer``: the page is self-contained, holds every shown sample of every domain (against numpy),
reduces long axes as it says, states robust colour limits, and refuses bad inputs before any work.

No browser here: tests/test_explorer_browser.py opens the page in Chromium.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from cdig import Attribution
from cdig.core.errors import CdigTypeError, CdigValueError

pytest.importorskip("plotly")
explorer = pytest.importorskip("cdig.explorer")
write_explorer, write_explorer_folder = explorer.write_explorer, explorer.write_explorer_folder

N, C, T, FS = 5, 2, 96, 32.0
Y = np.array([0, 1, 0, 1, 1])


def _att(values, domain, dims, coords, units=None, **kw) -> Attribution:
    n = len(values)
    return Attribution(
        np.asarray(values), domain, dims, coords, np.zeros(n), np.ones(n), np.zeros(n), np.full(n, 8), units=units or {}, **kw
    )


def _maps(rng) -> tuple[dict[str, Attribution], np.ndarray]:
    x = rng.standard_normal((N, C, T))
    t = np.arange(T) / FS
    f = np.fft.rfftfreq(T, 1 / FS)
    maps = {
        "time": _att(
            rng.standard_normal((N, C, T)), "time", ("channel", "time"), {"channel": np.arange(C), "time": t}, {"time": "s"}
        ),
        "fourier": _att(
            rng.standard_normal((N, C, len(f))),
            "fourier",
            ("channel", "frequency"),
            {"channel": np.arange(C), "frequency": f},
            {"frequency": "Hz"},
        ),
        "bands": _att(
            rng.standard_normal((N, C, 3)),
            "bands",
            ("channel", "band"),
            {
                "channel": np.arange(C),
                "band": np.array(["alpha", "beta", "other"]),
                "band_low": np.array([8.0, 13.0, np.nan]),
                "band_high": np.array([13.0, 16.0, np.nan]),
            },
            {"band_low": "Hz", "band_high": "Hz"},
        ),
        "stft": _att(
            rng.standard_normal((N, C, 5, 7)),
            "stft",
            ("channel", "frequency", "time"),
            {"channel": np.arange(C), "frequency": np.arange(5) * 4.0, "time": np.arange(7) * 0.5},
            {"frequency": "Hz", "time": "s"},
        ),
        "ica": _att(rng.standard_normal((N, 3)), "ica", ("component",), {"component": np.arange(3)}),
    }
    return maps, x


def _close4(shown, expected) -> None:
    """Stored with 4 significant digits: equal to that precision, NaN as null."""
    np.testing.assert_allclose(np.asarray(shown, dtype=float), expected, rtol=6e-4, atol=1e-300)


class _Tags(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._open: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data):
        if self._open is not None:
            a, d = self.scripts[-1]
            self.scripts[-1] = (a, d + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def _data(path: Path) -> dict:
    page = _Tags(path.read_text(encoding="utf-8"))
    blobs = [d for a, d in page.scripts if a.get("id") == "cdig-data"]
    assert len(blobs) == 1
    return json.loads(blobs[0])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = np.random.default_rng(0)
    maps, x = _maps(rng)
    path = write_explorer(maps, tmp_path_factory.mktemp("e") / "page.html", x=x, y=Y, class_names=["rest", "walk"], samples=3)
    return maps, x, path, _data(path)


def test_the_page_is_self_contained_and_offline(built):
    _, _, path, _ = built
    text = path.read_text(encoding="utf-8")
    page = _Tags(text)
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            ref = attrs.get(key)
            assert ref is None or ref.startswith(("data:", "#")), (tag, attrs)
    assert not [t for t, a in page.tags if t in ("link", "iframe", "object", "embed")]
    code = [d for a, d in page.scripts if "type" not in a]
    assert any("plotly.js v" in d[:300] for d in code), "plotly.js is inlined"
    assert any("Plotly.react" in d for d in code)
    assert text.startswith("<!DOCTYPE html>") and '<meta name="generator" content="cdig' in text
    from cdig.report import is_cdig_report

    assert is_cdig_report(path)  # so that cdig report --force may replace it


def test_every_domain_and_sample_is_embedded_as_given(built):
    maps, x, _, data = built
    views = data["views"]
    assert [v["kind"] for v in views] == ["sample"] * 3 + ["class"] * 2
    assert views[0]["label"] == "sample 0 (class rest)" and views[3]["label"] == "class rest: mean of 2"
    assert [d["name"] for d in data["domains"]] == list(maps)
    for d in data["domains"]:
        a = maps[d["name"]]
        for vi, view in enumerate(views):
            # class means over all N samples, not only the embedded ones
            v = a.values[vi] if view["kind"] == "sample" else a.values[Y == vi - 3].mean(axis=0)
            if d["name"] == "stft":  # one heat map per channel: frequency rows by time columns
                assert len(d["panels"]) == C
                for c, p in enumerate(d["panels"]):
                    _close4(p["values"][vi], v[c])
            else:
                (p,) = d["panels"]
                _close4(p["values"][vi], v.reshape(-1, v.shape[-1]))
    for vi in range(3):
        _close4(data["signal"]["values"][vi], x[vi])
        _close4(data["strip"]["values"][vi], maps["time"].values[vi])
    _close4(data["signal"]["values"][4], x[Y == 1].mean(axis=0))


def test_axes_carry_units_and_hover_notes(built):
    _, _, _, data = built
    by = {d["name"]: d["panels"][0] for d in data["domains"]}
    assert data["signal"]["axis"]["title"] == "time (s)"
    _close4(data["signal"]["axis"]["x"], np.arange(T) / FS)
    assert by["fourier"]["x"]["title"] == "frequency (Hz)" and by["fourier"]["kind"] == "heatmap"
    assert by["fourier"]["y"]["y"] == ["channel 0", "channel 1"]
    assert by["bands"]["x"]["x"] == ["alpha", "beta", "other"]
    assert by["bands"]["x"]["notes"] == ["8-13 Hz", "13-16 Hz", "the rest of the spectrum"]
    assert by["stft"]["y"]["title"] == "frequency (Hz)" and by["stft"]["x"]["title"] == "time (s)"
    assert by["ica"]["kind"] == "bars" and by["ica"]["x"]["title"] == "component"


def test_colour_limits_are_the_99th_percentile_not_the_outlier(tmp_path):
    """One outlier must not set the colour scale (the old report's white heat maps)."""
    rng = np.random.default_rng(1)
    v = rng.standard_normal((1, 2, 500)) * 0.1
    v[0, 0, 7] = 3.33
    a = _att(v, "time", ("channel", "time"), {"channel": np.arange(2), "time": np.arange(500.0)}, {"time": "sample"})
    data = _data(write_explorer({"time": a}, tmp_path / "p.html"))
    (p,) = data["domains"][0]["panels"]
    lim = p["lims"][0]
    assert lim["max"] == pytest.approx(3.33)
    assert lim["clip"] == pytest.approx(np.percentile(np.abs(v), 99), rel=6e-4)
    assert lim["clip"] < 0.1 * lim["max"]
    strip = data["strip"]["lims"][0]
    assert strip[0]["clip"] == pytest.approx(np.percentile(np.abs(v[0, 0]), 99), rel=6e-4)
    assert strip[1]["max"] == pytest.approx(np.abs(v[0, 1]).max(), rel=6e-4)
    assert data["signal"] is None and data["strip"]["axis"]["title"] == "time (samples)"


def test_round_off_is_drawn_as_zero(tmp_path):
    """A magnitude/phase map whose phase scores are 1e-9 round-off: they are stored as 0."""
    f = np.arange(9.0)
    v = np.zeros((1, 1, 2, 9))
    v[0, 0, 0] = np.linspace(-1, 1, 9)
    v[0, 0, 1] = 1e-9 * np.cos(f)
    a = _att(
        v,
        "magphase",
        ("channel", "component", "frequency"),
        {"channel": np.arange(1), "component": np.array(["magnitude", "phase"]), "frequency": f},
        {"frequency": "Hz"},
    )
    (p,) = _data(write_explorer(a, tmp_path / "p.html"))["domains"][0]["panels"]
    assert p["y"]["y"] == ["channel 0 · magnitude", "channel 0 · phase"]
    values = np.asarray(p["values"][0], dtype=float)
    _close4(values[0], v[0, 0, 0])
    assert np.all(values[1] == 0)


def test_long_axes_are_reduced_to_buckets_as_stated(tmp_path, monkeypatch):
    """Beyond the budget: a line keeps each bucket's min and max, a heat map the value of largest |value|."""
    monkeypatch.setattr(explorer, "MAX_VALUES", 1000)
    monkeypatch.setattr(explorer, "MIN_COLUMNS", 100)
    T_long, B = 4000, 1000  # one sample, one channel: 1000 columns kept
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, T_long))
    v = rng.standard_normal((1, 1, T_long))
    t = np.arange(T_long) / 100.0
    a = _att(v, "time", ("channel", "time"), {"channel": np.arange(1), "time": t}, {"time": "s"})
    data = _data(write_explorer({"time": a}, tmp_path / "p.html", x=x))
    # the input: 500 buckets of 8 points, min then max of each
    sig = data["signal"]
    xb = x[0, 0].reshape(B // 2, -1)
    _close4(sig["values"][0][0], np.stack([xb.min(1), xb.max(1)], 1).reshape(-1))
    centres = t.reshape(B // 2, -1)[:, [0, -1]].mean(1)
    _close4(sig["axis"]["x"], np.repeat(centres, 2))
    assert sig["axis"]["reduced"] == "4,000 points shown as 500 buckets (min and max of each)"
    # the time strip: 1000 buckets of 4 points, the signed value of largest |value|
    vb = v[0, 0].reshape(B, -1)
    peak = vb[np.arange(B), np.abs(vb).argmax(1)]
    _close4(data["strip"]["values"][0][0], peak)
    assert data["strip"]["axis"]["reduced"] == "4,000 points shown as 1,000 buckets (value of largest |value| of each)"
    # the domain view of one row and many columns: a line, its envelope
    (p,) = data["domains"][0]["panels"]
    assert p["kind"] == "line"
    _close4(p["values"][0][0], np.stack([v[0, 0].reshape(B // 2, -1).min(1), v[0, 0].reshape(B // 2, -1).max(1)], 1).reshape(-1))


def test_samples_are_capped_and_said(tmp_path):
    rng = np.random.default_rng(3)
    maps, x = _maps(rng)
    path = write_explorer(maps, tmp_path / "p.html", x=x, samples=2)
    data = _data(path)
    assert [v["label"] for v in data["views"]] == ["sample 0", "sample 1"]
    assert "the first 2 are embedded (pass samples= for more" in path.read_text(encoding="utf-8")


def test_the_input_defaults_to_the_time_maps_coefficients(tmp_path):
    rng = np.random.default_rng(4)
    coef = rng.standard_normal((2, 1, 16))
    a = _att(
        rng.standard_normal((2, 1, 16)),
        "time",
        ("channel", "time"),
        {"channel": np.arange(1), "time": np.arange(16.0)},
        coefficients=coef,
    )
    data = _data(write_explorer([a], tmp_path / "p.html"))
    _close4(data["signal"]["values"][1], coef[1])
    no_time = _data(write_explorer({"ica": _att(np.ones((2, 3)), "ica", ("component",), {})}, tmp_path / "q.html"))
    assert no_time["signal"] is None and no_time["strip"] is None


def test_names_cannot_break_out_of_the_page(tmp_path):
    a = _att(np.ones((2, 3)), "ica", ("component",), {"component": np.arange(3)})
    evil = "</script><script>alert(1)</script>"
    path = write_explorer({"ica": a}, tmp_path / "p.html", y=[0, 1], class_names=[evil, "<b>x</b>"], title=evil, info={"k": evil})
    text = path.read_text(encoding="utf-8")
    assert "alert(1)</script>" not in text
    page = _Tags(text)
    assert sum(1 for t, _ in page.tags if t == "script") == 3  # plotly, the data, the page's code
    assert _data(path)["views"][2]["label"] == f"class {evil}: mean of 1"


def test_a_folder_written_by_cdig(tmp_path):
    rng = np.random.default_rng(5)
    maps, x = _maps(rng)
    for name, a in maps.items():
        a.save(tmp_path / f"{name}.npz")
    np.savez(tmp_path / "explained.npz", x=x, y=Y, predicted=Y[::-1])
    page = write_explorer_folder(tmp_path, samples=2)
    assert page == tmp_path / "explorer.html"
    data = _data(page)
    assert data["views"][0]["label"] == "sample 0 (predicted class 1, true 0)"
    assert data["views"][2]["label"] == "predicted class 0: mean of 2"
    _close4(data["signal"]["values"][1], x[1])
    assert "cdig explorer: " + tmp_path.name in page.read_text(encoding="utf-8")
    with pytest.raises(CdigValueError, match="exists; pass overwrite=True"):
        write_explorer_folder(tmp_path)
    assert write_explorer_folder(tmp_path, tmp_path / "other.html", overwrite=True).exists()


# --- errors: clear, one line, before any work -------------------------------------------------------
@pytest.fixture
def one():
    return {"ica": _att(np.ones((2, 3)), "ica", ("component",), {"component": np.arange(3)})}


def test_an_existing_file_is_kept_without_overwrite(tmp_path, one):
    path = tmp_path / "page.html"
    path.write_text("mine")
    with pytest.raises(CdigValueError, match=r"path='.*page\.html' exists; pass overwrite=True"):
        write_explorer(one, path)
    assert path.read_text() == "mine"
    write_explorer(one, path, overwrite=True)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]  # no temporary file left


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing folder", r"the folder '.*nowhere' does not exist"),
        ("a folder", r"is a folder; give a file name"),
    ],
)
def test_bad_paths(tmp_path, one, case, match):
    path = tmp_path / "nowhere" / "page.html" if case == "missing folder" else tmp_path
    with pytest.raises(CdigValueError, match=match):
        write_explorer(one, path)


def test_bad_maps_and_labels(tmp_path, one):
    p = tmp_path / "p.html"
    with pytest.raises(CdigValueError, match="maps is empty"):
        write_explorer({}, p)
    with pytest.raises(CdigTypeError, match=r"maps\['a'\] is a ndarray, not a cdig.Attribution"):
        write_explorer({"a": np.ones(3)}, p)
    with pytest.raises(CdigTypeError, match="maps=int"):
        write_explorer(3, p)
    with pytest.raises(CdigValueError, match=r"y has shape \(3,\); expected one class per explained sample, shape \(2,\)"):
        write_explorer(one, p, y=[0, 1, 2])
    with pytest.raises(CdigValueError, match=r"x has shape \(3, 4\)"):
        write_explorer(one, p, x=np.ones((3, 4)))
    with pytest.raises(CdigValueError, match="samples=0: expected a positive integer"):
        write_explorer(one, p, samples=0)
    two = _att(np.ones((3, 3)), "dct", ("frequency",), {})
    with pytest.raises(CdigValueError, match="different sizes"):
        write_explorer({**one, "dct": two}, p)
    assert not p.exists()


def test_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(CdigValueError, match=r"folder='.*nothing' is not a folder"):
        write_explorer_folder(tmp_path / "nothing")
    with pytest.raises(CdigValueError, match="no maps found"):
        write_explorer_folder(tmp_path)  # a folder without maps


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder(tmp_path, one):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(PermissionError):
            write_explorer(one, ro / "p.html")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(stat.S_IRWXU)


def test_without_plotly_the_message_says_what_to_install(tmp_path, one, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(ImportError, match=r"pip install 'cdig\[plot\]'"):
        write_explorer(one, tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_plotly_is_imported_only_when_a_page_is_written():
    import ast

    tree = ast.parse(Path(explorer.__file__).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.split(".")[0] == "plotly"]
