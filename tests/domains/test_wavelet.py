"""The wavelet domain (orthogonal DWT, Haar and Daubechies): filters, transform, closed forms, planted truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.domains.wavelet import WAVELETS, Wavelet, daubechies, dwt_matrix

N, C, T = 3, 2, 64

# Published Daubechies db4 scaling filter (Daubechies 1992, Table 6.1, normalised to sum √2), 10 digits.
DB4 = [0.2303778133, 0.7148465706, 0.6308807679, -0.0279837694, -0.1870348117, 0.0308413818, 0.0328830117, -0.0105974018]


class WaveletPath(Wavelet):
    """The same transform, declared nonlinear: integrated along its own path in the coefficients."""

    name = "wavelet_path"
    linear = False


# --- independent references ----------------------------------------------------------------------


def haar_reference(x: np.ndarray, level: int) -> np.ndarray:
    """Haar DWT by hand: pairwise sums and differences over √2, level by level, [A_L, D_L, ..., D_1]."""
    approx, details = x, []
    for _ in range(level):
        even, odd = approx[..., 0::2], approx[..., 1::2]
        details.append((even - odd) / np.sqrt(2))
        approx = (even + odd) / np.sqrt(2)
    return np.concatenate([approx, *details[::-1]], axis=-1)


def synthesis_matrix(h: np.ndarray, t: int, level: int) -> np.ndarray:
    """``M`` with ``x = M z``: the inverse DWT by upsampling and circular filtering, applied to unit vectors.

    One synthesis step on bands of ``m/2`` samples: ``x[(F/2 + 2o - j) mod m] += f_lo[j] a[o] + f_hi[j] d[o]``
    with PyWavelets' decomposition filters ``f_lo[j] = h[F-1-j]`` and ``f_hi[j] = (-1)^(j+1) h[j]``.
    """
    f = len(h)
    f_lo, f_hi = h[::-1], np.array([(-1) ** (j + 1) * h[j] for j in range(f)])

    def step(a: np.ndarray, d: np.ndarray) -> np.ndarray:
        m = 2 * len(a)
        out = np.zeros(m)
        for o in range(len(a)):
            for j in range(f):
                out[(f // 2 + 2 * o - j) % m] += f_lo[j] * a[o] + f_hi[j] * d[o]
        return out

    cols = []
    for k in range(t):
        z = np.zeros(t)
        z[k] = 1.0
        size = t // 2**level
        a, rest = z[:size], z[size:]
        for _ in range(level):
            d, rest = rest[:size], rest[size:]
            a = step(a, d)
            size *= 2
        cols.append(a)
    return np.stack(cols, axis=1)


def filter_bank_reference(x: np.ndarray, h: np.ndarray, level: int) -> np.ndarray:
    """The periodized DWT as a gather: ``out[o] = Σ_j f[j] x[(F/2 + 2o - j) mod m]`` by integer indices, O(T·F)."""
    f = len(h)
    f_lo, f_hi = h[::-1], np.array([(-1) ** (j + 1) * h[j] for j in range(f)])
    approx, details = x, []
    for _ in range(level):
        m = approx.shape[-1]
        idx = (f // 2 + 2 * np.arange(m // 2)[:, None] - np.arange(f)[None]) % m  # (m/2, F)
        window = approx[..., idx]
        details.append(window @ f_hi)
        approx = window @ f_lo
    return np.concatenate([approx, *details[::-1]], axis=-1)


def torch_xp():
    return cdig.backends.get_backend_by_name("torch").xp


# --- filters and the transform ---------------------------------------------------------------------


@pytest.mark.parametrize("order", range(1, 11))
def test_daubechies_filters_are_orthonormal_with_vanishing_moments(order):
    h = daubechies(order)
    assert h.shape == (2 * order,)
    np.testing.assert_allclose(h.sum(), np.sqrt(2), atol=1e-13)
    for shift in range(order):  # Σ_n h[n] h[n + 2k] = δ_k
        np.testing.assert_allclose(np.dot(h[: len(h) - 2 * shift], h[2 * shift :]), float(shift == 0), atol=1e-13)
    g = np.array([(-1) ** n * h[n] for n in range(len(h))])
    n = np.arange(len(h), dtype=float)
    for p in range(order):  # the high-pass filter kills polynomials of degree < N
        assert abs(np.dot(g, (n / len(h)) ** p)) < 1e-10


def test_daubechies_closed_forms_and_tables():
    s3 = np.sqrt(3)
    db2 = np.array([1 + s3, 3 + s3, 3 - s3, 1 - s3]) / (4 * np.sqrt(2))
    np.testing.assert_allclose(daubechies(2), db2, atol=1e-14)
    np.testing.assert_allclose(daubechies(1), [2**-0.5, 2**-0.5], atol=1e-15)
    np.testing.assert_allclose(daubechies(4), DB4, atol=1e-10)
    with pytest.raises(cdig.CdigValueError, match="accepted: 1 .. 10"):
        daubechies(11)


def test_haar_against_hand_computed_averages_and_differences(rng):
    x = rng.normal(size=(N, C, 16))
    w = Wavelet("haar", level=3).fit(x)
    z = w.forward(x, np)
    np.testing.assert_allclose(z, haar_reference(x, 3), atol=1e-13)
    # by hand for one signal: 1..8 at level 1
    s = np.arange(1.0, 9.0)[None, None]
    z1 = Wavelet("haar", level=1).fit(s).forward(s, np)[0, 0]
    np.testing.assert_allclose(z1 * np.sqrt(2), [3, 7, 11, 15, -1, -1, -1, -1], atol=1e-13)


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_orthonormal_rows_and_perfect_reconstruction(rng, wavelet):
    x = rng.normal(size=(N, C, T))
    w = Wavelet(wavelet).fit(x)
    m = w.matrix_
    np.testing.assert_allclose(m @ m.T, np.eye(T), atol=1e-12)
    np.testing.assert_allclose(w.inverse(w.forward(x, np), np), x, atol=1e-12)
    # the independent synthesis (upsample + filter, level by level) is the matrix's inverse
    np.testing.assert_allclose(synthesis_matrix(w.filter_, T, w.level_), m.T, atol=1e-12)


@pytest.mark.parametrize(
    "t, wavelet, level",
    [(64, "haar", 6), (64, "db4", 3), (64, "db2", 4), (96, "db1", 5), (48, "db3", 3), (6, "db4", 1), (1024, "db8", 6)],
)
def test_default_level(t, wavelet, level):
    assert Wavelet(wavelet).fit(np.zeros((1, 1, t))).level_ == level


def test_runs_on_torch_tensors_with_gradients(rng):
    x = torch.as_tensor(rng.normal(size=(N, C, T)), dtype=torch.float32).requires_grad_(True)
    w = Wavelet("db3", level=2).fit(x.detach().numpy())
    xp = cdig.backends.get_backend_by_name("torch").xp
    z = w.forward(x, xp)
    assert z.dtype == torch.float32 and z.shape == (N, C, T)
    back = w.inverse(z, xp)
    np.testing.assert_allclose(back.detach().numpy(), x.detach().numpy(), atol=1e-5)
    back.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0, atol=1e-5)


# --- the filter bank against the dense matrix ----------------------------------------------------

SWEEP = (2, 6, 8, 12, 24, 32, 64)  # every level each length allows; deep levels wrap long filters many times


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_filter_bank_equals_the_matrix_at_every_level(rng, wavelet):
    """forward = x Wᵀ and inverse = z W for the dense ``W`` (float64 to round-off, float32 to its precision)."""
    for t in SWEEP:
        for level in range(1, (t & -t).bit_length()):
            w = Wavelet(wavelet, level=level).fit(np.zeros((1, 1, t)))
            m = dwt_matrix(w.filter_, t, level)
            x, z = rng.normal(size=(N, C, t)), rng.normal(size=(N, C, t))
            np.testing.assert_allclose(w.forward(x, np), x @ m.T, rtol=0, atol=1e-13)
            np.testing.assert_allclose(w.inverse(z, np), z @ m, rtol=0, atol=1e-13)
            np.testing.assert_allclose(w.inverse(w.forward(x, np), np), x, rtol=0, atol=1e-13)
            x32 = x.astype(np.float32)
            z32 = w.forward(x32, np)
            assert z32.dtype == np.float32 and z32.shape == (N, C, t)
            np.testing.assert_allclose(z32, x32.astype(np.float64) @ m.T, rtol=0, atol=2e-6)
            np.testing.assert_allclose(w.inverse(z32, np), x32, rtol=0, atol=2e-6)
    # the matrix itself against the independent gather and synthesis references
    w = Wavelet(wavelet).fit(np.zeros((1, 1, T)))
    x = rng.normal(size=(N, C, T))
    np.testing.assert_allclose(w.forward(x, np), filter_bank_reference(x, w.filter_, w.level_), atol=1e-13)


@pytest.mark.parametrize("shape", [(T,), (N, T), (N, C, T), (2, N, C, T)])
def test_filter_bank_on_any_batch_shape_in_torch(rng, shape):
    w = Wavelet("db5", level=2).fit(np.zeros((1, 1, T)))
    m = w.matrix_
    x = rng.normal(size=shape)
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 2e-6)):
        z = w.forward(torch.as_tensor(x, dtype=dtype), torch_xp())
        assert z.dtype == dtype and tuple(z.shape) == shape
        np.testing.assert_allclose(z.numpy(), x @ m.T, rtol=0, atol=tol)
        np.testing.assert_allclose(w.inverse(z, torch_xp()).numpy(), x, rtol=0, atol=tol)


@pytest.mark.parametrize("wavelet, t, level", [("haar", 32, 5), ("db2", 64, 4), ("db4", 24, 3), ("db10", 16, 4)])
def test_autograd_of_each_direction_is_the_other(rng, wavelet, t, level):
    """The transform is orthogonal: the VJP of the inverse is the forward (Wᵀ's adjoint is W), and vice versa."""
    w = Wavelet(wavelet, level=level).fit(np.zeros((1, 1, t)))
    xp = torch_xp()
    c = torch.as_tensor(rng.normal(size=(N, C, t)))
    for fn, adjoint in ((w.inverse, w.forward), (w.forward, w.inverse)):
        v = torch.as_tensor(rng.normal(size=(N, C, t))).requires_grad_(True)
        (grad,) = torch.autograd.grad((fn(v, xp) * c).sum(), v)
        np.testing.assert_allclose(grad.numpy(), adjoint(c, xp).numpy(), rtol=0, atol=1e-13)
    # and against the dense matrix
    v = torch.as_tensor(rng.normal(size=(N, C, t))).requires_grad_(True)
    (grad,) = torch.autograd.grad((w.inverse(v, xp) * c).sum(), v)
    np.testing.assert_allclose(grad.numpy(), c.numpy() @ w.matrix_.T, rtol=0, atol=1e-13)


@pytest.mark.parametrize("framework", ["jax", "tensorflow"])
def test_filter_bank_and_its_gradient_in_other_frameworks(rng, framework):
    lib = pytest.importorskip(framework)
    xp = cdig.backends.get_backend_by_name(framework).xp
    w = Wavelet("db3", level=3).fit(np.zeros((1, 1, 48)))
    m = w.matrix_
    x, c = rng.normal(size=(N, C, 48)).astype(np.float32), rng.normal(size=(N, C, 48)).astype(np.float32)
    if framework == "jax":
        jnp = lib.numpy
        z = lib.jit(lambda v: w.forward(v, xp))(jnp.asarray(x))
        back = w.inverse(z, xp)
        grad = lib.grad(lambda v: (w.inverse(v, xp) * jnp.asarray(c)).sum())(jnp.asarray(x))
    else:
        xt = lib.constant(x)
        traced = lib.function(lambda v: w.forward(v, xp), input_signature=[lib.TensorSpec([None, C, 48], lib.float32)])
        z = traced(xt)  # the batch axis unknown while tracing
        back = w.inverse(z, xp)
        with lib.GradientTape() as tape:
            tape.watch(xt)
            out = lib.reduce_sum(w.inverse(xt, xp) * lib.constant(c))
        grad = tape.gradient(out, xt)
    assert z.dtype.name == "float32"
    np.testing.assert_allclose(np.asarray(z), x.astype(np.float64) @ m.T, rtol=0, atol=2e-6)
    np.testing.assert_allclose(np.asarray(back), x, rtol=0, atol=2e-6)
    np.testing.assert_allclose(np.asarray(grad), c.astype(np.float64) @ m.T, rtol=0, atol=2e-6)


def test_long_signal_exact_with_compact_state(rng):
    """T = 2**17 (a dense W would hold 128 GiB): exact round trip and Parseval with O(1) fitted state."""
    t = 2**17
    x = rng.normal(size=(1, 2, t))
    w = Wavelet("db4", level=6).fit(x)
    assert all(np.size(v) <= 64 for v in vars(w).values() if isinstance(v, np.ndarray))  # fit stores no T-sized state
    xp, xt = torch_xp(), torch.as_tensor(x)
    z = w.forward(xt, xp)  # speed is measured in benchmarks/bench_scale.py, never asserted here
    back = w.inverse(z, xp)
    np.testing.assert_allclose(back.numpy(), x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sum(z.numpy() ** 2), np.sum(x**2), rtol=1e-12)  # Parseval
    np.testing.assert_allclose(z.numpy(), filter_bank_reference(x, w.filter_, 6), rtol=0, atol=1e-12)


def test_against_pywavelets_when_installed(rng):
    pywt = pytest.importorskip("pywt")
    x = rng.normal(size=(N, C, 256))
    for wavelet in WAVELETS:
        for level in (1, 3, 5):
            ours = Wavelet(wavelet, level=level).fit(x).forward(x, np)
            with warnings.catch_warnings():  # pywt: deep levels of long filters "experience boundary effects"
                warnings.simplefilter("ignore", UserWarning)  # (periodisation wraps them, as cdig does)
                theirs = np.concatenate(pywt.wavedec(x, wavelet, mode="periodization", level=level, axis=-1), axis=-1)
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


# --- attributions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("wavelet, level", [("haar", 3), ("db4", None)])
def test_linear_model_closed_form(rng, models, method, wavelet, level):
    w = rng.normal(size=(C, T))
    x, x0 = rng.normal(size=(N, C, T)), rng.normal(size=(N, C, T))
    model = models.Linear(w, 0.3).eval()
    res = cdig.explain(
        model, torch.as_tensor(x), [Wavelet(wavelet, level), WaveletPath(wavelet, level)], baselines=x0, n_steps=3, method=method
    )
    dom = Wavelet(wavelet, level).fit(x)
    m = synthesis_matrix(dom.filter_, T, dom.level_)  # x = M z, built independently of the domain
    dz = np.einsum("tk,nct->nck", m, x - x0)  # M is orthogonal: z = Mᵀ x
    expected = dz * np.einsum("tk,ct->ck", m, w)[None]  # Δz ⊙ (Mᵀ w)
    for name in ("wavelet", "wavelet_path"):
        a = res[name]
        assert a.values.shape == (N, C, T) and a.dims == ("channel", "coefficient")
        np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)
        np.testing.assert_allclose(a.extras["per_level"].sum(-1), a.values.sum(-1), atol=1e-12)
    np.testing.assert_allclose(expected.sum((1, 2)), (w * (x - x0)).sum((1, 2)), atol=1e-11)


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
@pytest.mark.parametrize("wavelet", ["haar", "db4", "db8"])
def test_completeness_smooth_model(models, act, wavelet):
    model = models.conv_net(channels=C, length=T, n_out=2, act=act, dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    res = cdig.explain(model, x, [Wavelet(wavelet), WaveletPath(wavelet)], target=1, n_steps=64, method="gausslegendre")
    for a in res.values():
        assert np.all(a.relative_delta < 1e-3), a.relative_delta


def test_shared_pass_equals_own_path_integral(models):
    model = models.conv_net(channels=C, length=T, n_out=3, act="gelu", dtype=torch.float64)
    x, x0 = torch.randn(N, C, T, dtype=torch.float64), torch.randn(N, C, T, dtype=torch.float64)
    res = cdig.explain(model, x, [Wavelet("db2"), WaveletPath("db2")], target=[0, 1, 2], baselines=x0, n_steps=12)
    scale = np.abs(res["wavelet"].values).max()
    np.testing.assert_allclose(res["wavelet"].values, res["wavelet_path"].values, rtol=0, atol=1e-11 * scale)


def test_shares_the_time_pass(models):
    counter = models.CallCounter(models.conv_net(channels=C, length=T, n_out=2, dtype=torch.float64))
    x = torch.randn(N, C, T, dtype=torch.float64)
    cdig.explain(counter, x, ("time",), target=0, n_steps=16)
    alone = counter.rows
    counter.reset()
    haar = Wavelet("haar", level=2)
    haar.name = "haar"  # two wavelet domains need distinct names
    res = cdig.explain(counter, x, ("time", Wavelet("db4"), haar), target=0, n_steps=16)
    assert counter.rows == alone
    assert res["wavelet"].values.shape == res["haar"].values.shape == (N, C, T)


@pytest.mark.parametrize("wavelet", ["haar", "db4"])
def test_planted_truth_finest_detail_energy(rng, wavelet):
    """A model that reads only the energy of the finest detail band D1 gets all attribution on D1."""
    dom = Wavelet(wavelet, level=3).fit(np.zeros((1, 1, T)))
    analysis = synthesis_matrix(dom.filter_, T, 3).T  # independent: z = Mᵀ x
    d1 = torch.as_tensor(analysis[T // 2 :])  # the last T/2 rows are cD_1

    class FinestDetailEnergy(torch.nn.Module):
        def forward(self, x):
            return (torch.einsum("kt,nct->nck", d1, x) ** 2).sum((1, 2))

    x = torch.as_tensor(rng.normal(size=(N, C, T)) + np.sin(np.arange(T) / 5.0))
    a = cdig.explain(FinestDetailEnergy(), x, [Wavelet(wavelet, level=3)], n_steps=8)["wavelet"]
    per_level = a.extras["per_level"]
    assert a.coords["band_name"].tolist() == ["A3", "D3", "D2", "D1"]
    np.testing.assert_allclose(per_level[..., :3], 0.0, atol=1e-12)
    np.testing.assert_allclose(per_level[..., 3].sum(-1), a.output - a.baseline_output, rtol=1e-10)
    # exactly: the attribution of each D1 coefficient to an energy from a zero baseline is its square
    np.testing.assert_allclose(a.values[..., T // 2 :], a.coefficients[..., T // 2 :] ** 2, rtol=1e-10, atol=1e-12)


def test_coords_layout_and_2d_input(rng, models):
    model = models.Linear(rng.normal(size=(T,))).eval()
    x = torch.as_tensor(rng.normal(size=(N, T)))
    a = cdig.explain(model, x, [Wavelet("db2", level=2)], n_steps=2, fs=32.0)["wavelet"]
    assert a.values.shape == (N, T) and a.dims == ("coefficient",)
    assert a.extras["per_level"].shape == (N, 3)
    co = a.coords
    assert "channel" not in co
    assert co["band_name"].tolist() == ["A2", "D2", "D1"]
    np.testing.assert_array_equal(co["band"], np.repeat([0, 1, 2], [16, 16, 32]))
    np.testing.assert_array_equal(co["level"], np.repeat([2, 2, 1], [16, 16, 32]))
    np.testing.assert_array_equal(co["position"], np.concatenate([np.arange(16), np.arange(16), np.arange(32)]))
    np.testing.assert_allclose(co["time"][-32:], np.arange(0, T, 2) / 32.0)
    np.testing.assert_allclose(co["time"][:16], np.arange(0, T, 4) / 32.0)
    assert a.units["time"] == "s"
    assert a.settings["domain"] == {
        "name": "wavelet",
        "class": "Wavelet",
        "linear": True,
        "wavelet": "db2",
        "level": 2,
        "mode": "periodization",
    }


def test_refits_for_a_new_length(rng):
    w = Wavelet("haar")
    assert w.fit(np.zeros((1, 1, 16))).level_ == 4
    assert w.fit(np.zeros((1, 1, 8))).matrix_.shape == (8, 8) and w.level_ == 3


# --- bad input -------------------------------------------------------------------------------------


def test_bad_inputs():
    with pytest.raises(cdig.CdigValueError, match="unknown wavelet 'sym4'.*db10"):
        Wavelet("sym4")
    with pytest.raises(cdig.CdigTypeError, match="wavelet must be a name"):
        Wavelet(4)
    with pytest.raises(cdig.CdigValueError, match="level=0"):
        Wavelet("haar", level=0)
    with pytest.raises(cdig.CdigValueError, match="level=True"):
        Wavelet("haar", level=True)
    with pytest.raises(cdig.CdigValueError, match="mode='symmetric'.*periodization"):
        Wavelet("haar", mode="symmetric")
    with pytest.raises(
        cdig.CdigValueError,
        match=r"level=3 needs a length divisible by 2\*\*3 = 8.*12 samples"
        r".*multiples of 8.*levels 1 .. 2",
    ):
        Wavelet("db2", level=3).fit(np.zeros((1, 1, 12)))
    with pytest.raises(cdig.CdigValueError, match=r"level=7 .* 64 samples.*levels 1 .. 6"):
        Wavelet("haar", level=7).fit(np.zeros((1, 1, 64)))
    with pytest.raises(cdig.CdigValueError, match="cannot decompose a signal of 63 samples.*even length"):
        Wavelet("db4").fit(np.zeros((1, 1, 63)))
    with pytest.raises(cdig.CdigValueError, match="odd"):
        Wavelet("db4", level=1).fit(np.zeros((1, 1, 63)))
    with pytest.raises(cdig.CdigValueError, match="not fitted"):
        Wavelet("haar").forward(np.zeros((1, 1, 8)), np)


def test_bad_length_through_explain(models):
    model = models.conv_net(channels=C, length=30, n_out=2)
    with pytest.raises(cdig.CdigValueError, match="level=2 needs a length divisible by 2\\*\\*2 = 4"):
        cdig.explain(model, torch.randn(2, C, 30), [Wavelet("haar", level=2)], target=0)


@pytest.mark.parametrize("framework", ["jax", "tensorflow"])
def test_other_backends_give_the_closed_form(rng, framework, foreign_linear):
    """A linear function in JAX / TensorFlow (channels last, float32) on the shared pass."""
    w = rng.normal(size=(C, T)).astype(np.float32)
    x = rng.normal(size=(N, T, C)).astype(np.float32)  # (N, T, C): the frameworks' default layout
    f, xin = foreign_linear(framework, w, x)
    a = cdig.explain(f, xin, [Wavelet("db3", level=2)], n_steps=2, backend=framework)["wavelet"]
    m = synthesis_matrix(daubechies(3), T, 2)
    xc = x.transpose(0, 2, 1).astype(np.float64)
    expected = np.einsum("tk,nct->nck", m, xc) * np.einsum("tk,ct->ck", m, w.astype(np.float64))[None]
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
