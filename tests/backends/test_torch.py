"""The PyTorch backend: the model is left as it was, dtypes and devices, lookup, lazy import.

The primitives every backend shares (the complex VJP, the path gradient) are tested in test_backends.py.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
import weakref

import numpy as np
import pytest
import torch

import cdig
from cdig.backends import get_backend, get_backend_by_name
from cdig.backends.torch import TorchBackend

N, C, T = 4, 2, 32


def _net(dropout: bool = False, batchnorm: bool = False, dtype=torch.float32) -> torch.nn.Sequential:
    torch.manual_seed(0)
    layers = [torch.nn.Conv1d(C, 4, 5, padding=2)]
    if batchnorm:
        layers.append(torch.nn.BatchNorm1d(4))
    layers.append(torch.nn.Tanh())
    if dropout:
        layers.append(torch.nn.Dropout(0.5))
    layers += [torch.nn.Flatten(), torch.nn.Linear(4 * T, 3)]
    return torch.nn.Sequential(*layers).to(dtype)


def _snapshot(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_state_equal(model: torch.nn.Module, before: dict) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k in before:
        assert after[k].dtype == before[k].dtype
        assert torch.equal(after[k], before[k]), k  # bit for bit


# --- the model is left unchanged --------------------------------------------------------------------


@pytest.mark.parametrize("domains", [["time"], ["time", "fourier", "ica"]])
@pytest.mark.parametrize("n_steps", [8, "auto"])
def test_no_grad_no_state_change_flags_restored(domains, n_steps):
    model = _net(batchnorm=True).eval()
    model[0].requires_grad_(False)  # a frozen subset
    flags = [p.requires_grad for p in model.parameters()]
    assert flags.count(False) == 2 and flags.count(True) > 0
    before = _snapshot(model)
    x = torch.randn(N, C, T)
    res = cdig.explain(model, x, domains, target=1, n_steps=n_steps)
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
    _assert_state_equal(model, before)
    assert all(not m.training for m in model.modules())
    for a in res.values():
        assert isinstance(a.values, np.ndarray) and isinstance(a.delta, np.ndarray)


def test_mixed_train_eval_modes_restored_and_warned():
    model = _net(dropout=True, batchnorm=True)
    model.train()
    model[1].eval()  # batch-norm in eval, dropout in training: a mixed model
    modes = [m.training for m in model.modules()]
    assert True in modes and False in modes
    before = _snapshot(model)
    x = torch.randn(N, C, T)
    with pytest.warns(cdig.CdigWarning, match="training mode with Dropout"):
        trained = cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=8)
    assert [m.training for m in model.modules()] == modes
    _assert_state_equal(model, before)
    model.eval()
    evaluated = cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=8)
    for name in trained:
        np.testing.assert_array_equal(trained[name].values, evaluated[name].values)


def test_training_batchnorm_is_explained_in_eval_mode_and_not_updated():
    model = _net(batchnorm=True)
    with torch.no_grad():  # non-trivial running statistics
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    model.train()
    before = _snapshot(model)
    x = torch.randn(N, C, T)
    with pytest.warns(cdig.CdigWarning, match="BatchNorm1d"):
        trained = cdig.explain(model, x, "time", target=2, n_steps=16)["time"]
    assert model.training and model[1].training
    _assert_state_equal(model, before)  # running_mean / running_var / num_batches_tracked untouched
    model.eval()
    evaluated = cdig.explain(model, x, "time", target=2, n_steps=16)["time"]
    np.testing.assert_array_equal(trained.values, evaluated.values)
    with torch.no_grad():
        np.testing.assert_allclose(trained.output, model(x)[:, 2].numpy(), rtol=1e-6)


def test_training_without_sensitive_layers_is_silent():
    model = _net().train()  # no dropout / batch-norm: training mode changes nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cdig.explain(model, torch.randn(N, C, T), "time", target=0, n_steps=32)
    assert all(m.training for m in model.modules())


def test_state_restored_when_the_model_raises():
    model = _net(dropout=True)
    model.train()
    model[0].requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    calls = []

    class Failing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            calls.append(1)
            if len(calls) > 2:  # fails on the path, after the outputs
                raise RuntimeError("boom")
            return self.inner(x)

    wrapper = Failing().train()
    with pytest.warns(cdig.CdigWarning), pytest.raises(RuntimeError, match="boom"):
        cdig.explain(wrapper, torch.randn(N, C, T), "time", target=0, n_steps=4)
    assert all(m.training for m in wrapper.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_no_autograd_graph_kept_alive():
    outputs = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _net().eval()

        def forward(self, x):
            y = self.net(x)
            outputs.append(weakref.ref(y))
            return y

    model = Recorder().eval()
    x = torch.randn(N, C, T)
    res = cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=8, internal_batch_size=10)
    ig = cdig.CrossDomainIG(model, "fourier")
    attr, delta = ig.attribute(x, target=0, n_steps=8, return_convergence_delta=True)
    gc.collect()
    assert len(outputs) > 3
    assert all(r() is None for r in outputs)  # no output (and so no graph) survives
    assert not attr.requires_grad and attr.grad_fn is None and delta.grad_fn is None
    for a in res.values():
        for v in (a.values, a.delta, a.output, a.coefficients):
            assert isinstance(v, np.ndarray)
    assert x.grad is None


# --- dtypes and devices -------------------------------------------------------------------------------


@pytest.mark.parametrize("model_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_kind", ["numpy-float16", "numpy-float32", "numpy-float64", "torch-same", "torch-other"])
def test_inputs_cast_to_the_models_dtype(model_dtype, x_kind):
    model = _net(dtype=model_dtype).eval()
    base = np.random.default_rng(0).normal(size=(N, C, T))
    if x_kind == "torch-same":
        x = torch.as_tensor(base).to(model_dtype)
    elif x_kind == "torch-other":
        x = torch.as_tensor(base).to(torch.float64 if model_dtype == torch.float32 else torch.float32)
    else:
        x = base.astype(x_kind.split("-")[1])
    res = cdig.explain(model, x, ["time", "fourier"], target=1, n_steps=16)
    np_dtype = np.float32 if model_dtype == torch.float32 else np.float64
    assert res["time"].values.dtype == np_dtype
    assert res["fourier"].coefficients.dtype == (np.complex64 if np_dtype == np.float32 else np.complex128)
    with torch.no_grad():
        y = model(torch.as_tensor(np.asarray(x)).to(model_dtype))[:, 1].numpy()
    np.testing.assert_allclose(res["time"].output, y, rtol=1e-5)
    assert np.all(res["time"].relative_delta < 1e-3)


def test_function_model_uses_the_inputs_dtype():
    w = torch.randn(C, T, dtype=torch.float64)

    def f(v):
        return torch.tanh((v * w).sum((1, 2)))

    a = cdig.explain(f, torch.randn(N, C, T, dtype=torch.float64), "time", n_steps=16)["time"]
    assert a.values.dtype == np.float64
    assert a.settings["backend"] == "torch" and a.settings["device"] == "cpu"


def test_cpu_device_recorded_and_as_tensor():
    model = _net().eval()
    a = cdig.explain(model, torch.randn(N, C, T), "time", target=0, n_steps=32)["time"]
    assert a.settings["device"] == "cpu"
    t = a.as_tensor()
    assert isinstance(t, torch.Tensor) and t.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_and_inputs_anywhere():
    model = _net().eval().cuda()
    x = torch.randn(N, C, T)
    ref = cdig.explain(model.cpu(), x, ["time", "fourier"], target=0, n_steps=16)
    model.cuda()
    for inp in (x, x.cuda(), x.numpy()):
        res = cdig.explain(model, inp, ["time", "fourier"], target=0, n_steps=16)
        assert res["time"].settings["device"].startswith("cuda")
        for name in ref:
            np.testing.assert_allclose(res[name].values, ref[name].values, rtol=0, atol=1e-4 * np.abs(ref[name].values).max())
        assert res["time"].as_tensor().device.type == "cuda"
    attr = cdig.CrossDomainIG(model, "time").attribute(x.cuda(), target=0, n_steps=8)
    assert attr.device.type == "cuda"


# --- lookup --------------------------------------------------------------------------------------------


def test_backend_lookup():
    model = _net().eval()
    be = get_backend(model, torch.randn(1, C, T))
    assert isinstance(be, TorchBackend) and be.name == "torch"
    assert get_backend_by_name("torch") is TorchBackend
    assert isinstance(get_backend(lambda v: v, torch.randn(1, C, T)), TorchBackend)
    assert isinstance(get_backend(model, np.zeros((1, C, T), np.float32)), TorchBackend)
    with pytest.raises(cdig.CdigValueError, match="backend='mxnet'"):
        get_backend_by_name("mxnet")


# --- lazy import ----------------------------------------------------------------------------------------


def test_import_cdig_imports_no_framework():
    code = (
        "import sys, cdig\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'jax', 'sklearn', 'matplotlib') if m in sys.modules]\n"
        "print('heavy:' + ','.join(heavy))\n"
        "import numpy as np\n"
        "try:\n"
        "    cdig.explain(lambda v: v.sum(axis=(1, 2)), np.ones((2, 1, 8)), 'time')\n"
        "except cdig.CdigTypeError as e:\n"
        "    print('ERR', 'framework' in str(e))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "heavy:", f"import cdig imported: {lines[0]}"
    assert lines[1] == "ERR True"  # no framework imported: a clear error, and still no torch
    assert lines[2] == "False"
