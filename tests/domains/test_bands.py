"""Frequency bands: closed forms per band, completeness, planted truth, coordinates, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.domains.bands import EEG_BANDS, FrequencyBands

N, C = 4, 2


def _assign(n_times: int, fs: float, bands: dict) -> np.ndarray:
    """Band index of each rFFT bin by the definition: bin k at k·fs/T lies in [lo, hi); else the remainder."""
    out = np.full(n_times // 2 + 1, len(bands))
    for k in range(n_times // 2 + 1):
        f = k * fs / n_times
        for b, (lo, hi) in enumerate(bands.values()):
            if lo <= f < hi:
                out[k] = b
    return out


# --- linear models: exact ------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("n_times, fs", [(256, 128.0), (255, 100.0), (64, 250.0)])
def test_linear_model_band_sums_of_the_fourier_closed_form(rng, models, closed, method, n_times, fs):
    w = rng.normal(size=(C, n_times))
    x, x0 = rng.normal(size=(N, C, n_times)), rng.normal(size=(N, C, n_times))
    a = cdig.explain(
        models.Linear(w, 0.3).eval(), torch.as_tensor(x), FrequencyBands(fs=fs), baselines=x0, n_steps=3, method=method
    )["bands"]
    per_bin = closed.fourier_linear_map(x, x0, w)
    idx = _assign(n_times, fs, EEG_BANDS)
    expected = np.stack([per_bin[..., idx == b].sum(-1) for b in range(len(EEG_BANDS) + 1)], axis=-1)
    assert a.values.shape == (N, C, 6) and a.dims == ("channel", "band")
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.extras["per_bin"], per_bin, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.extras["band_index"], idx)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)
    np.testing.assert_allclose(a.values.sum((1, 2)), (w * (x - x0)).sum((1, 2)), atol=1e-11)


def test_band_scores_sum_to_the_fourier_total_and_bins(models):
    model = models.conv_net(channels=C, length=128, n_out=2, act="tanh", dtype=torch.float64)
    x = torch.randn(N, C, 128, dtype=torch.float64)
    bands = {"low": (1.0, 10.0), "mid": (10.0, 20.0), "high": (25.0, 40.0)}  # gaps: DC, [20, 25), [40, 50]
    res = cdig.explain(model, x, ["fourier", FrequencyBands(bands, fs=100.0)], target=1, n_steps=16)
    fa, ba = res["fourier"], res["bands"]
    np.testing.assert_allclose(ba.extras["per_bin"], fa.values, rtol=0, atol=1e-14)
    np.testing.assert_allclose(ba.values.sum(-1), fa.values.sum(-1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ba.delta, fa.delta, atol=1e-12)
    idx = _assign(128, 100.0, bands)
    np.testing.assert_array_equal(ba.extras["band_index"], idx)
    freqs = ba.coords["frequency"]  # Hz (the fourier map, without fs, is in cycles/sample)
    other = ba.values[..., 3]
    gap = (freqs < 1.0) | ((freqs >= 20.0) & (freqs < 25.0)) | (freqs >= 40.0)
    np.testing.assert_allclose(other, fa.values[..., gap].sum(-1), atol=1e-12)
    # each bin counted exactly once
    assert np.bincount(ba.extras["band_index"], minlength=4).sum() == 65


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_completeness_smooth_model_gausslegendre_64(models, act):
    model = models.conv_net(channels=C, length=96, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, 96, dtype=torch.float64)
    a = cdig.explain(model, x, FrequencyBands(fs=200.0), target=2, n_steps=64, method="gausslegendre")["bands"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    np.testing.assert_allclose(a.sum() - (a.output - a.baseline_output), a.delta, atol=1e-12)


# --- planted truth ----------------------------------------------------------------------------------


def test_ideal_alpha_energy_goes_to_the_alpha_band(models):
    fs, n_times = 128.0, 256  # bins every 0.5 Hz; 8..12 Hz is bins 16..23
    model = models.FourierBandEnergy(16, 24).eval()
    x = torch.randn(6, 2, n_times, dtype=torch.float64)
    a = cdig.explain(model, x, FrequencyBands(fs=fs), n_steps=4)["bands"]
    names = list(a.coords["band"])
    alpha = names.index("alpha")
    np.testing.assert_allclose(a.values[..., alpha].sum(1), a.output - a.baseline_output, rtol=1e-10)
    others = np.delete(a.values, alpha, axis=-1)
    np.testing.assert_allclose(others, 0.0, atol=1e-12)


def test_fir_alpha_energy_peaks_in_the_alpha_band(models):
    fs = 128.0
    model = models.BandEnergy(band=(9.0 / fs, 11.5 / fs), taps=101).eval()
    x = torch.randn(8, 1, 512)  # white noise: every band has power
    a = cdig.explain(model, x, FrequencyBands(fs=fs), n_steps=16)["bands"]
    names = list(a.coords["band"])
    share = a.values[:, 0, names.index("alpha")] / a.values[:, 0].sum(-1)
    assert np.all(share > 0.9), share
    assert np.all(np.argmax(a.values[:, 0], axis=-1) == names.index("alpha"))


# --- coordinates, settings, layouts ---------------------------------------------------------------


def test_coordinates_edges_and_clipping_note(rng, models):
    x = torch.as_tensor(rng.normal(size=(2, C, 200)))
    model = models.Linear(rng.normal(size=(C, 200)), 0.0).eval()
    a = cdig.explain(model, x, FrequencyBands(fs=160.0), n_steps=1, fs=160.0)["bands"]
    np.testing.assert_array_equal(a.coords["band"], ["delta", "theta", "alpha", "beta", "gamma", "other"])
    np.testing.assert_allclose(a.coords["band_low"][:5], [0.5, 4, 8, 13, 30])
    np.testing.assert_allclose(a.coords["band_high"][:5], [4, 8, 13, 30, 80])  # gamma clipped at Nyquist
    assert np.isnan(a.coords["band_low"][5]) and np.isnan(a.extras["band_edges"][5]).all()
    np.testing.assert_allclose(a.coords["frequency"], np.arange(101) * 0.8)
    assert a.units["frequency"] == "Hz"
    dom = a.settings["domain"]
    assert dom["fs"] == 160.0 and "gamma" in dom["note"] and dom["convention"] == "[low, high) Hz"
    # the Nyquist bin (80 Hz) lies in gamma [30, 100): a clipped band keeps it
    assert a.extras["band_index"][-1] == 4
    d = FrequencyBands({"low": (0.5, 40.0), "high": (40.0, 80.0)}, fs=160.0).fit(np.zeros((1, 1, 200)))
    assert d.band_index_[-1] == 2 and d.note_ is None  # [40, 80) stops short of Nyquist: remainder


def test_two_dimensional_input_drops_the_channel_axis(rng, models):
    w = rng.normal(size=64)
    x = rng.normal(size=(3, 64))
    a = cdig.explain(models.Linear(w, 0.0).eval(), torch.as_tensor(x), FrequencyBands(fs=64.0), n_steps=1)["bands"]
    assert a.values.shape == (3, 6) and a.dims == ("band",)
    assert a.extras["per_bin"].shape == (3, 33) and "channel" not in a.coords
    np.testing.assert_allclose(a.values.sum(-1), x @ w, atol=1e-12)


def test_fs_from_explain_must_agree_and_save_load(tmp_path, rng, models):
    x = torch.as_tensor(rng.normal(size=(2, 1, 64)))
    model = models.Linear(rng.normal(size=(1, 64)), 0.0).eval()
    a = cdig.explain(model, x, FrequencyBands(fs=64.0), n_steps=1, fs=64)["bands"]
    back = cdig.Attribution.load(a.save(tmp_path / "bands.npz"))
    np.testing.assert_array_equal(back.coords["band"], a.coords["band"])
    with pytest.raises(cdig.CdigValueError, match="fs=32.0 given to cdig.explain differs"):
        cdig.explain(model, x, FrequencyBands(fs=64.0), n_steps=1, fs=32.0)


# --- errors ------------------------------------------------------------------------------------------


def test_fs_missing_is_an_error_naming_fs(rng, models):
    x = torch.as_tensor(rng.normal(size=(2, 1, 64)))
    model = models.Linear(rng.normal(size=(1, 64)), 0.0).eval()
    with pytest.raises(cdig.CdigValueError, match=r"needs fs"):
        cdig.explain(model, x, FrequencyBands(), n_steps=1, fs=64.0)  # the domain's fs places the bands


@pytest.mark.parametrize(
    "bands, err, match",
    [
        ({"a": (1, 5), "b": (4, 8)}, cdig.CdigValueError, "overlap"),
        ({"a": (1, 50), "b": (4, 8)}, cdig.CdigValueError, "overlap"),
        ({"a": (5, 5)}, cdig.CdigValueError, "low < high"),
        ({"a": (-1, 5)}, cdig.CdigValueError, "low < high"),
        ({"a": (1, np.inf)}, cdig.CdigValueError, "finite"),
        ({"a": (1, 2, 3)}, cdig.CdigValueError, "two numbers"),
        ({"other": (1, 2)}, cdig.CdigValueError, "remainder"),
        ({}, cdig.CdigTypeError, "non-empty mapping"),
        ([(1, 2)], cdig.CdigTypeError, "mapping"),
    ],
)
def test_bad_bands(bands, err, match):
    with pytest.raises(err, match=match):
        FrequencyBands(bands, fs=100.0)


@pytest.mark.parametrize("fs", [0, -3.0, np.nan, True, "100"])
def test_bad_fs(fs):
    with pytest.raises(cdig.CdigValueError, match="fs="):
        FrequencyBands(fs=fs)


def test_band_above_nyquist_is_an_error_touching_edges_are_fine():
    with pytest.raises(cdig.CdigValueError, match="above the Nyquist frequency 25"):
        FrequencyBands(fs=50.0).fit(np.zeros((1, 1, 100)))  # gamma starts at 30 Hz
    d = FrequencyBands({"a": (0, 4), "b": (4, 8)}, fs=16.0).fit(np.zeros((1, 1, 16)))
    np.testing.assert_array_equal(d.band_index_, [0, 0, 0, 0, 1, 1, 1, 1, 2])  # 8 Hz = Nyquist -> remainder
