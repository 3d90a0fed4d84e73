"""Parity: the same network with the same weights in PyTorch, Keras and JAX gives the same maps.

The triplets (see ``_triplets.py``) copy PyTorch's weights into Keras and into a JAX parameter
pytree. PyTorch gets ``(N, C, T)`` and Keras/JAX ``(N, T, C)``, each with its default ``time_axis``;
the maps come out in the same ``(N, C, ...)`` layout and must agree to ``1e-5 · max|map|`` in every
domain, for every integration rule, for every kind of target and through ``CrossDomainIG``.
"""

from __future__ import annotations

import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import cdig  # noqa: E402

if keras.backend.backend() != "tensorflow":  # pragma: no cover - depends on KERAS_BACKEND
    pytest.skip("the parity triplets need Keras on the TensorFlow backend", allow_module_level=True)


tr = sys.modules["_cdig_tests_triplets"]  # loaded by tests/backends/conftest.py

N = 4
FRAMEWORKS = ("torch", "keras", "jax")
BACKEND_OF = {"torch": "torch", "keras": "tensorflow", "jax": "jax"}
ARRAY_TYPES = {"torch": torch.Tensor, "keras": tf.Tensor, "jax": jax.Array}


def _native(framework: str, a: np.ndarray):
    """``a`` as the framework's own tensor type."""
    return {"torch": torch.as_tensor, "keras": tf.constant, "jax": jnp.asarray}[framework](a)


def _triplet(builder, target, **kw) -> SimpleNamespace:
    trip = builder(**kw)
    c, t = trip.shape
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, c, t)).astype(np.float32)
    x0 = (0.2 * rng.normal(size=(N, c, t))).astype(np.float32)
    layout = {"torch": lambda a: a, "keras": tr.to_channels_last, "jax": tr.to_channels_last}
    return SimpleNamespace(
        models={"torch": trip.torch, "keras": trip.make_keras(), "jax": trip.make_jax().fn},
        x=x,
        x0=x0,
        inputs={fw: layout[fw](x) for fw in FRAMEWORKS},
        baselines={fw: layout[fw](x0) for fw in FRAMEWORKS},
        ica=tr.fit_ica(c),
        target=target,
        n_out=trip.n_out,
    )


@pytest.fixture(scope="module")
def conv():
    return _triplet(tr.conv_classifier, target=1, channels=2, length=32, n_classes=3)


@pytest.fixture(scope="module")
def attention():
    return _triplet(tr.attention_regressor, target=None, channels=3, length=24)


@pytest.fixture(params=["conv", "attention"])
def triplet(request):
    return request.getfixturevalue(request.param)


def _explain_all(trip, native: bool = True, **kw) -> tuple[dict, dict]:
    """``cdig.explain`` in the three frameworks; returns results and the cdig warnings each raised."""
    domains = kw.pop("domains", None)
    res, caught = {}, {}
    for fw in FRAMEWORKS:
        inp = _native(fw, trip.inputs[fw]) if native else trip.inputs[fw]
        base = _native(fw, trip.baselines[fw]) if native else trip.baselines[fw]
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            doms = domains or ["time", "fourier", cdig.ICA(trip.ica)]
            backend = None if native else BACKEND_OF[fw]  # numpy cannot tell which framework runs a closure
            res[fw] = cdig.explain(trip.models[fw], inp, doms, baselines=base, backend=backend, **kw)
        caught[fw] = sorted(
            (type(w.message).__name__, str(w.message).split("]")[0]) for w in rec if issubclass(w.category, cdig.CdigWarning)
        )
    return res, caught


def _assert_same(res: dict, rel: float = 1e-5) -> None:
    ref = res["torch"]
    for fw in ("keras", "jax"):
        assert res[fw].keys() == ref.keys()
        for name, a in ref.items():
            b = res[fw][name]
            what = f"{fw} vs torch, {name}"
            assert b.settings["backend"] == BACKEND_OF[fw]
            assert b.dims == a.dims and b.values.shape == a.values.shape, what
            assert b.values.dtype == a.values.dtype, what
            tr.assert_maps_close(a.values, b.values, rel, what)
            for k, v in a.extras.items():
                tr.assert_maps_close(v, b.extras[k], rel, f"{what}, extras[{k}]")
            assert a.coords.keys() == b.coords.keys()
            for k in a.coords:
                np.testing.assert_array_equal(b.coords[k], a.coords[k])
            np.testing.assert_array_equal(b.n_steps, a.n_steps)
            scale = float(np.abs(a.output).max())
            np.testing.assert_allclose(b.output, a.output, rtol=1e-5, atol=1e-6 * scale, err_msg=what)
            np.testing.assert_allclose(b.baseline_output, a.baseline_output, rtol=1e-5, atol=1e-6 * scale)
            np.testing.assert_allclose(b.delta, a.delta, rtol=0, atol=rel * float(np.abs(a.values).sum()))
            tr.assert_maps_close(a.coefficients, b.coefficients, 1e-6, f"{what}, coefficients")


# --- the triplets are the same function ------------------------------------------------------------


def test_triplets_compute_the_same_function(triplet):
    with torch.no_grad():
        ref = triplet.models["torch"](torch.as_tensor(triplet.x)).numpy()
    for fw in ("keras", "jax"):
        out = np.asarray(triplet.models[fw](_native(fw, triplet.inputs[fw])))
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    assert np.abs(ref).max() > 1e-2  # not a degenerate (all-zero) network


