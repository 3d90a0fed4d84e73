"""Cross-cutting behaviour of cdig.explain / CrossDomainIG: one pass for linear domains, determinism,
batching, baselines, layouts, input types, extra arguments, the adaptive rule and its warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig

N, C, T = 4, 3, 32
ALL = ("time", "fourier", "ica")


def _domains(ica):
    return ["time", "fourier", cdig.ICA(ica)]


@pytest.fixture
def smooth(models):
    """A smooth float32 conv net with 3 outputs and a batch."""
    return models.conv_net(channels=C, length=T, n_out=3, act="gelu"), torch.randn(N, C, T)


# --- completeness in every domain at once -----------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "gelu", "softplus"])
@pytest.mark.parametrize("n_steps", [64, "auto"])
def test_completeness_every_domain(models, fitted_ica, act, n_steps):
    model = models.conv_net(channels=C, length=T, n_out=3, act=act)
    x = torch.randn(N, C, T)
    res = cdig.explain(model, x, _domains(fitted_ica), target=[0, 1, 2, 0], n_steps=n_steps)
    assert list(res) == list(ALL)
    for name, a in res.items():
        assert np.all(a.relative_delta < 1e-3), (name, a.relative_delta)
        assert a.delta.shape == a.output.shape == a.baseline_output.shape == a.n_steps.shape == (N,)


# --- the linear domains share one batched pass ----------------------------------------------------


@pytest.mark.parametrize("n_steps", [10, "auto"])
@pytest.mark.parametrize("baseline", ["zeros", "random"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("ica", ["fitted", "batch"])
@pytest.mark.filterwarnings("ignore:FastICA did not converge:cdig.core.errors.ConvergenceWarning")  # random data
def test_linear_domains_share_one_pass(models, fitted_ica, n_steps, baseline, dtype, ica):
    """time + fourier + ica: the model sees exactly the rows of the time domain alone (one batched path)."""
    net = models.conv_net(channels=C, length=T, n_out=3, act="tanh", dtype=dtype)
    counter = models.CallCounter(net).eval()
    x = torch.randn(N, C, T, dtype=dtype)
    x0 = None if baseline == "zeros" else 0.1 * torch.randn(N, C, T, dtype=dtype)
    one = cdig.explain(counter, x, "time", target=1, baselines=x0, n_steps=n_steps)["time"]
    alone = (counter.calls, counter.rows)
    counter.reset()
    doms = ["time", "fourier", cdig.ICA(fitted_ica) if ica == "fitted" else "ica"]
    res = cdig.explain(counter, x, doms, target=1, baselines=x0, n_steps=n_steps)
    assert (counter.calls, counter.rows) == alone
    if n_steps == 10:
        # f(x), f(x0), the batch-independence check (one chunk mixing x and x0), one batched path
        assert alone == (4, 2 * N + N + N * 10)
    np.testing.assert_array_equal(res["time"].values, one.values)
    for a in res.values():
        np.testing.assert_array_equal(a.n_steps, one.n_steps)


def test_model_rows_per_call_bounded_by_internal_batch_size(models):
    counter = models.CallCounter(models.conv_net(channels=C, length=T, n_out=3)).eval()
    sizes = []
    orig = counter.forward

    def forward(x, *args):
        sizes.append(x.shape[0])
        return orig(x, *args)

    counter.forward = forward
    cdig.explain(counter, torch.randn(N, C, T), ["time", "fourier"], target=0, n_steps=9, internal_batch_size=5)
    assert max(sizes) <= 5
    assert sum(sizes) == 2 * N + min(N, 5) + N * 9  # f(x), f(x0), the batch-independence check (one chunk), the path


# --- determinism and batching ---------------------------------------------------------------------


@pytest.mark.parametrize("n_steps", [24, "auto"])
def test_deterministic(smooth, fitted_ica, n_steps):
    model, x = smooth
    a = cdig.explain(model, x, _domains(fitted_ica), target=2, n_steps=n_steps)
    b = cdig.explain(model, x, _domains(fitted_ica), target=2, n_steps=n_steps)
    for name in a:
        np.testing.assert_array_equal(a[name].values, b[name].values)
        np.testing.assert_array_equal(a[name].delta, b[name].delta)
        np.testing.assert_array_equal(a[name].n_steps, b[name].n_steps)


@pytest.mark.parametrize("n_steps", [12, "auto"])
def test_internal_batch_size_only_changes_round_off(smooth, fitted_ica, n_steps):
    model, x = smooth
    ref = cdig.explain(model, x, _domains(fitted_ica), target=[2, 1, 0, 2], n_steps=n_steps)
    for ibs in (1, 7, 1000):
        res = cdig.explain(model, x, _domains(fitted_ica), target=[2, 1, 0, 2], n_steps=n_steps, internal_batch_size=ibs)
        for name in ref:
            scale = np.abs(ref[name].values).max()
            np.testing.assert_allclose(res[name].values, ref[name].values, rtol=0, atol=2e-6 * scale)
            np.testing.assert_allclose(res[name].delta, ref[name].delta, rtol=0, atol=2e-6 * scale)
            np.testing.assert_array_equal(res[name].n_steps, ref[name].n_steps)
            assert res[name].settings["internal_batch_size"] == ibs


# --- baselines -------------------------------------------------------------------------------------


def test_baseline_forms_agree(smooth, fitted_ica):
    model, x = smooth
    kw = dict(target=1, n_steps=8)
    zeros = cdig.explain(model, x, _domains(fitted_ica), baselines=torch.zeros_like(x), **kw)
    for b in (None, 0.0, 0, np.zeros((1, C, 1))):
        res = cdig.explain(model, x, _domains(fitted_ica), baselines=b, **kw)
        for name in ALL:
            np.testing.assert_allclose(res[name].values, zeros[name].values, rtol=0, atol=1e-7)
    full = np.broadcast_to(np.array([0.5, -1.0, 2.0], dtype=np.float32)[None, :, None], x.shape)
    ref = cdig.explain(model, x, _domains(fitted_ica), baselines=np.ascontiguousarray(full), **kw)
    for b in (np.array([0.5, -1.0, 2.0])[:, None], np.array([[[0.5], [-1.0], [2.0]]]), torch.tensor([[[0.5], [-1.0], [2.0]]])):
        res = cdig.explain(model, x, _domains(fitted_ica), baselines=b, **kw)
        for name in ALL:
            np.testing.assert_allclose(res[name].values, ref[name].values, rtol=0, atol=1e-7)
    scalar = cdig.explain(model, x, "time", baselines=0.25, **kw)["time"]
    full = cdig.explain(model, x, "time", baselines=torch.full_like(x, 0.25), **kw)["time"]
    np.testing.assert_array_equal(scalar.values, full.values)
    with torch.no_grad():
        np.testing.assert_allclose(scalar.baseline_output, model(torch.full_like(x, 0.25))[:, 1].numpy(), rtol=1e-6)


def test_time_domain_baseline_by_name(smooth):
    model, x = smooth
    x0 = torch.randn_like(x)
    a = cdig.explain(model, x, ["time", "fourier"], baselines={"time": x0}, target=0, n_steps=8)
    b = cdig.explain(model, x, "time", baselines=x0, target=0, n_steps=8)["time"]
    np.testing.assert_allclose(a["time"].values, b.values, rtol=0, atol=1e-7)
    zero = cdig.explain(model, x, "fourier", target=0, n_steps=8)["fourier"]
    np.testing.assert_allclose(a["fourier"].values, zero.values, rtol=0, atol=1e-7)  # unnamed: zeros


# --- layouts --------------------------------------------------------------------------------------


def test_univariate_inputs_drop_the_channel_axis(rng, models, closed, fitted_ica):
    w = rng.normal(size=T)
    x = rng.normal(size=(N, T))
    model = models.Linear(w, 0.0).eval()
    res = cdig.explain(model, torch.as_tensor(x), ALL, n_steps=2)
    assert res["time"].values.shape == (N, T) and res["time"].dims == ("time",)
    assert res["fourier"].values.shape == (N, T // 2 + 1) and res["fourier"].dims == ("frequency",)
    assert res["ica"].values.shape == (N, 1) and res["ica"].dims == ("component",)
    assert "channel" not in res["time"].coords and "channel" not in res["fourier"].coords
    np.testing.assert_allclose(res["time"].values, w * x, atol=1e-13)
    np.testing.assert_allclose(res["fourier"].values, closed.fourier_linear_map(x, 0 * x, w), atol=1e-13)
    np.testing.assert_allclose(res["ica"].values[:, 0], (w * x).sum(1), atol=1e-12)
    assert res["ica"].extras["per_time"].shape == (N, 1, T)


@pytest.mark.parametrize("time_axis", [1, -2])
def test_channels_last_equals_channels_first(models, fitted_ica, time_axis):
    net = models.conv_net(channels=C, length=T, n_out=3, act="tanh")
    x = torch.randn(N, C, T)
    a = cdig.explain(net, x, _domains(fitted_ica), target=2, n_steps=10, fs=64.0)
    b = cdig.explain(
        models.ChannelsLast(net).eval(),
        x.transpose(1, 2).contiguous(),
        _domains(fitted_ica),
        target=2,
        n_steps=10,
        fs=64.0,
        time_axis=time_axis,
    )
    for name in ALL:
        assert b[name].values.shape == a[name].values.shape  # maps are (N, C, ...) whatever the layout
        np.testing.assert_allclose(b[name].values, a[name].values, rtol=0, atol=1e-7)
        assert b[name].dims == a[name].dims
        assert b[name].settings["time_axis"] == 1 and a[name].settings["time_axis"] == 2
        for k in a[name].coords:
            np.testing.assert_array_equal(a[name].coords[k], b[name].coords[k])


# --- input and output types -------------------------------------------------------------------------


def test_numpy_input_is_cast_to_the_models_dtype(models):
    for dtype, np_dtype in ((torch.float32, np.float64), (torch.float64, np.float32), (torch.float32, np.float16)):
        model = models.conv_net(channels=C, length=T, n_out=3, dtype=dtype)
        x = np.random.default_rng(0).normal(size=(N, C, T)).astype(np_dtype)
        a = cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=8)
        expected = np.float32 if dtype == torch.float32 else np.float64
        assert a["time"].values.dtype == expected
        with torch.no_grad():
            y = model(torch.as_tensor(x).to(dtype))[:, 0].numpy()
        np.testing.assert_allclose(a["time"].output, y, rtol=1e-6)


def test_float64_model(models):
    model = models.conv_net(channels=C, length=T, n_out=3, dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    a = cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=32)
    assert a["time"].values.dtype == np.float64
    assert a["fourier"].coefficients.dtype == np.complex128
    assert np.all(a["fourier"].relative_delta < 1e-6)


def test_plain_function_model(rng):
    w = torch.as_tensor(rng.normal(size=(C, T)))

    def model(x):
        return torch.tanh((x * w).sum((1, 2)))

    x = torch.as_tensor(rng.normal(size=(N, C, T)))
    a = cdig.explain(model, x, "time", n_steps=32)["time"]
    assert np.all(a.relative_delta < 1e-6)


@pytest.mark.parametrize("domain", ALL)
def test_crossdomainig_return_types(models, fitted_ica, domain):
    model = models.conv_net(channels=C, length=T, n_out=3)
    dom = cdig.ICA(fitted_ica) if domain == "ica" else domain
    x = torch.randn(N, C, T)
    ig = cdig.CrossDomainIG(model, dom)
    assert ig.has_convergence_delta() and ig.multiplies_by_inputs
    attr, delta = ig.attribute(x, target=1, n_steps=16, return_convergence_delta=True)
    assert isinstance(attr, torch.Tensor) and isinstance(delta, torch.Tensor)
    assert not attr.requires_grad and attr.grad_fn is None
    np.testing.assert_array_equal(attr.numpy(), ig.attribution_.values)
    np.testing.assert_array_equal(delta.numpy(), ig.attribution_.delta)
    attr_np, delta_np = ig.attribute(x.numpy(), target=1, n_steps=16, return_convergence_delta=True)
    assert isinstance(attr_np, np.ndarray) and isinstance(delta_np, np.ndarray)
    np.testing.assert_allclose(attr_np, attr.numpy(), rtol=0, atol=1e-7)
    only = ig.attribute(x, target=1, n_steps=16)
    assert isinstance(only, torch.Tensor)
    # without multiplying: the integrated gradients, and the delta still of the attributions
    g, delta_g = cdig.CrossDomainIG(model, dom, multiply_by_inputs=False).attribute(
        x, target=1, n_steps=16, return_convergence_delta=True
    )
    np.testing.assert_allclose(delta_g.numpy(), delta.numpy(), rtol=0, atol=1e-7)
    assert g.is_complex() == (domain == "fourier")


def test_multiply_by_inputs_false_keeps_the_attributions_delta(smooth, fitted_ica):
    model, x = smooth
    a = cdig.explain(model, x, _domains(fitted_ica), target=0, n_steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        g = cdig.explain(model, x, _domains(fitted_ica), target=0, n_steps=3, multiply_by_inputs=False)
    for name in ALL:
        np.testing.assert_array_equal(a[name].delta, g[name].delta)
        assert g[name].settings["multiply_by_inputs"] is False
    # time: gradient times (x - 0) gives back the attributions
    np.testing.assert_allclose(g["time"].values * x.numpy(), a["time"].values, rtol=0, atol=1e-7)
    # fourier: Re[Δz conj(G)]
    dz = a["fourier"].coefficients - a["fourier"].baseline_coefficients
    np.testing.assert_allclose(np.real(dz * np.conj(g["fourier"].values)), a["fourier"].values, rtol=0, atol=1e-7)


def test_input_requiring_grad_is_left_alone(smooth):
    model, x = smooth
    x = x.clone().requires_grad_(True)
    a = cdig.explain(model, x, "time", target=0, n_steps=4)["time"]
    assert x.grad is None and x.requires_grad
    assert isinstance(a.values, np.ndarray)


# --- additional_forward_args ----------------------------------------------------------------------


class _Scaled(torch.nn.Module):
    """``scale[n] * <w, x[n]> + <offset, v[n]> + shift`` — checks that per-sample arguments follow their sample."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w))

    def forward(self, x, scale, v, shift, tag):
        assert tag == "tag"
        assert v.shape[1:] == (5,)
        return scale * (x * self.w).sum((1, 2)) + v.sum(1) + shift


