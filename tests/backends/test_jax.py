"""The JAX backend: plain, jitted and parameter-closure functions, closed forms, targets and chunks,
errors instead of silent zeros, inputs of other frameworks, and double precision (in a subprocess:
``jax_enable_x64`` is process-wide).

What JAX shares with the other backends (the complex VJP, whose sign convention is the conjugate of
JAX's own, completeness, foreign inputs, tensor types, the channels-last default, ...) is tested in
test_backends.py.
"""

from __future__ import annotations

import dataclasses
import functools
import sys

import numpy as np
import pytest
import torch

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import cdig  # noqa: E402

tr = sys.modules["_cdig_tests_triplets"]  # loaded by tests/backends/conftest.py

N, T, C = 3, 16, 3  # C = 3: the channels of the session's fitted_ica

pytestmark = pytest.mark.skipif(jax.config.read("jax_enable_x64"), reason="these tests expect JAX's default float32")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    w = rng.normal(size=(T, C)).astype(np.float32)
    x = rng.normal(size=(N, T, C)).astype(np.float32)
    x0 = (0.3 * rng.normal(size=(N, T, C))).astype(np.float32)
    return w, x, x0


# --- every kind of JAX model ---------------------------------------------------------------------------


class _Callable:
    """An object with ``__call__`` holding its parameters (hashable by identity)."""

    def __init__(self, params):
        self.params = params

    def __call__(self, v):
        return _apply(self.params, v)


def _apply(params, v):
    """A Flax-style ``apply(params, x)``."""
    return (v * params["w"]).sum(axis=(1, 2)) + params["b"]


