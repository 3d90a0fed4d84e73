"""cdig.compat against the reference package's documented formulas, computed here independently.

The references are plain torch loops, one path point per forward/backward pass (the reference
package's own procedure), and numpy FFTs; none of them calls cdig.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import FastICA

import cdig
from cdig.compat import (
    ICAIG,
    CrossDomainIG,
    DomainBase,
    FourierDomain,
    FourierIG,
    ICADomain,
    TimeDomain,
    TimeIG,
    fourier_two_sided,
)

N_STEPS = 16
TARGET = 1
#: The formula tests use few right-Riemann steps on purpose; completeness is checked separately.
quiet = pytest.mark.filterwarnings("ignore::cdig.ConvergenceWarning")


# --- fixtures ------------------------------------------------------------------------------------
def make_model(c: int, t: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(c, 4, 5),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * (t - 4), 3),
    )
    return model.to(dtype).eval()


@pytest.fixture(scope="module")
def data() -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2, 32)).astype(np.float32)
    x0 = (0.3 * rng.normal(size=(4, 2, 32))).astype(np.float32)
    return make_model(2, 32), x, x0


@pytest.fixture(scope="module")
def ica_data() -> tuple[torch.nn.Module, np.ndarray, FastICA]:
    rng = np.random.default_rng(1)
    sources = rng.laplace(size=(3, 2, 64))
    mixing = np.array([[1.0, 0.5], [0.3, 1.2]])
    x = (np.einsum("ck,nkt->nct", mixing, sources) + np.array([0.5, -0.2])[:, None]).astype(np.float32)
    # As in the reference's examples: fitted on one sample's (T, C) data, used for every sample.
    ica = FastICA(random_state=0, whiten="unit-variance", max_iter=2000).fit(x[0].T)
    return make_model(2, 64, seed=3), x, ica


# --- independent references --------------------------------------------------------------------
def loop_avg_grad(model: torch.nn.Module, x: np.ndarray, x0: np.ndarray, n: int, c: int) -> np.ndarray:
    """(1/n) Σ_{i=1..n} ∇f(x0 + (i/n)(x − x0)) for one sample (C, T), one step per backward pass."""
    xt, x0t = torch.as_tensor(x), torch.as_tensor(x0)
    total = torch.zeros_like(xt)
    for i in range(1, n + 1):
        point = (x0t + (i / n) * (xt - x0t)).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(point[None])[0, c], point)
        total += g
    return (total / n).numpy()


def loop_ica_scores(model: torch.nn.Module, x: np.ndarray, ica: FastICA, n: int, c: int) -> np.ndarray:
    """The reference's ICA scores of one sample (C, T): mixing matrix scaled from zero, sources fixed."""
    s = torch.as_tensor(ica.transform(x.T), dtype=torch.float32)  # (T, K)
    mix_t = torch.as_tensor(ica.mixing_.T, dtype=torch.float32)  # (K, C)
    mean = torch.as_tensor(ica.mean_, dtype=torch.float32)
    total = torch.zeros_like(mix_t)
    for i in range(1, n + 1):
        a = ((i / n) * mix_t).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model((s @ a + mean).T[None])[0, c], a)
        total += g
    # score_k = Σ_c mixing_ck · ∫ Σ_t ∂F/∂x_ct S_tk dα
    return (mix_t * total / n).sum(dim=1).numpy()


def two_sided_reference(gbar: np.ndarray, x: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """A_k = Re(ΔX_k conj(G_k)) with G_k = FFT(ḡ)_k / T, for x = Re(ifft(X))."""
    t = x.shape[-1]
    g = np.fft.fft(gbar.astype(np.float64), axis=-1) / t
    dx = np.fft.fft((x - x0).astype(np.float64), axis=-1)
    return (dx * np.conj(g)).real


def model_out(model: torch.nn.Module, x: np.ndarray, c: int = TARGET) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(x))[:, c].double().numpy()


def close(a: np.ndarray, b: np.ndarray, rel: float = 1e-5) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * np.abs(b).max())


# --- (a) time ------------------------------------------------------------------------------------
@quiet
def test_time_ig_equals_right_riemann_formula_for_every_sample(data):
    model, x, x0 = data
    out = TimeIG(model, N_STEPS, output_channel=TARGET).run(x, x0).numpy()
    for j in range(len(x)):
        close(out[j], (x[j] - x0[j]) * loop_avg_grad(model, x[j], x0[j], N_STEPS, TARGET))


