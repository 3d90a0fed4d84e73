"""What every backend must do, written once and run on each installed framework (the ``backend`` fixture,
tests/backends/conftest.py): the complex VJP through a domain's inverse, the path gradient and its
accumulation, backend detection, completeness on smooth models, targets, plain functions read afresh,
foreign arrays, tensor types and the channels-last default of TensorFlow and JAX.

What makes sense for one framework only (model kinds, training modes, Keras 3 on other backends,
JAX's x64) is in test_torch.py, test_tensorflow.py and test_jax.py.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import cdig
from cdig.backends import get_backend
from cdig.testing import make_conv_net

tr = sys.modules["_cdig_tests_triplets"]  # loaded by tests/backends/conftest.py

N, T, C = 3, 16, 3  # C = 3: the channels of the session's fitted_ica

#: the tests TensorFlow and JAX share (channels-last frameworks that take foreign arrays)
channels_last = pytest.mark.parametrize("backend", ["tensorflow", "jax"], indirect=True)


@pytest.fixture(scope="module")
def data(backend):
    rng = np.random.default_rng({"tensorflow": 7, "jax": 11}.get(backend.name, 0))
    w = rng.normal(size=(T, C)).astype(np.float32)
    x = rng.normal(size=(N, T, C)).astype(np.float32)
    x0 = (0.3 * rng.normal(size=(N, T, C))).astype(np.float32)
    return w, x, x0


@pytest.fixture(scope="module")
def conv(backend):
    """The conv classifier of ``_triplets.py`` as the framework's own model (jitted in JAX)."""
    model = backend.triplet(tr.conv_classifier(channels=C, length=T))
    return backend.compiled(model) if backend.name == "jax" else model


# --- the backend's primitives ---------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [16, 17])
def test_vjp_through_the_fourier_inverse_matches_finite_differences(backend, rng, n_times):
    """For complex ``z`` the backend's VJP is cdig's ∂/∂Re z + i ∂/∂Im z of <irfft(z), cotangent> (JAX's own
    is the conjugate), against float64 central differences."""
    f = n_times // 2 + 1
    z = rng.normal(size=(2, 2, f)) + 1j * rng.normal(size=(2, 2, f))
    cot = rng.normal(size=(2, 2, n_times))
    be = backend.cls(lambda v: v, backend.native(cot, backend.real))
    dom = cdig.Fourier().fit(np.zeros((2, 2, n_times)))
    g = backend.to_numpy(
        be.vjp(lambda zz: dom.inverse(zz, backend.xp), backend.native(z, backend.complex), backend.native(cot, backend.real))
    )
    assert g.dtype == backend.complex
    fd = tr.fourier_fd_gradient(z, cot, n_times)
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-8 if backend.x64 else 1e-5 * np.abs(fd).max())
    assert np.abs(g - np.conj(fd)).max() > 0.1 * np.abs(fd.imag).max()  # not the conjugate


