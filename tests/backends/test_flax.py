"""Flax models on the JAX backend: flax.nnx modules passed as they are (explained in eval mode, left
bit-identical), an nnx module in training mode behind a function (a clear error), and flax.linen
modules (unbound: refused with the fix; bound, or applied in a function: explained).

References are independent of cdig: the integrated gradient of the model in eval mode computed here
with ``jax.grad`` and a 64-point Gauss–Legendre rule, and the Fourier closed form of a straight path
(``cdig.testing.fourier_linear_map`` of that integrated gradient).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
flax = pytest.importorskip("flax")
import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

import cdig  # noqa: E402

tr = sys.modules["_cdig_tests_triplets"]  # loaded by tests/backends/conftest.py

N, T, C, K = 3, 12, 2, 3  # channels-last (N, T, C): JAX's default time axis is 1

pytestmark = pytest.mark.skipif(jax.config.read("jax_enable_x64"), reason="these tests expect JAX's default float32")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).normal(size=(N, T, C)).astype(np.float32)


def integrated_gradient(f, x, target, n=64):
    """Mean gradient of ``f(v)[:, target]`` along the straight path from 0 to ``x`` (Gauss–Legendre,
    all points in one batch: the model is in inference mode, so rows are independent)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    alphas, weights = (nodes + 1) / 2, weights / 2
    points = jnp.asarray((alphas[:, None, None, None] * x[None]).reshape((-1,) + x.shape[1:]), dtype=jnp.float32)
    g = np.asarray(jax.jit(jax.grad(lambda p: f(p)[:, target].sum()))(points), dtype=np.float64).reshape((n,) + x.shape)
    return np.tensordot(weights, g, axes=1)


def assert_maps(res, gbar, x, closed, rel):
    """Time ``ḡ ⊙ x`` and Fourier ``Re[X conj(G)]`` (zero baseline), cdig's (N, C, T) layout."""
    gc, xc = tr.transpose_last(gbar), tr.transpose_last(x).astype(np.float64)
    tr.assert_maps_close(gc * xc, res["time"].values, rel, "time")
    tr.assert_maps_close(closed.fourier_linear_map(xc, 0.0 * xc, gc), res["fourier"].values, rel, "fourier")


# --- flax.nnx -------------------------------------------------------------------------------------------


class ConvNet(nnx.Module):
    """Conv → BatchNorm → tanh → Dropout → Dense, in nnx's default training mode; ``head_drop`` was set
    deterministic by its author (a flag that must stay as it was)."""

    def __init__(self, structured: bool = False, seed: int = 0):
        rngs = nnx.Rngs(seed)
        self.conv = nnx.Conv(C, 4, kernel_size=3, rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.head_drop = nnx.Dropout(0.3, deterministic=True, rngs=rngs)
        self.out = nnx.Linear(T * 4, K, rngs=rngs)
        self.structured = structured
        r = np.random.default_rng(seed)  # running statistics far from a batch's own
        self.bn.mean[...] = jnp.asarray(0.5 * r.normal(size=4), dtype=jnp.float32)
        self.bn.var[...] = jnp.asarray(r.uniform(0.3, 3.0, size=4), dtype=jnp.float32)

    def __call__(self, v, scale=None):
        h = self.drop(jnp.tanh(self.bn(self.conv(v))))
        y = self.out(self.head_drop(h.reshape(h.shape[0], -1)))
        if scale is not None:
            y = y * scale[:, None]
        return {"features": h, "logits": y} if self.structured else y


def snapshot(module):
    """Every variable (parameters, batch statistics, RNG keys and counts) as numpy, and every submodule's
    mode flags."""
    state = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(module)):
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        state[jax.tree_util.keystr(path)] = np.array(leaf)
    flags = {p: (getattr(m, "use_running_average", None), getattr(m, "deterministic", None)) for p, m in nnx.iter_modules(module)}
    return state, flags


def assert_unchanged(module, before):
    state, flags = snapshot(module)
    assert flags == before[1]
    assert state.keys() == before[0].keys()
    for k, v in state.items():
        assert v.dtype == before[0][k].dtype and np.array_equal(v, before[0][k]), k


def eval_copy(module):
    ref = nnx.clone(module)
    ref.eval()
    return ref