@pytest.fixture(scope="module")
def kinds(data):
    w, _, _ = data
    params = {"w": jnp.asarray(w), "b": jnp.asarray(0.5, dtype=jnp.float32)}

    def plain(v):
        return _apply(params, v)

    jitted = jax.jit(plain)
    return {  # kind -> (model, input type, extra explain kwargs)
        "plain-jax-input": (plain, "jax", {}),
        "plain-numpy-backend": (plain, "numpy", {"backend": "jax"}),
        "jit-numpy": (jitted, "numpy", {}),
        "jit-jax": (jitted, "jax", {}),
        "params-closure": (lambda v: _apply(params, v), "jax", {}),
        "params-partial": (functools.partial(_apply, params), "jax", {}),
        "jit-params-partial-numpy": (jax.jit(functools.partial(_apply, params)), "numpy", {}),
        "callable-object": (_Callable(params), "jax", {}),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "plain-jax-input",
        "plain-numpy-backend",
        "jit-numpy",
        "jit-jax",
        "params-closure",
        "params-partial",
        "jit-params-partial-numpy",
        "callable-object",
    ],
)
def test_every_kind_of_function_gives_the_closed_form(kind, kinds, data, closed, fitted_ica):
    w, x, x0 = data
    model, input_type, kw = kinds[kind]
    inp = jnp.asarray(x) if input_type == "jax" else x
    res = cdig.explain(model, inp, ["time", "fourier", cdig.ICA(fitted_ica)], baselines=x0, n_steps=4, **kw)
    tr.assert_linear_maps(res, w, x, x0, closed, fitted_ica)
    a = res["time"]
    assert a.settings["backend"] == "jax" and a.settings["time_axis"] == 1
    assert a.values.shape == (N, C, T) and res["fourier"].values.shape == (N, C, T // 2 + 1)
    np.testing.assert_allclose(a.output, (x * w).sum(axis=(1, 2)) + 0.5, rtol=1e-5)


@pytest.mark.parametrize("frozen", [False, True])
def test_unhashable_callable_modules(frozen, data, closed):
    """Dataclass modules (eq=True; frozen ones hash their arrays, as Equinox's) are not hashable: jax.jit of
    the object itself would fail, so the backend must wrap it."""
    w, x, x0 = data

    @dataclasses.dataclass(frozen=frozen)
    class Module:
        w: jax.Array

        def __call__(self, v):
            return (v * self.w).sum(axis=(1, 2))

    if frozen:  # a pytree, like an Equinox module: its hash would hash the arrays
        jax.tree_util.register_pytree_node(Module, lambda m: ((m.w,), None), lambda _, ch: Module(*ch))
    res = cdig.explain(Module(jnp.asarray(w)), jnp.asarray(x), ["time", "fourier"], baselines=x0, n_steps=4)
    tr.assert_linear_maps(res, w, x, x0, closed, None)


def test_float64_input_runs_in_float32_without_x64(data, closed):
    w, x, x0 = data
    res = cdig.explain(
        jax.jit(lambda v: (v * w).sum(axis=(1, 2))), x.astype(np.float64), ["time", "fourier"], baselines=x0, n_steps=4
    )
    assert res["time"].values.dtype == np.float32 and res["fourier"].coefficients.dtype == np.complex64
    tr.assert_linear_maps(res, w, x, x0, closed, None)


@pytest.fixture(scope="module")
def jax_conv():
    return jax.jit(tr.conv_classifier(channels=C, length=T).make_jax().fn)


# --- targets, extra arguments, chunks ---------------------------------------------------------------


def test_targets_as_arrays_extra_arguments_and_chunks(data, jax_conv):
    w, x, _ = data
    fn = jax_conv
    ref = cdig.explain(fn, x, ["time", "fourier"], target=[0, 2, 1], n_steps=16)
    as_array = cdig.explain(fn, jnp.asarray(x), ["time", "fourier"], target=jnp.asarray([0, 2, 1]), n_steps=16)
    chunked = cdig.explain(fn, x, ["time", "fourier"], target=np.array([0, 2, 1]), n_steps=16, internal_batch_size=7)
    for name in ref:
        tr.assert_maps_close(ref[name].values, as_array[name].values, 1e-6)
        tr.assert_maps_close(ref[name].values, chunked[name].values, 1e-6)

    def scaled(v, s):
        return (v * w).sum(axis=(1, 2)) * s

    s = np.array([1.0, -2.0, 3.0], dtype=np.float32)  # split with the batch
    a = cdig.explain(scaled, jnp.asarray(x), "time", additional_forward_args=(jnp.asarray(s),), n_steps=4, internal_batch_size=5)[
        "time"
    ]
    np.testing.assert_allclose(a.values, tr.transpose_last(w * x) * s[:, None, None], rtol=1e-5, atol=1e-6)


# --- structured outputs and keyword arguments (the engine's ModelCall) ----------------------------------


@pytest.fixture(scope="module")
def structured(data):
    """Jitted functions returning ``{"aux": a, "y": y}`` and ``(a, y)``, with a per-sample keyword ``scale``:
    ``a = <wa, x> scale``, ``y[:, k] = <w_k, x> scale``, so every map has a closed form."""
    w, _, _ = data
    rng = np.random.default_rng(5)
    wa, w1 = (rng.normal(size=(T, C)).astype(np.float32) for _ in range(2))

    def parts(v, scale):
        a = (v * wa).sum(axis=(1, 2)) * scale
        y = jnp.stack([(v * w).sum(axis=(1, 2)), (v * w1).sum(axis=(1, 2))], axis=1) * scale[:, None]
        return a, y

    models = {
        "dict": jax.jit(lambda v, scale: dict(zip(("aux", "y"), parts(v, scale)))),
        "tuple": jax.jit(parts),
        "dict-plain": lambda v, scale: dict(zip(("aux", "y"), parts(v, scale))),
    }
    return models, {"aux": wa, 0: w, 1: w1}


@pytest.mark.parametrize(
    "kind,select",
    [("dict", "y"), ("dict", "default"), ("dict", "callable"), ("tuple", "y"), ("tuple", "default"), ("dict-plain", "y")],
)
def test_structured_outputs_and_keyword_arguments(kind, select, structured, data, closed):
    """``output=`` picks the tensor (a key or index, a callable, or by default the first tensor), and
    ``additional_forward_args={"scale": s}`` passes a per-sample keyword, split with the batch across
    chunks: the maps are the closed forms ``w ⊙ x · s`` (zero baseline)."""
    models, weights = structured
    _, x, _ = data
    s = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    output = {"y": "y" if kind != "tuple" else 1, "default": None, "callable": lambda out: out[1 if kind == "tuple" else "y"]}[
        select
    ]
    target = None if select == "default" else 1
    res = cdig.explain(
        models[kind],
        jnp.asarray(x),
        ("time", "fourier"),
        target=target,
        output=output,
        additional_forward_args={"scale": jnp.asarray(s)},
        n_steps=4,
        internal_batch_size=5,
    )
    wt = weights["aux"] if select == "default" else weights[1]
    expected = tr.transpose_last(wt * x).astype(np.float64) * s[:, None, None]
    tr.assert_maps_close(expected, res["time"].values, 2e-6, "time")
    scaled = closed.fourier_linear_map(tr.transpose_last(x).astype(np.float64), 0.0 * tr.transpose_last(x), tr.transpose_last(wt))
    tr.assert_maps_close(scaled * s[:, None, None], res["fourier"].values, 2e-6, "fourier")
    np.testing.assert_allclose(res["time"].output, expected.sum(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_a_jitted_function_keeps_its_compiled_default_after_a_selection(structured, data):
    """The cache of user-jitted functions holds the default call only: an explanation with ``output=``
    does not change what the next explanation of the same function explains."""
    models, weights = structured
    _, x, _ = data
    kw = {"additional_forward_args": (np.ones(N, dtype=np.float32),), "n_steps": 2}  # positional: the default call
    first = cdig.explain(models["dict"], x, "time", **kw)["time"]
    picked = cdig.explain(models["dict"], x, "time", target=0, output="y", **kw)["time"]
    again = cdig.explain(models["dict"], x, "time", **kw)["time"]
    tr.assert_maps_close(tr.transpose_last(weights["aux"] * x), first.values, 2e-6)
    tr.assert_maps_close(tr.transpose_last(weights[0] * x), picked.values, 2e-6)
    tr.assert_maps_close(tr.transpose_last(weights["aux"] * x), again.values, 2e-6)


def test_the_compiled_cache_does_not_keep_a_jitted_function_alive(data):
    import gc
    import weakref

    w, x, _ = data
    fn = jax.jit(lambda v: (v * w).sum(axis=(1, 2)))
    cdig.explain(fn, x, "time", n_steps=2)
    ref = weakref.ref(fn)
    del fn
    gc.collect()
    assert ref() is None


# --- errors, not silent zeros -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case,jit", [("round", True), ("astype-int32", False), ("astype-int32", True), ("stop_gradient", False), ("int-output", True)]
)
def test_a_function_without_a_gradient_is_an_error(case, jit, data):
    w, x, _ = data

    def model(v):
        if case == "round":
            v = jnp.round(4.0 * v)
        elif case == "astype-int32":
            v = (4.0 * v).astype(jnp.int32).astype(jnp.float32)
        elif case == "stop_gradient":
            v = jax.lax.stop_gradient(v)
        y = (v * w).sum(axis=(1, 2))
        return (100.0 * y).astype(jnp.int32) if case == "int-output" else y

    with pytest.raises(cdig.CdigModelError, match="gradient|integer"):
        cdig.explain(jax.jit(model) if jit else model, jnp.asarray(x), ["time", "fourier"], n_steps=8)


# --- other frameworks' tensors -------------------------------------------------------------------------


def test_a_plain_jax_function_on_a_tf_tensor_with_backend_jax(data):
    """A plain function cannot be told apart from a TensorFlow one: the input's framework would run
    it, so ``backend="jax"`` names the one that can."""
    tf = pytest.importorskip("tensorflow")
    w, x, x0 = data

    def plain(v):
        return (v * w).sum(axis=(1, 2))

    a = cdig.explain(plain, tf.constant(x), "time", baselines=x0, n_steps=4, backend="jax")["time"]
    assert a.settings["backend"] == "jax"
    np.testing.assert_allclose(a.values, tr.transpose_last(w * (x - x0)), rtol=1e-5, atol=1e-6)


def test_bfloat16_jax_input_to_a_torch_model(models):
    net = models.conv_net(channels=2, length=T, n_out=3)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(N, 2, T)), dtype=jnp.bfloat16)
    ref = cdig.explain(net, np.asarray(x.astype(jnp.float32)), "time", target=1, n_steps=8)["time"]
    res = cdig.explain(net, x, "time", target=1, n_steps=8)["time"]
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-6)


