"""Hugging Face time-series models, built from their configs (no download), explained as users call them.

PatchTST (classification and prediction) returns a ``ModelOutput``, has BatchNorm (``norm_type="batchnorm"``)
and dropout, and is in training mode after construction; TimeSeriesTransformerForPrediction takes
keyword arguments (``past_time_features``, ``past_observed_mask``, ``future_values``...) and returns
distribution parameters. References: Captum's IntegratedGradients on the eval-mode model.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import cdig

transformers = pytest.importorskip("transformers")
pytest.importorskip("captum")  # the reference

B = sys.modules["_cdig_tests_model_builders"]  # tests/models/_builders.py, loaded by conftest.py

N, T, C = 3, 32, 3
AUTO = dict(n_steps="auto", max_steps=400)


def patchtst_config() -> "transformers.PatchTSTConfig":
    return B.patchtst_config(C, T)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    t = torch.arange(T, dtype=torch.float32)
    return torch.sin(2 * torch.pi * t / 8)[None, :, None] + 0.5 * torch.randn(N, T, C, generator=g)


def classifier(x: torch.Tensor) -> torch.nn.Module:
    """A PatchTSTForClassification in training mode, with BatchNorm statistics of ``x`` (as after training)."""
    torch.manual_seed(0)
    model = transformers.PatchTSTForClassification(patchtst_config())
    assert model.training  # as Hugging Face builds it
    return B.warm_up(model, x)


def captum_logits(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    model.eval()
    try:
        return B.captum_time_ig(lambda v: model(past_values=v).prediction_logits, x, target=target)
    finally:
        model.train()


def test_patchtst_classifier_passed_as_it_is(x):
    """The module itself, in training mode, returning a ModelOutput: explained in eval mode and put back."""
    model = classifier(x)
    before = B.state_snapshot(model)
    with pytest.warns(cdig.CdigWarning, match="training mode"):
        maps = cdig.explain(model, x, ("time", "fourier"), time_axis=1, target=1, **AUTO)
    B.assert_state_equal(model, before)
    for a in maps.values():
        B.assert_complete(a)
        assert a.settings["output_selected"].startswith("prediction_logits")
    time_map = maps["time"].values  # (N, C, T): channels first, whatever the input's layout
    assert time_map.shape == (N, C, T)
    ref = np.moveaxis(captum_logits(model, x, 1), 1, 2)
    assert B.relative_l2(time_map, ref) < 2e-3
    np.testing.assert_allclose(maps["fourier"].sum(), maps["time"].sum(), rtol=1e-3, atol=1e-4)


def test_patchtst_output_key_and_captum_layout(x):
    """``output="prediction_logits"`` is recorded; CrossDomainIG returns the input's own layout (N, T, C)."""
    model = classifier(x).eval()
    a = cdig.explain(model, x, "time", time_axis=1, target=0, output="prediction_logits", **AUTO)["time"]
    assert a.settings["output"] == "prediction_logits"
    B.assert_complete(a)
    ig = cdig.CrossDomainIG(model, "time", time_axis=1, output="prediction_logits")
    attr, delta = ig.attribute(x, target=0, n_steps=64, return_convergence_delta=True)
    assert isinstance(attr, torch.Tensor) and attr.shape == x.shape and delta.shape == (N,)
    ref = B.captum_time_ig(lambda v: model(past_values=v).prediction_logits, x, target=0)
    assert B.relative_l2(attr.numpy(), ref) < 2e-3


@pytest.mark.filterwarnings("ignore::cdig.ConvergenceWarning")  # 4 steps: only the warning matters here
def test_channels_last_without_time_axis_warns(x):
    model = classifier(x).eval()
    with pytest.warns(cdig.CdigWarning, match="time_axis"):
        cdig.explain(model, x, "time", target=1, n_steps=4)


def test_training_mode_behind_a_function_is_refused_and_the_model_untouched(x):
    """BatchNorm in training mode normalises across the path points: refused, nothing of the model changed."""
    model = classifier(x)
    before = B.state_snapshot(model)
    with pytest.raises(cdig.CdigModelError, match=r"(?s)training mode.*BatchNorm.*\.eval\(\)"):
        cdig.explain(lambda v: model(past_values=v).prediction_logits, x, ("time", "fourier"), time_axis=1, target=1, **AUTO)
    B.assert_state_equal(model, before)
    assert model.training