@pytest.mark.parametrize("as_numpy", [False, True])
@pytest.mark.parametrize("ibs", [None, 3])
def test_additional_forward_args(rng, as_numpy, ibs):
    w = rng.normal(size=(C, T))
    x = torch.as_tensor(rng.normal(size=(N, C, T)))
    scale = rng.normal(size=N)
    v = rng.normal(size=(N, 5))
    args = (scale, v, 1.5, "tag") if as_numpy else (torch.as_tensor(scale), torch.as_tensor(v), 1.5, "tag")
    a = cdig.explain(_Scaled(w).eval(), x, ["time", "fourier"], additional_forward_args=args, n_steps=2, internal_batch_size=ibs)
    np.testing.assert_allclose(a["time"].values, scale[:, None, None] * w * x.numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(a["time"].output, scale * (w * x.numpy()).sum((1, 2)) + v.sum(1) + 1.5, atol=1e-12)
    np.testing.assert_allclose(a["fourier"].delta, 0.0, atol=1e-12)


def test_additional_forward_arg_without_batch_axis_passes_through(rng):
    w = rng.normal(size=(C, T))
    bias = torch.as_tensor(rng.normal(size=7))  # 7 != N: not split

    class Model(torch.nn.Module):
        def forward(self, x, b):
            assert b.shape == (7,)
            return (x * torch.as_tensor(w)).sum((1, 2)) + b.sum()

    x = torch.as_tensor(rng.normal(size=(N, C, T)))
    a = cdig.explain(Model(), x, "time", additional_forward_args=bias, n_steps=2, internal_batch_size=3)["time"]
    np.testing.assert_allclose(a.values, w * x.numpy(), atol=1e-13)
    np.testing.assert_allclose(a.baseline_output, float(bias.sum()), atol=1e-13)


# --- n_steps="auto" and the convergence warnings -------------------------------------------------------


def test_auto_reaches_rtol_with_few_steps(models, fitted_ica):
    model = models.conv_net(channels=C, length=T, n_out=3, act="tanh", dtype=torch.float64)
    x = torch.randn(N, C, T, dtype=torch.float64)
    res = cdig.explain(model, x, _domains(fitted_ica), target=0, n_steps="auto", rtol=1e-4)
    for a in res.values():
        assert a.n_steps.shape == (N,) and a.n_steps.dtype.kind in "iu"
        assert np.all(a.n_steps >= 15) and np.all(a.n_steps <= 64)  # a smooth path needs a few intervals
        assert np.all(a.relative_delta <= 1e-4)
        assert a.settings["n_steps"] == "auto" and a.settings["rtol"] == 1e-4
        assert a.settings["method"] == "gausskronrod_adaptive"


@pytest.fixture
def rough():
    """A float64 ReLU net with large weights: its path derivative has many kinks."""
    torch.manual_seed(3)
    model = (
        torch.nn.Sequential(torch.nn.Conv1d(C, 8, 5), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * (T - 4), 1))
        .double()
        .eval()
    )
    return model, 3 * torch.randn(N, C, T, dtype=torch.float64)


