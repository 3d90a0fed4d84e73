"""What ``target`` means: unit tests of cdig.core.targets and end-to-end checks against closed forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import cdig
from cdig.core.targets import Target, make_target
from cdig.testing import requires_captum

N, C, T, H = 4, 2, 16, 3


class _NumpyOps:
    """The two framework operations Target.select needs, for numpy arrays."""

    @staticmethod
    def reshape(a, shape):
        return a.reshape(shape)

    @staticmethod
    def pick(out, cols):
        return out[(np.arange(out.shape[0]),) + tuple(cols)]


_np_index = _NumpyOps()


# --- make_target ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, kind",
    [
        (None, "scalar"),
        (2, "index"),
        (np.int32(2), "index"),
        (np.array(1), "index"),
        ([0, 1, 1, 0], "rows"),
        (np.array([0, 1, 1, 0], dtype=np.int32), "rows"),
        ((3, 0), "tuple"),
        ((1,), "tuple"),
        ([(0, 1), (1, 0), (2, 1), (0, 0)], "rows_tuple"),
        (lambda out: out[:, 0], "callable"),
    ],
)
def test_make_target_kinds(target, kind):
    assert make_target(target, N).kind == kind


def test_make_target_rows_values():
    t = make_target([0, 2, 1, 0], N)
    assert t.value.dtype == np.int64
    np.testing.assert_array_equal(t.value, [0, 2, 1, 0])
    t = make_target([(0, 1), (1, 0), (2, 1), (0, 0)], N)
    np.testing.assert_array_equal(t.value, [[0, 1], [1, 0], [2, 1], [0, 0]])


def test_describe_is_json_friendly():
    def pick_first(out):
        return out[:, 0]

    for target in (None, 1, [0, 1, 1, 0], np.array([0, 1, 1, 0]), (2, 1), [(0, 1)] * N, pick_first):
        json.dumps(make_target(target, N).describe())
    assert make_target(pick_first, N).describe() == "pick_first"
    assert make_target(np.array([0, 1, 1, 0]), N).describe() == [0, 1, 1, 0]


# --- select -------------------------------------------------------------------------------------


def test_select_each_kind_on_numpy():
    out2 = np.arange(N * 3, dtype=float).reshape(N, 3)
    out3 = np.arange(N * H * C, dtype=float).reshape(N, H, C)
    rows = np.arange(N)
    np.testing.assert_array_equal(Target("scalar").select(out2[:, :1], rows, _np_index), out2[:, 0])
    np.testing.assert_array_equal(make_target(2, N).select(out2, rows, _np_index), out2[:, 2])
    tg = [2, 0, 1, 1]
    np.testing.assert_array_equal(make_target(tg, N).select(out2, rows, _np_index), out2[rows, tg])
    np.testing.assert_array_equal(make_target((1, 0), N).select(out3, rows, _np_index), out3[:, 1, 0])
    tt = [(0, 1), (2, 0), (1, 1), (0, 0)]
    np.testing.assert_array_equal(
        make_target(tt, N).select(out3, rows, _np_index), [out3[i, h, c] for i, (h, c) in enumerate(tt)]
    )
    # rows of a chunk that belong to samples 3, 3, 1 (several path points of one sample)
    idx = np.array([3, 3, 1])
    chunk = out2[idx]
    np.testing.assert_array_equal(make_target(tg, N).select(chunk, idx, _np_index), [out2[3, 1], out2[3, 1], out2[1, 0]])


def test_check_output_accepts_and_rejects():
    Target("scalar").check_output((), N)
    Target("scalar").check_output((1,), N)
    with pytest.raises(cdig.CdigValueError, match="target=None"):
        Target("scalar").check_output((3,), N)
    with pytest.raises(cdig.CdigValueError, match="out of range"):
        make_target(3, N).check_output((3,), N)
    with pytest.raises(cdig.CdigValueError, match="tuple"):
        make_target(1, N).check_output((H, C), N)
    with pytest.raises(cdig.CdigValueError, match="axes"):
        make_target((1, 0, 0), N).check_output((H, C), N)
    with pytest.raises(cdig.CdigValueError, match="out of range on output axis 2"):
        make_target((1, 2), N).check_output((H, C), N)


# --- end to end, against closed forms ---------------------------------------------------------


@pytest.fixture
def linear_setup(rng, models):
    """A linear model with 3 outputs, float64: output k's time IG is w[k] ⊙ (x − x0)."""
    w = rng.normal(size=(3, C, T))
    b = rng.normal(size=3)
    x = rng.normal(size=(N, C, T))
    return models.Linear(w, b).eval(), torch.as_tensor(x), w, x


