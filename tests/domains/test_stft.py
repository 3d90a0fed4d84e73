"""The STFT domain: scipy's stft/istft as the independent reference, closed forms, completeness,
planted truth (a tone burst), the shared pass, coordinates and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import get_window, istft, stft

import cdig
from cdig.core.errors import CdigTypeError, CdigValueError
from cdig.core.rules import RULES
from cdig.domains.stft import STFT

N, C = 3, 2


def _scipy_stft(x, n_fft, hop, window="hann", center=True):
    """Our coefficients via scipy: its 'spectrum' scaling divides by the window's sum."""
    w = get_window(window, n_fft)
    _, _, z = stft(x, window=w, nperseg=n_fft, noverlap=n_fft - hop, boundary="zeros" if center else None,
                   padded=True, axis=-1)
    return z * w.sum()


def _scipy_gradient(w, n_fft, hop, n_frames, window="hann"):
    """``G = ∂g/∂Re z + i ∂g/∂Im z`` of ``g(z) = <w, istft(z)>`` (one channel), from scipy's istft on
    every unit coefficient (the inverse is linear): ``Mᴴ w`` built without cdig."""
    t = w.shape[-1]
    win = get_window(window, n_fft)
    f = n_fft // 2 + 1
    basis = np.eye(f * n_frames).reshape(-1, f, n_frames)
    responses = []
    for unit in (basis, 1j * basis):
        _, xs = istft(unit / win.sum(), window=win, nperseg=n_fft, noverlap=n_fft - hop, input_onesided=True,
                      boundary=True)
        responses.append(xs[:, :t] @ w)
    return (responses[0] + 1j * responses[1]).reshape(f, n_frames)


# --- the transform ------------------------------------------------------------------------------


@pytest.mark.parametrize("n_fft, hop, window", [(16, 4, "hann"), (15, 4, "hann"), (16, 8, "hann"),
                                                (16, 5, "hamming"), (16, 16, "boxcar")])
@pytest.mark.parametrize("n_times", [64, 67])
def test_coefficients_match_scipy(rng, n_fft, hop, window, n_times):
    x = rng.normal(size=(N, C, n_times))
    d = STFT(n_fft, hop, window=window).fit(x)
    z = d.forward(x, np)
    ref = _scipy_stft(x, n_fft, hop, window)
    assert z.shape == ref.shape == (N, C, n_fft // 2 + 1, d.n_frames_)
    np.testing.assert_allclose(z, ref, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(n_fft=16, hop_length=4), dict(n_fft=15, hop_length=4),
                                dict(n_fft=16, hop_length=4, pad_mode="reflect"),
                                dict(n_fft=16, hop_length=5, window="hamming", center=False),
                                dict(n_fft=16, hop_length=16, window="boxcar", center=False),
                                dict(n_fft=50, hop_length=1, window="hann")])
@pytest.mark.parametrize("n_times", [50, 67])
def test_inverse_of_forward_is_identity(rng, kw, n_times):
    x = rng.normal(size=(N, C, n_times))
    d = STFT(**kw).fit(x)
    np.testing.assert_allclose(d.inverse(d.forward(x, np), np), x, atol=1e-12)
    from array_api_compat import torch as xp

    xt = torch.as_tensor(x)
    np.testing.assert_allclose(d.inverse(d.forward(xt, xp), xp).numpy(), x, atol=1e-12)
    x32 = torch.as_tensor(x, dtype=torch.float32)
    back = d.inverse(d.forward(x32, xp), xp)
    assert back.dtype == torch.float32
    np.testing.assert_allclose(back.numpy(), x, atol=2e-5)


def test_inverse_matches_scipy_istft(rng):
    x = rng.normal(size=(N, C, 64))
    d = STFT(16, 4).fit(x)
    z = rng.normal(size=(N, C, 9, d.n_frames_)) + 1j * rng.normal(size=(N, C, 9, d.n_frames_))
    _, ref = istft(z / get_window("hann", 16).sum(), window="hann", nperseg=16, noverlap=12, boundary=True)
    np.testing.assert_allclose(d.inverse(z, np), ref[..., :64], atol=1e-12)


# --- closed form for a linear model -------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("n_fft, hop, n_times", [(16, 4, 48), (15, 6, 41)])
def test_linear_model_closed_form(rng, models, method, n_fft, hop, n_times):
    w = rng.normal(size=(C, n_times))
    x, x0 = rng.normal(size=(N, C, n_times)), rng.normal(size=(N, C, n_times))
    a = cdig.explain(models.Linear(w, 0.3).eval(), torch.as_tensor(x), STFT(n_fft, hop), baselines=x0,
                     n_steps=3, method=method)["stft"]
    dz = _scipy_stft(x, n_fft, hop) - _scipy_stft(x0, n_fft, hop)
    grad = np.stack([_scipy_gradient(w[c], n_fft, hop, dz.shape[-1]) for c in range(C)])
    expected = np.real(dz * np.conj(grad))
    assert a.values.shape == expected.shape
    assert a.dims == ("channel", "frequency", "time")
    np.testing.assert_allclose(a.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.sum(), (w * (x - x0)).sum((1, 2)), atol=1e-11)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-11)