def test_crossdomainig_with_a_torch_input_to_a_jax_function(jax_conv, data):
    _, x, _ = data
    ref = cdig.CrossDomainIG(jax_conv, "fourier").attribute(x, target=1, n_steps=8)
    attr = cdig.CrossDomainIG(jax_conv, "fourier").attribute(torch.as_tensor(x), target=1, n_steps=8)
    assert isinstance(attr, torch.Tensor)  # "in the input's array type" (the docstring)
    assert attr.device == torch.device("cpu")
    np.testing.assert_allclose(np.asarray(attr), ref, rtol=1e-6, atol=1e-7)


# --- double precision (jax_enable_x64 in a fresh process) ---------------------------------------------

_X64_SCRIPT = r"""
import json, warnings
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import cdig
from cdig.backends.jax import JaxBackend

out = {"vjp": {}}
rng = np.random.default_rng(0)
for n in (16, 17):
    f = n // 2 + 1
    z = rng.normal(size=(2, 2, f)) + 1j * rng.normal(size=(2, 2, f))
    cot = rng.normal(size=(2, 2, n))
    be = JaxBackend(lambda v: v, jnp.asarray(cot))
    dom = cdig.Fourier().fit(np.zeros((2, 2, n)))
    g = np.asarray(be.vjp(lambda zz: dom.inverse(zz, jnp), jnp.asarray(z), jnp.asarray(cot)))
    out["vjp"][n] = {"z": [z.real.tolist(), z.imag.tolist()], "cot": cot.tolist(),
                     "g": [g.real.tolist(), g.imag.tolist()], "dtype": str(g.dtype)}

w = rng.normal(size=(16, 3))
x, x0 = rng.normal(size=(2, 16, 3)), 0.3 * rng.normal(size=(2, 16, 3))
r = cdig.explain(jax.jit(lambda v: jnp.sum(v * w, axis=(1, 2))), x, ["time", "fourier"], baselines=x0, n_steps=4)
out["explain"] = {"w": w.tolist(), "x": x.tolist(), "x0": x0.tolist(), "dtype": str(r["time"].values.dtype),
                  "time": r["time"].values.tolist(), "fourier": r["fourier"].values.tolist()}

import torch  # a jax.Array into a torch model: converted without torch's warnings
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    cdig.explain(net, jnp.ones((2, 2, 8), dtype=jnp.float32), "time", target=0, n_steps=4)
out["torch_warnings"] = [(w.category.__name__ + ": " + str(w.message))[:300] for w in rec]
print("RESULT:" + json.dumps(out))
"""


