"""The magnitude/phase domain: round trip, finite differences, a closed form, planted truth, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.domains.magphase import MagnitudePhase

N, C = 4, 2


def _fd_check(dom, z, n_checks, rng):
    """Autograd of <w, inverse(z)> against central differences, in float64."""
    zt = torch.as_tensor(z).clone().requires_grad_(True)
    import array_api_compat.torch as xt

    w = torch.as_tensor(rng.normal(size=(z.shape[0], z.shape[1], dom.n_times_)))
    (w * dom.inverse(zt, xt)).sum().backward()
    grad = zt.grad.numpy()

    def g(zz):
        return float((w.numpy() * dom.inverse(zz, np)).sum())

    flat = rng.choice(z.size, size=n_checks, replace=False)
    h = 1e-6
    for i in flat:
        e = np.zeros(z.size)
        e[i] = h
        e = e.reshape(z.shape)
        fd = (g(z + e) - g(z - e)) / (2 * h)
        assert abs(fd - grad.reshape(-1)[i]) < 1e-7 * (1 + abs(fd)), (i, fd, grad.reshape(-1)[i])


# --- the transform ------------------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [16, 17])
@pytest.mark.parametrize("convention", ["input", "own"])
def test_inverse_of_forward_is_identity(rng, n_times, convention):
    import array_api_compat.torch as xt

    x = rng.normal(size=(N, C, n_times))
    x0 = rng.normal(size=(N, C, n_times))
    d = MagnitudePhase(convention).fit(x)
    for sig in (x, x0, np.zeros_like(x)):
        z = d.forward(sig, np)
        assert z.shape == (N, C, 2, n_times // 2 + 1)
        np.testing.assert_allclose(d.inverse(z, np), sig, atol=1e-12)
        zt = d.forward(torch.as_tensor(sig), xt)
        np.testing.assert_allclose(d.inverse(zt, xt).numpy(), sig, atol=1e-12)
    z = d.forward(x, np)
    np.testing.assert_allclose(z[:, :, 0], np.abs(np.fft.rfft(x)), atol=1e-12)
    np.testing.assert_allclose(z[:, :, 1], np.angle(np.fft.rfft(x)), atol=1e-12)


def test_baseline_phase_within_pi_of_the_input(rng):
    x, x0 = rng.normal(size=(N, C, 32)), rng.normal(size=(N, C, 32))
    d = MagnitudePhase().fit(x)
    dphi = d.forward(x, np)[:, :, 1] - d.forward(x0, np)[:, :, 1]
    assert np.all(np.abs(dphi) <= np.pi + 1e-12)
    # the own convention wraps each phase separately: differences up to 2π
    own = MagnitudePhase("own").fit(x)
    assert np.abs(own.forward(x, np)[:, :, 1] - own.forward(x0, np)[:, :, 1]).max() > np.pi
    # a zero baseline takes the input's phase
    np.testing.assert_allclose(d.forward(0 * x, np)[:, :, 1], d.forward(x, np)[:, :, 1], atol=1e-12)
    np.testing.assert_allclose(own.forward(0 * x, np)[:, :, 1], 0.0)


@pytest.mark.parametrize("n_times", [16, 17])
def test_inverse_gradient_matches_finite_differences(rng, n_times):
    x = rng.normal(size=(2, C, n_times))
    d = MagnitudePhase().fit(x)
    _fd_check(d, d.forward(x, np), 24, rng)


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [32, 33])
@pytest.mark.parametrize("beta", [0.0, 0.4])
def test_linear_model_magnitude_only_path_closed_form(rng, models, closed, n_times, beta):
    """Baseline β·x with the input's phase: the path scales magnitudes only, x(α) = (β + α(1−β))·x.

    With g = <w, irfft(m e^{iφ})> + b and φ fixed, ∂g/∂m_k = Re[e^{iφ_k} conj(G_k)] is constant, so the
    magnitude scores are A_k = (1−β)|X_k| Re[e^{iφ_k} conj(G_k)] = (1−β) Re[X_k conj(G_k)], the Fourier
    map, and the phase scores are exactly zero (Δφ = 0).
    """
    w = rng.normal(size=(C, n_times))
    x = rng.normal(size=(N, C, n_times))
    model = models.Linear(w, 0.3).eval()
    a = cdig.explain(model, torch.as_tensor(x), MagnitudePhase(), baselines=beta * x, n_steps=3)["magphase"]
    assert a.values.shape == (N, C, 2, n_times // 2 + 1)
    expected = (1 - beta) * np.real(np.fft.rfft(x) * np.conj(closed.fourier_gradient(w)))
    np.testing.assert_allclose(a.values[:, :, 0], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.values[:, :, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(a.extras["totals"][:, :, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(a.extras["totals"].sum(-1).sum(-1), (1 - beta) * (w * x).sum((1, 2)), atol=1e-11)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)


# --- completeness ------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["input", "own"])
@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_completeness_smooth_model(models, convention, act):
    model = models.conv_net(channels=C, length=48, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, 48, dtype=torch.float64)
    x0 = 0.3 * torch.randn(N, C, 48, dtype=torch.float64)
    a = cdig.explain(model, x, MagnitudePhase(convention), target=1, baselines=x0, n_steps=64)["magphase"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    with torch.no_grad():
        np.testing.assert_allclose(a.baseline_output, model(x0)[:, 1].numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.extras["totals"].sum((1, 2)), a.sum(), rtol=1e-12)


def test_zero_baseline_with_input_phase_is_the_time_path(models):
    model = models.conv_net(channels=C, length=40, n_out=2, act="softplus", dtype=torch.float64)
    x = torch.randn(N, C, 40, dtype=torch.float64)
    res = cdig.explain(model, x, ["time", MagnitudePhase()], target=0, n_steps=16)
    a, t = res["magphase"], res["time"]
    np.testing.assert_allclose(a.values[:, :, 1], 0.0, atol=1e-15)  # Δφ is round-off of float64 phases
    np.testing.assert_allclose(a.sum(), t.sum(), rtol=1e-10)
    np.testing.assert_allclose(a.delta, t.delta, atol=1e-10)


def test_coefficient_baseline(rng, models):
    model = models.conv_net(channels=C, length=32, n_out=2, act="gelu", dtype=torch.float64)
    x = torch.randn(N, C, 32, dtype=torch.float64)
    f = 17
    z0 = np.stack([np.full((N, C, f), 0.5), rng.uniform(-np.pi, np.pi, size=(N, C, f))], axis=2)
    a = cdig.explain(model, x, MagnitudePhase(), baselines={"magphase": z0}, target=1, n_steps=64)["magphase"]
    x0 = np.fft.irfft(0.5 * np.exp(1j * z0[:, :, 1]), n=32)
    with torch.no_grad():
        np.testing.assert_allclose(a.baseline_output, model(torch.as_tensor(x0))[:, 1].numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.baseline_coefficients, z0)
    assert np.all(a.relative_delta < 1e-3)


# --- planted truth -----------------------------------------------------------------------------


class PhaseOnly(torch.nn.Module):
    """Timing only: Σ_k Re[u_k conj(t_k)] with u = X/|X| over bins 1 .. F-2 — blind to every magnitude.

    DC and Nyquist are left out: there the inverse keeps only m·cos φ, whose sign (u = ±1) jumps when
    the path rotates the phase through ±π/2.
    """

    def __init__(self, template: np.ndarray) -> None:
        super().__init__()
        spec = np.fft.rfft(template)
        self.t_re = torch.as_tensor(np.real(spec) / np.abs(spec))
        self.t_im = torch.as_tensor(np.imag(spec) / np.abs(spec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(x, dim=-1)
        mag = spec.abs()
        inner = (spec.real * self.t_re + spec.imag * self.t_im) / mag
        return inner[..., 1:-1].sum(dim=(1, 2))


@pytest.mark.parametrize("convention", ["input", "own"])
def test_amplitude_only_model_scores_magnitude(models, convention):
    model = models.FourierBandEnergy(3, 9).eval()
    x = torch.randn(6, 1, 64, dtype=torch.float64)
    x0 = 0.3 * torch.randn(6, 1, 64, dtype=torch.float64)
    for base in (None, x0):
        a = cdig.explain(model, x, MagnitudePhase(convention), baselines=base, n_steps=16)["magphase"]
        tot = a.extras["totals"][:, 0]
        change = a.output - a.baseline_output
        np.testing.assert_allclose(tot[:, 1], 0.0, atol=1e-9 * np.abs(change).max())
        np.testing.assert_allclose(tot[:, 0], change, rtol=1e-8)
        outside = np.ones(33, bool)
        outside[3:9] = False
        np.testing.assert_allclose(a.values[:, 0, 0, outside], 0.0, atol=1e-12)


def test_timing_only_model_scores_phase(rng):
    template = rng.normal(size=(2, 32))
    model = PhaseOnly(template).eval()
    x = torch.as_tensor(rng.normal(size=(N, 2, 32)))
    x0 = torch.as_tensor(rng.normal(size=(N, 2, 32)))  # nonzero magnitudes all along the path
    a = cdig.explain(model, x, MagnitudePhase(), baselines=x0, n_steps=64)["magphase"]
    tot = a.extras["totals"]
    change = a.output - a.baseline_output
    assert np.all(np.abs(change) > 1.0)
    np.testing.assert_allclose(tot[:, :, 0], 0.0, atol=1e-9)
    np.testing.assert_allclose(tot[:, :, 1].sum(1), change, rtol=1e-3)


# --- coordinates, layouts, errors ----------------------------------------------------------------


@pytest.mark.parametrize("fs", [None, 8.0])
def test_coords_dims_and_2d_input(models, rng, fs):
    model = models.Linear(rng.normal(size=(1, 16)), 0.0).eval()
    x = torch.as_tensor(rng.normal(size=(3, 1, 16)))
    a = cdig.explain(model, x, MagnitudePhase(), n_steps=2, fs=fs)["magphase"]
    assert a.dims == ("channel", "component", "frequency")
    assert a.coords["component"].tolist() == ["magnitude", "phase"]
    step = 1 / 16 if fs is None else fs / 16
    np.testing.assert_allclose(a.coords["frequency"], np.arange(9) * step)
    assert a.units["frequency"] == ("cycles/sample" if fs is None else "Hz")
    assert a.extras["totals"].shape == (3, 1, 2)
    assert a.settings["domain"] == {"name": "magphase", "class": "MagnitudePhase", "linear": False,
                                    "baseline_phase": "input"}
    two = cdig.explain(models.Linear(rng.normal(size=16), 0.0).eval(), x[:, 0], MagnitudePhase(), n_steps=2)
    assert two["magphase"].values.shape == (3, 2, 9) and two["magphase"].dims == ("component", "frequency")


def test_bad_inputs(models, rng):
    with pytest.raises(cdig.CdigError, match="baseline_phase"):
        MagnitudePhase("zero")
    model = models.Linear(rng.normal(size=(C, 16)), 0.0).eval()
    x = torch.as_tensor(rng.normal(size=(N, C, 16)))
    with pytest.raises(TypeError, match="complex"):
        cdig.explain(model, x, MagnitudePhase(), baselines={"magphase": np.ones((N, C, 9), complex)})
    with pytest.raises(ValueError, match="does not broadcast"):
        cdig.explain(model, x, MagnitudePhase(), baselines={"magphase": np.ones((N, C, 9))})


def test_jax_function_model():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    w = jnp.asarray(np.random.default_rng(3).normal(size=(C, 32)), dtype=jnp.float32)

    def model(x):  # (N, C, T) -> (N,)
        return jnp.tanh(jnp.sum(w * x, axis=(1, 2)) / 4) + jnp.sum(jnp.sin(x) ** 2, axis=(1, 2)) / 32

    x = jnp.asarray(np.random.default_rng(4).normal(size=(N, C, 32)), dtype=jnp.float32)
    x0 = 0.3 * jnp.asarray(np.random.default_rng(5).normal(size=(N, C, 32)), dtype=jnp.float32)
    a = cdig.explain(model, x, MagnitudePhase(), baselines=x0, time_axis=-1, n_steps=32)["magphase"]
    assert a.values.shape == (N, C, 2, 17)
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
