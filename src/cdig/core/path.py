"""The path integral: chunks of (sample, step) rows -> the averaged gradient along each sample's path.

Framework-free: the heavy arrays stay in the backend's framework (and on its device); this module
only plans rows with numpy and reads back per-row scalars and per-interval error vectors when the
adaptive rule needs them.

The backend provides three primitives (see :class:`cdig.backends.base.Backend`):

``zeros_like(a)``
    an accumulator shaped like the path's start point (in double precision where the framework
    has it);
``path_grad(fn, start, delta, idx, alphas, want_h)``
    gradients of ``fn`` at the points ``start[idx] + alphas * delta[idx]``, and optionally the
    directional derivatives ``h = Re<delta[idx], grad>`` as numpy;
``accumulate(acc, idx, grads, weights)``
    ``acc[idx] += weights * grads``: the rows of one chunk are summed in the gradients' precision,
    and those per-chunk sums are added to the accumulator in its (double) precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .rules import gauss_kronrod_7, gauss_kronrod_15, get_rule

__all__ = [
    "PathResult",
    "integrate_fixed",
    "integrate_points",
    "integrate_adaptive",
    "MapCheck",
    "relative",
    "roundoff_floor",
    "combine_estimates",
    "step_error_ratio",
]

#: Intervals shorter than this are never split again (float32 cannot resolve them anyway).
MIN_INTERVAL = 2.0**-20
#: A round refines, per unfinished sample, every interval whose error indicator is at least this
#: fraction of the largest one (at most :data:`MAX_SPLITS` of them).
SPLIT_SHARE = 0.25
MAX_SPLITS = 8

#: ``check(grad, error) -> (relative error, map norm)``, each ``(domains, samples)``: the engine maps the
#: integrated gradient and its error vector through every domain that shares the path (see
#: :func:`integrate_adaptive`).
MapCheck = Callable[[Any, Any], "tuple[np.ndarray, np.ndarray]"]


@dataclass
class PathResult:
    """``grad[i] = ∫₀¹ ∇fn(start_i + α delta_i) dα`` (a framework array) and the steps each sample used.

    ``error`` (adaptive rule only) is the signed error estimate of ``grad``: the sum over the final
    intervals of ``ρ·(Kronrod − Gauss)`` (see :func:`step_error_ratio`), a framework array shaped like ``grad``; ``map_error``
    the relative map error it implies per sample (the largest over the domains checked), and
    ``converged`` whether each sample met both the map and the completeness tolerance.
    """

    grad: Any
    steps: np.ndarray
    converged: np.ndarray | None = None
    error: Any = None
    map_error: np.ndarray | None = None
    #: per sample, the factor (>= 1) by which ``error`` mapped into a domain is scaled to give the estimate
    error_scale: np.ndarray | None = None


def integrate_fixed(
    backend: Any,
    fn: Callable[[Any, np.ndarray], Any],
    start: Any,
    delta: Any,
    n_samples: int,
    n_steps: int,
    method: str,
    batch_rows: int,
    on_rows: Callable[[int], None] | None = None,
) -> PathResult:
    """A fixed rule: ``n_samples * n_steps`` rows evaluated ``batch_rows`` at a time.

    Memory depends on ``batch_rows`` only, never on ``n_steps``.
    """
    alphas, weights = get_rule(method, n_steps)
    acc = backend.zeros_like(start)
    total = n_samples * n_steps
    for s in range(0, total, batch_rows):
        rows = np.arange(s, min(s + batch_rows, total))
        idx, j = rows // n_steps, rows % n_steps
        grads, _ = backend.path_grad(fn, start, delta, idx, alphas[j], False)
        acc = backend.accumulate(acc, idx, grads, weights[j])
        if on_rows is not None:
            on_rows(len(rows))
    return PathResult(acc, np.full(n_samples, n_steps))


def integrate_points(
    backend: Any,
    fn: Callable[[Any, np.ndarray], Any],
    start: Any,
    delta: Any,
    alphas: np.ndarray,
    batch_rows: int,
    on_rows: Callable[[int], None] | None = None,
) -> PathResult:
    """One point per row: ``grad[i] = ∇fn(start_i + alphas[i] delta_i)`` (expected gradients' random
    points, see :mod:`cdig.core.draws`), ``batch_rows`` rows at a time."""
    n = len(alphas)
    acc = backend.zeros_like(start)
    for s in range(0, n, batch_rows):
        idx = np.arange(s, min(s + batch_rows, n))
        grads, _ = backend.path_grad(fn, start, delta, idx, alphas[idx], False)
        acc = backend.accumulate(acc, idx, grads, np.ones(len(idx)))
        if on_rows is not None:
            on_rows(len(idx))
    return PathResult(acc, np.ones(n, dtype=np.int64))


@dataclass
class _Leaf:
    """One interval of a sample's path, as its last evaluation left it."""

    lo: float
    hi: float
    rule: int
    q: float  # Kronrod estimate of ∫ h over the interval
    eh: float  # |Kronrod − Gauss| of ∫ h (completeness)
    ev: float  # ‖delta ⊙ (Kronrod − Gauss)‖ of ∫ ∇fn (the map)
    #: the interval's contributions to the two accumulators (host copies), kept while memory allows:
    #: removing the interval then costs no model evaluation
    vecs: np.ndarray | None = None
    #: the map error of the 7-point interval it was bisected from (to tell rough from smooth)
    parent_ev: float | None = None

    @property
    def rough(self) -> bool:
        """Bisection did not shrink the error as a smooth integrand's would (by ~64 per half): a kink."""
        return self.rule == _GK7 and self.parent_ev is not None and self.ev > self.parent_ev / ROUGH_DROP


