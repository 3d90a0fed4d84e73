"""The STFT domain: scipy's stft/istft as the independent reference, closed forms, completeness,
planted truth (a tone burst), the shared pass, coordinates and bad input."""

from __future__ import annotations

import re

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
    _, _, z = stft(x, window=w, nperseg=n_fft, noverlap=n_fft - hop, boundary="zeros" if center else None, padded=True, axis=-1)
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
        _, xs = istft(unit / win.sum(), window=win, nperseg=n_fft, noverlap=n_fft - hop, input_onesided=True, boundary=True)
        responses.append(xs[:, :t] @ w)
    return (responses[0] + 1j * responses[1]).reshape(f, n_frames)


# --- the transform ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_fft, hop, window", [(16, 4, "hann"), (15, 4, "hann"), (16, 8, "hann"), (16, 5, "hamming"), (16, 16, "boxcar")]
)
@pytest.mark.parametrize("n_times", [64, 67])
def test_coefficients_match_scipy(rng, n_fft, hop, window, n_times):
    x = rng.normal(size=(N, C, n_times))
    d = STFT(n_fft, hop, window=window).fit(x)
    z = d.forward(x, np)
    ref = _scipy_stft(x, n_fft, hop, window)
    assert z.shape == ref.shape == (N, C, n_fft // 2 + 1, d.n_frames_)
    np.testing.assert_allclose(z, ref, atol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_fft=16, hop_length=4),
        dict(n_fft=15, hop_length=4),
        dict(n_fft=16, hop_length=4, pad_mode="reflect"),
        dict(n_fft=16, hop_length=5, window="hamming", center=False),
        dict(n_fft=16, hop_length=16, window="boxcar", center=False),
        dict(n_fft=50, hop_length=1, window="hann"),
    ],
)
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


# --- agreement with the dense least-squares maps ----------------------------------------------


def _dense_maps(n_fft, hop, window, center, pad_mode, n_times):
    """The framing matrix ``F`` (rows: coefficients ``k * frames + j`` of the windowed frames, columns:
    samples) built from the definition with numpy's padding, and its dense pseudo-inverse ``F⁺``: the
    least-squares inverse, computed without cdig's index arithmetic."""
    w = get_window(window, n_fft) if isinstance(window, (str, tuple)) else np.asarray(window, float)
    pad = n_fft // 2 if center else 0
    eye = np.eye(n_times)
    padded = np.pad(eye, ((0, 0), (pad, pad)), mode=pad_mode)  # row s: sample s's unit impulse, padded
    padded = np.pad(padded, ((0, 0), (0, (-(padded.shape[1] - n_fft)) % hop)))
    n_frames = (padded.shape[1] - n_fft) // hop + 1
    frames = np.stack([padded[:, j * hop : j * hop + n_fft] * w for j in range(n_frames)], axis=-1)
    f = frames.reshape(n_times, -1).T  # (n_fft * frames, T)
    return f, np.linalg.pinv(f), n_frames


_DENSE_CASES = [
    (16, 4, "hann"),
    (15, 4, "hann"),
    (16, 5, "hamming"),
    (16, 3, ("tukey", 0.5)),
    (12, 7, "hamming"),
    (16, 16, "boxcar"),
    (9, 1, "hann"),
    (8, 6, "blackman"),
]


