"""The JAX backend: the only module of cdig that imports JAX.

Any callable ``f(x) -> outputs`` on ``jax.Array`` is run here. The model is compiled with ``jax.jit``
once per input shape and differentiated with ``jax.vjp``. JAX's gradient of a real function of a
complex array is the conjugate of cdig's convention (``∂/∂Re − i ∂/∂Im``), so complex gradients are
conjugated here. The model's call and the output explained (keyword arguments, a tensor picked from a
dict or tuple) follow the engine's :class:`~cdig.core.outputs.ModelCall`, inside the compiled function.

Models
------
- **Functions** of ``jax.Array`` batches, jitted or not, and callable objects holding their
  parameters (Equinox modules, closures over parameter pytrees).
- **flax.nnx modules**, passed as they are (``cdig.explain(module, x, ...)``). They are run as a pure
  function of their split state (``nnx.split``/``nnx.merge`` under ``jax.jit``) on a copy put in eval
  mode (``.eval()``: Dropout off, BatchNorm running statistics): the module itself, its flags and its
  variables (parameters, batch statistics, RNG counts), is never changed. A module in training mode
  is explained in eval mode with a :class:`~cdig.core.errors.CdigWarning`. Behind a function
  (``lambda x: module(x)``) a module in training mode would update its batch statistics or draw
  dropout masks inside the compiled function, which flax refuses: cdig raises a
  :class:`~cdig.core.errors.CdigModelError` saying to call ``module.eval()`` or to pass the module
  itself.
- **flax.linen modules** hold no variables: pass a function applying them,
  ``cdig.explain(lambda x: module.apply(variables, x), x, ...)`` (with the module's own flag for
  BatchNorm and Dropout, e.g. ``module.apply(variables, x, train=False)``), or the bound module
  ``module.bind(variables)``. An unbound module is refused with a
  :class:`~cdig.core.errors.CdigTypeError` saying so.
- **Keras 3 models** on the JAX backend, run step by step (Keras keeps its state in Python objects).
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.errors import CdigModelError, CdigTypeError, CdigWarning, one_line
from ..core.outputs import ModelCall
from .base import Backend, CompiledCache, CompiledPath, Fingerprint, foreign_to_numpy, keras_leaf

__all__ = ["JaxBackend", "BACKEND"]


def _is_keras_jax_model(model: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model) and str(keras.backend.backend()) == "jax"


def _is_nnx_module(model: Any) -> bool:
    nnx = sys.modules.get("flax.nnx")  # flax is never imported here: a module of it means it is loaded
    return nnx is not None and isinstance(model, nnx.Module)


def _is_linen_module(model: Any) -> bool:
    linen = sys.modules.get("flax.linen")
    return linen is not None and isinstance(model, linen.Module)


def _is_jax_array(a: Any) -> bool:
    return isinstance(a, jax.Array)  # tracers too, inside compiled functions


def _check_linen_bound(model: Any) -> None:
    """A flax.linen module must hold its variables (bound) to be called."""
    if _is_linen_module(model) and getattr(model, "scope", None) is None:
        name = type(model).__name__
        raise CdigTypeError(
            f"model is an unbound flax.linen module ({name}): it holds no variables, so it cannot be called "
            "on its own. Pass a function applying it to its variables: cdig.explain(lambda x: module.apply(variables, "
            "x), x, ...); for modules with BatchNorm or Dropout, in inference mode with their own flag, e.g. "
            "lambda x: module.apply(variables, x, train=False); or pass the bound module: module.bind(variables)"
        )


@contextmanager
def _flax_state_errors() -> Iterator[None]:
    """flax's refusal to update a module's variables inside the compiled function, as a cdig error."""
    try:
        yield
    except Exception as e:
        if type(e).__name__ != "TraceContextError" or not type(e).__module__.startswith("flax"):
            raise
        said = one_line(e).split(" (https://", 1)[0]  # flax's first words name the variable's kind
        raise CdigModelError(
            f"the model changes its own state while it runs (flax: {said}): a flax.nnx module in training mode "
            "updates its BatchNorm batch statistics and draws Dropout randomness, which cannot happen inside the "
            "compiled model; call module.eval() before explaining, or pass the module itself as the model (cdig then "
            "explains it in eval mode and leaves it as it was)"
        ) from None


def _nnx_training_layers(model: Any) -> list[str]:
    """The classes of the submodules of an nnx module set to training mode (BatchNorm with batch
    statistics, Dropout and attention with dropout on)."""
    from flax import nnx

    found = set()
    for _, m in nnx.iter_modules(model):
        if getattr(m, "use_running_average", None) is False or getattr(m, "deterministic", None) is False:
            found.add(type(m).__name__)
    return sorted(found)


def _nnx_leaf(v: Any, fp: Fingerprint) -> bool:
    """flax.nnx objects for a model's fingerprint: modules (and RNG streams) by their class and their own
    attributes (submodules, settings, variables), variables by their class and value."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is None:
        return False
    if isinstance(v, nnx.Variable):
        fp.name(type(v))
        fp.add(v.get_value())
        return True
    if not isinstance(v, nnx.Pytree):
        return False
    fp.user_class(type(v))
    for name, value in vars(v).items():
        if not name.startswith("_pytree__"):  # flax's bookkeeping, not the module's settings
            fp.put("attr", name)
            fp.add(value)
    return True