#: Rule indices of an interval: Kronrod 15 (the first), Kronrod 7 (bisected), nested trapezoid (rough).
_GK15, _GK7, _TRAP = 0, 1, 2
#: A 7-point interval whose error is above 1/ROUGH_DROP of its parent's (a smooth integrand's falls by
#: about 2^6 = 64 on bisection, a piecewise-constant one's by about 2) is refined by nested trapezoids.
ROUGH_DROP = 8.0
#: The nested trapezoid pair on an interval: nodes lo, mid, hi; two half-trapezoids (K) and one (G).
_TRAP_RULE = (np.array([0.0, 0.5, 1.0]), np.array([0.25, 0.5, 0.25]), np.array([0.5, 0.0, 0.5]))


#: Host memory the adaptive rule may spend on keeping intervals' contributions (see :class:`_Leaf`).
STORE_BYTES = 2**28


def integrate_adaptive(
    backend: Any,
    fn: Callable[[Any, np.ndarray], Any],
    start: Any,
    delta: Any,
    change: np.ndarray,
    rtol: float,
    max_steps: int,
    batch_rows: int,
    eps: float = 0.0,
    on_rows: Callable[[int], None] | None = None,
    check: MapCheck | None = None,
    store_bytes: int = STORE_BYTES,
) -> PathResult:
    """Globally adaptive integration of the gradient *vector*, per sample, batched across samples.

    Two tolerances must hold for a sample to be done:

    * **the map**: its estimated relative L2 error ``‖E‖ / ‖A‖`` is at most ``rtol`` in every domain
      ``check`` maps into (the engine's; without ``check``, the map in the path's own coefficients,
      ``A = delta ⊙ grad``);
    * **completeness**: ``change[i] = fn(end_i) - fn(start_i)`` is the exact value of ``∫₀¹ h``
      (``h(α) = d fn/dα``), so the sum's error is known exactly at every moment:
      ``|Σ Q - change| <= rtol·|change| + roundoff_floor(...)``, a floor relative to the change and to
      the map's own size in the model's precision ``eps`` (never to ``|fn(end)|``: a constant offset
      in the output changes nothing).

    A map error cannot hide behind a small sum (errors of opposite sign cancel in the sum, not in
    ``‖E‖``), and a sum error does not pass for a small map error.

    **Intervals and their rules.** The path starts as one 15-point Kronrod interval (with its
    embedded 7-point Gauss rule: enough for smooth models). An interval that is off is bisected into
    two 7-point Kronrod intervals (embedded Gauss 3). When bisection shrinks a 7-point interval's
    error by less than :data:`ROUGH_DROP` (a smooth integrand's falls by about 64, a
    piecewise-constant one's — a ReLU network's — by about 2), the interval is rough, and it is
    refined from then on by **nested trapezoids**: an interval holds its ends and midpoint, K is the
    two half-trapezoids and G the whole one; bisecting it costs two new gradients (the quarter
    points) and reuses the three it has, so no evaluation is ever discarded. Those nodes' gradients
    are kept on the host, in their own precision, within ``store_bytes`` (the rest of the sample's
    budget is reserved when it switches; a sample whose nodes would not fit stays with 7-point
    intervals).

    **The error estimate.** Each interval's error vector is ``ρ·(K − G)``, where ``ρ``
    (:func:`step_error_ratio`: 0.57 for all three pairs) is the ratio of the K result's error to
    ``K − G`` on a step — the shape of a ReLU network's integrand; on smooth intervals ``K − G``
    already overestimates K's error by orders of magnitude. The signed sum over the intervals is kept
    in a second accumulator beside the gradient's and mapped like the gradient (``check(grad,
    error)``), scaled up to the intervals' root-sum-square where their signs cancel
    (:func:`_map_error`), and never below what the exact completeness error implies
    (:func:`combine_estimates`).

    **Refinement.** Each round, for every unfinished sample, every interval whose indicator is at
    least a quarter of the largest (at most eight) is bisected; an interval's indicator is the larger
    of its map error ``‖delta ⊙ ρ(K − G)‖`` relative to ``rtol·‖delta ⊙ grad‖`` and its completeness
    error ``ρ|K − G|`` of ``∫ h`` relative to the completeness tolerance. A bisected interval's
    contribution leaves the accumulators through its kept host copy (within ``store_bytes``), else by
    evaluating its nodes again with negative weights; device memory stays that of one chunk of
    ``batch_rows`` rows. A sample stops when both tolerances hold, or when the next bisection would
    exceed ``max_steps`` gradient evaluations (``converged`` is then False).
    """
    n = len(change)
    rules = (gauss_kronrod_15(), gauss_kronrod_7(), _TRAP_RULE)
    rho = [step_error_ratio(*r) for r in rules]
    acc = backend.zeros_like(start)
    err = backend.zeros_like(start)
    dn = np.abs(backend.to_numpy(delta)).reshape(n, -1)
    state = _State(
        n,
        store_bytes,
        backend.to_numpy(backend.take(acc, np.arange(1))).dtype,
        node_bytes=dn.shape[1] * (backend.to_numpy(backend.take(start, np.arange(1))).dtype.itemsize + 8),
    )
    todo: list[tuple[int, float, float, int, float, float | None]] = [(i, 0.0, 1.0, _GK15, 1.0, None) for i in range(n)]
    nodes: list[tuple[int, float]] = []  # trapezoid nodes to evaluate: (sample, alpha)
    traps: list[tuple[int, float, float]] = []  # trapezoid intervals to build from their nodes
    host: list[tuple[int, np.ndarray, float]] = []  # kept contributions to add (+1) or remove (-1)
    split_cost = 2 * len(rules[_GK7][0])
    while True:
        acc, err = _evaluate(backend, fn, start, delta, todo, rules, rho, batch_rows, acc, err, state, dn, on_rows)
        _evaluate_nodes(backend, fn, start, delta, nodes, batch_rows, state, on_rows)
        for i, lo, hi in traps:
            leaf = _trap_leaf(state, i, lo, hi, rho[_TRAP], dn[i])
            state.add(i, leaf)
            host.append((i, leaf.vecs, 1.0))  # type: ignore[arg-type]
        if host:  # the kept contributions of new and bisected intervals, one call per accumulator
            idx = np.array([i for i, _, _ in host])
            both = np.stack([v for _, v, _ in host])  # (k, 2, ...)
            signs = np.array([sign for _, _, sign in host])
            acc = backend.accumulate(acc, idx, backend.asarray(both[:, 0], dtype=state.dtype.name), signs)
            err = backend.accumulate(err, idx, backend.asarray(both[:, 1], dtype=state.dtype.name), signs)
        rel, map_norm, l1, scale = _map_error(backend, acc, err, dn, check, state, state.estimate - change, change)
        tol = rtol * np.abs(change) + roundoff_floor(change, l1, eps)
        comp_ok = np.abs(state.estimate - change) <= tol
        map_ok = rel <= rtol
        todo, nodes, traps, host = [], [], [], []
        for row in np.nonzero(~(comp_ok & map_ok))[0]:
            i = int(row)
            open_leaves = [lf for lf in state.leaves[i] if lf.hi - lf.lo >= 2 * MIN_INTERVAL]
            if not open_leaves:
                continue
            scale_map = rtol * map_norm[i] if not map_ok[i] else np.inf
            scale_sum = tol[i] if not comp_ok[i] else np.inf
            score = np.array([max(lf.ev / max(scale_map, 1e-300), lf.eh / max(scale_sum, 1e-300)) for lf in open_leaves])
            order = np.argsort(-score)[:MAX_SPLITS]
            spent = 0
            for k in order:
                if score[k] < SPLIT_SHARE * score[order[0]]:
                    break
                worst = open_leaves[k]
                lo, hi = worst.lo, worst.hi
                mid = 0.5 * (lo + hi)
                undo_cost = 0 if worst.vecs is not None else len(rules[worst.rule][0])
                trap = worst.rule == _TRAP or (worst.rough and state.reserve(i, max_steps))
                if trap:
                    grid = [
                        a
                        for a in (lo, 0.5 * (lo + mid), mid, 0.5 * (mid + hi), hi)
                        if a not in state.nodes[i] and (i, a) not in nodes
                    ]
                    cost = undo_cost + len(grid)
                else:
                    cost = undo_cost + split_cost
                if state.used[i] + spent + cost > max_steps:
                    break
                spent += cost
                state.remove(i, worst)
                if worst.vecs is not None:
                    host.append((i, worst.vecs, -1.0))
                else:
                    todo.append((i, lo, hi, worst.rule, -1.0, None))
                if trap:
                    nodes += [(i, a) for a in grid]
                    traps += [(i, lo, mid), (i, mid, hi)]
                else:
                    parent = worst.ev if worst.rule == _GK7 else None
                    todo += [(i, lo, mid, _GK7, 1.0, parent), (i, mid, hi, _GK7, 1.0, parent)]
        if not (todo or nodes or host):
            break
    converged = (np.abs(state.estimate - change) <= tol) & (rel <= rtol)
    return PathResult(acc, state.used, converged, err, rel, scale)