# --- completeness and the shared pass -----------------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "gelu"])
def test_completeness_smooth_model(models, act):
    model = models.conv_net(channels=C, length=48, n_out=3, act=act, dtype=torch.float64)
    x = torch.randn(N, C, 48, dtype=torch.float64)
    a = cdig.explain(model, x, ["time", STFT(12, 3)], target=1, n_steps=64, method="gausslegendre")
    s = a["stft"]
    assert np.all(s.relative_delta < 1e-3), s.relative_delta
    np.testing.assert_allclose(s.sum() - (s.output - s.baseline_output), s.delta, atol=1e-12)
    # one shared path: the same change of output as the time map
    np.testing.assert_allclose(s.sum(), a["time"].sum(), atol=1e-10)


def test_shares_the_time_pass(models):
    counter = models.CallCounter(models.conv_net(channels=C, length=40, n_out=2, dtype=torch.float64))
    x = torch.randn(N, C, 40, dtype=torch.float64)
    cdig.explain(counter, x, ("time",), target=0, n_steps=16)
    rows_time = counter.rows
    counter.reset()
    cdig.explain(counter, x, ("time", STFT(16, 4)), target=0, n_steps=16)
    assert counter.rows == rows_time


# --- planted truth ------------------------------------------------------------------------------


class ToneBurstEnergy(torch.nn.Module):
    """Energy of the input's projection on a Gabor atom at sample ``t0`` and ``f0`` cycles/sample."""

    def __init__(self, n_times: int, t0: float, f0: float, width: float) -> None:
        super().__init__()
        t = np.arange(n_times)
        env = np.exp(-0.5 * ((t - t0) / width) ** 2)
        atoms = np.stack([env * np.cos(2 * np.pi * f0 * t), env * np.sin(2 * np.pi * f0 * t)])
        self.register_buffer("atoms", torch.as_tensor(atoms))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x[:, 0] @ self.atoms.T) ** 2).sum(-1)


def test_tone_burst_peaks_at_its_time_and_frequency():
    n_times, t0, f0, fs = 128, 80.0, 0.25, 64.0
    model = ToneBurstEnergy(n_times, t0, f0, width=6.0)
    g = torch.Generator().manual_seed(1)
    x = 0.3 * torch.randn(4, 1, n_times, dtype=torch.float64, generator=g) + model.atoms[0]
    a = cdig.explain(model, x, STFT(32, 8), n_steps=8, fs=fs)["stft"]
    assert np.all(a.relative_delta < 1e-8)  # a quadratic model: Gauss–Legendre is exact
    freqs, times = a.coords["frequency"], a.coords["time"]
    for v in a.values[:, 0]:
        k, j = np.unravel_index(np.argmax(v), v.shape)
        assert freqs[k] == pytest.approx(f0 * fs)
        assert abs(times[j] - t0 / fs) <= 8 / fs
    # most of the attribution lies near the burst
    near = (np.abs(freqs - f0 * fs)[:, None] <= 4) & (np.abs(times - t0 / fs)[None, :] <= 16 / fs)
    share = a.values[:, 0][:, near].sum(-1) / a.values[:, 0].sum((-1, -2))
    assert np.all(share > 0.9), share


