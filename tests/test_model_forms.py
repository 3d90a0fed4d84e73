"""Models in the forms people hold them: structured outputs, keyword arguments, modules behind functions
(training mode), in-place ops on the input, float64 data into float32 models, channels-last inputs.

References are closed forms: a linear model ``f(x) = w·x`` has the exact time map ``w * (x - x0)``.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

import cdig
from cdig.core.errors import CdigModelError, CdigTypeError, CdigWarning
from cdig.core.outputs import ModelCall, split_forward_args

torch = pytest.importorskip("torch")


class _Output(collections.OrderedDict):
    """Like a Hugging Face ModelOutput: an ordered dict whose fields are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Linear(torch.nn.Module):
    """``(N, C, T) -> (N, 2)``; returns a structure like a Hugging Face model, with keyword arguments."""

    def __init__(self, c: int = 2, t: int = 16, structure: str = "modeloutput") -> None:
        super().__init__()
        self.lin = torch.nn.Linear(c * t, 2, bias=False)
        self.structure = structure

    def forward(self, x, scale=None, offset=0.0):
        y = self.lin(x.flatten(1))
        if scale is not None:
            y = y * scale[:, None]
        y = y + offset
        if self.structure == "modeloutput":
            return _Output(logits=y, hidden=x.mean(-1))
        if self.structure == "loss-first":
            return _Output(loss=y.sum(), logits=y)
        if self.structure == "tuple":
            return (y.detach().sum(1) * 0, y)  # the first entry: a tensor without gradient
        return y


def _linear_map(model: Linear, x: torch.Tensor, target: int, scale=None) -> np.ndarray:
    w = model.lin.weight[target].detach().reshape(x.shape[1:])
    m = w * x
    if scale is not None:
        m = m * scale.reshape(-1, 1, 1)
    return m.detach().numpy()


@pytest.fixture
def x():
    return torch.randn(3, 2, 16, generator=torch.Generator().manual_seed(0))


# --- outputs of any structure -------------------------------------------------------------------
def test_model_output_first_field_is_explained_by_default(x):
    model = Linear().eval()
    a = cdig.explain(model, x, ("time", "fourier"), target=1, n_steps=4)
    np.testing.assert_allclose(a["time"].values, _linear_map(model, x, 1), rtol=1e-5, atol=1e-6)
    assert a["time"].settings["output"] is None
    assert a["time"].settings["output_selected"].startswith("logits (the first tensor of _Output(logits: shape (3, 2)")


@pytest.mark.parametrize("output", ["logits", 0, lambda out: out.logits])
def test_output_selector_key_index_callable(x, output):
    model = Linear().eval()
    a = cdig.explain(model, x, ("time",), target=0, n_steps=4, output=output)
    np.testing.assert_allclose(a["time"].values, _linear_map(model, x, 0), rtol=1e-5, atol=1e-6)
    assert "output_selected" not in a["time"].settings
    expected = output if not callable(output) else "<callable <lambda>>"
    assert a["time"].settings["output"] == expected


def test_loss_first_names_the_structure_and_output(x):
    model = Linear(structure="loss-first").eval()
    with pytest.raises(
        CdigModelError,
        match=(
            r"shape \(\) for a batch of 3 samples \(the first tensor, 'loss', of _Output\(loss: shape \(\), "
            r"logits: shape \(3, 2\)\); choose the tensor to explain with output="
        ),
    ):
        cdig.explain(model, x, ("time",), target=0, n_steps=4)
    a = cdig.explain(model, x, ("time",), target=0, n_steps=4, output="logits")
    np.testing.assert_allclose(a["time"].values, _linear_map(model, x, 0), rtol=1e-5, atol=1e-6)


def test_tuple_output_by_index(x):
    model = Linear(structure="tuple").eval()
    a = cdig.explain(model, x, ("time",), target=1, n_steps=4, output=1)
    np.testing.assert_allclose(a["time"].values, _linear_map(model, x, 1), rtol=1e-5, atol=1e-6)


