"""Trend / seasonal / residual: an independent decomposition, closed forms, the path, planted truth, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.domains.bands import FrequencyBands
from cdig.domains.trend import TrendSeason

N, C, T = 4, 2, 60
ROOT = Path(__file__).resolve().parents[2]


def reference_decomposition(x: np.ndarray, period: int, window: int | None = None) -> np.ndarray:
    """(…, 3, T) trend/seasonal/residual written directly (np.pad + np.convolve, per-phase loops)."""
    window = period if window is None else window
    half = window // 2
    taps = np.ones(2 * half + 1)
    if window % 2 == 0:
        taps[[0, -1]] = 0.5
    taps /= taps.sum()
    flat = x.reshape(-1, x.shape[-1])
    out = np.zeros((len(flat), 3, x.shape[-1]))
    for i, row in enumerate(flat):
        trend = np.convolve(np.pad(row, half, mode="reflect"), taps, mode="valid")
        detr = row - trend
        means = np.array([detr[p::period].mean() for p in range(period)])
        means -= means.mean()
        seasonal = means[np.arange(len(row)) % period]
        out[i] = trend, seasonal, row - trend - seasonal
    return out.reshape(*x.shape[:-1], 3, x.shape[-1])


@pytest.mark.parametrize("n_times, period, window", [(60, 12, None), (61, 7, None), (50, 5, 9), (40, 4, 6)])
def test_forward_matches_an_independent_decomposition(rng, n_times, period, window):
    x = rng.normal(size=(3, 2, n_times))
    d = TrendSeason(period, window).fit(x)
    z = d.forward(x, np)
    np.testing.assert_allclose(z, reference_decomposition(x, period, window), atol=1e-12)
    np.testing.assert_allclose(d.inverse(z, np), x, atol=1e-12)  # inverse ∘ forward = identity
    # forward ∘ inverse is not: the sum forgets how a signal was split
    z2 = rng.normal(size=z.shape)
    assert not np.allclose(d.forward(d.inverse(z2, np), np), z2)
    # the seasonal component is periodic and its phase means average to zero
    s = z[..., 1, :]
    np.testing.assert_allclose(s[..., period:], s[..., :-period], atol=1e-12)
    np.testing.assert_allclose(s[..., :period].mean(-1), 0.0, atol=1e-12)


@pytest.mark.parametrize("edges", ["reflect", "shrink"])
def test_trend_keeps_lines_inside_and_constants_everywhere(edges):
    d = TrendSeason(6, edges=edges).fit(np.zeros((1, 1, 36)))
    m_trend, m_seas, m_res = d.matrices_
    np.testing.assert_allclose(m_trend + m_seas + m_res, np.eye(36), atol=1e-13)
    np.testing.assert_allclose(m_trend.sum(1), 1.0, atol=1e-13)  # a constant is all trend
    line = np.arange(36.0)
    np.testing.assert_allclose((m_trend @ line)[3:-3], line[3:-3], atol=1e-12)


def test_straight_coefficient_path_is_the_straight_time_path(rng):
    x, x0 = rng.normal(size=(N, C, T)), rng.normal(size=(N, C, T))
    d = TrendSeason(10).fit(x)
    z, z0 = d.forward(x, np), d.forward(x0, np)
    for alpha in (0.0, 0.3, 0.71, 1.0):
        np.testing.assert_allclose(d.inverse(z0 + alpha * (z - z0), np), x0 + alpha * (x - x0), atol=1e-12)


# --- linear models: A_c = (z_c − z0_c) ⊙ w ---------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
def test_linear_model_closed_form(rng, models, method):
    """g(z) = <w, Σ_c z_c>: ∂g/∂z_c = w for every component, so A_c = (z_c − z0_c) ⊙ w, exactly."""
    w = rng.normal(size=(C, T))
    x, x0 = rng.normal(size=(N, C, T)), rng.normal(size=(N, C, T))
    a = cdig.explain(models.Linear(w, -0.2).eval(), torch.as_tensor(x), TrendSeason(12), baselines=x0,
                     n_steps=3, method=method)["trend"]
    dz = reference_decomposition(x, 12) - reference_decomposition(x0, 12)
    expected = dz * w[:, None, :]
    assert a.values.shape == (N, C, 3, T) and a.dims == ("channel", "component", "time")
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.extras["totals"], expected.sum(-1), atol=1e-12)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)
    np.testing.assert_allclose(a.values.sum(2), w * (x - x0), atol=1e-12)  # components add up to time IG
    np.testing.assert_allclose(a.coefficients, reference_decomposition(x, 12), atol=1e-12)


def test_components_add_up_to_time_ig_for_a_nonlinear_model(models):
    model = models.conv_net(channels=C, length=T, n_out=3, act="softplus", dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    res = cdig.explain(model, x, ["time", TrendSeason(6)], target=0, n_steps=24)
    gbar = cdig.explain(model, x, "time", target=0, n_steps=24, multiply_by_inputs=False)["time"].values
    np.testing.assert_allclose(res["trend"].values, res["trend"].coefficients * gbar[:, :, None], atol=1e-12)
    np.testing.assert_allclose(res["trend"].values.sum(2), res["time"].values, atol=1e-12)


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_completeness_smooth_model_gausslegendre_64(models, act):
    model = models.conv_net(channels=C, length=T, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    a = cdig.explain(model, x, TrendSeason(12, 7), target=1, n_steps=64, method="gausslegendre",
                     baselines=0.3)["trend"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    np.testing.assert_allclose(a.sum() - (a.output - a.baseline_output), a.delta, atol=1e-12)


# --- planted truth ----------------------------------------------------------------------------------


class SeasonalReader(torch.nn.Module):
    """Squared correlation with a periodic template after removing the least-squares line."""

    def __init__(self, n_times: int, period: int) -> None:
        super().__init__()
        t = np.arange(n_times, dtype=np.float64)
        basis = np.stack([np.ones_like(t), t], axis=1)
        self.detrend = torch.as_tensor(np.eye(n_times) - basis @ np.linalg.pinv(basis))
        self.template = torch.as_tensor(np.sin(2 * np.pi * t / period))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        corr = (x @ self.detrend @ self.template).sum(1) / x.shape[-1]
        return corr ** 2


def test_seasonal_reader_is_explained_by_the_seasonal_component(rng):
    n_times, period = 96, 12
    t = np.arange(n_times)
    x = (2.0 + 0.08 * t + np.sin(2 * np.pi * t / period) + 0.2 * rng.normal(size=(6, 1, n_times)))
    a = cdig.explain(SeasonalReader(n_times, period), torch.as_tensor(x), TrendSeason(period), n_steps=8)["trend"]
    totals = a.extras["totals"][:, 0]  # (N, 3)
    change = a.output - a.baseline_output
    assert np.all(totals[:, 1] > 0.85 * change), totals / change[:, None]
    assert np.all(np.abs(totals[:, 0]) < 0.1 * change)
    np.testing.assert_allclose(totals.sum(-1), change, rtol=1e-10)


# --- sharing, coordinates, namespaces ----------------------------------------------------------------


def test_time_pass_is_shared_with_bands_and_trend(models):
    model = models.CallCounter(models.conv_net(channels=C, length=T, n_out=2, act="tanh", dtype=torch.float64))
    x = torch.randn(N, C, T, dtype=torch.float64)
    cdig.explain(model, x, ("time",), n_steps=10, target=0)
    rows_time = model.rows
    model.reset()
    res = cdig.explain(model, x, ("time", FrequencyBands(fs=60.0), TrendSeason(5)), n_steps=10, target=0)
    assert model.rows == rows_time
    for a in res.values():
        np.testing.assert_allclose(a.sum(), res["time"].sum(), atol=1e-12)


def test_coordinates_two_dimensional_input_and_settings(rng, models):
    w = rng.normal(size=T)
    x = rng.normal(size=(3, T))
    a = cdig.explain(models.Linear(w, 0.0).eval(), torch.as_tensor(x), TrendSeason(10), n_steps=1, fs=20.0)["trend"]
    assert a.values.shape == (3, 3, T) and a.dims == ("component", "time")
    np.testing.assert_array_equal(a.coords["component"], ["trend", "seasonal", "residual"])
    np.testing.assert_allclose(a.coords["time"], np.arange(T) / 20.0)
    assert a.units["time"] == "s" and "channel" not in a.coords
    np.testing.assert_allclose(a.extras["totals"], a.values.sum(-1).reshape(a.extras["totals"].shape))
    assert a.settings["domain"] == {"name": "trend", "class": "TrendSeason", "linear": True, "period": 10,
                                    "trend_window": 10, "edges": "reflect"}


def test_forward_inverse_in_every_namespace(rng):
    x = rng.normal(size=(2, 3, 40))
    d = TrendSeason(8).fit(x)
    ref = d.forward(x, np)
    import array_api_compat.torch as tnp

    zt = d.forward(torch.as_tensor(x), tnp)
    np.testing.assert_allclose(zt.numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(d.inverse(zt, tnp).numpy(), x, atol=1e-12)
    jnp = pytest.importorskip("jax.numpy")
    zj = d.forward(jnp.asarray(x, dtype=jnp.float32), jnp)
    np.testing.assert_allclose(np.asarray(zj), ref, atol=1e-4)
    np.testing.assert_allclose(np.asarray(d.inverse(zj, jnp)), x, atol=1e-4)


def test_forward_inverse_tensorflow_namespace(rng):
    tf = pytest.importorskip("tensorflow")
    from cdig.backends.tensorflow import TFNamespace

    x = rng.normal(size=(2, 3, 40))
    d = TrendSeason(8).fit(x)
    z = d.forward(tf.constant(x), TFNamespace)
    np.testing.assert_allclose(z.numpy(), d.forward(x, np), atol=1e-12)
    np.testing.assert_allclose(d.inverse(z, TFNamespace).numpy(), x, atol=1e-12)


def test_jax_model_channels_last(rng):
    """Through the JAX backend ((N, T, C) input): the domains agree with the time map."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    w = jnp.asarray(rng.normal(size=(40, 2)), dtype=jnp.float32)

    def model(x):
        return jnp.tanh((x * w).sum((1, 2)) / 4)

    x = rng.normal(size=(3, 40, 2)).astype(np.float32)
    res = cdig.explain(model, x, ["time", FrequencyBands(fs=80.0), TrendSeason(8)], n_steps=32, backend="jax")
    assert res["trend"].values.shape == (3, 2, 3, 40) and res["bands"].values.shape == (3, 2, 6)
    np.testing.assert_allclose(res["trend"].values.sum(2), res["time"].values, atol=1e-5)
    for a in res.values():
        assert np.all(a.relative_delta < 1e-3), a.relative_delta


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, err, match", [
    ({"period": 1}, cdig.CdigValueError, "period=1"),
    ({"period": 2.5}, cdig.CdigTypeError, "period must be an int"),
    ({"period": True}, cdig.CdigTypeError, "period must be an int"),
    ({"period": 4, "trend_window": 1}, cdig.CdigValueError, "trend_window=1"),
    ({"period": 4, "edges": "wrap"}, cdig.CdigValueError, "edges="),
])
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        TrendSeason(**kwargs)


def test_period_longer_than_half_the_signal(rng, models):
    x = torch.as_tensor(rng.normal(size=(2, 1, 30)))
    model = models.Linear(rng.normal(size=(1, 30)), 0.0).eval()
    with pytest.raises(cdig.CdigValueError, match=r"period=16 .*period <= 15"):
        cdig.explain(model, x, TrendSeason(16), n_steps=1)
    with pytest.raises(cdig.CdigValueError, match="period=40"):
        cdig.explain(model, x, TrendSeason(40), n_steps=1)
    with pytest.raises(cdig.CdigValueError, match="trend_window=31"):
        cdig.explain(model, x, TrendSeason(5, 31), n_steps=1)
    cdig.explain(model, x, TrendSeason(15), n_steps=1)  # exactly two periods is fine


def test_docs_page_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "domains" / "trend.md").read_text(), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_trend"}
    for code in blocks:
        exec(compile(code, "trend.md", "exec"), namespace)
