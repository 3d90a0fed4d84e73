"""Completeness table, max-sensitivity (closed form for a linear model) and the randomisation check."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import cdig
from cdig.metrics import completeness, randomization, sensitivity, spearman


def _linear(n_in, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n_in, 2)).double()


def test_completeness_rows_match_the_deltas(models):
    model = models.conv_net(channels=2, length=64, n_out=3, act="relu")
    x = torch.randn(6, 2, 64)
    with pytest.warns(cdig.ConvergenceWarning):  # a ReLU net with 4 left-Riemann steps is far off
        maps = cdig.explain(model, x, ("time", "fourier", "magphase"), target=1, n_steps=4, method="riemann_left")
    rows = {r["domain"]: r for r in completeness(maps, rtol=0.05)}
    for name, att in maps.items():
        d = np.abs(att.delta)
        rel = d / np.abs(att.output - att.baseline_output)
        assert rows[name]["max_abs_delta"] == pytest.approx(d.max())
        assert rows[name]["max_relative_delta"] == pytest.approx(rel.max())
        assert rows[name]["passed"] == int((rel <= 0.05 + 1e-6).sum())
        assert rows[name]["samples"] == 6 and rows[name]["mean_steps"] == 4
    assert completeness(maps["time"])[0]["domain"] == "time"
    with pytest.raises(cdig.CdigTypeError):
        completeness([maps["time"]])
    with pytest.raises(cdig.CdigValueError):
        completeness(maps, rtol=-1)


@pytest.mark.parametrize("domain", ["time", "dct"])
def test_sensitivity_of_a_linear_model_in_closed_form(domain):
    """For f linear and an orthonormal domain, A(x) = v ⊙ (z − z0) and A(x+ε) − A(x) = v ⊙ T(ε)."""
    x = torch.randn(3, 1, 32, dtype=torch.float64)
    model = _linear(32)
    att = cdig.explain(model, x, domain, target=1, n_steps=4)[domain]
    got = sensitivity(model, x, att, radius=0.05, n_perturb=4, seed=7)
    # the same draws, by hand
    xn = x.numpy()
    rng = np.random.default_rng(7)
    scale = xn.reshape(3, -1).std(axis=1)[:, None, None] * 0.05
    w = model[1].weight.detach().numpy()[1]
    ref = att.values.reshape(3, -1)
    worst = np.zeros(3)
    for _ in range(4):
        eps = rng.uniform(-1.0, 1.0, xn.shape) * scale
        e = eps[:, 0, :]
        if domain == "dct":
            from scipy.fft import dct

            v = dct(w, norm="ortho")
            diff = v * dct(e, norm="ortho", axis=-1)
        else:
            diff = w * e
        worst = np.maximum(worst, np.linalg.norm(diff, axis=1) / np.linalg.norm(ref, axis=1))
    np.testing.assert_allclose(got, worst, rtol=1e-6)


def test_sensitivity_keeps_the_fitted_ica(fitted_ica):
    x = torch.randn(4, 3, 64, dtype=torch.float64)
    model = _linear(3 * 64)
    dom = cdig.ICA(fitted_ica)
    att = cdig.explain(model, x, [dom], target=0, n_steps=4)["ica"]
    s = sensitivity(model, x, att, radius=1e-6, n_perturb=2)
    assert np.all(s < 1e-4)  # tiny noise, the same components: the map barely moves


@pytest.mark.parametrize("domain", ["fourier", "magphase", "cepstrum"])
def test_sensitivity_and_randomization_of_a_loaded_attribution(tmp_path, domain):
    """Odd T, a domain found by name: a loaded attribution re-explains exactly as the one in memory."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * 31, 2)
    ).double()
    x = torch.randn(3, 1, 31, dtype=torch.float64) + 0.5
    att = cdig.explain(model, x, domain, target=1, n_steps=64)[domain]
    loaded = cdig.Attribution.load(att.save(tmp_path / "a.npz"))
    np.testing.assert_allclose(
        sensitivity(model, x, loaded, n_perturb=2, seed=1), sensitivity(model, x, att, n_perturb=2, seed=1), rtol=1e-10
    )
    np.testing.assert_allclose(
        randomization(model, x, loaded, seed=2).spearman, randomization(model, x, att, seed=2).spearman, rtol=1e-10
    )


def test_randomization_changes_the_map_and_never_the_model(models):
    model = models.conv_net(channels=2, length=64, n_out=3)
    x = torch.randn(8, 2, 64)
    before = copy.deepcopy(model.state_dict())
    att = cdig.explain(model, x, "fourier", target=1, n_steps=16)["fourier"]
    r = randomization(model, x, att, seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert r.spearman.shape == (8,) and r.randomized.domain == "fourier"
    assert not np.allclose(r.randomized.values, att.values)
    # the control: an identical copy is "randomised" not at all, and fails the check
    same = randomization(model, x, att, randomized_model=copy.deepcopy(model))
    np.testing.assert_allclose(same.spearman, 1.0)
    assert not same.passed.any()
    with pytest.raises(cdig.CdigValueError, match="model itself"):
        randomization(model, x, att, randomized_model=model)


def test_randomization_reinitialises_every_torch_parameter():
    class Scale(torch.nn.Module):  # a parameter no layer resets
        def __init__(self):
            super().__init__()
            self.s = torch.nn.Parameter(torch.linspace(0.5, 1.5, 16))
            self.lin = torch.nn.Linear(16, 1)

        def forward(self, x):
            return self.lin(x[:, 0] * self.s)

    model = Scale()
    be = cdig.backends.get_backend(model, torch.zeros(1, 1, 16))
    clone = be.randomized_copy(model, 0)
    assert not torch.equal(clone.s, model.s) and not torch.equal(clone.lin.weight, model.lin.weight)
    again = be.randomized_copy(model, 0)
    assert torch.equal(clone.s, again.s) and torch.equal(clone.lin.weight, again.lin.weight)  # seeded


def test_randomization_keras_and_jax():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 2)).astype("float32")
    m = keras.Sequential(
        [keras.Input((32, 2)), keras.layers.Conv1D(4, 5, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    weights = [w.numpy().copy() for w in m.weights]
    att = cdig.explain(m, x, "fourier", target=1, n_steps=8)["fourier"]
    r = randomization(m, x, att)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(weights, m.weights))
    assert r.spearman.shape == (4,) and not np.allclose(r.randomized.values, att.values)

    jnp = pytest.importorskip("jax.numpy")
    w = jnp.asarray(rng.normal(size=(64,)).astype("float32"))

    def f(xx):
        return jnp.tanh(xx.reshape(len(xx), -1) @ w)[:, None]

    att = cdig.explain(f, jnp.asarray(x), "time", n_steps=8)["time"]
    with pytest.raises(cdig.CdigTypeError, match="randomized_model"):
        randomization(f, jnp.asarray(x), att)
    w2 = jnp.asarray(rng.normal(size=(64,)).astype("float32"))
    r = randomization(f, jnp.asarray(x), att, randomized_model=lambda xx: jnp.tanh(xx.reshape(len(xx), -1) @ w2)[:, None])
    assert np.all(np.abs(r.spearman_signed) < 0.9)


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 40)), rng.normal(size=(5, 40))
    b[:, :10] = a[:, :10]
    a[0, :5] = 1.0  # ties
    got = spearman(a, b)
    np.testing.assert_allclose(got, [spearmanr(a[i], b[i]).statistic for i in range(5)], rtol=1e-12)
