"""Figures that scale to real signals, measured in pixels: a long real recording is not a solid black
block, a heat map with one outlier is not blank, bars stay a few pixels wide from 16 to 100,000 bins,
band labels tell their edges apart, magnitude/phase panels hide round-off.

Each figure is rendered with Agg at 100 dpi and measured on its pixels, inside the axes' own boxes:
*dark* pixels are near-black and grey-free of colour (``max(R, G, B) < 0.3``: the signal's ink),
*coloured* pixels are visibly tinted (``max - min > 0.12``: the heat map's red and blue), *grey*
pixels are neutral mid-greys (the spectrum's fill). The thresholds are far from both sides of what
is measured: on the old figures the ACSF1 time plot was 73 % dark, the class-average heat map 0 %
coloured, 1,460 Fourier bars 0.5 px wide.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

from cdig import Attribution
from cdig.testing import requires_matplotlib

pytestmark = requires_matplotlib

matplotlib = pytest.importorskip("matplotlib")

from cdig.plot import plot_bands, plot_fourier, plot_magphase, plot_stft, plot_time, summary  # noqa: E402

DPI = 100
FS = 0.1  # ACSF1: one reading every 10 s


# --- rendering and measuring ----------------------------------------------------------------------
def render(fig) -> np.ndarray:
    """The figure's pixels, RGB in [0, 1], rows from the top; axes boxes are then in display pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba(), dtype=float)[..., :3] / 255.0


def inside(img: np.ndarray, ax, y0: float | None = None, y1: float | None = None) -> np.ndarray:
    """The pixels strictly inside ``ax``'s frame (2 px margin), optionally between data heights y0 < y1."""
    box = ax.get_window_extent()
    h = img.shape[0]
    top, bottom = h - box.y1, h - box.y0
    if y1 is not None:
        top = max(top, h - ax.transData.transform((0, y1))[1])
    if y0 is not None:
        bottom = min(bottom, h - ax.transData.transform((0, y0))[1])
    return img[int(np.ceil(top)) + 2 : int(bottom) - 2, int(np.ceil(box.x0)) + 2 : int(box.x1) - 2]


def dark(px: np.ndarray) -> float:
    return float(np.mean(px.max(axis=-1) < 0.3))


def coloured(px: np.ndarray) -> float:
    return float(np.mean(px.max(axis=-1) - px.min(axis=-1) > 0.12))


def panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colorbars(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def att_of(domain, values, dims, coords, units, coefficients=None) -> Attribution:
    values = np.asarray(values, dtype=float)
    total = values.reshape(len(values), -1).sum(axis=1)
    return Attribution(
        values=values,
        domain=domain,
        dims=dims,
        coords=coords,
        delta=np.zeros(len(values)),
        output=total,
        baseline_output=np.zeros(len(values)),
        n_steps=np.full(len(values), 4),
        units=units,
        coefficients=coefficients,
    )


# --- real data: two ACSF1 curves explained by a small CNN ------------------------------------------
@pytest.fixture(scope="module")
def acsf1():
    """Time and Fourier maps of two ACSF1 test curves (1,460 readings of power drawn, one every
    10 s: a pulse train, one non-zero reading in four) through a small untrained CNN (about 1 s)."""
    torch = pytest.importorskip("torch")
    real = pytest.importorskip("cdig.datasets.real")
    if not real.available():
        pytest.skip("sktime's data files are not installed (pip install 'cdig[examples]')")
    import cdig

    x = real.load_ucr("ACSF1", "test").X[:2]
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 9, stride=4), torch.nn.GELU(), torch.nn.Flatten(), torch.nn.LazyLinear(3)
    ).eval()
    model(torch.from_numpy(x))  # materialise the lazy layer
    maps = cdig.explain(model, torch.from_numpy(x), ["time", "fourier"], target=0, fs=FS, n_steps=4, progress=False)
    assert maps["time"].values.shape == (2, 1, 1460)
    return maps


