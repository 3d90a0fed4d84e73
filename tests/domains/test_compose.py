"""Compose: spatial ICA then per-component Fourier; closed forms, completeness, shared pass, planted truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.domains.compose import Compose
from cdig.domains.fourier import Fourier
from cdig.domains.ica import ICA

N, C, T = 4, 3, 40
F = T // 2 + 1


def irfft_matrices(n_times: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, F) matrices of the real-linear map z -> irfft(z): columns for Re z_f and Im z_f (numpy's irfft)."""
    eye = np.eye(n_times // 2 + 1)
    return np.fft.irfft(eye, n=n_times, axis=-1).T, np.fft.irfft(1j * eye, n=n_times, axis=-1).T


def composed_linear_map(unmix, mix, mean, x, x0, w):
    """IG of f(x) = <w, x> + b in z = rfft(W (x - mean)): Re[Δz ⊙ conj(Mᴴ w)], M = A ⊗ irfft built explicitly.

    ``M_re`` and ``M_im`` are the (C·T, K·F) real matrices of x = A irfft(z) + mean in Re z and Im z, so
    the gradient is ``G = M_reᵀ w + i M_imᵀ w`` and the map ``Re Δz Re G + Im Δz Im G``.
    """
    k = mix.shape[1]
    m_re, m_im = irfft_matrices(x.shape[-1])
    big_re, big_im = np.kron(mix, m_re), np.kron(mix, m_im)  # rows (c, t), columns (k, f)
    g = (big_re.T @ w.reshape(-1) + 1j * (big_im.T @ w.reshape(-1))).reshape(k, -1)
    dz = np.fft.rfft(np.einsum("kc,nct->nkt", unmix, x - x0), axis=-1)
    return np.real(dz * np.conj(g))


@pytest.fixture
def linear_case(rng, models):
    w = rng.normal(size=(C, T))
    x = rng.laplace(size=(N, C, T)) + np.array([1.0, -2.0, 0.5])[:, None]
    return models.Linear(w, 0.2).eval(), w, x


@pytest.mark.parametrize("method", sorted(RULES))
def test_linear_model_closed_form(rng, fitted_ica, linear_case, method):
    model, w, x = linear_case
    x0 = rng.normal(size=(N, C, T))
    a = cdig.explain(
        model, torch.as_tensor(x), Compose(ICA(fitted_ica), Fourier()), baselines=x0, n_steps=3, method=method, fs=20.0
    )["ica+fourier"]
    unmix = np.linalg.inv(fitted_ica.mixing_)
    expected = composed_linear_map(unmix, fitted_ica.mixing_, fitted_ica.mean_, x, x0, w)
    assert a.values.shape == (N, C, F) and a.dims == ("component", "frequency")
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-11)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-10)
    np.testing.assert_allclose(expected.sum((1, 2)), (w * (x - x0)).sum((1, 2)), atol=1e-10)
    np.testing.assert_allclose(a.coords["frequency"], np.fft.rfftfreq(T, d=1 / 20.0))
    np.testing.assert_array_equal(a.coords["component"], np.arange(C))
    assert a.units["frequency"] == "Hz"
    np.testing.assert_allclose(
        a.coefficients, np.fft.rfft(np.einsum("kc,nct->nkt", unmix, x - fitted_ica.mean_[:, None]), axis=-1), atol=1e-10
    )