# --- coordinates --------------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [None, 100.0])
@pytest.mark.parametrize("n_fft, hop, center", [(16, 4, True), (15, 5, True), (16, 4, False)])
def test_coordinates(rng, models, fs, n_fft, hop, center):
    n_times = 60
    window = "hann" if center else "hamming"
    model = models.Linear(rng.normal(size=(C, n_times)), 0.0).eval()
    a = cdig.explain(model, torch.as_tensor(rng.normal(size=(2, C, n_times))),
                     STFT(n_fft, hop, window=window, center=center), n_steps=1, fs=fs)["stft"]
    f, t = a.coords["frequency"], a.coords["time"]
    assert a.values.shape == (2, C, len(f), len(t))
    scale = 1.0 if fs is None else fs
    np.testing.assert_allclose(f, np.arange(n_fft // 2 + 1) / n_fft * scale)
    first = 0 if center else n_fft // 2
    np.testing.assert_allclose(t, (first + hop * np.arange(len(t))) / scale)
    assert a.units == ({"frequency": "cycles/sample", "time": "sample"} if fs is None
                       else {"frequency": "Hz", "time": "s"})
    if center:  # scipy's frame times
        ts = stft(np.zeros(n_times), fs=scale, window=window, nperseg=n_fft, noverlap=n_fft - hop)[1]
        if n_fft % 2 == 0:
            np.testing.assert_allclose(t, ts)
    info = a.settings["domain"]
    assert info["n_fft"] == n_fft and info["hop_length"] == hop and info["n_frames"] == len(t)


def test_two_dimensional_input_drops_the_channel_axis(rng, models):
    model = models.Linear(rng.normal(size=(1, 40)), 0.0).eval()
    # a 2-D (N, T) input to a model reading (N, 1, T)
    a = cdig.explain(lambda x: model(x[:, None]), torch.as_tensor(rng.normal(size=(2, 40))), STFT(8, 2),
                     n_steps=1, backend="torch")["stft"]
    assert a.values.shape == (2, 5, 21) and a.dims == ("frequency", "time")


# --- other frameworks ---------------------------------------------------------------------------


def test_jax_model_completeness_and_torch_agreement(rng):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    w = rng.normal(size=(C, 32)).astype(np.float32)
    x = rng.normal(size=(N, C, 32)).astype(np.float32)
    wj = jnp.asarray(w)
    fj = jax.jit(lambda v: jnp.tanh(0.3 * jnp.sum(v * wj, axis=(1, 2))))
    a = cdig.explain(fj, x, STFT(8, 2), n_steps=64, time_axis=-1, backend="jax")["stft"]
    assert np.all(a.relative_delta < 1e-3), a.relative_delta
    wt = torch.as_tensor(w)
    b = cdig.explain(lambda v: torch.tanh(0.3 * (v * wt).sum((1, 2))), torch.as_tensor(x), STFT(8, 2),
                     n_steps=64, backend="torch")["stft"]
    np.testing.assert_allclose(a.values, b.values, atol=2e-4 * np.abs(b.values).max())


def test_tensorflow_round_trip_matches_numpy(rng):
    tf = pytest.importorskip("tensorflow")
    from cdig.backends.tensorflow import TFNamespace

    x = rng.normal(size=(N, C, 50))
    for d in (STFT(16, 4), STFT(15, 4, pad_mode="reflect")):
        d.fit(x)
        z = d.forward(tf.constant(x), TFNamespace)
        np.testing.assert_allclose(z.numpy(), d.forward(x, np), atol=1e-12)
        np.testing.assert_allclose(d.inverse(z, TFNamespace).numpy(), x, atol=1e-12)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, exc, match", [
    (dict(n_fft=0), CdigValueError, "n_fft=0"),
    (dict(n_fft=8.0), CdigValueError, "n_fft=8.0"),
    (dict(n_fft=8, hop_length=0), CdigValueError, "hop_length=0"),
    (dict(n_fft=8, hop_length=9), CdigValueError, "leave gaps"),
    (dict(n_fft=8, window="no-such-window"), CdigValueError, "get_window"),
    (dict(n_fft=8, window=np.ones(7)), CdigValueError, "n_fft=8 values"),
    (dict(n_fft=8, window=np.zeros(8)), CdigValueError, "not all zero"),
    (dict(n_fft=8, window=object()), CdigTypeError, "window must be"),
    (dict(n_fft=8, center="yes"), CdigTypeError, "center"),
    (dict(n_fft=8, pad_mode="wrap"), CdigValueError, "pad_mode='wrap'"),
])
def test_bad_parameters(kw, exc, match):
    with pytest.raises(exc, match=match):
        STFT(**kw)


def test_bad_signals(models):
    model = models.Linear(np.ones((1, 16)), 0.0).eval()
    x = torch.randn(2, 1, 16, dtype=torch.float64)
    with pytest.raises(CdigValueError, match=re.escape("fewer than n_fft=32")):
        cdig.explain(model, x, STFT(32), n_steps=2)
    with pytest.raises(CdigValueError, match="NOLA"):
        cdig.explain(model, x, STFT(8, 8), n_steps=2)  # a Hann window's zeros fall on frame starts
    with pytest.raises(CdigValueError, match="NOLA"):
        STFT(8, 2, center=False).fit(np.zeros((1, 1, 16)))  # sample 0 only meets hann[0] = 0
    with pytest.raises(CdigValueError, match="not fitted"):
        STFT(8).forward(np.zeros((1, 1, 16)), np)


def test_refit_for_a_new_length(rng):
    d = STFT(8, 2)
    for n_times in (32, 40, 32):
        x = rng.normal(size=(1, 1, n_times))
        np.testing.assert_allclose(d.fit(x).inverse(d.forward(x, np), np), x, atol=1e-12)


def test_docs_page_runs(tmp_path, monkeypatch):
    page = Path(__file__).resolve().parents[2] / "docs" / "domains" / "stft.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_stft"}
    for code in blocks:
        exec(compile(code, str(page), "exec"), namespace)