def _trap_leaf(state: "_State", i: int, lo: float, hi: float, rho: float, dn: np.ndarray) -> _Leaf:
    """A nested-trapezoid interval from its three kept nodes: K = two half-trapezoids, G = one."""
    (ha, ga), (hm, gm), (hb, gb) = (state.nodes[i][a] for a in (lo, 0.5 * (lo + hi), hi))
    w = hi - lo
    k = (0.25 * w) * (ga.astype(state.dtype) + 2 * gm.astype(state.dtype) + gb.astype(state.dtype))
    g = (0.5 * w) * (ga.astype(state.dtype) + gb.astype(state.dtype))
    e = rho * (k - g)
    q = 0.25 * w * (ha + 2 * hm + hb)
    eh = rho * abs(q - 0.5 * w * (ha + hb))
    ev = float(np.sqrt(np.sum((dn * np.abs(e).reshape(-1)) ** 2)))
    return _Leaf(lo, hi, _TRAP, q, eh, ev, np.stack([k, e]))


def _evaluate_nodes(
    backend: Any,
    fn: Callable[[Any, np.ndarray], Any],
    start: Any,
    delta: Any,
    nodes: list[tuple[int, float]],
    batch_rows: int,
    state: "_State",
    on_rows: Callable[[int], None] | None,
) -> None:
    """Gradients (kept on the host, in their own precision) and ``h`` at the new trapezoid nodes."""
    if not nodes:
        return
    idx = np.array([i for i, _ in nodes])
    alphas = np.array([a for _, a in nodes])
    for s in range(0, len(nodes), batch_rows):
        sl = slice(s, s + batch_rows)
        grads, h = backend.path_grad(fn, start, delta, idx[sl], alphas[sl], True)
        g = backend.to_numpy(grads)
        for r, (i, a) in enumerate(nodes[sl]):
            state.nodes[i][a] = (float(h[r]), g[r])
            state.used[i] += 1
        if on_rows is not None:
            on_rows(len(idx[sl]))


