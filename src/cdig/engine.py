"""The engine: preparing a request (backend, input, layout, target, chunk size) and running it.

The one place :func:`cdig.explain`, :mod:`cdig.dataset` and :mod:`cdig.metrics` go through, so they
all see the model, its input and its output alike. Data flows one way: user input -> checks ->
backend (model gradients along the path) -> core (integration) -> domains (coefficients,
adjoint) -> :class:`~cdig.Attribution`.

:func:`prepare` validates the model and input once; :class:`Run` holds one explanation's model,
target and integration settings and computes every requested domain (linear domains that share a
path in one batched pass, nonlinear ones each along their own); :class:`ModelPath` is the time
path's function, with the pieces a compiling backend uses to run a chunk as one graph.
"""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ._progress import Progress
from .backends import BACKENDS, Backend, get_backend, get_backend_by_name
from .backends.numpy import NumpyBackend
from .core.attribution import Attribution
from .core.checks import Layout, check_input, check_positive_int
from .core.draws import Draws, combine
from .core.errors import CdigError, CdigModelError, CdigTypeError, CdigValueError, CdigWarning, ConvergenceWarning, one_line
from .core.memory import (
    CALIBRATE_FACTOR,
    DEFAULT_FRACTION,
    HEURISTIC_FACTOR,
    adaptive_store_bytes,
    check_minimum,
    chunk_rows,
    fixed_bytes,
    parse_bytes,
)
from .core.outputs import ModelCall, check_output_selector, split_forward_args
from .core.path import (
    STORE_BYTES,
    MapCheck,
    PathResult,
    combine_estimates,
    integrate_adaptive,
    integrate_fixed,
    integrate_points,
    relative,
    roundoff_floor,
)
from .core.targets import Target, make_target
from .domains import Domain

__all__ = [
    "prepare",
    "Prepared",
    "Run",
    "ModelPath",
    "DEFAULT_CHUNK_ELEMENTS",
    "WARN_RELATIVE_DELTA",
    "array_type_of",
    "check_batch_size",
    "split_baselines",
    "to_host",
]

#: Default chunk size: this many input elements (path points × their size) per forward pass.
DEFAULT_CHUNK_ELEMENTS = 2**24
#: A fixed rule warns when |delta| exceeds this fraction of |f(x) - f(baseline)|.
WARN_RELATIVE_DELTA = 0.01


@dataclass
class Prepared:
    """What every computation on a model and a batch starts from (see :func:`prepare`)."""

    be: Backend
    xb: Any
    xn: np.ndarray
    layout: Layout
    run: "Run"
    #: What was decided about the model and its input, for ``settings`` (a wrapper unwrapped, the input's
    #: dtype, the output selected).
    notes: dict[str, Any] = field(default_factory=dict)


