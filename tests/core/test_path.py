"""The path integral itself, with a tiny numpy backend: no framework, closed-form integrands."""

from __future__ import annotations

import numpy as np
import pytest

from cdig.core.path import combine_estimates, integrate_adaptive, integrate_fixed, roundoff_floor, step_error_ratio
from cdig.core.rules import gauss_kronrod_7, gauss_kronrod_15


class NumpyBackend:
    """The five primitives cdig.core.path uses, on numpy arrays; ``fn`` returns the gradient itself."""

    def __init__(self) -> None:
        self.rows = 0

    def zeros_like(self, a):
        return np.zeros(a.shape, dtype=np.complex128 if np.iscomplexobj(a) else np.float64)

    def take(self, a, idx):
        return a[np.asarray(idx)]

    def to_numpy(self, a):
        return np.asarray(a)

    def asarray(self, a, dtype=None):
        return np.asarray(a, dtype=dtype)

    def path_grad(self, fn, start, delta, idx, alphas, want_h):
        self.rows += len(idx)
        points = start[idx] + alphas[:, None] * delta[idx]
        g = fn(points, idx)
        return g, ((g * delta[idx]).sum(axis=1) if want_h else None)

    def accumulate(self, acc, idx, grads, weights):
        np.add.at(acc, np.asarray(idx), np.asarray(weights)[:, None] * grads)
        return acc


def _steps_problem(n=3, d=40, seed=0):
    """``f(x) = Σ_k w_k relu(x_k − c_k)`` from the zero baseline: ∫∇f = w (1 − c/x) exactly."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, (n, d))
    c = rng.uniform(0.05, 0.45, d)
    w = rng.standard_normal(d)

    def grad(points, idx):
        return w * (points > c)

    exact = w * (1 - c / x)
    change = np.sum(w * np.maximum(x - c, 0), axis=1)
    return grad, np.zeros_like(x), x, change, exact


def _rel(a, b):
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("rtol", [1e-2, 1e-3, 1e-5])
def test_steps_integrate_to_the_closed_form_within_the_estimate(rtol):
    grad, start, x, change, exact = _steps_problem()
    res = integrate_adaptive(NumpyBackend(), grad, start, x, change, rtol, 100_000, 256)
    assert res.converged.all()
    true = _rel(res.grad * x, exact * x)  # the time map's relative error
    est = res.map_error
    assert np.all(true <= 3 * rtol) and np.all(true <= 2 * est), (true, est)
    np.testing.assert_allclose((res.grad * x).sum(1), change, rtol=2 * rtol)


def test_nested_trapezoids_reuse_every_gradient():
    """Where the integrand is piecewise constant, refining by nested trapezoids (the default) costs far
    fewer evaluations than re-doing Kronrod rules on each half (what happens without host memory)."""
    grad, start, x, change, exact = _steps_problem(d=200)
    kept = integrate_adaptive(NumpyBackend(), grad, start, x, change, 1e-4, 100_000, 512)
    bare = integrate_adaptive(NumpyBackend(), grad, start, x, change, 1e-4, 100_000, 512, store_bytes=0)
    for res in (kept, bare):
        assert res.converged.all()
        assert np.all(_rel(res.grad * x, exact * x) <= 3e-4)
    assert kept.steps.max() < 0.8 * bare.steps.min(), (kept.steps, bare.steps)  # measured: 0.67-0.71


def test_smooth_integrand_stops_after_one_kronrod_interval():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16))

    def grad(points, idx):  # f = Σ sin(x): smooth along the path
        return np.cos(points)

    be = NumpyBackend()
    res = integrate_adaptive(be, grad, np.zeros_like(x), x, np.sin(x).sum(1), 1e-8, 4096, 64)
    assert res.steps.tolist() == [15, 15] and be.rows == 30
    np.testing.assert_allclose(res.grad, (np.sin(x) / x), rtol=1e-10)


def test_budget_runs_out_honestly():
    grad, start, x, change, exact = _steps_problem()
    res = integrate_adaptive(NumpyBackend(), grad, start, x, change, 1e-7, 200, 64)
    assert not res.converged.any()
    assert np.all(res.steps <= 200)
    assert np.all(res.map_error > 1e-7)


def test_fixed_rule_matches_the_closed_form_at_many_steps():
    grad, start, x, change, exact = _steps_problem()
    res = integrate_fixed(NumpyBackend(), grad, start, x, len(x), 20_000, "riemann_middle", 4096)
    assert res.error is None
    assert np.all(_rel(res.grad, exact) < 1e-3)


@pytest.mark.parametrize(
    "rule",
    [
        gauss_kronrod_7,
        gauss_kronrod_15,
        lambda: (np.array([0.0, 0.5, 1.0]), np.array([0.25, 0.5, 0.25]), np.array([0.5, 0.0, 0.5])),
    ],
)
def test_step_error_ratio_matches_dense_sampling(rule):
    nodes, wk, wg = rule()
    u = (np.arange(200_000) + 0.5) / 200_000
    above = nodes[None, :] > u[:, None]
    ek = above @ wk - (1 - u)
    eg = above @ wg - (1 - u)
    sampled = np.sqrt(np.mean(ek**2) / np.mean((ek - eg) ** 2))
    assert abs(step_error_ratio(nodes, wk, wg) - sampled) < 1e-4


def test_floors_and_combined_estimates():
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(roundoff_floor(np.array([1.0, -4.0]), np.array([3.0, 2.0]), eps), [64 * eps * 3.0, 64 * eps * 4.0])
    # the sum's exact error sets a lower limit: |delta| / max(|change|, ‖A‖)
    out = combine_estimates(np.array([1e-5, 1e-1]), np.array([1e-3, 1e-3]), np.array([0.5, 0.5]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(out, [5e-4, 1e-1])