@pytest.mark.parametrize("n_fft, hop, window", _DENSE_CASES)
@pytest.mark.parametrize("center, pad_mode", [(True, "constant"), (True, "reflect"), (False, "constant")])
@pytest.mark.parametrize("n_times", [16, 17, 40, 67])
def test_matches_the_dense_pseudo_inverse(rng, n_fft, hop, window, center, pad_mode, n_times):
    if not center and window not in ("hamming", "boxcar"):
        window = "hamming"  # a window that is zero at its start misses sample 0 (NOLA)
    d = STFT(n_fft, hop, window=window, center=center, pad_mode=pad_mode).fit(np.zeros((1, 1, n_times)))
    f, f_pinv, n_frames = _dense_maps(n_fft, hop, window, center, pad_mode, n_times)
    assert d.n_frames_ == n_frames
    x = rng.normal(size=(N, C, n_times))
    ref = np.fft.rfft((x @ f.T).reshape(N, C, n_fft, n_frames), axis=-2)
    np.testing.assert_allclose(d.forward(x, np), ref, rtol=0, atol=1e-12)
    z = rng.normal(size=ref.shape) + 1j * rng.normal(size=ref.shape)  # not the coefficients of a signal
    frames = np.fft.irfft(z, n=n_fft, axis=-2).reshape(N, C, -1)
    np.testing.assert_allclose(d.inverse(z, np), frames @ f_pinv.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.inverse(d.forward(x, np), np), x, rtol=0, atol=1e-12)

    from array_api_compat import torch as xp

    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        xt = torch.as_tensor(x, dtype=dtype)
        zt = d.forward(xt, xp)
        assert zt.dtype == (torch.complex128 if dtype == torch.float64 else torch.complex64)
        np.testing.assert_allclose(zt.numpy(), ref, rtol=0, atol=tol * 10)
        back = d.inverse(torch.as_tensor(z, dtype=zt.dtype), xp)
        assert back.dtype == dtype
        np.testing.assert_allclose(back.numpy(), frames @ f_pinv.T, rtol=0, atol=tol * 10)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_fft=16, hop_length=5, window="hamming"),
        dict(n_fft=15, hop_length=4, pad_mode="reflect"),
        dict(n_fft=12, hop_length=7, window="hamming", center=False),
    ],
)
def test_inverse_is_the_documented_formula(rng, kw):
    """As the docstring and docs/domains/stft.md state: ``x = (FᵀF)⁻¹ Fᵀ · irfft(z)`` with ``FᵀF``
    diagonal (each sample's window energy). ``F Fᵀ`` is singular, so ``Fᵀ(F Fᵀ)⁻¹`` does not exist."""
    n_times = 40
    d = STFT(**kw).fit(np.zeros((1, 1, n_times)))
    f, _, n_frames = _dense_maps(
        kw["n_fft"], kw["hop_length"], kw.get("window", "hann"), kw.get("center", True), kw.get("pad_mode", "constant"), n_times
    )
    gram = f.T @ f
    np.testing.assert_array_equal(gram, np.diag(np.diag(gram)))  # each coefficient reads one sample
    assert np.linalg.matrix_rank(f @ f.T) == n_times < f.shape[0]
    z = rng.normal(size=(N, C, d.n_freqs_, n_frames)) + 1j * rng.normal(size=(N, C, d.n_freqs_, n_frames))
    frames = np.fft.irfft(z, n=kw["n_fft"], axis=-2).reshape(N, C, -1)  # not the frames of any signal
    np.testing.assert_allclose(d.inverse(z, np), (frames @ f) / np.diag(gram), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_fft=16, hop_length=4),
        dict(n_fft=15, hop_length=4, pad_mode="reflect"),
        dict(n_fft=16, hop_length=5, window="hamming", center=False),
        dict(n_fft=12, hop_length=7, window="hamming", pad_mode="reflect"),
    ],
)
def test_gradients_match_the_dense_maps(rng, kw):
    """The vector–Jacobian products of both maps in torch are those of the dense matrices."""
    from array_api_compat import torch as xp

    n_times = 41
    d = STFT(**kw).fit(np.zeros((1, 1, n_times)))
    f, f_pinv, _ = _dense_maps(
        kw["n_fft"], kw["hop_length"], kw.get("window", "hann"), kw.get("center", True), kw.get("pad_mode", "constant"), n_times
    )
    g = torch.as_tensor(rng.normal(size=(N, C, n_times)))
    shape = (N, C, d.n_freqs_, d.n_frames_)
    z = torch.as_tensor(rng.normal(size=shape) + 1j * rng.normal(size=shape), dtype=torch.complex128)
    z.requires_grad_(True)
    (d.inverse(z, xp) * g).sum().backward()
    zr = z.detach().clone().requires_grad_(True)
    frames = torch.fft.irfft(zr, n=d.n_fft, dim=-2).reshape(N, C, -1)
    ((frames @ torch.as_tensor(f_pinv.T)) * g).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), zr.grad.numpy(), rtol=0, atol=1e-12)

    x = torch.tensor(rng.normal(size=(N, C, n_times)), dtype=torch.float64, requires_grad=True)
    gz = torch.as_tensor(rng.normal(size=shape) + 1j * rng.normal(size=shape))
    torch.real(d.forward(x, xp) * gz).sum().backward()
    xr = x.detach().clone().requires_grad_(True)
    zr = torch.fft.rfft((xr @ torch.as_tensor(f.T)).reshape(N, C, d.n_fft, -1), dim=-2)
    torch.real(zr * gz).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xr.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("framework", ["jax", "tensorflow"])