def test_a_long_real_recording_is_not_a_solid_black_block(acsf1):
    att = acsf1["time"]
    fig = plot_time(att, 0)
    img = render(fig)
    ax = fig.axes[0]
    px = inside(img, ax)
    # the old figure drew the 1,460 points as one black line: ~90 % of the axes was ink
    assert dark(px) < 0.35, f"{100 * dark(px):.0f} % of the plot area is dark"
    # and the attribution is still there to read, in colour
    assert coloured(px) > 0.1
    # with units on both axes and the colour bar
    assert panels(fig)[-1].get_xlabel() == "time (s)"
    assert "output units" in colorbars(fig)[0].get_ylabel()


def test_the_envelope_keeps_the_signal_range(acsf1):
    """The min/max envelope spans what the signal spans: drawn decimated, nothing is cut off."""
    att = acsf1["time"]
    fig = plot_time(att, 1)
    x = np.asarray(att.coefficients[1, 0], dtype=float)
    lines = [line.get_ydata() for line in fig.axes[0].get_lines() if len(line.get_ydata()) > 2]
    drawn = np.concatenate(lines)
    assert drawn.min() == pytest.approx(x.min()) and drawn.max() == pytest.approx(x.max())
    assert max(len(v) for v in lines) < len(x)  # decimated, not 1,460 points per line
    assert fig.axes[0].get_ylim()[1] >= x.max()


def test_a_short_series_is_drawn_point_by_point():
    t = np.arange(64) / 64.0
    x = np.sin(2 * np.pi * 3 * t)[None, None]
    att = att_of(
        "time", np.stack([x, x])[:, 0], ("channel", "time"), {"channel": [0], "time": t}, {"time": "s"}, np.stack([x, x])[:, 0]
    )
    fig = plot_time(att, 0)
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_ydata(), x[0, 0])


def _outlier_map(acsf1, channels: int) -> Attribution:
    """A class-average-like time map: the real map of curve 0 with one value 35x its 99th percentile
    (on ACSF1's class means: max |value| 3.33, 99th percentile 0.096)."""
    v = np.repeat(np.asarray(acsf1["time"].values[:1], dtype=float), channels, axis=1)
    p99 = float(np.percentile(np.abs(v), 99))
    v[0, 0, 700] = 35 * p99
    t = np.asarray(acsf1["time"].coords["time"])
    return att_of("time", v, ("channel", "time"), {"channel": np.arange(channels), "time": t}, {"time": "s"})


@pytest.mark.parametrize("channels", [1, 3])
def test_a_heat_map_with_one_outlier_is_not_blank(acsf1, channels):
    att = _outlier_map(acsf1, channels)
    fig = summary({"mean of class 0": att})
    img = render(fig)
    (heat,) = panels(fig)
    # the old panel was pure white: one outlier set the colour scale (and one channel had no height)
    assert coloured(inside(img, heat)) > 0.5
    (bar,) = colorbars(fig)
    label = bar.get_ylabel()
    assert "clipped" in label and f"max {np.abs(att.values).max():.3g}" in label


def _report_image(text: str, kind: str) -> np.ndarray:
    from matplotlib.image import imread

    src = re.search(rf'<img class="{kind}"[^>]*src="data:image/png;base64,([^"]+)"', text)
    assert src is not None, kind
    return imread(io.BytesIO(base64.b64decode(src.group(1))), format="png")[..., :3]


