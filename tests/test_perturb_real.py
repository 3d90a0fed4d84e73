"""Perturbation methods on real, non-differentiable classifiers fitted on data that ships in installed wheels.

aeon's ``MiniRocketClassifier`` (random convolutions, PPV pooling: piecewise constant in the input, no
gradients) is fitted on BasicMotions (6 channels, 100 steps at 10 Hz, 4 classes) and GunPoint (one
channel, 150 steps, 2 classes), and an scikit-learn pipeline (|rFFT| features, scaling, logistic
regression) on GunPoint. Each predicted-class probability is explained with ``cdig.explain(...,
method=...)`` in frequency bands and in independent components, and checked against references written
here, independent of cdig: the coalition signals are built with ``numpy.fft`` (keep or zero each band's
rFFT bins, then ``irfft``) or with the fitted FastICA's own ``transform``/``mixing_``/``mean_`` (keep
components, mix back), and the Shapley values are the mean marginal contribution over all orderings of
the groups (G <= 6).

The classifiers are fitted once per module (about a second each once numba's cache is warm; aeon's
first-ever run compiles its kernels, which takes longer).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import cdig
from cdig.perturb import METHODS
from cdig.testing import band_of_bins, requires_sklearn

pytestmark = requires_sklearn

real = pytest.importorskip("cdig.datasets.real")
pytest.importorskip("aeon")
if "BasicMotions" not in real.available() or "GunPoint" not in real.available():
    pytest.skip("aeon's (or sktime's) data files are not installed", allow_module_level=True)

#: BasicMotions is sampled at 10 Hz: four bands below the Nyquist frequency, the remainder holds 5 Hz.
BM_BANDS = {"below 0.5 Hz": (0.0, 0.5), "0.5-1.5 Hz": (0.5, 1.5), "1.5-3 Hz": (1.5, 3.0), "3-5 Hz": (3.0, 5.0)}
#: GunPoint has no documented rate: bands in cycles per sample (fs = 1); the remainder holds Nyquist.
GP_BANDS = {"trend": (0.0, 0.02), "slow": (0.02, 0.05), "mid": (0.05, 0.1), "fast": (0.1, 0.2), "faster": (0.2, 0.5)}
EFFICIENCY_TOL = 1e-9  # |delta| relative to the scale of the outputs
MATCH_TOL = 1e-10  # cdig against the brute-force references (probabilities, order one)


# --- independent references -----------------------------------------------------------------------
def band_coalitions(x: np.ndarray, x0: np.ndarray, bin_group: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``keep (G,) -> signal``: the rFFT bins of the kept groups from ``x``, the others from ``x0`` (any leading axes)."""
    spec, spec0, n_times = np.fft.rfft(x, axis=-1), np.fft.rfft(x0, axis=-1), x.shape[-1]
    return lambda keep: np.fft.irfft(np.where(keep[bin_group], spec, spec0), n=n_times, axis=-1)