class _State:
    """The adaptive rule's bookkeeping: each sample's intervals, its ∫h estimate and evaluations spent,
    and the host memory spent on kept interval contributions."""

    def __init__(self, n: int, store_bytes: int, dtype: np.dtype, node_bytes: int) -> None:
        self.leaves: list[list[_Leaf]] = [[] for _ in range(n)]
        self.estimate = np.zeros(n)
        self.used = np.zeros(n, dtype=np.int64)
        self.free = store_bytes
        self.dtype = np.dtype(dtype)
        #: per sample, the trapezoid nodes: alpha -> (h, gradient), kept on the host
        self.nodes: list[dict[float, tuple[float, np.ndarray]]] = [{} for _ in range(n)]
        self.reserved = np.zeros(n, dtype=bool)
        self.node_bytes = node_bytes

    def reserve(self, i: int, max_steps: int) -> bool:
        """Whether sample ``i`` may refine by nested trapezoids: its nodes (and their intervals'
        contributions) for the rest of its budget must fit in the host store, reserved now."""
        if self.reserved[i]:
            return True
        need = self.node_bytes * (max_steps - int(self.used[i]) + 5)
        if need > self.free:
            return False
        self.free -= need
        self.reserved[i] = True
        return True

    def add(self, i: int, leaf: _Leaf) -> None:
        self.leaves[i].append(leaf)
        self.estimate[i] += leaf.q
        if leaf.vecs is not None and leaf.rule != _TRAP:  # trapezoid intervals live in the reservation
            self.free -= leaf.vecs.nbytes

    def remove(self, i: int, leaf: _Leaf) -> None:
        self.leaves[i].remove(leaf)
        self.estimate[i] -= leaf.q
        if leaf.vecs is not None and leaf.rule != _TRAP:
            self.free += leaf.vecs.nbytes