@pytest.mark.parametrize("keepdim", [False, True])
def test_none_for_scalar_outputs(rng, models, keepdim):
    w = rng.normal(size=(C, T))
    x = rng.normal(size=(N, C, T))
    model = models.Linear(w, 0.5, keepdim=keepdim).eval()
    a = cdig.explain(model, torch.as_tensor(x), "time", n_steps=2)["time"]
    np.testing.assert_allclose(a.values, w * x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.output, (w * x).sum((1, 2)) + 0.5, atol=1e-12)
    assert a.target is None


@pytest.mark.parametrize(
    "target",
    [
        1,
        np.int64(2),
        [0, 2, 1, 1],
        np.array([0, 2, 1, 1]),
        torch.tensor([0, 2, 1, 1]),
        [torch.tensor(0), torch.tensor(2), torch.tensor(1), torch.tensor(1)],
        torch.tensor(2),
    ],
    ids=["int", "np-int", "list", "array", "tensor", "list-of-tensors", "0d-tensor"],
)
def test_index_targets_closed_form(linear_setup, target):
    model, xt, w, x = linear_setup
    a = cdig.explain(model, xt, ["time", "fourier"], target=target, n_steps=3, internal_batch_size=5)
    per_sample = np.broadcast_to(np.asarray(target), (N,))
    expected = w[per_sample] * x
    np.testing.assert_allclose(a["time"].values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a["fourier"].sum(), expected.sum((1, 2)), atol=1e-12)
    json.dumps(a["time"].target)


def test_callable_target(linear_setup):
    model, xt, w, x = linear_setup

    def margin(out):
        return out[:, 2] - out[:, 0]

    a = cdig.explain(model, xt, "time", target=margin, n_steps=2)["time"]
    np.testing.assert_allclose(a.values, (w[2] - w[0]) * x, rtol=0, atol=1e-12)
    assert a.target == "margin"


@pytest.fixture
def forecaster(rng, models):
    w = rng.normal(size=(H, C, C, T))
    b = rng.normal(size=(H, C))
    x = rng.normal(size=(N, C, T))
    return models.LinearForecaster(w, b).eval(), torch.as_tensor(x), w, x


@pytest.mark.parametrize("step, channel", [(0, 0), (2, 1), (1, 0)])
def test_tuple_target_into_forecast(forecaster, step, channel):
    model, xt, w, x = forecaster
    a = cdig.explain(model, xt, ["time", "fourier"], target=(step, channel), n_steps=2)
    np.testing.assert_allclose(a["time"].values, w[step, channel] * x, rtol=0, atol=1e-12)
    y = np.einsum("hcdt,ndt->nhc", w, x)
    np.testing.assert_allclose(a["fourier"].sum(), y[:, step, channel], atol=1e-12)
    assert tuple(a["time"].target) == (step, channel)


def test_per_sample_tuple_targets(forecaster):
    model, xt, w, x = forecaster
    tg = [(0, 1), (2, 0), (1, 1), (2, 1)]
    a = cdig.explain(model, xt, "time", target=tg, n_steps=2, internal_batch_size=3)["time"]
    expected = np.stack([w[h, c] * x[i] for i, (h, c) in enumerate(tg)])
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)


def test_callable_target_on_forecast(forecaster):
    model, xt, w, x = forecaster
    a = cdig.explain(model, xt, "time", target=lambda out: out[:, :, 1].mean(1), n_steps=2)["time"]
    np.testing.assert_allclose(a.values, w[:, 1].mean(0) * x, rtol=0, atol=1e-12)


@requires_captum
def test_classification_targets_match_captum(models):
    """Softmax probabilities of a conv classifier, one class per sample: Captum is the reference."""
    from captum.attr import IntegratedGradients

    net = models.conv_net(channels=C, length=32, n_out=3, act="tanh")
    clf = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    x = torch.randn(N, C, 32)
    tg = [2, 0, 1, 2]
    ours = cdig.explain(clf, x, "time", target=tg, n_steps=20)["time"].values
    ref = IntegratedGradients(clf).attribute(x, target=tg, n_steps=20, method="gausslegendre").numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-6 * np.abs(ref).max())


@requires_captum
def test_regression_scalar_matches_captum(models):
    from captum.attr import IntegratedGradients

    reg = models.ScalarHead(models.conv_net(channels=C, length=32, n_out=2, act="softplus"), index=1).eval()
    x = torch.randn(N, C, 32)
    ours = cdig.explain(reg, x, "time", n_steps=16)["time"].values
    ref = IntegratedGradients(reg).attribute(x, n_steps=16, method="gausslegendre").numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-6 * np.abs(ref).max())


