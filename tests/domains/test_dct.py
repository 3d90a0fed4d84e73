"""The DCT domain: scipy.fft.dct as the independent reference, closed forms, completeness, planted
truth (a model reading one coefficient), the shared pass, coordinates and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from scipy.fft import dct, idct

import cdig
from cdig.core.errors import CdigValueError
from cdig.core.rules import RULES
from cdig.domains.dct import DCT

N, C = 3, 2


@pytest.mark.parametrize("kind", [2, 3])
@pytest.mark.parametrize("n_times", [16, 33])
def test_transform_matches_scipy_and_inverts(rng, kind, n_times):
    x = rng.normal(size=(N, C, n_times))
    d = DCT(type=kind).fit(x)
    z = d.forward(x, np)
    np.testing.assert_allclose(z, dct(x, type=kind, norm="ortho", axis=-1), atol=1e-12)
    np.testing.assert_allclose(d.inverse(z, np), x, atol=1e-12)
    np.testing.assert_allclose(d.inverse(z, np), idct(z, type=kind, norm="ortho", axis=-1), atol=1e-12)
    from array_api_compat import torch as xp

    xt = torch.as_tensor(x, dtype=torch.float32)
    back = d.inverse(d.forward(xt, xp), xp)
    assert back.dtype == torch.float32
    np.testing.assert_allclose(back.numpy(), x, atol=2e-5)


@pytest.mark.parametrize("kind", [2, 3])
@pytest.mark.parametrize("n_times", [1, 2, 3, 8, 31, 64, 101])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_fast_transform_matches_scipy_for_every_length_dtype_and_rank(rng, kind, n_times, dtype, shape):
    """The FFT-based transform against scipy.fft.dct / idct: odd and even T, 2-D and 3-D input."""
    from array_api_compat import torch as xp

    x = rng.normal(size=shape + (n_times,))
    d = DCT(type=kind).fit(x)
    ref = dct(x, type=kind, norm="ortho", axis=-1)
    tol = dict(rtol=0, atol=1e-12) if dtype == np.float64 else dict(rtol=0, atol=1e-5 * np.abs(ref).max())
    for z in (d.forward(x.astype(dtype), np), d.forward(torch.as_tensor(x.astype(dtype)), xp)):
        z = np.asarray(z)
        assert z.dtype == dtype and z.shape == x.shape
        np.testing.assert_allclose(z, ref, **tol)
    for back in (d.inverse(ref.astype(dtype), np), d.inverse(torch.as_tensor(ref.astype(dtype)), xp)):
        back = np.asarray(back)
        assert back.dtype == dtype
        np.testing.assert_allclose(back, idct(ref, type=kind, norm="ortho", axis=-1), **tol)
        np.testing.assert_allclose(back, x, **tol)


@pytest.mark.parametrize("kind", [2, 3])
@pytest.mark.parametrize("n_times", [7, 12])
def test_gradient_through_the_inverse_is_the_matrix_transpose(rng, kind, n_times):
    """Autograd through the inverse: the vector–Jacobian product with w is D w (D = scipy's matrix),
    and torch's finite-difference check passes."""
    from array_api_compat import torch as xp

    d = DCT(type=kind).fit(np.zeros((1, 1, n_times)))
    matrix = dct(np.eye(n_times), type=kind, norm="ortho", axis=0)  # z = D x, x = Dᵀ z
    w = rng.normal(size=(2, 3, n_times))
    z = torch.as_tensor(rng.normal(size=(2, 3, n_times)), dtype=torch.float64).requires_grad_(True)
    (d.inverse(z, xp) * torch.as_tensor(w)).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), w @ matrix.T, rtol=0, atol=1e-12)
    zf = z.detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: torch.tanh(d.inverse(v, xp)) ** 2, (zf,))
    assert torch.autograd.gradcheck(lambda v: torch.sin(d.forward(v, xp)), (zf,))


