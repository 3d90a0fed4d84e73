"""Integrated gradients over a baseline distribution (References: expected gradients) and with noise (SmoothGrad).

References are independent of cdig: closed forms for linear models (through explicit inverse-transform
matrices built with numpy.fft), Captum's IntegratedGradients per reference, Captum's NoiseTunnel, and the
model's own outputs for the completeness identities.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.core.draws import DEFAULT_DRAWS
from cdig.core.errors import CdigTypeError, CdigValueError

T = 16


@pytest.fixture(scope="module")
def linear() -> tuple:
    torch.manual_seed(0)
    w = torch.randn(2, T, dtype=torch.float64)

    def model(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=(1, 2))

    return w.numpy(), model


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * (T - 4), 2))
    return m.double().eval()


def _inverse_rfft_jacobians(n: int) -> tuple[np.ndarray, np.ndarray]:
    """d x / d Re z_k and d x / d Im z_k of numpy's irfft (orthonormal): ``(F, T)`` each."""
    f = n // 2 + 1
    eye = np.eye(f)
    re = np.stack([np.fft.irfft(e, n=n, norm="ortho") for e in eye])
    im = np.stack([np.fft.irfft(1j * e, n=n, norm="ortho") for e in eye])
    return re, im


def test_references_paths_linear_model_closed_form_in_time_and_fourier(linear):
    w, model = linear
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, T))
    refs = rng.standard_normal((5, 2, T))
    maps = cdig.explain(model, torch.tensor(x), ("time", "fourier"), baselines=cdig.References(torch.tensor(refs)), n_steps=4)
    mean_ref = refs.mean(axis=0)
    # a linear model: the average over references of w ⊙ (x − x'_k) is w ⊙ (x − mean x')
    np.testing.assert_allclose(maps["time"].values, w * (x - mean_ref), atol=1e-12)
    fourier = maps["fourier"]
    re, im = _inverse_rfft_jacobians(T)
    dz = np.fft.rfft(x - mean_ref, norm="ortho")
    expected = dz.real * (w @ re.T)[None] + dz.imag * (w @ im.T)[None]
    np.testing.assert_allclose(fourier.values, expected, atol=1e-12)
    # completeness against the mean output over the references
    f_refs = model(torch.tensor(refs)).numpy()
    np.testing.assert_allclose(fourier.values.sum(axis=(1, 2)), model(torch.tensor(x)).numpy() - f_refs.mean(), atol=1e-12)
    assert fourier.settings["distribution"]["drawn"] == "all references"
    assert fourier.settings["distribution"]["draws_per_sample"] == 5


def test_references_paths_nonlinear_model_equals_captum_averaged_over_references(net):
    from captum.attr import IntegratedGradients

    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((2, 2, T)))
    refs = torch.tensor(rng.standard_normal((4, 2, T)))
    maps = cdig.explain(net, x, "time", target=1, baselines=cdig.References(refs), n_steps=64)
    ig = IntegratedGradients(net)
    per_ref = np.stack(
        [ig.attribute(x, baselines=r.expand_as(x), target=1, n_steps=64, method="gausslegendre").numpy() for r in refs[:, None]]
    )
    captum = per_ref.mean(axis=0)
    np.testing.assert_allclose(maps["time"].values, captum, rtol=1e-7, atol=1e-12)  # Captum rounds its nodes
    with torch.no_grad():
        change = net(x)[:, 1].numpy() - net(refs)[:, 1].numpy().mean()
    att = maps["time"]
    np.testing.assert_allclose(att.values.sum(axis=(1, 2)), change, atol=1e-8)
    np.testing.assert_allclose(att.output - att.baseline_output, change, atol=1e-12)
    np.testing.assert_allclose(att.delta, att.values.sum(axis=(1, 2)) - change, atol=1e-12)
    # the spread over the four references' maps
    np.testing.assert_allclose(att.extras["standard_error"], per_ref.std(axis=0, ddof=1) / 2, rtol=1e-6, atol=1e-12)


