"""Trend / seasonal / residual: an independent decomposition, closed forms, the path, planted truth, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.domains.bands import FrequencyBands
from cdig.domains.trend import TrendSeason, decomposition_matrices

N, C, T = 4, 2, 60


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
    m_trend, m_seas, m_res = decomposition_matrices(36, 6, edges=edges)
    np.testing.assert_allclose(m_trend + m_seas + m_res, np.eye(36), atol=1e-13)
    np.testing.assert_allclose(m_trend.sum(1), 1.0, atol=1e-13)  # a constant is all trend
    line = np.arange(36.0)
    np.testing.assert_allclose((m_trend @ line)[3:-3], line[3:-3], atol=1e-12)
    d = TrendSeason(6, edges=edges).fit(np.zeros((1, 1, 36)))
    z = d.forward(np.stack([np.full(36, 2.5), line])[:, None], np)
    np.testing.assert_allclose(z[0, 0], [np.full(36, 2.5), np.zeros(36), np.zeros(36)], atol=1e-13)
    np.testing.assert_allclose(z[1, 0, 0, 3:-3], line[3:-3], atol=1e-12)


# --- the gathers against the reference matrices --------------------------------------------------------


def by_matrices(x: np.ndarray, period: int, window: int | None, edges: str) -> np.ndarray:
    """(…, 3, T): x times each of decomposition_matrices' (T, T) matrices, in float64."""
    return np.einsum("kts,...s->...kt", decomposition_matrices(x.shape[-1], period, window, edges), x)


CASES = [  # (T, period, trend_window): odd/even windows, window != period, T not a multiple of period
    (60, 12, None),
    (61, 7, None),
    (50, 5, 9),
    (40, 4, 6),
    (53, 6, 11),
    (47, 10, 4),
    (30, 3, 30),
    (31, 15, 2),
    (4, 2, None),
    (5, 2, 5),
    (7, 3, 2),
    (9, 4, 9),  # tiny T, window up to T
]


