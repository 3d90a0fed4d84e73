"""Image-comparison tests of :mod:`cdig.plot`: every domain's figure, ``summary(maps)`` and
``Attribution.plot()`` rendered to PNG and compared with the baselines in ``tests/baseline_images/``.

The maps are built by hand from fixed synthetic arrays (no model, no training, no randomness), so
their values are exact. Rendering is pinned: Agg, ``matplotlib.rcdefaults()`` plus the few settings
in ``STYLE`` (DejaVu Sans, which ships with matplotlib; fixed hinting; ``svg.hashsalt``), all inside
``matplotlib.rc_context`` so no global state leaks into other tests. Figures are saved at ``DPI``.

Images are compared with ``matplotlib.testing.compare.compare_images`` at an RMS tolerance of
``TOL`` (grey levels, 0-255). On a mismatch the expected, actual and difference images are copied
to ``tests/_image_failures/<name>/`` (git-ignored) and the assertion message names that folder.

Regenerating the baselines (after an intended change to a figure; look at every new image first)::

    CDIG_REGEN_IMAGES=1 pytest tests/test_plot_images.py

writes ``tests/baseline_images/*.png``, and each comparison test then skips saying it wrote its
baseline. See ``tests/baseline_images/README.md``.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.testing.compare import compare_images  # noqa: E402
from matplotlib.testing.exceptions import ImageComparisonFailure  # noqa: E402

from cdig import Attribution  # noqa: E402
from cdig.plot import (  # noqa: E402
    plot_attribution,
    plot_bands,
    plot_fourier,
    plot_generic,
    plot_ica,
    plot_magphase,
    plot_stft,
    plot_time,
    plot_trend,
    plot_wavelet,
    summary,
)

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline_images"
FAILURES = HERE / "_image_failures"
REGEN = os.environ.get("CDIG_REGEN_IMAGES", "") not in ("", "0")

#: RMS tolerance in grey levels (0-255); ``CDIG_IMAGE_TOL`` overrides it. The same software renders
#: bit-identical PNGs (RMS 0), so the slack is only for a patch release of matplotlib/Agg/FreeType
#: nudging anti-aliased edges without moving anything (a few tenths at most). Anything that moves
#: layout is far above it, and so is every real change: measured on these baselines, one attribution
#: value changed scores 8-43 (``test_a_changed_value_is_detected``), a 2% larger font 3-18, another
#: hinting mode 24-41. A FreeType with different glyph metrics therefore fails the tests whatever
#: the tolerance: look at the diffs, then regenerate.
TOL = float(os.environ.get("CDIG_IMAGE_TOL", "1.0"))
DPI = 60
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "text.hinting": "default",
    "svg.hashsalt": "cdig-image-tests",
    "savefig.dpi": DPI,
    "savefig.bbox": None,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

N_CH, N_T, FS = 2, 64, 64.0


@contextmanager
def fixed_style():
    """matplotlib's defaults plus ``STYLE``; every rcParam is restored on exit."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield


# --- fixed synthetic maps ----------------------------------------------------------------------
# Two samples each; the figures draw sample 1, and sample 0 is a different (scaled, reversed) array so
# that plotting the wrong sample changes the image.
def _pair(v: np.ndarray) -> np.ndarray:
    v = np.round(np.asarray(v, dtype=float), 4)
    return np.stack([-0.5 * v[..., ::-1], v])


def _att(
    domain: str,
    values: np.ndarray,
    dims: tuple[str, ...],
    coords: dict,
    units: dict,
    *,
    coefficients: np.ndarray | None = None,
    extras: dict | None = None,
) -> Attribution:
    total = values.reshape(len(values), -1).sum(axis=1)
    return Attribution(
        values=values,
        domain=domain,
        dims=dims,
        coords=coords,
        delta=np.zeros(len(values)),
        output=total,
        baseline_output=np.zeros(len(values)),
        n_steps=np.full(len(values), 32),
        units=units,
        settings={"method": "ig"},
        coefficients=coefficients,
        extras=extras or {},
    )


def _signal() -> np.ndarray:
    t = np.arange(N_T) / FS
    burst = np.exp(-(((t - 0.5) / 0.15) ** 2))
    return np.stack([np.sin(2 * np.pi * 10 * t) * (0.3 + burst), 0.8 * np.cos(2 * np.pi * 3 * t) + 0.5 * t])


