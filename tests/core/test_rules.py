"""Integration rules: nodes and weights on [0, 1], checked against exact integrals and Captum."""

from __future__ import annotations

import numpy as np
import pytest

import cdig
from cdig.core.rules import RULES, gauss_kronrod_15, get_rule
from cdig.testing import requires_captum

RIEMANN = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]


def _monomial_integral(alphas: np.ndarray, weights: np.ndarray, degree: int) -> float:
    """The rule's error on ∫₀¹ (2α − 1)^degree dα (exactly 1/(degree+1) for even degrees, 0 for odd).

    Centred monomials keep the error of the first inexact degree far above round-off.
    """
    est = float(np.sum(weights * (2 * alphas - 1) ** degree))
    exact = 1.0 / (degree + 1) if degree % 2 == 0 else 0.0
    return abs(est - exact) * (degree + 1)


def test_rule_names():
    assert set(RULES) == {"riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"}
    assert cdig.RULES is RULES


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("n", [2, 3, 7, 50, 257])
def test_weights_sum_to_one_and_nodes_in_unit_interval(method, n):
    alphas, weights = get_rule(method, n)
    assert alphas.shape == weights.shape == (n,)
    assert abs(weights.sum() - 1.0) < 1e-13
    assert np.all(weights > 0)
    assert np.all((alphas >= 0) & (alphas <= 1))
    assert np.all(np.diff(alphas) > 0)


def test_gausslegendre_single_node():
    alphas, weights = get_rule("gausslegendre", 1)
    np.testing.assert_allclose(alphas, [0.5])
    np.testing.assert_allclose(weights, [1.0])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16, 32])
def test_gausslegendre_exact_up_to_degree_2n_minus_1(n):
    alphas, weights = get_rule("gausslegendre", n)
    for degree in range(2 * n):
        assert _monomial_integral(alphas, weights, degree) < 1e-12, degree
    # and not beyond: degree 2n is not integrated exactly (resolvable in float64 up to n = 16)
    if n <= 16:
        assert _monomial_integral(alphas, weights, 2 * n) > 1e-9


@pytest.mark.parametrize("n", [2, 3, 10, 51])
def test_trapezoid_nodes_and_weights(n):
    alphas, weights = get_rule("riemann_trapezoid", n)
    np.testing.assert_array_equal(alphas, np.linspace(0.0, 1.0, n))
    expected = np.full(n, 1.0 / (n - 1))
    expected[[0, -1]] /= 2
    np.testing.assert_allclose(weights, expected, rtol=1e-15)
    # trapezoid is exact for straight lines
    assert _monomial_integral(alphas, weights, 1) < 1e-13


@pytest.mark.parametrize("n", [2, 5, 20])
def test_riemann_nodes_closed_form(n):
    i = np.arange(n)
    np.testing.assert_allclose(get_rule("riemann_left", n)[0], i / n, rtol=0, atol=1e-15)
    np.testing.assert_allclose(get_rule("riemann_right", n)[0], (i + 1) / n, rtol=0, atol=1e-15)
    np.testing.assert_allclose(get_rule("riemann_middle", n)[0], (i + 0.5) / n, rtol=0, atol=1e-15)
    # the midpoint rule is exact for straight lines
    a, w = get_rule("riemann_middle", n)
    assert _monomial_integral(a, w, 1) < 1e-13


@requires_captum
@pytest.mark.parametrize("method", ["riemann_left", "riemann_right", "riemann_middle", "gausslegendre"])
@pytest.mark.parametrize("n", [2, 7, 50])
def test_matches_captum_alphas_and_step_sizes(method, n):
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters(method)
    ours_a, ours_w = get_rule(method, n)
    # Captum builds Riemann alphas with float32 torch.linspace: equal to float32 round-off
    np.testing.assert_allclose(ours_a, alphas(n), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours_w, step_sizes(n), rtol=1e-12)


@requires_captum
@pytest.mark.parametrize("n", [2, 7, 50])
def test_trapezoid_is_captums_scaled_to_sum_one(n):
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("riemann_trapezoid")
    ours_a, ours_w = get_rule("riemann_trapezoid", n)
    assert abs(sum(step_sizes(n)) - (n - 1) / n) < 1e-12
    np.testing.assert_allclose(ours_a, alphas(n), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours_w, np.asarray(step_sizes(n)) * n / (n - 1), rtol=1e-12)


