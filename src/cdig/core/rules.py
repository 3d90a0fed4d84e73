"""Integration rules on [0, 1]: each returns ``(alphas, weights)`` with weights summing to one.

The path integral never branches on a rule's name: it only consumes the nodes and weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .errors import CdigTypeError, CdigValueError

__all__ = ["PERTURBATION_METHODS", "PERTURBATION_NAMES", "RULES", "get_rule", "gauss_kronrod_15", "gauss_kronrod_7"]

Rule = Callable[[int], "tuple[np.ndarray, np.ndarray]"]


def riemann_left(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Left Riemann sum: ``alpha_i = i / n`` for ``i = 0 .. n-1``."""
    return np.arange(n) / n, np.full(n, 1.0 / n)


def riemann_right(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Right Riemann sum: ``alpha_i = i / n`` for ``i = 1 .. n``."""
    return np.arange(1, n + 1) / n, np.full(n, 1.0 / n)


def riemann_middle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint rule: ``alpha_i = (i + 1/2) / n``."""
    return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)


def riemann_trapezoid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid rule on ``linspace(0, 1, n)``: weights ``1/(n-1)``, the two ends halved.

    Unlike Captum's (``1/n``, ends halved, summing to ``(n-1)/n``) these weights sum to one,
    so completeness holds without a ``1/n`` bias.
    """
    w = np.full(n, 1.0 / (n - 1))
    w[[0, -1]] /= 2.0
    return np.linspace(0.0, 1.0, n), w


def gausslegendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights mapped from [-1, 1] to [0, 1].

    Up to 128 points from numpy's ``leggauss`` (as Captum, to the last bit); above, from
    ``scipy.special.roots_legendre`` (O(n) memory, 0.36 s at 4096 points, where ``leggauss`` builds an n×n
    companion matrix: 258 MiB and 40 s at 4096 points). Cached: the arrays returned are read-only.

    Examples
    --------
    >>> a, w = gausslegendre(3)
    >>> np.round(a, 6).tolist(), round(float(w.sum()), 12)
    ([0.112702, 0.5, 0.887298], 1.0)
    """
    return _gausslegendre(int(n))


@functools.lru_cache(maxsize=64)
def _gausslegendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n <= 128:
        x, w = np.polynomial.legendre.leggauss(n)
    else:
        from scipy.special import roots_legendre

        x, w = roots_legendre(n)
    a, wt = 0.5 * (x + 1.0), 0.5 * w
    a.setflags(write=False)
    wt.setflags(write=False)
    return a, wt


RULES: dict[str, Rule] = {
    "riemann_left": riemann_left,
    "riemann_right": riemann_right,
    "riemann_middle": riemann_middle,
    "riemann_trapezoid": riemann_trapezoid,
    "gausslegendre": gausslegendre,
}
_MIN_STEPS = {name: (1 if name == "gausslegendre" else 2) for name in RULES}


def get_rule(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of rule ``method`` with ``n_steps`` points.

    Examples
    --------
    >>> alphas, weights = get_rule("riemann_trapezoid", 5)
    >>> alphas.tolist(), float(weights.sum())
    ([0.0, 0.25, 0.5, 0.75, 1.0], 1.0)
    """
    if not isinstance(method, str) or method not in RULES:
        raise CdigValueError(f"method={method!r} is not an integration rule; accepted: {', '.join(sorted(RULES))}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)):
        raise CdigTypeError(f"n_steps must be a positive int or 'auto', got {n_steps!r}")
    n = int(n_steps)
    if n < _MIN_STEPS[method]:
        raise CdigValueError(f"n_steps={n} is too small for method={method!r}: it needs n_steps >= {_MIN_STEPS[method]}")
    return RULES[method](n)


# Gauss–Kronrod 7/15 on [-1, 1] (the classical constants, as tabulated in QUADPACK's qk15).
_XGK = np.array(
    [
        0.991455371120812639206854697526329,
        0.949107912342758524526189684047851,
        0.864864423359769072789712788640926,
        0.741531185599394439863864773280788,
        0.586087235467691130294144845693013,
        0.405845151377397166906606412076961,
        0.207784955007898467600689403773245,
        0.0,
    ]
)
_WGK = np.array(
    [
        0.022935322010529224963732008058970,
        0.063092092629978553290700663189204,
        0.104790010322250183839876322541518,
        0.140653259715525918745189590510238,
        0.169004726639267902826583426598550,
        0.190350578064785409913256402421014,
        0.204432940075298892414161999234649,
        0.209482141084727828012999174891714,
    ]
)
_WG = np.array(
    [
        0.129484966168869693270611432679082,
        0.279705391489276667901467771423780,
        0.381830050505118944950369775488975,
        0.417959183673469387755102040816327,
    ]
)


def _kronrod(xgk: np.ndarray, wgk: np.ndarray, wg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A symmetric Kronrod rule on [0, 1] from its half-tables on [-1, 1] (QUADPACK's layout: nodes
    descending to the centre 0, which is the last entry; the embedded Gauss rule (odd order) uses
    every second node from the second one on, the centre included)."""
    g = np.zeros(len(xgk))
    g[1::2] = wg
    x = np.concatenate([-xgk, xgk[-2::-1]])
    wk = np.concatenate([wgk, wgk[-2::-1]])
    wgf = np.concatenate([g, g[-2::-1]])
    return 0.5 * (x + 1.0), 0.5 * wk, 0.5 * wgf


def gauss_kronrod_15() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 15-point Kronrod rule on [0, 1] with its embedded 7-point Gauss rule.

    Returns ``(alphas, kronrod_weights, gauss_weights)``; the Gauss weights are zero on the
    eight Kronrod-only nodes. The difference of the two estimates bounds the local error.

    Examples
    --------
    >>> a, wk, wg = gauss_kronrod_15()
    >>> len(a), round(float(wk.sum()), 12), round(float(wg.sum()), 12)
    (15, 1.0, 1.0)
    """
    return _kronrod(_XGK, _WGK, _WG)


# Gauss–Kronrod 3/7 on [-1, 1] (the classical constants of the 7-point Kronrod extension of Gauss 3).
_XGK7 = np.array(
    [0.960491268708020283423507092629080, 0.774596669241483377035853079956480, 0.434243749346802558002071502844628, 0.0]
)
_WGK7 = np.array(
    [
        0.104656226026467265193823857192073,
        0.268488089868333440728569280666710,
        0.401397414775962222905051818618432,
        0.450916538658474142345110087045571,
    ]
)


def gauss_kronrod_7() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 7-point Kronrod rule on [0, 1] with its embedded 3-point Gauss rule (cheap, for rough integrands).

    Examples
    --------
    >>> a, wk, wg = gauss_kronrod_7()
    >>> len(a), round(float(wk.sum()), 12), round(float(wg.sum()), 12)
    (7, 1.0, 1.0)
    """
    return _kronrod(_XGK7, _WGK7, np.array([5 / 9, 8 / 9]))


#: The perturbation methods (:mod:`cdig.perturb`) that :func:`cdig.explain` takes as ``method=`` beside the rules.
PERTURBATION_METHODS = ("shapley", "occlusion", "rise")
#: How figures, the command line and reports name them.
PERTURBATION_NAMES = {"shapley": "Shapley values", "occlusion": "occlusion", "rise": "RISE"}
