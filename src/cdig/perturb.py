"""Perturbation attributions in a domain: occlusion and Shapley values of groups of coefficients.

The second family of attribution methods beside the path integral (see :class:`cdig.engine.Run`): the
same preparation (:func:`cdig.engine.prepare`: backend, layout, target, chunk size), the domains'
``forward`` and ``inverse`` to perturb coefficients, and the same :class:`~cdig.Attribution`. It needs
no gradients, so any callable ``f(x) -> outputs`` can be explained: a PyTorch, TensorFlow or JAX
model, and a plain numpy function (an scikit-learn pipeline's ``predict_proba``), which runs on numpy
arrays without any framework.

A *player* is a group of coefficients (default: everything one reported value of the domain stands for:
a Fourier bin's real and imaginary parts, a band, a wavelet coefficient). A coalition ``S`` of players is
the signal whose coefficients are the input's on ``S`` and the baseline's elsewhere, inverted to the time
domain; ``v(S)`` is the explained output there.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from .backends.base import Backend
from .core.attribution import Attribution
from .core.checks import Layout, check_baseline, check_choice, check_int, check_positive_int
from .core.errors import CdigModelError, CdigTypeError, CdigValueError
from .core.outputs import split_forward_args
from .domains import Domain, resolve

__all__ = ["attribute", "NumpyBackend", "METHODS", "MAX_EXACT_GROUPS", "DEFAULT_PERMUTATIONS"]

#: The perturbation methods :func:`attribute` computes.
METHODS = ("shapley", "occlusion")
#: Exact Shapley values (all ``2**G`` coalitions) up to this many groups; permutation sampling beyond.
MAX_EXACT_GROUPS = 14
#: Permutations sampled (in antithetic pairs) when the Shapley values are estimated and ``n_samples`` is None.
DEFAULT_PERMUTATIONS = 64


class NumpyBackend(Backend):
    """A model run on numpy arrays: forward passes only (perturbation methods need no gradients).

    Used by :func:`attribute` for a plain function of numpy arrays (an scikit-learn pipeline's
    ``predict_proba``, a numpy expression); the path integral needs a framework's gradients and never
    runs here.

    Examples
    --------
    >>> import numpy as np
    >>> be = NumpyBackend(lambda x: x.sum(axis=1), np.ones((2, 3)))
    >>> be.forward(be.asarray(np.ones((2, 3))), ()).tolist()
    [3.0, 3.0]
    """

    name = "numpy"
    xp = np
    device = "cpu"
    default_time_axis = -1

    @classmethod
    def owns_model(cls, model: Any) -> bool:
        return False

    @classmethod
    def owns_array(cls, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def asarray(self, a: Any, dtype: Any = None) -> np.ndarray:
        return np.asarray(a, dtype=dtype)

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.asarray(t)

    @classmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> np.ndarray:
        return np.asarray(a)

    def as_index(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.int64)

    def is_array(self, a: Any) -> bool:
        return isinstance(a, np.ndarray)

    def forward(self, inputs: Any, args: tuple) -> Any:
        out = self.run_model(inputs, args)
        return out if self.model_call.raw else np.asarray(out)

    def zeros_like(self, a: Any) -> np.ndarray:
        return np.zeros_like(a)

    def _no_gradients(self) -> CdigModelError:
        return CdigModelError(
            "the model runs on numpy arrays, which carry no gradients: integrated gradients need a PyTorch, "
            "TensorFlow or JAX model; perturbation methods (cdig.perturb.attribute) need none"
        )

    def path_grad(self, fn: Any, start: Any, delta: Any, idx: np.ndarray, alphas: np.ndarray, want_h: bool) -> Any:
        raise self._no_gradients()

    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> Any:
        raise self._no_gradients()

    def vjp(self, fn: Any, z: Any, cotangent: Any) -> Any:
        raise self._no_gradients()


def attribute(
    model: Any,
    x: Any,
    domain: str | Domain = "fourier",
    *,
    method: str = "shapley",
    target: Any = None,
    baselines: Any = None,
    groups: Any = None,
    n_samples: int | None = None,
    seed: int = 0,
    time_axis: int | None = None,
    fs: float | None = None,
    additional_forward_args: Any = None,
    internal_batch_size: int | None = None,
    backend: str | None = None,
    output: Any = None,
) -> Attribution:
    """Occlusion or Shapley values of groups of a domain's coefficients.

    Parameters
    ----------
    model : callable
        ``model(x) -> outputs``: a PyTorch, TensorFlow or JAX model, or a plain function of numpy
        arrays (run without any framework when ``x`` is numpy and the function returns numpy).
    x : array or tensor
        The batch, ``(N, T)`` or ``(N, C, T)`` / ``(N, T, C)`` (see ``time_axis``).
    domain : str or Domain
        One domain (a name or a Domain object), as in :func:`cdig.explain`.
    method : {"shapley", "occlusion"}
        ``"shapley"``: the Shapley value of each group, exact (all ``2**G`` coalitions) for at most
        :data:`MAX_EXACT_GROUPS` groups, else estimated from permutations. ``"occlusion"``:
        ``f(x) - f(x with the group's coefficients replaced by the baseline's)``.
    target, additional_forward_args, output, time_axis, fs, backend :
        As in :func:`cdig.explain`; ``backend="numpy"`` runs the model on numpy arrays.
    baselines : None, scalar, array or dict
        The time-domain baseline (None: zeros), or ``{domain name: baseline coefficients}``.
    groups : None or array of int
        None: one group per reported value of the domain (``values`` then has the layout of
        :func:`cdig.explain`'s map). Else one label ``0 .. G-1`` per reported value (the shape of one
        sample's map), every label used: ``values`` then has shape ``(N, G)`` with dims ``("group",)``
        and ``extras["groups"]`` holds the labels.
    n_samples : int or None
        Shapley only: the number of permutations to sample (rounded up to an even number: each is paired
        with its reverse). Given, the values are sampled even for few groups; None: exact up to
        :data:`MAX_EXACT_GROUPS` groups, else :data:`DEFAULT_PERMUTATIONS` permutations.
    seed : int
        Seed of the permutations.
    internal_batch_size : int or None
        Most rows (perturbed signals) per model call.

    Returns
    -------
    Attribution
        ``values`` (per group), ``delta`` (``values`` summed minus ``output - baseline_output``: zero up to
        round-off for Shapley values, exact or sampled; the interactions left out for occlusion),
        ``output``/``baseline_output`` (the model at all / none of the input's coefficients),
        ``n_steps`` (model evaluations per sample) and ``settings`` (``method``, ``estimator``,
        ``groups``, ``n_samples``, ``seed``, ``target``, ``domain``). Sampled Shapley values carry their
        standard error in ``extras["standard_error"]`` (the spread of the antithetic pairs' means; NaN
        from a single pair).

    Raises
    ------
    CdigValueError
        For an unknown ``method``, a non-positive ``n_samples`` (or one given for occlusion), bad
        ``groups``, several domains.

    Examples
    --------
    >>> import numpy as np
    >>> from cdig.perturb import attribute
    >>> w = np.arange(8.0)
    >>> x = np.ones((1, 8))
    >>> att = attribute(lambda s: s @ w, x, "time")
    >>> att.values.round(6).tolist()  # w * (x - 0) for a linear model
    [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]
    >>> att.settings["estimator"], float(abs(att.delta).max()) < 1e-9
    ('exact', True)
    """
    method = check_choice(method, "method", METHODS)
    n_samples = check_positive_int(n_samples, "n_samples", allow_none=True)
    if n_samples is not None and method != "shapley":
        raise CdigValueError(f"n_samples={n_samples} samples Shapley values; method={method!r} takes none: leave it None")
    seed = int(check_int(seed, "seed", min=0))
    if fs is not None and (isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not 0 < fs < np.inf):
        raise CdigValueError(f"fs={fs!r}: the sampling rate must be a positive finite number (in Hz), or None")
    doms = resolve(domain)
    if len(doms) != 1:
        raise CdigValueError(f"domain names {len(doms)} domains; cdig.perturb.attribute explains one per call")
    d = doms[0]

    prep = _prepare(model, x, target, time_axis, additional_forward_args, internal_batch_size, backend, output)
    be, xb, xn, layout, run = prep.be, prep.xb, prep.xn, prep.layout, prep.run
    from .engine import split_baselines, to_host

    time_base, coef_bases = split_baselines(baselines, [d.name])
    x0n = check_baseline(to_host(time_base, be), xn.shape, xn.dtype)
    x0b = be.asarray(x0n)
    settings: dict[str, Any] = {
        "method": method,
        "backend": be.name,
        "device": be.device_name(),
        "time_axis": layout.time_axis,
        "input_shape": list(xn.shape),
        "fs": fs,
        "internal_batch_size": internal_batch_size,
        "seed": seed,
        **prep.notes,
    }
    with be.prepared():
        d.fit(layout.to_canonical_np(xn))
        f_x, run = run.calibrate(xb)  # checks the output's shape against the target
        # chunks mix samples and perturbed signals: refuse a model whose rows depend on each other
        run.check_batch_independence(xn, x0n, f_x, run.outputs(x0b, what="baseline"))
        game = _Game(run, d, layout, xb, x0b, coef_bases.get(d.name))
        labels, n_groups, shape, dims = game.groups(groups)
        if method == "occlusion":
            values, v1, v0, evals, se = game.occlusion(n_groups)
            settings["estimator"] = "occlusion"
        elif n_samples is None and n_groups <= MAX_EXACT_GROUPS:
            values, v1, v0, evals, se = game.exact(n_groups)
            settings["estimator"] = "exact"
        else:
            if n_samples is None:
                n_samples = DEFAULT_PERMUTATIONS
                settings["note"] = (
                    f"{n_groups} groups are more than the {MAX_EXACT_GROUPS} exact Shapley values are computed for "
                    f"(2**{n_groups} coalitions): estimated from {n_samples} permutations (pass n_samples= to choose)"
                )
            values, v1, v0, evals, se = game.sampled(n_groups, n_samples, seed)
            settings["estimator"] = "permutation"
    settings.update(
        groups="values" if groups is None else "given",
        n_groups=n_groups,
        n_samples=n_samples,
        internal_batch_size_used=run.batch_rows,
        dtype=run.out_dtype,
        target=run.target.describe(),
        domain=d.describe(),
    )
    delta = values.sum(axis=1) - (v1 - v0)
    extras: dict[str, np.ndarray] = {}
    if groups is None:
        out, out_dims = values.reshape((run.n, *shape)), dims
        coords, units = d.coords(game.zn.shape[1:], fs)
        out, out_dims = layout.squeeze_channels(out, out_dims)
        if se is not None:
            extras["standard_error"] = layout.squeeze_channels(se.reshape((run.n, *shape)), dims)[0]
        if layout.ndim == 2 and dims[:1] == ("channel",):
            coords.pop("channel", None)
    else:
        out, out_dims = values, ("group",)
        coords, units = {"group": np.arange(n_groups)}, {}
        assert labels is not None  # given groups
        extras["groups"] = layout.squeeze_channels(labels[None], dims)[0][0]  # shaped like one sample's map
        if se is not None:
            extras["standard_error"] = se
    return Attribution(
        values=out,
        domain=d.name,
        dims=tuple(out_dims),
        coords=coords,
        delta=delta,
        output=v1,
        baseline_output=v0,
        n_steps=np.full(run.n, evals, dtype=np.int64),
        target=run.target.describe(),
        units=units,
        settings=settings,
        coefficients=game.zn,
        baseline_coefficients=game.z0n,
        extras=extras,
        domain_object=copy.copy(d),
    )


# --- the game: coalitions of groups of coefficients -------------------------------------------
class _Game:
    """``v(S)`` for coalitions ``S`` of groups: the input's coefficients on ``S``, the baseline's elsewhere."""

    def __init__(self, run: Any, d: Domain, layout: Layout, xb: Any, x0b: Any, coef_base: Any) -> None:
        from .engine import coef_baseline

        be, xp = run.be, run.be.xp
        self.run, self.d, self.layout = run, d, layout
        z = d.forward(layout.to_canonical(xb, xp), xp)
        z0 = coef_baseline(coef_base, z, be, d.name) if coef_base is not None else d.forward(layout.to_canonical(x0b, xp), xp)
        self.zn, self.z0n = be.to_numpy(z), be.to_numpy(z0)
        self.coef_group = np.zeros(0, dtype=np.int64)

    def groups(self, groups: Any) -> tuple[np.ndarray | None, int, tuple[int, ...], tuple[str, ...]]:
        """The group of each coefficient (kept), the number of groups, the reported map's shape and dims."""
        d, zshape = self.d, self.zn.shape[1:]
        real = np.zeros((1, *zshape), dtype=np.float64)
        template, dims, _ = d.reduce(real)
        shape = tuple(template.shape[1:])
        dims = d.axis_names(len(zshape)) if dims is None else tuple(dims)
        n_values = int(np.prod(shape))
        index = np.asarray(d.value_index(zshape), dtype=np.int64).reshape(-1)
        if index.size != int(np.prod(zshape)) or index.min(initial=0) < 0 or index.max(initial=-1) >= n_values:
            raise CdigValueError(
                f"{type(d).__name__}.value_index does not map the {zshape} coefficients onto the {n_values} reported "
                "values; a domain whose reduce() merges coefficients must say how in value_index()"
            )
        if groups is None:
            self.coef_group = index
            return None, n_values, shape, dims
        labels = _check_groups(groups, shape, dims, self.layout)
        self.coef_group = labels.reshape(-1)[index]
        return labels, int(labels.max()) + 1, shape, dims

    def values(self, masks: np.ndarray) -> np.ndarray:
        """``v`` of every sample at every coalition: ``(N, K)`` for boolean ``masks`` ``(K, G)``."""
        run, be, xp = self.run, self.run.be, self.run.be.xp
        n, k = run.n, len(masks)
        zshape = self.zn.shape[1:]
        out = np.empty(n * k, dtype=np.float64)
        for start in range(0, n * k, run.batch_rows):
            rows = np.arange(start, min(start + run.batch_rows, n * k))
            si, ki = rows // k, rows % k
            keep = masks[ki][:, self.coef_group].reshape((len(rows), *zshape))  # per chunk: 2**G masks can be many
            zc = np.where(keep, self.zn[si], self.z0n[si])
            signals = self.layout.from_canonical(self.d.select_rows(si).inverse(be.asarray(np.ascontiguousarray(zc)), xp), xp)
            sel = run.target.select(be.forward(signals, run._args(si)), si, be)
            y = be.to_numpy(sel)
            if y.dtype.kind not in "fc" or np.iscomplexobj(y) or y.shape != (len(rows),):
                raise CdigModelError(
                    f"the explained output must be one real floating scalar per row; got shape {y.shape}, dtype {y.dtype}"
                )
            out[rows] = y.astype(np.float64)
        if not np.all(np.isfinite(out)):
            bad = np.unique(np.nonzero(~np.isfinite(out))[0] // k)
            raise CdigModelError(
                f"the model's explained output is NaN/Inf for sample(s) {bad[:10].tolist()} at perturbed coefficients"
            )
        return out.reshape(n, k)

    def occlusion(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, None]:
        masks = np.ones((g + 2, g), dtype=bool)
        masks[np.arange(g), np.arange(g)] = False
        masks[g + 1] = False
        v = self.values(masks)
        v1, v0 = v[:, g], v[:, g + 1]
        return v1[:, None] - v[:, :g], v1, v0, g + 2, None

    def exact(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, None]:
        codes = np.arange(2**g, dtype=np.int64)
        bits = (codes[:, None] >> np.arange(g)) & 1
        v = self.values(bits.astype(bool))
        size = bits.sum(axis=1)
        # |S|! (G - |S| - 1)! / G! for coalitions S without the player
        weight = np.array([math.factorial(s) * math.factorial(g - s - 1) / math.factorial(g) for s in range(g)])
        phi = np.empty((self.run.n, g), dtype=np.float64)
        for i in range(g):
            without = codes[((codes >> i) & 1) == 0]
            phi[:, i] = (v[:, without | (1 << i)] - v[:, without]) @ weight[size[without]]
        return phi, v[:, -1], v[:, 0], 2**g, None

    def sampled(self, g: int, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
        rng = np.random.default_rng(seed)
        pairs = max(1, -(-n_samples // 2))
        perms = []
        for _ in range(pairs):
            p = rng.permutation(g)
            perms += [p, p[::-1]]
        # rows: the empty and the full coalition once, then each permutation's G - 1 proper prefixes
        masks = np.zeros((2 + len(perms) * (g - 1), g), dtype=bool)
        masks[1] = True
        for q, p in enumerate(perms):
            for j in range(1, g):
                masks[2 + q * (g - 1) + j - 1, p[:j]] = True
        v = self.values(masks)
        n = self.run.n
        phi = np.empty((len(perms), n, g), dtype=np.float64)
        for q, p in enumerate(perms):
            chain = np.concatenate([v[:, :1], v[:, 2 + q * (g - 1) : 2 + (q + 1) * (g - 1)], v[:, 1:2]], axis=1)
            phi[q][:, p] = np.diff(chain, axis=1)
        pair_means = 0.5 * (phi[0::2] + phi[1::2])
        se = pair_means.std(axis=0, ddof=1) / math.sqrt(pairs) if pairs > 1 else np.full((n, g), np.nan)
        return pair_means.mean(axis=0), v[:, 1], v[:, 0], len(masks), se


def _check_groups(groups: Any, shape: tuple[int, ...], dims: tuple[str, ...], layout: Layout) -> np.ndarray:
    """Group labels, one per reported value (the map's shape, or without its channel axis for 2-D inputs)."""
    arr = np.asarray(groups)
    if arr.dtype.kind not in "iu":
        raise CdigTypeError(f"groups must be an array of int labels (one per reported value), got dtype {arr.dtype}")
    squeezed = shape[1:] if layout.ndim == 2 and dims[:1] == ("channel",) else shape
    if arr.shape == squeezed and squeezed != shape:
        arr = arr.reshape(shape)
    if arr.shape != shape:
        raise CdigValueError(
            f"groups has shape {arr.shape}; it must hold one label per reported value of the domain, shape {squeezed}"
        )
    labels = np.unique(arr)
    if labels[0] < 0 or not np.array_equal(labels, np.arange(len(labels))):
        raise CdigValueError(f"groups must use the labels 0 .. G-1, each at least once; got {labels.tolist()[:20]}")
    return arr.astype(np.int64)


# --- preparation: a framework's backend, or numpy --------------------------------------------
def _prepare(
    model: Any,
    x: Any,
    target: Any,
    time_axis: int | None,
    additional_forward_args: Any,
    internal_batch_size: int | None,
    backend: str | None,
    output: Any,
) -> Any:
    """:func:`cdig.engine.prepare`, or its numpy counterpart for a plain function of numpy arrays."""
    from .engine import prepare

    on_numpy = backend == "numpy" or (backend is None and _runs_on_numpy(model, x, additional_forward_args))
    return prepare(
        model,
        x,
        target=target,
        time_axis=time_axis,
        additional_forward_args=additional_forward_args,
        internal_batch_size=internal_batch_size,
        backend=NumpyBackend if on_numpy else backend,
        output=output,
    )


def _runs_on_numpy(model: Any, x: Any, additional_forward_args: Any) -> bool:
    """Whether ``model`` is a plain function of numpy arrays: ``x`` is numpy, no imported framework owns
    the model or a model it reaches, and one sample gives a numpy result."""
    import sys

    from .backends import BACKENDS, get_backend_by_name
    from .backends.base import reachable
    from .engine import array_type_of
    from .wrappers import unwrap_model

    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf" or x.ndim < 2 or not callable(model):
        return False
    model, _ = unwrap_model(model)
    owners = [get_backend_by_name(n) for n, (_, fw) in BACKENDS.items() if fw in sys.modules]
    if any(b.owns_model(model) for b in owners):
        return False
    if owners and reachable(model, lambda v: any(b.owns_model(v) for b in owners)):
        return False
    positional, keywords = split_forward_args(additional_forward_args)
    args = tuple(a[:1] if isinstance(a, np.ndarray) and a.ndim >= 1 and len(a) == len(x) else a for a in positional)
    kw = {k: a[:1] if isinstance(a, np.ndarray) and a.ndim >= 1 and len(a) == len(x) else a for k, a in keywords.items()}
    try:
        out = model(x[:1], *args, **kw)
    except Exception:  # noqa: BLE001 - not a function of numpy arrays: a framework runs it
        return False
    leaves = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (tuple, list)) else [out]
    return all(array_type_of(v) is None for v in leaves[:8])
