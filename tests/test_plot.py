"""Every domain's map plots: through ``Attribution.plot`` and ``cdig.plot.plot_attribution``, and on one page."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cdig.testing import requires_matplotlib

pytestmark = requires_matplotlib

torch = pytest.importorskip("torch")
sklearn_decomposition = pytest.importorskip("sklearn.decomposition")

import cdig  # noqa: E402
from cdig.plot import plot_attribution, summary  # noqa: E402

# axes of each figure with its default options (colour bars count as axes)
EXPECTED_AXES = {
    "time": 3,  # two channels and a colour bar
    "fourier": 2,  # bars and, below them, the signal's spectrum
    "ica": 4,  # bars, two time courses, colour bar
    "stft": 2,  # heat map of the channel sum and its colour bar
    "dct": 1,
    "wavelet": 1,
    "basis": 4,  # like ica: bars, two time courses, colour bar
    "bands": 1,
    "trend": 3,  # trend, seasonal, residual
    "magphase": 2,  # magnitude, phase
    "cepstrum": 1,
    "compose": 1,
}
DIVERGING = ("time", "stft")


@pytest.fixture(scope="module")
def maps():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 64)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(128, 1))
    pooled = x.numpy().transpose(0, 2, 1).reshape(-1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ica = sklearn_decomposition.FastICA(whiten="unit-variance", random_state=0).fit(pooled)
    domains = [
        "time",
        "fourier",
        cdig.ICA(ica),
        cdig.STFT(16),
        cdig.DCT(),
        cdig.Wavelet("haar", level=2),
        cdig.LinearBasis(sklearn_decomposition.PCA().fit(pooled)),
        cdig.FrequencyBands({"low": (1, 8), "high": (8, 20)}, fs=64.0),
        cdig.TrendSeason(8),
        cdig.MagnitudePhase(),
        cdig.ComplexCepstrum(),
        cdig.Compose(cdig.ICA(ica), cdig.Fourier(), name="compose"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = cdig.explain(model, x, domains, fs=64.0, n_steps=4)
    assert set(out) == set(EXPECTED_AXES)
    return out


def _images(fig):
    return [
        im
        for ax in fig.axes
        for im in list(ax.images) + list(ax.collections)
        if hasattr(im, "get_clim")
        and im.get_array() is not None
        and getattr(im, "cmap", None) is not None
        and im.cmap.name == "RdBu_r"
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED_AXES))
def test_every_domain_plots(maps, name, tmp_path):
    from matplotlib.figure import Figure

    att = maps[name]
    fig = att.plot(sample=1)
    assert isinstance(fig, Figure)
    assert fig.canvas.manager is None  # not attached to pyplot
    assert len(fig.axes) == EXPECTED_AXES[name]
    again = plot_attribution(att, 1)
    assert len(again.axes) == EXPECTED_AXES[name]
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


@pytest.mark.parametrize("name", DIVERGING)
def test_diverging_maps_are_centred_on_zero(maps, name):
    images = _images(maps[name].plot())
    assert images
    for im in images:
        lo, hi = im.get_clim()
        assert lo == pytest.approx(-hi) and hi > 0


def test_stft_per_channel_and_scalogram_are_symmetric(maps):
    fig = maps["stft"].plot(channels="each")
    assert len(fig.axes) == 3  # two channels, one shared colour bar
    fig = maps["wavelet"].plot(kind="scalogram")
    assert len(fig.axes) == 2
    for im in _images(fig):
        lo, hi = im.get_clim()
        assert lo == pytest.approx(-hi)


def test_channel_names_are_used(maps):
    att = maps["bands"]
    named = cdig.Attribution(**{**att.__dict__, "coords": {**att.coords, "channel": np.array(["Fz", "Cz"])}})
    fig = named.plot()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["Fz", "Cz"]
    assert "low" in fig.axes[0].get_xticklabels()[0].get_text()


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_summary_has_one_panel_per_domain(maps, tmp_path):
    fig = summary(maps, sample=1)
    assert len(_panels(fig)) == len(maps)
    assert [ax.get_title().split(" ")[0] for ax in _panels(fig)] == list(maps)
    # every heat map has its colour bar: time (channel x time), stft, and nothing else here
    assert len(fig.axes) - len(maps) == 2
    fig.savefig(tmp_path / "summary.png")
    assert (tmp_path / "summary.png").stat().st_size > 1000
    assert len(_panels(summary([maps["time"], maps["dct"]]))) == 2


@pytest.mark.parametrize("sample", [2, -3, 1.0, True, "0"])
def test_bad_sample_is_a_cdig_error(maps, sample):
    for name in ("time", "stft", "dct"):
        with pytest.raises(cdig.CdigError, match="sample"):
            maps[name].plot(sample=sample)
    with pytest.raises(cdig.CdigError, match="sample"):
        summary(maps, sample=sample)


def test_bad_options_are_cdig_errors(maps):
    with pytest.raises(cdig.CdigValueError, match="channels"):
        maps["stft"].plot(channels="all")
    with pytest.raises(cdig.CdigValueError, match="kind"):
        maps["wavelet"].plot(kind="pie")
    with pytest.raises(cdig.CdigValueError, match="empty"):
        summary({})


def test_core_does_not_import_plot_at_module_level():
    import subprocess
    import sys

    code = "import sys, cdig.core.attribution; print('cdig.plot' in sys.modules or 'matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_stft_fmax_limits_the_frequency_axis():
    import matplotlib.pyplot as plt
    import torch

    import cdig
    from cdig.plot import plot_stft

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(128, 1))
    att = cdig.explain(model, torch.randn(1, 1, 128), cdig.STFT(32), fs=128.0, n_steps=4)["stft"]
    fig = plot_stft(att, fmax=20.0)
    mesh = fig.axes[0].collections[0]
    rows = mesh.get_array().shape[0]
    assert rows == int((np.asarray(att.coords["frequency"]) <= 20.0).sum()) < len(att.coords["frequency"])
    plt.close(fig)
    with pytest.raises(cdig.CdigValueError, match="fmax"):
        plot_stft(att, fmax=-1.0)


# --- a perturbation method's values per group ------------------------------------------------------
def _band_energy(s: np.ndarray) -> np.ndarray:
    return (np.abs(np.fft.rfft(s, axis=-1)[..., 4:8]) ** 2).sum(axis=(-2, -1)) / s.shape[-1]


@pytest.mark.parametrize("n_samples", [None, 16])
def test_grouped_results_are_bars_per_group_with_their_ranges(n_samples):
    """Any domain's grouped result is drawn by plot_groups: one bar per group, labelled with the range of
    the domain's coordinate it covers (bins 0-3 of a 64-sample signal at 64 Hz: 0-3 Hz), error bars of
    one standard error for a sampled estimate; names set in coords["group"] replace the numbers."""
    x = np.random.default_rng(0).standard_normal((2, 2, 64))
    labels = {"fourier": np.arange(33) // 4, "time": np.arange(64) // 16}
    maps = cdig.explain(_band_energy, x, ("fourier", "time"), method="shapley", groups=labels, fs=64.0, n_samples=n_samples)
    fourier = maps["fourier"]
    assert fourier.settings["group_axis"] == "frequency" and fourier.units["group_low"] == "Hz"
    np.testing.assert_allclose(fourier.coords["group_low"], 4.0 * np.arange(9))
    np.testing.assert_allclose(fourier.coords["group_high"], [*(4.0 * np.arange(8) + 3), 32.0])
    from cdig.plot import _plotter, plot_groups

    assert _plotter(fourier) is plot_groups and _plotter(maps["time"]) is plot_groups
    fig = plot_attribution(fourier, 1)
    ax = fig.axes[0]
    assert len(ax.patches) == 9
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["0\n0-3", "1\n4-7"]
    assert ax.get_xlabel() == "group (frequency range, Hz)"
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, fourier.values[1])
    assert ("standard error" in ax.get_ylabel()) == (n_samples is not None)
    assert bool(ax.collections) == (n_samples is not None)  # the error bars' line collection
    fourier.coords["group"] = np.array([f"band {k}" for k in range(9)])
    assert plot_attribution(fourier, 0).axes[0].get_xticklabels()[1].get_text() == "band 1\n4-7"
    fig = summary(maps, 0)
    assert len(fig.axes) == 2 and all(len(a.patches) == n for a, n in zip(fig.axes, (9, 4)))
