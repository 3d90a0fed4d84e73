"""The complex cepstrum domain: round trip, finite differences, completeness, planted truth, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.domains.cepstrum import ComplexCepstrum

N, C = 4, 2


def _signals(rng, n_times):
    """Generic signals whose DC has either sign (offsets) and whose delays differ."""
    return rng.normal(size=(N, C, n_times)) + rng.normal(size=(N, C, 1))


# --- the transform ------------------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [2, 7, 32, 33, 128])
def test_inverse_of_forward_is_identity(rng, n_times):
    import array_api_compat.torch as xt

    x = _signals(rng, n_times)
    d = ComplexCepstrum().fit(x)
    c = d.forward(x, np)
    assert c.shape == x.shape and not np.iscomplexobj(c)
    np.testing.assert_allclose(d.inverse(c, np), x, atol=1e-12)
    ct = d.forward(torch.as_tensor(x), xt)
    np.testing.assert_allclose(ct.numpy(), c, atol=1e-12)
    np.testing.assert_allclose(d.inverse(ct, xt).numpy(), x, atol=1e-12)
    # the zero signal: log(eps) at quefrency 0, and back to zero
    c0 = d.forward(np.zeros_like(x), np)
    np.testing.assert_allclose(c0[..., 0], np.log(d.eps), rtol=1e-14)
    np.testing.assert_allclose(c0[..., 1:], 0.0, atol=1e-14)
    np.testing.assert_allclose(d.inverse(c0, np), 0.0, atol=1e-20)


def test_matches_the_textbook_complex_cepstrum_of_a_positive_undelayed_signal(rng):
    """A minimum-phase-like signal (DC > 0, no net delay): c = irfft(log|X| + i·unwrap(arg X))."""
    x = np.zeros((1, 1, 64))
    x[..., :3] = [1.0, 0.5, 0.2]  # zeros inside the unit circle: no linear phase, DC > 0
    d = ComplexCepstrum(eps=1e-300).fit(x)
    spec = np.fft.rfft(x)
    ref = np.fft.irfft(np.log(np.abs(spec)) + 1j * np.unwrap(np.angle(spec)), n=64)
    np.testing.assert_allclose(d.forward(x, np), ref, atol=1e-12)
    assert d.delay_.item() == 0
    # minimum phase: the cepstrum is causal (zero at negative quefrencies, up to aliasing)
    assert np.abs(ref[0, 0, 40:]).max() < 1e-6


@pytest.mark.parametrize("n_times", [16, 17])
def test_inverse_gradient_matches_finite_differences(rng, n_times):
    import array_api_compat.torch as xt

    x = _signals(rng, n_times)[:2]
    d = ComplexCepstrum().fit(x)
    c = d.forward(x, np)
    w = rng.normal(size=x.shape)
    ct = torch.as_tensor(c).clone().requires_grad_(True)
    (torch.as_tensor(w) * d.inverse(ct, xt)).sum().backward()

    def g(cc):
        return float((w * d.inverse(cc, np)).sum())

    h = 1e-6
    for i in rng.choice(c.size, size=24, replace=False):
        e = np.zeros(c.size)
        e[i] = h
        e = e.reshape(c.shape)
        fd = (g(c + e) - g(c - e)) / (2 * h)
        assert abs(fd - ct.grad.numpy().reshape(-1)[i]) < 1e-6 * (1 + abs(fd))


# --- completeness and baselines -------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [40, 41])
@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_completeness_constant_magnitude_baseline(models, n_times, act):
    """c0 = log(a)·δ: a flat spectrum of magnitude a − eps with the input's sign and delay."""
    model = models.conv_net(channels=C, length=n_times, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, n_times, dtype=torch.float64)
    c0 = np.zeros((N, C, n_times))
    c0[..., 0] = np.log(0.1)
    a = cdig.explain(model, x, ComplexCepstrum(), baselines={"cepstrum": c0}, target=2, n_steps=64)["cepstrum"]
    assert a.values.shape == (N, C, n_times) and a.dims == ("channel", "quefrency")
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    with torch.no_grad():
        np.testing.assert_allclose(a.output, model(x)[:, 2].numpy(), rtol=1e-10)