def _make_step(call: Callable[..., Any]) -> Any:
    """One chunk of the time path as one compiled function: points, forward, VJP with the target's mask."""

    def step(start: Any, delta: Any, rows: Any, alphas: Any, mask: Any, *args: Any) -> tuple[Any, Any]:
        d = jnp.take(delta, rows, axis=0)
        points = jnp.take(start, rows, axis=0) + alphas.reshape((-1,) + (1,) * (d.ndim - 1)).astype(d.dtype) * d
        out, pullback = jax.vjp(lambda p: call(p, *args), points)
        (g,) = pullback(mask.astype(out.dtype))
        return g, (d * g).reshape(d.shape[0], -1).sum(axis=1)

    return jax.jit(step)


class _Compiled(NamedTuple):
    """A model's compiled forward ``forward(inputs, *lead, *args)`` and chunk step
    ``step(start, delta, rows, alphas, mask, *lead, *args)``; ``lead`` is the nnx module's state (else
    nothing). None for models run step by step (Keras)."""

    forward: Any
    step: Any


#: Compiled functions per model (weak keys: the cache never keeps a model alive): user-jitted functions,
#: and for nnx modules a dict from the module's structure (``GraphDef``) to its compiled functions.
_COMPILED = CompiledCache()


def _compiled(model: Any, call: ModelCall) -> _Compiled:
    """The compiled model and chunk step of a function, around ``call`` (keywords, the output selected).

    Functions the user jitted are compiled once and cached where ``call`` is trivial (they are pure
    by the user's choice). Any other callable is wrapped afresh for each explanation: a plain function
    may read Python state that changes between explanations, and modules may be unhashable (eq
    dataclasses, Equinox).
    """
    if _is_keras_jax_model(model):
        return _Compiled(None, None)  # Keras keeps state in Python objects: run it as it is, step by step

    if not isinstance(model, jax.stages.Wrapped):

        def fn(inputs: Any, *args: Any) -> Any:
            return call(model, inputs, args, _is_jax_array)

        return _Compiled(jax.jit(fn), _make_step(fn))

    def build() -> _Compiled:
        try:
            get: Callable[[], Any] = weakref.ref(model)  # the cached entry must not keep its own key alive
        except TypeError:  # not weakly referenceable: not cached either
            get = lambda: model

        def fn(inputs: Any, *args: Any) -> Any:
            return call(get(), inputs, args, _is_jax_array)

        return _Compiled(jax.jit(fn), _make_step(fn))

    return _COMPILED.get(model, build, cacheable=call.trivial)


def _nnx_compiled(graphdef: Any, call: ModelCall) -> _Compiled:
    """An nnx module as a pure function of its state: merged afresh inside the compiled function, put in
    eval mode there (on the copy), so that nothing it does while it runs reaches the module itself."""
    from flax import nnx

    def fn(inputs: Any, state: Any, *args: Any) -> Any:
        module = nnx.merge(graphdef, state)
        module.eval()  # Dropout off, BatchNorm running statistics: on this copy only
        return call(module, inputs, args, _is_jax_array)

    return _Compiled(jax.jit(fn), _make_step(fn))