# --- maps, every domain, every rule ----------------------------------------------------------------


@pytest.mark.parametrize("method,n_steps", [(m, 32) for m in cdig.RULES] + [("gausslegendre", "auto")], ids=[*cdig.RULES, "auto"])
def test_maps_agree_in_every_domain_and_rule(triplet, method, n_steps):
    res, caught = _explain_all(triplet, target=triplet.target, n_steps=n_steps, method=method)
    _assert_same(res)
    # the same convergence warnings (a coarse Riemann rule warns in all three, or in none)
    assert caught["keras"] == caught["torch"] and caught["jax"] == caught["torch"]
    if method == "gausslegendre":
        assert not caught["torch"]
        for a in res["torch"].values():
            assert np.all(a.relative_delta < 1e-3)


def test_integrated_gradients_agree_without_multiplying(conv):
    """``multiply_by_inputs=False``: the complex ∫∂g/∂z of the Fourier domain agrees (conjugation convention)."""
    res, _ = _explain_all(conv, target=1, n_steps=32, multiply_by_inputs=False)
    assert np.iscomplexobj(res["torch"]["fourier"].values)
    _assert_same(res)


# --- targets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0, [2, 0, 1, 2], (1,), "callable"], ids=["int", "list", "tuple", "callable"])
def test_classifier_targets_agree(conv, target):
    if isinstance(target, str):

        def target(out):  # works on torch, TensorFlow and JAX arrays alike
            return out[:, 0] - 2.0 * out[:, 2]

    res, _ = _explain_all(conv, native=False, target=target, n_steps=32, domains=["time", "fourier"])
    _assert_same(res)
    if isinstance(target, list):
        with torch.no_grad():
            logits = conv.models["torch"](torch.as_tensor(conv.x)).numpy()
        np.testing.assert_allclose(res["jax"]["time"].output, logits[np.arange(N), target], rtol=1e-5)


@pytest.mark.parametrize("keepdim,target", [(True, None), (True, 0), (False, None)], ids=["(N,1)-None", "(N,1)-0", "(N,)-None"])
def test_regressor_targets_agree(attention, keepdim, target):
    trip = attention if keepdim else _triplet(tr.attention_regressor, None, channels=3, length=24, keepdim=False)
    res, _ = _explain_all(trip, native=False, target=target, n_steps=32, domains=["time", "fourier"])
    _assert_same(res)


# --- CrossDomainIG -----------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["time", "fourier", "ica"])
def test_crossdomainig_attribute_agrees_and_keeps_the_tensor_type(conv, domain):
    attrs, deltas = {}, {}
    for fw in FRAMEWORKS:
        dom = cdig.ICA(conv.ica) if domain == "ica" else domain
        ig = cdig.CrossDomainIG(conv.models[fw], dom)
        attr, delta = ig.attribute(
            _native(fw, conv.inputs[fw]),
            baselines=_native(fw, conv.baselines[fw]),
            target=1,
            n_steps=32,
            return_convergence_delta=True,
        )
        assert isinstance(attr, ARRAY_TYPES[fw]) and isinstance(delta, ARRAY_TYPES[fw]), fw
        assert isinstance(ig.attribution_.as_tensor(), ARRAY_TYPES[fw]), fw
        attrs[fw], deltas[fw] = np.asarray(attr), np.asarray(delta)
    for fw in ("keras", "jax"):
        if domain == "time":  # Captum's contract: the input's own layout, (N, T, C) for channels-last frameworks
            assert attrs[fw].shape == np.asarray(conv.inputs[fw]).shape, fw
            attrs[fw] = np.moveaxis(attrs[fw], 1, -1)
        tr.assert_maps_close(attrs["torch"], attrs[fw], what=f"{fw} {domain}")
        np.testing.assert_allclose(deltas[fw], deltas["torch"], atol=1e-5 * np.abs(attrs["torch"]).sum())


# --- which framework runs a plain function -------------------------------------------------------------


def _quadratic(v):
    """``2 v[:, 0] + v[:, 3]²``, spelt with operators every framework understands."""
    return 2.0 * v[:, 0] + v[:, 3] ** 2


def test_plain_function_on_numpy_needs_a_backend_when_several_are_imported():
    assert {"torch", "tensorflow", "jax"} <= set(sys.modules)
    x = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    with pytest.raises(cdig.CdigTypeError, match="backend=") as err:
        cdig.explain(_quadratic, x, "time")
    for name in ("torch", "tensorflow", "jax"):
        assert name in str(err.value)
    # IG of 2·x0 + x3² from the zero baseline is exactly (2·x0, x3²) (Gauss–Legendre integrates it exactly)
    expected = np.zeros_like(x)
    expected[:, 0], expected[:, 3] = 2 * x[:, 0], x[:, 3] ** 2
    for backend in ("torch", "tensorflow", "jax"):
        a = cdig.explain(_quadratic, x, ["time", "fourier"], backend=backend, n_steps=4)
        assert a["time"].settings["backend"] == backend
        np.testing.assert_allclose(a["time"].values, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a["fourier"].sum(), expected.sum(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mxnet", "Torch", "keras", ""])
def test_unknown_backend_name(name):
    with pytest.raises(cdig.CdigValueError, match="accepted: jax, tensorflow, torch"):
        cdig.explain(_quadratic, np.ones((2, 8), np.float32), "time", backend=name)
