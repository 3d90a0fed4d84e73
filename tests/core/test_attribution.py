"""The result object: relative_delta, sum, as_tensor, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig import Attribution


def _attr(values, output, baseline_output, delta, **kw):
    values = np.asarray(values, dtype=float)
    n = len(values)
    return Attribution(
        values=values,
        domain="time",
        dims=("time",),
        coords={"time": np.arange(values.shape[1])},
        delta=np.asarray(delta, float),
        output=np.asarray(output, float),
        baseline_output=np.asarray(baseline_output, float),
        n_steps=np.full(n, 8),
        **kw,
    )


def test_relative_delta_and_sum():
    a = _attr(
        [[1.0, 2.0], [0.5, -0.5], [0.0, 0.0], [1.0, 0.0]],
        output=[4.0, 1.0, 2.0, 3.0],
        baseline_output=[1.0, 1.0, 2.0, 2.0],
        delta=[0.0, 0.0, 0.0, 0.5],
    )
    np.testing.assert_array_equal(a.sum(), [3.0, 0.0, 0.0, 1.0])
    rel = a.relative_delta
    assert rel[0] == 0.0
    assert rel[1] == 0.0  # no change and no error: 0, not nan
    assert rel[2] == 0.0
    assert rel[3] == pytest.approx(0.5)
    b = _attr([[1.0]], output=[1.0], baseline_output=[1.0], delta=[1e-3])
    assert np.isinf(b.relative_delta[0])  # an error where nothing changed


def test_sum_is_output_change_plus_delta(models):
    model = models.conv_net(channels=2, length=32, n_out=3, act="tanh")
    res = cdig.explain(model, torch.randn(3, 2, 32), ["time", "fourier"], target=1, n_steps=8)
    for a in res.values():
        # float32 maps: sum() adds float32 values, delta was summed in float64
        np.testing.assert_allclose(a.sum(), a.output - a.baseline_output + a.delta, rtol=0, atol=1e-6)
        np.testing.assert_allclose(a.relative_delta, np.abs(a.delta) / np.abs(a.output - a.baseline_output), rtol=1e-12)
        assert "max |delta|" in repr(a) and a.domain in repr(a)


def test_as_tensor(models):
    model = models.conv_net(channels=2, length=32, n_out=3)
    res = cdig.explain(model, torch.randn(3, 2, 32), ["time", "fourier"], target=0, n_steps=4)
    for a in res.values():
        t = a.as_tensor()
        assert isinstance(t, torch.Tensor)
        assert t.device == torch.device("cpu")
        assert not t.requires_grad
        np.testing.assert_array_equal(t.numpy(), a.values)
    g = cdig.explain(model, torch.randn(3, 2, 32), "fourier", target=0, n_steps=4, multiply_by_inputs=False)
    assert g["fourier"].as_tensor().is_complex()


def _assert_same(a: Attribution, b: Attribution) -> None:
    np.testing.assert_array_equal(a.values, b.values)
    for k in ("delta", "output", "baseline_output", "n_steps"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert a.domain == b.domain and tuple(a.dims) == tuple(b.dims)
    assert a.coords.keys() == b.coords.keys()
    for k in a.coords:
        np.testing.assert_array_equal(a.coords[k], b.coords[k])
    assert a.extras.keys() == b.extras.keys()
    for k in a.extras:
        np.testing.assert_array_equal(a.extras[k], b.extras[k])
    assert a.units == b.units
    np.testing.assert_array_equal(a.coefficients, b.coefficients)
    np.testing.assert_array_equal(a.baseline_coefficients, b.baseline_coefficients)
    # settings come back JSON-normalised (tuples as lists)
    assert _plain(a.settings) == b.settings


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.ndarray, np.generic)):
        return v.tolist()
    return v


@pytest.mark.parametrize("suffix", [".npz", ""])
def test_save_load_round_trip(tmp_path, models, fitted_ica, suffix):
    model = models.ChannelsLast(models.conv_net(channels=3, length=32, n_out=2, act="gelu")).eval()
    x = torch.randn(3, 32, 3)
    res = cdig.explain(model, x, ["time", "fourier", cdig.ICA(fitted_ica)], target=[0, 1, 1], fs=50.0, time_axis=1, n_steps=6)
    for name, a in res.items():
        p = a.save(tmp_path / f"{name}{suffix}")
        assert p.suffix == ".npz" and p.exists()
        b = Attribution.load(p)
        _assert_same(a, b)
        assert b.target == [0, 1, 1]
        assert b.settings["fs"] == 50.0 and b.settings["domain"]["name"] == name
    b = Attribution.load(tmp_path / f"fourier{'.npz'}")
    assert np.iscomplexobj(b.coefficients)
    assert b.units == {"frequency": "Hz"}
    assert "per_time" in Attribution.load(tmp_path / "ica.npz").extras


def test_save_load_tuple_and_callable_targets(tmp_path, rng, models):
    w = rng.normal(size=(3, 2, 2, 16))
    model = models.LinearForecaster(w, np.zeros((3, 2))).eval()
    x = torch.as_tensor(rng.normal(size=(2, 2, 16)))
    a = cdig.explain(model, x, "time", target=(2, 1), n_steps=2)["time"]
    b = Attribution.load(a.save(tmp_path / "t.npz"))
    assert b.target == [2, 1]

    def last_step(out):
        return out[:, -1, 0]

    a = cdig.explain(model, x, "time", target=last_step, n_steps=2)["time"]
    b = Attribution.load(a.save(tmp_path / "c.npz"))
    assert b.target == "last_step"
    np.testing.assert_array_equal(a.values, b.values)


def _every_domain_class(fitted_ica):
    """One instance of each of cdig's domain classes (non-default parameters where there are any)."""
    from sklearn.decomposition import PCA

    return {
        "Time": cdig.Time(),
        "Fourier": cdig.Fourier(),
        "DCT": cdig.DCT(type=3),
        "Wavelet": cdig.Wavelet("db2"),
        "MagnitudePhase": cdig.MagnitudePhase("own"),
        "ComplexCepstrum": cdig.ComplexCepstrum(eps=1e-6),
        "STFT": cdig.STFT(16, hop_length=5, window=("tukey", 0.3), pad_mode="reflect"),
        "TrendSeason": cdig.TrendSeason(6, 9, edges="shrink"),
        "FrequencyBands": cdig.FrequencyBands({"a": (1.0, 5.0), "b": (5.0, 40.0)}, fs=50.0, remainder="rest"),
        "ICA": cdig.ICA(fitted_ica),
        "LinearBasis": cdig.LinearBasis(PCA(3).fit(np.eye(3))),
        "Compose": cdig.Compose("dct", "fourier"),
    }