class JaxBackend(Backend):
    """JAX callables: ``model(x, *args)`` on ``jax.Array`` batches, flax.nnx modules, bound flax.linen
    modules and Keras 3 models on the JAX backend (see the module's docstring)."""

    name = "jax"
    xp = jnp
    default_time_axis = 1

    def __init__(self, model: Any, x: Any) -> None:
        super().__init__(model, x)
        if not callable(model):
            raise CdigTypeError(f"model must be callable (a function of jax arrays), got {type(model).__name__}")
        _check_linen_bound(model)
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
        self._nnx = _is_nnx_module(model)
        self._build(self.model_call)

    def _build(self, call: ModelCall) -> None:
        """The compiled functions around ``call``; for nnx modules, a store of them per module structure
        (shared by the explanations of the module where ``call`` is trivial)."""
        if self._nnx:
            self._by_graph: dict[Any, _Compiled] = _COMPILED.get(self.model, dict, cacheable=True) if call.trivial else {}
            self._fns = _Compiled(None, None)
        else:
            self._fns = _compiled(self.model, call)

    def set_call(self, call: ModelCall) -> None:
        """Use ``call`` for every model call: the compiled functions are rebuilt around it where it (or the
        call it replaces) is not trivial."""
        rebuild = not (call.trivial and self.model_call.trivial)
        super().set_call(call)
        if rebuild:
            self._build(call)

    def _functions(self) -> tuple[_Compiled, tuple]:
        """The compiled functions and the leading arguments they take (an nnx module's state, split now)."""
        if not self._nnx:
            return self._fns, ()
        from flax import nnx

        graphdef, state = nnx.split(self.model)
        fns = self._by_graph.get(graphdef)
        if fns is None:
            fns = self._by_graph.setdefault(graphdef, _nnx_compiled(graphdef, self.model_call))
        return fns, (state,)

    @classmethod
    def owns_model(cls, model: Any) -> bool:
        return (
            _is_keras_jax_model(model)
            or isinstance(model, jax.stages.Wrapped)
            or _is_nnx_module(model)
            or _is_linen_module(model)
        )

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
    @contextmanager
    def prepared(self) -> Iterator[None]:
        """An nnx module in training mode is explained in eval mode, with a warning. Nothing is changed
        on the module: each call runs a copy of it in eval mode (see :func:`_nnx_compiled`)."""
        if self._nnx:
            layers = _nnx_training_layers(self.model)
            if layers:
                warnings.warn(
                    f"the flax.nnx module is in training mode with {', '.join(layers)}; it is explained in eval mode "
                    "(Dropout off, BatchNorm running statistics) on a copy, the module itself is left as it is. Call "
                    "module.eval() to silence this warning.",
                    CdigWarning,
                    stacklevel=4,
                )
        yield

    def call(self, inputs: Any, args: tuple) -> Any:
        fns, lead = self._functions()
        if fns.forward is None:
            return self.run_model(inputs, args)
        with _flax_state_errors():
            return fns.forward(inputs, *lead, *args)

    def forward(self, inputs: Any, args: tuple) -> Any:
        return self.call(inputs, args)

    def digest_leaf(self, v: Any, fp: Fingerprint) -> bool:
        """JAX arrays by dtype, shape and contents (random keys by their data); flax.nnx modules by
        their classes, settings (rates, flags) and variables; registered pytrees of other classes (e.g.
        Equinox modules) by their class and leaves; jitted functions by the function they wrap."""
        if keras_leaf(v, fp):
            return True
        if isinstance(v, jax.Array):
            if jnp.issubdtype(v.dtype, jax.dtypes.prng_key):
                fp.put("key", str(v.dtype))
                v = jax.random.key_data(v)
            fp.array(np.asarray(v))
            return True
        if _nnx_leaf(v, fp):
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
        with _flax_state_errors():
            return self._path_grad(fn, start, delta, idx, alphas, want_h)

    def _path_grad(
        self,
        fn: Callable[[Any, np.ndarray], Any],
        start: Any,
        delta: Any,
        idx: np.ndarray,
        alphas: np.ndarray,
        want_h: bool,
    ) -> tuple[jax.Array, np.ndarray | None]:
        fns, lead = self._functions()
        path = fn if fns.step is not None and isinstance(fn, CompiledPath) and not jnp.iscomplexobj(delta) else None
        mask = path.mask(idx) if path is not None else None
        args = path.args(idx) if path is not None and mask is not None else ()
        if mask is not None and all(isinstance(a, jax.Array) for a in args):
            # the time path with an index-like target: one compiled function per chunk shape
            g, h = fns.step(start, delta, self.as_index(idx), jnp.asarray(alphas), jnp.asarray(mask), *lead, *args)
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