@pytest.mark.parametrize("max_steps", [15, 60, 200])
def test_auto_respects_max_steps_and_warns(rough, max_steps):
    model, x = rough
    with pytest.warns(cdig.ConvergenceWarning, match="max_steps"):
        a = cdig.explain(model, x, "time", n_steps="auto", rtol=1e-9, max_steps=max_steps)["time"]
    assert np.all(a.n_steps <= max_steps)
    assert np.all(a.n_steps >= 15)
    assert a.settings["max_steps"] == max_steps


def test_auto_spends_more_where_needed(rough):
    model, x = rough
    a = cdig.explain(model, x, "time", n_steps="auto", rtol=1e-2, max_steps=4096)["time"]
    assert np.all(a.relative_delta <= 1e-2)
    assert np.any(a.n_steps > 15)  # kinks: one 15-point interval is not enough everywhere


def test_fixed_steps_with_large_delta_warn_about_auto(rough):
    model, x = rough
    with pytest.warns(cdig.ConvergenceWarning, match="n_steps='auto'"):
        a = cdig.explain(model, x, "time", n_steps=2, method="riemann_left")["time"]
    assert np.any(a.relative_delta > 0.01)


def test_no_warning_when_complete(smooth):
    model, x = smooth
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=32)


# --- custom domains ----------------------------------------------------------------------------------


class Reversed(cdig.Domain):
    name, linear, dims = "reversed", True, ("channel", "time")

    def forward(self, x, xp):
        return xp.flip(x, axis=-1)

    def inverse(self, z, xp):
        return xp.flip(z, axis=-1)


class ReversedPath(Reversed):
    name, linear = "reversed_path", False


def test_custom_linear_domain(smooth):
    model, x = smooth
    res = cdig.explain(model, x, ["time", Reversed(), ReversedPath()], target=1, n_steps=16)
    np.testing.assert_allclose(res["reversed"].values, res["time"].values[..., ::-1], rtol=0, atol=1e-7)
    np.testing.assert_allclose(res["reversed_path"].values, res["time"].values[..., ::-1], rtol=0, atol=1e-6)
    assert res["reversed"].dims == ("channel", "time")