# --- (b) Fourier ---------------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("t", [32, 15])
def test_fourier_ig_equals_two_sided_formula_for_every_sample(t):
    rng = np.random.default_rng(t)
    x = rng.normal(size=(3, 2, t)).astype(np.float32)
    x0 = (0.5 * rng.normal(size=(3, 2, t))).astype(np.float32)
    model = make_model(2, t, seed=t)
    out = FourierIG(model, N_STEPS, output_channel=TARGET).run(x, x0).numpy()
    time_map = TimeIG(model, N_STEPS, output_channel=TARGET).run(x, x0).numpy()
    for j in range(len(x)):
        ref = two_sided_reference(loop_avg_grad(model, x[j], x0[j], N_STEPS, TARGET), x[j], x0[j])
        close(out[j], ref, rel=1e-5)
        # real signals: bins k and T - k carry the same score
        close(out[j][:, 1:], out[j][:, 1:][:, ::-1], rel=1e-5)
        # same quadrature sum as the time map (Parseval): the completeness sum
        assert out[j].sum() == pytest.approx(time_map[j].sum(), rel=1e-4, abs=1e-5)


@quiet
def test_native_fourier_unfolds_to_the_compat_map(data):
    model, x, x0 = data
    native = cdig.explain(model, x, "fourier", target=TARGET, baselines=x0, n_steps=N_STEPS, method="riemann_right")
    out = FourierIG(model, N_STEPS, output_channel=TARGET).run(x, x0).numpy()
    close(fourier_two_sided(native["fourier"].values, x.shape[-1]), out, rel=1e-5)


def test_fourier_ig_completeness_with_gauss_legendre(data):
    model, x, x0 = data
    ig = FourierIG(model, 16, output_channel=TARGET, method="gausslegendre")
    out = ig.run(x, x0).numpy()
    change = model_out(model, x) - model_out(model, x0)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), change, atol=1e-4)
    np.testing.assert_allclose(ig.attribution_.delta, 0.0, atol=1e-4)


def test_fourier_two_sided_layout_and_errors():
    v = np.arange(1.0, 6.0)  # T = 8: bins 0..4
    two = fourier_two_sided(v, 8)
    assert two.tolist() == [1.0, 1.0, 1.5, 2.0, 5.0, 2.0, 1.5, 1.0]
    assert two.sum() == v.sum()
    assert fourier_two_sided(np.ones((2, 3, 2)), 2).shape == (2, 3, 2)
    with pytest.raises(cdig.CdigValueError, match="bins"):
        fourier_two_sided(v, 7)
    with pytest.raises(cdig.CdigValueError, match="n_times"):
        fourier_two_sided(v, 0)


def test_fourier_domain_transforms_match_the_reference():
    x = torch.randn(2, 3, 10)
    d = FourierDomain()
    z = d.forward_transform(x)
    assert z.dtype == torch.complex64 and z.shape == (2, 3, 10)
    np.testing.assert_allclose(z.numpy(), np.fft.fft(x.numpy(), axis=-1), rtol=1e-5, atol=1e-5)
    back = d.inverse_transform(z)
    assert back.dtype == torch.float32
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-6)
    assert TimeDomain().forward_transform(x) is x and TimeDomain().inverse_transform(x) is x


# --- (c) ICA -------------------------------------------------------------------------------------
@quiet
def test_ica_ig_equals_mixing_matrix_formula_for_every_sample(ica_data):
    model, x, ica = ica_data
    out = ICAIG(model, ica, N_STEPS, output_channel=TARGET).run(x).numpy()
    assert out.shape == (3, 2)
    for j in range(len(x)):
        close(out[j], loop_ica_scores(model, x[j], ica, N_STEPS, TARGET), rel=1e-5)


@quiet
def test_ica_ig_equals_native_ica_with_mean_baseline(ica_data):
    model, x, ica = ica_data
    out = ICAIG(model, ica, N_STEPS, output_channel=TARGET).run(x).numpy()
    mean = np.broadcast_to(ica.mean_[None, :, None], x.shape).astype(np.float32)
    native = cdig.explain(model, x, [cdig.ICA(ica)], target=TARGET, baselines=mean, n_steps=N_STEPS, method="riemann_right")[
        "ica"
    ].values
    close(out, native, rel=1e-5)