def _map_error(
    backend: Any,
    acc: Any,
    err: Any,
    dn: np.ndarray,
    check: MapCheck | None,
    state: "_State",
    delta: np.ndarray,
    change: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The estimated relative map error per sample (the largest over the domains); the L2 and L1 norms
    of the map in the path's own coefficients; and the scale applied to the mapped error vector.

    The error vector is a signed sum over the intervals, and intervals' errors of opposite sign can
    cancel in it by chance while the true errors do not. So the estimate is the signed sum's, scaled
    up (never down) to their root-sum-square where that is larger — errors of independent intervals
    add in quadrature — measured in the path's own map ``delta ⊙ ·`` and applied to every domain; and
    it is never below what the exact error of the sum implies (:func:`combine_estimates`).
    """
    n = dn.shape[0]
    a = dn * np.abs(backend.to_numpy(acc)).reshape(n, -1)
    norm, l1 = np.sqrt(np.sum(a**2, axis=1)), np.sum(a, axis=1)
    e = np.abs(backend.to_numpy(err)).reshape(n, -1)
    signed = np.sqrt(np.sum((dn * e) ** 2, axis=1))
    rss = np.array([np.sqrt(sum(lf.ev**2 for lf in leaves)) for leaves in state.leaves])
    scale = np.where(signed > 0, np.maximum(1.0, rss / np.where(signed > 0, signed, 1.0)), 1.0)
    rel, norms = check(acc, err) if check is not None else (relative(signed, norm)[None], norm[None])
    per_domain = [combine_estimates(r * scale, delta, change, m) for r, m in zip(rel, norms)]
    return np.max(per_domain, axis=0), norm, l1, scale


def combine_estimates(rel: np.ndarray, delta: np.ndarray, change: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The relative map error estimate, at least ``|delta| / max(|change|, ‖A‖)``.

    The completeness error ``delta = Σ_k E_k`` is known exactly: it is the sum of the map's errors.
    Were the map's error proportional to the map (``E = c·A``), its relative size ``c`` would be
    ``|delta| / |change|``; were it spread like the map with random signs, ``|delta| / ‖A‖``. The
    smaller of the two never exceeds ``rtol`` once completeness holds, so it asks no extra work; it
    keeps the estimate honest where one coefficient dominates the map (a planted tone's Fourier bin)
    and the interval estimate of that one number happens to be small.

    Examples
    --------
    >>> combine_estimates(np.array([1e-4]), np.array([2e-3]), np.array([1.0]), np.array([0.5])).tolist()
    [0.002]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = np.abs(delta) / np.maximum(np.abs(change), norm)
    return np.maximum(rel, np.nan_to_num(implied, nan=0.0, posinf=0.0))


def roundoff_floor(change: np.ndarray, l1: np.ndarray, eps: float) -> np.ndarray:
    """Completeness errors below this are round-off: ``64·eps·max(|change|, Σ|A_k|)``.

    Relative to what is summed (the attributions ``A_k``, whose sum is ``change``) in the precision
    the model computes in (``eps``: float32's for a float32 model, float64's for a float64 one) —
    never to the outputs themselves, so a constant offset in the model's output changes nothing.

    Examples
    --------
    >>> float(roundoff_floor(np.array([2.0]), np.array([3.0]), 2.0**-52)[0]) == 64 * 3.0 * 2.0**-52
    True
    """
    return 64.0 * eps * np.maximum(np.abs(change), l1)


def relative(err: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """``err / norm``, 0 where both are 0 and inf where only the norm is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, err / np.where(norm > 0, norm, 1.0), np.where(err > 0, np.inf, 0.0))