def test_the_report_class_average_and_input_are_readable(acsf1, tmp_path):
    from cdig.report import write_report

    one = _outlier_map(acsf1, 1)
    two = att_of("time", np.concatenate([one.values, one.values]), one.dims, one.coords, one.units)
    x = np.asarray(acsf1["time"].coefficients)
    text = write_report({"time": two}, tmp_path / "r.html", x=x, y=[0, 0], samples=1).read_text()
    mean = _report_image(text, "class-mean")
    # the heat map fills about half the picture (the old one: 0 %); the colour bar alone is ~2 %
    assert coloured(mean) > 0.2
    # the input: 1,460 readings as an envelope, not a black block (the old one: 55 % of the picture dark)
    assert dark(_report_image(text, "input")) < 0.1
    # at the page's full width, drawn at its own size
    assert mean.shape[1] == 1200 and "img.summary,img.class-mean,img.input{width:100%}" in text


# --- Fourier bars from 16 to 100,000 bins -------------------------------------------------------------
def _fourier(n_bins: int, top: int, seed: int = 0) -> Attribution:
    rng = np.random.default_rng(seed)
    f = np.arange(n_bins) * 0.5 / (n_bins - 1)
    v = 0.01 * rng.standard_normal(n_bins)
    v[top] = 1.0
    spec = rng.standard_normal(n_bins) + 1j * rng.standard_normal(n_bins)
    spec[top] = 40.0
    return att_of(
        "fourier",
        np.stack([v, -v])[:, None],
        ("channel", "frequency"),
        {"channel": [0], "frequency": f},
        {"frequency": "Hz"},
        np.stack([spec, spec])[:, None],
    )


def _bars(ax) -> list:
    from matplotlib.patches import Rectangle

    return [p for p in ax.patches if isinstance(p, Rectangle)]


@pytest.mark.parametrize("n_bins", [16, 1460, 100_000])
def test_fourier_bars_stay_legible(n_bins):
    top = int(0.3 * n_bins)
    att = _fourier(n_bins, top)
    fig = plot_fourier(att, 0)
    img = render(fig)
    ax = fig.axes[0]
    bars = _bars(ax)
    x0 = ax.transData.transform(np.c_[[b.get_x() for b in bars], np.zeros(len(bars))])[:, 0]
    x1 = ax.transData.transform(np.c_[[b.get_x() + b.get_width() for b in bars], np.zeros(len(bars))])[:, 0]
    assert len(bars) == n_bins if n_bins == 16 else len(bars) <= 250
    assert (x1 - x0).min() >= 2.5, f"bars {(x1 - x0).min():.2f} px wide"  # the old 1,460 bars: 0.5 px
    if n_bins > 16:
        assert "bar = " in ax.get_ylabel() and "bins" in ax.get_ylabel()  # says they are aggregated
    # the top bin is named exactly, and its bar is visible in red
    freq = float(att.coords["frequency"][top])
    assert any(f"top bin {freq:.4g} Hz" in t.get_text() for t in ax.get_legend().get_texts())
    xp = int(ax.transData.transform((freq, 0))[0])
    col = img[:, xp - 3 : xp + 4]
    red = (col[..., 0] > 0.6) & (col[..., 1] < 0.35) & (col[..., 2] < 0.35)
    assert red.sum() > 50
    # the sums are kept: the bars add up to the map
    assert sum(b.get_height() for b in bars) == pytest.approx(float(att.values[0].sum()), rel=1e-9, abs=1e-9)


def test_the_top_bin_label_does_not_collide_with_tick_labels():
    att = _fourier(731, 730)  # ACSF1: the top bin is the last one, at the edge of the axes
    fig = plot_fourier(att, 0)
    render(fig)
    renderer = fig.canvas.get_renderer()
    labels = [t for ax in fig.axes for t in ax.texts] + [
        t for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]
    ticks = [
        t for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()
    ]
    assert any("top bin" in t.get_text() for t in labels)
    for label in labels:
        box = label.get_window_extent(renderer)
        for tick in ticks:
            assert not box.overlaps(tick.get_window_extent(renderer)), (label.get_text(), tick.get_text())