def build_maps() -> dict[str, Attribution]:
    t = np.arange(N_T) / FS
    ch = np.arange(N_CH)
    x = _signal()
    burst = np.exp(-(((t - 0.5) / 0.15) ** 2))
    maps: dict[str, Attribution] = {}

    # time: (N, C, T), the signal as coefficients
    v = np.stack([0.04 * burst * np.sin(2 * np.pi * 10 * t) ** 2, -0.01 * np.cos(2 * np.pi * 3 * t) * (1 - t)])
    maps["time"] = _att("time", _pair(v), ("channel", "time"), {"channel": ch, "time": t}, {"time": "s"}, coefficients=_pair(x))

    # fourier: (N, C, F), complex spectrum as coefficients
    f = np.arange(N_T // 2 + 1) * FS / N_T
    v = np.stack(
        [
            0.3 * np.exp(-(((f - 10) / 1.5) ** 2)) - 0.05 * np.exp(-(((f - 20) / 2) ** 2)),
            -0.08 * np.exp(-(((f - 3) / 1.0) ** 2)) + 0.01 * np.cos(f / 3),
        ]
    )
    spec = np.round(np.fft.rfft(x, axis=-1), 4)
    maps["fourier"] = _att(
        "fourier",
        _pair(v),
        ("channel", "frequency"),
        {"channel": ch, "frequency": f},
        {"frequency": "Hz"},
        coefficients=np.stack([spec[..., ::-1], spec]),
    )

    # ica: (N, K) scores, per-time map and source time courses
    courses = np.stack([np.sin(2 * np.pi * 10 * t) * burst, np.sign(np.sin(2 * np.pi * 2 * t)) * 0.7])
    per_time = np.stack([0.02 * burst * np.sin(2 * np.pi * 10 * t) ** 2, -0.004 * (1 + np.cos(2 * np.pi * 2 * t))])
    per_time = np.round(per_time, 4)
    scores = per_time.sum(axis=-1)
    ica_coords = {"component": np.arange(2), "time": t}
    maps["ica"] = _att(
        "ica",
        _pair(scores),
        ("component",),
        ica_coords,
        {"time": "s"},
        coefficients=_pair(courses),
        extras={"per_time": _pair(per_time)},
    )

    # stft: (N, C, F, frames)
    sf = np.arange(9) * 4.0
    st = np.arange(17) * 0.0625
    grid = np.exp(-(((sf[:, None] - 10) / 3) ** 2) - ((st[None, :] - 0.5) / 0.2) ** 2)
    low = np.exp(-(((sf[:, None] - 2) / 2) ** 2)) * np.cos(2 * np.pi * st[None, :])
    v = np.stack([0.05 * grid - 0.01 * low, -0.02 * low + 0.01 * grid])
    maps["stft"] = _att(
        "stft",
        _pair(v),
        ("channel", "frequency", "time"),
        {"channel": ch, "frequency": sf, "time": st},
        {"frequency": "Hz", "time": "s"},
    )

    # dct: (N, C, K), drawn by the generic plotter (one line per channel)
    df = np.arange(N_T) * FS / (2 * N_T)
    v = np.stack([0.05 * np.exp(-(((df - 10) / 1.5) ** 2)), -0.02 * np.exp(-(((df - 3) / 1.0) ** 2)) + 0.002])
    maps["dct"] = _att("dct", _pair(v), ("channel", "frequency"), {"channel": ch, "frequency": df}, {"frequency": "Hz"})

    # wavelet (haar, level 2): A2 (16), D2 (16), D1 (32) coefficients, per-level totals
    band = np.repeat([0, 1, 2], [16, 16, 32])
    position = np.concatenate([np.arange(16), np.arange(16), np.arange(32)])
    wtime = np.concatenate([np.arange(16) * 4, np.arange(16) * 4, np.arange(32) * 2]) / FS
    bump = np.exp(-(((wtime - 0.5) / 0.15) ** 2))
    v = np.stack(
        [np.where(band == 2, 0.01, np.where(band == 1, 0.03, -0.005)) * bump, np.where(band == 0, -0.01, 0.004) * (1 - wtime)]
    )
    v = np.round(v, 4)
    v = np.stack([-0.5 * v, v])  # not _pair: reversing the coefficients would mix the bands
    per_level = np.stack([[np.bincount(band, weights=row) for row in s] for s in v])
    maps["wavelet"] = _att(
        "wavelet",
        v,
        ("channel", "coefficient"),
        {
            "channel": ch,
            "coefficient": np.arange(N_T),
            "band": band,
            "band_name": np.array(["A2", "D2", "D1"]),
            "level": np.repeat([2, 2, 1], [16, 16, 32]),
            "position": position,
            "time": wtime,
        },
        {"time": "s"},
        extras={"per_level": per_level},
    )

    # basis (PCA): (N, K) scores with time courses, drawn like ICA
    maps["basis"] = _att(
        "basis",
        _pair([0.21, -0.07]),
        ("component",),
        ica_coords,
        {"time": "s"},
        coefficients=_pair(courses),
        extras={"per_time": _pair(per_time)},
    )

    # bands: (N, C, B) with named bands and their edges ("other" has none)
    maps["bands"] = _att(
        "bands",
        _pair([[0.02, 0.31, -0.03], [-0.09, 0.015, 0.004]]),
        ("channel", "band"),
        {
            "channel": ch,
            "band": np.array(["low", "high", "other"]),
            "band_low": np.array([1.0, 8.0, np.nan]),
            "band_high": np.array([8.0, 20.0, np.nan]),
            "frequency": f,
        },
        {"band_low": "Hz", "band_high": "Hz", "frequency": "Hz"},
    )

    # trend: (N, C, 3, T)
    comp = np.stack([0.002 * (t - 0.5), 0.01 * np.sin(2 * np.pi * 8 * t) * burst, 0.003 * np.cos(2 * np.pi * 20 * t)])
    v = np.stack([comp, -0.5 * comp[:, ::-1] + np.array([0.001, 0.0, 0.0])[:, None]])
    maps["trend"] = _att(
        "trend",
        _pair(v),
        ("channel", "component", "time"),
        {"channel": ch, "component": np.array(["trend", "seasonal", "residual"]), "time": t},
        {"time": "s"},
        extras={"totals": _pair(v.sum(-1))},
    )

    # magphase: (N, C, 2, F)
    comp = np.stack([0.2 * np.exp(-(((f - 10) / 1.5) ** 2)), -0.03 * np.sin(f / 2) * np.exp(-f / 12)])
    v = np.stack([comp, 0.3 * comp[::-1]])
    maps["magphase"] = _att(
        "magphase",
        _pair(v),
        ("channel", "component", "frequency"),
        {"channel": ch, "component": np.array(["magnitude", "phase"]), "frequency": f},
        {"frequency": "Hz"},
        extras={"totals": _pair(v.sum(-1))},
    )

    # cepstrum: (N, C, Q)
    q = np.arange(N_T) / FS
    v = np.stack([0.05 * np.exp(-q / 0.05) * np.cos(2 * np.pi * 4 * q), -0.01 * np.exp(-(((q - 0.5) / 0.05) ** 2))])
    maps["cepstrum"] = _att("cepstrum", _pair(v), ("channel", "quefrency"), {"channel": ch, "quefrency": q}, {"quefrency": "s"})

    # compose (ICA then Fourier): (N, K, F), one line per component
    v = np.stack([0.25 * np.exp(-(((f - 10) / 1.5) ** 2)), -0.04 * np.exp(-(((f - 2) / 1.0) ** 2))])
    maps["compose"] = _att(
        "compose", _pair(v), ("component", "frequency"), {"component": np.arange(2), "frequency": f}, {"frequency": "Hz"}
    )
    return maps


# --- rendering and comparison ------------------------------------------------------------------
def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def check_image(name: str, draw, tmp_path: Path) -> None:
    """Render ``draw()`` (a Figure) as ``<name>.png`` and compare it with the baseline (or write it)."""
    expected = BASELINE / f"{name}.png"
    with fixed_style():
        fig = draw()
        if REGEN:
            BASELINE.mkdir(exist_ok=True)
            _save(fig, expected)
            pytest.skip(f"CDIG_REGEN_IMAGES is set: wrote the baseline {expected}")
        actual = _save(fig, tmp_path / f"{name}.png")
    if not expected.exists():
        pytest.fail(f"no baseline {expected}; create it with CDIG_REGEN_IMAGES=1 pytest {Path(__file__).name}")
    try:
        result = compare_images(str(expected), str(actual), tol=TOL, in_decorator=True)
        problem = None if result is None else f"RMS {result['rms']:.3f} > tolerance {TOL}"
    except ImageComparisonFailure as e:  # e.g. a different image size
        result, problem = None, str(e).strip()
    out = FAILURES / name
    shutil.rmtree(out, ignore_errors=True)  # no stale failure images of a figure that now matches
    if problem is None:
        return
    out.mkdir(parents=True)
    shutil.copy(expected, out / "expected.png")
    shutil.copy(actual, out / "actual.png")
    if result is not None and Path(result["diff"]).exists():
        shutil.copy(result["diff"], out / "diff.png")
    pytest.fail(
        f"figure {name!r} differs from {expected.relative_to(HERE.parent)}: {problem}; "
        f"expected, actual and diff images are in {out}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def maps() -> dict[str, Attribution]:
    return build_maps()


DOMAINS = ["time", "fourier", "ica", "stft", "dct", "wavelet", "basis", "bands", "trend", "magphase", "cepstrum", "compose"]

# each domain's default figure through Attribution.plot(), and the options that draw something else
CASES = {d: (d, {}) for d in DOMAINS}
CASES.update(
    {
        "fourier_band": ("fourier", {"band": (8.0, 12.0)}),
        "ica_highlight": ("ica", {"highlight": 0}),
        "stft_each": ("stft", {"channels": "each"}),
        "wavelet_scalogram": ("wavelet", {"kind": "scalogram"}),
    }
)


def test_every_domain_is_covered(maps):
    assert list(maps) == DOMAINS
    assert len({a.domain for a in maps.values()}) == len(DOMAINS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_attribution_plot_matches_baseline(maps, name, tmp_path):
    domain, options = CASES[name]
    check_image(name, lambda: maps[domain].plot(sample=1, **options), tmp_path)


# the plotter each domain dispatches to: calling it directly draws the very same figure
DIRECT = {
    "time": plot_time,
    "fourier": plot_fourier,
    "ica": plot_ica,
    "stft": plot_stft,
    "dct": plot_generic,
    "wavelet": plot_wavelet,
    "basis": plot_ica,
    "bands": plot_bands,
    "trend": plot_trend,
    "magphase": plot_magphase,
    "cepstrum": plot_generic,
    "compose": plot_generic,
}


@pytest.mark.parametrize("domain", ["time", "stft", "dct", "bands"])
def test_direct_plotter_and_plot_attribution_draw_the_same(maps, domain, tmp_path):
    (tmp_path / "direct").mkdir()
    (tmp_path / "dispatch").mkdir()
    check_image(domain, lambda: DIRECT[domain](maps[domain], 1), tmp_path / "direct")
    check_image(domain, lambda: plot_attribution(maps[domain], 1), tmp_path / "dispatch")


def test_summary_matches_baseline(maps, tmp_path):
    check_image("summary", lambda: summary(maps, sample=1), tmp_path)


def test_summary_of_a_list_matches_baseline(maps, tmp_path):
    check_image(
        "summary_list",
        lambda: summary([maps["time"], maps["fourier"], maps["wavelet"], maps["trend"]], sample=1, ncols=2, title="Four domains"),
        tmp_path,
    )


# --- real signals: a long one (ACSF1, 1,460 readings) and a short one (BasicMotions, 100 x 6) ------------
def build_real_maps() -> dict[str, Attribution]:
    """Maps of real recordings with exact values: the IG of a fixed linear model ``f(x) = <w, x>`` from
    the zero baseline, which is ``x * w`` in time and :func:`cdig.testing.fourier_linear_map` in
    frequency (no training, no randomness). Skips when sktime's data files are not installed."""
    from cdig.testing import fourier_linear_map

    real = pytest.importorskip("cdig.datasets.real")
    if not real.available():
        pytest.skip("sktime's data files are not installed (pip install 'cdig[examples]')")
    maps: dict[str, Attribution] = {}

    x = real.load_ucr("ACSF1", "test").X[:2].astype(np.float64)  # (2, 1, 1460): a pulse train, 0.1 Hz
    n = x.shape[-1]
    t = np.arange(n) * 10.0
    step = np.arange(n)
    w = (0.02 * np.sin(2 * np.pi * 3 * step / n) + 0.01 * np.cos(np.pi * step / 2))[None]  # slow, and one in four
    maps["acsf1_time"] = _att("time", x * w, ("channel", "time"), {"channel": [0], "time": t}, {"time": "s"}, coefficients=x)
    f = np.fft.rfftfreq(n, d=10.0)
    maps["acsf1_fourier"] = _att(
        "fourier",
        fourier_linear_map(x, np.zeros_like(x), np.broadcast_to(w, x.shape)),
        ("channel", "frequency"),
        {"channel": [0], "frequency": f},
        {"frequency": "Hz"},
        coefficients=np.fft.rfft(x, axis=-1),
    )

    x = real.load_ucr("BasicMotions", "test").X[:2].astype(np.float64)  # (2, 6, 100) at 10 Hz
    t = np.arange(x.shape[-1]) / 10.0
    w = 0.05 * np.sin(2 * np.pi * t / 5.0)[None] * np.linspace(1.0, -0.5, 6)[:, None]
    maps["basicmotions_time"] = _att(
        "time", x * w, ("channel", "time"), {"channel": np.arange(6), "time": t}, {"time": "s"}, coefficients=x
    )
    return maps


@pytest.fixture(scope="module")
def real_maps() -> dict[str, Attribution]:
    return build_real_maps()


REAL_CASES = {
    "real_acsf1_time": lambda m: plot_time(m["acsf1_time"], 1),  # long: envelope and heat strip
    "real_acsf1_fourier": lambda m: plot_fourier(m["acsf1_fourier"], 1),  # 731 bins: summed into bands
    "real_basicmotions_time": lambda m: plot_time(m["basicmotions_time"], 1),  # short: line over heat
    "real_summary": lambda m: summary({"time": m["acsf1_time"], "fourier": m["acsf1_fourier"]}, 1),
}


@pytest.mark.parametrize("name", sorted(REAL_CASES))
def test_real_signal_matches_baseline(real_maps, name, tmp_path):
    check_image(name, lambda: REAL_CASES[name](real_maps), tmp_path)


# --- the comparison is not vacuous ---------------------------------------------------------------
def _perturbed(att: Attribution, index: tuple, how: str) -> Attribution:
    values = att.values.copy()
    values[index] = -values[index] if how == "flip" else values[index] + 0.5 * np.max(np.abs(values[1]))
    return Attribution(**{**att.__dict__, "values": values})


@pytest.mark.parametrize(
    "name, index, how",
    [
        ("fourier", (1, 0, 20), "flip"),  # one bin of channel 0 at 20 Hz changes sign (not the top bin)
        ("bands", (1, 1, 0), "flip"),  # channel 1's "low" band
        ("time", (1, 1, 10), "shift"),  # one time step of channel 1
        ("stft", (1, 0, 2, 8), "flip"),  # one cell of the spectrogram (a shift of a cell near the top is clipped)
        ("dct", (1, 0, 20), "shift"),  # one DCT coefficient
    ],
)
def test_a_changed_value_is_detected(maps, name, index, how, tmp_path):
    if REGEN:
        pytest.skip("CDIG_REGEN_IMAGES is set: baselines are being written")
    expected = BASELINE / f"{name}.png"
    if not expected.exists():
        pytest.fail(f"no baseline {expected}; create it with CDIG_REGEN_IMAGES=1 pytest {Path(__file__).name}")
    with fixed_style():
        actual = _save(_perturbed(maps[name], index, how).plot(sample=1), tmp_path / f"{name}.png")
    result = compare_images(str(expected), str(actual), tol=TOL, in_decorator=True)
    assert result is not None, f"changing one value of {name!r} went unnoticed at tol={TOL}"
    assert result["rms"] > 5.0  # a wide margin over TOL: measured 8.4 (fourier) to 43 (bands)


def test_sample_zero_differs_from_sample_one(maps, tmp_path):
    """The baselines draw sample 1: sample 0 (another array) must not match them."""
    if REGEN:
        pytest.skip("CDIG_REGEN_IMAGES is set: baselines are being written")
    with fixed_style():
        actual = _save(maps["trend"].plot(sample=0), tmp_path / "trend0.png")
    assert compare_images(str(BASELINE / "trend.png"), str(actual), tol=TOL) is not None
