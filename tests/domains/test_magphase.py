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
    assert np.all(a.values[:, :, 1] == 0.0) and np.all(a.extras["totals"][:, :, 1] == 0.0)  # Δφ = 0 exactly
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
    assert np.all(a.values[:, :, 1] == 0.0)  # Δφ = 0 exactly: the input's phase, round-off snapped
    np.testing.assert_allclose(a.sum(), t.sum(), rtol=1e-10)
    np.testing.assert_allclose(a.delta, t.delta, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [None, 0.3, 3.0])
def test_phase_scores_exactly_zero_for_in_phase_baselines(models, dtype, beta):
    """The documented statement: baselines β·x (β ≥ 0, None: zero) give Δφ = 0.0 and phase scores 0.0 exactly."""
    model = models.conv_net(channels=C, length=48, n_out=2, act="gelu", dtype=dtype)
    x = torch.randn(N, C, 48, dtype=dtype)
    base = None if beta is None else beta * x
    a = cdig.explain(model, x, MagnitudePhase(), baselines=base, target=1, n_steps=8)["magphase"]
    assert np.all(a.coefficients[:, :, 1] == a.baseline_coefficients[:, :, 1])
    assert np.all(a.values[:, :, 1] == 0.0) and np.all(a.extras["totals"][:, :, 1] == 0.0)
    assert np.abs(a.values[:, :, 0]).max() > 0


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


# --- zero-magnitude bins and ties -----------------------------------------------------------------


def _standardised(rng, n, c, t):
    """Per-sample standardised signals: zero mean, so the DC bin is round-off (~1e-16) of either sign."""
    x = 2.0 * rng.normal(size=(n, c, t)) + 0.7
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)


@pytest.mark.parametrize("baseline", ["zero", "noise", "constant", "roll"])
def test_maps_are_continuous_at_zero_magnitude_bins(models, rng, baseline):
    """A ±1e-12 shift of a zero-mean standardised input moves no map by more than 1e-6 of its largest score.

    The shift turns the DC bin (~1e-16, its phase 0 or π by round-off) into ±6.4e-11. Before zero bins
    and tie rules, round-off chose the MagnitudePhase path (the DC's phase; the antiphase bins of the
    rolled baseline) and the cepstrum's sign θ: these maps moved by up to 100% and 110% of their
    largest score, and the cepstrum's log(|X_0| + eps) moved it by 1e-5 to 1e-4 even without a flip.
    """
    x = _standardised(rng, 6, 1, 64)
    assert np.abs(np.fft.rfft(x)[..., 0]).max() < 1e-13
    model = models.conv_net(channels=1, length=64, n_out=2, act="tanh", dtype=torch.float64)
    base = {
        "zero": None,
        "noise": 0.5 * rng.normal(size=x.shape) + 0.3,
        "constant": np.full(x.shape, -0.5),
        "roll": np.roll(x, 8, axis=-1),
    }[baseline]
    kw = dict(baselines=base, target=1, n_steps=32)
    ref = cdig.explain(model, torch.as_tensor(x), ("magphase", "cepstrum"), **kw)
    for shift in (1e-12, -1e-12):
        res = cdig.explain(model, torch.as_tensor(x + shift), ("magphase", "cepstrum"), **kw)
        for name in ("magphase", "cepstrum"):
            a, b = ref[name].values, res[name].values
            change = np.abs(b - a).max() / np.abs(a).max()
            assert change <= 1e-6, (name, shift, change)


def test_zero_dc_is_real_and_the_path_moves_it_in_a_straight_line(rng):
    """Where the input's DC is zero every signal's DC has phase 0 and its signed value as magnitude."""
    x = _standardised(rng, N, C, 32)
    x0 = rng.normal(size=x.shape) + np.array([-1.0, 1.0])[:, None]  # means of both signs
    d = MagnitudePhase().fit(x)
    assert d.input_zero_[..., 0].all() and not d.input_zero_[..., 1:].any()
    z, z0 = d.forward(x, np), d.forward(x0, np)
    assert np.all(z[:, :, 1, 0] == 0.0) and np.all(z0[:, :, 1, 0] == 0.0)
    np.testing.assert_allclose(z0[:, :, 0, 0], x0.sum(-1), rtol=1e-13)
    assert (z0[:, :, 0, 0] < 0).any() and (z0[:, :, 0, 0] > 0).any()
    np.testing.assert_allclose(d.inverse(z, np), x, atol=1e-14)
    np.testing.assert_allclose(d.inverse(z0, np), x0, atol=1e-14)
    for alpha in (0.25, 0.5, 0.75):  # the mean (DC) moves in a straight line, never through the other sign
        xa = d.inverse(z0 + alpha * (z - z0), np)
        np.testing.assert_allclose(xa.mean(-1), (1 - alpha) * x0.mean(-1) + alpha * x.mean(-1), atol=1e-14)