def test_the_spectrum_is_not_drawn_below_the_attribution_zero_line():
    att = _fourier(64, 20)
    fig = plot_fourier(att, 0)
    img = render(fig)
    ax = fig.axes[0]
    below = inside(img, ax, y1=0.0)[3:]  # under the zero line of the bars
    grey = (np.ptp(below, axis=-1) < 0.03) & (below.max(axis=-1) > 0.35) & (below.max(axis=-1) < 0.9)
    assert grey.mean() < 0.002
    spectrum = fig.axes[1]
    assert spectrum.get_ylim()[0] == 0.0 and spectrum.get_xlabel() == "frequency (Hz)"


# --- bands, magnitude/phase, colour bars ------------------------------------------------------------
def test_band_labels_tell_their_edges_apart():
    from cdig.demo_real import ACSF1_BANDS

    names = [*ACSF1_BANDS, "other"]
    lo = np.array([e[0] for e in ACSF1_BANDS.values()] + [np.nan])
    hi = np.array([min(e[1], 0.05) for e in ACSF1_BANDS.values()] + [np.nan])
    v = np.array([[[0.1, 0.0, -25.9, 30.9, 0.01]]] * 2)
    att = att_of(
        "bands",
        v,
        ("channel", "band"),
        {"channel": [0], "band": np.array(names), "band_low": lo, "band_high": hi},
        {"band_low": "Hz", "band_high": "Hz"},
    )
    fig = plot_bands(att, 0)
    texts = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert len(texts) == 5
    for text, a, b in zip(texts[:4], lo, hi):
        name, edges = text.split("\n")
        cut = [i for i, c in enumerate(edges) if c == "-" and i > 0 and edges[i - 1] not in "eE"]
        assert len(cut) == 1, edges
        left, right = float(edges[: cut[0]]), float(edges[cut[0] + 1 :])
        assert left != right, text  # "0.025-0.025" was drawn for the 40 s line
        assert left == pytest.approx(a, rel=2e-3, abs=1e-12) and right == pytest.approx(b, rel=2e-3)
    assert texts[4] == "other"


def test_magnitude_phase_hides_round_off():
    f = np.linspace(0, 32, 33)
    mag = 10 * np.exp(-(((f - 10) / 2) ** 2))
    phase = 1e-9 * np.sin(7 * f)  # round-off of a map whose phase carries nothing
    v = np.stack([mag, phase])[None]
    att = att_of(
        "magphase",
        np.stack([v, v]),
        ("channel", "component", "frequency"),
        {"channel": [0], "component": np.array(["magnitude", "phase"]), "frequency": f},
        {"frequency": "Hz"},
    )
    fig = plot_magphase(att, 0)
    mag_ax, phase_ax = fig.axes
    # the magnitude is drawn as it is, but for its own round-off (|value| < 1e-6 x the largest)
    np.testing.assert_allclose(mag_ax.get_lines()[0].get_ydata(), np.where(mag < 1e-6 * mag.max(), 0.0, mag))
    (drawn,) = [line for line in phase_ax.get_lines() if len(line.get_ydata()) == len(f)]
    assert not np.any(drawn.get_ydata())  # drawn as zero, not autoscaled into a signal
    assert any("round-off" in t.get_text() for t in phase_ax.texts)
    assert phase_ax.get_ylim()[1] >= 0.05 * mag.max() * 0.99  # on the map's scale, not 1e-9's


def test_every_heat_map_has_a_colour_bar(acsf1):
    import cdig

    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(128, 1))
    stft = cdig.explain(model, torch.randn(1, 1, 128), cdig.STFT(32), fs=128.0, n_steps=2, progress=False)["stft"]
    for fig, heat_maps in [
        (plot_time(acsf1["time"], 0), 1),
        (plot_stft(stft), 1),
        (summary({"time": acsf1["time"], "stft": stft, "fourier": acsf1["fourier"]}), 2),
    ]:
        assert len(colorbars(fig)) == heat_maps
        for bar in colorbars(fig):
            assert "attribution" in bar.get_ylabel() and "output units" in bar.get_ylabel()
