"""aeon's Keras deep classifiers, fitted on a tiny data set, explained as the estimator itself.

cdig explains the fitted Keras network ``est.model_``, whose input is channels last ``(N, T, C)`` (aeon
transposes its ``(N, C, T)`` data before the network). Reference: Integrated Gradients computed here with
TensorFlow's own gradients (2049 points, trapezoid rule).
"""

from __future__ import annotations

import numpy as np
import pytest

import cdig

pytest.importorskip("tensorflow")
deep = pytest.importorskip("aeon.classification.deep_learning")

# aeon's fit (Keras) warns about numpy's copy keyword; not cdig's
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N_FIT, C, T = 16, 2, 24
AUTO = dict(n_steps="auto", max_steps=400)
TINY = {
    "FCNClassifier": dict(n_layers=2, n_filters=[4, 4], kernel_size=[3, 3]),
    "ResNetClassifier": dict(n_residual_blocks=1, n_conv_per_residual_block=2, n_filters=[4], kernel_size=[3, 3]),
}


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """aeon's layout (n, C, T), two classes told apart by the frequency of channel 0."""
    r = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(T)
    x = 0.3 * r.normal(size=(n, C, T))
    x[:, 0] += np.sin(2 * np.pi * (2 + 2 * y)[:, None] * t / T)
    return x.astype(np.float32), y


def fit(name: str, **kwargs):
    x, y = data(N_FIT, 0)
    cls = getattr(deep, name)
    return cls(n_epochs=1, batch_size=8, verbose=False, random_state=0, **kwargs).fit(x, y)


@pytest.fixture(scope="module")
def fitted() -> dict:
    return {name: fit(name, **kwargs) for name, kwargs in TINY.items()}


def within_rtol(a) -> bool:
    """``|delta| <= 1e-3·|f(x) - f(x0)|``, plus a round-off term for the float32 network."""
    bound = 1e-3 * np.abs(a.output - a.baseline_output) + 1e-4 * (np.abs(a.output) + np.abs(a.baseline_output))
    return bool(np.all(np.abs(a.delta) <= bound))


def tf_time_ig(model, x: np.ndarray, target: int, n_steps: int = 2048) -> np.ndarray:
    """Integrated Gradients from the zero signal: TensorFlow's gradients at ``n_steps + 1`` points, trapezoid
    rule, all in one batch (the networks have ReLUs: a fine, cheap rule converges where Gauss-Legendre's kinks
    slow it)."""
    import tensorflow as tf

    alphas = np.linspace(0.0, 1.0, n_steps + 1)
    weights = np.full(n_steps + 1, 1.0 / n_steps)
    weights[[0, -1]] /= 2
    points = tf.constant((alphas[:, None, None, None] * x[None]).reshape(-1, *x.shape[1:]).astype(x.dtype))
    with tf.GradientTape() as tape:
        tape.watch(points)
        out = model(points, training=False)[:, target]
    grads = tape.gradient(out, points).numpy().reshape(n_steps + 1, *x.shape)
    return x * np.einsum("s,s...->...", weights, grads)


@pytest.mark.parametrize("name", sorted(TINY))
def test_deep_classifier_passed_as_it_is(fitted, name):
    est = fitted[name]
    x = data(3, 1)[0].transpose(0, 2, 1)  # the network's layout (N, T, C): TensorFlow's default time_axis=1
    maps = cdig.explain(est, x, ("time", "fourier"), target=1, **AUTO)
    for a in maps.values():
        assert within_rtol(a), (a.domain, a.delta)
        assert a.settings["model_unwrapped"].startswith(f"{name}.model_")
    np.testing.assert_allclose(maps["time"].output, est.model_(x, training=False).numpy()[:, 1], rtol=1e-5)
    ref = tf_time_ig(est.model_, x, target=1)
    time_map = maps["time"].values  # (N, C, T)
    err = np.linalg.norm(time_map - ref.transpose(0, 2, 1)) / np.linalg.norm(ref)
    assert err < 3e-3


def test_unfitted_and_ensembles_are_refused(fitted):
    x = data(2, 1)[0].transpose(0, 2, 1)
    with pytest.raises(cdig.CdigTypeError, match=r"not fitted.*est\.fit"):
        cdig.explain(deep.FCNClassifier(n_epochs=1), x, "time", target=1, n_steps=8)
    ensemble = deep.InceptionTimeClassifier(n_classifiers=2)  # refused before (and whether or not) it is fitted
    with pytest.raises(cdig.CdigTypeError, match=r"ensemble.*est\.classifiers_\[i\]\.model_"):
        cdig.explain(ensemble, x, "time", target=1, n_steps=8)
    # the function the message suggests, averaging networks' outputs (here two fitted classifiers')
    members = list(fitted.values())
    average = lambda v: sum(m.model_(v) for m in members) / len(members)
    a = cdig.explain(average, x, "time", target=1, backend="tensorflow", **AUTO)["time"]
    assert within_rtol(a), a.delta
    expected = np.mean([m.predict_proba(x.transpose(0, 2, 1))[:, 1] for m in members], axis=0)
    np.testing.assert_allclose(a.output, expected, rtol=1e-5)
