"""The ICA domain with a fitted ``mne.preprocessing.ICA``: MNE's own sources and reconstructions as references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.domains.ica import ICA

mne = pytest.importorskip("mne")

FS, C, T, N = 100.0, 3, 50, 6
SCALE = 1e5  # volts -> 10 µV units inside the models, so that their outputs are O(1)


@pytest.fixture(scope="module")
def raw():
    mne.set_log_level("ERROR")
    r = np.random.default_rng(0)
    t = np.arange(int(20 * FS)) / FS
    sources = np.stack([np.sign(np.sin(2 * np.pi * 1.3 * t)), r.laplace(size=t.size), (0.7 * t) % 1 - 0.5])
    mixing = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, 0.4], [0.2, 0.6, 1.0]])
    data = 1e-5 * (mixing @ sources) + np.array([1.0, 2.0, -1.0])[:, None] * 1e-6
    return mne.io.RawArray(data, mne.create_info(["Fz", "Cz", "Pz"], FS, "eeg"))


def fit(inst, n_components):
    return mne.preprocessing.ICA(n_components=n_components, random_state=0, method="fastica", max_iter=1000).fit(inst)


@pytest.fixture(scope="module")
def ica3(raw):
    return fit(raw, 3)


@pytest.fixture(scope="module")
def ica2(raw):
    return fit(raw, 2)


def windows(a: np.ndarray, start: int = 100) -> np.ndarray:
    """(C, L) -> N windows (N, C, T) of consecutive samples."""
    return np.stack([a[:, start + i * T : start + (i + 1) * T] for i in range(N)])


def affine_fit(data: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, mean) with data = A sources + mean, by least squares over MNE's own outputs."""
    design = np.vstack([sources, np.ones(sources.shape[1])])
    coef = np.linalg.lstsq(design.T, data.T, rcond=None)[0].T
    return coef[:, :-1], coef[:, -1]


class Scaled(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(SCALE * x)


@pytest.mark.parametrize("k", [3, 2])
def test_sources_are_mnes(raw, ica3, ica2, k):
    ica = {3: ica3, 2: ica2}[k]
    x = windows(raw.get_data())
    d = ICA(ica).fit(x)
    assert d.n_components_ == k
    expected = windows(ica.get_sources(raw).get_data())
    z = d.forward(x, np)
    np.testing.assert_allclose(z, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    # the inverse is MNE's back-projection with k PCA components (the input itself when k = C)
    rec = windows(ica.apply(raw.copy(), n_pca_components=k).get_data())
    np.testing.assert_allclose(d.inverse(z, np), rec, rtol=0, atol=1e-9 * np.abs(rec).max())
    if k == 3:
        np.testing.assert_allclose(rec, x, rtol=0, atol=1e-9 * np.abs(x).max())


def test_fitted_on_epochs(raw):
    epochs = mne.make_fixed_length_epochs(raw, duration=T / FS, preload=True)
    ica = fit(epochs, 3)
    expected = ica.get_sources(epochs).get_data()
    z = ICA(ica).fit(epochs.get_data()).forward(epochs.get_data(), np)
    np.testing.assert_allclose(z, expected, rtol=0, atol=1e-9 * np.abs(expected).max())


def test_scalar_pre_whitener(raw, ica3):
    """All channels of one type share one scale: a scalar pre_whitener_ is the same map."""
    x = windows(raw.get_data())
    scalar = ica3.copy()
    scalar.pre_whitener_ = float(ica3.pre_whitener_[0, 0])
    assert np.allclose(ica3.pre_whitener_, scalar.pre_whitener_)
    np.testing.assert_allclose(ICA(scalar).fit(x).forward(x, np), ICA(ica3).fit(x).forward(x, np), rtol=1e-12)


def test_linear_model_closed_form(raw, ica3, models):
    r = np.random.default_rng(1)
    x = windows(raw.get_data())
    x0 = windows(raw.get_data(), start=900)  # another stretch of the recording as the baseline
    w = SCALE * r.normal(size=(C, T))
    s, s0 = windows(ica3.get_sources(raw).get_data()), windows(ica3.get_sources(raw).get_data(), start=900)
    mix, _ = affine_fit(raw.get_data(), ica3.get_sources(raw).get_data())
    expected = ((s - s0) * (mix.T @ w)[None]).sum(-1)
    a = cdig.explain(models.Linear(w, 0.2), torch.as_tensor(x), ICA(ica3), baselines=x0, n_steps=2, fs=FS)["ica"]
    assert a.values.shape == (N, C) and a.dims == ("component",)
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-8 * np.abs(expected).max())
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-9)
    np.testing.assert_allclose(a.coefficients, s, rtol=0, atol=1e-9 * np.abs(s).max())


def test_completeness_smooth_model(raw, ica3, models):
    model = Scaled(models.conv_net(channels=C, length=T, n_out=2, act="tanh", dtype=torch.float64))
    x = torch.as_tensor(windows(raw.get_data()))
    a = cdig.explain(model, x, ICA(ica3), target=1, n_steps=64, method="gausslegendre")["ica"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta


def test_two_components_explain_mnes_reconstruction(raw, ica2, models):
    r = np.random.default_rng(2)
    x = windows(raw.get_data())
    w = SCALE * r.normal(size=(C, T))
    counter = models.CallCounter(models.Linear(w, 0.2))
    cdig.explain(counter, torch.as_tensor(x), ("time",), n_steps=2)
    time_alone = counter.rows
    counter.reset()
    res = cdig.explain(counter, torch.as_tensor(x), ("time", ICA(ica2)), n_steps=2)
    a = res["ica"]
    rec = windows(ica2.apply(raw.copy(), n_pca_components=2).get_data())
    s = windows(ica2.get_sources(raw).get_data())
    mix, _ = affine_fit(ica2.apply(raw.copy(), n_pca_components=2).get_data(), ica2.get_sources(raw).get_data())
    zero = mne.io.RawArray(np.zeros_like(raw.get_data()), raw.info)
    s0 = windows(ica2.get_sources(zero).get_data())  # the baseline's (zero signal's) sources, by MNE
    np.testing.assert_allclose(a.output, (w * rec).sum((1, 2)) + 0.2, rtol=1e-9)
    expected = ((s - s0) * (mix.T @ w)[None]).sum(-1)
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-8 * np.abs(expected).max())
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-9)
    assert "reconstruction" in a.settings["domain"]["note"]
    assert counter.rows > time_alone  # a projection: its own pass, besides the time domain's


def test_errors(raw, ica3):
    x = windows(raw.get_data())
    unfitted = mne.preprocessing.ICA(n_components=3, random_state=0)
    with pytest.raises(cdig.CdigValueError, match="not fitted.*ica.fit"):
        ICA(unfitted).fit(x)
    with pytest.raises(cdig.CdigValueError, match=r"fitted on 3 channels \(Fz, Cz, Pz\) but the input has 2"):
        ICA(ica3).fit(x[:, :2])
    with pytest.raises(cdig.CdigValueError, match="not fitted"):
        cdig.explain(lambda v: v.sum((1, 2)), torch.as_tensor(x), ICA(unfitted), backend="torch")