@pytest.fixture(scope="module", autouse=True)
def _x64_process(request):
    """Started with the module's first test (when any test here needs it), to overlap with the others."""
    wanted = any("x64_run" in getattr(item, "fixturenames", ()) for item in request.session.items)
    proc = tr.start_script(_X64_SCRIPT, JAX_ENABLE_X64="1") if wanted else None
    yield proc
    if proc is not None:
        tr.stop_script(proc)


@pytest.fixture(scope="module")
def x64_run(_x64_process):
    out = tr.finish_script(_x64_process)
    assert "error" not in out, out["error"]
    return out


@pytest.mark.parametrize("n_times", ["16", "17"])
def test_float64_vjp_through_the_fourier_inverse_matches_finite_differences(x64_run, n_times):
    part = x64_run["vjp"][n_times]
    assert part["dtype"] == "complex128"
    z = np.asarray(part["z"][0]) + 1j * np.asarray(part["z"][1])
    g = np.asarray(part["g"][0]) + 1j * np.asarray(part["g"][1])
    fd = tr.fourier_fd_gradient(z, np.asarray(part["cot"]), int(n_times))
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-8)


def test_float64_maps_with_x64(x64_run, closed):
    part = x64_run["explain"]
    assert part["dtype"] == "float64"
    w, x, x0 = (np.swapaxes(np.asarray(part[k]), -1, -2) for k in ("w", "x", "x0"))
    tr.assert_maps_close(w * (x - x0), np.asarray(part["time"]), 1e-12, "time")
    tr.assert_maps_close(closed.fourier_linear_map(x, x0, w), np.asarray(part["fourier"]), 1e-12, "fourier")


def test_jax_input_to_a_torch_model_raises_no_warning(x64_run):
    """A jax.Array as numpy is a read-only view: torch warns about it (once per process, hence the
    fresh process) unless the conversion copies it."""
    assert x64_run["torch_warnings"] == []
