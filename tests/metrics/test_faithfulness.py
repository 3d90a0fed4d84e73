"""Deletion/insertion curves in every domain, against closed forms.

For a model that is linear in its input and a linear domain, IG is exact and additive:
``f(T⁻¹(z')) = f(x0) + Σ_{k kept} A_k``. So removing the set S of reported coefficients leaves
``f(x) − Σ_{k∈S} A_k``, and inserting S gives ``f(x0) + Σ_{k∈S} A_k``: the whole curve follows from
the map and a numpy sort, for every linear domain (including ICA components and bands, whose
reported values each stand for many coefficients).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.metrics import deletion, insertion


def _linear(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=torch.float64)

    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(w.clone())

        def forward(self, x):
            return (x.reshape(len(x), -1) * self.w.reshape(1, -1)).sum(1, keepdim=True) + 0.5

    return Lin()


def _expected(att, fractions, kind):
    """Closed form: f(x) − (sum of the k largest A) for deletion, f(x0) + (same) for insertion."""
    a = att.values.reshape(len(att.values), -1).astype(np.float64)
    ranked = -np.sort(-a, axis=1, kind="stable")
    cums = np.concatenate([np.zeros((len(a), 1)), np.cumsum(ranked, axis=1)], axis=1)
    ks = np.rint(np.asarray(fractions) * a.shape[1]).astype(int)
    removed = cums[:, ks]
    return att.output[:, None] - removed if kind == "deletion" else att.baseline_output[:, None] + removed


def _domains(fitted_ica):
    return {
        "time": "time",
        "fourier": "fourier",
        "dct": "dct",
        "wavelet": cdig.Wavelet("db2", level=2),
        "stft": cdig.STFT(16),
        "ica": cdig.ICA(fitted_ica),
        "bands": cdig.FrequencyBands(fs=64.0),
        "trend": cdig.TrendSeason(8),
    }


FRACTIONS = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("name", ["time", "fourier", "dct", "wavelet", "stft", "ica", "bands", "trend"])
@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_linear_model_curves_follow_the_map_exactly(name, kind, fitted_ica):
    x = torch.randn(4, 3, 64, dtype=torch.float64)
    model = _linear((3, 64))
    dom = _domains(fitted_ica)[name]
    att = next(iter(cdig.explain(model, x, [dom], target=0, n_steps=4, baselines=0.1).values()))
    fn = deletion if kind == "deletion" else insertion
    c = fn(model, x, att, fractions=FRACTIONS, n_random=2)
    np.testing.assert_allclose(c.curve, _expected(att, FRACTIONS, kind), rtol=1e-9, atol=1e-9)
    # random orders start and end at the same points
    ends = (att.output, att.baseline_output) if kind == "deletion" else (att.baseline_output, att.output)
    np.testing.assert_allclose(c.random_curve[:, 0], ends[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(c.random_curve[:, -1], ends[1], rtol=1e-9, atol=1e-9)
    # the exact map ranks best: its deletion curve lies below any order's, its insertion curve above
    assert np.all(c.gain >= -1e-9)
    assert c.n_units == att.values[0].size and c.domain == att.domain


def test_nonlinear_domain_and_model_end_points(models):
    model = models.conv_net(channels=2, length=64, n_out=3)
    x = torch.randn(5, 2, 64)
    maps = cdig.explain(model, x, ("magphase", "cepstrum"), target=2, n_steps=16)
    for att in maps.values():
        c = deletion(model, x, att, fractions=[0, 0.5, 1])
        np.testing.assert_allclose(c.curve[:, 0], att.output, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(c.curve[:, -1], att.baseline_output, rtol=1e-4, atol=1e-4)


def test_planted_frequency_is_deleted_first():
    """A model that reads one frequency: deleting the top Fourier bin removes almost all of its output."""
    t = np.arange(128)
    x = torch.tensor(
        np.stack(
            [
                np.sin(2 * np.pi * 10 * t / 128 + p) + 0.3 * np.random.default_rng(i).normal(size=128)
                for i, p in enumerate(np.linspace(0, 3, 6))
            ]
        )[:, None, :]
    )
    ref = torch.tensor(np.stack([np.cos(2 * np.pi * 10 * t / 128), np.sin(2 * np.pi * 10 * t / 128)]))

    class Tone(torch.nn.Module):
        def forward(self, x):
            return ((x[:, 0] @ ref.T) ** 2).sum(1, keepdim=True) / 1000

    model = Tone()
    att = cdig.explain(model, x, "fourier", n_steps=8)["fourier"]
    c = deletion(model, x, att, fractions=[0, 1 / 65, 1], n_random=4)
    assert np.all(c.curve[:, 1] < 1e-6 * c.curve[:, 0])  # the 10-cycle bin carries everything
    assert np.all(c.random_curve[:, 1] > 0.5 * c.curve[:, 0])  # a random bin almost never is it
    assert np.all(c.auc < c.random_auc)


def test_absolute_order_and_two_dimensional_input():
    x = torch.randn(3, 32, dtype=torch.float64)
    model = _linear((32,), seed=3)
    att = cdig.explain(model, x, "fourier", target=0, n_steps=4)["fourier"]
    c = deletion(model, x, att, fractions=[0, 0.5, 1], order="absolute")
    a = att.values.reshape(3, -1)
    top = np.argsort(-np.abs(a), axis=1, kind="stable")[:, : int(round(0.5 * a.shape[1]))]
    np.testing.assert_allclose(c.curve[:, 1], att.output - np.take_along_axis(a, top, 1).sum(1), rtol=1e-9)


def test_keras_and_jax_models():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 2)).astype("float32")
    m = keras.Sequential(
        [keras.Input((32, 2)), keras.layers.Conv1D(4, 5, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    att = cdig.explain(m, x, "fourier", target=1, n_steps=16)["fourier"]
    c = deletion(m, x, att, fractions=[0, 0.5, 1])
    np.testing.assert_allclose(c.curve[:, 0], att.output, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c.curve[:, -1], att.baseline_output, rtol=1e-4, atol=1e-4)

    jnp = pytest.importorskip("jax.numpy")
    w = jnp.asarray(rng.normal(size=(32 * 2,)).astype("float32"))

    def f(xx):
        return jnp.tanh(xx.reshape(len(xx), -1) @ w)[:, None]

    att = cdig.explain(f, jnp.asarray(x), "dct", n_steps=16)["dct"]
    c = insertion(f, jnp.asarray(x), att, fractions=[0, 1])
    np.testing.assert_allclose(c.curve[:, 0], att.baseline_output, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c.curve[:, -1], att.output, rtol=1e-4, atol=1e-5)


def test_loaded_attribution_needs_the_fitted_domain(tmp_path, fitted_ica):
    x = torch.randn(3, 3, 64, dtype=torch.float64)
    model = _linear((3, 64))
    dom = cdig.ICA(fitted_ica)
    att = cdig.explain(model, x, [dom], target=0, n_steps=4)["ica"]
    loaded = cdig.Attribution.load(att.save(tmp_path / "ica.npz"))
    with pytest.raises(cdig.CdigValueError, match="pass domain="):
        deletion(model, x, loaded)
    np.testing.assert_allclose(
        deletion(model, x, loaded, domain=dom, fractions=[0, 0.5, 1]).curve, deletion(model, x, att, fractions=[0, 0.5, 1]).curve
    )
    # parameter-free domains are found by name
    fa = cdig.explain(model, x, "fourier", target=0, n_steps=4)["fourier"]
    fl = cdig.Attribution.load(fa.save(tmp_path / "f.npz"))
    np.testing.assert_allclose(deletion(model, x, fl, fractions=[0, 1]).curve[:, 0], fa.output)
    with pytest.raises(cdig.CdigValueError, match="not the attribution's domain"):
        deletion(model, x, fl, domain="dct")


class _PooledNet(torch.nn.Module):
    """A nonlinear model of any length (convolution, tanh, mean over time): a signal one sample short
    is no shape error for it, so an inverse to the wrong length would go unnoticed."""

    def __init__(self, channels=2, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv1d(channels, 6, 5, padding=2)
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).mean(-1))


def _rebuilt_by_settings():
    """Every named domain but ICA (fitted on data), and objects whose settings describe() records in full."""
    return {
        "time": "time",
        "fourier": "fourier",
        "dct": "dct",
        "wavelet": "wavelet",
        "magphase": "magphase",
        "cepstrum": "cepstrum",
        "dct3": cdig.DCT(type=3),
        "magphase_own": cdig.MagnitudePhase("own"),
        "cepstrum_eps": cdig.ComplexCepstrum(eps=1e-5),
        "wavelet_haar2": cdig.Wavelet("haar", level=2),
        "stft": cdig.STFT(16, hop_length=4, window=("tukey", 0.5)),
        "trend": cdig.TrendSeason(8, edges="shrink"),
        "bands": cdig.FrequencyBands({"slow": (0.0, 8.0), "fast": (8.0, 20.0)}, fs=64.0),
    }


def test_the_rebuilt_list_covers_every_named_domain_but_ica():
    named = {k for k, v in _rebuilt_by_settings().items() if isinstance(v, str)}
    assert named == set(cdig.DOMAINS) - {"ica"}


LOADED_CASES = [
    (t, k) for t in (63, 64) for k in _rebuilt_by_settings() if not (t % 2 and k.startswith("wavelet"))
]  # the periodized DWT needs an even length


@pytest.mark.parametrize("n_times, key", LOADED_CASES)
def test_loaded_attribution_gives_the_curves_of_the_one_in_memory(tmp_path, n_times, key):
    """Odd T: an rFFT has (T+1)/2 bins, which say nothing of whether T was odd; the loaded attribution's
    domain must be fitted to the input's length (and per-sample state), not guessed from the bins."""
    x = torch.randn(4, 2, n_times, dtype=torch.float64)
    model = _PooledNet().double().eval()
    dom = _rebuilt_by_settings()[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)  # the curves, not the map's accuracy, matter here
        att = next(iter(cdig.explain(model, x, [dom], target=1, n_steps=8).values()))
    loaded = cdig.Attribution.load(att.save(tmp_path / "a.npz"))
    assert loaded.domain_object is None and att.domain_object is not None
    for fn in (deletion, insertion):
        mem = fn(model, x, att, fractions=FRACTIONS, n_random=2)
        got = fn(model, x, loaded, fractions=FRACTIONS, n_random=2)
        np.testing.assert_allclose(got.curve, mem.curve, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.random_curve, mem.random_curve, rtol=1e-10, atol=1e-12)
        # an anchor recorded at explanation time: all coefficients of x give f(x)
        np.testing.assert_allclose(got.curve[:, -1 if fn is insertion else 0], att.output, rtol=1e-10, atol=1e-12)
    # the domain's name selects the same rebuilt domain (also names DOMAINS cannot make: "stft", "trend")
    np.testing.assert_allclose(
        deletion(model, x, loaded, domain=att.domain, fractions=FRACTIONS).curve,
        deletion(model, x, att, fractions=FRACTIONS).curve,
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("which", ["ica", "basis", "compose"])
def test_a_domain_its_settings_do_not_determine_needs_domain_after_loading(tmp_path, which, fitted_ica):
    from sklearn.decomposition import PCA

    x = torch.randn(3, 3, 64, dtype=torch.float64)
    model = _linear((3, 64))
    dom = {
        "ica": "ica",
        "basis": cdig.LinearBasis(PCA(3).fit(x.numpy().transpose(0, 2, 1).reshape(-1, 3))),
        "compose": cdig.Compose(cdig.ICA(fitted_ica), "fourier"),
    }[which]
    att = next(iter(cdig.explain(model, x, [dom], target=0, n_steps=4).values()))
    loaded = cdig.Attribution.load(att.save(tmp_path / "a.npz"))
    with pytest.raises(cdig.CdigValueError, match=r"cannot be rebuilt exactly.*pass domain="):
        deletion(model, x, loaded)
    fitted = att.domain_object  # the object that computed it: the curves come back
    np.testing.assert_allclose(
        deletion(model, x, loaded, domain=fitted, fractions=FRACTIONS).curve,
        _expected(att, FRACTIONS, "deletion"),
        rtol=1e-9,
        atol=1e-9,
    )


def test_a_users_own_domain_class_needs_domain_after_loading(tmp_path):
    class Reversed(cdig.Domain):
        name, linear, dims = "reversed", True, ("channel", "time")

        def forward(self, x, xp):
            return xp.flip(x, axis=-1)

        def inverse(self, z, xp):
            return xp.flip(z, axis=-1)

    x = torch.randn(2, 3, 64, dtype=torch.float64)
    model = _linear((3, 64))
    att = cdig.explain(model, x, [Reversed()], target=0, n_steps=4)["reversed"]
    loaded = cdig.Attribution.load(att.save(tmp_path / "r.npz"))
    with pytest.raises(cdig.CdigValueError, match=r"Reversed is not one of cdig's domains.*pass domain="):
        deletion(model, x, loaded)
    np.testing.assert_allclose(
        deletion(model, x, loaded, domain=Reversed(), fractions=FRACTIONS).curve,
        _expected(att, FRACTIONS, "deletion"),
        rtol=1e-9,
        atol=1e-9,
    )


def test_a_given_domain_must_reproduce_the_attribution(tmp_path):
    x = torch.randn(3, 2, 63, dtype=torch.float64)
    model = _PooledNet().double().eval()
    maps = cdig.explain(model, x, ("fourier", "dct"), target=0, n_steps=4)
    fl = cdig.Attribution.load(maps["fourier"].save(tmp_path / "f.npz"))
    dl = cdig.Attribution.load(maps["dct"].save(tmp_path / "d.npz"))
    # an unfitted Fourier() inverts 32 bins to 62 samples: refused, not a curve of shorter signals
    with pytest.raises(cdig.CdigValueError, match=r"signals of shape \(3, 2, 62\), not the input's \(3, 2, 63\)"):
        deletion(model, x, fl, domain=cdig.Fourier())
    # the same parameters but the wrong DCT type: other coefficients
    with pytest.raises(cdig.CdigValueError, match="does not give the attribution's coefficients"):
        deletion(model, x, dl, domain=cdig.DCT(type=3).fit(x.numpy()))
    # by name: rebuilt from the recorded settings and fitted on x
    np.testing.assert_allclose(
        deletion(model, x, fl, domain="fourier", fractions=FRACTIONS).curve,
        deletion(model, x, maps["fourier"], fractions=FRACTIONS).curve,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        deletion(model, x, fl, domain=cdig.Fourier().fit(x.numpy()), fractions=FRACTIONS).curve,
        deletion(model, x, maps["fourier"], fractions=FRACTIONS).curve,
        rtol=1e-12,
    )


def test_refitting_the_users_domain_later_does_not_change_the_attribution():
    x = torch.randn(6, 3, 64, dtype=torch.float64)
    model = _linear((3, 64))
    dom = cdig.ICA(random_state=0)
    att = cdig.explain(model, x, [dom], target=0, n_steps=4)["ica"]
    dom.unmixing_ = dom.unmixing_[::-1].copy()  # the user's object changes afterwards
    c = deletion(model, x, att, fractions=FRACTIONS)
    np.testing.assert_allclose(c.curve, _expected(att, FRACTIONS, "deletion"), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(fractions=[0.5]), "at least two"),
        (dict(fractions=[0, 0.5, 0.2]), "increase strictly"),
        (dict(fractions=[0, 2]), r"\[0, 1\]"),
        (dict(order="random"), "'signed' or 'absolute'"),
        (dict(n_random=0), "n_random"),
        (dict(seed=1.5), "seed"),
    ],
)
def test_bad_arguments(bad, match):
    x = torch.randn(2, 1, 16, dtype=torch.float64)
    model = _linear((1, 16))
    att = cdig.explain(model, x, "time", target=0, n_steps=4)["time"]
    with pytest.raises((cdig.CdigValueError, cdig.CdigTypeError), match=match):
        deletion(model, x, att, **bad)


def test_wrong_input_target_or_object_is_refused():
    x = torch.randn(2, 1, 16, dtype=torch.float64)
    model = _linear((1, 16))
    maps = cdig.explain(model, x, "time", target=0, n_steps=4)
    with pytest.raises(cdig.CdigValueError, match="differs from the one the attribution recorded"):
        deletion(model, x + 1, maps["time"])
    with pytest.raises(cdig.CdigValueError, match="shape"):
        deletion(model, x[:1], maps["time"])
    with pytest.raises(cdig.CdigTypeError, match=r"maps\['time'\]"):
        deletion(model, x, maps)
    with pytest.raises(cdig.CdigTypeError, match="cdig.Attribution"):
        insertion(model, x, maps["time"].values)
    grads = cdig.explain(model, x, "fourier", target=0, n_steps=4, multiply_by_inputs=False)["fourier"]
    with pytest.raises(cdig.CdigValueError, match="multiply_by_inputs=True"):
        deletion(model, x, grads)
