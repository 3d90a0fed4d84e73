"""braindecode-style EEG models on MNE data: ``Epochs`` (float64, volts), a fitted MNE ICA, a skorch net.

braindecode 1.8.1 does not import beside torch 2.13 CPU (it needs torchaudio, whose build does not load
here), so ``EEGNet`` and ``ShallowFBCSPNet`` are rebuilt from braindecode's source in ``_builders.py``.
braindecode's ``EEGClassifier`` is a skorch ``NeuralNetClassifier``; the real skorch is used here.
References: Captum's IntegratedGradients on the eval-mode model; for the ICA map, Captum's integrated
gradients (not multiplied by the inputs) mapped onto MNE's own sources and mixing.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import cdig

mne = pytest.importorskip("mne")
pytest.importorskip("captum")  # the reference

B = sys.modules["_cdig_tests_model_builders"]  # tests/models/_builders.py, loaded by conftest.py

N, C, T, FS = 4, 4, 64, 64.0
AUTO = dict(n_steps="auto", max_steps=400)
EEGNET = dict(F1=4, D=2, kernel_length=16, depthwise_kernel_length=8, pool1_kernel_size=2, pool2_kernel_size=4)
SHALLOW = dict(n_filters_time=4, filter_time_length=9, n_filters_spat=4, pool_time_length=16, pool_time_stride=8)


def simulated(n: int, seed: int) -> np.ndarray:
    """(n, C, T) EEG-like epochs in volts: a 10 Hz rhythm, a slow square wave and noise, mixed."""
    r = np.random.default_rng(seed)
    t = np.arange(T) / FS
    sources = np.stack(
        [
            np.sin(2 * np.pi * 10 * t + r.uniform(0, 2 * np.pi, size=(n, 1))),
            np.sign(np.sin(2 * np.pi * 3 * t)) * np.ones((n, 1)),
            r.laplace(size=(n, T)),
            r.normal(size=(n, T)),
        ],
        axis=1,
    )
    mixing = np.random.default_rng(99).normal(size=(C, 4))
    return 1e-5 * np.einsum("ck,nkt->nct", mixing, sources)


@pytest.fixture(scope="module")
def epochs():
    mne.set_log_level("ERROR")
    info = mne.create_info(["C3", "Cz", "C4", "Pz"], FS, "eeg")
    return mne.EpochsArray(simulated(N, 0), info)


@pytest.fixture(scope="module")
def ica(epochs):
    train = mne.EpochsArray(simulated(40, 1), epochs.info)
    return mne.preprocessing.ICA(n_components=C, random_state=0, method="fastica", max_iter=1000).fit(train)


def eegnet(epochs) -> torch.nn.Module:
    """A float32 EEGNet with BatchNorm statistics of the epochs in µV, in eval mode."""
    torch.manual_seed(0)
    return B.warm_up(B.EEGNet(C, 2, T, **EEGNET), epochs.get_data(), scale=1e6).eval()


def test_eegnet_behind_a_scaling_function_in_time_and_ica(epochs, ica):
    """``lambda x: model(1e6 * x)`` on MNE's float64 volts: cast to the model's float32, no other glue."""
    model = eegnet(epochs)
    x = epochs.get_data()
    assert x.dtype == np.float64
    maps = cdig.explain(lambda v: model(1e6 * v), x, ("time", cdig.ICA(ica)), target=1, fs=FS, **AUTO)
    for a in maps.values():
        B.assert_complete(a)
        assert "float32" in a.settings["input_dtype"]
    assert maps["time"].values.shape == (N, C, T) and maps["ica"].values.shape == (N, C)

    xt = torch.as_tensor(x, dtype=torch.float32)
    forward = lambda v: model(1e6 * v)
    ref = B.captum_time_ig(forward, xt, target=1)
    assert B.relative_l2(maps["time"].values, ref) < 2e-3

    # the ICA map: Σ_t (s_k - s0_k)(t)·Σ_c M_ck G_c(t), with G Captum's integrated gradients (not
    # multiplied by the input), s MNE's sources of x and of the zero baseline, and x = M s + mean.
    from captum.attr import IntegratedGradients

    g = IntegratedGradients(forward, multiply_by_inputs=False).attribute(
        xt, torch.zeros_like(xt), target=1, n_steps=128, method="gausslegendre"
    )
    g = g.double().numpy()
    s = ica.get_sources(epochs).get_data()
    s0 = ica.get_sources(mne.EpochsArray(np.zeros_like(x), epochs.info)).get_data()
    flat = lambda a: np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)
    design = np.vstack([flat(s), np.ones(N * T)])
    mixing = np.linalg.lstsq(design.T, flat(x).T, rcond=None)[0].T[:, :-1]  # (C, k), by MNE's own outputs
    expected = np.einsum("nkt,ck,nct->nk", s - s0, mixing, g)
    assert B.relative_l2(maps["ica"].values, expected) < 2e-3


def test_eegnet_in_training_mode_behind_a_function_is_refused(epochs):
    model = eegnet(epochs).train()
    before = B.state_snapshot(model)
    with pytest.raises(cdig.CdigModelError, match=r"(?s)training mode.*BatchNorm2d.*\.eval\(\)"):
        cdig.explain(lambda v: model(1e6 * v), epochs.get_data(), "time", target=1, **AUTO)
    B.assert_state_equal(model, before)


def test_shallow_fbcsp_module_on_microvolts(epochs):
    """ShallowFBCSPNet passed as it is (training mode, as braindecode leaves it) on ``get_data(units="uV")``."""
    torch.manual_seed(0)
    x = epochs.get_data(units="uV")
    model = B.warm_up(B.ShallowFBCSPNet(C, 2, T, **SHALLOW), x)
    before = B.state_snapshot(model)
    with pytest.warns(cdig.CdigWarning, match="training mode"):
        maps = cdig.explain(model, x, ("time", "fourier"), target=1, fs=FS, **AUTO)
    B.assert_state_equal(model, before)
    for a in maps.values():
        B.assert_complete(a)
    model.eval()
    ref = B.captum_time_ig(model, torch.as_tensor(x, dtype=torch.float32), target=1)
    assert B.relative_l2(maps["time"].values, ref) < 2e-3


def test_skorch_net(epochs):
    """A fitted skorch ``NeuralNetClassifier`` (braindecode's ``EEGClassifier`` is one) is explained as its ``module_``."""
    skorch = pytest.importorskip("skorch")
    torch.manual_seed(0)
    params = {f"module__{k}": v for k, v in dict(n_chans=C, n_outputs=2, n_times=T, **EEGNET).items()}
    net = skorch.NeuralNetClassifier(
        B.EEGNet, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, batch_size=4, train_split=None, verbose=0, **params
    )
    x = epochs.get_data(units="uV")
    with pytest.raises(cdig.CdigTypeError, match=r"not initialized.*net\.fit"):
        cdig.explain(net, x, "time", target=1, **AUTO)
    net.fit(x.astype(np.float32), np.array([0, 1] * (N // 2)))
    assert net.module_.training  # skorch leaves it so after fit
    with pytest.warns(cdig.CdigWarning, match="training mode"):
        maps = cdig.explain(net, x, ("time", "fourier"), target=1, fs=FS, **AUTO)
    assert net.module_.training
    for a in maps.values():
        B.assert_complete(a)
        assert "module_" in a.settings["model_unwrapped"]
    net.module_.eval()
    ref = B.captum_time_ig(net.module_, torch.as_tensor(x, dtype=torch.float32), target=1)
    assert B.relative_l2(maps["time"].values, ref) < 2e-3
    logits = net.forward(x.astype(np.float32)).numpy()
    np.testing.assert_allclose(maps["time"].output, logits[:, 1], rtol=1e-5, atol=1e-6)