@pytest.mark.parametrize("framework", ["tensorflow", "jax"])
@pytest.mark.parametrize("kind", [2, 3])
def test_gradient_through_the_inverse_on_other_frameworks(rng, framework, kind):
    n_times = 9
    d = DCT(type=kind).fit(np.zeros((1, 1, n_times)))
    w = rng.normal(size=(2, 1, n_times)).astype(np.float32)
    z = rng.normal(size=(2, 1, n_times)).astype(np.float32)
    if framework == "tensorflow":
        tf = pytest.importorskip("tensorflow")
        from cdig.backends.tensorflow import TFNamespace

        zt = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(zt)
            loss = tf.reduce_sum(d.inverse(zt, TFNamespace) * w)
        grad = tape.gradient(loss, zt).numpy()
    else:
        jax = pytest.importorskip("jax")
        jnp = jax.numpy
        grad = np.asarray(jax.grad(lambda v: jnp.sum(d.inverse(v, jnp) * w))(jnp.asarray(z)))
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, dct(w.astype(np.float64), type=kind, norm="ortho", axis=-1), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", [2, 3])
def test_long_signal_is_exact_and_needs_no_matrix(rng, kind):
    """T = 2**17: the dense matrix would need 128 GiB; the FFT path is exact with O(T) state."""

    from array_api_compat import torch as xp

    n_times = 2**17
    x = rng.normal(size=(1, 1, n_times))
    d = DCT(type=kind).fit(x)
    arrays = [a for v in vars(d).values() for a in (v if isinstance(v, tuple) else (v,))]
    assert sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) < 64 * n_times  # O(T), not T²
    xt = torch.as_tensor(x)
    z = d.forward(xt, xp)  # speed is measured in benchmarks/bench_scale.py, never asserted here
    back = d.inverse(z, xp)
    np.testing.assert_allclose(back.numpy(), x, rtol=0, atol=1e-10)
    np.testing.assert_allclose(z.numpy(), dct(x, type=kind, norm="ortho", axis=-1), rtol=0, atol=1e-10)


def test_a_batch_of_another_length_is_refused():
    d = DCT().fit(np.zeros((1, 1, 8)))
    with pytest.raises(CdigValueError, match="fitted to 8 samples, got an array with 9"):
        d.forward(np.zeros((1, 1, 9)), np)
    with pytest.raises(CdigValueError, match="fitted to 8 samples"):
        d.inverse(np.zeros((1, 1, 4)), np)


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("kind", [2, 3])
def test_linear_model_closed_form(rng, models, method, kind):
    """f(x) = <w, x>: x = Dᵀz, so ∂g/∂z = D w and A = Δz ⊙ D w (exact for every rule)."""
    n_times = 40
    w = rng.normal(size=(C, n_times))
    x, x0 = rng.normal(size=(N, C, n_times)), rng.normal(size=(N, C, n_times))
    a = cdig.explain(models.Linear(w, -0.2).eval(), torch.as_tensor(x), DCT(type=kind), baselines=x0, n_steps=3, method=method)[
        "dct"
    ]
    dz = dct(x - x0, type=kind, norm="ortho", axis=-1)
    expected = dz * dct(w, type=kind, norm="ortho", axis=-1)
    assert a.values.shape == (N, C, n_times) and a.dims == ("channel", "frequency")
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.sum(), (w * (x - x0)).sum((1, 2)), atol=1e-12)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-12)
    np.testing.assert_allclose(a.coefficients, dct(x, type=kind, norm="ortho", axis=-1), atol=1e-12)
    assert not np.iscomplexobj(a.values)