# --- Gauss–Kronrod 7/15 -----------------------------------------------------------------------


def test_gauss_kronrod_structure():
    alphas, wk, wg = gauss_kronrod_15()
    assert alphas.shape == wk.shape == wg.shape == (15,)
    assert np.all(np.diff(alphas) > 0) and alphas[0] > 0 and alphas[-1] < 1
    np.testing.assert_allclose(alphas + alphas[::-1], 1.0, atol=1e-15)  # symmetric about 1/2
    assert abs(wk.sum() - 1) < 1e-14 and abs(wg.sum() - 1) < 1e-14
    # the embedded Gauss rule lives on 7 of the 15 nodes and is the 7-point Gauss–Legendre rule
    on = wg > 0
    assert on.sum() == 7
    ref_a, ref_w = get_rule("gausslegendre", 7)
    x, w = np.polynomial.legendre.leggauss(7)
    np.testing.assert_allclose(alphas[on], 0.5 * (x + 1), atol=1e-15)
    np.testing.assert_allclose(wg[on], 0.5 * w, atol=1e-15)
    np.testing.assert_allclose(alphas[on], ref_a, atol=1e-15)


def test_gauss_kronrod_exactness():
    alphas, wk, wg = gauss_kronrod_15()
    for degree in range(23):  # Kronrod 15: exact up to 3·7 + 1 = 22
        assert _monomial_integral(alphas, wk, degree) < 1e-13, degree
    for degree in range(14):  # embedded Gauss 7: exact up to 2·7 − 1 = 13
        assert _monomial_integral(alphas, wg, degree) < 1e-13, degree
    assert _monomial_integral(alphas, wg, 14) > 1e-5
    assert _monomial_integral(alphas, wk, 24) > 1e-9


def test_gauss_kronrod_error_estimate_on_smooth_function():
    # ∫₀¹ exp(3α) dα: both estimates are close, Kronrod much closer
    alphas, wk, wg = gauss_kronrod_15()
    exact = (np.exp(3.0) - 1) / 3
    f = np.exp(3 * alphas)
    assert abs(np.sum(wk * f) - exact) < 1e-14 * exact
    assert abs(np.sum(wg * f) - exact) < 1e-9 * exact


# --- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("method", RIEMANN)
def test_riemann_needs_two_steps(method):
    with pytest.raises(cdig.CdigValueError, match=r"n_steps=1.*" + method):
        get_rule(method, 1)


@pytest.mark.parametrize("n", [0, -3])
def test_gausslegendre_needs_one_step(n):
    with pytest.raises(cdig.CdigValueError, match=f"n_steps={n}"):
        get_rule("gausslegendre", n)


@pytest.mark.parametrize("n", [2.0, "10", True, None])
def test_n_steps_must_be_int(n):
    with pytest.raises(cdig.CdigTypeError, match="n_steps"):
        get_rule("gausslegendre", n)


def test_numpy_int_steps_accepted():
    a, w = get_rule("gausslegendre", np.int64(4))
    assert len(a) == 4


@pytest.mark.parametrize("method", ["simpson", "Riemann_left", "", None, 3])
def test_unknown_method(method):
    with pytest.raises(cdig.CdigValueError, match="method=") as e:
        get_rule(method, 10)
    assert "gausslegendre" in str(e.value)  # names what is accepted


@pytest.mark.parametrize("n", [129, 500, 4096])
def test_gauss_legendre_above_128_points_is_exact_and_cheap(n):
    """Large rules come from scipy's O(n) roots: they integrate polynomials up to degree 2n-1 exactly."""
    a, w = get_rule("gausslegendre", n)
    assert a.shape == w.shape == (n,) and np.all(np.diff(a) > 0) and 0 < a[0] and a[-1] < 1
    for k in (0, 1, 7, 2 * n - 1):
        assert float(np.sum(w * a**k)) == pytest.approx(1.0 / (k + 1), rel=1e-9, abs=1e-12)
    if n <= 500:
        x, ww = np.polynomial.legendre.leggauss(n)
        np.testing.assert_allclose(a, 0.5 * (x + 1), rtol=0, atol=1e-13)
        np.testing.assert_allclose(w, 0.5 * ww, rtol=0, atol=1e-13)  # leggauss's end weights drift by ~1e-9 relative
    assert not a.flags.writeable and not w.flags.writeable  # cached: shared, so read-only