def step_error_ratio(nodes: np.ndarray, wk: np.ndarray, wg: np.ndarray) -> float:
    """``ρ = rms(error of K) / rms(K − G)`` on a unit step at a uniformly random point of [0, 1].

    The integrand of a ReLU network is piecewise constant along the path: on an interval that holds a
    switching point both rules are first order, and the Kronrod result (the one returned) is more
    accurate than the Gauss one by a fixed factor on average. ``ρ·(K − G)`` is then an estimate of the
    Kronrod result's error rather than of the Gauss rule's (about twice as large); on smooth
    intervals ``K − G`` overestimates the Kronrod error by orders of magnitude, and ``ρ`` changes
    nothing there. Computed exactly: the error of a rule on the step ``1[α > u]`` is piecewise linear
    in ``u`` between the nodes.

    Examples
    --------
    >>> from cdig.core.rules import gauss_kronrod_7
    >>> round(step_error_ratio(*gauss_kronrod_7()), 3)
    0.568
    """
    order = np.argsort(nodes)
    a, k, g = nodes[order], wk[order], wg[order]
    edges = np.concatenate([[0.0], a, [1.0]])
    # on (edges[j], edges[j+1]) the rule sums the weights of the nodes above: tail[j]
    tails_k = np.concatenate([np.cumsum(k[::-1])[::-1], [0.0]])
    tails_g = np.concatenate([np.cumsum(g[::-1])[::-1], [0.0]])

    def mean_square(tail: np.ndarray) -> float:
        lo, hi = edges[:-1], edges[1:]
        # ∫ (tail − (1 − u))² du over [lo, hi], exactly
        c0, c1 = tail - 1.0 + lo, tail - 1.0 + hi
        return float(np.sum((hi - lo) * (c0**2 + c0 * c1 + c1**2) / 3.0))

    def mean_square_diff() -> float:
        return float(np.sum((edges[1:] - edges[:-1]) * (tails_k - tails_g) ** 2))

    return float(np.sqrt(mean_square(tails_k) / mean_square_diff()))


