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

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .rules import gauss_kronrod_7, gauss_kronrod_15, get_rule

__all__ = ["PathResult", "integrate_fixed", "integrate_adaptive", "MapCheck", "relative", "roundoff_floor"]

#: Intervals shorter than this are never split again (float32 cannot resolve them anyway).
MIN_INTERVAL = 2.0**-20
#: A round refines, per unfinished sample, every interval whose error indicator is at least this
#: fraction of the largest one (at most :data:`MAX_SPLITS` of them).
SPLIT_SHARE = 0.25
MAX_SPLITS = 8

#: ``check(grad, error) -> relative map error per sample``: the engine maps the integrated gradient
#: and its error vector through every domain that shares the path (see :func:`integrate_adaptive`).
MapCheck = Callable[[Any, Any], np.ndarray]


@dataclass
class PathResult:
    """``grad[i] = ∫₀¹ ∇fn(start_i + α delta_i) dα`` (a framework array) and the steps each sample used.

    ``error`` (adaptive rule only) is the signed error estimate of ``grad``: the sum over the final
    intervals of (Kronrod − Gauss) estimates, a framework array shaped like ``grad``; ``map_error``
    the relative map error it implies per sample (the largest over the domains checked), and
    ``converged`` whether each sample met both the map and the completeness tolerance.
    """

    grad: Any
    steps: np.ndarray
    converged: np.ndarray | None = None
    error: Any = None
    map_error: np.ndarray | None = None


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


@dataclass
class _Leaf:
    """One interval of a sample's path, as its last evaluation left it."""

    lo: float
    hi: float
    rule: int
    q: float          # Kronrod estimate of ∫ h over the interval
    eh: float         # |Kronrod − Gauss| of ∫ h (completeness)
    ev: float         # ‖delta ⊙ (Kronrod − Gauss)‖ of ∫ ∇fn (the map)
    #: the interval's contributions to the two accumulators (host copies), kept while memory allows:
    #: removing the interval then costs no model evaluation
    vecs: np.ndarray | None = None


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
    """Globally adaptive Gauss–Kronrod integration of the gradient *vector*, per sample, batched.

    Two tolerances must hold for a sample to be done:

    * **the map**: the estimated relative L2 error of the map, ``‖E‖ / ‖A‖``, is at most ``rtol``.
      ``E`` is the error vector of the integrated gradient — the sum over the current intervals of
      the Kronrod minus the embedded Gauss estimate (Gauss 7 in Kronrod 15, Gauss 3 in Kronrod 7),
      kept in a second accumulator — mapped like the gradient itself: ``check(grad, error)`` (the
      engine's, for every domain sharing the path) or, without ``check``, ``A = delta ⊙ grad`` and
      ``E = delta ⊙ error`` (the map in the path's own coefficients);
    * **completeness**: ``change[i] = fn(end_i) - fn(start_i)`` is the exact value of ``∫₀¹ h``
      (``h(α) = d fn/dα``), so the sum's error is known exactly at every moment:
      ``|Σ Q - change| <= rtol·|change| + roundoff_floor(...)``, a floor relative to the change and to
      the map's own size in the model's precision ``eps`` (never to ``|fn(end)|``: a constant offset
      in the output changes nothing).

    A map error cannot hide behind a small sum (errors of opposite sign cancel in the sum, not in
    ``‖E‖``), and a sum error does not pass for a small map error.

    The path starts as one 15-point Kronrod interval (enough for smooth models). While a sample is
    off, every interval whose error indicator is at least a quarter of the largest (at most eight
    per round) is bisected into two 7-point Kronrod intervals (cheap where ReLU kinks make the
    gradient piecewise constant). An interval's indicator is the larger of its map error
    ``‖delta ⊙ (K − G)‖`` relative to ``rtol·‖delta ⊙ grad‖`` and its completeness error
    ``|K − G|`` of ``∫ h`` relative to the completeness tolerance. Every interval's gradients are
    added to the two accumulators when evaluated. A bisected interval's contribution is removed
    from them with its kept host copy while those fit in ``store_bytes``; beyond that, by evaluating
    its nodes again with negative weights, so device memory stays that of one chunk of
    ``batch_rows`` rows. A sample stops when both tolerances hold, or when the next bisection would
    exceed ``max_steps`` gradient evaluations (``converged`` is then False).
    """
    n = len(change)
    rules = (gauss_kronrod_15(), gauss_kronrod_7())
    acc = backend.zeros_like(start)
    err = backend.zeros_like(start)
    dn = np.abs(backend.to_numpy(delta)).reshape(n, -1)
    state = _State(n, store_bytes, backend.to_numpy(backend.take(acc, np.arange(1))).dtype)
    todo = [(i, 0.0, 1.0, 0, 1.0) for i in range(n)]  # (sample, lo, hi, rule, sign)
    split_cost = 2 * len(rules[1][0])
    while True:
        acc, err = _evaluate(backend, fn, start, delta, todo, rules, batch_rows, acc, err, state, dn, on_rows)
        rel, map_norm, l1 = _map_error(backend, acc, err, dn, check)
        tol = rtol * np.abs(change) + roundoff_floor(change, l1, eps)
        comp_ok = np.abs(state.estimate - change) <= tol
        map_ok = rel <= rtol
        todo, undo_idx, undo_vecs = [], [], []
        for i in np.nonzero(~(comp_ok & map_ok))[0]:
            open_leaves = [lf for lf in state.leaves[i] if lf.hi - lf.lo >= 2 * MIN_INTERVAL]
            if not open_leaves:
                continue
            scale_map = rtol * map_norm[i] if not map_ok[i] else np.inf
            scale_sum = tol[i] if not comp_ok[i] else np.inf
            score = np.array([max(lf.ev / max(scale_map, 1e-300), lf.eh / max(scale_sum, 1e-300))
                              for lf in open_leaves])
            order = np.argsort(-score)[:MAX_SPLITS]
            spent = 0
            for k in order:
                if score[k] < SPLIT_SHARE * score[order[0]]:
                    break
                worst = open_leaves[k]
                undo_cost = 0 if worst.vecs is not None else len(rules[worst.rule][0])
                if state.used[i] + spent + undo_cost + split_cost > max_steps:
                    break
                spent += undo_cost + split_cost
                state.remove(i, worst)
                if worst.vecs is not None:
                    undo_idx.append(i)
                    undo_vecs.append(worst.vecs)
                else:
                    todo.append((int(i), worst.lo, worst.hi, worst.rule, -1.0))
                mid = 0.5 * (worst.lo + worst.hi)
                todo += [(int(i), worst.lo, mid, 1, 1.0), (int(i), mid, worst.hi, 1, 1.0)]
        if undo_idx:  # remove the kept contributions of the bisected intervals, in one call per accumulator
            both = np.stack(undo_vecs)  # (k, 2, ...)
            idx = np.asarray(undo_idx)
            minus = -np.ones(len(idx))
            acc = backend.accumulate(acc, idx, backend.asarray(both[:, 0], dtype=state.dtype.name), minus)
            err = backend.accumulate(err, idx, backend.asarray(both[:, 1], dtype=state.dtype.name), minus)
        if not todo:
            break
    converged = (np.abs(state.estimate - change) <= tol) & (rel <= rtol)
    return PathResult(acc, state.used, converged, err, rel)


