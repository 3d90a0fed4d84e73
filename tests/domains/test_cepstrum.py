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


@pytest.mark.parametrize("eps, exc", [(0.0, ValueError), (-1e-3, ValueError), (float("inf"), ValueError),
                                      ("1e-8", TypeError), (True, TypeError)])
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