def _evaluate(
    backend: Any,
    fn: Callable[[Any, np.ndarray], Any],
    start: Any,
    delta: Any,
    todo: list[tuple[int, float, float, int, float, float | None]],
    rules: tuple,
    rho: list[float],
    batch_rows: int,
    acc: Any,
    err: Any,
    state: _State,
    dn: np.ndarray,
    on_rows: Callable[[int], None] | None,
) -> tuple[Any, Any]:
    """Evaluate the intervals of one round in chunks; add their weighted gradients and error vectors to
    the accumulators; record the new intervals (∫h, its Kronrod–Gauss difference, the norm of the
    map's, and their contributions while memory allows)."""
    idx, alphas, wk_rows, we_rows, owner = [], [], [], [], []
    if not todo:
        return acc, err
    for k, (i, lo, hi, r, sign, _) in enumerate(todo):
        nodes, wk, wg = rules[r]
        idx.append(np.full(len(nodes), i))
        alphas.append(lo + (hi - lo) * nodes)
        wk_rows.append(sign * (hi - lo) * wk)
        we_rows.append(sign * (hi - lo) * rho[r] * (wk - wg))
        owner.append(np.full(len(nodes), k))
        state.used[i] += len(nodes)
    idx_a, alpha_a = np.concatenate(idx), np.concatenate(alphas)
    wk_a, we_a, owner_a = np.concatenate(wk_rows), np.concatenate(we_rows), np.concatenate(owner)
    new = np.array([item[4] > 0 for item in todo])
    h = np.empty(len(idx_a))
    vecs: dict[int, np.ndarray] = {}  # the new intervals' (K, K − G) contributions, as host arrays
    for s in range(0, len(idx_a), batch_rows):
        sl = slice(s, s + batch_rows)
        rows_idx = idx_a[sl]
        grads, h[sl] = backend.path_grad(fn, start, delta, rows_idx, alpha_a[sl], True)
        acc = backend.accumulate(acc, rows_idx, grads, wk_a[sl])
        err = backend.accumulate(err, rows_idx, grads, we_a[sl])
        own = owner_a[sl]
        keep = new[own]
        if keep.any():  # per-interval sums of the new intervals' rows in this chunk
            ks, local = np.unique(own[keep], return_inverse=True)
            samples = np.array([todo[k][0] for k in ks])
            kept = backend.take(grads, np.nonzero(keep)[0])
            parts = [
                backend.to_numpy(backend.accumulate(backend.zeros_like(backend.take(start, samples)), local, kept, w[sl][keep]))
                for w in (wk_a, we_a)
            ]
            for j, k in enumerate(ks):  # an interval split over two chunks adds up its two parts
                v = np.stack([parts[0][j], parts[1][j]])
                vecs[int(k)] = vecs[int(k)] + v if int(k) in vecs else v
        if on_rows is not None:
            on_rows(len(rows_idx))
    for k, (i, lo, hi, r, sign, parent_ev) in enumerate(todo):
        if sign < 0:
            continue
        hk = h[owner_a == k]
        _, wk, wg = rules[r]
        q = float(hk @ wk) * (hi - lo)
        eh = rho[r] * abs(q - float(hk @ wg) * (hi - lo))
        v = vecs[k]
        ev = float(np.sqrt(np.sum((dn[i] * np.abs(v[1]).reshape(-1)) ** 2)))
        keep_vec = v.astype(state.dtype, copy=False) if v.nbytes <= state.free else None
        state.add(i, _Leaf(lo, hi, r, q, eh, ev, keep_vec, parent_ev))
    return acc, err
