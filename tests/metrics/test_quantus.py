"""The Quantus adapter: exact coefficient-space maps in every domain, and real Quantus metrics running on them."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.metrics.quantus import coefficient_space

quantus = pytest.importorskip("quantus")

N, C, T = 3, 2, 64


@pytest.fixture
def net(models):
    return models.conv_net(channels=C, length=T, n_out=3, dtype=torch.float64)


def _domains(fit_ica, x):
    """Every named domain, and the domain objects of other shapes: 4-D coefficients (STFT, TrendSeason,
    MagnitudePhase), merged values (bands, ICA, a basis), per-sample state (cepstrum, one ICA per sample)."""
    from sklearn.decomposition import PCA

    pooled = x.numpy().transpose(0, 2, 1).reshape(-1, C)
    return {
        **{name: name for name in cdig.DOMAINS},
        "stft": cdig.STFT(16, hop_length=4),
        "trend": cdig.TrendSeason(8),
        "bands": cdig.FrequencyBands({"low": (0.0, 8.0), "high": (8.0, 20.0)}, fs=64.0),
        "basis": cdig.LinearBasis(PCA(C).fit(pooled)),
        "compose": cdig.Compose("dct", "fourier", name="dct+fourier"),
        "ica_per_sample": cdig.ICA([fit_ica(C, seed=s) for s in range(N)]),
    }


CASES = [
    "time",
    "fourier",
    "ica",
    "dct",
    "wavelet",
    "magphase",
    "cepstrum",
    "stft",
    "trend",
    "bands",
    "basis",
    "compose",
    "ica_per_sample",
]


def test_the_cases_cover_every_named_domain():
    assert set(cdig.DOMAINS) <= set(CASES)


def _explain(net, x, dom, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)  # the map's accuracy does not matter here
        return next(iter(cdig.explain(net, x, [dom], target=1, **kw).values()))


def _run(metric, q):
    """A Quantus metric on ``q``; re-explanations with few steps may warn about their accuracy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        return metric(**q.kwargs())