class _State:
    """The adaptive rule's bookkeeping: each sample's intervals, its ∫h estimate and evaluations spent,
    and the host memory spent on kept interval contributions."""

    def __init__(self, n: int, store_bytes: int, dtype: np.dtype) -> None:
        self.leaves: list[list[_Leaf]] = [[] for _ in range(n)]
        self.estimate = np.zeros(n)
        self.used = np.zeros(n, dtype=np.int64)
        self.free = store_bytes
        self.dtype = np.dtype(dtype)

    def add(self, i: int, leaf: _Leaf) -> None:
        self.leaves[i].append(leaf)
        self.estimate[i] += leaf.q
        if leaf.vecs is not None:
            self.free -= leaf.vecs.nbytes

    def remove(self, i: int, leaf: _Leaf) -> None:
        self.leaves[i].remove(leaf)
        self.estimate[i] -= leaf.q
        if leaf.vecs is not None:
            self.free += leaf.vecs.nbytes


def _map_error(backend: Any, acc: Any, err: Any, dn: np.ndarray,
               check: MapCheck | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The relative map error per sample (the engine's check, else the path's own map), and the L2 and
    L1 norms of the map in the path's coefficients."""
    n = dn.shape[0]
    a = dn * np.abs(backend.to_numpy(acc)).reshape(n, -1)
    norm, l1 = np.sqrt(np.sum(a**2, axis=1)), np.sum(a, axis=1)
    if check is not None:
        return np.asarray(check(acc, err), dtype=np.float64), norm, l1
    e = np.abs(backend.to_numpy(err)).reshape(n, -1)
    enorm = np.sqrt(np.sum((dn * e) ** 2, axis=1))
    return relative(enorm, norm), norm, l1


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


def _evaluate(
    backend: Any, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any,
    todo: list[tuple[int, float, float, int, float]], rules: tuple, batch_rows: int, acc: Any, err: Any,
    state: _State, dn: np.ndarray, on_rows: Callable[[int], None] | None,
) -> tuple[Any, Any]:
    """Evaluate the intervals of one round in chunks; add their weighted gradients and error vectors to
    the accumulators; record the new intervals (∫h, its Kronrod–Gauss difference, the norm of the
    map's, and their contributions while memory allows)."""
    idx, alphas, wk_rows, we_rows, owner = [], [], [], [], []
    for k, (i, lo, hi, r, sign) in enumerate(todo):
        nodes, wk, wg = rules[r]
        idx.append(np.full(len(nodes), i))
        alphas.append(lo + (hi - lo) * nodes)
        wk_rows.append(sign * (hi - lo) * wk)
        we_rows.append(sign * (hi - lo) * (wk - wg))
        owner.append(np.full(len(nodes), k))
        state.used[i] += len(nodes)
    idx_a, alpha_a = np.concatenate(idx), np.concatenate(alphas)
    wk_a, we_a, owner_a = np.concatenate(wk_rows), np.concatenate(we_rows), np.concatenate(owner)
    new = np.array([sign > 0 for (_, _, _, _, sign) in todo])
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
            parts = [backend.to_numpy(backend.accumulate(backend.zeros_like(backend.take(start, samples)), local,
                                                         kept, w[sl][keep])) for w in (wk_a, we_a)]
            for j, k in enumerate(ks):  # an interval split over two chunks adds up its two parts
                v = np.stack([parts[0][j], parts[1][j]])
                vecs[int(k)] = vecs[int(k)] + v if int(k) in vecs else v
        if on_rows is not None:
            on_rows(len(rows_idx))
    for k, (i, lo, hi, r, sign) in enumerate(todo):
        if sign < 0:
            continue
        hk = h[owner_a == k]
        _, wk, wg = rules[r]
        q = float(hk @ wk) * (hi - lo)
        eh = abs(q - float(hk @ wg) * (hi - lo))
        v = vecs[k]
        ev = float(np.sqrt(np.sum((dn[i] * np.abs(v[1]).reshape(-1)) ** 2)))
        keep_vec = v.astype(state.dtype, copy=False) if v.nbytes <= state.free else None
        state.add(i, _Leaf(lo, hi, r, q, eh, ev, keep_vec))
    return acc, err