def test_callable_target_sees_the_raw_output(x):
    model = Linear().eval()
    seen = []

    def target(out):
        seen.append(type(out).__name__)
        return out.logits[:, 1]

    a = cdig.explain(model, x, ("time",), target=target, n_steps=4)
    assert set(seen) == {"_Output"}
    np.testing.assert_allclose(a["time"].values, _linear_map(model, x, 1), rtol=1e-5, atol=1e-6)


def test_bad_selectors_are_named(x):
    model = Linear().eval()
    with pytest.raises(CdigModelError, match=r"output='nope' is not in the model's output _Output\(logits"):
        cdig.explain(model, x, ("time",), target=0, n_steps=4, output="nope")
    with pytest.raises(CdigModelError, match=r"output=5 does not index"):
        cdig.explain(model, x, ("time",), target=0, n_steps=4, output=5)
    with pytest.raises(CdigTypeError, match=r"output=1.5 \(float\) cannot select"):
        cdig.explain(model, x, ("time",), target=0, n_steps=4, output=1.5)
    with pytest.raises(CdigModelError, match="selects tuple"):
        cdig.explain(model, x, ("time",), target=0, n_steps=4, output=lambda out: (out.logits,))


def test_model_call_is_framework_free():
    call = ModelCall(keywords=("b",), output="y")
    out = call(lambda x, a, b: {"y": x * a + b, "z": None}, np.ones(2), (2.0, 3.0), lambda v: isinstance(v, np.ndarray))
    np.testing.assert_array_equal(out, [5.0, 5.0])
    with pytest.raises(CdigModelError, match="holds no tensor"):
        ModelCall()(lambda x: {"a": None}, np.ones(2), (), lambda v: isinstance(v, np.ndarray))


# --- keyword arguments --------------------------------------------------------------------------
def test_split_forward_args_forms():
    assert split_forward_args(None) == ((), {})
    assert split_forward_args({"a": 1}) == ((), {"a": 1})
    assert split_forward_args((1, 2, {"a": 3})) == ((1, 2), {"a": 3})
    assert split_forward_args(({"positional": 1}, {})) == (({"positional": 1},), {})
    with pytest.raises(CdigTypeError, match="not argument names"):
        split_forward_args({1: 2})


@pytest.mark.parametrize("form", ["dict", "tuple+dict"])
def test_keyword_arguments_are_split_per_sample(x, form):
    model = Linear().eval()
    scale = torch.tensor([0.5, 2.0, -1.0])
    extra = {"scale": scale, "offset": 3.0} if form == "dict" else (scale, {"offset": 3.0})
    for steps in (4, "auto"):
        a = cdig.explain(
            model, x, ("time", "fourier"), target=1, n_steps=steps, additional_forward_args=extra, internal_batch_size=2
        )
        np.testing.assert_allclose(a["time"].values, _linear_map(model, x, 1, scale), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a["fourier"].values.sum(axis=(1, 2)), a["time"].values.sum(axis=(1, 2)), rtol=1e-4, atol=1e-5)


def test_wrong_keyword_is_named_before_any_work(x):
    model = Linear().eval()
    with pytest.raises(CdigTypeError, match=r"keyword\(s\) scael.*a dict \(by name\)"):
        cdig.explain(model, x, ("time",), target=1, additional_forward_args={"scael": 1.0})


# --- batch dependence: training mode behind a function -------------------------------------------
def _bn_net() -> torch.nn.Module:
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(56, 2)
    )
    with torch.no_grad():  # running statistics that differ from a fresh module's
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net


def _state(net: torch.nn.Module) -> dict:
    return {
        "tensors": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "training": [m.training for m in net.modules()],
        "grad": [p.requires_grad for p in net.parameters()],
    }


def _same_state(net: torch.nn.Module, before: dict) -> bool:
    now = _state(net)
    return (
        now["tensors"].keys() == before["tensors"].keys()
        and all(torch.equal(now["tensors"][k], before["tensors"][k]) for k in now["tensors"])
        and now["training"] == before["training"]
        and now["grad"] == before["grad"]
    )


@pytest.mark.parametrize("n", [1, 3])
def test_batchnorm_behind_a_lambda_is_refused_and_the_model_unchanged(x, n):
    net = _bn_net()  # training mode, as built
    before = _state(net)
    with pytest.raises(
        CdigModelError, match=r"depends on the other samples in its batch.*Sequential \(BatchNorm1d\).*Call \.eval\(\)"
    ):
        cdig.explain(lambda z: net(z), x[:n], ("time",), target=0, n_steps="auto")
    assert _same_state(net, before)