def test_vjp_through_the_ica_inverse_is_the_transposed_mixing(backend, rng, fitted_ica):
    dom = cdig.ICA(fitted_ica).fit(np.zeros((2, 3, 8)))
    z, cot = rng.normal(size=(2, 3, 8)).astype(backend.real), rng.normal(size=(2, 3, 8)).astype(backend.real)
    be = backend.cls(lambda v: v, backend.native(cot))
    g = be.vjp(lambda zz: dom.inverse(zz, backend.xp), backend.native(z), backend.native(cot))
    tol = {"atol": 1e-12} if backend.x64 else {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(backend.to_numpy(g), np.einsum("ck,nct->nkt", fitted_ica.mixing_, cot), **tol)


def test_path_grad_and_accumulate_against_a_plain_loop(backend, rng):
    w = rng.normal(size=(2, 8)).astype(backend.real)
    wn = backend.native(w)

    def fn(points, idx):
        return backend.sin(backend.sum12(points * wn))

    be = backend.cls(fn, wn)
    start = rng.normal(size=(3, 2, 8)).astype(backend.real)
    delta = rng.normal(size=(3, 2, 8)).astype(backend.real)
    idx = np.array([0, 0, 2, 1, 2])
    alphas = np.array([0.1, 0.7, 0.5, 0.2, 0.9])
    grads, h = be.path_grad(fn, backend.native(start), backend.native(delta), idx, alphas, True)
    atol, atol_h = (1e-12, 1e-12) if backend.x64 else (1e-5, 1e-4)
    for r, (i, a) in enumerate(zip(idx, alphas)):
        p = start[i].astype(np.float64) + a * delta[i]
        expected = np.cos((p * w).sum()) * w
        np.testing.assert_allclose(backend.to_numpy(grads[r]), expected, atol=atol)
        np.testing.assert_allclose(h[r], float((delta[i] * expected).sum()), atol=atol_h)
    weights = np.array([0.5, 0.25, 1.0, 2.0, -1.0])
    acc = be.accumulate(be.zeros_like(backend.native(start)), idx, grads, weights)
    ref = np.zeros(start.shape)
    for r, i in enumerate(idx):
        ref[i] += weights[r] * backend.to_numpy(grads[r]).astype(np.float64)
    np.testing.assert_allclose(backend.to_numpy(acc), ref, atol=atol)


@channels_last
def test_backend_detection(backend, data, conv):
    import torch

    _, x, _ = data
    assert isinstance(get_backend(conv, x), backend.cls)
    assert isinstance(get_backend(conv, torch.as_tensor(x)), backend.cls)  # the model decides
    assert isinstance(get_backend(backend.compiled(lambda v: v), x), backend.cls)
    for inp in backend.natives(x):
        assert isinstance(get_backend(lambda v: v, inp), backend.cls)
    assert backend.cls.default_time_axis == 1


# --- completeness on smooth models ----------------------------------------------------------------


@channels_last
@pytest.mark.parametrize("builder,target", [("conv_classifier", 2), ("attention_regressor", None)])
def test_completeness_gausslegendre_64_in_every_domain(backend, builder, target):
    trip = getattr(tr, builder)()
    c, t = trip.shape
    x = backend.model_input(np.random.default_rng(1).normal(size=(N, t, c)).astype(np.float32))
    tr.assert_complete_every_domain(backend.triplet(trip), x, x * 0, target)


@channels_last
def test_nonlinear_path_with_complex_coefficients_matches_the_shared_pass(backend, data):
    """A domain flagged nonlinear integrates its own path in complex ``z`` (``path_grad`` on complex
    points, where JAX's conjugate convention matters): it must give the shared linear pass's map."""
    _, x, _ = data

    class FourierOwnPath(cdig.Fourier):
        name, linear = "fourier_own_path", False

    model, inp = backend.triplet(tr.conv_classifier(channels=C, length=T)), backend.model_input(x)
    for kw in ({}, {"multiply_by_inputs": False}):
        res = cdig.explain(model, inp, ["fourier", FourierOwnPath()], target=0, n_steps=16, **kw)
        tr.assert_maps_close(res["fourier"].values, res["fourier_own_path"].values, 1e-5)


# --- targets ------------------------------------------------------------------------------------------


@channels_last
@pytest.mark.parametrize("target", [(2, 1), [(0, 1), (3, 0), (2, 2)]], ids=["tuple", "tuple-per-sample"])
def test_tuple_targets_of_a_forecaster(backend, target, data):
    """``out[n, h, c] = Σ_{t,d} W[h, c, t, d] x[n, t, d]``: the map of output ``(h, c)`` is ``W[h, c] ⊙ x``."""
    _, x, _ = data
    weights = np.random.default_rng(5).normal(size=(4, C, T, C)).astype(np.float32)
    forecaster = backend.compiled(lambda v: backend.einsum("hctd,ntd->nhc", weights, v))
    a = cdig.explain(forecaster, backend.native(x), "time", target=target, n_steps=2)["time"]
    rows = [target] * N if isinstance(target, tuple) else target
    expected = np.stack([tr.transpose_last(weights[h, c] * x[i]) for i, (h, c) in enumerate(rows)])
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-6)


# --- plain functions and their Python state --------------------------------------------------------


@channels_last
def test_a_plain_function_is_read_afresh_by_every_explanation(backend, data):
    """A compiled trace is cached on the function's identity; cdig wraps a plain function afresh for every
    explanation, so Python state it reads (here a numpy array changed in place) is never stale."""
    w, x, _ = data
    weights = w.copy()

    def plain(v):
        return backend.sum12(v * weights)

    first = cdig.explain(plain, backend.native(x), "time", n_steps=4)["time"]
    weights *= 3.0  # the function itself now returns three times as much
    np.testing.assert_allclose(backend.to_numpy(plain(backend.native(x))), 3 * first.output, rtol=1e-5)
    second = cdig.explain(plain, backend.native(x), "time", n_steps=4)["time"]
    np.testing.assert_allclose(second.output, 3 * first.output, rtol=1e-5)
    np.testing.assert_allclose(second.values, 3 * first.values, rtol=1e-5, atol=1e-6)


# --- other frameworks' tensors -------------------------------------------------------------------------


def _foreign(kind: str, x: np.ndarray):
    """``x`` as another framework's array (or numpy float64)."""
    if kind.startswith("torch"):
        import torch

        inp = torch.as_tensor(x, dtype=torch.float64 if kind == "torch-float64" else torch.float32)
        return inp.requires_grad_(True) if kind == "torch-requires-grad" else inp
    if kind == "numpy-float64":
        return x.astype(np.float64)
    if kind == "jax":
        return pytest.importorskip("jax.numpy").asarray(x)
    tf = pytest.importorskip("tensorflow")
    return tf.Variable(x) if kind == "tf.Variable" else tf.constant(x)