def test_ica_domain_reproduces_the_reference_path(ica_data):
    _, x, ica = ica_data
    d = ICADomain(ica=ica)
    d.set_coefficients(x, np.zeros_like(x))
    z = d.get_coefficients()
    assert z.shape == (3, 2, 2) and not d.get_coefficient_baseline().any()
    np.testing.assert_allclose(d.inverse_transform(z).numpy(), x, atol=1e-4)
    mean_signal = d.inverse_transform(d.get_coefficient_baseline()).numpy()
    np.testing.assert_allclose(mean_signal, np.broadcast_to(ica.mean_[None, :, None], x.shape), atol=1e-6)
    np.testing.assert_allclose(d.forward_transform(x[0].T), ica.transform(x[0].T), rtol=1e-6)


# --- (d) shapes, types, devices ------------------------------------------------------------------
@quiet
def test_shapes_types_and_devices(data, ica_data):
    model, x, x0 = data
    for cls in (TimeIG, FourierIG):
        out = cls(model, 4).run(x, x0)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device.type == "cpu"
        assert out.shape == x.shape and not out.requires_grad
        one = cls(model, 4, 0, "cpu").run(x[:1], x0[:1])
        assert one.shape == (1,) + x.shape[1:]
        # torch input gives the numbers numpy input gives
        assert torch.equal(cls(model, 4).run(torch.as_tensor(x), torch.as_tensor(x0)), out)
    imodel, ix, ica = ica_data
    assert ICAIG(imodel, ica, 4).run(ix).shape == (3, 2)
    single = ICAIG(imodel, ica, 4).run(ix[:1])
    assert single.shape == (2,) and single.dtype == torch.float32
    assert torch.allclose(single, ICAIG(imodel, ica, 4).run(ix)[0], rtol=1e-5, atol=1e-6)


@quiet
def test_float64_and_reference_positional_dtype(data):
    _, x, x0 = data
    model = make_model(2, 32, dtype=torch.float64)
    out = TimeIG(model, 4, 0, None, torch.float64).run(x, x0)
    assert out.dtype == torch.float64
    ig = CrossDomainIG(model, 4, 0, torch.float64)  # the reference's (model, n, channel, dtype)
    assert ig.dtype == torch.float64 and ig.device is None
    ig.initialize_domain(TimeDomain, dtype=torch.float64)
    assert torch.allclose(ig.run(x, x0), out)


@quiet
def test_unusual_layouts_and_plain_function_models():
    rng = np.random.default_rng(5)
    w = torch.as_tensor(rng.normal(size=(2, 12)), dtype=torch.float32)

    def linear(x):  # a function of tensors, no parameters: (N, 12) or (N, 3, 4) -> (N, 2)
        return x.reshape(len(x), -1) @ w.T

    x = rng.normal(size=(3, 12)).astype(np.float32)
    for arr in (x, x.reshape(3, 12, 1), x.reshape(3, 3, 4)):  # (N, T), (N, C, 1), (N, C, T)
        exact = arr * w[1].reshape(arr.shape[1:]).numpy()  # IG of a linear function: x ⊙ w, every rule
        out = TimeIG(linear, 2, output_channel=1).run(torch.as_tensor(arr))
        assert out.shape == arr.shape
        close(out.numpy(), exact)
        fourier = FourierIG(linear, 2, output_channel=1).run(arr).numpy()
        assert fourier.shape == arr.shape
        close(fourier.sum(axis=tuple(range(1, arr.ndim))), exact.sum(axis=tuple(range(1, arr.ndim))))


@quiet
def test_get_multi_ig_returns_the_last_run_and_model_is_left_unchanged(data):
    model, x, x0 = data
    model.train()
    try:
        ig = TimeIG(model, 4)
        out = ig.run(x, x0)
        assert ig.getMultiIG() is out
        assert all(p.grad is None for p in model.parameters())
        assert model.training and all(p.requires_grad for p in model.parameters())
    finally:
        model.eval()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@quiet
def test_results_on_the_models_device(data):
    model, x, x0 = data
    gpu = make_model(2, 32).cuda()
    out = FourierIG(gpu, 8).run(x, x0)
    assert out.device.type == "cuda"
    assert FourierIG(gpu, 8, device="cpu").run(x, x0).device.type == "cpu"
    torch.testing.assert_close(out.cpu(), FourierIG(model, 8).run(x, x0), rtol=1e-4, atol=1e-5)