def prepare(
    model: Any,
    x: Any,
    *,
    target: Any,
    time_axis: int | None,
    additional_forward_args: Any,
    internal_batch_size: int | None,
    backend: str | type[Backend] | None,
    n_steps: int | str = 1,
    method: str = "gausslegendre",
    rtol: float = 1e-3,
    max_steps: int = 4096,
    progress: bool = False,
    auto_budget: int | None = None,
    output: Any = None,
) -> Prepared:
    """Backend, validated input and layout, target, model arguments and chunk size: shared by
    :func:`explain` and :mod:`cdig.metrics`, so both see the model, its input and its output alike.

    ``backend``: a name, None (detected: a plain function of numpy arrays that reaches no framework's
    model runs on :class:`~cdig.backends.numpy.NumpyBackend`), or a
    :class:`~cdig.backends.Backend` class to use as it is.

    ``auto_budget``: None keeps ``internal_batch_size`` (or the default chunk); -1 sizes chunks to half
    the free memory, a positive number to that many bytes (``internal_batch_size="auto"``).

    A wrapper object (a skorch net, an aeon deep learner, a fastai ``Learner``) is replaced by the
    network it holds (:func:`cdig.wrappers.unwrap_model`); ``additional_forward_args`` may hold keyword
    arguments (:func:`cdig.core.outputs.split_forward_args`), and ``output`` selects the tensor explained
    in a structured output (:class:`cdig.core.outputs.ModelCall`). Where the time axis was not given and
    the model suggests another (a channels-last input), a :class:`CdigWarning` names ``time_axis``."""
    from .wrappers import unwrap_model

    notes: dict[str, Any] = {}
    model, unwrapped = unwrap_model(model)
    if unwrapped is not None:
        notes["model_unwrapped"] = unwrapped
    _check_model(model)
    _check_x_type(x)
    check_output_selector(output)
    if backend == "numpy" or (backend is None and _runs_on_numpy(model, x, additional_forward_args)):
        backend = NumpyBackend  # a plain function of numpy arrays: no framework
    if isinstance(backend, type) and issubclass(backend, Backend):  # a backend of cdig's own (e.g. numpy)
        be = backend(model, x)
    else:
        be = get_backend(model, x, backend)
        if backend is not None:
            _check_backend_owns(be, model)
    try:
        xb = be.asarray(x)
        xn = be.to_numpy(xb)
    except CdigError:
        raise
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as e:  # e.g. meta or sparse tensors
        raise CdigTypeError(
            f"x ({type(x).__module__.split('.')[0]} {type(x).__name__}) cannot be read as a dense array of numbers: "
            f"{one_line(e)}; pass a dense floating-point array or tensor"
        ) from None
    check_input(xn)
    n = xn.shape[0]
    x_dtype = getattr(x, "dtype", None)
    given = getattr(x_dtype, "name", None) or str(x_dtype).rsplit(".", 1)[-1]
    if x_dtype is not None and given != xn.dtype.name:
        notes["input_dtype"] = f"{xn.dtype.name} (the model's; x was {given})"
    if time_axis is None:
        time_axis = be.default_time_axis if xn.ndim == 3 else 1
        if xn.ndim == 3:
            hint = be.time_axis_hint(xn.shape, time_axis)
            if hint:
                warnings.warn(hint, CdigWarning, stacklevel=3)
    layout = Layout.make(xn.shape, time_axis)
    if 0 in xn.shape:
        raise CdigValueError(
            f"x has shape {xn.shape} with an axis of length 0; every axis (samples, channels, time) needs at least one entry"
        )
    check_positive_int(internal_batch_size, "internal_batch_size", allow_none=True)
    tgt = make_target(to_host(target, be), n)
    positional, keywords = split_forward_args(additional_forward_args)
    _check_call(model, positional, keywords)
    args = _forward_args(positional + tuple(keywords.values()), be)
    be.set_call(ModelCall(keywords=tuple(keywords), output=output, raw=output is None and tgt.kind == "callable"))
    notes["output"] = be.model_call.describe()
    per_row = int(np.prod(xn.shape[1:]))
    batch_rows = internal_batch_size or max(1, DEFAULT_CHUNK_ELEMENTS // per_row)
    dtype = np.dtype(xn.dtype if xn.dtype.kind == "f" else np.float64)
    run = Run(
        be,
        model,
        tgt,
        args,
        n,
        batch_rows,
        n_steps,
        method,
        rtol,
        max_steps,
        progress,
        eps=float(np.finfo(dtype).eps),
        out_dtype=dtype.name,
        auto_budget=auto_budget,
    )
    return Prepared(be, xb, xn, layout, run, notes)


def _check_model(model: Any) -> None:
    """A model object, not a class or a file name."""
    if isinstance(model, type):
        raise CdigTypeError(
            f"model is the class {model.__qualname__}, not a model: pass an instance (e.g. {model.__name__}(...)) or a function"
        )
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        raise CdigTypeError(
            f"model must be callable (a framework model or a function), got the path {model!r}; load it first "
            "(e.g. cdig.io.load_model(path)) or use the command line: cdig explain MODEL DATA"
        )


def _check_x_type(x: Any) -> None:
    """``x`` is an array-like of numbers (the dtype and shape are checked after conversion)."""
    if x is None or isinstance(x, (str, bytes, dict)):
        raise CdigTypeError(f"x must be an array or tensor of floating-point signals, got {type(x).__name__}")
    if isinstance(x, (list, tuple)):
        try:
            arr = np.asarray(x)
        except ValueError:
            raise CdigTypeError(
                "x is a ragged list (its rows have different lengths); pass an array of equal-length signals"
            ) from None
        if arr.dtype.kind not in "biufc":
            raise CdigTypeError(f"x must be numbers, got a list that converts to dtype {arr.dtype}")
    elif isinstance(x, np.ndarray) and x.dtype.kind not in "biufc":
        raise CdigTypeError(f"x has dtype {x.dtype}; a floating-point array is accepted")


def _check_backend_owns(be: Backend, model: Any) -> None:
    """With ``backend=`` named: the model is not another framework's (whose ops the named one cannot run)."""
    import sys

    from .backends import BACKENDS, get_backend_by_name

    for name, (_, framework) in BACKENDS.items():
        if name == be.name or framework not in sys.modules:
            continue
        try:
            owner = get_backend_by_name(name)
        except CdigError:
            continue
        if owner.owns_model(model) and not type(be).owns_model(model):
            raise CdigTypeError(
                f"backend={be.name!r} cannot run the model: {type(model).__name__} is a {name} model; "
                f"pass backend={name!r} or leave backend=None (detected from the model)"
            )


def _check_call(model: Any, args: tuple, keywords: Mapping[str, Any] | None = None) -> None:
    """``model(x, *args, **keywords)`` fits the model's signature, where it can be read (a clear error,
    before any work, for a wrong ``additional_forward_args``)."""
    import inspect

    fn = model
    try:  # not through __wrapped__: a decorator may take other arguments than the function it wraps
        sig = inspect.signature(fn, follow_wrapped=False)
        if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()) and callable(
            getattr(model, "forward", None)
        ):
            fn = model.forward  # e.g. torch modules: __call__(*args, **kwargs) runs forward
            sig = inspect.signature(fn, follow_wrapped=False)
    except Exception:  # noqa: BLE001 - builtins, compiled objects: nothing to check here
        return
    keywords = dict(keywords or {})
    try:
        sig.bind(None, *args, **keywords)
    except TypeError as e:
        parts = [f"{len(args)} positional argument(s)"] if args else []
        parts += [f"keyword(s) {', '.join(keywords)}"] if keywords else []
        what = f"with additional_forward_args of {' and '.join(parts)}" if parts else "without additional_forward_args"
        raise CdigTypeError(
            f"the model cannot be called as model(x, *args, **keywords) {what}: its signature is "
            f"{getattr(fn, '__qualname__', type(model).__name__)}{sig} ({e}); pass additional_forward_args= with "
            "the model's other arguments: a tuple (in order), a dict (by name), or a tuple ending in a dict"
        ) from None