def test_zero_baseline_completeness(models):
    model = models.conv_net(channels=C, length=33, n_out=2, act="tanh", dtype=torch.float64)
    x = torch.randn(N, C, 33, dtype=torch.float64)
    a = cdig.explain(model, x, ComplexCepstrum(), target=0, n_steps=64)["cepstrum"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    with torch.no_grad():
        np.testing.assert_allclose(a.baseline_output, model(torch.zeros_like(x))[:, 0].numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.baseline_coefficients[..., 0], np.log(1e-8), rtol=1e-12)


def test_random_baseline_completeness_is_relative_to_its_reconstruction(rng, models):
    model = models.conv_net(channels=C, length=32, n_out=2, act="gelu", dtype=torch.float64)
    x = torch.as_tensor(_signals(rng, 32))
    x0 = 0.5 * _signals(rng, 32)
    a = cdig.explain(model, x, ComplexCepstrum(), baselines=x0, target=0, n_steps=64)["cepstrum"]
    d = ComplexCepstrum().fit(x.numpy())
    back = d.inverse(d.forward(x0, np), np)
    with torch.no_grad():
        np.testing.assert_allclose(a.baseline_output, model(torch.as_tensor(back))[:, 0].numpy(), rtol=1e-10)
    assert np.all(a.relative_delta < 1e-3), a.relative_delta


# --- planted truth --------------------------------------------------------------------------------


def test_a_gain_change_is_quefrency_zero(models):
    """Baseline β·x: log|βX| = log β + log|X| (eps aside), so only c_0 moves and takes the whole score."""
    model = models.conv_net(channels=C, length=48, n_out=2, act="softplus", dtype=torch.float64)
    x = torch.randn(N, C, 48, dtype=torch.float64)
    a = cdig.explain(model, x, ComplexCepstrum(eps=1e-12), baselines=0.25 * x, target=1, n_steps=32)["cepstrum"]
    change = a.output - a.baseline_output
    np.testing.assert_allclose(a.values[..., 0].sum(1), change, rtol=1e-6)
    assert np.abs(a.values[..., 1:]).max() < 1e-8 * np.abs(change).max()
    np.testing.assert_allclose(a.baseline_coefficients[..., 0] - a.coefficients[..., 0], np.log(0.25), atol=1e-9)


# --- zero-magnitude bins and ties -----------------------------------------------------------------


def _standardised(rng, n, c, t):
    """Per-sample standardised signals: zero mean, so the DC bin is round-off (~1e-16) of either sign."""
    x = 2.0 * rng.normal(size=(n, c, t)) + 0.7
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)


