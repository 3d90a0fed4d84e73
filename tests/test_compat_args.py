"""cdig.compat.args: every form of the reference's two call signatures, and the errors.

The torch side writes ``(..., device, dtype)``; the TensorFlow side has no device and writes
``(..., dtype)`` in the same slot, and its ``ICADomain(ica, dtype, channel_permutation)`` starts one
place to the left. Each form is read here once and checked against what it must mean.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.compat import CrossDomainIG, DomainBase, ICADomain, TimeDomain
from cdig.compat.args import DomainArgs, ExplainerArgs, domain_args, explainer_args, ica_domain_args
from cdig.compat.ops import TensorflowOps, TorchOps, for_model


class FittedICA:
    """The fitted interface of a FastICA, enough for the signature (no fitting here)."""

    mixing_ = np.eye(2)
    mean_ = np.zeros(2)

    def transform(self, x):
        return x


@pytest.fixture
def torch_model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))


@pytest.fixture
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture
def keras_model(tf):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":  # pragma: no cover
        pytest.skip("Keras runs on another backend than TensorFlow")
    return keras.Sequential([keras.Input((4, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])


# --- DomainBase(device, dtype) / DomainBase(dtype) -----------------------------------------------
def test_domain_defaults_to_torch_float32_when_torch_is_imported():
    args = domain_args()
    assert isinstance(args, DomainArgs)
    assert isinstance(args.ops, TorchOps) and args.device is None and args.dtype == torch.float32


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_domain_torch_side_device_as_written(device):
    assert domain_args(device) == (domain_args().ops, device, torch.float32)
    assert domain_args(device, torch.float64) == (domain_args().ops, device, torch.float64)
    assert domain_args(device=device, dtype=torch.float64).device == device


def test_domain_dtype_in_device_slot_is_the_dtype():
    args = domain_args(torch.float64)
    assert args.device is None and args.dtype == torch.float64 and args.ops.name == "torch"


def test_domain_dtype_picks_the_framework(tf):
    args = domain_args(tf.float64)  # the reference's TensorFlow DomainBase(dtype)
    assert isinstance(args.ops, TensorflowOps) and args.device is None and args.dtype == tf.float64
    assert domain_args(dtype=tf.float32).ops.name == "tensorflow"
    assert domain_args(dtype=torch.float32).ops.name == "torch"


def test_domain_explainer_framework_wins_over_dtype(tf):
    tf_ops = domain_args(tf.float32).ops
    args = domain_args(dtype=torch.float64, ops=tf_ops)  # the explainer reports the mismatch, naming both
    assert args.ops is tf_ops and args.dtype == torch.float64
    assert domain_args(ops=tf_ops).dtype == tf.float32  # the framework's default dtype


def test_domain_dtype_of_no_framework_is_an_error():
    with pytest.raises(cdig.CdigTypeError, match=r"dtype='float32' is not a dtype of an imported framework"):
        domain_args(dtype="float32")
    with pytest.raises(TypeError):
        domain_args(None, np.float32)


def test_domain_classes_read_the_same_forms(tf):
    assert TimeDomain(torch.float64).dtype == torch.float64 and TimeDomain(torch.float64).device is None
    assert TimeDomain("cpu", torch.float64).device == "cpu"
    assert TimeDomain(tf.float32)._ops.name == "tensorflow"
    with pytest.raises(cdig.CdigTypeError, match="imported framework"):
        DomainBase(dtype="float64")


# --- ICADomain(device, ica, dtype, channel_permutation) / ICADomain(ica, dtype, channel_permutation)
def test_ica_torch_side_as_written():
    ica = FittedICA()
    assert ica_domain_args(None, ica) == (None, ica, None, (0, 2, 1))
    assert ica_domain_args("cpu", ica, torch.float64, [0, 1, 2]) == ("cpu", ica, torch.float64, (0, 1, 2))
    assert ica_domain_args(ica=ica, dtype=torch.float64) == (None, ica, torch.float64, (0, 2, 1))


def test_ica_tensorflow_side_moves_one_place_to_the_left(tf):
    ica = FittedICA()
    assert ica_domain_args(ica) == (None, ica, None, (0, 2, 1))
    assert ica_domain_args(ica, tf.float64) == (None, ica, tf.float64, (0, 2, 1))
    assert ica_domain_args(ica, tf.float64, (0, 1, 2)) == (None, ica, tf.float64, (0, 1, 2))
    domain = ICADomain(ica, tf.float64)
    assert domain.ica is ica and domain.dtype == tf.float64 and domain.device is None


def test_ica_errors():
    with pytest.raises(cdig.CdigTypeError, match=r"needs ica=<a fitted sklearn FastICA>; got None"):
        ica_domain_args("cpu")
    with pytest.raises(cdig.CdigTypeError, match="one fitted FastICA for every sample"):
        ica_domain_args(None, [FittedICA(), FittedICA()])
    with pytest.raises(cdig.CdigTypeError, match="one fitted FastICA"):
        ICADomain(ica=(FittedICA(),))


# --- CrossDomainIG(model, n_iterations, output_channel, device, dtype) / (..., dtype) ---------------
def test_explainer_torch_side_as_written(torch_model):
    args = explainer_args(torch_model, 10)
    assert isinstance(args, ExplainerArgs)
    assert args == (for_model(torch_model), 10, 0, None, torch.float32)
    assert explainer_args(torch_model, 10, 2, "cpu", torch.float64)[1:] == (10, 2, "cpu", torch.float64)
    assert explainer_args(torch_model, np.int64(5), np.int64(1))[1:3] == (5, 1)
    assert type(explainer_args(torch_model, np.int64(5), np.int64(1)).output_channel) is int


def test_explainer_dtype_in_device_slot_is_the_dtype(torch_model):
    assert explainer_args(torch_model, 10, 1, torch.float64)[3:] == (None, torch.float64)


def test_explainer_tensorflow_side(keras_model, tf):
    args = explainer_args(keras_model, 10, 1, tf.float64)
    assert args.ops.name == "tensorflow" and args.device is None and args.dtype == tf.float64
    assert explainer_args(keras_model, 10).dtype == tf.float32
    ig = CrossDomainIG(keras_model, 4, 0, tf.float64)
    assert ig.dtype == tf.float64 and ig.device is None


def test_explainer_plain_function_runs_on_the_first_imported_framework():
    assert explainer_args(lambda x: x.sum(dim=(1, 2))[:, None], 4).ops.name == "torch"


def test_explainer_dtype_of_another_framework_is_an_error(torch_model, keras_model, tf):
    with pytest.raises(cdig.CdigTypeError, match=r"not a torch dtype; the model runs on torch"):
        explainer_args(torch_model, 4, 0, None, tf.float32)
    with pytest.raises(cdig.CdigTypeError, match=r"not a tensorflow dtype"):
        explainer_args(keras_model, 4, 0, None, torch.float32)
    with pytest.raises(cdig.CdigTypeError, match=r"not a torch dtype"):
        explainer_args(torch_model, 4, 0, None, "float32")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_iterations": 0}, cdig.CdigValueError, "n_iterations=0"),
        ({"n_iterations": 2.5}, cdig.CdigTypeError, "n_iterations"),
        ({"n_iterations": 4, "method": "simpson"}, cdig.CdigValueError, "method"),
        ({"n_iterations": 4, "output_channel": -1}, cdig.CdigValueError, r"output_channel=-1: it must be an int >= 0"),
        ({"n_iterations": 4, "output_channel": True}, cdig.CdigValueError, "output_channel=True"),
        ({"n_iterations": 4, "output_channel": 1.0}, cdig.CdigValueError, "output_channel=1.0"),
    ],
)
def test_explainer_argument_errors(torch_model, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        explainer_args(torch_model, **kwargs)
    assert "n_steps" not in str(info.value)  # named as the caller knows it
    assert isinstance(info.value, (ValueError, TypeError))


def test_explainer_model_of_no_framework_is_an_error():
    with pytest.raises(cdig.CdigTypeError, match=r"PyTorch models .* Keras models .* got object"):
        explainer_args(object(), 4)


# --- the explainer hands its framework to the domains it builds -----------------------------------
class Scaled(DomainBase):
    """A user's domain whose own __init__ passes nothing on, as in the reference."""

    def __init__(self, scale=2.0):
        super().__init__()
        self.scale = scale

    def forward_transform(self, x):
        return self.scale * x

    def inverse_transform(self, z):
        return z / self.scale


def test_domain_built_by_an_explainer_takes_its_framework(keras_model, tf):
    ig = CrossDomainIG(keras_model, 4)
    ig.initialize_domain(Scaled, scale=3.0)  # torch is imported too: on its own, Scaled() is torch's
    assert ig.domain._ops.name == "tensorflow" and ig.domain.dtype == tf.float32 and ig.domain.scale == 3.0
    assert Scaled()._ops.name == "torch"
    assert tuple(ig.run(np.ones((2, 4, 2), dtype="float32")).shape) == (2, 4, 2)  # the model's layout


def test_domain_built_for_another_framework_is_an_error(keras_model, tf):
    ig = CrossDomainIG(keras_model, 4)
    with pytest.raises(cdig.CdigTypeError, match=r"dtype=torch.float64, not a tensorflow dtype"):
        ig.initialize_domain(TimeDomain, dtype=torch.float64)
    ig.domain = TimeDomain()  # on its own: torch
    with pytest.raises(cdig.CdigTypeError, match="built for torch but the model runs on tensorflow"):
        ig.run(np.ones((1, 4, 2), dtype="float32"))