# --- (e) method ----------------------------------------------------------------------------------
def test_method_switches_the_rule(data):
    model, x, x0 = data
    change = model_out(model, x) - model_out(model, x0)
    with pytest.warns(cdig.ConvergenceWarning, match="riemann_right"):
        right = TimeIG(model, N_STEPS, TARGET).run(x, x0).numpy()
    gl_ig = TimeIG(model, N_STEPS, TARGET, method="gausslegendre")
    gl = gl_ig.run(x, x0).numpy()
    assert gl_ig.attribution_.settings["method"] == "gausslegendre"
    assert not np.allclose(right, gl)
    err_right = np.abs(right.sum(axis=(1, 2)) - change)
    err_gl = np.abs(gl.sum(axis=(1, 2)) - change)
    assert (err_gl < err_right).all() and err_gl.max() < 1e-4
    native = cdig.explain(model, x, "time", target=TARGET, baselines=x0, n_steps=N_STEPS)["time"].values
    close(gl, native, rel=1e-6)


# --- (f) user domains ----------------------------------------------------------------------------
class Scaled(DomainBase):
    """The samples times 3: IG is invariant to the scale, so this must equal TimeIG."""

    def forward_transform(self, x):
        return 3.0 * x

    def inverse_transform(self, z):
        return z / 3.0


class Sinh(DomainBase):
    """A nonlinear domain: z = sinh(x); the straight path in z is curved in x."""

    def forward_transform(self, x):
        return torch.sinh(x)

    def inverse_transform(self, z):
        return torch.asinh(z)


class RealFFT(DomainBase):
    """Complex coefficients: the real FFT along time (flagged nonlinear, so integrated in z)."""

    def forward_transform(self, x):
        self.n_times = x.shape[-1]
        return torch.fft.rfft(x)

    def inverse_transform(self, z):
        return torch.fft.irfft(z, n=self.n_times)


@quiet
def test_user_domain_scaled_time_equals_time_ig(data):
    model, x, x0 = data
    ig = CrossDomainIG(model, N_STEPS, TARGET)
    ig.initialize_domain(Scaled)
    close(ig.run(x, x0).numpy(), TimeIG(model, N_STEPS, TARGET).run(x, x0).numpy(), rel=1e-5)
    assert ig.attribution_.settings["domain"]["linear"] is False


@quiet
def test_user_nonlinear_domain_follows_its_own_straight_path(data):
    model, x, x0 = data
    ig = CrossDomainIG(model, N_STEPS, TARGET)
    ig.initialize_domain(Sinh)
    out = ig.run(x, x0).numpy()
    z, z0 = np.sinh(x.astype(np.float64)), np.sinh(x0.astype(np.float64))
    for j in range(len(x)):
        zt, z0t = torch.as_tensor(z[j], dtype=torch.float32), torch.as_tensor(z0[j], dtype=torch.float32)
        total = torch.zeros_like(zt)
        for i in range(1, N_STEPS + 1):
            p = (z0t + (i / N_STEPS) * (zt - z0t)).clone().requires_grad_(True)
            (g,) = torch.autograd.grad(model(torch.asinh(p)[None])[0, TARGET], p)
            total += g
        close(out[j], (zt - z0t).numpy() * (total / N_STEPS).numpy(), rel=1e-5)
    # it is not the time-domain map: the path differs
    assert not np.allclose(out, TimeIG(model, N_STEPS, TARGET).run(x, x0).numpy(), atol=1e-4)


@pytest.mark.parametrize("domain", [Sinh, RealFFT])
def test_user_domain_completeness(data, domain):
    model, x, x0 = data
    ig = CrossDomainIG(model, 24, TARGET, method="gausslegendre")
    ig.initialize_domain(domain)
    out = ig.run(x, x0).numpy()
    change = model_out(model, x) - model_out(model, x0)
    np.testing.assert_allclose(out.reshape(len(x), -1).sum(axis=1), change, atol=1e-4)


def test_user_rfft_domain_equals_native_fourier(data):
    model, x, x0 = data
    ig = CrossDomainIG(model, 24, TARGET, method="gausslegendre")
    ig.initialize_domain(RealFFT)
    out = ig.run(x, x0).numpy()
    assert out.shape == (4, 2, 17)
    native = cdig.explain(model, x, "fourier", target=TARGET, baselines=x0, n_steps=24)["fourier"].values
    close(out, native, rel=1e-5)


def test_user_domain_flagged_linear_gives_the_same_numbers(data):
    model, x, x0 = data

    class ScaledLinear(Scaled):
        linear = True

    maps = []
    for cls in (Scaled, ScaledLinear):
        ig = CrossDomainIG(model, 8, TARGET, method="gausslegendre")
        ig.initialize_domain(cls)
        maps.append(ig.run(x, x0).numpy())
    close(maps[0], maps[1], rel=1e-5)