@pytest.mark.parametrize("structured", [False, True])
def test_an_nnx_module_in_training_mode_is_explained_in_eval_mode_and_left_unchanged(structured, x, closed):
    model = ConvNet(structured=structured)
    before = snapshot(model)
    assert before[1][("bn",)] == (False, None) and before[1][("drop",)] == (None, False)  # nnx's default: training
    s = np.array([1.0, -0.5, 2.0], dtype=np.float32)
    kw = {"output": "logits", "additional_forward_args": {"scale": s}} if structured else {}
    with pytest.warns(cdig.CdigWarning, match=r"training mode with BatchNorm, Dropout; it is explained in eval mode"):
        res = cdig.explain(model, x, ("time", "fourier"), target=1, n_steps="auto", **kw)
    assert_unchanged(model, before)

    ref = eval_copy(model)
    f = (lambda v: ref(v, jnp.tile(s, len(v) // N))["logits"]) if structured else ref
    a = res["time"]
    np.testing.assert_allclose(a.output, np.asarray(f(jnp.asarray(x)))[:, 1], rtol=1e-5, atol=1e-6)
    trained = model(jnp.asarray(x), jnp.asarray(s)) if structured else model(jnp.asarray(x))  # batch statistics
    assert not np.allclose(a.output, np.asarray(trained["logits"] if structured else trained)[:, 1], atol=1e-3)
    for r in res.values():
        assert np.all(np.abs(r.delta) <= 1e-3 * np.abs(r.output - r.baseline_output))
    assert_maps(res, integrated_gradient(f, x, 1), x, closed, 1e-4)


def test_an_nnx_module_in_training_mode_behind_a_function_is_an_error(x, closed):
    model = ConvNet(seed=1)
    before = snapshot(model)
    with pytest.raises(cdig.CdigModelError, match=r"changes its own state.*training mode.*module\.eval\(\).*module itself"):
        cdig.explain(lambda v: model(v), jnp.asarray(x), ("time", "fourier"), target=0, n_steps=8)
    assert_unchanged(model, before)

    ev = eval_copy(model)  # the fix the message gives: eval mode, no warning (CdigWarning is an error here)
    res = cdig.explain(lambda v: ev(v), jnp.asarray(x), ("time", "fourier"), target=0, n_steps=64)
    assert_maps(res, integrated_gradient(ev, x, 0), x, closed, 1e-4)


def test_an_nnx_module_fingerprint_covers_weights_settings_and_flags(x):
    """``model_digest`` (explain_dataset's check that a store is resumed with the same model): equal for
    identically built modules, different for other weights, another dropout rate or other mode flags."""
    from cdig.backends.jax import JaxBackend

    a = ConvNet()
    be = JaxBackend(a, x)
    digest = be.model_digest(a)
    assert digest is not None and digest == be.model_digest(ConvNet())
    assert digest != be.model_digest(ConvNet(seed=1))
    rate, mode = ConvNet(), ConvNet()
    rate.drop.rate = 0.4
    mode.eval()
    assert len({digest, be.model_digest(rate), be.model_digest(mode)}) == 3


# --- flax.linen -----------------------------------------------------------------------------------------


class LinenNet(nn.Module):
    @nn.compact
    def __call__(self, v, train: bool = False):
        h = nn.Conv(4, kernel_size=(3,))(v)
        h = nn.BatchNorm(use_running_average=not train)(h)
        h = nn.Dropout(0.5, deterministic=not train)(jnp.tanh(h))
        return nn.Dense(K)(h.reshape(h.shape[0], -1))


@pytest.fixture(scope="module")
def linen(x):
    module = LinenNet()
    variables = module.init(jax.random.key(0), jnp.asarray(x), train=False)
    r = np.random.default_rng(2)
    stats = variables["batch_stats"]["BatchNorm_0"]
    stats["mean"] = jnp.asarray(0.5 * r.normal(size=4), dtype=jnp.float32)
    stats["var"] = jnp.asarray(r.uniform(0.3, 3.0, size=4), dtype=jnp.float32)
    return module, variables


def test_an_unbound_linen_module_is_refused_with_the_fix(linen, x):
    module, _ = linen
    with pytest.raises(cdig.CdigTypeError, match="unbound flax.linen module") as info:
        cdig.explain(module, x, "time", target=0)  # a numpy input: the module alone says JAX
    message = str(info.value)
    for fix in ("lambda x: module.apply(variables, x)", "module.apply(variables, x, train=False)", "module.bind(variables)"):
        assert fix in message


@pytest.mark.parametrize("form", ["apply-lambda", "bound"])
def test_a_linen_module_applied_or_bound(form, linen, x, closed):
    module, variables = linen

    def applied(v):
        return module.apply(variables, v, train=False)

    model = applied if form == "apply-lambda" else module.bind(variables)
    res = cdig.explain(model, jnp.asarray(x), ("time", "fourier"), target=2, n_steps=64)
    np.testing.assert_allclose(res["time"].output, np.asarray(applied(jnp.asarray(x)))[:, 2], rtol=1e-5, atol=1e-6)
    assert_maps(res, integrated_gradient(applied, x, 2), x, closed, 1e-4)
