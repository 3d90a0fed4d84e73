"""Perturbation attributions (cdig.perturb): occlusion and Shapley values of groups of coefficients.

References are independent of cdig: closed forms for linear models, integrated gradients (equal to
Shapley values for linear models), and Shapley values computed here by enumerating coalitions with
numpy (``np.fft`` for the Fourier coefficients).
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import re
import sys

import numpy as np
import pytest

import cdig
from cdig.core.errors import CdigTypeError, CdigValueError
from cdig.domains import FrequencyBands
from cdig.perturb import MAX_EXACT_GROUPS, attribute
from cdig.testing import band_of_bins

RNG = np.random.default_rng(7)


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
    index = band_of_bins(t, fs, bands)
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


def test_labels_shared_by_every_channel_broadcast():
    """Labels of shape (T,) for a (C, T) map: a group holds its samples in every channel, the same as the
    labels tiled over the channels; a shape that does not broadcast is refused, naming both."""
    x, x0 = RNG.normal(size=(2, 3, 8)), RNG.normal(size=(2, 3, 8))
    w = RNG.normal(size=(3, 8))
    labels = np.repeat(np.arange(4), 2)

    def f(s: np.ndarray) -> np.ndarray:
        return (s * w).sum(axis=(1, 2))

    att = attribute(f, x, "time", method="occlusion", baselines=x0, groups=labels)
    tiled = attribute(f, x, "time", method="occlusion", baselines=x0, groups=np.tile(labels, (3, 1)))
    np.testing.assert_array_equal(att.values, tiled.values)
    expected = np.stack([(w * (x - x0))[:, :, labels == k].sum(axis=(1, 2)) for k in range(4)], axis=1)
    np.testing.assert_allclose(att.values, expected, rtol=0, atol=1e-12)
    assert att.extras["groups"].shape == (3, 8) and att.extras["groups"].flags.writeable
    with pytest.raises(CdigValueError, match=r"groups has shape \(5,\).*shape \(3, 8\), or broadcast"):
        attribute(f, x, "time", groups=np.arange(5))


def test_metrics_and_ranking_read_grouped_results(tmp_path):
    """Deletion and insertion curves of a grouped result remove and insert whole groups: a model reading
    bins 4-7 (group 1 of 9 groups of 4 bins) reaches f(baseline) = 0 as soon as one group is removed, and
    f(x) as soon as one is put back; the same after a save/load round trip, and in rank_domains."""
    from cdig import metrics

    def band_energy(s: np.ndarray) -> np.ndarray:
        return (np.abs(np.fft.rfft(s, axis=-1)[..., 4:8]) ** 2).sum(axis=(-2, -1)) / s.shape[-1]

    x = RNG.normal(size=(3, 1, 64))
    labels = np.arange(33) // 4
    sv = cdig.explain(band_energy, x, "fourier", method="shapley", groups=labels)["fourier"]
    assert sv.values.shape == (3, 9) and np.all(np.argmax(sv.values, axis=1) == 1)
    fractions = [0.0, 0.1, 0.5, 1.0]  # 0, 1, 4 (rounded from 4.5) and 9 of the 9 groups
    for att in (sv, cdig.Attribution.load(sv.save(tmp_path / "sv.npz"))):
        d = metrics.deletion(band_energy, x, att, fractions=fractions, order="absolute")
        ins = metrics.insertion(band_energy, x, att, fractions=fractions, order="absolute")
        assert d.n_units == 9
        np.testing.assert_allclose(d.curve[:, 0], band_energy(x))
        np.testing.assert_allclose(d.curve[:, 1:], 0.0, atol=1e-12)
        np.testing.assert_allclose(ins.curve[:, 1:], np.repeat(band_energy(x)[:, None], 3, axis=1), rtol=1e-12)
    r = cdig.rank_domains(
        band_energy, x, ("fourier", "time"), method="shapley", groups={"fourier": labels, "time": np.arange(64) // 8}
    )
    assert r.order == ["fourier", "time"] and r.table["fourier"]["n_coefficients"] == 9


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


# --- RISE: random masks over groups -------------------------------------------------------------
def _grouped(values: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    return np.stack([values[:, labels == k].sum(axis=1) for k in range(n_groups)], axis=1)


def test_rise_additive_time_domain_within_standard_errors():
    t, g = 12, 4
    x, x0 = RNG.normal(size=(3, t)), RNG.normal(size=(3, t))
    w = RNG.normal(size=t)
    labels = np.arange(t) % g
    att = attribute(lambda s: s @ w, x, "time", method="rise", baselines=x0, groups=labels, n_samples=400, seed=1)
    expected = _grouped(w * (x - x0), labels, g)  # additive game: RISE's expectation is the Shapley value
    se = att.extras["standard_error"]
    assert att.values.shape == se.shape == (3, g) and np.all(se > 0)
    assert np.all(np.abs(att.values - expected) <= 5 * se)
    s = att.settings
    assert s["estimator"] == "rise" and s["n_samples"] == 400 and s["keep_probability"] == 0.5
    assert np.all(att.n_steps == 402)
    np.testing.assert_allclose(att.output, x @ w, atol=1e-12)
    np.testing.assert_allclose(att.baseline_output, x0 @ w, atol=1e-12)
    np.testing.assert_allclose(att.delta, att.values.sum(axis=1) - (x - x0) @ w, atol=1e-12)
    rel = np.linalg.norm(se, axis=1) / np.linalg.norm(att.values, axis=1)
    np.testing.assert_allclose(s["relative_standard_error"], rel, rtol=1e-12)
    # one group per time step (no groups given): the map's layout, standard errors alike
    per_step = attribute(lambda s: s @ w, x, "time", method="rise", baselines=x0, n_samples=400)
    assert per_step.values.shape == per_step.extras["standard_error"].shape == (3, t) and per_step.dims == ("time",)
    assert np.all(np.abs(per_step.values - w * (x - x0)) <= 5 * per_step.extras["standard_error"])


def test_rise_standard_error_shrinks_as_one_over_sqrt_masks():
    t, g = 16, 8
    x = RNG.normal(size=(2, t))
    w = RNG.normal(size=t)
    labels = np.arange(t) // 2
    a = _grouped(w * x, labels, g)
    # p = 0.5: v = c + sum_i a_i m_i has variance sum_{i != g} a_i^2 / 4 on each side of g, M / 2 masks a side
    theory = np.sqrt((a**2).sum(axis=1, keepdims=True) - a**2)
    runs = {m: attribute(lambda s: s @ w, x, "time", method="rise", groups=labels, n_samples=m, seed=5) for m in (100, 1600)}
    se = {m: r.extras["standard_error"] for m, r in runs.items()}
    ratio = se[100].mean() / se[1600].mean()
    assert 3.0 < ratio < 5.3  # sqrt(1600 / 100) = 4
    for m in (100, 1600):
        np.testing.assert_allclose(se[m].mean(axis=1), (theory / np.sqrt(m)).mean(axis=1), rtol=0.3)
        assert np.all(np.abs(runs[m].values - a) <= 5 * se[m])
    rel = [np.mean(runs[m].settings["relative_standard_error"]) for m in (100, 1600)]
    assert 3.0 < rel[0] / rel[1] < 5.3


def test_rise_linear_fourier_groups_match_closed_form():
    t = 16
    x, x0 = RNG.normal(size=(2, t)), RNG.normal(size=(2, t))
    w = RNG.normal(size=t)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3])  # the 9 rfft bins in 4 groups
    att = attribute(lambda s: s @ w, x, "fourier", method="rise", baselines=x0, groups=labels, n_samples=600, seed=2)
    diff = np.fft.rfft(x) - np.fft.rfft(x0)
    expected = np.stack([np.fft.irfft(np.where(labels == k, diff, 0), n=t) @ w for k in range(4)], axis=1)
    assert att.dims == ("group",) and np.array_equal(att.extras["groups"], labels)
    assert np.all(np.abs(att.values - expected) <= 5 * att.extras["standard_error"])


def _rise_brute_force(v: np.ndarray, bits: np.ndarray, p: float) -> np.ndarray:
    """E[v | g kept] - E[v | g dropped] over all 2**G masks, mask S weighted p^|S| (1-p)^(G-|S|)."""
    g = bits.shape[1]
    size = bits.sum(axis=1)
    weight = p**size * (1 - p) ** (g - size)
    kept = np.stack([(v * (weight * bits[:, i])).sum(axis=1) / p for i in range(g)], axis=1)
    dropped = np.stack([(v * (weight * ~bits[:, i])).sum(axis=1) / (1 - p) for i in range(g)], axis=1)
    return kept - dropped


def test_rise_nonlinear_bands_match_brute_force_expectation():
    n, t, fs = 2, 32, 32.0
    bands = {"a": (0.0, 3.0), "b": (3.0, 6.0), "c": (6.0, 9.0), "d": (9.0, 12.0)}  # + the remainder: 5 groups
    x, x0 = RNG.normal(size=(n, t)), 0.3 * RNG.normal(size=(n, t))
    w1, w2, w3 = RNG.normal(size=(3, t))

    def f(s: np.ndarray) -> np.ndarray:
        return np.tanh(s @ w1) * (s @ w2) + (s**2) @ w3 + 3.0

    g = 5
    index = band_of_bins(t, fs, bands)
    X, X0 = np.fft.rfft(x), np.fft.rfft(x0)
    bits = ((np.arange(2**g)[:, None] >> np.arange(g)) & 1).astype(bool)
    v = np.stack([f(np.fft.irfft(np.where(row[index], X, X0), n=t)) for row in bits], axis=1)  # (n, 2**G)
    # p = 0.5: every mask equally likely, the plain mean over masks keeping g minus over those dropping it
    half = np.stack([v[:, bits[:, i]].mean(axis=1) - v[:, ~bits[:, i]].mean(axis=1) for i in range(g)], axis=1)
    np.testing.assert_allclose(_rise_brute_force(v, bits, 0.5), half, atol=1e-12)
    d = FrequencyBands(bands, fs=fs)
    for p, expected in ((0.5, half), (0.3, _rise_brute_force(v, bits, 0.3))):
        keep = None if p == 0.5 else p
        att = attribute(f, x, d, method="rise", baselines=x0, n_samples=3000, keep_probability=keep, seed=11)
        se = att.extras["standard_error"]
        assert att.values.shape == (n, g) and att.dims == ("band",) and np.all(se > 0)
        assert np.all(np.abs(att.values - expected) <= 5 * se), (p, (att.values - expected) / se)
        np.testing.assert_allclose(att.delta, att.values.sum(axis=1) - (f(x) - f(x0)), atol=1e-10)
        assert att.settings["n_samples"] == 3000 and att.settings["keep_probability"] == p


def test_rise_standard_error_matches_spread_over_seeds():
    rng = np.random.default_rng(21)  # its own data: the bounds were checked over 300 draws (ratios 0.62 to 1.34)
    t = 10
    x = rng.normal(size=(1, t))
    labels = np.arange(t) // 2
    w = rng.normal(size=t)

    def f(s: np.ndarray) -> np.ndarray:
        return np.tanh(s @ w) + s[:, 0] * s[:, 5]

    for keep in (None, 0.3):
        runs = [
            attribute(f, x, "time", method="rise", groups=labels, n_samples=120, keep_probability=keep, seed=k) for k in range(40)
        ]
        spread = np.std([r.values[0] for r in runs], axis=0, ddof=1)
        mean_se = np.mean([r.extras["standard_error"][0] for r in runs], axis=0)
        assert np.all((0.5 * mean_se < spread) & (spread < 1.6 * mean_se)), (keep, spread / mean_se)


def test_rise_torch_and_numpy_models():
    torch = pytest.importorskip("torch")
    t = 16
    xn = RNG.normal(size=(2, t))
    model = torch.nn.Linear(t, 3).double().eval()
    weight, bias = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    on_torch = attribute(model, torch.tensor(xn), "fourier", method="rise", target=1, n_samples=500, seed=4)
    on_numpy = attribute(lambda s: s @ weight.T + bias, xn, "fourier", method="rise", target=1, n_samples=500, seed=4)
    assert on_torch.settings["backend"] == "torch" and on_numpy.settings["backend"] == "numpy"
    X = np.fft.rfft(xn)
    expected = np.stack([np.fft.irfft(np.where(np.arange(9) == k, X, 0), n=t) @ weight[1] for k in range(9)], axis=1)
    for att in (on_torch, on_numpy):
        assert att.values.shape == (2, 9) and att.dims == ("frequency",)
        assert np.all(np.abs(att.values - expected) <= 5 * att.extras["standard_error"])
    np.testing.assert_allclose(on_torch.values, on_numpy.values, atol=1e-10)  # same masks, same model
    tensor = on_torch.as_tensor()
    assert isinstance(tensor, torch.Tensor) and np.array_equal(tensor.numpy(), on_torch.values)
    array = on_numpy.as_tensor()
    assert isinstance(array, np.ndarray) and np.array_equal(array, on_numpy.values)


# --- memory budget and progress ---------------------------------------------------------------
def _need(call) -> int:
    with pytest.raises(CdigValueError, match="memory_budget") as err:
        call()
    found = re.search(r"memory_budget >= (\d+) bytes", str(err.value))
    assert found, str(err.value)
    return int(found.group(1))


def test_auto_batch_size_matches_fixed_and_names_smallest_budget():
    t = 32
    x, w = RNG.normal(size=(3, t)), RNG.normal(size=t)

    def f(s: np.ndarray) -> np.ndarray:
        return np.tanh(s @ w)

    def run(**kw):
        return attribute(f, x, "fourier", method="rise", n_samples=50, seed=3, **kw)

    fixed = run(internal_batch_size=7)
    assert fixed.settings["internal_batch_size_used"] == 7 and fixed.settings["memory_budget"] is None
    need = _need(lambda: run(internal_batch_size="auto", memory_budget=10_000))
    one = run(internal_batch_size="auto", memory_budget=need)  # the smallest budget named: one row per call
    assert one.settings["internal_batch_size_used"] == 1 and one.settings["memory_budget"] == need
    with pytest.raises(CdigValueError, match=f"memory_budget >= {need} bytes"):
        run(internal_batch_size="auto", memory_budget=need - 1)
    per_row = one.settings["bytes_per_row"]
    few = run(internal_batch_size="auto", memory_budget=need + 4 * per_row)
    assert few.settings["internal_batch_size_used"] == 5
    free = run(internal_batch_size="auto")  # a share of the free memory: everything in one call here
    assert free.settings["internal_batch_size_used"] == 3 * 52 and free.settings["memory_budget"] > 0
    for att in (one, few, free):
        np.testing.assert_allclose(att.values, fixed.values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(att.extras["standard_error"], fixed.extras["standard_error"], rtol=0, atol=1e-12)
    # exact Shapley values under a budget: the 2**9 coalitions of the 9 bins of a 16-step signal
    xs = x[:, :16]
    exact = attribute(lambda s: np.tanh(s @ w[:16]), xs, "fourier", internal_batch_size="auto", memory_budget="2MiB")
    ref = attribute(lambda s: np.tanh(s @ w[:16]), xs, "fourier", internal_batch_size=1000)
    assert exact.settings["estimator"] == "exact" and exact.settings["memory_budget"] == 2 * 2**20
    np.testing.assert_allclose(exact.values, ref.values, rtol=0, atol=1e-12)


def test_progress_bar(capsys, monkeypatch):
    x, w = RNG.normal(size=(2, 8)), RNG.normal(size=8)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # the plain counter on stderr
    att = attribute(lambda s: s @ w, x, "time", method="rise", n_samples=20, internal_batch_size=9, progress=True)
    err = capsys.readouterr().err
    assert "cdig rise: 44/44 rows" in err and att.values.shape == (2, 8)
    monkeypatch.undo()
    if importlib.util.find_spec("tqdm") is not None:
        attribute(lambda s: s @ w, x, "time", method="occlusion", progress=True)
    with pytest.raises(CdigTypeError, match="progress"):
        attribute(lambda s: s @ w, x, "time", progress=1)


def test_rise_and_budget_arguments_refused():
    x = RNG.normal(size=(1, 8))

    def f(s: np.ndarray) -> np.ndarray:
        return s.sum(axis=1)

    for bad in (0, 1, 1.5, -0.2, float("nan")):
        with pytest.raises(CdigValueError, match="keep_probability"):
            attribute(f, x, "time", method="rise", keep_probability=bad)
    with pytest.raises(CdigTypeError, match="keep_probability"):
        attribute(f, x, "time", method="rise", keep_probability="half")
    for method in ("shapley", "occlusion"):
        with pytest.raises(CdigValueError, match="keep_probability=0.3 .*method='rise'"):
            attribute(f, x, "time", method=method, keep_probability=0.3)
    with pytest.raises(CdigValueError, match="n_samples"):
        attribute(f, x, "time", method="rise", n_samples=0)
    with pytest.raises(CdigValueError, match="memory_budget='lots'"):
        attribute(f, x, "time", internal_batch_size="auto", memory_budget="lots")
    with pytest.raises(CdigValueError, match="memory_budget"):
        attribute(f, x, "time", internal_batch_size="auto", memory_budget=-5)
    with pytest.raises(CdigValueError, match="internal_batch_size='auto'"):
        attribute(f, x, "time", memory_budget="1GiB")
    with pytest.raises(CdigValueError, match="internal_batch_size='auto'"):
        attribute(f, x, "time", internal_batch_size=4, memory_budget="1GiB")
    with pytest.raises(CdigTypeError, match="internal_batch_size"):
        attribute(f, x, "time", internal_batch_size="big")
    with pytest.raises(CdigValueError, match="internal_batch_size"):
        attribute(f, x, "time", internal_batch_size=0)
    # independent masks that never keep a group: refused, naming the groups and enough masks
    with pytest.raises(CdigValueError, match=r"never kept group\(s\) .*n_samples >= (\d+)") as err:
        attribute(f, x, "time", method="rise", keep_probability=0.1, n_samples=5)
    enough = int(re.search(r"n_samples >= (\d+)", str(err.value)).group(1))
    assert 0.9**enough * 2 * 8 <= 0.01 < 0.9 ** (enough - 1) * 2 * 8
    att = attribute(f, x, "time", method="rise", keep_probability=0.1, n_samples=enough)
    assert att.settings["n_samples"] == enough and np.all(np.abs(att.values - x) <= 5 * att.extras["standard_error"])


# --- every framework: the coalitions are chosen on the model's device --------------------------------
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_every_framework_gives_the_numpy_values(framework):
    """The same function written in numpy and in a framework: the same Shapley values in a linear domain
    and in a nonlinear one (the coalitions' coefficients are chosen by the framework, on its device)."""
    fw = pytest.importorskip(framework)
    rng = np.random.default_rng(11)
    w, x = rng.standard_normal((2, 32)), rng.standard_normal((3, 2, 32))

    def f_np(s: np.ndarray) -> np.ndarray:
        return np.tanh((s * w).sum(axis=(1, 2))) + (s[..., :8] ** 2).sum(axis=(1, 2))

    if framework == "torch":
        wt, xt = fw.tensor(w), fw.tensor(x)

        def f(s):
            return fw.tanh((s * wt).sum(dim=(1, 2))) + (s[..., :8] ** 2).sum(dim=(1, 2))
    elif framework == "jax":  # JAX's default float32 (x64 is process-wide: not switched on here)
        jnp = pytest.importorskip("jax.numpy")
        wt, xt = jnp.asarray(w), jnp.asarray(x)

        def f(s):
            return jnp.tanh((s * wt).sum(axis=(1, 2))) + (s[..., :8] ** 2).sum(axis=(1, 2))
    else:
        wt, xt = fw.constant(w), fw.constant(x)

        def f(s):
            return fw.tanh(fw.reduce_sum(s * wt, axis=(1, 2))) + fw.reduce_sum(s[..., :8] ** 2, axis=(1, 2))

    for domain, groups in (("fourier", np.arange(17) // 4), ("magphase", None)):
        kw = dict(method="shapley", time_axis=2, groups=groups, n_samples=None if groups is not None else 8)
        ref = cdig.explain(f_np, x, domain, **kw)[domain]
        got = cdig.explain(f, xt, domain, **kw)[domain]
        assert got.settings["backend"] == framework
        atol = 1e-5 * np.abs(ref.values).max() if framework == "jax" else 1e-10
        np.testing.assert_allclose(got.values, ref.values, rtol=0, atol=atol)