def test_fewer_components_explain_the_reconstruction(rng, fit_ica, linear_case):
    model, w, x = linear_case
    ica2 = fit_ica(C, seed=3, n_components=2)
    x0 = rng.normal(size=(N, C, T))
    a = cdig.explain(model, torch.as_tensor(x), Compose(ICA(ica2), Fourier()), baselines=x0, n_steps=2)["ica+fourier"]
    assert a.values.shape == (N, 2, F)
    expected = composed_linear_map(ica2.components_, ica2.mixing_, ica2.mean_, x, x0, w)
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-11)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-10)
    assert "reconstruction" in a.settings["domain"]["domains"][0]["note"]


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_completeness_smooth_model(models, fitted_ica, act):
    model = models.conv_net(channels=C, length=T, n_out=2, act=act, dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    a = cdig.explain(model, x, Compose(ICA(fitted_ica), Fourier()), target=1, n_steps=64, method="gausslegendre")["ica+fourier"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta


def test_shares_the_time_pass(models, fitted_ica):
    counter = models.CallCounter(models.conv_net(channels=C, length=T, n_out=2, act="tanh", dtype=torch.float64))
    x = torch.randn(N, C, T, dtype=torch.float64)
    cdig.explain(counter, x, ("time",), target=0, n_steps=16)
    alone = counter.rows
    counter.reset()
    res = cdig.explain(counter, x, ("time", Compose(ICA(fitted_ica), Fourier())), target=0, n_steps=16)
    assert counter.rows == alone
    np.testing.assert_allclose(res["ica+fourier"].sum(), res["time"].sum(), rtol=1e-10)


def test_per_sample_icas_select_rows_in_the_own_path(rng, fit_ica, linear_case):
    model, w, x = linear_case
    icas = [fit_ica(C, seed=10 + i) for i in range(N)]
    own = Compose(ICA(icas), Fourier(), name="own")
    own.linear = False  # the same transform, integrated along its own path: rows go through select_rows
    res = cdig.explain(model, torch.as_tensor(x), [Compose(ICA(icas), Fourier()), own], n_steps=2, internal_batch_size=3)
    for i in range(N):
        expected = composed_linear_map(
            np.linalg.inv(icas[i].mixing_), icas[i].mixing_, icas[i].mean_, x[i : i + 1], np.zeros_like(x[i : i + 1]), w
        )[0]
        for name in ("ica+fourier", "own"):
            np.testing.assert_allclose(res[name].values[i], expected, rtol=0, atol=1e-11)
    assert res["own"].settings["domain"]["domains"][0]["per_sample"] is True


def test_planted_tone_in_one_source(fitted_ica, models):
    """One source carries a tone at bin 8; a model of the bin-8 energy puts its map there, on that source."""
    r = np.random.default_rng(5)
    k_true, f_true = 1, 8
    t = np.arange(T)
    s = 0.3 * r.laplace(size=(N, C, T))
    s[:, k_true] += 3 * np.cos(2 * np.pi * f_true * t / T + r.uniform(0, 2 * np.pi, size=(N, 1)))
    x = np.einsum("ck,nkt->nct", fitted_ica.mixing_, s) + fitted_ica.mean_[:, None]
    model = models.FourierBandEnergy(f_true, f_true + 1)
    a = cdig.explain(model, torch.as_tensor(x), Compose(ICA(fitted_ica), Fourier()), n_steps=8)["ica+fourier"]
    for i in range(N):
        peak = np.unravel_index(np.argmax(np.abs(a.values[i])), a.values[i].shape)
        assert peak == (k_true, f_true)
    assert np.all(a.values[:, k_true, f_true] / a.sum() > 0.9)
    assert np.all(a.relative_delta < 1e-6)


def test_settings_names_and_coords(fitted_ica):
    x = np.random.default_rng(0).normal(size=(2, C, T))
    d = Compose(ICA(fitted_ica), "fourier").fit(x)
    assert d.name == "ica+fourier" and d.linear
    desc = d.describe()
    assert desc["class"] == "Compose" and [p["name"] for p in desc["domains"]] == ["ica", "fourier"]
    coords, units = d.coords((C, F), 10.0)
    assert list(coords) == ["component", "frequency"] and units == {"frequency": "Hz"}
    assert Compose(ICA(fitted_ica), Fourier(), name="spectra").name == "spectra"
    assert not Compose(ICA(fitted_ica), cdig.MagnitudePhase()).linear
    np.testing.assert_allclose(d.inverse(d.forward(x, np), np), x, atol=1e-12)


def test_errors(fitted_ica):
    x = np.random.default_rng(0).normal(size=(2, C, T))
    with pytest.raises(cdig.CdigValueError, match="'fourier'.*complex.*'ica'"):
        Compose(Fourier(), ICA(fitted_ica)).fit(x)
    with pytest.raises(cdig.CdigValueError, match="at least two"):
        Compose(Fourier())
    with pytest.raises(cdig.CdigTypeError, match="Domain objects or names"):
        Compose(Fourier(), 3)
    with pytest.raises(cdig.CdigValueError, match="unknown domain 'nope'"):
        Compose("ica", "nope")
    with pytest.raises(cdig.CdigValueError, match="fitted on 3 channels but the input has 2"):
        Compose(ICA(fitted_ica), Fourier()).fit(x[:, :2])