# --- one index tuple per sample as an (N, k) int array -------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        np.array([[0, 1], [1, 0], [2, 1], [0, 0]]),
        np.array([[0, 1], [1, 0], [2, 1], [0, 0]], dtype=np.uint8),
        [[0, 1], [1, 0], [2, 1], [0, 0]],
        [np.array([0, 1]), np.array([1, 0]), np.array([2, 1]), np.array([0, 0])],  # e.g. a list of 1-D tensors
        [(0, 1), [1, 0], (2, 1), [0, 0]],
    ],
    ids=["array", "uint8", "list-of-lists", "list-of-arrays", "mixed"],
)
def test_int_array_rows_are_index_tuples(target):
    t = make_target(target, N)
    assert t.kind == "rows_tuple" and t.value.dtype == np.int64
    np.testing.assert_array_equal(t.value, [[0, 1], [1, 0], [2, 1], [0, 0]])
    assert t.describe() == [[0, 1], [1, 0], [2, 1], [0, 0]]


def test_int_array_rows_one_per_sample():
    with pytest.raises(cdig.CdigValueError, match="target has 3 entries but the batch has 4 samples; give one per sample$"):
        make_target(np.array([[0, 1], [1, 0], [2, 1]]), N)
    with pytest.raises(cdig.CdigValueError, match="target has 5 entries but the batch has 4 samples"):
        make_target([[0, 1]] * 5, N)
    # (k, N): one row per output axis, numpy's advanced-indexing layout: the message says to transpose
    with pytest.raises(cdig.CdigValueError, match=r"target has 2 entries .* looks transposed .* shape \(4, 2\)"):
        make_target(np.array([[0, 1, 2, 0], [1, 0, 1, 0]]), N)
    with pytest.raises(cdig.CdigValueError, match="empty"):
        make_target(np.zeros((N, 0), dtype=int), N)


@pytest.mark.parametrize(
    "target, match",
    [
        (np.array([[0.0, 1.0]] * N), "dtype float64 and shape"),
        (np.zeros((N, 2, 1), dtype=int), r"shape \(4, 2, 1\)"),
        ([[0, 1], [1]] * 2, r"one length .* lengths \[1, 2\]"),
        ([[0, 1.5]] * N, "tuples of ints"),
        ([[True, False]] * N, "tuples of ints"),
    ],
    ids=["float", "3-d", "ragged", "float-in-list", "bool"],
)
def test_int_array_rows_rejected(target, match):
    with pytest.raises(cdig.CdigTypeError, match=match):
        make_target(target, N)


def test_int_array_rows_out_of_range():
    t = make_target(np.array([[0, 1], [1, 0], [3, 1], [0, 0]]), N)
    with pytest.raises(cdig.CdigValueError, match=r"target \(3, 1\) is out of range on output axis 1: it has 3 entries"):
        t.check_output((H, C), N)


class ReshapeForecaster(torch.nn.Module):
    """A linear layer on the flattened input, reshaped to a forecast: (N, C, T) -> (N, H, C)."""

    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(C * T, H * C, bias=True, dtype=torch.float64)
        with torch.no_grad():
            self.lin.weight.copy_(torch.as_tensor(w.reshape(H * C, C * T)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.reshape(x.shape[0], -1)).reshape(x.shape[0], H, C)


@pytest.mark.parametrize("form", ["array", "list-of-lists", "tensor"])
def test_int_array_target_into_forecast_closed_form(rng, form):
    """f_{h,c}(x) = w[h, c]·x + b: IG from a zero baseline is w[h, c] ⊙ x, exactly, for every sample's (h, c)."""
    w = rng.normal(size=(H, C, C, T))
    x = rng.normal(size=(N, C, T))
    model = ReshapeForecaster(w).eval()
    tg = np.array([[0, 1], [2, 0], [1, 1], [2, 1]])
    target = {"array": tg, "list-of-lists": tg.tolist(), "tensor": torch.as_tensor(tg)}[form]
    a = cdig.explain(model, torch.as_tensor(x), ("time",), target=target, n_steps=8, internal_batch_size=3)["time"]
    expected = np.stack([w[h, c] * x[i] for i, (h, c) in enumerate(tg)])
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
    ref = cdig.explain(model, torch.as_tensor(x), ("time",), target=[tuple(r) for r in tg], n_steps=8, internal_batch_size=3)[
        "time"
    ]
    np.testing.assert_array_equal(a.values, ref.values)  # the list-of-tuples form gives the same maps
    np.testing.assert_allclose(a.output, [model(torch.as_tensor(x)).detach().numpy()[i, h, c] for i, (h, c) in enumerate(tg)])
    assert a.target == tg.tolist()
    with pytest.raises(cdig.CdigValueError, match="target has 3 entries but the batch has 4 samples"):
        cdig.explain(model, torch.as_tensor(x), ("time",), target=tg[:3], n_steps=8)
