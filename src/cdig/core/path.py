"""The path integral: chunks of (sample, step) rows -> the averaged gradient along each sample's path.

Framework-free: the heavy arrays stay in the backend's framework (and on its device); this module
only plans rows with numpy and reads back per-row scalars when the adaptive rule needs them.

The backend provides three primitives (see :class:`cdig.backends.base.Backend`):

``zeros_like(a)``
    an accumulator shaped like the path's start point (in double precision);
``path_grad(fn, start, delta, idx, alphas, want_h)``
    gradients of ``fn`` at the points ``start[idx] + alphas * delta[idx]``, and optionally the
    directional derivatives ``h = Re<delta[idx], grad>`` as numpy;
``accumulate(acc, idx, grads, weights)``
    ``acc[idx] += weights * grads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .rules import gauss_kronrod_7, gauss_kronrod_15, get_rule

__all__ = ["PathResult", "integrate_fixed", "integrate_adaptive"]

#: Intervals shorter than this are never split again (float32 cannot resolve them anyway).
MIN_INTERVAL = 2.0**-20


@dataclass
class PathResult:
    """``grad[i] = ∫₀¹ ∇fn(start_i + α delta_i) dα`` (a framework array) and the steps each sample used."""

    grad: Any
    steps: np.ndarray
    converged: np.ndarray | None = None


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


def integrate_adaptive(
    backend: Any,
    fn: Callable[[Any, np.ndarray], Any],
    start: Any,
    delta: Any,
    change: np.ndarray,
    rtol: float,
    max_steps: int,
    batch_rows: int,
    atol: np.ndarray | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> PathResult:
    """Globally adaptive Gauss–Kronrod integration, per sample, batched across samples.

    ``change[i] = fn(end_i) - fn(start_i)`` is the exact value of ``∫₀¹ h`` (``h(α) = d fn/dα``), so
    each sample's completeness error is known exactly at every moment: integration stops as soon as
    ``|Σ Q - change| <= max(rtol·|change|, atol)``, or when ``max_steps`` gradient evaluations are spent.

    The path starts as one 15-point Kronrod interval (enough for smooth models). While a sample is
    off, the interval with the largest Kronrod–Gauss error estimate is bisected into two 7-point
    Kronrod intervals (cheap where ReLU kinks make ``h`` piecewise constant). Every interval's
    gradients are added to the accumulator when evaluated; a bisected interval's contribution is
    removed by evaluating its nodes again with negative weights, so no per-interval gradients are
    stored and memory stays that of one chunk of ``batch_rows`` rows. Each round bisects one
    interval of every unfinished sample, all in the same batched passes.
    """
    n = len(change)
    rules = (gauss_kronrod_15(), gauss_kronrod_7())
    tol = np.maximum(rtol * np.abs(change), 0.0 if atol is None else atol)
    acc = backend.zeros_like(start)
    used = np.zeros(n, dtype=np.int64)
    estimate = np.zeros(n)
    # leaves[i]: [error estimate, lo, hi, integral of h, rule index]
    leaves: list[list[list[float]]] = [[] for _ in range(n)]
    todo = [(i, 0.0, 1.0, 0, 1.0) for i in range(n)]  # (sample, lo, hi, rule, sign)
    while todo:
        acc = _evaluate(backend, fn, start, delta, todo, rules, batch_rows, acc, used, estimate, leaves, on_rows)
        todo = []
        split_cost = 2 * len(rules[1][0])
        for i in np.nonzero(np.abs(estimate - change) > tol)[0]:
            open_leaves = [lf for lf in leaves[i] if lf[2] - lf[1] >= 2 * MIN_INTERVAL]
            if not open_leaves:
                continue
            worst = max(open_leaves, key=lambda lf: lf[0])
            undo_cost = len(rules[int(worst[4])][0])
            if used[i] + undo_cost + split_cost > max_steps:
                continue
            leaves[i].remove(worst)
            _, lo, hi, q, r = worst
            estimate[i] -= q
            mid = 0.5 * (lo + hi)
            todo += [(int(i), lo, hi, int(r), -1.0), (int(i), lo, mid, 1, 1.0), (int(i), mid, hi, 1, 1.0)]
    converged = np.abs(estimate - change) <= tol
    return PathResult(acc, used, converged)


def _evaluate(
    backend: Any, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any,
    todo: list[tuple[int, float, float, int, float]], rules: tuple, batch_rows: int, acc: Any,
    used: np.ndarray, estimate: np.ndarray, leaves: list[list[list[float]]],
    on_rows: Callable[[int], None] | None,
) -> Any:
    """Evaluate the intervals of one round in chunks; add their weighted gradients; update the leaves."""
    idx, alphas, weights, owner = [], [], [], []
    for k, (i, lo, hi, r, sign) in enumerate(todo):
        nodes, wk, _ = rules[r]
        idx.append(np.full(len(nodes), i))
        alphas.append(lo + (hi - lo) * nodes)
        weights.append(sign * (hi - lo) * wk)
        owner.append(np.full(len(nodes), k))
        used[i] += len(nodes)
    idx_a, alpha_a, weight_a = np.concatenate(idx), np.concatenate(alphas), np.concatenate(weights)
    h = np.empty(len(idx_a))
    for s in range(0, len(idx_a), batch_rows):
        sl = slice(s, s + batch_rows)
        grads, h[sl] = backend.path_grad(fn, start, delta, idx_a[sl], alpha_a[sl], True)
        acc = backend.accumulate(acc, idx_a[sl], grads, weight_a[sl])
        if on_rows is not None:
            on_rows(len(idx_a[sl]))
    owner_a = np.concatenate(owner)
    for k, (i, lo, hi, r, sign) in enumerate(todo):
        hk = h[owner_a == k]
        _, wk, wg = rules[r]
        q = float(hk @ wk) * (hi - lo)
        if sign > 0:
            err = abs(q - float(hk @ wg) * (hi - lo))
            leaves[i].append([err, lo, hi, q, r])
            estimate[i] += q
    return acc
