"""The Fourier domain: closed forms, finite differences, a plain torch reference, planted truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES, get_rule

N, C = 4, 2


class FourierPath(cdig.Fourier):
    """The same transform, declared nonlinear: integrated along its own path through irfft."""

    name = "fourier_path"
    linear = False


# --- the closed form itself, checked before anything uses it ----------------------------------


@pytest.mark.parametrize("n_times", [16, 17])
def test_closed_form_gradient_matches_finite_differences(rng, closed, n_times):
    """G_k = (c_k/T) rfft(w)_k is ∂g/∂Re z_k + i ∂g/∂Im z_k of g(z) = <w, irfft(z)> (numpy, float64)."""
    w = rng.normal(size=n_times)
    z = np.fft.rfft(rng.normal(size=n_times))

    def g(zz):
        return float(np.dot(w, np.fft.irfft(zz, n=n_times)))

    eps = 1e-6
    fd = np.zeros(len(z), dtype=complex)
    for k in range(len(z)):
        e = np.zeros(len(z), dtype=complex)
        e[k] = 1.0
        d_re = (g(z + eps * e) - g(z - eps * e)) / (2 * eps)
        d_im = (g(z + 1j * eps * e) - g(z - 1j * eps * e)) / (2 * eps)
        fd[k] = d_re + 1j * d_im
    np.testing.assert_allclose(closed.fourier_gradient(w), fd, rtol=0, atol=1e-9)
    # DC (and Nyquist for even T) have no imaginary part the inverse can see
    assert abs(fd[0].imag) < 1e-9
    if n_times % 2 == 0:
        assert abs(fd[-1].imag) < 1e-9


# --- linear models: exact -----------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("n_times", [32, 33])
def test_linear_model_exact_for_every_rule(rng, models, closed, method, n_times):
    w = rng.normal(size=(C, n_times))
    x, x0 = rng.normal(size=(N, C, n_times)), rng.normal(size=(N, C, n_times))
    model = models.Linear(w, -0.4).eval()
    a = cdig.explain(model, torch.as_tensor(x), "fourier", baselines=x0, n_steps=3, method=method)["fourier"]
    expected = closed.fourier_linear_map(x, x0, w)
    assert a.values.shape == (N, C, n_times // 2 + 1)
    assert a.dims == ("channel", "frequency")
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-12)
    # Parseval: the bins add up to the time-domain change
    np.testing.assert_allclose(expected.sum((1, 2)), (w * (x - x0)).sum((1, 2)), atol=1e-12)
    np.testing.assert_allclose(a.coefficients, np.fft.rfft(x), atol=1e-12)
    np.testing.assert_allclose(a.baseline_coefficients, np.fft.rfft(x0), atol=1e-12)


@pytest.mark.parametrize("n_times", [32, 33])
def test_multiply_by_inputs_false_is_the_complex_gradient(rng, models, closed, n_times):
    w = rng.normal(size=(C, n_times))
    x = rng.normal(size=(N, C, n_times))
    model = models.Linear(w, 0.0).eval()
    a = cdig.explain(model, torch.as_tensor(x), "fourier", n_steps=2, multiply_by_inputs=False)["fourier"]
    assert np.iscomplexobj(a.values)
    np.testing.assert_allclose(a.values, np.broadcast_to(closed.fourier_gradient(w), a.values.shape), rtol=0, atol=1e-14)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-12)  # the attributions' delta


def test_crossdomainig_fourier_returns_complex_gradient_and_delta(rng, models, closed):
    w = rng.normal(size=(C, 32))
    x = torch.as_tensor(rng.normal(size=(N, C, 32)))
    ig = cdig.CrossDomainIG(models.Linear(w, 0.0).eval(), "fourier", multiply_by_inputs=False)
    g, delta = ig.attribute(x, n_steps=2, return_convergence_delta=True)
    assert isinstance(g, torch.Tensor) and g.is_complex()
    np.testing.assert_allclose(g.numpy(), np.broadcast_to(closed.fourier_gradient(w), g.shape), atol=1e-14)
    assert isinstance(delta, torch.Tensor) and delta.shape == (N,)
    np.testing.assert_allclose(delta.numpy(), 0.0, atol=1e-12)


# --- coefficient baselines ----------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [32, 33])
def test_coefficient_baseline_linear_closed_form(rng, models, closed, n_times):
    w = rng.normal(size=(C, n_times))
    x = rng.normal(size=(N, C, n_times))
    f = n_times // 2 + 1
    # arbitrary complex coefficients, including (invisible) imaginary parts at DC / Nyquist
    z0 = rng.normal(size=(N, C, f)) + 1j * rng.normal(size=(N, C, f))
    model = models.Linear(w, 0.25).eval()
    a = cdig.explain(model, torch.as_tensor(x), ["time", "fourier"], baselines={"fourier": z0}, n_steps=2)
    x0 = np.fft.irfft(z0, n=n_times)
    fa = a["fourier"]
    np.testing.assert_allclose(fa.baseline_output, (w * x0).sum((1, 2)) + 0.25, atol=1e-12)
    np.testing.assert_allclose(fa.sum(), (w * (x - x0)).sum((1, 2)), atol=1e-12)
    dz = np.fft.rfft(x) - z0
    np.testing.assert_allclose(fa.values, np.real(dz * np.conj(closed.fourier_gradient(w))), atol=1e-13)
    np.testing.assert_allclose(fa.baseline_coefficients, z0)
    # the time domain keeps its own (zero) baseline
    np.testing.assert_allclose(a["time"].values, w * x, atol=1e-13)
    np.testing.assert_allclose(a["time"].baseline_output, 0.25, atol=1e-13)


def test_coefficient_baseline_nonlinear_completeness(models):
    model = models.conv_net(channels=C, length=32, n_out=2, act="gelu", dtype=torch.float64)
    x = torch.randn(N, C, 32, dtype=torch.float64)
    z0 = torch.fft.rfft(x)
    z0[..., 4:] = 0  # a low-pass version of the input as the baseline
    a = cdig.explain(model, x, "fourier", baselines={"fourier": z0}, target=1, n_steps=64)["fourier"]
    with torch.no_grad():
        f1 = model(x)[:, 1].numpy()
        f0 = model(torch.fft.irfft(z0, n=32))[:, 1].numpy()
    np.testing.assert_allclose(a.output, f1, rtol=1e-12)
    np.testing.assert_allclose(a.baseline_output, f0, rtol=1e-12)
    assert np.all(np.abs(a.sum() - (f1 - f0)) < 1e-3 * np.abs(f1 - f0))
    # bins where input and baseline agree get exactly nothing
    np.testing.assert_array_equal(a.values[..., :4], 0.0)


# --- nonlinear models: an independent plain-torch path integral ---------------------------------


def _reference_fourier_ig(model, x, x0, target, n_steps):
    """Σ_j w_j ∇ g(z0 + α_j Δz) with separate real leaves for Re z and Im z, then the attributions."""
    n_times = x.shape[-1]
    z, z0 = torch.fft.rfft(x), torch.fft.rfft(x0)
    dz = z - z0
    alphas, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = 0.5 * (alphas + 1), 0.5 * weights
    g_re = torch.zeros_like(z.real)
    g_im = torch.zeros_like(z.real)
    for a, wgt in zip(alphas, weights):
        zr = (z0.real + a * dz.real).clone().requires_grad_(True)
        zi = (z0.imag + a * dz.imag).clone().requires_grad_(True)
        y = model(torch.fft.irfft(torch.complex(zr, zi), n=n_times))[:, target].sum()
        gr, gi = torch.autograd.grad(y, (zr, zi))
        g_re += wgt * gr
        g_im += wgt * gi
    return (dz.real * g_re + dz.imag * g_im).detach().numpy()


@pytest.mark.parametrize("n_times", [32, 33])
def test_nonlinear_model_matches_plain_torch_reference(models, n_times):
    model = models.conv_net(channels=C, length=n_times, n_out=3, act="tanh", dtype=torch.float64)
    x = torch.randn(N, C, n_times, dtype=torch.float64)
    x0 = 0.3 * torch.randn(N, C, n_times, dtype=torch.float64)
    ref = _reference_fourier_ig(model, x, x0, target=2, n_steps=12)
    for dom in ("fourier", FourierPath()):
        a = cdig.explain(model, x, [dom], target=2, baselines=x0, n_steps=12)
        values = next(iter(a.values())).values
        np.testing.assert_allclose(values, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("method, n_steps", [("gausslegendre", 16), ("riemann_trapezoid", 9), ("riemann_middle", 5)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_shared_pass_equals_own_path_integral(models, method, n_steps, dtype):
    """The linear shortcut (one time-domain pass + a VJP of irfft) equals integrating in z itself."""
    model = models.conv_net(channels=C, length=40, n_out=3, act="softplus", dtype=dtype)
    x = torch.randn(N, C, 40, dtype=dtype)
    x0 = 0.5 * torch.randn(1, C, 1, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        a = cdig.explain(
            model,
            x,
            ["fourier", FourierPath()],
            target=[0, 1, 2, 0],
            baselines=x0,
            n_steps=n_steps,
            method=method,
            internal_batch_size=7,
        )
    shared, own = a["fourier"], a["fourier_path"]
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    scale = np.abs(shared.values).max()
    np.testing.assert_allclose(shared.values, own.values, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(shared.delta, own.delta, rtol=0, atol=tol * max(1.0, scale))
    np.testing.assert_array_equal(shared.n_steps, own.n_steps)
    assert own.settings["domain"]["linear"] is False


# --- completeness ------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
@pytest.mark.parametrize("n_steps", [64, "auto"])
def test_completeness_smooth_model(models, act, n_steps):
    model = models.conv_net(channels=C, length=48, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, 48, dtype=torch.float64)
    for dom in ("fourier", FourierPath()):
        a = next(iter(cdig.explain(model, x, [dom], target=1, n_steps=n_steps).values()))
        assert np.all(a.relative_delta < 1e-3), (dom, a.relative_delta)
        np.testing.assert_allclose(a.sum() - (a.output - a.baseline_output), a.delta, atol=1e-12)


# --- planted truth ------------------------------------------------------------------------------


def test_fir_band_pass_energy_peaks_in_its_pass_band(models):
    model = models.BandEnergy(band=(0.15, 0.25)).eval()
    x = torch.randn(8, 1, 128)  # broadband: white noise
    a = cdig.explain(model, x, "fourier", n_steps=16)["fourier"]
    freqs = a.coords["frequency"]
    peaks = freqs[np.argmax(a.values[:, 0], axis=-1)]
    assert np.all((peaks >= 0.15) & (peaks <= 0.25)), peaks
    inside = (freqs >= 0.13) & (freqs <= 0.27)
    share = a.values[:, 0, inside].sum(-1) / a.values[:, 0].sum(-1)
    assert np.all(share > 0.9), share
    assert np.all(a.relative_delta < 1e-3)


@pytest.mark.parametrize("n_times", [64, 65])
def test_ideal_band_energy_only_its_bins_matter(models, n_times):
    lo, hi = 5, 9
    model = models.FourierBandEnergy(lo, hi).eval()
    x = torch.randn(6, 2, n_times, dtype=torch.float64)
    a = cdig.explain(model, x, "fourier", n_steps=4, fs=2.0 * n_times)["fourier"]
    peaks = np.argmax(a.values.sum(1), axis=-1)
    assert np.all((peaks >= lo) & (peaks < hi))
    outside = np.ones(a.values.shape[-1], bool)
    outside[lo:hi] = False
    np.testing.assert_allclose(a.values[..., outside], 0.0, atol=1e-12)
    # an energy from a zero baseline: IG of a quadratic form is exact with Gauss–Legendre (n >= 1)
    z = np.fft.rfft(x.numpy())
    np.testing.assert_allclose(a.values[..., lo:hi], np.abs(z[..., lo:hi]) ** 2 / n_times, rtol=1e-10)
    np.testing.assert_allclose(a.coords["frequency"][lo:hi], np.arange(lo, hi) * 2.0)  # Hz


# --- coordinates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [16, 17, 64, 99])
@pytest.mark.parametrize("fs", [None, 100.0, 3])
def test_frequency_coordinates(rng, models, n_times, fs):
    model = models.Linear(rng.normal(size=(C, n_times)), 0.0).eval()
    x = torch.as_tensor(rng.normal(size=(2, C, n_times)))
    a = cdig.explain(model, x, "fourier", n_steps=1, fs=fs)["fourier"]
    f = a.coords["frequency"]
    assert len(f) == n_times // 2 + 1 == a.values.shape[-1]
    step = 1.0 / n_times if fs is None else fs / n_times
    np.testing.assert_allclose(f, np.arange(n_times // 2 + 1) * step, rtol=1e-14)
    top = 0.5 if fs is None else fs / 2
    if n_times % 2 == 0:
        assert f[-1] == pytest.approx(top)  # Nyquist is a bin
    else:
        assert f[-1] < top
    assert a.units["frequency"] == ("cycles/sample" if fs is None else "Hz")
    np.testing.assert_array_equal(a.coords["channel"], np.arange(C))


def test_rule_nodes_used_are_the_documented_ones():
    # the nodes cdig integrates with are those of get_rule (used by the references above)
    a, w = get_rule("gausslegendre", 12)
    x, wx = np.polynomial.legendre.leggauss(12)
    np.testing.assert_allclose(a, 0.5 * (x + 1))
    np.testing.assert_allclose(w, 0.5 * wx)
