"""The Quantus adapter: exact coefficient-space maps, and real Quantus metrics running on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.metrics.quantus import coefficient_space

quantus = pytest.importorskip("quantus")


@pytest.fixture
def net(models):
    return models.conv_net(channels=2, length=64, n_out=3, dtype=torch.float64)


@pytest.mark.parametrize("domain", ["fourier", "dct", "time"])
def test_a_batch_is_the_cross_domain_map_split_into_real_parts(net, domain):
    x = torch.randn(5, 2, 64, dtype=torch.float64)
    att = cdig.explain(net, x, domain, target=1, n_steps=24)[domain]
    q = coefficient_space(net, x, att)
    np.testing.assert_allclose(q.merge(q.a_batch), att.values, rtol=1e-7, atol=1e-9)
    # the coefficient model is the model: same outputs at the input's coefficients
    out = q.model(torch.as_tensor(q.x_batch)).detach().numpy()[:, 1]
    np.testing.assert_allclose(out, att.output, rtol=1e-9)
    assert q.complex_coefficients == (domain == "fourier")


def test_quantus_metrics_run_in_the_fourier_domain(net):
    x = torch.randn(6, 2, 64, dtype=torch.float64)
    att = cdig.explain(net, x, "fourier", target=0, n_steps=16)["fourier"]
    q = coefficient_space(net, x, att)
    faith = quantus.FaithfulnessCorrelation(nr_runs=5, subset_size=8, perturb_baseline="black", return_aggregate=False,
                                            disable_warnings=True, display_progressbar=False)(**q.kwargs())
    assert len(faith) == 6 and np.all(np.isfinite(faith))
    sens = quantus.MaxSensitivity(nr_samples=2, lower_bound=0.01, return_aggregate=False, disable_warnings=True,
                                  display_progressbar=False)(**q.kwargs())
    assert len(sens) == 6 and np.all(np.isfinite(sens))


def test_adapter_refuses_what_it_cannot_do(net, fitted_ica):
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    att = cdig.explain(net, x, cdig.FrequencyBands(fs=64.0), target=0, n_steps=8)["bands"]
    with pytest.raises(cdig.CdigValueError, match="merges coefficients"):
        coefficient_space(net, x, att)
    keras = pytest.importorskip("keras")
    m = keras.Sequential([keras.Input((16, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    xk = np.random.default_rng(0).normal(size=(2, 16, 1)).astype("float32")
    with pytest.raises(cdig.CdigTypeError, match="PyTorch"):
        coefficient_space(m, xk, cdig.explain(m, xk, "time", target=0, n_steps=4)["time"])
