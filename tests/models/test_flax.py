"""flax end to end, in the forms docs/models.md shows: an nnx module as it is, a linen module through ``apply``.

The JAX backend's own tests (tests/backends/) cover the flax details; this file checks the two user
forms once, with BatchNorm and Dropout, against Integrated Gradients computed here with ``jax.grad``.
"""

from __future__ import annotations

import numpy as np
import pytest

import cdig

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
if jax.config.read("jax_enable_x64"):  # pragma: no cover - depends on the environment
    pytest.skip("these tests expect JAX's default float32", allow_module_level=True)

import jax.numpy as jnp  # noqa: E402
from flax import linen, nnx  # noqa: E402

N, T, C = 3, 16, 2
AUTO = dict(n_steps="auto", max_steps=400)


class Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.conv = nnx.Conv(C, 4, kernel_size=(5,), rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.drop = nnx.Dropout(0.2, rngs=rngs)
        self.out = nnx.Linear(4 * T, 2, rngs=rngs)

    def __call__(self, x):
        h = self.drop(jnp.tanh(self.bn(self.conv(x))))
        return self.out(h.reshape(h.shape[0], -1))


class LinenNet(linen.Module):
    @linen.compact
    def __call__(self, x, train: bool = False):
        h = linen.BatchNorm(use_running_average=not train)(linen.Conv(4, (5,))(x))
        h = linen.Dropout(0.2, deterministic=not train)(jnp.tanh(h))
        return linen.Dense(2)(h.reshape(h.shape[0], -1))


def jax_time_ig(f, x, target: int, n_steps: int = 64) -> np.ndarray:
    """Integrated Gradients from the zero signal: ``jax.grad`` at Gauss-Legendre nodes, all in one batch."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    points = (jnp.asarray((nodes + 1) / 2, x.dtype)[:, None, None, None] * x[None]).reshape(-1, *x.shape[1:])
    grads = np.asarray(jax.jit(jax.grad(lambda p: f(p)[:, target].sum()))(points)).reshape(n_steps, *x.shape)
    return np.asarray(x) * np.einsum("s,s...->...", weights / 2, grads)


def host(state) -> list[np.ndarray]:
    """Every leaf of an nnx state as numpy (random keys as their key data)."""
    leaves = jax.tree.leaves(state)
    return [np.asarray(jax.random.key_data(v) if jnp.issubdtype(v.dtype, jax.dtypes.prng_key) else v) for v in leaves]


def within_rtol(a) -> bool:
    """``|delta| <= 1e-3·|f(x) - f(x0)|``, plus a round-off term for float32."""
    bound = 1e-3 * np.abs(a.output - a.baseline_output) + 1e-4 * (np.abs(a.output) + np.abs(a.baseline_output))
    return bool(np.all(np.abs(a.delta) <= bound))


def test_nnx_module_and_linen_apply():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(N, T, C)), jnp.float32)  # channels last: time_axis=1
    model = Net(nnx.Rngs(0))
    model(x)  # a training-mode pass: BatchNorm statistics, as after training
    before = host(nnx.state(model))
    with pytest.warns(cdig.CdigWarning, match="training mode"):
        maps = cdig.explain(model, x, ("time", "fourier"), target=1, **AUTO)
    assert all(within_rtol(a) for a in maps.values())
    after = host(nnx.state(model))
    assert len(after) == len(before) and all(np.array_equal(a, b) for a, b in zip(after, before))  # untouched
    assert model.bn.use_running_average is False  # still in training mode
    model.eval()
    ref = jax_time_ig(model, x, target=1)
    assert np.linalg.norm(maps["time"].values - ref.transpose(0, 2, 1)) / np.linalg.norm(ref) < 2e-3

    module = LinenNet()
    variables = module.init(jax.random.key(0), x)
    with pytest.raises(cdig.CdigTypeError, match=r"unbound flax\.linen.*module\.apply\(variables"):
        cdig.explain(module, x, "time", target=1, **AUTO)
    f = lambda v: module.apply(variables, v, train=False)
    maps = cdig.explain(f, x, ("time", "fourier"), target=1, **AUTO)
    assert all(within_rtol(a) for a in maps.values())
    bound = cdig.explain(module.bind(variables), x, "time", target=1, **AUTO)["time"]
    np.testing.assert_allclose(bound.values, maps["time"].values, rtol=1e-5, atol=1e-7)
    ref = jax_time_ig(f, x, target=1)
    assert np.linalg.norm(maps["time"].values - ref.transpose(0, 2, 1)) / np.linalg.norm(ref) < 2e-3