@pytest.mark.parametrize("edges", ["reflect", "shrink"])
@pytest.mark.parametrize("n_times, period, window", CASES)
def test_forward_equals_the_matrices(rng, n_times, period, window, edges):
    x = rng.normal(size=(3, 2, n_times))
    d = TrendSeason(period, window, edges=edges).fit(x)
    z = d.forward(x, np)
    assert z.shape == (3, 2, 3, n_times) and z.dtype == np.float64
    np.testing.assert_allclose(z, by_matrices(x, period, window, edges), rtol=0, atol=1e-13)
    # the residual is x - trend - seasonal, which is what M_residual = I - M_trend - M_seasonal applies
    np.testing.assert_array_equal(z[..., 2, :], x - z[..., 0, :] - z[..., 1, :])
    np.testing.assert_allclose(d.inverse(z, np), x, rtol=0, atol=1e-13)
    # (N, T) and a single sample: the same rows
    np.testing.assert_allclose(d.forward(x[:, 0], np), z[:, 0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("edges", ["reflect", "shrink"])
def test_float32_stays_float32_and_matches_to_its_round_off(rng, edges):
    x = rng.normal(size=(4, 3, 75))
    d = TrendSeason(8, 13, edges=edges).fit(x)
    z32 = d.forward(x.astype(np.float32), np)
    assert z32.dtype == np.float32
    np.testing.assert_allclose(z32, by_matrices(x, 8, 13, edges), rtol=0, atol=2e-6)
    import array_api_compat.torch as tnp

    zt = d.forward(torch.as_tensor(x, dtype=torch.float32), tnp)
    assert zt.dtype == torch.float32
    np.testing.assert_allclose(zt.numpy(), by_matrices(x, 8, 13, edges), rtol=0, atol=2e-6)


@pytest.mark.parametrize("edges", ["reflect", "shrink"])
@pytest.mark.parametrize("n_times, period, window", [(61, 7, None), (40, 4, 6), (9, 4, 9)])
def test_torch_gradient_is_the_transposed_matrices(rng, n_times, period, window, edges):
    """The vector–Jacobian product of forward is Σ_c M_cᵀ g_c (what cdig's pass differentiates)."""
    import array_api_compat.torch as tnp

    x = torch.as_tensor(rng.normal(size=(N, C, n_times)), dtype=torch.float64).requires_grad_(True)
    g = rng.normal(size=(N, C, 3, n_times))
    d = TrendSeason(period, window, edges=edges).fit(x.detach().numpy())
    (grad,) = torch.autograd.grad((d.forward(x, tnp) * torch.as_tensor(g)).sum(), x)
    expected = np.einsum("kts,...kt->...s", decomposition_matrices(n_times, period, window, edges), g)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=0, atol=1e-13)


def test_long_signal_exact_with_compact_state(rng):
    """T = 2**17 (the matrices would take 3 x 128 GiB): exact from the trend's taps and per-phase sums, O(T) state."""
    n_times, period = 2**17, 24
    x = rng.normal(size=(2, 2, n_times))
    d = TrendSeason(period).fit(x)
    taps = 2 * (period // 2) + 1
    fitted = sum(v.nbytes for v in vars(d).values() if isinstance(v, np.ndarray))
    assert fitted <= 2 * 8 * n_times * taps + 16 * n_times  # the (T, taps) index and weights, O(T) besides
    z = d.forward(x, np)  # speed is measured in benchmarks/bench_scale.py, never asserted here
    back = d.inverse(z, np)
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(z[:1, :1], reference_decomposition(x[:1, :1], period), rtol=0, atol=1e-12)


def test_unfitted_and_wrong_length_are_refused(rng):
    x = rng.normal(size=(2, 1, 40))
    with pytest.raises(cdig.CdigValueError, match="not fitted"):
        TrendSeason(8).forward(x, np)
    d = TrendSeason(8).fit(x)
    with pytest.raises(cdig.CdigValueError, match="fitted to 40 samples, got an array with 41"):
        d.forward(rng.normal(size=(2, 1, 41)), np)
    x41 = rng.normal(size=(2, 1, 41))
    d.fit(x41)  # refitting to another length
    np.testing.assert_allclose(d.forward(x41, np), by_matrices(x41, 8, None, "reflect"), rtol=0, atol=1e-13)


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
    a = cdig.explain(models.Linear(w, -0.2).eval(), torch.as_tensor(x), TrendSeason(12), baselines=x0, n_steps=3, method=method)[
        "trend"
    ]
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
    a = cdig.explain(model, x, TrendSeason(12, 7), target=1, n_steps=64, method="gausslegendre", baselines=0.3)["trend"]
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
        return corr**2


def test_seasonal_reader_is_explained_by_the_seasonal_component(rng):
    n_times, period = 96, 12
    t = np.arange(n_times)
    x = 2.0 + 0.08 * t + np.sin(2 * np.pi * t / period) + 0.2 * rng.normal(size=(6, 1, n_times))
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
    # as documented: the totals drop the channel axis with the map, (N, 3) for (N, T) input
    assert a.extras["totals"].shape == (3, 3)
    np.testing.assert_allclose(a.extras["totals"], a.values.sum(-1), rtol=1e-14)
    three = cdig.explain(models.Linear(w[None], 0.0).eval(), torch.as_tensor(x[:, None]), TrendSeason(10), n_steps=1)["trend"]
    assert three.extras["totals"].shape == (3, 1, 3)
    np.testing.assert_allclose(three.extras["totals"][:, 0], a.extras["totals"], rtol=1e-14)
    assert a.settings["domain"] == {
        "name": "trend",
        "class": "TrendSeason",
        "linear": True,
        "period": 10,
        "trend_window": 10,
        "edges": "reflect",
    }


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
    # jitted and differentiated: Σ_c M_cᵀ g_c
    import jax

    g = rng.normal(size=(2, 3, 3, 40)).astype(np.float32)
    grad = jax.jit(jax.grad(lambda a: (d.forward(a, jnp) * g).sum()))(jnp.asarray(x, dtype=jnp.float32))
    expected = np.einsum("kts,...kt->...s", decomposition_matrices(40, 8), g)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=0, atol=1e-5)


def test_forward_inverse_tensorflow_namespace(rng):
    tf = pytest.importorskip("tensorflow")
    from cdig.backends.tensorflow import TFNamespace

    x = rng.normal(size=(2, 3, 40))
    d = TrendSeason(8).fit(x)
    z = d.forward(tf.constant(x), TFNamespace)
    np.testing.assert_allclose(z.numpy(), d.forward(x, np), atol=1e-12)
    np.testing.assert_allclose(d.inverse(z, TFNamespace).numpy(), x, atol=1e-12)
    # traced with a batch size known only at run time, and differentiated: Σ_c M_cᵀ g_c
    g = rng.normal(size=(2, 3, 3, 40))
    d = TrendSeason(6, 9, edges="shrink").fit(x)

    @tf.function(input_signature=[tf.TensorSpec([None, 3, 40], tf.float64)])
    def vjp(xt):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            zt = d.forward(xt, TFNamespace)
        return zt, tape.gradient(zt, xt, output_gradients=tf.constant(g))

    zt, grad = vjp(tf.constant(x))
    m = decomposition_matrices(40, 6, 9, "shrink")
    np.testing.assert_allclose(zt.numpy(), by_matrices(x, 6, 9, "shrink"), rtol=0, atol=1e-13)
    np.testing.assert_allclose(grad.numpy(), np.einsum("kts,...kt->...s", m, g), rtol=0, atol=1e-13)


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


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"period": 1}, cdig.CdigValueError, "period=1"),
        ({"period": 2.5}, cdig.CdigTypeError, "period must be an int"),
        ({"period": True}, cdig.CdigTypeError, "period must be an int"),
        ({"period": 4, "trend_window": 1}, cdig.CdigValueError, "trend_window=1"),
        ({"period": 4, "edges": "wrap"}, cdig.CdigValueError, "edges="),
    ],
)
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
