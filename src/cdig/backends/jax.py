"""The JAX backend: the only module of cdig that imports JAX.

Any callable ``f(x) -> outputs`` on ``jax.Array`` (Flax/Equinox modules through a closure, Keras 3
models on the JAX backend) is run here. The model is compiled with ``jax.jit`` once per input shape
and differentiated with ``jax.vjp``. JAX's gradient of a real function of a complex array is the
conjugate of cdig's convention (``∂/∂Re − i ∂/∂Im``), so complex gradients are conjugated here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.errors import CdigModelError, CdigTypeError
from .base import Backend, CompiledCache, CompiledPath, Fingerprint, foreign_to_numpy, keras_leaf

__all__ = ["JaxBackend", "BACKEND"]


def _is_keras_jax_model(model: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model) and str(keras.backend.backend()) == "jax"


def _make_step(call: Callable[..., Any]) -> Any:
    """One chunk of the time path as one compiled function: points, forward, VJP with the target's mask."""

    def step(start: Any, delta: Any, rows: Any, alphas: Any, mask: Any, *args: Any) -> tuple[Any, Any]:
        d = jnp.take(delta, rows, axis=0)
        points = jnp.take(start, rows, axis=0) + alphas.reshape((-1,) + (1,) * (d.ndim - 1)).astype(d.dtype) * d
        out, pullback = jax.vjp(lambda p: call(p, *args), points)
        (g,) = pullback(mask.astype(out.dtype))
        return g, (d * g).reshape(d.shape[0], -1).sum(axis=1)

    return jax.jit(step)


#: Compiled model and chunk step per model (weak keys: the cache never keeps a model alive).
_COMPILED = CompiledCache()


def _compiled(model: Any) -> tuple[Any, Any]:
    """The compiled model and chunk step.

    Functions the user jitted are compiled once and cached (they are pure by the user's choice). Any
    other callable is wrapped afresh for each explanation: a plain function may read Python state
    that changes between explanations, and modules may be unhashable (eq dataclasses, Equinox).
    """
    if _is_keras_jax_model(model):
        return model, None  # Keras keeps state in Python objects: run it as it is, step by step

    def call(inputs: Any, *args: Any) -> Any:
        return model(inputs, *args)

    if not isinstance(model, jax.stages.Wrapped):
        return jax.jit(call), _make_step(call)
    return _COMPILED.get(model, lambda: (model, _make_step(call)), cacheable=True)