def test_references_paths_draw_without_replacement_and_adaptive(net):
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((2, 2, T)))
    refs = torch.tensor(rng.standard_normal((DEFAULT_DRAWS + 8, 2, T)))
    maps = cdig.explain(net, x, ("time", "dct"), target=0, baselines=cdig.References(refs), n_steps="auto", rtol=1e-6)
    att = maps["dct"]
    dist = att.settings["distribution"]
    assert dist["draws_per_sample"] == DEFAULT_DRAWS and "without replacement" in dist["drawn"]
    assert np.all(np.abs(att.delta) <= 1e-5 * np.abs(att.output - att.baseline_output))
    assert att.error_estimate is not None and np.all(att.error_estimate["relative"] < 1e-3)
    with pytest.raises(CdigValueError, match="without replacement"):
        cdig.explain(net, x, "time", target=0, baselines=cdig.References(refs[:3]), n_samples=4)


def test_expected_gradients_points_unbiased_for_the_paths_average(net):
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((2, 2, T)))
    refs = torch.tensor(rng.standard_normal((6, 2, T)))
    exact = cdig.explain(net, x, "fourier", target=0, baselines=cdig.References(refs), n_steps=64)["fourier"]
    est = cdig.explain(net, x, "fourier", target=0, baselines=cdig.References(refs, draw="points"), n_samples=3000, seed=4)[
        "fourier"
    ]
    assert est.settings["method"] == "expected_gradients" and est.settings["n_steps"] is None
    assert np.all(est.n_steps == 3000)
    se = est.extras["standard_error"]
    z = np.abs(est.values - exact.values) / np.maximum(se, 1e-12)
    assert np.mean(z < 3) > 0.95 and z.max() < 6  # an unbiased estimate, its standard error calibrated
    # completeness holds in expectation: the residual is small against the change
    assert np.all(np.abs(est.delta) < 0.05 * np.abs(exact.output - exact.baseline_output) + 0.05)


def test_expected_gradients_points_on_a_linear_model_is_exact_per_draw(linear):
    w, model = linear
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((2, 2, T)))
    refs = torch.tensor(rng.standard_normal((9, 2, T)))
    att = cdig.explain(model, x, "time", baselines=cdig.References(refs, draw="points"), n_samples=7)["time"]
    # a constant gradient: every draw's one-point estimate is its exact IG, so completeness is exact
    np.testing.assert_allclose(att.delta, 0.0, atol=1e-12)
    np.testing.assert_allclose(att.values.sum(axis=(1, 2)), att.output - att.baseline_output, atol=1e-12)


def test_smoothgrad_linear_model_and_its_completeness(linear):
    w, model = linear
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, T))
    sigma, m = 0.3, 400
    att = cdig.explain(model, torch.tensor(x), ("time", "fourier"), stdevs=sigma, n_samples=m, seed=1)
    t = att["time"]
    # values: w ⊙ (mean of the noisy inputs − 0); the noise's mean has standard deviation sigma/sqrt(m)
    off = (t.values - w * x) / (np.abs(w) * sigma / np.sqrt(m))
    assert np.abs(off).max() < 5
    # completeness against the mean output over the noisy inputs, which output reports
    np.testing.assert_allclose(t.values.sum(axis=(1, 2)), t.output - t.baseline_output, atol=1e-12)
    assert np.abs(t.output - model(torch.tensor(x)).numpy()).max() < 5 * sigma * np.linalg.norm(w) / np.sqrt(m)
    np.testing.assert_allclose(att["fourier"].values.sum(axis=(1, 2)), t.values.sum(axis=(1, 2)), atol=1e-10)
    # the coefficients reported are those of x itself, without noise
    np.testing.assert_allclose(att["fourier"].coefficients, np.fft.rfft(x), atol=1e-12)
    assert t.settings["distribution"]["stdevs"] == sigma


