"""``Backend.model_digest`` covers architecture and code as well as weights (issue 13, item 5):
explain_dataset refuses to resume a store with a model whose digest differs."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from cdig.backends.base import digest_model
from cdig.testing import requires_jax, requires_tensorflow, requires_torch

SCALE = 2.0


def _torch_model(activation="Tanh", seed=0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv1d(2, 3, 5), getattr(torch.nn, activation)(), torch.nn.Flatten(), torch.nn.Linear(3 * 28, 3)
    )


def _torch_digest(model):
    import torch

    from cdig.backends.torch import TorchBackend

    return TorchBackend(model, torch.zeros(1, 2, 32)).model_digest(model)


@requires_torch
def test_torch_architecture_weights_and_determinism():
    import torch

    tanh = _torch_digest(_torch_model("Tanh"))
    assert tanh is not None and len(tanh) == 20
    assert _torch_digest(_torch_model("Tanh")) == tanh  # rebuilt identically
    assert _torch_digest(_torch_model("ReLU")) != tanh  # same weights, other activation
    assert _torch_digest(_torch_model("Tanh", seed=1)) != tanh  # other weights
    model = _torch_model()
    model.train()
    trained = _torch_digest(model)
    model.eval()
    assert _torch_digest(model) == trained  # the mode is not the model
    with torch.no_grad():
        model[0].bias[1] += 1e-3
    assert _torch_digest(model) != trained
    other = _torch_model()
    other[0].padding = (1,)  # a hyperparameter outside the weights
    assert _torch_digest(other) != tanh


@requires_torch
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torch_custom_modules_buffers_and_torchscript():
    import torch

    class Net(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.lin, self.scale = torch.nn.Linear(32, 2), scale
            self.register_buffer("offset", torch.zeros(2), persistent=False)

        def forward(self, x):
            return self.lin(x.flatten(1)) * self.scale + self.offset

    class Other(Net):
        def forward(self, x):
            return self.lin(x.flatten(1)) * self.scale - self.offset

    torch.manual_seed(0)
    a = Net(2.0)
    torch.manual_seed(0)
    assert _torch_digest(Net(2.0)) == _torch_digest(a)
    torch.manual_seed(0)
    assert _torch_digest(Net(3.0)) != _torch_digest(a)  # a custom setting
    torch.manual_seed(0)
    assert _torch_digest(Other(2.0)) != _torch_digest(a)  # forward's code
    b = Net(2.0)
    b.load_state_dict(a.state_dict())
    b.offset += 1  # a non-persistent buffer
    assert _torch_digest(b) != _torch_digest(a)
    scripted = [torch.jit.script(_torch_model(act)) for act in ("Tanh", "Tanh", "ReLU")]
    assert _torch_digest(scripted[0]) == _torch_digest(scripted[1]) != _torch_digest(scripted[2])


@requires_torch
def test_torch_exported_programs():
    import torch

    from cdig.backends.torch import _ExportedModel

    x = torch.zeros(1, 2, 32)
    exported = [_ExportedModel(torch.export.export(_torch_model(a), (x,)).module()) for a in ("Tanh", "Tanh", "ReLU")]
    assert _torch_digest(exported[0]) == _torch_digest(exported[1]) != _torch_digest(exported[2])


def _f2(x):
    return (x * 2.0).sum(axis=-1)


def _f3(x):
    return (x * 3.0).sum(axis=-1)


def _scaled(x):
    return (x * SCALE).sum(axis=-1)


def test_plain_functions_by_code_closures_and_globals():
    assert digest_model(_f2) == digest_model(_f2)
    assert digest_model(_f2) != digest_model(_f3)  # another constant

    def make(w):
        return lambda x: x @ w

    w = np.arange(6.0).reshape(3, 2)
    assert digest_model(make(w)) == digest_model(make(w.copy()))
    assert digest_model(make(w)) != digest_model(make(w + 1))  # an array in the closure
    before = digest_model(_scaled)
    globals()["SCALE"] = 5.0
    try:
        assert digest_model(_scaled) != before  # a global the code names
    finally:
        globals()["SCALE"] = 2.0
    assert digest_model(_scaled) == before
    assert digest_model(np.tanh) == digest_model(np.tanh) != digest_model(np.sin)  # library code by name


_DIGEST = (
    "import torch;from cdig.backends.torch import TorchBackend;torch.manual_seed(0);"
    "m=torch.nn.Sequential(torch.nn.Conv1d(2,3,5),torch.nn.Tanh(),torch.nn.Flatten(),torch.nn.Linear(84,3));"
    "print(TorchBackend(m,torch.zeros(1,2,32)).model_digest(m))"
)


def _digest_in_a_process(seed: str):
    def make(tmp):
        return dict(args=[sys.executable, "-c", _DIGEST], cwd=tmp, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=300)

    return make


# two fresh interpreters with other hash seeds, started with the session (tests/conftest.py)
BACKGROUND_JOBS = {f"digest with PYTHONHASHSEED={seed}": _digest_in_a_process(seed) for seed in ("1", "2")}


@pytest.mark.slow
@requires_torch
@pytest.mark.background(*BACKGROUND_JOBS)
def test_digest_is_the_same_in_another_process(background):
    out = set()
    for name in BACKGROUND_JOBS:
        proc = background.result(name)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out.add(proc.stdout.split()[-1])
    assert out == {_torch_digest(_torch_model("Tanh"))}


@requires_tensorflow
def test_keras_config_and_weights():
    import keras

    from cdig.backends.tensorflow import TensorflowBackend

    def build(act, seed=0):
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [keras.Input((32, 2)), keras.layers.Conv1D(3, 5, activation=act), keras.layers.Flatten(), keras.layers.Dense(3)]
        )

    def digest(m):
        return TensorflowBackend(m, np.zeros((1, 32, 2), np.float32)).model_digest(m)

    tanh = digest(build("tanh"))
    assert digest(build("tanh")) == tanh  # rebuilt (Keras names the layers anew)
    assert digest(build("relu")) != tanh
    assert digest(build("tanh", seed=1)) != tanh


@requires_jax
def test_jax_function_and_params():
    import jax
    import jax.numpy as jnp

    from cdig.backends.jax import JaxBackend

    params = {"w": jnp.ones((32, 2)), "b": jnp.zeros(2)}

    def make(p, act):
        return lambda x: act(x @ p["w"] + p["b"])

    def digest(m):
        return JaxBackend(m, np.zeros((1, 32), np.float32)).model_digest(m)

    base = digest(make(params, jnp.tanh))
    assert digest(make(dict(params), jnp.tanh)) == base
    assert digest(make(params, jax.nn.relu)) != base
    assert digest(make({**params, "b": jnp.ones(2)}, jnp.tanh)) != base
    assert digest(jax.jit(_f2)) != digest(jax.jit(_f3))


@requires_tensorflow
def test_savedmodels_and_tf_functions(tmp_path):
    import keras
    import tensorflow as tf

    from cdig.backends.tensorflow import TensorflowBackend

    def digest(m):
        return TensorflowBackend(m, np.zeros((1, 8, 2), np.float32)).model_digest(m)

    for act in ("tanh", "relu"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8, 2)), keras.layers.Flatten(), keras.layers.Dense(3, activation=act)])
        model.export(str(tmp_path / act), verbose=False)
    loaded = [TensorflowBackend.load_model(tmp_path / act) for act in ("tanh", "tanh", "relu")]
    assert digest(loaded[0]) == digest(loaded[1]) != digest(loaded[2])  # the graph, not only the weights
    f2, f3 = tf.function(_f2), tf.function(_f3)
    assert digest(f2) == digest(tf.function(_f2)) != digest(f3)


def test_user_objects_by_class_code_class_values_and_attributes():
    class Model:
        gain = 2.0

        def __init__(self, w):
            self.w = w

        def __call__(self, x):
            return (x @ self.w).sum(axis=-1) * self.gain

    class Louder(Model):
        gain = 3.0

    w = np.ones((3, 2))
    assert digest_model(Model(w)) == digest_model(Model(w.copy()))
    assert digest_model(Model(w)) != digest_model(Model(2 * w))  # an attribute
    assert digest_model(Model(w)) != digest_model(Louder(w))  # a class-level value