def ica_coalitions(ica, x: np.ndarray, x0: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``keep (K,) -> signal``: FastICA's sources of ``x`` on the kept components, of ``x0`` elsewhere, mixed back."""
    n, c, t = x.shape

    def sources(s: np.ndarray) -> np.ndarray:
        return ica.transform(s.transpose(0, 2, 1).reshape(-1, c)).reshape(n, t, -1)

    s1, s0 = sources(x), sources(x0)

    def signal(keep: np.ndarray) -> np.ndarray:
        mixed = np.where(keep, s1, s0) @ ica.mixing_.T + ica.mean_  # (N, T, C)
        # contiguous, as cdig's are: numba (MiniRocket) compiles anew (tens of seconds) for another memory layout
        return np.ascontiguousarray(mixed.transpose(0, 2, 1))

    return signal


def coalition_values(f: Callable, coalition: Callable, n_groups: int) -> dict[frozenset, np.ndarray]:
    """``v(S)`` for every coalition ``S`` of ``n_groups`` players: one model call over all of them."""
    subsets = [frozenset(s) for k in range(n_groups + 1) for s in itertools.combinations(range(n_groups), k)]
    signals = [coalition(np.isin(np.arange(n_groups), sorted(s))) for s in subsets]
    n = len(signals[0])
    out = f(np.concatenate(signals))
    return {s: out[i * n : (i + 1) * n] for i, s in enumerate(subsets)}


def shapley_by_orderings(v: dict[frozenset, np.ndarray], n_groups: int) -> np.ndarray:
    """The Shapley values as the mean marginal contribution over all ``G!`` orderings of the players."""
    phi = np.zeros((len(v[frozenset()]), n_groups))
    for order in itertools.permutations(range(n_groups)):
        before: frozenset = frozenset()
        for p in order:
            phi[:, p] += v[before | {p}] - v[before]
            before = before | {p}
    return phi / math.factorial(n_groups)


def weighted_banzhaf(v: dict[frozenset, np.ndarray], n_groups: int, p: float) -> np.ndarray:
    """RISE's expectation with independent masks keeping each group with probability ``p``:
    ``Σ_{S ∌ g} p^|S| (1-p)^(G-1-|S|) (v(S ∪ g) - v(S))``."""
    phi = np.zeros((len(v[frozenset()]), n_groups))
    for g in range(n_groups):
        others = [k for k in range(n_groups) if k != g]
        for size in range(n_groups):
            for s in itertools.combinations(others, size):
                weight = p**size * (1 - p) ** (n_groups - 1 - size)
                phi[:, g] += weight * (v[frozenset(s) | {g}] - v[frozenset(s)])
    return phi


def occlusion_reference(f: Callable, coalition: Callable, x: np.ndarray, n_groups: int) -> np.ndarray:
    """``f(x) - f(x with group g at the baseline)``, with ``f(x)`` the model at the input itself."""
    dropped = [coalition(np.arange(n_groups) != g) for g in range(n_groups)]
    return np.stack([f(x) - f(s) for s in dropped], axis=1)


def check_efficiency(att: cdig.Attribution) -> float:
    """``|delta|`` relative to the outputs' scale; asserts it is at most :data:`EFFICIENCY_TOL`."""
    scale = max(float(np.abs(att.output).max()), float(np.abs(att.output - att.baseline_output).max()), 1e-300)
    residual = float(np.abs(att.delta).max()) / scale
    assert residual <= EFFICIENCY_TOL, residual
    return residual


# --- fitted models (once per module) ---------------------------------------------------------------
def _as_float64(features: np.ndarray) -> np.ndarray:
    return np.asarray(features, dtype=np.float64)


def _minirocket(X: np.ndarray, y: np.ndarray):
    from aeon.classification.convolution_based import MiniRocketClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    # A logistic head gives graded probabilities (aeon's default ridge head gives one-hot ones). MiniRocket's
    # features are float32, and a float32 head's BLAS products round differently with the batch's size
    # (by ~1e-7): the head works in float64 so that a row's output does not depend on its batch.
    head = make_pipeline(FunctionTransformer(_as_float64), StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    return MiniRocketClassifier(n_kernels=252, random_state=0, estimator=head).fit(X, y)


class Problem:
    """A fitted classifier, a few test recordings (float64) and the explained class of each."""

    def __init__(self, name: str, univariate: bool, per_class: int) -> None:
        train, test = real.load_ucr(name, "train"), real.load_ucr(name, "test")
        xtr, xte = train.X.astype(np.float64), test.X.astype(np.float64)
        if univariate:  # (N, T): the 2-D layout, no channel axis
            xtr, xte = xtr[:, 0], xte[:, 0]
        self.clf = _minirocket(xtr, train.y)
        self.train_x, self.fs = xtr, train.fs
        pick = np.concatenate([np.nonzero(test.y == c)[0][:per_class] for c in range(len(test.classes))])
        self.x = xte[pick]
        self.accuracy = float(np.mean(self.clf.predict(xte) == test.y))
        self.target = self.clf.predict_proba(self.x).argmax(axis=1)

    def proba(self, s: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(s)

    def explained(self, s: np.ndarray) -> np.ndarray:
        """The probability of each row's explained class (rows repeat the batch, coalition after coalition)."""
        target = np.resize(self.target, len(s))
        return self.proba(s)[np.arange(len(s)), target]


@pytest.fixture(scope="module")
def basic_motions() -> Problem:
    return Problem("BasicMotions", univariate=False, per_class=1)


@pytest.fixture(scope="module")
def gun_point() -> Problem:
    return Problem("GunPoint", univariate=True, per_class=2)


@pytest.fixture(scope="module")
def bm_ica(basic_motions: Problem):
    from sklearn.decomposition import FastICA

    c = basic_motions.train_x.shape[1]
    pooled = basic_motions.train_x.transpose(0, 2, 1).reshape(-1, c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastICA's convergence chatter: any unmixing is an exact change of basis
        return FastICA(whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)


def test_classifiers_learned_their_problems(basic_motions, gun_point):
    # the explanations are of working classifiers (chance: 0.25 and 0.5)
    assert basic_motions.accuracy >= 0.8 and gun_point.accuracy >= 0.8


# --- exact Shapley values against the brute force --------------------------------------------------
def test_basic_motions_bands_exact_shapley_equals_brute_force(basic_motions):
    p = basic_motions
    x, t = p.x, p.x.shape[-1]
    # one player per band, across the six channels: 5 groups (4 bands + the remainder)
    labels = np.tile(np.arange(len(BM_BANDS) + 1), (x.shape[1], 1))
    att = cdig.explain(
        p.proba, x, cdig.FrequencyBands(BM_BANDS, fs=p.fs), method="shapley", target=p.target.tolist(), groups=labels
    )["bands"]
    assert att.settings["estimator"] == "exact" and att.settings["backend"] == "numpy" and att.values.shape == (len(x), 5)
    check_efficiency(att)
    coalition = band_coalitions(x, np.zeros_like(x), band_of_bins(t, p.fs, BM_BANDS))
    expected = shapley_by_orderings(coalition_values(p.explained, coalition, 5), 5)
    np.testing.assert_allclose(att.values, expected, rtol=0, atol=MATCH_TOL)
    np.testing.assert_allclose(att.output, p.explained(x), rtol=0, atol=MATCH_TOL)  # f at the input itself
    np.testing.assert_allclose(att.baseline_output, p.explained(np.zeros_like(x)), rtol=0, atol=MATCH_TOL)
    assert np.abs(att.values).max() > 1e-3  # the bands matter: not a vacuous agreement


def test_gun_point_bands_exact_shapley_equals_brute_force(gun_point):
    p = gun_point
    x, t = p.x, p.x.shape[-1]
    att = cdig.explain(p.proba, x, cdig.FrequencyBands(GP_BANDS, fs=1.0), method="shapley", target=p.target.tolist())["bands"]
    # (N, T) input: one value per band (6 with the remainder), no channel axis, exact
    assert att.settings["estimator"] == "exact" and att.values.shape == (len(x), 6) and att.dims == ("band",)
    check_efficiency(att)
    coalition = band_coalitions(x, np.zeros_like(x), band_of_bins(t, 1.0, GP_BANDS))
    expected = shapley_by_orderings(coalition_values(p.explained, coalition, 6), 6)
    np.testing.assert_allclose(att.values, expected, rtol=0, atol=MATCH_TOL)
    assert np.abs(att.values).max() > 1e-3


def test_basic_motions_ica_exact_shapley_equals_brute_force(basic_motions, bm_ica):
    p = basic_motions
    x = p.x
    att = cdig.explain(p.proba, x, cdig.ICA(bm_ica), method="shapley", target=p.target.tolist(), fs=p.fs)["ica"]
    assert att.settings["estimator"] == "exact" and att.values.shape == (len(x), 6) and att.dims == ("component",)
    check_efficiency(att)
    coalition = ica_coalitions(bm_ica, x, np.zeros_like(x))
    expected = shapley_by_orderings(coalition_values(p.explained, coalition, 6), 6)
    np.testing.assert_allclose(att.values, expected, rtol=0, atol=MATCH_TOL)
    np.testing.assert_allclose(att.output, p.explained(x), rtol=0, atol=MATCH_TOL)
    assert np.abs(att.values).max() > 1e-3


# --- occlusion against f(x) - f(x without the group) -----------------------------------------------
def test_occlusion_equals_dropping_each_group(basic_motions, gun_point, bm_ica):
    bm, gp = basic_motions, gun_point
    zeros = np.zeros_like(bm.x)
    labels = np.tile(np.arange(len(BM_BANDS) + 1), (bm.x.shape[1], 1))
    cases = [
        (
            bm,
            cdig.FrequencyBands(BM_BANDS, fs=bm.fs),
            labels,
            band_coalitions(bm.x, zeros, band_of_bins(100, bm.fs, BM_BANDS)),
            5,
        ),
        (bm, cdig.ICA(bm_ica), None, ica_coalitions(bm_ica, bm.x, zeros), 6),
        (gp, cdig.FrequencyBands(GP_BANDS, fs=1.0), None, band_coalitions(gp.x, 0 * gp.x, band_of_bins(150, 1.0, GP_BANDS)), 6),
    ]
    for p, domain, groups, coalition, n_groups in cases:
        att = next(iter(cdig.explain(p.proba, p.x, domain, method="occlusion", target=p.target.tolist(), groups=groups).values()))
        assert att.settings["estimator"] == "occlusion" and att.values.shape == (len(p.x), n_groups)
        expected = occlusion_reference(p.explained, coalition, p.x, n_groups)
        np.testing.assert_allclose(att.values, expected, rtol=0, atol=MATCH_TOL)


# --- the axioms on a constructed case ---------------------------------------------------------------
def test_symmetry_and_dummy_on_a_constructed_case(basic_motions):
    """Channels 0 and 1 enter the model only through their mean and are equal in the input: interchangeable
    players. Channel 5 is never read: a dummy. One player per channel (all its bands)."""
    p = basic_motions

    def model(s: np.ndarray) -> np.ndarray:
        s = s.copy()
        s[:, :2] = s[:, :2].mean(axis=1, keepdims=True)
        s[:, 5] = 0.0
        return p.proba(s)

    x = p.x.copy()
    x[:, 1] = x[:, 0]
    per_channel = np.repeat(np.arange(6)[:, None], len(BM_BANDS) + 1, axis=1)
    d = cdig.FrequencyBands(BM_BANDS, fs=p.fs)
    target = p.target.tolist()
    for method in METHODS:
        extra = {"n_samples": 400} if method == "rise" else {}
        att = cdig.explain(model, x, d, method=method, target=target, groups=per_channel, **extra)["bands"]
        assert att.values.shape == (len(x), 6)
        if method == "rise":
            # the same masks give both players the same estimate only in expectation: within the errors
            se = att.extras["standard_error"]
            assert np.all(np.abs(att.values[:, 0] - att.values[:, 1]) <= 5 * np.hypot(se[:, 0], se[:, 1]))
            assert np.all(np.abs(att.values[:, 5]) <= 5 * se[:, 5])
            continue
        np.testing.assert_allclose(att.values[:, 0], att.values[:, 1], rtol=0, atol=1e-12)  # symmetry
        np.testing.assert_array_equal(att.values[:, 5], 0.0)  # dummy: every marginal is exactly zero
        if method == "shapley":
            check_efficiency(att)
    # the constructed players do matter, so the axioms are not met vacuously
    assert np.abs(att.values[:, :5]).max() > 1e-3


# --- an scikit-learn pipeline, every method ---------------------------------------------------------
def _spectrum_magnitudes(s: np.ndarray) -> np.ndarray:
    # without DC: GunPoint's series are z-normalised, so |DC| is float32 round-off (spread 3e-7), which the
    # scaler would blow up into a feature that amplifies the round-off of irfft(rfft(x)) a millionfold
    return np.abs(np.fft.rfft(s, axis=-1))[..., 1:]


@pytest.fixture(scope="module")
def spectrum_pipeline(gun_point):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    train = real.load_ucr("GunPoint", "train")
    xtr = train.X[:, 0].astype(np.float64)
    pipe = make_pipeline(FunctionTransformer(_spectrum_magnitudes), StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    return pipe.fit(xtr, train.y)


@pytest.mark.parametrize("method", METHODS)
def test_sklearn_spectrum_pipeline_in_bands(gun_point, spectrum_pipeline, method):
    x, t = gun_point.x, gun_point.x.shape[-1]
    target = spectrum_pipeline.predict_proba(x).argmax(axis=1)

    def explained(s: np.ndarray) -> np.ndarray:
        return spectrum_pipeline.predict_proba(s)[np.arange(len(s)), np.resize(target, len(s))]

    extra = {"n_samples": 2000} if method == "rise" else {}
    att = cdig.explain(
        spectrum_pipeline.predict_proba, x, cdig.FrequencyBands(GP_BANDS, fs=1.0), method=method, target=target.tolist(), **extra
    )["bands"]
    assert att.settings["backend"] == "numpy" and att.values.shape == (len(x), 6)
    coalition = band_coalitions(x, np.zeros_like(x), band_of_bins(t, 1.0, GP_BANDS))
    v = coalition_values(explained, coalition, 6)
    if method == "shapley":
        check_efficiency(att)
        np.testing.assert_allclose(att.values, shapley_by_orderings(v, 6), rtol=0, atol=MATCH_TOL)
    elif method == "occlusion":
        np.testing.assert_allclose(att.values, occlusion_reference(explained, coalition, x, 6), rtol=0, atol=MATCH_TOL)
    elif method == "rise":
        # independent masks: the expectation is the weighted Banzhaf value with the keep probability
        expected = weighted_banzhaf(v, 6, att.settings["keep_probability"])
        se = att.extras["standard_error"]
        assert se.shape == att.values.shape and np.all(se > 0)
        assert np.all(np.abs(att.values - expected) <= 5 * se)
    else:  # pragma: no cover - a new method needs its reference here
        pytest.fail(f"no reference for method {method!r}: add one")
    np.testing.assert_allclose(att.output, explained(x), rtol=0, atol=MATCH_TOL)