def test_smoothgrad_matches_captum_noise_tunnel_in_distribution(net):
    from captum.attr import IntegratedGradients, NoiseTunnel

    rng = np.random.default_rng(7)
    x = torch.tensor(rng.standard_normal((1, 2, T)))
    sigma, m = 0.5, 256
    ours = cdig.explain(net, x, "time", target=1, stdevs=sigma, n_samples=m, n_steps=32)["time"]
    torch.manual_seed(0)
    nt = NoiseTunnel(IntegratedGradients(net))
    theirs = nt.attribute(x, target=1, nt_type="smoothgrad", nt_samples=m, stdevs=sigma, n_steps=32, method="gausslegendre")
    se = ours.extras["standard_error"]
    z = np.abs(ours.values - theirs.numpy()) / (np.sqrt(2) * np.maximum(se, 1e-12))
    assert np.mean(z < 3) > 0.95 and z.max() < 6


def test_draws_use_the_domain_fitted_on_x_and_follow_per_sample_targets(net):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2, 64))
    big = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * 60, 2)).double()
    targets = [0, 1, 0]
    maps = cdig.explain(big, x, ("ica", "time"), target=targets, stdevs=0.05, n_samples=6, n_steps=16)
    ica = maps["ica"]
    fitted = cdig.ICA().fit(x)
    np.testing.assert_allclose(ica.domain_object.unmixing_, fitted.unmixing_, atol=1e-10)
    with torch.no_grad():
        at_zero = big(torch.zeros(1, 2, 64, dtype=torch.float64)).numpy()[0]
    # the zero baseline: every sample's completeness uses its own target
    np.testing.assert_allclose(ica.baseline_output, at_zero[targets], atol=1e-12)
    np.testing.assert_allclose(ica.values.sum(axis=1), ica.output - ica.baseline_output, atol=1e-6)
    assert ica.values.shape == (3, fitted.unmixing_.shape[-2])


def test_distribution_errors(linear):
    _, model = linear
    x = torch.randn(2, 2, T, dtype=torch.float64)
    refs = torch.randn(4, 2, T, dtype=torch.float64)
    with pytest.raises(CdigValueError, match="draws nothing"):
        cdig.explain(model, x, "time", n_samples=8)
    with pytest.raises(CdigValueError, match="draw='paths'"):
        cdig.explain(model, x, "time", baselines=cdig.References(refs, draw="points"), n_steps="auto")
    with pytest.raises(CdigValueError, match="draw"):
        cdig.References(refs, draw="walk")
    with pytest.raises(CdigValueError, match=r"\(R, 2, 16\)"):
        cdig.explain(model, x, "time", baselines=cdig.References(refs[:, :1]))
    with pytest.raises(CdigValueError, match="NaN"):
        cdig.explain(model, x, "time", baselines=cdig.References(refs * np.nan))
    with pytest.raises(CdigValueError, match="stdevs"):
        cdig.explain(model, x, "time", stdevs=-1.0)
    with pytest.raises(CdigTypeError, match="stdevs"):
        cdig.explain(model, x, "time", stdevs=True)
    with pytest.raises(CdigValueError, match="dict"):
        cdig.explain(model, x, "fourier", baselines={"fourier": 0.0}, stdevs=0.1)
    with pytest.raises(CdigValueError, match="groups"):
        cdig.explain(model, x, "fourier", groups=np.zeros(9, dtype=int))
    with pytest.raises(CdigValueError, match=r"References\(draw='points'\).*draw='paths'"):
        cdig.explain(model, x, "fourier", method="shapley", baselines=cdig.References(refs, draw="points"))
    with pytest.raises(CdigValueError, match="stdevs"):
        cdig.explain(model, x, "fourier", method="shapley", stdevs=0.1)
    with pytest.raises(CdigValueError, match="multiply_by_inputs"):
        cdig.explain(model, x, "fourier", method="occlusion", multiply_by_inputs=False)


