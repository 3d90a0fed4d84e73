"""The time domain: classic Integrated Gradients, checked against closed forms and Captum."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.core.rules import RULES
from cdig.testing import requires_captum

N, C, T = 4, 2, 48


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("n_steps", [2, 5])
def test_linear_model_exact_for_every_rule(rng, models, method, n_steps):
    w = rng.normal(size=(C, T))
    x, x0 = rng.normal(size=(N, C, T)), rng.normal(size=(N, C, T))
    model = models.Linear(w, 0.3).eval()
    a = cdig.explain(model, torch.as_tensor(x), "time", baselines=x0, n_steps=n_steps, method=method)["time"]
    np.testing.assert_allclose(a.values, w * (x - x0), rtol=0, atol=1e-13)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-12)
    np.testing.assert_allclose(a.output, (w * x).sum((1, 2)) + 0.3, atol=1e-12)
    np.testing.assert_allclose(a.baseline_output, (w * x0).sum((1, 2)) + 0.3, atol=1e-12)
    assert a.dims == ("channel", "time")
    assert a.values.dtype == np.float64


def test_multiply_by_inputs_false_gives_the_gradient(rng, models):
    w = rng.normal(size=(C, T))
    x = rng.normal(size=(N, C, T))
    model = models.Linear(w, 0.0).eval()
    res = cdig.explain(model, torch.as_tensor(x), "time", n_steps=3, multiply_by_inputs=False)["time"]
    np.testing.assert_allclose(res.values, np.broadcast_to(w, x.shape), rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.delta, 0.0, atol=1e-12)  # delta still refers to the attributions


# --- Captum parity ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def captum_case():
    """A nonlinear (ReLU + tanh) conv classifier, a batch, a random baseline; float32 like Captum's users."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(C, 4, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.Conv1d(4, 4, 3),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * (T - 2), 3),
    ).eval()
    x = torch.randn(N, C, T)
    x0 = 0.1 * torch.randn(N, C, T)
    return model, x, x0


@pytest.mark.parametrize("method", ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"])
@pytest.mark.parametrize("n_steps", [2, 7, 24])
@pytest.mark.parametrize(
    "target, internal_batch_size", [(0, None), ([2, 0, 1, 2], 3), (1, 5)], ids=["int-nobatch", "per-sample-batch3", "int-batch5"]
)
@requires_captum
def test_equals_captum(captum_case, method, n_steps, target, internal_batch_size):
    from captum.attr import IntegratedGradients

    model, x, x0 = captum_case
    ref = IntegratedGradients(model).attribute(x, x0, target=target, n_steps=n_steps, method=method)
    ref = ref.numpy().astype(np.float64)
    if method == "riemann_trapezoid":
        ref *= n_steps / (n_steps - 1)  # Captum's trapezoid weights sum to (n-1)/n, cdig's to one
    ig = cdig.CrossDomainIG(model, "time")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)  # few steps on a ReLU net: not the point here
        ours = ig.attribute(x, x0, target=target, n_steps=n_steps, method=method, internal_batch_size=internal_batch_size)
    assert isinstance(ours, torch.Tensor) and ours.shape == x.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6 * np.abs(ref).max())


@requires_captum
def test_equals_captum_without_multiplying(captum_case):
    from captum.attr import IntegratedGradients

    model, x, x0 = captum_case
    ref = (
        IntegratedGradients(model, multiply_by_inputs=False)
        .attribute(x, x0, target=1, n_steps=16, method="gausslegendre")
        .numpy()
    )
    ig = cdig.CrossDomainIG(model, "time", multiply_by_inputs=False)
    assert not ig.multiplies_by_inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        ours, delta = ig.attribute(x, x0, target=1, n_steps=16, return_convergence_delta=True)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    # delta refers to the attributions (integrated gradients times x - x0)
    change = ig.attribution_.output - ig.attribution_.baseline_output
    np.testing.assert_allclose(delta.numpy(), (ref * (x - x0).numpy()).sum((1, 2)) - change, atol=1e-5)


@requires_captum
def test_captum_delta_agrees(captum_case):
    from captum.attr import IntegratedGradients

    model, x, x0 = captum_case
    _, ref_delta = IntegratedGradients(model).attribute(
        x, x0, target=2, n_steps=32, method="gausslegendre", return_convergence_delta=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        _, delta = cdig.CrossDomainIG(model).attribute(x, x0, target=2, n_steps=32, return_convergence_delta=True)
    np.testing.assert_allclose(delta.numpy(), ref_delta.numpy(), rtol=0, atol=2e-5)


# --- completeness -----------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
@pytest.mark.parametrize("n_steps", [64, "auto"])
def test_completeness_smooth_model(models, act, n_steps):
    model = models.conv_net(channels=C, length=T, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    a = cdig.explain(model, x, "time", target=[0, 1, 2, 0], n_steps=n_steps)["time"]
    assert np.all(a.relative_delta < 1e-3)
    # independent check of the outputs the deltas refer to
    with torch.no_grad():
        y = model(x).numpy()
    np.testing.assert_allclose(a.output, y[np.arange(N), [0, 1, 2, 0]], rtol=1e-12)
    np.testing.assert_allclose(a.sum(), a.output - a.baseline_output + a.delta, atol=1e-12)


# --- coordinates ------------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [None, 250.0, 16])
def test_time_coordinates(models, fs):
    model = models.conv_net(channels=C, length=T, n_out=3)
    a = cdig.explain(model, torch.randn(2, C, T), "time", target=0, n_steps=4, fs=fs)["time"]
    np.testing.assert_array_equal(a.coords["channel"], np.arange(C))
    if fs is None:
        np.testing.assert_array_equal(a.coords["time"], np.arange(T))
        assert a.units["time"] == "sample"
    else:
        np.testing.assert_allclose(a.coords["time"], np.arange(T) / fs)
        assert a.units["time"] == "s"
        assert a.settings["fs"] == fs
