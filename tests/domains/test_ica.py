"""The ICA domain (sklearn FastICA): closed forms, the user's baseline, per-sample ICAs, parametrisations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES

N, C, T = 4, 3, 40


class ICAPath(cdig.ICA):
    """The same transform, declared nonlinear: integrated along its own path in the sources."""

    name = "ica_path"
    linear = False


@pytest.fixture
def linear_case(rng, models):
    w = rng.normal(size=(C, T))
    x = rng.laplace(size=(N, C, T)) + np.array([1.0, -2.0, 0.5])[:, None]
    return models.Linear(w, 0.2).eval(), w, x


@pytest.mark.parametrize("method", sorted(RULES))
def test_linear_model_exact_with_user_baseline(rng, closed, fitted_ica, linear_case, method):
    model, w, x = linear_case
    x0 = rng.normal(size=(N, C, T))  # not the channel means: the user's baseline must be honoured
    res = cdig.explain(
        model, torch.as_tensor(x), [cdig.ICA(fitted_ica), ICAPath(fitted_ica)], baselines=x0, n_steps=3, method=method
    )
    expected = closed.ica_linear_map(fitted_ica, x, x0, w)
    for name in ("ica", "ica_path"):
        a = res[name]
        assert a.values.shape == (N, C) and a.dims == ("component",)
        np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)
        np.testing.assert_allclose(a.baseline_output, (w * x0).sum((1, 2)) + 0.2, atol=1e-11)
    np.testing.assert_allclose(expected.sum(1), (w * (x - x0)).sum((1, 2)), atol=1e-11)


@pytest.mark.parametrize("baselines", [None, 0.7, "means"])
def test_linear_model_baselines(closed, fitted_ica, linear_case, baselines):
    model, w, x = linear_case
    x0 = {None: np.zeros_like(x), 0.7: np.full_like(x, 0.7), "means": np.broadcast_to(fitted_ica.mean_[None, :, None], x.shape)}[
        baselines
    ]
    b = fitted_ica.mean_[None, :, None] if baselines == "means" else baselines
    a = cdig.explain(model, torch.as_tensor(x), cdig.ICA(fitted_ica), baselines=b, n_steps=2)["ica"]
    np.testing.assert_allclose(a.values, closed.ica_linear_map(fitted_ica, x, x0, w), rtol=0, atol=1e-12)
    if baselines == "means":
        np.testing.assert_allclose(a.baseline_coefficients, 0.0, atol=1e-12)  # sources of the means are zero


def test_per_time_map_coordinates_and_coefficients(fitted_ica, linear_case):
    model, w, x = linear_case
    a = cdig.explain(model, torch.as_tensor(x), cdig.ICA(fitted_ica), n_steps=2, fs=20.0)["ica"]
    per_time = a.extras["per_time"]
    assert per_time.shape == (N, C, T)
    np.testing.assert_allclose(per_time.sum(-1), a.values, rtol=1e-12, atol=1e-13)
    sources = np.einsum("kc,nct->nkt", fitted_ica.components_, x - fitted_ica.mean_[:, None])
    np.testing.assert_allclose(a.coefficients, sources, atol=1e-12)
    # sklearn's own transform gives the same sources
    np.testing.assert_allclose(a.coefficients[0].T, fitted_ica.transform(x[0].T), atol=1e-10)
    np.testing.assert_array_equal(a.coords["component"], np.arange(C))
    np.testing.assert_allclose(a.coords["time"], np.arange(T) / 20.0)
    assert a.units["time"] == "s"
    assert a.settings["domain"]["n_components"] == C and a.settings["domain"]["per_sample"] is False


def test_per_sample_icas(rng, closed, fit_ica, linear_case):
    model, w, x = linear_case
    icas = [fit_ica(C, seed=10 + i) for i in range(N)]
    x0 = rng.normal(size=(N, C, T))
    res = cdig.explain(model, torch.as_tensor(x), [cdig.ICA(icas), ICAPath(icas)], baselines=x0, n_steps=2, internal_batch_size=3)
    for name in ("ica", "ica_path"):
        a = res[name]
        for i in range(N):
            expected = closed.ica_linear_map(icas[i], x[i : i + 1], x0[i : i + 1], w)[0]
            np.testing.assert_allclose(a.values[i], expected, rtol=0, atol=1e-12)
        assert a.settings["domain"]["per_sample"] is True


def test_fewer_components_explain_the_reconstruction(rng, closed, fit_ica, linear_case):
    model, w, x = linear_case
    ica2 = fit_ica(C, seed=3, n_components=2)
    x0 = rng.normal(size=(N, C, T))
    a = cdig.explain(model, torch.as_tensor(x), cdig.ICA(ica2), baselines=x0, n_steps=2)["ica"]
    assert a.values.shape == (N, 2)
    np.testing.assert_allclose(a.values, closed.ica_linear_map(ica2, x, x0, w), rtol=0, atol=1e-12)

    def recon(v):
        return np.einsum("ck,kd,ndt->nct", ica2.mixing_, ica2.components_, v - ica2.mean_[:, None]) + ica2.mean_[:, None]

    np.testing.assert_allclose(a.output, (w * recon(x)).sum((1, 2)) + 0.2, atol=1e-11)
    np.testing.assert_allclose(a.baseline_output, (w * recon(x0)).sum((1, 2)) + 0.2, atol=1e-11)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)
    assert "reconstruction" in a.settings["domain"]["note"]


def test_ica_none_fits_fastica_on_the_batch(models):
    from sklearn.decomposition import FastICA

    model = models.conv_net(channels=C, length=T, n_out=2, act="tanh", dtype=torch.float64)
    x = torch.distributions.Laplace(0.0, 1.0).sample((N, C, T)).double()
    a = cdig.explain(model, x, ["ica"], target=0, n_steps=16)["ica"]
    assert "fitted on the explained batch" in a.settings["domain"]["note"]
    # the same FastICA, fitted independently on the pooled batch, as an explicit object
    pooled = x.numpy().transpose(0, 2, 1).reshape(-1, C)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = FastICA(n_components=C, whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)
    b = cdig.explain(model, x, [cdig.ICA(est)], target=0, n_steps=16)["ica"]
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-10 * np.abs(b.values).max())
    assert np.all(a.relative_delta < 1e-3)


def test_a_reused_ica_names_the_batch_it_was_fitted_on(models):
    """ICA() keeps its first fit; on another batch its note names the fitted batch's size, not the new one."""
    model = models.conv_net(channels=C, length=T, n_out=2, act="tanh", dtype=torch.float64)
    x = torch.distributions.Laplace(0.0, 1.0).sample((N, C, T)).double()
    d = cdig.ICA()
    a = cdig.explain(model, x, [d], target=0, n_steps=16)["ica"]
    assert a.settings["domain"]["note"].endswith(f"fitted on the explained batch itself ({N} samples x {T} time steps pooled)")
    b = cdig.explain(model, x[:2], [d], target=0, n_steps=16)["ica"]
    assert b.settings["domain"]["note"].endswith(
        f"was fitted on an earlier batch given to this ICA() ({N} samples x {T} time steps pooled), not on the "
        f"explained one (2 samples x {T} time steps)"
    )
    np.testing.assert_allclose(b.values, a.values[:2], rtol=0, atol=1e-12 * np.abs(a.values).max())  # the same fit
    again = cdig.explain(model, x, [d], target=0, n_steps=16)["ica"]
    assert again.settings["domain"]["note"] == a.settings["domain"]["note"]
    other = cdig.explain(model, x + 1.0, [d], target=0, n_steps=16)["ica"]  # same size, other values
    assert f"an earlier batch given to this ICA() ({N} samples" in other.settings["domain"]["note"]