def test_explain_routes_perturbation_methods_to_perturb(linear):
    w, model = linear
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, T))
    maps = cdig.explain(model, torch.tensor(x), ("time", "fourier"), method="shapley")
    direct = cdig.perturb.attribute(model, torch.tensor(x), "fourier", method="shapley")
    np.testing.assert_allclose(maps["fourier"].values, direct.values, atol=1e-12)
    np.testing.assert_allclose(maps["time"].values, w * x, atol=1e-12)  # additive: Shapley = IG = w ⊙ x
    ig = cdig.explain(model, torch.tensor(x), "fourier")["fourier"]
    np.testing.assert_allclose(maps["fourier"].values, ig.values, atol=1e-10)
    labels = {"time": np.repeat(np.arange(4), 4)[None].repeat(2, 0)}
    grouped = cdig.explain(model, torch.tensor(x), ("time", "fourier"), method="occlusion", groups=labels)
    assert grouped["time"].values.shape == (2, 4) and grouped["time"].dims == ("group",)
    np.testing.assert_allclose(grouped["time"].values, (w * x).reshape(2, 2, 4, 4).sum(axis=(1, 3)), atol=1e-12)
    with pytest.raises(CdigValueError, match="dict"):
        cdig.explain(model, torch.tensor(x), ("time", "fourier"), method="occlusion", groups=np.zeros((2, T), dtype=int))


def test_draws_in_jax_and_keras_match_the_closed_form():
    import jax.numpy as jnp

    rng = np.random.default_rng(10)
    w = rng.standard_normal((T, 2)).astype(np.float32)
    x = rng.standard_normal((2, T, 2)).astype(np.float32)  # channels last, the frameworks' default
    refs = rng.standard_normal((3, T, 2)).astype(np.float32)
    expected = np.moveaxis(w * (x - refs.mean(axis=0)), 1, 2)  # the maps are (N, C, T)

    def f(v):
        return jnp.sum(v * jnp.asarray(w), axis=(1, 2))

    att = cdig.explain(f, jnp.asarray(x), "time", baselines=cdig.References(refs), n_steps=2, backend="jax")["time"]
    np.testing.assert_allclose(att.values, expected, atol=1e-5)
    import keras

    inp = keras.Input((T, 2))
    km = keras.Model(inp, keras.layers.Dense(1, use_bias=False)(keras.layers.Flatten()(inp)))
    km.layers[-1].set_weights([w.reshape(-1, 1)])
    att = cdig.explain(km, x, "time", target=0, baselines=cdig.References(refs), n_steps=2)["time"]
    np.testing.assert_allclose(att.values, expected, atol=1e-5)


# --- a background set for the perturbation methods ---------------------------------------------------
def test_perturbation_over_a_background_set_linear(linear):
    """Shapley values against each reference of a set, averaged per sample (SHAP's background data): for a
    linear model the closed form w ⊙ (x − mean of the references), summed per group, and in the Fourier
    domain IG's map from the mean reference (linear: Shapley = IG). Efficiency against the mean output."""
    w, model = linear
    rng = np.random.default_rng(3)
    x, refs = rng.standard_normal((2, 2, T)), rng.standard_normal((5, 2, T))
    bg = cdig.References(torch.tensor(refs))
    labels = np.arange(T) // 4  # four groups of four time steps, across both channels
    maps = cdig.explain(model, torch.tensor(x), ("time", "fourier"), method="shapley", baselines=bg, groups={"time": labels})
    expected = (w * (x - refs.mean(axis=0))).reshape(2, 2, 4, 4).sum(axis=(1, 3))
    np.testing.assert_allclose(maps["time"].values, expected, atol=1e-12)
    mean_ref = torch.tensor(refs.mean(axis=0, keepdims=True))
    ig = cdig.explain(model, torch.tensor(x), "fourier", baselines=mean_ref)["fourier"]
    np.testing.assert_allclose(maps["fourier"].values, ig.values, atol=1e-10)
    t = maps["time"]
    dist = t.settings["distribution"]
    assert (dist["baselines"], dist["n_references"], dist["drawn"]) == ("references", 5, "all references")
    f_refs = model(torch.tensor(refs)).numpy()
    np.testing.assert_allclose(t.baseline_output, f_refs.mean(), atol=1e-12)
    np.testing.assert_allclose(t.values.sum(axis=1), t.output - f_refs.mean(), atol=1e-12)  # efficiency
    assert t.n_steps.tolist() == [5 * 2**4] * 2  # every coalition of 4 groups, for each of 5 references
    assert np.array_equal(t.extras["groups"], np.broadcast_to(labels, (2, T)))


