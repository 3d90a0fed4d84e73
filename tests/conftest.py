"""Fixtures over the shared test models and references of :mod:`cdig.testing`.

Test modules import what they need by name (``from cdig.testing import LinearModel, requires_jax``);
the fixtures below hand out the same objects for the tests written before ``cdig.testing`` existed.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cdig import testing

# Ray (tests/dataset/test_ray.py) must not report usage statistics: no traffic leaves the machine.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models: intra-op threads only add overhead (10x and more on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def models() -> SimpleNamespace:
    """The model classes and factories of :mod:`cdig.testing`."""
    return SimpleNamespace(
        Linear=testing.LinearModel,
        ConvNet=testing.ConvNet,
        conv_net=testing.make_conv_net,
        ScalarHead=testing.ScalarHead,
        BandEnergy=testing.BandEnergy,
        FourierBandEnergy=testing.FourierBandEnergy,
        CallCounter=testing.CallCounter,
        ChannelsLast=testing.ChannelsLast,
        LinearForecaster=testing.LinearForecaster,
    )


@pytest.fixture(scope="session")
def foreign_linear():
    """``foreign_linear(framework, w, x) -> (f, x_in)``: ``f(v) = Σ v·wᵀ`` per sample in JAX or TensorFlow
    (channels last: ``w`` is ``(C, T)``, ``x`` is ``(N, T, C)``), and ``x`` as that framework's array."""
    return testing.foreign_linear


@pytest.fixture(scope="session")
def closed() -> SimpleNamespace:
    """Closed-form references: rfft bin weights, Fourier gradient and maps, ICA maps of linear models."""
    return SimpleNamespace(
        rfft_weights=testing.rfft_weights,
        fourier_gradient=testing.fourier_gradient,
        fourier_linear_map=testing.fourier_linear_map,
        ica_linear_map=testing.ica_linear_map,
    )


@pytest.fixture(scope="session")
def fitted_ica():
    """A FastICA fitted on 3 mixed Laplacian channels (float64, nonzero means)."""
    return testing.fit_ica(3, seed=1)


@pytest.fixture(scope="session")
def fit_ica():
    """``fit_ica(n_channels, seed, n_components=None)``: a fresh fitted FastICA."""
    return testing.fit_ica