@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_completeness_smooth_model(models, act):
    model = models.conv_net(channels=C, length=48, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, 48, dtype=torch.float64)
    a = cdig.explain(model, x, ["time", DCT()], target=2, n_steps=64, method="gausslegendre")["dct"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    np.testing.assert_allclose(a.sum() - (a.output - a.baseline_output), a.delta, atol=1e-12)


def test_shares_the_time_pass(models):
    counter = models.CallCounter(models.conv_net(channels=C, length=40, n_out=2, dtype=torch.float64))
    x = torch.randn(N, C, 40, dtype=torch.float64)
    cdig.explain(counter, x, ("time",), target=1, n_steps=16)
    rows_time = counter.rows
    counter.reset()
    cdig.explain(counter, x, ("time", "fourier", DCT()), target=1, n_steps=16)
    assert counter.rows == rows_time


class OneCoefficient(torch.nn.Module):
    """Planted truth: a nonlinear function of DCT-II coefficient ``k`` (orthonormal) of channel 0 only."""

    def __init__(self, n_times: int, k: int) -> None:
        super().__init__()
        self.register_buffer("basis", torch.as_tensor(dct(np.eye(n_times), norm="ortho", axis=0)[k]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x[:, 0] @ self.basis) ** 2 + 0.5 * torch.sin(x[:, 0] @ self.basis)


def test_model_reading_one_coefficient_gives_it_all_the_attribution():
    n_times, k = 64, 7
    model = OneCoefficient(n_times, k)
    x = torch.randn(5, C, n_times, dtype=torch.float64)
    a = cdig.explain(model, x, DCT(), n_steps=64, fs=128.0)["dct"]
    rest = np.ones(a.values.shape[1:], bool)
    rest[0, k] = False
    np.testing.assert_allclose(a.values[:, rest], 0.0, atol=1e-12)
    np.testing.assert_allclose(a.values[:, 0, k], a.output - a.baseline_output, rtol=1e-6)
    assert a.coords["frequency"][k] == pytest.approx(k * 128.0 / (2 * n_times))  # 7 Hz


@pytest.mark.parametrize("fs", [None, 50.0])
@pytest.mark.parametrize("kind", [2, 3])
def test_coordinates(rng, models, fs, kind):
    n_times = 25
    model = models.Linear(rng.normal(size=(C, n_times)), 0.0).eval()
    a = cdig.explain(model, torch.as_tensor(rng.normal(size=(2, C, n_times))), DCT(type=kind), n_steps=1, fs=fs)["dct"]
    shift = 0.5 if kind == 3 else 0.0
    scale = 1.0 if fs is None else fs
    np.testing.assert_allclose(a.coords["frequency"], (np.arange(n_times) + shift) / (2 * n_times) * scale)
    assert a.units["frequency"] == ("cycles/sample" if fs is None else "Hz")
    assert a.settings["domain"] == {"name": "dct", "class": "DCT", "linear": True, "type": kind, "norm": "ortho"}


def test_tensorflow_model_matches_torch(rng):
    tf = pytest.importorskip("tensorflow")
    w = rng.normal(size=(C, 24)).astype(np.float32)
    x = rng.normal(size=(N, C, 24)).astype(np.float32)
    wt = tf.constant(w)
    f_tf = tf.function(lambda v: tf.tanh(0.3 * tf.reduce_sum(v * wt, axis=[1, 2])))
    a = cdig.explain(f_tf, tf.constant(x), DCT(), n_steps=64, time_axis=-1, backend="tensorflow")["dct"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    wp = torch.as_tensor(w)
    b = cdig.explain(lambda v: torch.tanh(0.3 * (v * wp).sum((1, 2))), torch.as_tensor(x), DCT(), n_steps=64, backend="torch")[
        "dct"
    ]
    np.testing.assert_allclose(a.values, b.values, atol=2e-4 * np.abs(b.values).max())


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(type=1), "type=1"),
        (dict(type=4), "type=4"),
        (dict(type=True), "type=True"),
        (dict(norm=None), "norm=None"),
        (dict(norm="backward"), "norm='backward'"),
    ],
)
def test_bad_parameters(kw, match):
    with pytest.raises(CdigValueError, match=re.escape(match)):
        DCT(**kw)


def test_unfitted_domain_is_refused():
    with pytest.raises(CdigValueError, match="not fitted"):
        DCT().forward(np.zeros((1, 1, 8)), np)