def test_perturbation_over_a_background_set_is_the_mean_over_references(net):
    """A nonlinear model: the background result is the mean of one explanation per reference (each with
    that reference as its baseline), values, outputs and delta alike; the spread over the references is
    the standard error. RISE's error adds its masks' own (shared by every reference)."""
    rng = np.random.default_rng(4)
    x, refs = torch.tensor(rng.standard_normal((3, 2, T))), torch.tensor(rng.standard_normal((4, 2, T)))
    bands = np.minimum(np.arange(T // 2 + 1) // 3, 2)  # three bands of rFFT bins, across the channels
    common = dict(method="shapley", groups=bands, target=0)
    bg = cdig.perturb.attribute(net, x, "fourier", baselines=cdig.References(refs), **common)
    each = [cdig.perturb.attribute(net, x, "fourier", baselines=refs[k : k + 1].expand(3, -1, -1), **common) for k in range(4)]
    np.testing.assert_allclose(bg.values, np.mean([a.values for a in each], axis=0), atol=1e-12)
    np.testing.assert_allclose(bg.baseline_output, np.mean([a.baseline_output for a in each], axis=0), atol=1e-12)
    np.testing.assert_allclose(bg.delta, np.mean([a.delta for a in each], axis=0), atol=1e-12)
    assert np.abs(bg.delta).max() < 1e-12  # exact Shapley values: efficiency against the mean reference output
    spread = np.std([a.values for a in each], axis=0, ddof=1) / 2
    np.testing.assert_allclose(bg.extras["standard_error"], spread, atol=1e-12)

    rise = cdig.perturb.attribute(net, x, "fourier", baselines=cdig.References(refs), method="rise",
                                  groups=bands, target=0, n_samples=200)  # fmt: skip
    rise_each = [
        cdig.perturb.attribute(
            net, x, "fourier", baselines=refs[k : k + 1].expand(3, -1, -1), method="rise", groups=bands, target=0, n_samples=200
        )  # fmt: skip
        for k in range(4)
    ]
    np.testing.assert_allclose(rise.values, np.mean([a.values for a in rise_each], axis=0), atol=1e-12)
    own = np.mean([a.extras["standard_error"] for a in rise_each], axis=0)
    spread = np.std([a.values for a in rise_each], axis=0, ddof=1) / 2
    np.testing.assert_allclose(rise.extras["standard_error"], np.sqrt(spread**2 + own**2), atol=1e-12)
    assert len(rise.settings["relative_standard_error"]) == 3


def test_a_large_background_set_is_sampled(linear):
    w, model = linear
    rng = np.random.default_rng(5)
    x, refs = rng.standard_normal((1, 2, T)), rng.standard_normal((40, 2, T))
    bg = cdig.References(torch.tensor(refs))
    att = cdig.perturb.attribute(model, torch.tensor(x), "time", method="occlusion", baselines=bg)
    dist = att.settings["distribution"]
    assert dist["n_references"] == 40 and att.n_steps[0] == 32 * (2 * T + 2)  # 32 of the 40, each G + 2 calls
    assert np.isfinite(att.extras["standard_error"]).all()