def test_dropout_behind_a_function_is_refused():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(32, 1))

    def f(z):
        return net(z)[:, 0]

    before = _state(net)
    with pytest.raises(CdigModelError, match=r"Sequential \(Dropout\)"):
        cdig.explain(f, torch.randn(4, 2, 16), ("time",), n_steps=8)
    assert _same_state(net, before)


def test_module_in_training_mode_passed_itself_is_explained_in_eval_mode(x):
    net = _bn_net()
    before = _state(net)
    with pytest.warns(CdigWarning, match="training mode with BatchNorm1d"):
        a = cdig.explain(net, x, ("time",), target=0, n_steps="auto")
    assert _same_state(net, before)
    net.eval()
    b = cdig.explain(lambda z: net(z), x, ("time",), target=0, n_steps="auto")
    np.testing.assert_allclose(a["time"].values, b["time"].values, rtol=1e-6, atol=1e-7)
    assert _same_state(net, {**before, "training": [False] * len(before["training"])})


# --- inputs -------------------------------------------------------------------------------------
class InPlaceMask(torch.nn.Module):
    """tsai's TSTPlus pattern: the forward pass zeroes part of its input in place."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(32, 1, bias=False)

    def forward(self, x):
        x[:, :, :4] = 0
        return self.lin(x.flatten(1))[:, 0]


def test_in_place_op_on_the_input(x):
    model = InPlaceMask().eval()
    kept = x.clone()
    a = cdig.explain(model, x, ("time", "fourier"), n_steps=4)
    w = model.lin.weight.detach().reshape(2, 16).clone()
    w[:, :4] = 0  # the masked samples do not count
    np.testing.assert_allclose(a["time"].values, (w * x).numpy(), rtol=1e-5, atol=1e-6)
    assert torch.equal(x, kept)  # the user's tensor is not changed


def test_float64_numpy_into_a_float32_model_behind_a_function():
    net = _bn_net().eval()
    xn = np.random.default_rng(0).normal(size=(2, 2, 16))  # float64, like MNE's get_data()
    a = cdig.explain(lambda z: net(z), xn, ("time",), target=1, n_steps="auto")
    assert a["time"].settings["input_dtype"] == "float32 (the model's; x was float64)"
    assert np.abs(a["time"].delta).max() <= 1e-3 * np.abs(a["time"].output - a["time"].baseline_output).max() + 1e-5


def test_target_as_an_n_by_k_int_array():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 6, bias=False)
    model = lambda z: lin(z.flatten(1)).reshape(-1, 3, 2)
    x = torch.randn(3, 1, 16)
    target = np.array([[0, 1], [2, 0], [1, 1]])
    a = cdig.explain(model, x, ("time",), target=target, n_steps=4)
    w = lin.weight.detach().reshape(3, 2, 16)
    ref = np.stack([(w[h, c] * x[i, 0]).numpy() for i, (h, c) in enumerate(target)])[:, None]
    np.testing.assert_allclose(a["time"].values, ref, rtol=1e-5, atol=1e-6)


# --- channels-last ------------------------------------------------------------------------------
def _warnings_of(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, CdigWarning)]


def test_channels_last_hints():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    f = lambda z: lstm(z)[0][:, -1, 0]
    xl = torch.randn(2, 20, 3)
    (w,) = _warnings_of(lambda: cdig.explain(f, xl, ("time",), n_steps=4))
    assert "x has shape (2, 20, 3)" in w and "batch_first LSTM" in w and "pass time_axis=1" in w
    assert _warnings_of(lambda: cdig.explain(f, xl, ("time",), n_steps=4, time_axis=1)) == []

    conv = torch.nn.Sequential(torch.nn.Conv1d(3, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 18, 1))
    (w,) = _warnings_of(lambda: cdig.explain(lambda z: conv(z.transpose(1, 2))[:, 0], xl, ("time",), n_steps=4))
    assert "Conv1d, takes 3 input channels" in w
    # a first Conv1d reading axis 1 as channels: (N, C, T) with more channels than samples is fine
    wide = torch.nn.Sequential(torch.nn.Conv1d(20, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(6, 1))
    assert _warnings_of(lambda: cdig.explain(wide, xl, ("time",), n_steps=4)) == []
    # no layer to ask: a last axis shorter than axis 1
    (w,) = _warnings_of(lambda: cdig.explain(lambda z: z.sum((1, 2)), xl, ("time",), n_steps=4))
    assert "the last axis (3) is shorter than axis 1 (20)" in w


def test_crossdomainig_returns_the_input_layout_in_time():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    f = lambda z: lstm(z)[0][:, -1, 0]
    xl = torch.randn(2, 20, 3)
    ig = cdig.CrossDomainIG(f, "time", time_axis=1)
    attr = ig.attribute(xl, n_steps=8)
    assert tuple(attr.shape) == (2, 20, 3)
    captum = pytest.importorskip("captum.attr")
    ref = captum.IntegratedGradients(f).attribute(xl, n_steps=8, method="gausslegendre")
    np.testing.assert_allclose(attr.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-6)
    fourier = cdig.CrossDomainIG(f, "fourier", time_axis=1).attribute(xl, n_steps=8)
    assert tuple(fourier.shape) == (2, 3, 11)  # the domain's layout: (N, C, frequency)


def test_the_framework_of_a_function_is_that_of_the_models_it_calls():
    pytest.importorskip("tensorflow")  # several frameworks imported: numpy input alone cannot tell
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 1)).eval()
    xn = np.random.default_rng(0).normal(size=(2, 2, 16))
    a = cdig.explain(lambda z: net(z)[:, 0], xn, ("time",), n_steps=4)
    assert a["time"].settings["backend"] == "torch"
    # a function that reaches no framework's model runs on numpy: no gradients, and the way out is named
    with pytest.raises(CdigTypeError, match=r"runs on numpy arrays.*method='shapley'.*backend='torch'"):
        cdig.explain(lambda z: z.sum((1, 2)), xn, ("time",), n_steps=4)
    a = cdig.explain(lambda z: z.sum((1, 2)), xn, ("time",), n_steps=4, backend="torch")
    np.testing.assert_allclose(a["time"].values, xn, atol=1e-12)


def test_a_function_converting_to_numpy_inside_is_a_numpy_function(x):
    """``lambda s: net(torch.as_tensor(s)).detach().numpy()`` (a prediction service's shape): numpy in,
    numpy out, gradients cut inside. Perturbation methods explain it, equal to the module explained
    itself; IG is refused with the way out; in training mode it is refused by its outputs, and the module
    (its batch-norm statistics too) is left exactly as it was."""
    net = _bn_net().eval()
    xn = x.numpy().astype(np.float64)

    def service(s: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.as_tensor(s, dtype=torch.float32))[:, 1].numpy()

    shap = cdig.explain(service, xn, "fourier", method="shapley", groups=np.arange(9) // 3)["fourier"]
    assert shap.settings["backend"] == "numpy"
    own = cdig.explain(net, x, "fourier", method="shapley", target=1, groups=np.arange(9) // 3)["fourier"]
    np.testing.assert_allclose(shap.values, own.values, rtol=1e-5, atol=1e-6)
    with pytest.raises(CdigTypeError, match=r"runs on numpy arrays.*method='shapley'"):
        cdig.explain(service, xn, "fourier")

    net.train()
    before = _state(net)
    with pytest.raises(CdigModelError, match=r"depends on the other samples in its batch, or is random.*BatchNorm1d"):
        cdig.explain(service, xn, "fourier", method="occlusion")
    assert _same_state(net, before)


def test_batchnorm_behind_a_lambda_with_one_row_per_call_is_refused(x):
    """With internal_batch_size=1 the mixed batch cannot be formed: the training-mode layers found behind the
    function are refused all the same, and the model is left as it was."""
    net = _bn_net()
    before = _state(net)
    with pytest.raises(CdigModelError, match=r"training mode with layers.*Sequential \(BatchNorm1d\).*one row per call"):
        cdig.explain(lambda z: net(z), x, ("time",), target=0, n_steps=4, internal_batch_size=1)
    assert _same_state(net, before)