def test_patchtst_forecaster_horizon_and_channel(x):
    """PatchTSTForPrediction: ``prediction_outputs`` (N, horizon, channel), one (horizon, channel) explained."""
    torch.manual_seed(0)
    model = B.warm_up(transformers.PatchTSTForPrediction(patchtst_config()), x).eval()
    maps = cdig.explain(model, x, ("time", "fourier"), time_axis=1, target=(3, 1), **AUTO)
    for a in maps.values():
        B.assert_complete(a)
        assert a.settings["output_selected"].startswith("prediction_outputs")
    with torch.no_grad():
        expected = model(past_values=x).prediction_outputs[:, 3, 1].numpy()
    np.testing.assert_allclose(maps["time"].output, expected, rtol=1e-5, atol=1e-6)
    ref = B.captum_time_ig(lambda v: model(past_values=v).prediction_outputs[:, 3, 1], x)
    assert B.relative_l2(maps["time"].values, np.moveaxis(ref, 1, 2)) < 2e-3


def test_time_series_transformer_keyword_arguments():
    """TimeSeriesTransformerForPrediction: keyword arguments split with the batch, a callable ``output``."""
    cfg = B.time_series_transformer_config()
    torch.manual_seed(0)
    model = transformers.TimeSeriesTransformerForPrediction(cfg).eval()
    g = torch.Generator().manual_seed(2)
    n, past = 2, 18  # context_length + the largest lag
    t = torch.arange(past + 4, dtype=torch.float32)
    series = 2.0 + torch.sin(2 * torch.pi * t / 6) + 0.3 * torch.randn(n, past + 4, generator=g)
    x = series[:, :past]
    # the model divides the series by its mean absolute value and feeds log(scale) to the network: along
    # a path from the zero signal that term diverges like log(alpha). The baseline is the series' mean
    # level (a flat series), where the scale stays positive along the whole path.
    x0 = x.mean(1, keepdim=True).expand_as(x)
    kw = {
        "past_time_features": (t[:past] / past).expand(n, past)[..., None].contiguous(),
        "past_observed_mask": torch.ones(n, past),
        "future_time_features": (t[past:] / past).expand(n, 4)[..., None].contiguous(),
        "future_values": series[:, past:],
    }
    loc = lambda out: out.params[1]  # the Student-t location per horizon step, (N, 4)
    maps = cdig.explain(model, x, ("time", "fourier"), target=0, baselines=x0, additional_forward_args=kw, output=loc, **AUTO)
    for a in maps.values():
        B.assert_complete(a)
    with torch.no_grad():
        expected = model(past_values=x, **kw).params[1][:, 0].numpy()
    np.testing.assert_allclose(maps["time"].output, expected, rtol=1e-5, atol=1e-6)
    names = list(kw)

    def forward(v, *extra):
        return model(past_values=v, **dict(zip(names, extra))).params[1]

    ref = B.captum_time_ig(forward, x, target=0, baseline=x0, additional_forward_args=tuple(kw.values()))
    assert B.relative_l2(maps["time"].values, ref) < 2e-3

    # positional and keyword arguments together: a tuple ending in a dict (forward's order: past_values,
    # past_time_features, past_observed_mask, ...)
    mixed = (kw["past_time_features"], kw["past_observed_mask"], {k: kw[k] for k in names[2:]})
    fixed = dict(target=0, baselines=x0, output=loc, n_steps=16)
    a = cdig.explain(model, x, "time", additional_forward_args=mixed, **fixed)["time"]
    b = cdig.explain(model, x, "time", additional_forward_args=kw, **fixed)["time"]
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-9)


def test_structured_outputs_name_their_fields():
    """A ModelOutput whose first field is a scalar loss: the error lists the fields and asks for ``output=``."""
    torch.manual_seed(0)
    model = transformers.PatchTSTForPrediction(patchtst_config()).eval()
    x = torch.randn(2, T, C)
    future = torch.randn(2, 4, C)
    with pytest.raises(cdig.CdigModelError, match=r"(?s)'loss'.*prediction_outputs.*output="):
        cdig.explain(model, x, "time", time_axis=1, target=(0, 0), additional_forward_args={"future_values": future}, n_steps=4)


def test_patchtst_in_double_precision_meets_rtol(x):
    """In float32 the classifier's map (whose values sum to ~300x the output change) carries float32
    round-off above rtol=1e-3, which cdig's stop rule counts as its floor; in float64 the same model meets
    rtol with no allowance."""
    model = classifier(x).eval().double()
    maps = cdig.explain(model, x.double(), ("time", "fourier"), time_axis=1, target=1, n_steps="auto")
    for a in maps.values():
        B.assert_complete(a, float32=False)
        assert np.all(np.abs(a.delta) <= 1e-3 * np.abs(a.output - a.baseline_output))
