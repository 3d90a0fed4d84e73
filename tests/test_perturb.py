"""Perturbation attributions (cdig.perturb): occlusion and Shapley values of groups of coefficients.

References are independent of cdig: closed forms for linear models, integrated gradients (equal to
Shapley values for linear models), and Shapley values computed here by enumerating coalitions with
numpy (``np.fft`` for the Fourier coefficients).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import cdig
from cdig.core.errors import CdigValueError
from cdig.domains import FrequencyBands
from cdig.perturb import MAX_EXACT_GROUPS, attribute

RNG = np.random.default_rng(7)


def _band_index(n_times: int, fs: float, bands: dict[str, tuple[float, float]]) -> np.ndarray:
    """The band of each rfft bin (half-open [lo, hi) in Hz), the remainder last."""
    freqs = np.arange(n_times // 2 + 1) * fs / n_times
    index = np.full(len(freqs), len(bands))
    for b, (lo, hi) in enumerate(bands.values()):
        index[(freqs >= lo) & (freqs < hi)] = b
    return index


def _shapley_by_orderings(v: dict[frozenset, np.ndarray], players: int) -> np.ndarray:
    """Shapley values as the mean marginal contribution over all orderings of the players."""
    phi = np.zeros((len(next(iter(v.values()))), players))
    orders = list(itertools.permutations(range(players)))
    for order in orders:
        before: frozenset = frozenset()
        for p in order:
            phi[:, p] += v[before | {p}] - v[before]
            before = before | {p}
    return phi / len(orders)


def test_linear_time_domain_is_w_times_difference():
    x, x0 = RNG.normal(size=(3, 10)), RNG.normal(size=(3, 10))
    w = RNG.normal(size=10)
    att = attribute(lambda s: s @ w, x, "time", baselines=x0)
    np.testing.assert_allclose(att.values, w * (x - x0), rtol=0, atol=1e-12)
    assert att.dims == ("time",) and att.settings["estimator"] == "exact" and att.settings["backend"] == "numpy"
    np.testing.assert_allclose(att.output, x @ w, atol=1e-12)
    np.testing.assert_allclose(att.baseline_output, x0 @ w, atol=1e-12)
    assert np.all(att.n_steps == 2**10)


@pytest.mark.parametrize("domain", ["fourier", "bands"])
def test_linear_model_shapley_equals_ig(domain):
    torch = pytest.importorskip("torch")
    shape = (2, 16) if domain == "fourier" else (2, 2, 32)  # 9 bins; 2 channels x 4 bands
    x = torch.tensor(RNG.normal(size=shape))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape[1:])), 3)).double().eval()
    d = domain if domain == "fourier" else FrequencyBands({"low": (0.0, 4.0), "mid": (4.0, 8.0), "high": (8.0, 12.0)}, fs=32.0)
    ig = cdig.explain(model, x, d, target=1)
    ig = next(iter(ig.values())) if isinstance(ig, dict) else ig
    att = attribute(model, x, d, target=1)
    assert att.settings["estimator"] == "exact" and att.settings["backend"] == "torch"
    assert att.values.shape == ig.values.shape and att.dims == ig.dims
    assert sorted(att.coords) == sorted(ig.coords) and att.units == ig.units
    np.testing.assert_allclose(att.values, ig.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(att.output, ig.output, atol=1e-10)


def test_nonlinear_three_bands_matches_brute_force():
    n, t, fs = 3, 32, 32.0
    bands = {"low": (0.0, 5.0), "high": (5.0, 11.0)}  # + the remainder: 3 groups
    x, x0 = RNG.normal(size=(n, t)), 0.3 * RNG.normal(size=(n, t))
    w1, w2, w3 = RNG.normal(size=(3, t))

    def f(s: np.ndarray) -> np.ndarray:
        return np.tanh(s @ w1) * (s @ w2) + (s**2) @ w3

    att = attribute(f, x, FrequencyBands(bands, fs=fs), baselines=x0)
    index = _band_index(t, fs, bands)
    X, X0 = np.fft.rfft(x), np.fft.rfft(x0)
    v = {}
    for k in range(4):
        for coalition in itertools.combinations(range(3), k):
            keep = np.isin(index, coalition)
            v[frozenset(coalition)] = f(np.fft.irfft(np.where(keep, X, X0), n=t))
    expected = _shapley_by_orderings(v, 3)
    assert att.values.shape == (n, 3) and att.dims == ("band",)
    np.testing.assert_allclose(att.values, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(att.values.sum(axis=1), f(x) - f(x0), atol=1e-10)  # efficiency
    assert np.abs(att.delta).max() < 1e-10


def _interacting(s: np.ndarray) -> np.ndarray:
    """Terms of order 1, 2, 3 and a smooth nonlinearity: Shapley values with a spread over permutations."""
    return s[:, :8].sum(axis=1) + s[:, 0] * s[:, 1] * s[:, 2] + np.tanh(s[:, 3:9] @ np.arange(1.0, 7.0)) * s[:, 15]


def test_sampled_shapley_within_standard_errors_of_exact():
    g = 16
    x, x0 = RNG.normal(size=(2, g)), np.zeros((2, g))
    codes = np.arange(2**g)
    bits = ((codes[:, None] >> np.arange(g)) & 1).astype(bool)
    size = bits.sum(axis=1)
    weight = np.array([math.factorial(s) * math.factorial(g - s - 1) / math.factorial(g) for s in range(g)])
    exact = np.empty((2, g))
    for j in range(2):
        v = _interacting(np.where(bits, x[j], x0[j]))
        for i in range(g):
            without = codes[~bits[:, i]]
            exact[j, i] = np.sum(weight[size[without]] * (v[without | (1 << i)] - v[without]))
    att = attribute(_interacting, x, "time", n_samples=200, seed=3)
    se = att.extras["standard_error"]
    assert att.settings["estimator"] == "permutation" and att.settings["n_samples"] == 200
    assert se.shape == (2, g) and np.all(se >= 0) and se.max() > 0
    assert np.all(np.abs(att.values - exact) <= 4 * se + 1e-9)
    np.testing.assert_allclose(att.values.sum(axis=1), _interacting(x) - _interacting(x0), atol=1e-10)
    assert np.abs(att.delta).max() < 1e-10
    assert np.all(att.n_steps == 2 + 200 * (g - 1))


def test_more_groups_than_exact_are_sampled_with_a_note():
    x = RNG.normal(size=(1, MAX_EXACT_GROUPS + 2))
    att = attribute(_interacting, x, "time")
    assert att.settings["estimator"] == "permutation" and "note" in att.settings
    assert np.abs(att.delta).max() < 1e-10


def test_occlusion_of_linear_model_is_grouped_difference():
    t = 12
    x, x0 = RNG.normal(size=(2, t)), RNG.normal(size=(2, t))
    w = RNG.normal(size=t)
    labels = np.repeat(np.arange(4), 3)
    att = attribute(lambda s: s @ w, x, "time", method="occlusion", baselines=x0, groups=labels)
    expected = np.stack([(w * (x - x0))[:, labels == k].sum(axis=1) for k in range(4)], axis=1)
    np.testing.assert_allclose(att.values, expected, rtol=0, atol=1e-12)
    assert att.dims == ("group",) and np.array_equal(att.extras["groups"], labels)
    assert np.all(att.n_steps == 4 + 2) and np.abs(att.delta).max() < 1e-12  # no interactions left out


def test_sklearn_pipeline_in_bands():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = RNG.normal(size=(40, 2, 32))
    labels = (data[:, 0, ::4].sum(axis=1) > 0).astype(int)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(data.reshape(40, -1), labels)

    def proba(s: np.ndarray) -> np.ndarray:
        return clf.predict_proba(s.reshape(len(s), -1))

    x = data[:2]
    d = FrequencyBands({"low": (0.0, 4.0), "mid": (4.0, 8.0), "high": (8.0, 12.0)}, fs=32.0)
    att = attribute(proba, x, d, target=1)
    assert att.settings["backend"] == "numpy" and att.values.shape == (2, 2, 4) and att.dims == ("channel", "band")
    f_x, f_0 = proba(x)[:, 1], proba(np.zeros_like(x))[:, 1]
    np.testing.assert_allclose(att.output, f_x, atol=1e-9)
    np.testing.assert_allclose(att.values.sum(axis=(1, 2)), f_x - f_0, atol=1e-9)
    assert np.abs(att.delta).max() < 1e-12


def test_bad_arguments():
    x = RNG.normal(size=(1, 8))
    with pytest.raises(CdigValueError, match="method"):
        attribute(lambda s: s.sum(axis=1), x, "time", method="lime")
    with pytest.raises(CdigValueError, match="n_samples"):
        attribute(lambda s: s.sum(axis=1), x, "time", n_samples=-3)
    with pytest.raises(CdigValueError, match="n_samples"):
        attribute(lambda s: s.sum(axis=1), x, "time", method="occlusion", n_samples=10)
    with pytest.raises(CdigValueError, match="groups"):
        attribute(lambda s: s.sum(axis=1), x, "time", groups=np.array([0, 2] * 4))
