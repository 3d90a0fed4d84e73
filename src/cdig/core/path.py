"""The path integral: chunks of (sample, step) rows -> the averaged gradient along each sample's path.

Framework-free: the heavy arrays stay in the backend's framework (and on its device); this module
only plans rows with numpy and reads back per-row scalars when the adaptive rule needs them.

The backend provides three primitives (see :class:`cdig.backends.base.Backend`):

``zeros_like(a)``
    an accumulator shaped like the path's start point;
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

from .rules import gauss_kronrod_15, get_rule

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
    """Adaptive composite Gauss–Kronrod (7/15) integration, per sample, batched across samples.

    ``change[i] = fn(end_i) - fn(start_i)`` is the exact value of ``∫ h`` (``h(α) = d fn/dα``), so the
    completeness error of every sample is known at each moment. An interval is accepted when its
    Kronrod–Gauss difference is within its share of the tolerance ``rtol·|change| + atol`` (proportional
    to its length); otherwise it is bisected. Rejected intervals add nothing to the gradient, so
    nothing needs to be stored per interval. If all intervals were accepted but the exact error is
    still too large (a feature slipped between nodes), the most suspicious accepted interval is
    re-opened: its contribution is removed by evaluating it again with negative weights and its halves
    are integrated. Stops per sample when within tolerance or when ``max_steps`` evaluations are spent.
    """
    n = len(change)
    nodes, wk, wg = gauss_kronrod_15()
    m = len(nodes)
    tol = rtol * np.abs(change) + (np.zeros(n) if atol is None else atol)
    acc = backend.zeros_like(start)
    used = np.zeros(n, dtype=np.int64)
    estimate = np.zeros(n)
    accepted: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
    pending: list[tuple[int, float, float, float]] = [(i, 0.0, 1.0, 1.0) for i in range(n)]
    per_chunk = max(1, batch_rows // m)

    while pending:
        reserved = np.zeros(n, dtype=np.int64)
        queued: list[tuple[int, float, float, float]] = []
        for c in range(0, len(pending), per_chunk):
            chunk = pending[c:c + per_chunk]
            idx = np.repeat([iv[0] for iv in chunk], m)
            a = np.array([iv[1] for iv in chunk])[:, None]
            b = np.array([iv[2] for iv in chunk])[:, None]
            grads, h = backend.path_grad(fn, start, delta, idx, (a + (b - a) * nodes).ravel(), True)
            h = h.reshape(len(chunk), m)
            width = (b - a)[:, 0]
            kron = (h * wk).sum(axis=1) * width
            err = np.abs(kron - (h * wg).sum(axis=1) * width)
            weights = np.zeros((len(chunk), m))
            for r, (i, lo, hi, sign) in enumerate(chunk):
                used[i] += m
                split_cost = 2 * m
                ok = (
                    sign < 0
                    or err[r] <= tol[i] * (hi - lo)
                    or hi - lo < MIN_INTERVAL
                    or used[i] + reserved[i] + split_cost > max_steps
                )
                if ok:
                    weights[r] = sign * wk * (hi - lo)
                    estimate[i] += sign * kron[r]
                    if sign > 0:
                        accepted[i].append((lo, hi, float(err[r])))
                else:
                    mid = 0.5 * (lo + hi)
                    queued += [(i, lo, mid, 1.0), (i, mid, hi, 1.0)]
                    reserved[i] += split_cost
            acc = backend.accumulate(acc, idx, grads, weights.ravel())
            if on_rows is not None:
                on_rows(len(idx))
        if not queued:
            queued = _reopen(estimate, change, tol, accepted, used, max_steps, m)
        pending = queued
    converged = np.abs(estimate - change) <= tol
    return PathResult(acc, used, converged)


def _reopen(
    estimate: np.ndarray,
    change: np.ndarray,
    tol: np.ndarray,
    accepted: list[list[tuple[float, float, float]]],
    used: np.ndarray,
    max_steps: int,
    m: int,
) -> list[tuple[int, float, float, float]]:
    """For samples still off by more than the tolerance, undo and bisect one accepted interval."""
    out: list[tuple[int, float, float, float]] = []
    for i in np.nonzero(np.abs(estimate - change) > tol)[0]:
        if used[i] + 3 * m > max_steps:
            continue
        cands = [iv for iv in accepted[i] if iv[1] - iv[0] >= 2 * MIN_INTERVAL]
        if not cands:
            continue
        # The largest local error estimate; where all are tiny, the estimates are blind, so take the widest.
        lo, hi, e = max(cands, key=lambda iv: iv[2])
        if e < 1e-2 * tol[i] * (hi - lo):
            lo, hi, e = max(cands, key=lambda iv: iv[1] - iv[0])
        accepted[i].remove((lo, hi, e))
        mid = 0.5 * (lo + hi)
        out += [(int(i), lo, hi, -1.0), (int(i), lo, mid, 1.0), (int(i), mid, hi, 1.0)]
    return out