def test_other_frameworks_differentiate_like_the_dense_maps(rng, framework):
    """jax.grad and tf.GradientTape through both maps (hop not dividing n_fft, reflect padding)."""
    n_times, kw = 37, dict(n_fft=12, hop_length=5, window="hamming", pad_mode="reflect")
    d = STFT(**kw).fit(np.zeros((1, 1, n_times)))
    f, f_pinv, _ = _dense_maps(12, 5, "hamming", True, "reflect", n_times)
    shape = (N, C, d.n_freqs_, d.n_frames_)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    g, gr, gi = rng.normal(size=(N, C, n_times)), rng.normal(size=shape), rng.normal(size=shape)
    # references: the dense maps are linear, so their gradients are their transposes applied to g
    ref_x = np.einsum("nckj,kjt->nct", gr, np.fft.rfft(f.T.reshape(n_times, 12, -1), axis=-2).real.transpose(1, 2, 0))
    ref_x += np.einsum("nckj,kjt->nct", gi, np.fft.rfft(f.T.reshape(n_times, 12, -1), axis=-2).imag.transpose(1, 2, 0))
    zt = torch.tensor(a + 1j * b, requires_grad=True)
    frames = torch.fft.irfft(zt, n=12, dim=-2).reshape(N, C, -1)
    ((frames @ torch.as_tensor(f_pinv.T)) * torch.as_tensor(g)).sum().backward()
    ref_a, ref_b = zt.grad.real.numpy(), zt.grad.imag.numpy()
    x = rng.normal(size=(N, C, n_times))
    if framework == "jax":
        jax = pytest.importorskip("jax")
        jnp = jax.numpy
        # JAX runs in float32 here (x64 is process-wide)

        def through_inverse(a, b):
            return jnp.sum(d.inverse(a + 1j * b, jnp) * g)

        def through_forward(x):
            z = d.forward(x, jnp)
            return jnp.sum(jnp.real(z) * gr + jnp.imag(z) * gi)

        grad_a, grad_b = jax.jit(jax.grad(through_inverse, argnums=(0, 1)))(jnp.asarray(a), jnp.asarray(b))
        grad_x = jax.jit(jax.grad(through_forward))(jnp.asarray(x))
        grad_a, grad_b, grad_x = (np.asarray(v, dtype=np.float64) for v in (grad_a, grad_b, grad_x))
        tol = 1e-5
    else:
        tf = pytest.importorskip("tensorflow")
        from cdig.backends.tensorflow import TFNamespace as xp

        av, bv, xv = tf.constant(a), tf.constant(b), tf.constant(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([av, bv, xv])
            through_inverse = tf.reduce_sum(d.inverse(tf.complex(av, bv), xp) * g)
            z = d.forward(xv, xp)
            through_forward = tf.reduce_sum(tf.math.real(z) * gr + tf.math.imag(z) * gi)
        grad_a, grad_b = (tf.convert_to_tensor(v).numpy() for v in tape.gradient(through_inverse, [av, bv]))
        grad_x = tf.convert_to_tensor(tape.gradient(through_forward, xv)).numpy()
        tol = 1e-12
    for got, ref in ((grad_a, ref_a), (grad_b, ref_b), (grad_x, ref_x)):
        np.testing.assert_allclose(got, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_long_signal_round_trip_and_compact_fit(rng):
    """T = 2**16: exact, and fitted in O(T · n_fft / hop) memory (the dense maps had T² · n_fft / hop entries)."""
    from array_api_compat import torch as xp

    n_times = 2**16
    x = torch.as_tensor(rng.normal(size=(1, 2, n_times)))
    for pad_mode in ("constant", "reflect"):
        d = STFT(256, 64, pad_mode=pad_mode).fit(x.numpy())
        back = d.inverse(d.forward(x, xp), xp)
        np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=0, atol=1e-12)
        sizes = [v.size for v in vars(d).values() if isinstance(v, np.ndarray)]
        assert max(sizes) <= 8 * (n_times + 256 * d.n_frames_), sizes


def test_an_ill_conditioned_synthesis_is_refused():
    window = np.r_[np.ones(7), 3e-6]  # every 8th sample gets weight 9e-12, the others 1
    with pytest.raises(CdigValueError, match=re.escape("condition number 1.11e+11")):
        STFT(8, 8, window=window, center=False).fit(np.zeros((1, 1, 32)))
    STFT(8, 8, window=np.r_[np.ones(7), 1e-3], center=False).fit(np.zeros((1, 1, 32)))


# --- closed form for a linear model -------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("n_fft, hop, n_times", [(16, 4, 48), (15, 6, 41)])
def test_linear_model_closed_form(rng, models, method, n_fft, hop, n_times):
    w = rng.normal(size=(C, n_times))
    x, x0 = rng.normal(size=(N, C, n_times)), rng.normal(size=(N, C, n_times))
    a = cdig.explain(models.Linear(w, 0.3).eval(), torch.as_tensor(x), STFT(n_fft, hop), baselines=x0, n_steps=3, method=method)[
        "stft"
    ]
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
    a = cdig.explain(
        model, torch.as_tensor(rng.normal(size=(2, C, n_times))), STFT(n_fft, hop, window=window, center=center), n_steps=1, fs=fs
    )["stft"]
    f, t = a.coords["frequency"], a.coords["time"]
    assert a.values.shape == (2, C, len(f), len(t))
    scale = 1.0 if fs is None else fs
    np.testing.assert_allclose(f, np.arange(n_fft // 2 + 1) / n_fft * scale)
    first = 0 if center else n_fft // 2
    np.testing.assert_allclose(t, (first + hop * np.arange(len(t))) / scale)
    assert a.units == ({"frequency": "cycles/sample", "time": "sample"} if fs is None else {"frequency": "Hz", "time": "s"})
    if center:  # scipy's frame times
        ts = stft(np.zeros(n_times), fs=scale, window=window, nperseg=n_fft, noverlap=n_fft - hop)[1]
        if n_fft % 2 == 0:
            np.testing.assert_allclose(t, ts)
    info = a.settings["domain"]
    assert info["n_fft"] == n_fft and info["hop_length"] == hop and info["n_frames"] == len(t)


def test_two_dimensional_input_drops_the_channel_axis(rng, models):
    model = models.Linear(rng.normal(size=(1, 40)), 0.0).eval()
    # a 2-D (N, T) input to a model reading (N, 1, T)
    a = cdig.explain(
        lambda x: model(x[:, None]), torch.as_tensor(rng.normal(size=(2, 40))), STFT(8, 2), n_steps=1, backend="torch"
    )["stft"]
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
    b = cdig.explain(
        lambda v: torch.tanh(0.3 * (v * wt).sum((1, 2))), torch.as_tensor(x), STFT(8, 2), n_steps=64, backend="torch"
    )["stft"]
    np.testing.assert_allclose(a.values, b.values, atol=2e-4 * np.abs(b.values).max())


def test_tensorflow_round_trip_matches_numpy(rng):
    tf = pytest.importorskip("tensorflow")
    from cdig.backends.tensorflow import TFNamespace

    x = rng.normal(size=(N, C, 50))
    for d in (STFT(16, 4), STFT(15, 4, pad_mode="reflect"), STFT(16, 5, window="hamming", center=False)):
        d.fit(x)
        z = d.forward(tf.constant(x), TFNamespace)
        np.testing.assert_allclose(z.numpy(), d.forward(x, np), atol=1e-12)
        np.testing.assert_allclose(d.inverse(z, TFNamespace).numpy(), x, atol=1e-12)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, exc, match",
    [
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
    ],
)
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