def _ig_reference(module, real, real0, target, n_steps, rows=None):
    """IG of ``module`` in its input by hand: Gauss–Legendre nodes on [0, 1] and autograd (not cdig)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    z, z0 = torch.as_tensor(real), torch.as_tensor(real0)
    total = torch.zeros_like(z)
    for a, w in zip((nodes + 1) / 2, weights / 2):
        p = (z0 + float(a) * (z - z0)).requires_grad_(True)
        out = module(p, rows) if rows is not None else module(p)
        (g,) = torch.autograd.grad(out[:, target].sum(), p)
        total += float(w) * g
    return ((z - z0) * total).numpy()


@pytest.mark.parametrize("case", CASES)
def test_every_domain_gives_the_exact_map_and_runs_a_quantus_metric(net, fit_ica, case):
    x = torch.randn(N, C, T, dtype=torch.float64)
    att = _explain(net, x, _domains(fit_ica, x)[case], n_steps=8)
    q = coefficient_space(net, x, att)
    assert q.x_batch.ndim == 3 and q.x_batch.shape[:2] == (N, att.coefficients.shape[1])
    assert q.a_batch.shape == q.x_batch.shape
    # a_batch is IG of the coefficient model, computed independently here with the same 8 nodes
    rows = torch.arange(N) if q.per_sample else None
    ref = _ig_reference(q.model, q.x_batch, coefficient_space_baseline(att, q), 1, 8, rows)
    np.testing.assert_allclose(q.a_batch, ref, rtol=1e-8, atol=1e-12 * np.abs(ref).max())
    # and it is the cross-domain map: merged back, the attribution's values; summed, its total
    scale = np.abs(att.values).max()
    np.testing.assert_allclose(q.merge(q.a_batch), att.values, rtol=1e-8, atol=1e-10 * scale)
    np.testing.assert_allclose(q.a_batch.reshape(N, -1).sum(1), att.sum(), rtol=1e-9, atol=1e-12 * scale)
    # the coefficient model is the model: the same outputs at the input's coefficients
    out = q.model(torch.as_tensor(q.x_batch)).detach().numpy()[:, 1]
    np.testing.assert_allclose(out, att.output, rtol=1e-9)
    assert q.complex_coefficients == np.iscomplexobj(att.coefficients)
    assert q.per_sample == (case in ("cepstrum", "ica_per_sample"))
    faith = _run(
        quantus.FaithfulnessCorrelation(
            nr_runs=4,
            subset_size=8,
            perturb_baseline="mean",
            return_aggregate=False,
            disable_warnings=True,
            display_progressbar=False,
        ),
        q,
    )
    assert len(faith) == N and np.all(np.isfinite(faith))


def coefficient_space_baseline(att, q):
    """The baseline's coefficients in the adapter's real layout, built here from the attribution."""
    z0 = np.asarray(att.baseline_coefficients).reshape(N, q.x_batch.shape[1], -1)
    return np.concatenate([z0.real, z0.imag], axis=-1) if q.complex_coefficients else z0


@pytest.mark.parametrize("case", ["stft", "cepstrum"])
def test_metrics_that_re_explain_use_the_same_map(net, fit_ica, case):
    x = torch.randn(N, C, T, dtype=torch.float64)
    att = _explain(net, x, _domains(fit_ica, x)[case], n_steps=8)
    q = coefficient_space(net, x, att)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        again = q.explain_func(q.model, q.x_batch, q.y_batch, **q.explain_func_kwargs)
    np.testing.assert_allclose(again, q.a_batch, rtol=1e-12, atol=1e-15)
    sens = _run(
        quantus.MaxSensitivity(
            nr_samples=2, lower_bound=0.01, return_aggregate=False, disable_warnings=True, display_progressbar=False
        ),
        q,
    )
    assert len(sens) == N and np.all(np.isfinite(sens))


def test_per_sample_domains_are_told_which_sample_each_row_is(net):
    """The cepstrum holds each sample's sign and delay: a row is only meaningful with its own sample's."""
    x = torch.randn(N, C, T, dtype=torch.float64)
    att = _explain(net, x, "cepstrum", n_steps=8)
    q = coefficient_space(net, x, att)
    assert q.kwargs()["batch_size"] == N
    perm = [2, 0, 1]
    zp = torch.as_tensor(q.x_batch[perm])
    told = q.model(zp, torch.tensor(perm)).detach().numpy()[:, 1]
    np.testing.assert_allclose(told, att.output[perm], rtol=1e-9)
    untold = q.model(zp).detach().numpy()[:, 1]  # read as samples 0, 1, 2: other signals
    assert not np.allclose(untold, att.output[perm], rtol=1e-3)
    with pytest.raises(cdig.CdigValueError, match=f"got 2 rows.*differs per sample.*batch_size={N}"):
        q.model(torch.as_tensor(q.x_batch[:2]))
    with pytest.raises(cdig.CdigValueError, match="got 2 rows"):
        q.explain_func(q.model, q.x_batch[:2], q.y_batch[:2])


def test_a_shared_baseline_serves_any_rows_and_per_sample_baselines_need_the_batch(net):
    x = torch.randn(N, C, T, dtype=torch.float64)
    q = coefficient_space(net, x, _explain(net, x, "fourier", n_steps=8))  # zero baseline: shared
    np.testing.assert_allclose(q.explain_func(q.model, q.x_batch[1:], q.y_batch[1:]), q.a_batch[1:], rtol=1e-10, atol=1e-15)
    own = _explain(net, x, "fourier", n_steps=8, baselines=torch.randn(N, C, T, dtype=torch.float64))
    q = coefficient_space(net, x, own)
    with pytest.raises(cdig.CdigValueError, match="baseline coefficients differ"):
        q.explain_func(q.model, q.x_batch[1:], q.y_batch[1:])


def test_randomisation_metrics_randomise_the_model_inside(net):
    """Quantus deep-copies the model and re-initialises the copy's layers: they must be the ones that run."""
    x = torch.randn(N, C, T, dtype=torch.float64)
    q = coefficient_space(net, x, _explain(net, x, "fourier", n_steps=8))
    before = copy.deepcopy(net.state_dict())
    clone = copy.deepcopy(q.model)
    with torch.no_grad():
        for p in clone.parameters():
            p.normal_()
    z = torch.as_tensor(q.x_batch)
    assert not np.allclose(clone(z).detach().numpy(), q.model(z).detach().numpy())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    mprt = _run(quantus.MPRT(return_aggregate=False, disable_warnings=True, display_progressbar=False), q)
    last = list(mprt)[-1]
    assert np.all(np.asarray(mprt[last]) < 0.99)  # the fully randomised model's maps differ


def test_a_loaded_attribution_and_two_dimensional_input(tmp_path, net):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(31, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    x = torch.randn(N, 31, dtype=torch.float64)  # (N, T), odd T
    for name in ("magphase", "cepstrum"):
        att = _explain(model, x, name, n_steps=8)
        loaded = cdig.Attribution.load(att.save(tmp_path / f"{name}.npz"))
        q = coefficient_space(model, x, loaded)
        assert q.merge(q.a_batch).shape == att.values.shape
        np.testing.assert_allclose(q.merge(q.a_batch), att.values, rtol=1e-8, atol=1e-12)


def test_adapter_refuses_what_it_cannot_do(net):
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    att = cdig.explain(net, x, "fourier", target=lambda out: out[:, 0] - out[:, 1], n_steps=4)["fourier"]
    with pytest.raises(cdig.CdigValueError, match="one class index per sample"):
        coefficient_space(net, x, att)
    keras = pytest.importorskip("keras")
    m = keras.Sequential([keras.Input((16, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    xk = np.random.default_rng(0).normal(size=(2, 16, 1)).astype("float32")
    with pytest.raises(cdig.CdigTypeError, match="PyTorch"):
        coefficient_space(m, xk, cdig.explain(m, xk, "time", target=0, n_steps=4)["time"])