@pytest.mark.parametrize("n_times", [64, 65])
def test_a_zero_dc_has_no_sign_and_a_constant_finite_log(rng, n_times):
    """θ, the delays and the coefficients of a zero-mean input do not move when a constant ±1e-12 turns
    its round-off DC (~1e-16) into ±6.4e-11: a zero bin has log magnitude log(eps) and phase 0."""
    x = _standardised(rng, N, C, n_times)
    d = ComplexCepstrum().fit(x)
    c = d.forward(x, np)
    assert np.all(np.isfinite(c))
    np.testing.assert_allclose(np.fft.rfft(c)[..., 0].real, np.log(d.eps), rtol=1e-13)
    np.testing.assert_allclose(d.inverse(c, np), x, atol=1e-14)
    for shift in (1e-13, -1e-13, 1e-12, -1e-12):
        ds = ComplexCepstrum().fit(x + shift)
        np.testing.assert_array_equal(ds.theta_, d.theta_)
        np.testing.assert_array_equal(ds.delay_, d.delay_)
        np.testing.assert_allclose(ds.forward(x + shift, np), c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("baseline", ["flat", "zero", "constant"])
def test_map_is_continuous_at_a_zero_dc(models, rng, baseline):
    """A ±1e-12 shift of a zero-mean standardised input moves the map by at most 1e-6 of its largest
    score (it moved by 26% to 110% while the sign of the DC's round-off chose θ)."""
    x = _standardised(rng, N, C, 40)
    model = models.conv_net(channels=C, length=40, n_out=2, act="gelu", dtype=torch.float64)
    c0 = np.zeros((1, 1, 40))
    c0[..., 0] = np.log(0.1)
    base = {"flat": {"cepstrum": c0}, "zero": None, "constant": np.full(x.shape, 0.5)}[baseline]
    ref = cdig.explain(model, torch.as_tensor(x), ComplexCepstrum(), baselines=base, target=0, n_steps=32)["cepstrum"]
    for shift in (1e-12, -1e-12):
        a = cdig.explain(model, torch.as_tensor(x + shift), ComplexCepstrum(), baselines=base, target=0, n_steps=32)["cepstrum"]
        assert np.abs(a.values - ref.values).max() <= 1e-6 * np.abs(ref.values).max()


def test_antiphase_neighbours_unwrap_upwards(rng):
    """An impulse at T/2 has X_k = (−1)^k: steps of exactly ±π between all neighbours. They unwrap to
    +πk (a delay of T/2, so Y is flat and c = log(1 + eps)·δ), also after a perturbation of 1e-13."""
    x = np.zeros((3, 1, 64))
    x[..., 32] = 1.0
    x[1] += 1e-13 * rng.normal(size=64)
    x[2] += 1e-13 * rng.normal(size=64)
    d = ComplexCepstrum().fit(x)
    assert np.all(d.delay_ == 32)
    expected = np.zeros((3, 1, 64))
    expected[..., 0] = np.log(1 + d.eps)
    np.testing.assert_allclose(d.forward(x, np), expected, atol=1e-11)
    np.testing.assert_allclose(d.inverse(d.forward(x, np), np), x, atol=1e-14)


def test_zero_tol_follows_the_precision_and_can_be_set(rng):
    x = _standardised(rng, N, C, 32)
    x = x + 1e-8 * np.abs(x).mean(-1, keepdims=True)  # DC = 1e-8 · Σ|x|, negative nowhere
    x[0] -= 2e-8 * np.abs(x[0]).mean(-1, keepdims=True)  # ... and negative in sample 0
    assert np.all(ComplexCepstrum().fit(x).theta_[0, :, 0] == np.pi)  # float64: not zero, a sign
    assert np.all(ComplexCepstrum().fit(x.astype(np.float32)).theta_[..., 0] == 0.0)  # float32: zero, no sign
    assert np.all(ComplexCepstrum(zero_tol=1e-7).fit(x).theta_[..., 0] == 0.0)
    d = ComplexCepstrum(eps=1e-9, zero_tol=1e-7)
    assert d.describe()["zero_tol"] == 1e-7 and repr(d) == "ComplexCepstrum(eps=1e-09, zero_tol=1e-07)"
    with pytest.raises(ValueError, match="zero_tol"):
        ComplexCepstrum(zero_tol=-1.0)
    with pytest.raises(TypeError, match="zero_tol"):
        ComplexCepstrum(zero_tol="0")


# --- coordinates and errors ------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [None, 10.0])
def test_coords(models, rng, fs):
    model = models.Linear(rng.normal(size=(C, 20)), 0.0).eval()
    x = torch.as_tensor(_signals(rng, 20))
    c0 = np.zeros((1, 1, 20))
    a = cdig.explain(model, x, ComplexCepstrum(), baselines={"cepstrum": c0}, n_steps=8, fs=fs)["cepstrum"]
    q = a.coords["quefrency"]
    np.testing.assert_allclose(q, np.arange(20) / (1.0 if fs is None else fs))
    assert a.units["quefrency"] == ("sample" if fs is None else "s")
    assert a.settings["domain"]["eps"] == 1e-8 and a.settings["domain"]["linear"] is False
    assert a.settings["domain"]["zero_tol"] is None


@pytest.mark.parametrize(
    "eps, exc", [(0.0, ValueError), (-1e-3, ValueError), (float("inf"), ValueError), ("1e-8", TypeError), (True, TypeError)]
)
def test_bad_eps(eps, exc):
    with pytest.raises(exc, match="eps"):
        ComplexCepstrum(eps=eps)
    with pytest.raises(cdig.CdigError):
        ComplexCepstrum(eps=eps)


def test_bad_baselines_and_unfitted(models, rng):
    model = models.Linear(rng.normal(size=(C, 16)), 0.0).eval()
    x = torch.as_tensor(_signals(rng, 16))
    with pytest.raises(TypeError, match="complex"):
        cdig.explain(model, x, ComplexCepstrum(), baselines={"cepstrum": np.ones((N, C, 16), complex)})
    with pytest.raises(ValueError, match="does not broadcast"):
        cdig.explain(model, x, ComplexCepstrum(), baselines={"cepstrum": np.ones((N, C, 9))})
    with pytest.raises(cdig.CdigError, match="not fitted"):
        ComplexCepstrum().forward(np.zeros((1, 1, 8)), np)
    with pytest.raises(cdig.CdigError, match="fitted on a batch"):
        ComplexCepstrum().fit(np.ones((2, 1, 8))).forward(np.zeros((1, 1, 8)), np)


def test_jax_function_model():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    w = jnp.asarray(np.random.default_rng(3).normal(size=(C, 32)), dtype=jnp.float32)

    def model(x):  # (N, C, T) -> (N,)
        return jnp.tanh(jnp.sum(w * x, axis=(1, 2)) / 4) + jnp.sum(jnp.sin(x) ** 2, axis=(1, 2)) / 32

    x = jnp.asarray(np.random.default_rng(4).normal(size=(N, C, 32)), dtype=jnp.float32)
    c0 = np.zeros((1, 1, 32), dtype=np.float32)
    c0[..., 0] = np.log(0.1)
    a = cdig.explain(model, x, ComplexCepstrum(), baselines={"cepstrum": c0}, time_axis=-1, n_steps=32)["cepstrum"]
    assert a.values.shape == (N, C, 32)
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