def test_user_domain_must_keep_the_batch_axis(data):
    model, x, x0 = data

    class FirstOnly(DomainBase):
        def set_coefficients(self, x, x_baseline):
            self.coefficients = self._tensor(x)[:1]
            self.baseline_coefficients = self._tensor(x_baseline)[:1]

        def inverse_transform(self, z):
            return z

    ig = CrossDomainIG(model, 4, TARGET)
    ig.initialize_domain(FirstOnly)
    with pytest.raises(cdig.CdigValueError, match="first axis must hold the samples"):
        ig.run(x, x0)


def test_domain_base_methods_must_be_written():
    d = DomainBase()
    with pytest.raises(NotImplementedError, match="forward_transform"):
        d.set_coefficients(np.zeros((1, 1, 4)), np.zeros((1, 1, 4)))
    with pytest.raises(NotImplementedError, match="inverse_transform"):
        d.inverse_transform(torch.zeros(1))
    assert d.get_coefficients() is None and d.get_coefficient_baseline() is None


# --- (g) errors ----------------------------------------------------------------------------------
def test_get_multi_ig_before_run_is_an_error(data):
    model, _, _ = data
    for ig in (TimeIG(model, 4), FourierIG(model, 4), CrossDomainIG(model, 4)):
        with pytest.raises(cdig.CdigValueError, match="before run"):
            ig.getMultiIG()
        with pytest.raises(ValueError):
            ig.getMultiIG()


def test_argument_errors(data, ica_data):
    model, x, x0 = data
    with pytest.raises(cdig.CdigValueError, match="initialize_domain"):
        CrossDomainIG(model, 4).run(x, x0)
    with pytest.raises(cdig.CdigTypeError, match="DomainBase"):
        CrossDomainIG(model, 4).initialize_domain(cdig.Time)
    with pytest.raises(cdig.CdigValueError, match="n_iterations=0"):
        TimeIG(model, 0)
    with pytest.raises(cdig.CdigTypeError, match="n_iterations"):
        TimeIG(model, 2.5)
    with pytest.raises(cdig.CdigValueError, match="method"):
        TimeIG(model, 4, method="simpson")
    with pytest.raises(cdig.CdigValueError, match="output_channel"):
        TimeIG(model, 4, output_channel=-1)
    with pytest.raises(cdig.CdigValueError, match="out of range"):
        TimeIG(model, 4, output_channel=7).run(x, x0)
    with pytest.raises(cdig.CdigValueError, match="x_baseline has shape"):
        TimeIG(model, 4).run(x, x0[:, :1, :5])
    with pytest.raises(cdig.CdigTypeError, match="PyTorch"):
        TimeIG(object(), 4)
    imodel, ix, ica = ica_data
    with pytest.raises(cdig.CdigValueError, match=r"\(N, C, T\)"):
        ICAIG(imodel, ica, 4).run(ix[0])
    with pytest.raises(cdig.CdigValueError, match="not a fitted ICA"):
        ICAIG(imodel, FastICA(), 4).run(ix)
    with pytest.raises(cdig.CdigTypeError, match="one fitted FastICA"):
        ICAIG(imodel, [ica, ica, ica], 4)


# --- (h) the ICA baseline ------------------------------------------------------------------------
@quiet
def test_ica_ignored_baseline_warns_and_honour_baseline_uses_it(ica_data):
    model, x, ica = ica_data
    zeros = np.zeros_like(x)
    default = ICAIG(model, ica, N_STEPS, TARGET).run(x)
    with pytest.warns(cdig.CdigWarning, match="ignores x_baseline.*honour_baseline=True"):
        ignored = ICAIG(model, ica, N_STEPS, TARGET).run(x, zeros)
    assert torch.equal(ignored, default)
    mean = np.broadcast_to(ica.mean_[None, :, None], x.shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cdig.CdigWarning)
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        assert torch.equal(ICAIG(model, ica, N_STEPS, TARGET).run(x, mean), default)
        honoured = ICAIG(model, ica, N_STEPS, TARGET, honour_baseline=True).run(x, zeros)
    native = cdig.explain(model, x, [cdig.ICA(ica)], target=TARGET, baselines=zeros, n_steps=N_STEPS, method="riemann_right")[
        "ica"
    ].values
    close(honoured.numpy(), native, rel=1e-6)
    assert honoured.shape == default.shape
    assert not torch.allclose(honoured, default, atol=1e-3)
    # completeness now refers to the user's baseline
    gl = ICAIG(model, ica, 24, TARGET, method="gausslegendre", honour_baseline=True).run(x, zeros).numpy()
    np.testing.assert_allclose(gl.sum(axis=1), model_out(model, x) - model_out(model, zeros), atol=1e-4)