@pytest.mark.parametrize(
    "backend,kind",
    [
        *[("tensorflow", k) for k in ("torch", "torch-float64", "torch-requires-grad", "jax", "numpy-float64", "tf.Variable")],
        *[("jax", k) for k in ("torch", "torch-float64", "tensorflow", "numpy-float64")],
    ],
    indirect=["backend"],
)
def test_foreign_inputs_to_its_model_are_converted(backend, kind, conv, data):
    _, x, _ = data
    ref = cdig.explain(conv, x, ["time", "fourier"], target=1, n_steps=16)
    res = cdig.explain(conv, _foreign(kind, x), ["time", "fourier"], target=1, n_steps=16)
    assert isinstance(res["time"].as_tensor(), backend.array_type)  # the model's framework
    for name in ref:
        assert res[name].settings["backend"] == backend.name and res[name].values.dtype == np.float32
        tr.assert_maps_close(ref[name].values, res[name].values, 1e-6, name)


@channels_last
def test_its_arrays_to_a_torch_model_are_converted(backend):
    net = make_conv_net(channels=2, length=T, n_out=3)
    x = np.random.default_rng(0).normal(size=(N, 2, T)).astype(np.float32)
    ref = cdig.explain(net, x, ["time", "fourier"], target=1, n_steps=16)
    res = cdig.explain(net, backend.native(x), ["time", "fourier"], target=1, n_steps=16)
    for name in ref:
        assert res[name].settings["backend"] == "torch" and res[name].settings["time_axis"] == 2
        np.testing.assert_array_equal(res[name].values, ref[name].values)


# --- tensors stay the framework's tensors ----------------------------------------------------------


@channels_last
def test_crossdomainig_returns_its_arrays_for_its_input(backend, data, conv):
    _, x, x0 = data
    ig = cdig.CrossDomainIG(conv, "fourier")
    attr, delta = ig.attribute(
        backend.native(x), baselines=backend.native(x0), target=2, n_steps=16, return_convergence_delta=True
    )
    assert isinstance(attr, backend.array_type) and isinstance(delta, backend.array_type)
    assert tuple(attr.shape) == (N, C, T // 2 + 1) and tuple(delta.shape) == (N,)
    assert "cpu" in ig.attribution_.settings["device"].lower()
    as_tensor = ig.attribution_.as_tensor()
    assert isinstance(as_tensor, backend.array_type)
    np.testing.assert_array_equal(backend.to_numpy(as_tensor), backend.to_numpy(attr))
    attr_np = ig.attribute(x, baselines=x0, target=2, n_steps=16)
    assert isinstance(attr_np, np.ndarray)
    np.testing.assert_array_equal(attr_np, backend.to_numpy(attr))
    assert isinstance(cdig.explain(conv, x, "time", target=2, n_steps=8)["time"].as_tensor(), backend.array_type)


# --- the time axis ------------------------------------------------------------------------------------


@channels_last
def test_channels_last_by_default_time_axis_minus_one_for_channels_first(backend, data, closed):
    w, x, x0 = data
    linear = backend.linear  # a linear model f(v) = <w, v> (+ b) of the framework, for a weight array w
    res = cdig.explain(linear(w), x, ["time", "fourier"], baselines=x0, n_steps=4)
    assert res["time"].settings["time_axis"] == 1
    tr.assert_linear_maps(res, w, x, x0, closed, None)
    # a channels-first model, (N, C, T): time_axis=-1 (or 2) overrides the default
    wc, xc, x0c = tr.transpose_last(w), tr.transpose_last(x), tr.transpose_last(x0)
    channels_first = linear(wc)
    for axis in (-1, 2):
        res = cdig.explain(channels_first, backend.model_input(xc), ["time", "fourier"], baselines=x0c, n_steps=4, time_axis=axis)
        assert res["time"].settings["time_axis"] == 2
        tr.assert_linear_maps(res, w, x, x0, closed, None)
    # without it the model's (C, T) input is read as (T, C): C "samples" of T channels
    wrong = cdig.explain(channels_first, backend.model_input(xc), "time", baselines=x0c, n_steps=4)["time"]
    assert wrong.values.shape == (N, T, C)
    # 2-D input is (N, T) in every framework; the maps have no channel axis
    univariate = cdig.explain(
        linear(w[:, 0]), backend.model_input(x[..., 0]), ["time", "fourier"], baselines=x0[..., 0], n_steps=4
    )
    assert univariate["time"].values.shape == (N, T) and univariate["fourier"].values.shape == (N, T // 2 + 1)
    np.testing.assert_allclose(univariate["time"].values, w[:, 0] * (x - x0)[..., 0], rtol=1e-5, atol=1e-6)