@dataclass(frozen=True)
class Run:
    """One explanation: the model, target and integration settings, shared by every domain.

    Frozen: what is learnt while running (the output's shape and precision, the chunk size under a
    memory budget) comes back as a new ``Run`` (:meth:`calibrate`, :meth:`size_chunks`), never by
    changing this one.

    The path integral (:meth:`path`, :meth:`explain_all`) is one family of attribution methods on top of
    it; another family (perturbations: occlusion, Shapley values, masks) plugs in beside it with the same
    pieces — :func:`prepare`, :meth:`outputs` for batches of perturbed signals, the domains' ``forward``
    and ``inverse`` to perturb coefficients, and :meth:`attribution` to turn per-coefficient scores into
    an :class:`~cdig.Attribution` — without touching the domains.
    """

    be: Backend
    model: Any
    target: Target
    args: tuple
    n: int
    batch_rows: int
    n_steps: int | str
    method: str
    rtol: float
    max_steps: int
    progress: bool
    out_shape: tuple = ()
    #: Machine epsilon of the precision the model computes in (the coarser of its input and output dtypes).
    eps: float = 0.0
    out_dtype: str = ""
    #: None: ``batch_rows`` as given; -1: size it to half the free memory; > 0: to this many bytes.
    auto_budget: int | None = None
    #: Host bytes ``n_steps="auto"`` may keep interval contributions in (a share of a memory budget).
    store_bytes: int = STORE_BYTES
    #: One path point per row at these ``α`` (expected gradients' random points), instead of a rule.
    row_alphas: np.ndarray | None = None

    # --- model calls ---------------------------------------------------------------------
    def calibrate(self, inputs: Any) -> tuple[np.ndarray, "Run"]:
        """The explained outputs at ``inputs`` (checked), and this run knowing the output's shape and the
        precision the model computes in (round-off floors use the coarser of the input's and output's).

        Under a memory budget (``internal_batch_size="auto"``), a budget that cannot hold the samples
        themselves is refused before the model runs, and these forward passes (and those at the
        baseline, until :meth:`size_chunks`) take at most ``budget / (CALIBRATE_FACTOR · sample
        bytes)`` samples at once."""
        run = self
        if self.auto_budget is not None:
            budget = self._budget()
            row_bytes = self._row_bytes(inputs)
            check_minimum(budget, self.n, row_bytes, 0, self.n_steps == "auto")  # domains not known yet: one
            run = replace(self, batch_rows=max(1, min(self.batch_rows, budget // (CALIBRATE_FACTOR * row_bytes))))
        y, shape, dtype = run._outputs(inputs, check=True, what="input")
        eps = float(np.finfo(dtype).eps) if dtype.kind in "fc" else 0.0
        coarser = eps > self.eps
        return y, replace(run, out_shape=shape, eps=max(eps, self.eps), out_dtype=dtype.name if coarser else self.out_dtype)

    def _budget(self) -> int:
        """The bytes ``internal_batch_size="auto"`` may use: ``memory_budget``, else a share of the free memory."""
        if self.auto_budget is not None and self.auto_budget > 0:
            return self.auto_budget
        free = self.be.free_memory()
        if free is None:
            raise CdigValueError(
                "internal_batch_size='auto' needs memory_budget=... here: the free memory of this device is unknown"
            )
        return int(free * DEFAULT_FRACTION)

    def _row_bytes(self, xb: Any) -> int:
        """Bytes of one sample of ``xb`` in its precision."""
        be = self.be
        itemsize = int(np.dtype(be.to_numpy(be.take(xb, np.arange(1))).dtype).itemsize)
        return int(np.prod(tuple(xb.shape)[1:])) * itemsize

    def expand(self, rows: np.ndarray, row_alphas: np.ndarray | None = None) -> "Run":
        """This run for ``rows``, each a sample of this one (a sample may repeat: draws of a distribution):
        per-sample targets and model arguments follow their samples."""
        be = self.be
        args = tuple(be.take(a, rows) if be.is_array(a) and a.ndim >= 1 and a.shape[0] == self.n else a for a in self.args)
        return replace(self, n=len(rows), target=self.target.take(rows), args=args, row_alphas=row_alphas)

    def _args(self, idx: np.ndarray) -> tuple:
        be = self.be
        return tuple(be.take(a, idx) if be.is_array(a) and a.ndim >= 1 and a.shape[0] == self.n else a for a in self.args)

    def scalar(self, inputs: Any, idx: np.ndarray) -> Any:
        """The explained scalar of each row (with gradients)."""
        return self.target.select(self.be.call(inputs, self._args(idx)), idx, self.be)

    def model_path(self) -> "ModelPath":
        """The time path's function, with what compiled backends need to run a chunk as one graph."""
        return ModelPath(self)

    def outputs(self, inputs: Any, check: bool = False, what: str = "path's end points") -> np.ndarray:
        """The explained scalar per sample at ``inputs`` (N rows), without gradients."""
        return self._outputs(inputs, check, what)[0]

    def _outputs(self, inputs: Any, check: bool, what: str) -> tuple[np.ndarray, tuple, np.dtype]:
        """Outputs, the model's output shape (checked with ``check``) and the explained output's dtype."""
        vals, out_shape, dtype = [], self.out_shape, np.dtype(np.float64)
        for s in range(0, self.n, self.batch_rows):
            idx = np.arange(s, min(s + self.batch_rows, self.n))
            rows = self.be.take(inputs, idx) if len(idx) < self.n else inputs
            out = self.be.forward(rows, self._args(idx))
            if check and self.be.model_call.raw:  # a callable target reads the raw output: it checks its own result
                check = False
            if check:
                shape = tuple(getattr(out, "shape", ()))
                if not shape or shape[0] != len(idx):
                    found = self.be.model_call.found
                    where = (
                        f" (the first tensor, {found['path']!r}, of {found['structure']}; choose the tensor to explain "
                        "with output=..., e.g. a key, an index or a callable)"
                        if "path" in found
                        else ""
                    )
                    raise CdigModelError(
                        f"the model returned shape {shape} for a batch of {len(idx)} samples{where}; it must return "
                        "a batch of outputs with the samples on the first axis"
                    )
                self.target.check_output(shape[1:], self.n)
                out_shape = shape[1:]
                check = False
            sel = self.be.to_numpy(self.target.select(out, idx, self.be))
            dtype = sel.dtype
            if sel.dtype.kind not in "fc":
                raise CdigModelError(
                    f"the explained output has dtype {sel.dtype}; it must be floating (an integer output, "
                    "e.g. argmax or a classifier's predict, has no gradient and moves only in jumps): explain the "
                    "logits or probabilities instead (e.g. predict_proba)"
                )
            vals.append(sel.astype(np.float64))
        y = np.concatenate(vals)
        if np.iscomplexobj(y) or y.shape != (self.n,):
            raise CdigModelError(f"the explained output must be one real scalar per sample; got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            bad = np.nonzero(~np.isfinite(y))[0]
            raise CdigModelError(
                f"the model's explained output is NaN/Inf for sample(s) {bad[:10].tolist()} at the "
                f"{what}; attributions of a non-finite output are meaningless"
            )
        return y, out_shape, dtype

    def check_batch_independence(self, xn: np.ndarray, x0n: np.ndarray, f_x: np.ndarray, f_x0: np.ndarray) -> None:
        """Refuse a model whose output for a sample depends on the other rows of its batch (or is random).

        A path chunk holds several points of one or more samples, so a layer that computes across the
        batch (BatchNorm in training mode) or at random (dropout in training mode) gives a map of
        something else than the model. One forward pass of a batch mixing the first sample with the other
        samples' baselines (or, for one sample, the sample beside its baseline), shaped like the chunks
        already run, must reproduce the outputs each row had in its own batch. It holds at most
        ``batch_rows`` rows (with one row per call, the first sample again: randomness still shows).
        """
        be = self.be
        m = min(self.n, self.batch_rows)
        if m >= 2:
            idx = np.arange(m)
            rows, ref = np.concatenate([xn[:1], x0n[1:m]]), np.concatenate([f_x[:1], f_x0[1:m]])
        elif self.batch_rows >= 2:
            idx = np.zeros(2, dtype=np.int64)
            rows, ref = np.concatenate([xn[:1], x0n[:1]]), np.array([f_x[0], f_x0[0]])
        else:  # one row per call: the same row again shows randomness; batch statistics cannot show
            found = be.training_layers()
            if found:
                raise CdigModelError(
                    f"the model is in training mode with layers that compute across the batch or at random ({'; '.join(found)}): "
                    "with one row per call cdig cannot check that its output is the model's own. Call .eval() on the model "
                    "before explaining it (or pass the module itself: cdig then explains it in eval mode)"
                )
            idx = np.zeros(1, dtype=np.int64)
            rows, ref = xn[:1], f_x[:1]
        out = be.forward(be.asarray(rows), self._args(idx))
        y = be.to_numpy(self.target.select(out, idx, be)).astype(np.float64).reshape(-1)
        scale = float(np.max(np.abs(np.concatenate([f_x, f_x0])), initial=0.0))
        tol = np.sqrt(self.eps) * (np.abs(y) + np.abs(ref) + scale) + 1e-300
        off = np.abs(y - ref) > tol
        if not off.any():
            return
        k = int(np.argmax(np.abs(y - ref) - tol))
        which = f"sample {idx[k]}" + (" at the baseline" if (self.n >= 2 and k > 0) or (self.n == 1 and k == 1) else "")
        found = be.training_layers()
        behind = f" In training mode now: {'; '.join(found)}." if found else ""
        raise CdigModelError(
            f"the model's output for a sample depends on the other samples in its batch, or is random: {which} gives "
            f"{ref[k]:.6g} in one batch and {y[k]:.6g} in another. A layer computes across the batch or at random: "
            f"BatchNorm or dropout in training mode.{behind} Call .eval() on the model before explaining it (or pass "
            "the module itself, not a function calling it: cdig then explains it in eval mode and restores its mode); "
            "more integration steps cannot help"
        )

    def size_chunks(self, xb: Any, x0b: Any, domains: Sequence[Domain] = ()) -> tuple["Run", dict[str, Any]]:
        """``internal_batch_size="auto"``: this run with ``batch_rows`` from the budget and the measured
        cost of a point, and what was planned (for ``settings``).

        The budget first pays what the explanation holds for its samples and ``domains``
        (:func:`~cdig.core.memory.fixed_bytes`, with the adaptive rule's host store, a share of the
        budget); the rest is the chunk's: a measured constant and the measured cost of a point, plus
        the copies the integration makes per point outside the model (weighted gradients; for
        ``"auto"`` also the directional derivative and the kept interval rows; the inverse transform of
        a nonlinear domain's path). Too small a budget is refused before the probe runs a point
        (:func:`~cdig.core.memory.check_minimum`) or after the probe's first point, naming the budget
        that would do."""
        be = self.be
        budget = self._budget()
        row_bytes = self._row_bytes(xb)
        adaptive = self.n_steps == "auto"
        n_domains = max(1, len(domains))
        store = adaptive_store_bytes(budget, STORE_BYTES) if adaptive else 0
        check_minimum(budget, self.n, row_bytes, n_domains, adaptive, store)
        fixed = fixed_bytes(self.n, row_bytes, n_domains, adaptive, store)
        # per point, outside the model: weighted gradients (+ h and the kept rows for "auto"; + the
        # inverse transform and its gradient for a nonlinear domain's own path)
        outside = (1 + (2 if adaptive else 0) + (2 if any(not d.linear for d in domains) else 0)) * row_bytes
        measured = be.point_bytes(self.model_path(), x0b, xb - x0b, room=budget - fixed - outside)
        per, chunk_fixed = measured if measured is not None else (float(HEURISTIC_FACTOR * row_bytes), 0.0)
        per += outside
        most = self.n * (int(self.n_steps) if not adaptive else self.max_steps)
        rows = chunk_rows(budget, per, fixed, most, chunk_fixed, measured is not None)
        info = {
            "memory_budget": budget,
            "bytes_per_point": round(per),
            "bytes_per_point_measured": measured is not None,
            "bytes_per_chunk": round(chunk_fixed),
            "bytes_fixed": fixed,
        }
        if adaptive:
            info["adaptive_store_bytes"] = store
        return replace(self, batch_rows=rows, store_bytes=store if adaptive else self.store_bytes), info

    # --- the path ------------------------------------------------------------------------
    def path(
        self,
        fn: Callable[[Any, np.ndarray], Any],
        start: Any,
        delta: Any,
        change: np.ndarray,
        label: str,
        check: MapCheck | None = None,
    ) -> PathResult:
        total = self.n if self.row_alphas is not None else None if self.n_steps == "auto" else self.n * int(self.n_steps)
        bar = Progress(self.progress, total, f"cdig {label}")
        try:
            if self.row_alphas is not None:
                return integrate_points(self.be, fn, start, delta, self.row_alphas, self.batch_rows, on_rows=bar)
            if self.n_steps == "auto":
                return integrate_adaptive(
                    self.be,
                    fn,
                    start,
                    delta,
                    change,
                    self.rtol,
                    self.max_steps,
                    self.batch_rows,
                    eps=self.eps,
                    on_rows=bar,
                    check=check,
                    store_bytes=self.store_bytes,
                )
            return integrate_fixed(
                self.be, fn, start, delta, self.n, int(self.n_steps), self.method, self.batch_rows, on_rows=bar
            )
        finally:
            bar.close()

    # --- all domains ---------------------------------------------------------------------
    def explain_all(
        self,
        doms: Sequence[Domain],
        xb: Any,
        x0b: Any,
        xn: np.ndarray,
        layout: Layout,
        coef_bases: Mapping[str, Any],
        fs: float | None,
        multiply: bool,
        settings: dict,
        tgt: Target,
        draws: Draws | None = None,
    ) -> dict[str, Attribution]:
        """Every domain's map: the outputs at the ends, then linear domains sharing a path in one batched
        pass each, nonlinear ones along their own path.

        With ``draws`` (a baseline distribution or noise, :mod:`cdig.core.draws`; ``x0b`` is then one
        baseline per sample, used for the checks only), every draw is a row of one explanation, whose
        maps are averaged per sample; domains fitted on the data are fitted on ``x`` alone."""
        xcn = layout.to_canonical_np(xn)
        for d in doms:  # before the model runs: a domain that does not fit the input says so first
            d.fit(xcn)
        f_x, run = self.calibrate(xb)
        f_x0 = run.outputs(x0b, what="baseline")
        run.check_batch_independence(xn, self.be.to_numpy(x0b), f_x, f_x0)
        found = self.be.model_call.found
        if "path" in found:
            settings["output_selected"] = f"{found['path']} (the first tensor of {found['structure']})"
        if draws is not None:
            return run._explain_draws(doms, xb, xn, layout, fs, multiply, settings, draws)
        if run.auto_budget is not None:
            run, info = run.size_chunks(xb, x0b, doms)
            settings.update(info)
        settings["internal_batch_size_used"] = run.batch_rows
        settings["dtype"] = run.out_dtype
        return run._explain_domains(doms, xb, x0b, xn, layout, coef_bases, fs, multiply, settings, tgt, f_x, f_x0)

    def _explain_draws(
        self,
        doms: Sequence[Domain],
        xb: Any,
        xn: np.ndarray,
        layout: Layout,
        fs: float | None,
        multiply: bool,
        settings: dict,
        draws: Draws,
    ) -> dict[str, Attribution]:
        """The maps of every draw (one row each, the samples' fitted domains), averaged per sample."""
        be, xp = self.be, self.be.xp
        coefficients = {d.name: be.to_numpy(d.forward(layout.to_canonical(xb, xp), xp)) for d in doms}
        run = self.expand(draws.rows, draws.alphas)
        xe, x0e = be.asarray(draws.x), be.asarray(draws.x0)
        rows_doms = [d.select_rows(draws.rows) for d in doms]
        if run.auto_budget is not None:
            run, info = run.size_chunks(xe, x0e, rows_doms)
            settings.update(info)
        settings["internal_batch_size_used"] = run.batch_rows
        settings["dtype"] = run.out_dtype
        f_x = run.outputs(xe, what="drawn inputs")
        f_x0 = run.outputs(x0e, what="drawn baselines")
        maps = run._explain_domains(rows_doms, xe, x0e, draws.x, layout, {}, fs, multiply, settings, run.target, f_x, f_x0)
        out = {}
        for d in doms:
            att = combine(maps[d.name], draws, coefficients[d.name])
            out[d.name] = replace(att, target=self.target.describe(), domain_object=copy.copy(d))
        return out

    def _explain_domains(
        self,
        doms: Sequence[Domain],
        xb: Any,
        x0b: Any,
        xn: np.ndarray,
        layout: Layout,
        coef_bases: Mapping[str, Any],
        fs: float | None,
        multiply: bool,
        settings: dict,
        tgt: Target,
        f_x: np.ndarray,
        f_x0: np.ndarray,
    ) -> dict[str, Attribution]:
        be, xp = self.be, self.be.xp
        xc, x0c = layout.to_canonical(xb, xp), layout.to_canonical(x0b, xp)
        xcn = layout.to_canonical_np(xn)
        x0n = be.to_numpy(x0b)
        x0cn = layout.to_canonical_np(x0n)
        prepared: list[tuple[Domain, Any, Any, tuple[Any, Any] | None]] = []
        groups: dict[tuple[str, str], list[int]] = {}
        for d in doms:  # fitted by explain_all
            z = d.forward(xc, xp)
            z0 = coef_baseline(coef_bases[d.name], z, be, d.name) if d.name in coef_bases else d.forward(x0c, xp)
            if d.linear:
                xe = layout.from_canonical(d.inverse(z, xp), xp)
                x0e = layout.from_canonical(d.inverse(z0, xp), xp)
                scale = max(float(np.abs(xn).max()), float(np.abs(x0n).max()))
                same_x = _reconstructs(d, xcn, scale, be, xe, xb)
                same_x0 = _reconstructs(d, x0cn, scale, be, x0e, x0b)
                key = ("x" if same_x else d.name, "x0" if same_x0 and d.name not in coef_bases else d.name)
                ends = (xb if same_x else xe, x0b if same_x0 and d.name not in coef_bases else x0e)
                groups.setdefault(key, []).append(len(prepared))
                prepared.append((d, z, z0, ends))
            else:
                prepared.append((d, z, z0, None))

        results: dict[int, Attribution] = {}
        for key, members in groups.items():
            shared = prepared[members[0]][3]
            assert shared is not None  # a linear domain's path ends
            xe, x0e = shared
            f1 = f_x if key[0] == "x" else self.outputs(xe)
            f0 = f_x0 if key[1] == "x0" else self.outputs(x0e)

            def adjoint(v: Any, i: int) -> Any:
                d, z = prepared[i][0], prepared[i][1]
                return be.vjp(lambda zz: d.inverse(zz, xp), z, layout.to_canonical(v, xp))

            def check(grad: Any, error: Any, members: list[int] = members) -> tuple[np.ndarray, np.ndarray]:
                rows = [
                    self.map_error(prepared[i][0], prepared[i][1], prepared[i][2], adjoint(grad, i), adjoint(error, i), True)
                    for i in members
                ]
                return np.array([r[1] for r in rows]), np.array([r[2] for r in rows])

            res = self.path(self.model_path(), x0e, xe - x0e, f1 - f0, "+".join(prepared[i][0].name for i in members), check)
            for i in members:
                d, z, z0, _ = prepared[i]
                g = adjoint(res.grad, i)
                e = adjoint(res.error, i) if res.error is not None else None
                results[i] = self.attribution(d, z, z0, g, e, f1, f0, res, layout, fs, multiply, settings, tgt)
        for i, (d, z, z0, own_path) in enumerate(prepared):
            if own_path is not None:
                continue
            f1 = self.outputs(layout.from_canonical(d.inverse(z, xp), xp))
            f0 = self.outputs(layout.from_canonical(d.inverse(z0, xp), xp))

            def fn(zr: Any, idx: np.ndarray, d: Domain = d) -> Any:
                return self.scalar(layout.from_canonical(d.select_rows(idx).inverse(zr, xp), xp), idx)

            def own_check(grad: Any, error: Any, d: Domain = d, z: Any = z, z0: Any = z0) -> tuple[np.ndarray, np.ndarray]:
                _, rel, norm = self.map_error(d, z, z0, grad, error, True)
                return rel[None], norm[None]

            res = self.path(fn, z0, z - z0, f1 - f0, d.name, own_check)
            results[i] = self.attribution(d, z, z0, res.grad, res.error, f1, f0, res, layout, fs, multiply, settings, tgt)
        return {prepared[i][0].name: results[i] for i in range(len(prepared))}

    def map_error(self, d: Domain, z: Any, z0: Any, g: Any, e: Any, multiply: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Absolute and relative L2 norm per sample of the error vector ``e`` mapped like the map ``d``
        reports, and that map's L2 norm, from the gradient ``g`` and ``e`` (both in the domain's
        coefficients): both go through the same multiplication by ``z - z0`` and the same reduction
        (a sum) as the map itself."""
        be = self.be
        dz = be.to_numpy(z) - be.to_numpy(z0)
        maps = [d.reduce(_contrib(dz, be.to_numpy(v)) if multiply else be.to_numpy(v))[0] for v in (g, e)]
        norm, err = (np.sqrt(np.sum(np.abs(m.reshape(self.n, -1)) ** 2, axis=1)) for m in maps)
        return err, relative(err, norm), norm

    def attribution(
        self,
        d: Domain,
        z: Any,
        z0: Any,
        g: Any,
        e: Any,
        f1: np.ndarray,
        f0: np.ndarray,
        res: PathResult,
        layout: Layout,
        fs: float | None,
        multiply: bool,
        settings: dict,
        tgt: Target,
    ) -> Attribution:
        be = self.be
        zn, z0n, gn = be.to_numpy(z), be.to_numpy(z0), be.to_numpy(g)
        contrib = _contrib(zn - z0n, gn)
        delta = contrib.reshape(self.n, -1).sum(axis=1, dtype=np.float64) - (f1 - f0)
        flat = np.nonzero(
            (np.abs(gn).reshape(self.n, -1).max(axis=1) == 0) & (np.abs(f1 - f0) > _output_resolution(f1, f0, self.eps))
        )[0]
        if flat.size and self.row_alphas is None:  # one random point of a path may well be flat
            raise CdigModelError(
                f"[{d.name}] the model's gradient is zero all along the path for sample(s) {flat[:10].tolist()} "
                "although its output changes: the model has a step without a derivative (an integer cast, "
                "round, argmax or a comparison) between the input and the output"
            )
        if not np.all(np.isfinite(delta)):
            raise CdigModelError(
                f"[{d.name}] the model's gradient is NaN/Inf somewhere on the path for sample(s) "
                f"{np.nonzero(~np.isfinite(delta))[0][:10].tolist()}; check the model for operations "
                "without a finite derivative (e.g. sqrt or log at 0)"
            )
        raw = contrib if multiply else gn
        values, dims, extras = d.reduce(raw)
        error_estimate = None
        if e is not None:
            _, rel, norm = self.map_error(d, z, z0, g, e, multiply)
            scale = res.error_scale if res.error_scale is not None else 1.0
            rel = combine_estimates(rel * scale, delta, f1 - f0, norm if multiply else np.full_like(norm, np.inf))
            error_estimate = {"relative": rel, "absolute": rel * norm}
        full_dims = d.axis_names(raw.ndim - 1)
        dims = full_dims if dims is None else dims
        coords, units = d.coords(raw.shape[1:], fs)
        values, dims = layout.squeeze_channels(values, dims)
        if layout.ndim == 2 and full_dims[:1] == ("channel",):
            coords.pop("channel", None)
            # extras keep the map's sample and channel axes first: drop the channel axis there too
            extras = {k: v[:, 0] if v.ndim >= 2 and v.shape[1] == 1 else v for k, v in extras.items()}
        if self.row_alphas is None:  # one random point per row: delta is a sampling residual, not a rule's error
            self._warn(d.name, delta, f1, f0, res, contrib)
        return Attribution(
            values=values,
            domain=d.name,
            dims=tuple(dims),
            coords=coords,
            delta=delta,
            output=f1,
            baseline_output=f0,
            n_steps=res.steps,
            target=tgt.describe(),
            units=units,
            settings={**settings, "domain": d.describe()},
            coefficients=zn,
            baseline_coefficients=z0n,
            extras=extras,
            domain_object=copy.copy(d),
            error_estimate=error_estimate,
        )

    def _warn(self, name: str, delta: np.ndarray, f1: np.ndarray, f0: np.ndarray, res: PathResult, contrib: np.ndarray) -> None:
        change = np.abs(f1 - f0)
        rel = relative(np.abs(delta), change)
        resolution = _output_resolution(f1, f0, self.eps)
        if self.n_steps == "auto":
            if res.converged is not None and not res.converged.all():
                bad = ~res.converged
                map_err = res.map_error[bad] if res.map_error is not None else np.array([np.nan])
                warnings.warn(
                    f"[{name}] n_steps='auto' spent its budget (max_steps={self.max_steps}) on {int(bad.sum())} of "
                    f"{self.n} sample(s) before reaching rtol={self.rtol}: their estimated relative map error is up "
                    f"to {float(np.max(map_err)):.3g} and their relative |delta| up to {float(np.max(rel[bad])):.3g}. "
                    f"Raise max_steps or rtol.{_resolution_hint(f1, f0, change, resolution, self.rtol, self.out_dtype)}",
                    ConvergenceWarning,
                    stacklevel=4,
                )
            return
        floor = roundoff_floor(change, np.abs(contrib).reshape(self.n, -1).sum(axis=1), self.eps)
        off = np.abs(delta) > WARN_RELATIVE_DELTA * change + floor
        if off.any():
            warnings.warn(
                f"[{name}] completeness is off by up to {100 * float(rel[off].max()):.3g}% of "
                f"|f(x) - f(baseline)| on {int(off.sum())} of {self.n} sample(s) with {self.n_steps} "
                f"{self.method} steps; use n_steps='auto' (adaptive, with rtol) or more steps"
                f"{_resolution_hint(f1, f0, change, resolution, WARN_RELATIVE_DELTA, self.out_dtype)}",
                ConvergenceWarning,
                stacklevel=4,
            )


class ModelPath:
    """``fn(points, idx)`` of the straight time path: the explained scalar of each row.

    Besides being callable (the generic route every backend can take), it offers the pieces a
    compiling backend (TensorFlow, JAX) uses to run a whole chunk as one graph: the one-hot
    cotangent that selects each row's output (``mask(idx)``, None for callable targets) and the
    model's extra arguments for the rows (``args(idx)``).
    """

    def __init__(self, run: Run) -> None:
        self.run = run

    def __call__(self, points: Any, idx: np.ndarray) -> Any:
        return self.run.scalar(points, idx)

    def mask(self, idx: np.ndarray) -> np.ndarray | None:
        return self.run.target.mask(self.run.out_shape, idx)

    def args(self, idx: np.ndarray) -> tuple:
        return self.run._args(idx)


# --- helpers -------------------------------------------------------------------------------
def _contrib(dz: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``Re[dz · conj(g)]``: the attribution of each coefficient (real and imaginary parts added)."""
    if np.iscomplexobj(dz) or np.iscomplexobj(g):
        return dz.real * g.real + dz.imag * g.imag
    return dz * g


def _output_resolution(f1: np.ndarray, f0: np.ndarray, eps: float) -> np.ndarray:
    """How finely ``f(x) - f(baseline)`` is known from the two outputs, each rounded in the model's precision."""
    return 4 * eps * (np.abs(f1) + np.abs(f0)) + 1e-300


def _resolution_hint(f1: np.ndarray, f0: np.ndarray, change: np.ndarray, resolution: np.ndarray, rtol: float, dtype: Any) -> str:
    """A sentence for warnings where the outputs themselves cannot resolve the tolerance asked for."""
    coarse = resolution > rtol * change
    if not coarse.any():
        return ""
    k = int(np.argmax(np.where(coarse, resolution / np.maximum(change, 1e-300), -np.inf)))
    return (
        f" Note: the model's outputs are about {max(abs(f1[k]), abs(f0[k])):.3g} in {dtype}, so f(x) - f(baseline) "
        f"= {f1[k] - f0[k]:.3g} is only known to about ±{resolution[k]:.2g} on sample {k}: completeness cannot be "
        "checked more finely than that. Remove the constant offset from the output, or compute in float64."
    )


def _reconstructs(d: Domain, xc: np.ndarray, scale: float, be: Backend, back: Any, x: Any) -> bool:
    """Whether ``T⁻¹(T(x)) = x`` (relative to ``scale``, the size of the signals explained).

    Decided with a double-precision round trip in the framework, so that float32 round-off of the
    transform does not count as a different signal; in the explanation's precision where the domain
    cannot run in double precision (e.g. float32 constants, or a device without float64).
    """
    scale = max(scale, 1e-30)
    try:
        if not be.float64:
            raise TypeError("no double precision")
        x64 = be.asarray(xc.astype(np.float64), dtype="float64")
        again = be.to_numpy(d.inverse(d.forward(x64, be.xp), be.xp))
        diff, tol = again - xc.astype(np.float64), 1e-9
    except Exception:  # noqa: BLE001 - any failure means: judge in the explanation's precision
        an, bn = be.to_numpy(back), be.to_numpy(x)  # both in the user's layout
        if an.shape != bn.shape:
            return False
        return float(np.abs(an - bn).max(initial=0.0)) <= (1e-5 if an.dtype.itemsize <= 4 else 1e-10) * scale
    return diff.shape == xc.shape and float(np.abs(diff).max(initial=0.0)) <= tol * scale


def array_type_of(a: Any) -> Any:
    """The backend class whose framework ``a`` is an array of (None for numpy and others)."""
    import sys

    from .backends import BACKENDS, get_backend_by_name

    for name, (_, framework) in BACKENDS.items():
        if framework in sys.modules and get_backend_by_name(name).owns_array(a):
            return get_backend_by_name(name)
    return None


def to_host(v: Any, be: Backend) -> Any:
    """Framework tensors in ``target``/``baselines`` become numpy (small, host-side values)."""
    if be.is_array(v):
        return be.to_numpy(v)
    if isinstance(v, list) and v and be.is_array(v[0]):
        return [be.to_numpy(t) for t in v]
    return v


def split_baselines(baselines: Any, names: list[str]) -> tuple[Any, dict[str, Any]]:
    if not isinstance(baselines, Mapping):
        return baselines, {}
    unknown = [k for k in baselines if k not in names]
    if unknown:
        raise CdigValueError(f"baselines names domain(s) {unknown} that are not explained; the keys must be among {names}")
    return None, dict(baselines)


def coef_baseline(value: Any, z: Any, be: Backend, name: str) -> Any:
    """A coefficient baseline given for the domain ``name``, checked and broadcast to the coefficients ``z``."""
    zshape = tuple(z.shape)
    arr = np.asarray(be.to_numpy(value) if be.is_array(value) else value)
    if arr.dtype.kind not in "biufc":
        raise CdigTypeError(f"baselines[{name!r}] must be numeric coefficients, got dtype {arr.dtype}")
    zc = be.to_numpy(z)
    if arr.dtype.kind == "c" and not np.iscomplexobj(zc):
        raise CdigTypeError(f"baselines[{name!r}] is complex but the {name!r} coefficients are real")
    try:
        arr = np.broadcast_to(arr, zshape)
    except ValueError:
        raise CdigValueError(
            f"baselines[{name!r}] has shape {arr.shape}, which does not broadcast to the domain's coefficients "
            f"{zshape} (canonical layout: samples, channels, then the domain's axes)"
        ) from None
    if not np.all(np.isfinite(arr)):
        raise CdigValueError(f"baselines[{name!r}] contains NaN/Inf values")
    return be.asarray(np.array(arr, dtype=zc.dtype))


def check_batch_size(internal_batch_size: Any, memory_budget: Any) -> bool:
    """Whether chunks are sized automatically; validates the pair."""
    if isinstance(internal_batch_size, str):
        if internal_batch_size != "auto":
            raise CdigTypeError(f"internal_batch_size must be an int >= 1, 'auto' or None, got {internal_batch_size!r}")
        if memory_budget is not None:
            parse_bytes(memory_budget)
        return True
    if memory_budget is not None:
        raise CdigValueError(
            "memory_budget sizes internal_batch_size='auto'; with internal_batch_size="
            f"{internal_batch_size!r} it would be ignored: pass internal_batch_size='auto'"
        )
    return False


def _forward_args(args: tuple, be: Backend) -> tuple:
    return tuple(be.asarray(a) if isinstance(a, np.ndarray) else a for a in args)


def _runs_on_numpy(model: Any, x: Any, additional_forward_args: Any) -> bool:
    """Whether ``model`` is a plain function of numpy arrays: ``x`` is numpy, no imported framework owns
    the model itself, and one sample gives a numpy result. A function that reaches a framework's model
    (a closure over a torch module, ``keras_model.predict``) counts when it takes and returns numpy:
    it converts inside, and its gradients are cut there."""
    from .wrappers import unwrap_model

    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf" or x.ndim < 2 or not callable(model):
        return False
    model, _ = unwrap_model(model)
    owners = [get_backend_by_name(n) for n, (_, fw) in BACKENDS.items() if fw in sys.modules]
    if any(b.owns_model(model) for b in owners):
        return False
    positional, keywords = split_forward_args(additional_forward_args)
    args = tuple(a[:1] if isinstance(a, np.ndarray) and a.ndim >= 1 and len(a) == len(x) else a for a in positional)
    kw = {k: a[:1] if isinstance(a, np.ndarray) and a.ndim >= 1 and len(a) == len(x) else a for k, a in keywords.items()}
    try:
        with NumpyBackend(model, x).prepared():  # the models it reaches are put back as they were
            out = model(x[:1], *args, **kw)
    except Exception:  # noqa: BLE001 - not a function of numpy arrays: a framework runs it
        return False
    leaves = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (tuple, list)) else [out]
    return all(array_type_of(v) is None for v in leaves[:8])