class JaxBackend(Backend):
    """JAX callables: ``model(x, *args)`` on ``jax.Array`` batches."""

    name = "jax"
    xp = jnp
    default_time_axis = 1

    def __init__(self, model: Any, x: Any) -> None:
        super().__init__(model, x)
        if not callable(model):
            raise CdigTypeError(f"model must be callable (a function of jax arrays), got {type(model).__name__}")
        if isinstance(x, jax.Array):
            self.dtype = x.dtype
            self.device = next(iter(x.devices()))
        else:
            self.dtype = jnp.asarray(foreign_to_numpy(x, "jax")[:0]).dtype
            self.device = jax.devices()[0]
        # float64 exists only with jax_enable_x64 (JAX's own rule); otherwise float64 input runs in float32.
        self.float64 = bool(jax.config.read("jax_enable_x64"))
        if not self.float64 and self.dtype == np.float64:
            self.dtype = jnp.float32
        self._compiled, self._step = _compiled(model)

    @classmethod
    def owns_model(cls, model: Any) -> bool:
        return _is_keras_jax_model(model) or isinstance(model, jax.stages.Wrapped)

    @classmethod
    def owns_array(cls, x: Any) -> bool:
        return isinstance(x, jax.Array)

    def asarray(self, a: Any, dtype: Any = None) -> jax.Array:
        if isinstance(a, jax.Array):
            dt = dtype if dtype is not None else (self.dtype if jnp.issubdtype(a.dtype, jnp.floating) else None)
            out = a if dt is None else a.astype(dt)
        else:
            arr = foreign_to_numpy(a, self.name)
            dt = dtype
            if dt is None and arr.dtype.kind == "f":
                dt = self.dtype
            elif dt is None and arr.dtype.kind == "c":
                dt = jnp.complex128 if self.dtype == jnp.float64 else jnp.complex64
            out = jnp.asarray(arr, dtype=dt)
        return jax.device_put(out, self.device)

    def to_numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, jax.Array):
            if t.dtype in (jnp.bfloat16, jnp.float16):
                t = t.astype(jnp.float32)
            return np.asarray(t)
        return np.asarray(t)

    @classmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> jax.Array:
        out = jnp.asarray(a)
        if device is not None and not isinstance(device, str):
            out = jax.device_put(out, device)
        return out

    @classmethod
    def like(cls, values: np.ndarray, ref: Any) -> jax.Array:
        return jax.device_put(jnp.asarray(values), next(iter(ref.devices())))

    def is_array(self, a: Any) -> bool:
        return isinstance(a, jax.Array)

    def as_index(self, a: np.ndarray) -> jax.Array:
        return jnp.asarray(np.asarray(a, dtype=np.int32))

    def take(self, a: Any, idx: np.ndarray) -> jax.Array:
        return jnp.take(a, self.as_index(idx), axis=0)

    # --- the model ---------------------------------------------------------------------
    def call(self, inputs: Any, args: tuple) -> Any:
        return self._compiled(inputs, *args)

    def forward(self, inputs: Any, args: tuple) -> Any:
        return self._compiled(inputs, *args)

    def digest_leaf(self, v: Any, fp: Fingerprint) -> bool:
        """JAX arrays by dtype, shape and contents; registered pytrees of other classes (e.g. Flax or
        Equinox modules) by their class and leaves; jitted functions by the function they wrap."""
        if keras_leaf(v, fp):
            return True
        if isinstance(v, jax.Array):
            fp.array(np.asarray(v))
            return True
        if isinstance(v, (dict, list, tuple)) or v is None or isinstance(v, jax.stages.Wrapped):
            return False
        leaves, treedef = jax.tree_util.tree_flatten(v)
        if treedef.num_leaves == 1 and leaves and leaves[0] is v:
            return False  # not a pytree node
        fp.user_class(type(v))
        fp.put("pytree", str(treedef.num_nodes))
        fp.add(leaves)
        return True

    # --- the path primitives -----------------------------------------------------------
    def zeros_like(self, a: Any) -> jax.Array:
        wide = jax.config.read("jax_enable_x64")
        if jnp.iscomplexobj(a):
            return jnp.zeros(a.shape, jnp.complex128 if wide else jnp.complex64)
        return jnp.zeros(a.shape, jnp.float64 if wide else jnp.float32)

    def _column(self, v: np.ndarray, like: jax.Array) -> jax.Array:
        real = jnp.real(like).dtype
        return jnp.asarray(v, dtype=real).reshape((-1,) + (1,) * (like.ndim - 1))

    def path_grad(
        self,
        fn: Callable[[Any, np.ndarray], Any],
        start: Any,
        delta: Any,
        idx: np.ndarray,
        alphas: np.ndarray,
        want_h: bool,
    ) -> tuple[jax.Array, np.ndarray | None]:
        path = fn if self._step is not None and isinstance(fn, CompiledPath) and not jnp.iscomplexobj(delta) else None
        mask = path.mask(idx) if path is not None else None
        args = path.args(idx) if path is not None and mask is not None else ()
        if mask is not None and all(isinstance(a, jax.Array) for a in args):
            # the time path with an index-like target: one compiled function per chunk shape
            g, h = self._step(start, delta, self.as_index(idx), jnp.asarray(alphas), jnp.asarray(mask), *args)
            return g, (np.asarray(h, dtype=np.float64) if want_h else None)
        ti = self.as_index(idx)
        d = jnp.take(delta, ti, axis=0)
        points = jnp.take(start, ti, axis=0) + self._column(alphas, d) * d
        y, pullback = jax.vjp(lambda p: fn(p, idx), points)
        if not jnp.issubdtype(y.dtype, jnp.floating):
            raise CdigModelError(
                f"the explained output has dtype {y.dtype}; it must be floating (the model casts to an integer "
                "type, so it has no gradient)"
            )
        (g,) = pullback(jnp.ones_like(y))
        if jnp.iscomplexobj(g):
            g = jnp.conj(g)  # JAX returns ∂/∂Re − i ∂/∂Im; cdig's convention is its conjugate
        h = None
        if want_h:
            prod = jnp.real(d) * jnp.real(g) + jnp.imag(d) * jnp.imag(g) if jnp.iscomplexobj(g) else d * g
            h = np.asarray(prod.reshape(len(idx), -1).sum(axis=1), dtype=np.float64)
        return g, h

    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> jax.Array:
        return acc.at[self.as_index(idx)].add((grads * self._column(weights, grads)).astype(acc.dtype))

    def vjp(self, fn: Callable[[Any], Any], z: Any, cotangent: Any) -> jax.Array:
        out, pullback = jax.vjp(fn, z)
        (g,) = pullback(cotangent.astype(out.dtype))
        return jnp.conj(g) if jnp.iscomplexobj(g) else g


BACKEND = JaxBackend