REBUILT = ("Time", "Fourier", "DCT", "Wavelet", "MagnitudePhase", "ComplexCepstrum", "STFT", "TrendSeason", "FrequencyBands")


def test_a_saved_description_rebuilds_the_domain_or_says_it_cannot(tmp_path, models, fitted_ica):
    """Through a file (JSON: tuples become lists), every domain whose constructor's parameters describe()
    records is rebuilt and, fitted on the same input, describes itself alike and gives the same
    coefficients; the others are refused by name."""
    from cdig.domains import _CLASSES, rebuild

    domains = _every_domain_class(fitted_ica)
    assert set(domains) == set(_CLASSES)  # a new domain class must join this test
    x = np.random.default_rng(0).normal(size=(2, 3, 64)) + 0.3
    model = models.Linear(np.ones((3, 64)))
    for cls, dom in domains.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)  # 4 steps: the map is rough, no matter
            att = next(iter(cdig.explain(model, torch.as_tensor(x), [dom], n_steps=4).values()))
        recorded = Attribution.load(att.save(tmp_path / f"{cls}.npz")).settings["domain"]
        if cls not in REBUILT:
            with pytest.raises(cdig.CdigValueError, match=f"{cls} cannot be rebuilt from its recorded settings"):
                rebuild(recorded)
            continue
        again = rebuild(recorded)
        assert type(again) is type(dom) and again.name == dom.name and again is not dom
        again.fit(x)
        described = _attr([[0.0]], [0.0], [0.0], [0.0], settings={"domain": again.describe()})
        assert Attribution.load(described.save(tmp_path / "b.npz")).settings["domain"] == recorded
        np.testing.assert_array_equal(again.forward(x, np), dom.forward(x, np))
        np.testing.assert_array_equal(again.inverse(att.coefficients, np), dom.inverse(att.coefficients, np))
    with pytest.raises(cdig.CdigValueError, match="not one of cdig's domains"):
        rebuild({"name": "mine", "class": "Mine"})
    with pytest.raises(cdig.CdigValueError, match="no domain description"):
        rebuild(None)
    with pytest.raises(cdig.CdigValueError, match="window='array'"):
        rebuild({**cdig.STFT(8).describe(), "window": "array"})
