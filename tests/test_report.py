"""``cdig.report`` and ``cdig report``: the page's numbers against numpy, its images, its folders, its errors."""

from __future__ import annotations

import base64
import io
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest

import cdig
from cdig import Attribution
from cdig.cli import main
from cdig.core.errors import CdigTypeError, CdigValueError
from cdig.report import coefficient_label, read_folder, write_report
from cdig.testing import requires_matplotlib, requires_sklearn

pytestmark = [requires_matplotlib, requires_sklearn]

torch = pytest.importorskip("torch")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N, C, T, FS = 6, 3, 64, 32.0
Y = np.array([0, 1, 2, 0, 1, 2])


# --- a parser of the page: images, and every table as rows of cells ------------------------------
class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict] = []
        self.tables: list[dict] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self._cell: dict | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self.tables.append({**a, "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = {"tag": tag, "text": "", **a}
            self.tables[-1]["rows"][-1].append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data

    def find(self, cls: str, **attrs) -> list[dict]:
        return [t for t in self.tables if t.get("class") == cls and all(t.get(k) == v for k, v in attrs.items())]


def body_rows(table: dict) -> list[list[dict]]:
    return [r for r in table["rows"] if r and r[0]["tag"] == "td"]


def decode_png(img: dict) -> np.ndarray:
    from matplotlib.image import imread

    prefix = "data:image/png;base64,"
    assert img["src"].startswith(prefix)
    raw = base64.b64decode(img["src"][len(prefix) :], validate=True)
    assert raw[:8] == PNG_MAGIC
    pixels = imread(io.BytesIO(raw), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 200
    assert float(pixels[..., :3].std()) > 0.01, "a blank image"
    return pixels


def top_abs(v: np.ndarray, k: int) -> np.ndarray:
    """The k largest |values| of a map, computed here independently of cdig.report."""
    return np.sort(np.abs(v.ravel()))[::-1][:k]


def check_top_table(table: dict, v: np.ndarray, k: int) -> list[tuple[str, float]]:
    rows = body_rows(table)
    assert len(rows) == min(k, v.size)
    got = [(r[1]["text"], float(r[2]["data-value"])) for r in rows]
    np.testing.assert_allclose(np.abs([g for _, g in got]), top_abs(v, k), rtol=1e-6, atol=0)
    flat = v.ravel()
    for _, value in got:  # every value is a value of the map, with its sign
        assert np.isclose(flat, value, rtol=1e-6, atol=0).any()
    return got


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def batch(fitted_ica):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(C, 4, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * (T - 4), 3)
    ).eval()
    x = torch.randn(N, C, T)
    maps = cdig.explain(model, x, ("time", "fourier", cdig.ICA(fitted_ica)), target=Y.tolist(), fs=FS, n_steps=8)
    return x.numpy(), maps


@pytest.fixture(scope="module")
def page(batch, tmp_path_factory):
    x, maps = batch
    path = write_report(
        maps,
        tmp_path_factory.mktemp("report") / "r.html",
        x=x,
        y=Y,
        class_names=["calm", "<b>spiky</b>", "a&b $\\bad$"],
        samples=4,
        top_k=5,
        title="Run <script>alert(1)</script> & co",
    )
    return path, Page(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """A real (small, fast) ``cdig demo`` folder."""
    from cdig.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out, n_explain=4, epochs=2, n_steps=4, progress=False, verbose=False)
    return out


# --- the page -------------------------------------------------------------------------------------
def test_images_are_inline_pngs(page):
    path, p = page
    assert [i["class"] for i in p.images].count("summary") == 4
    assert [i["class"] for i in p.images].count("input") == 4
    assert [i["class"] for i in p.images].count("class-mean") == 3
    for img in p.images:
        # every figure is drawn at the page's full width (1,200 px), not scaled up from half of it
        assert decode_png(img).shape[1] == 1200, img["class"]
    text = path.read_text()
    assert "<link" not in text and "<script" not in text and "http://" not in text and "https://" not in text


def test_sample_top_k_tables_hold_the_largest_values(page, batch):
    _, p = page
    _, maps = batch
    sections = p.find("sample-top")
    assert len(sections) == 4 * 3
    by_domain = {name: p.find("sample-top", **{"data-domain": name}) for name in maps}
    for name, tables in by_domain.items():
        assert len(tables) == 4
        for s, table in enumerate(tables):
            check_top_table(table, maps[name].values[s], 5)
    text = "".join(p.text)
    assert "ica: top 3" in text and "ica: top 5" not in text  # 3 components: 3 rows, whatever top_k says
    # labels name the coordinate of the largest coefficient, computed here from the map itself
    v = maps["fourier"].values[2]
    c, k = np.unravel_index(np.argmax(np.abs(v)), v.shape)
    f = maps["fourier"].coords["frequency"][k]
    assert body_rows(by_domain["fourier"][2])[0][1]["text"] == f"channel {c}, frequency {f:.4g} Hz"
    v = maps["ica"].values[1]
    assert body_rows(by_domain["ica"][1])[0][1]["text"] == f"component {np.argmax(np.abs(v))}"
    v = maps["time"].values[0]
    c, t = np.unravel_index(np.argmax(np.abs(v)), v.shape)
    assert body_rows(by_domain["time"][0])[0][1]["text"] == f"channel {c}, time {t / FS:.4g} s"


def test_completeness_table_matches_the_deltas(page, batch):
    _, p = page
    _, maps = batch
    (table,) = p.find("completeness")
    rows = {r[0]["text"]: r for r in body_rows(table)}
    assert list(rows) == list(maps)
    for name, a in maps.items():
        cells = [float(c["data-value"]) for c in rows[name][2:]]
        d = np.abs(a.delta)
        rel = d / np.abs(a.output - a.baseline_output)
        np.testing.assert_allclose(cells[:4], [d.max(), np.median(d), rel.max(), np.median(rel)], rtol=1e-12)
        assert cells[5] == 8
    # per sample: sum of the attributions, f(x) - f(x0), delta
    for s in range(4):
        (table,) = list(p.find("sample-delta"))[s : s + 1]
        for row, a in zip(body_rows(table), maps.values()):
            got = [float(c["data-value"]) for c in row[1:]]
            np.testing.assert_allclose(
                got, [a.values[s].sum(), a.output[s] - a.baseline_output[s], a.delta[s]], rtol=1e-5, atol=1e-7
            )


def test_class_averages_match_numpy_means(page, batch):
    _, p = page
    _, maps = batch
    for name, a in maps.items():
        tables = p.find("class-top", **{"data-domain": name})
        assert [t["data-class"] for t in tables] == ["0", "1", "2"]
        for cls, table in zip((0, 1, 2), tables):
            mean = a.values[Y == cls].mean(axis=0)
            got = check_top_table(table, mean, 5)
            # and the sign of each value is the mean's own
            flat = mean.ravel()
            for _, value in got:
                assert flat[np.argmin(np.abs(flat - value))] == pytest.approx(value, rel=1e-6)


def test_text_is_escaped(page):
    path, p = page
    text = path.read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "<b>spiky</b>" not in text and "&lt;b&gt;spiky&lt;/b&gt;" in text
    assert "b" not in p.tags
    assert "class a&b $\\bad$: top 5 of the mean map" in "".join(p.text)  # unescaped again by the parser


def test_without_classes_or_inputs(batch, tmp_path):
    _, maps = batch
    fourier = maps["fourier"]
    path = write_report(fourier, tmp_path / "one.html", samples=100, top_k=3)
    p = Page(path.read_text())
    assert [i["class"] for i in p.images] == ["summary"] * N  # capped by the batch; no x, no classes
    assert not p.find("class-top") and "No classes known" in "".join(p.text)
    for s, table in enumerate(p.find("sample-top")):
        check_top_table(table, fourier.values[s], 3)


def test_time_map_gives_the_input(batch, tmp_path):
    _, maps = batch
    path = write_report({"time": maps["time"]}, tmp_path / "t.html", samples=1)
    assert [i["class"] for i in Page(path.read_text()).images] == ["input", "summary"]


def test_coefficient_labels_of_named_axes():
    def att(values, dims, coords, units=None):
        n = len(values)
        return Attribution(
            np.asarray(values, float),
            "custom",
            dims,
            coords,
            np.zeros(n),
            np.ones(n),
            np.zeros(n),
            np.full(n, 8),
            units=units or {},
        )

    bands = att(
        np.zeros((1, 2, 3)),
        ("channel", "band"),
        {"channel": np.array(["Fz", "Cz"]), "band": np.array(["delta", "theta", "alpha"])},
    )
    assert coefficient_label(bands, (1, 2)) == "Cz, alpha"
    wav = att(
        np.zeros((1, 1, 4)),
        ("channel", "coefficient"),
        {
            "channel": np.arange(1),
            "coefficient": np.arange(4),
            "band": np.array([0, 0, 1, 1]),
            "band_name": np.array(["A1", "D1"]),
            "time": np.array([0.0, 0.5, 0.0, 0.5]),
        },
        {"time": "s"},
    )
    assert coefficient_label(wav, (0, 3)) == "channel 0, coefficient 3 (D1 at 0.5 s)"
    raw = att(np.zeros((1, 5)), ("time",), {"time": np.arange(5.0)}, {"time": "sample"})
    assert coefficient_label(raw, (4,)) == "time 4"
    nocoord = att(np.zeros((1, 2, 2)), ("row", "column"), {})
    assert coefficient_label(nocoord, (1, 0)) == "row 1, column 0"


def test_api_errors(batch, tmp_path):
    _, maps = batch
    with pytest.raises(CdigValueError, match="empty"):
        write_report({}, tmp_path / "r.html")
    with pytest.raises(CdigTypeError, match="not a cdig.Attribution"):
        write_report({"time": np.zeros(3)}, tmp_path / "r.html")
    with pytest.raises(CdigTypeError, match="expected an Attribution"):
        write_report(3, tmp_path / "r.html")
    with pytest.raises(CdigValueError, match=r"y has shape \(5,\)"):
        write_report(maps, tmp_path / "r.html", y=Y[:5])
    with pytest.raises(CdigValueError, match=r"x has shape"):
        write_report(maps, tmp_path / "r.html", x=np.zeros((2, C, T)))
    with pytest.raises(CdigValueError, match="samples=0"):
        write_report(maps, tmp_path / "r.html", samples=0)
    with pytest.raises(CdigValueError, match="top_k=True"):
        write_report(maps, tmp_path / "r.html", top_k=True)
    short = Attribution(**{**maps["ica"].__dict__, "values": maps["ica"].values[:2]})
    with pytest.raises(CdigValueError, match="different sizes"):
        write_report({"time": maps["time"], "ica": short}, tmp_path / "r.html")
    with pytest.raises(CdigValueError, match="does not exist"):
        write_report(maps, tmp_path / "missing" / "r.html")
    with pytest.raises(CdigValueError, match="it is a folder"):
        write_report(maps, tmp_path)
    assert not (tmp_path / "r.html").exists()


# --- cdig report on real folders --------------------------------------------------------------------
def test_cli_on_a_demo_folder(demo_dir, capsys):
    assert main(["report", str(demo_dir), "--samples", "2", "--top-k", "3", "--title", "demo <1>"]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and out.count("\n") == 1
    p = Page((demo_dir / "report.html").read_text())
    kinds = [i["class"] for i in p.images]
    assert kinds.count("summary") == 2 and kinds.count("input") == 2 and kinds.count("class-mean") == 3
    for img in p.images:
        decode_png(img)
    with np.load(demo_dir / "explained.npz") as f:
        predicted = f["predicted"]
    for name in ("time", "fourier", "ica"):
        a = Attribution.load(demo_dir / f"{name}.npz")
        tables = p.find("sample-top", **{"data-domain": name})
        assert len(tables) == 2
        for s, table in enumerate(tables):
            check_top_table(table, a.values[s], 3)
        classes = p.find("class-top", **{"data-domain": name})
        assert [t["data-class"] for t in classes] == [str(c) for c in np.unique(predicted)]
        for t in classes:
            check_top_table(t, a.values[predicted == int(t["data-class"])].mean(axis=0), 3)
    assert "demo &lt;1&gt;" in (demo_dir / "report.html").read_text()
    text = "".join(p.text)
    assert "predicted class" in text and "true class" in text


def test_cli_on_an_explain_folder(tmp_path, capsys):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * 14, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(tmp_path / "m.pt"))
    x = np.random.default_rng(0).standard_normal((5, 2, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "res"
    assert (
        main(
            [
                "explain",
                str(tmp_path / "m.pt"),
                str(tmp_path / "x.npy"),
                "--out",
                str(out),
                "--steps",
                "8",
                "--no-progress",
                "--no-figures",
                "--domain",
                "time",
                "--domain",
                "dct",
            ]
        )
        == 0
    )
    capsys.readouterr()
    html_file = tmp_path / "page.html"
    assert main(["report", str(out), "--out", str(html_file), "--samples", "3", "--top-k", "4"]) == 0
    p = Page(html_file.read_text())
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(1).numpy()
    kinds = [i["class"] for i in p.images]
    assert kinds.count("summary") == 3 and kinds.count("input") == 3 and kinds.count("class-mean") == 2
    for name in ("time", "dct"):
        a = Attribution.load(out / f"{name}.npz")
        for s, table in enumerate(p.find("sample-top", **{"data-domain": name})):
            check_top_table(table, a.values[s], 4)
        classes = p.find("class-top", **{"data-domain": name})
        assert [t["data-class"] for t in classes] == [str(c) for c in np.unique(predicted)]
        for t in classes:
            check_top_table(t, a.values[predicted == int(t["data-class"])].mean(axis=0), 4)
    (table,) = p.find("completeness")
    a = Attribution.load(out / "dct.npz")
    row = [r for r in body_rows(table) if r[0]["text"] == "dct"][0]
    assert float(row[2]["data-value"]) == pytest.approx(np.abs(a.delta).max(), rel=1e-12)
    assert "Integrated Gradients, gausslegendre, n_steps 8" in html_file.read_text()  # the run's facts say how

    # a perturbation method: the facts say which, and that its steps are model calls
    out2 = tmp_path / "res-shapley"
    args = ["explain", str(tmp_path / "m.pt"), str(tmp_path / "x.npy"), "--out", str(out2), "--method", "shapley"]
    assert main([*args, "--no-progress", "--no-figures", "--domain", "dct"]) == 0
    capsys.readouterr()
    assert main(["report", str(out2), "--out", str(tmp_path / "page2.html"), "--no-explorer"]) == 0
    text = (tmp_path / "page2.html").read_text()
    assert "Shapley values, a perturbation method (its steps are model calls per sample)" in text


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cdig report: error: ") and err.count("\n") == 1
    return err


def test_cli_errors(tmp_path, batch, capsys):
    _, maps = batch
    assert "no such folder" in _error(["report", str(tmp_path / "nope")], capsys)
    (tmp_path / "file.txt").write_text("x")
    assert "not a folder" in _error(["report", str(tmp_path / "file.txt")], capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    np.savez(empty / "other.npz", a=np.arange(3))  # not an Attribution: ignored, so still no maps
    assert "no maps found" in _error(["report", str(empty)], capsys)

    broken = tmp_path / "broken"
    broken.mkdir()
    maps["time"].save(broken / "time.npz")
    (broken / "fourier.npz").write_bytes(b"this is not a zip file")
    err = _error(["report", str(broken)], capsys)
    assert "fourier.npz: cannot be read as an .npz file" in err
    np.savez(broken / "fourier.npz", values=np.zeros((N, 3)), meta=np.array("{not json"))
    err = _error(["report", str(broken)], capsys)
    assert "fourier.npz: not a readable cdig Attribution" in err

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    maps["time"].save(mixed / "time.npz")
    per_sample = ("values", "delta", "output", "baseline_output", "n_steps")  # a whole map of 2 samples
    Attribution(**{**maps["ica"].__dict__, **{k: getattr(maps["ica"], k)[:2] for k in per_sample}}).save(mixed / "ica.npz")
    assert "different sizes" in _error(["report", str(mixed)], capsys)

    ok = tmp_path / "ok"
    ok.mkdir()
    maps["ica"].save(ok / "ica.npz")
    assert "does not exist" in _error(["report", str(ok), "--out", str(tmp_path / "no" / "r.html")], capsys)
    with pytest.raises(SystemExit):
        main(["report", str(ok), "--top-k", "0"])
    capsys.readouterr()


def test_read_folder_takes_classes_inputs_and_names(tmp_path, batch):
    import json

    x, maps = batch
    maps["fourier"].save(tmp_path / "fourier.npz")
    maps["time"].save(tmp_path / "time.npz")
    predicted, truth = np.array([2, 2, 1, 0, 1, 2]), Y
    np.savez(tmp_path / "explained.npz", x=x, y=truth, predicted=predicted, index=np.arange(N))
    (tmp_path / "summary.json").write_text(
        json.dumps(
            {
                "accuracy": 0.5,
                "files": ["time.npz", "fourier.npz", "explained.npz", "summary.json"],
                "data": {"name": "toy", "classes": ["up", "down", "flat"]},
            }
        )
    )
    found = read_folder(tmp_path)
    assert list(found.maps) == ["time", "fourier"]  # in summary.json's order
    np.testing.assert_array_equal(found.x, x)
    np.testing.assert_array_equal(found.y, predicted)
    np.testing.assert_array_equal(found.y_true, truth)
    assert found.y_label == "predicted class" and found.class_names == ["up", "down", "flat"]
    assert found.info["held-out accuracy (cdig demo)"] == "0.500" and found.info["data"] == "toy"
    assert main(["report", str(tmp_path), "--samples", "1", "--top-k", "2"]) == 0
    p = Page((tmp_path / "report.html").read_text())
    assert "Sample 0 (predicted class flat, true class up)" in "".join(p.text)
    assert [t["data-class"] for t in p.find("class-top", **{"data-domain": "time"})] == ["0", "1", "2"]


def test_read_folder_ignores_other_npz(tmp_path, batch):
    _, maps = batch
    maps["ica"].save(tmp_path / "ica.npz")
    maps["time"].save(tmp_path / "time.npz")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    found = read_folder(tmp_path)
    assert list(found.maps) == ["ica", "time"] and found.ignored == ["other.npz"]
    assert found.y is None and found.x is None
    np.testing.assert_array_equal(found.maps["ica"].values, maps["ica"].values)