# --- nonlinear models ----------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
@pytest.mark.parametrize("n_steps", [64, "auto"])
def test_completeness_smooth_model(models, fitted_ica, act, n_steps):
    model = models.conv_net(channels=C, length=T, n_out=2, act=act, dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    res = cdig.explain(model, x, [cdig.ICA(fitted_ica), ICAPath(fitted_ica)], target=1, n_steps=n_steps)
    for a in res.values():
        assert np.all(a.relative_delta < 1e-3), a.relative_delta


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_shared_pass_equals_own_path_integral(models, fitted_ica, dtype):
    model = models.conv_net(channels=C, length=T, n_out=3, act="gelu", dtype=dtype)
    x = torch.randn(N, C, T, dtype=dtype)
    x0 = torch.randn(N, C, T, dtype=dtype)
    res = cdig.explain(
        model,
        x,
        [cdig.ICA(fitted_ica), ICAPath(fitted_ica)],
        target=[0, 1, 2, 1],
        baselines=x0,
        n_steps=12,
        internal_batch_size=5,
    )
    shared, own = res["ica"], res["ica_path"]
    tol = 1e-11 if dtype == torch.float64 else 1e-5
    scale = np.abs(shared.extras["per_time"]).max()
    np.testing.assert_allclose(shared.extras["per_time"], own.extras["per_time"], rtol=0, atol=tol * scale)
    np.testing.assert_allclose(shared.values, own.values, rtol=0, atol=tol * T * scale)


def test_reference_parametrisation_agrees_with_a_baseline_of_the_means(models, fitted_ica):
    """The reference package scales the mixing matrix from zero with the sources fixed.

    Its path x(β) = mean + β A s is cdig's straight path in the sources from the channel means, so the
    per-component scores agree. The reference is a plain torch loop over the mixing matrix entries.
    """
    model = models.conv_net(channels=C, length=T, n_out=2, act="tanh", dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    mix = torch.as_tensor(fitted_ica.mixing_)
    mean = torch.as_tensor(fitted_ica.mean_)[:, None]
    sources = torch.einsum("kc,nct->nkt", torch.as_tensor(fitted_ica.components_), x - mean)
    alphas, weights = np.polynomial.legendre.leggauss(20)
    grad_m = torch.zeros(N, C, C, dtype=torch.float64)  # per sample: ∫ ∂f/∂M dβ
    for beta, wgt in zip(0.5 * (alphas + 1), 0.5 * weights):
        m = (beta * mix).expand(N, C, C).clone().requires_grad_(True)
        y = model(torch.einsum("nck,nkt->nct", m, sources) + mean)[:, 1].sum()
        (g,) = torch.autograd.grad(y, m)
        grad_m += wgt * g
    ref = (mix * grad_m).sum(1).numpy()  # per component: Σ_c A_ck ∫ ∂f/∂M_ck
    a = cdig.explain(model, x, cdig.ICA(fitted_ica), baselines=fitted_ica.mean_[None, :, None], target=1, n_steps=20)["ica"]
    np.testing.assert_allclose(a.values, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