def test_complex_zero_bins_take_phase_zero(rng):
    """Two tones: the other 31 bins are round-off; their phase is 0, the baseline's there within π/2."""
    t = np.arange(64)
    shift = rng.uniform(0, 2 * np.pi, size=(N, C, 1))
    x = np.sin(2 * np.pi * 5 * t / 64 + shift) + 0.5 * np.cos(2 * np.pi * 11 * t / 64)
    x0 = rng.normal(size=x.shape)
    d = MagnitudePhase().fit(x)
    zero = d.input_zero_
    assert np.all(zero.sum(-1) == 31) and not zero[..., [5, 11]].any()
    z, z0 = d.forward(x, np), d.forward(x0, np)
    assert np.all(z[:, :, 1][zero] == 0.0)
    assert np.all(np.abs(z0[:, :, 1][zero]) <= np.pi / 2)
    assert (z0[:, :, 0][zero] < 0).any()  # a phase within π/2 of 0 takes magnitudes of either sign
    np.testing.assert_allclose(d.inverse(z0, np), x0, atol=1e-13)  # the baseline: exact
    np.testing.assert_allclose(d.inverse(z, np), x, atol=1e-13)  # the input: within τ·Σ|x| per zero bin
    # continuous: a 1e-12 perturbation of the input moves its coefficients and the baseline's by ~1e-12
    xs = x + 1e-12 * rng.normal(size=x.shape)
    ds = MagnitudePhase().fit(xs)
    np.testing.assert_array_equal(ds.input_zero_, zero)
    np.testing.assert_allclose(ds.forward(xs, np), z, atol=1e-10)
    np.testing.assert_allclose(ds.forward(x0, np), z0, atol=1e-10)


def test_antiphase_ties_turn_the_same_way(rng):
    """x0 = roll(x, 8) at T = 64 puts bins 4, 12, 20, 28 in exact antiphase: Δφ = −π there for every
    sample (the baseline's phase is the input's + π), also after a perturbation far below zero_tol."""
    x = rng.normal(size=(20, C, 64))
    x0 = np.roll(x, 8, axis=-1)
    for xs in (x, x + 1e-12 * rng.normal(size=x.shape)):
        d = MagnitudePhase().fit(xs)
        dphi = d.forward(xs, np)[:, :, 1] - d.forward(x0, np)[:, :, 1]
        np.testing.assert_allclose(dphi[..., [4, 12, 20, 28]], -np.pi, atol=1e-10)
        assert np.all(np.abs(dphi) <= np.pi + 1e-9)


def test_zero_tol_follows_the_precision_and_can_be_set(rng):
    x = _standardised(rng, N, C, 32)
    x = x + 1e-8 * np.abs(x).mean(-1, keepdims=True)  # DC = 1e-8 · Σ|x|: data in float64, round-off in float32
    assert not MagnitudePhase().fit(x).input_zero_[..., 0].any()  # float64: 1e-10
    assert MagnitudePhase().fit(x.astype(np.float32)).input_zero_[..., 0].all()  # float32: 1e-5
    assert MagnitudePhase(zero_tol=1e-7).fit(x).input_zero_[..., 0].all()
    assert not MagnitudePhase(zero_tol=0).fit(x).input_zero_.any()  # 0: only exact zeros
    assert MagnitudePhase(zero_tol=0).fit(np.zeros((1, 1, 8))).input_zero_.all()
    d = MagnitudePhase("own", zero_tol=1e-7)
    assert d.describe()["zero_tol"] == 1e-7 and repr(d) == "MagnitudePhase(baseline_phase='own', zero_tol=1e-07)"
    # "own": each signal's zero bins have phase 0, whatever the sign of their round-off
    z = d.fit(x).forward(x, np)
    assert np.all(z[:, :, 1, 0] == 0.0)
    np.testing.assert_allclose(d.inverse(z, np), x, atol=1e-14)


@pytest.mark.parametrize(
    "zero_tol, exc", [(-1e-3, ValueError), (1.0, ValueError), (float("nan"), ValueError), ("1e-10", TypeError), (True, TypeError)]
)
def test_bad_zero_tol(zero_tol, exc):
    with pytest.raises(exc, match="zero_tol"):
        MagnitudePhase(zero_tol=zero_tol)
    with pytest.raises(cdig.CdigError):
        MagnitudePhase(zero_tol=zero_tol)


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
    assert a.settings["domain"] == {
        "name": "magphase",
        "class": "MagnitudePhase",
        "linear": False,
        "baseline_phase": "input",
        "zero_tol": None,
    }
    two = cdig.explain(models.Linear(rng.normal(size=16), 0.0).eval(), x[:, 0], MagnitudePhase(), n_steps=2)
    assert two["magphase"].values.shape == (3, 2, 9) and two["magphase"].dims == ("component", "frequency")
    assert two["magphase"].extras["totals"].shape == (3, 2)  # as documented: no channel axis for (N, T) input


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
