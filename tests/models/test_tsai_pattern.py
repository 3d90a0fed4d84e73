"""tsai-style models: TSTPlus (in-place masking of its input, BatchNorm and dropout) and InceptionTime.

tsai 1.0.1 does not install beside torch 2.13 CPU (it pins scikit-learn<1.8 and pulls in fastai's
torchvision, a CUDA build that does not load here), so both are rebuilt from tsai's source in
``_builders.py``. References: Captum's IntegratedGradients on the eval-mode model (TSTPlus behind
``v.clone()``: Captum's own path points are leaves, on which the in-place masking fails).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import cdig

pytest.importorskip("captum")  # the reference

B = sys.modules["_cdig_tests_model_builders"]  # tests/models/_builders.py, loaded by conftest.py

N, C, T = 3, 3, 24
AUTO = dict(n_steps="auto", max_steps=400)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(T) / T
    return torch.sin(2 * torch.pi * 3 * t)[None, None] + 0.5 * torch.randn(N, C, T, generator=g)


def tst(x: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    return B.warm_up(B.TSTPlus(C, 2, T, n_layers=2, d_model=16, n_heads=2, d_ff=32, dropout=0.1), x)


def test_tstplus_module_with_in_place_masking(x):
    """Passed as it is, in training mode: explained in eval mode, its in-place ``x[mask] = 0`` works."""
    model = tst(x)
    before = B.state_snapshot(model)
    with pytest.warns(cdig.CdigWarning, match="training mode"):
        maps = cdig.explain(model, x, ("time", "fourier"), target=1, **AUTO)
    B.assert_state_equal(model, before)
    for a in maps.values():
        B.assert_complete(a)
    model.eval()
    with pytest.raises(RuntimeError, match="leaf Variable"):  # what Captum meets on this model
        B.captum_time_ig(model, x, target=1, n_steps=4)
    ref = B.captum_time_ig(lambda v: model(v.clone()), x, target=1)
    assert B.relative_l2(maps["time"].values, ref) < 2e-3
    # behind a function, in eval mode: the same map
    again = cdig.explain(lambda v: model(v), x, "time", target=1, **AUTO)["time"]
    np.testing.assert_allclose(again.values, maps["time"].values, rtol=1e-5, atol=1e-7)


def test_tstplus_in_training_mode_behind_a_function_is_refused(x):
    model = tst(x)
    before = B.state_snapshot(model)
    with pytest.raises(cdig.CdigModelError, match=r"(?s)training mode.*BatchNorm1d, Dropout.*\.eval\(\)"):
        cdig.explain(lambda v: model(v), x, ("time", "fourier"), target=1, **AUTO)
    B.assert_state_equal(model, before)


def test_inception_time(x):
    torch.manual_seed(0)
    model = B.warm_up(B.InceptionTime(C, 2, T, nf=4, depth=3, ks=8), x).eval()
    maps = cdig.explain(model, x, ("time", "fourier"), target=0, **AUTO)
    for a in maps.values():
        B.assert_complete(a)
    ref = B.captum_time_ig(model, x, target=0, n_steps=2048, method="riemann_trapezoid")  # ReLU, max-pooling: kinks
    assert B.relative_l2(maps["time"].values, ref) < 3e-3
