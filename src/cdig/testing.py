"""Shared test models, closed-form references and skip markers for cdig's tests (like ``captum.testing``).

Importable by name from any test (``from cdig.testing import LinearModel, requires_jax``); ``import cdig``
never imports this module. It needs PyTorch (the models are ``torch.nn.Module``) and pytest (the
markers); scikit-learn and SciPy are imported only by the helpers that use them.

Every reference here is independent of cdig: closed forms derived on paper and checked with numpy,
never an earlier output of cdig.

Examples
--------
In a test module (pytest's ``--import-mode=importlib`` keeps test files from importing each other, so
shared helpers live here)::

    from cdig.testing import LinearModel, fourier_linear_map, requires_jax

    @requires_jax
    def test_something():
        model = LinearModel(w)
        ...
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
import torch

__all__ = [
    "LinearModel",
    "ConvNet",
    "make_conv_net",
    "ScalarHead",
    "BandEnergy",
    "FourierBandEnergy",
    "CallCounter",
    "ChannelsLast",
    "LinearForecaster",
    "rfft_weights",
    "band_of_bins",
    "fourier_gradient",
    "fourier_linear_map",
    "ica_linear_map",
    "fit_ica",
    "foreign_linear",
    "store_differences",
    "installed",
    "requires",
    "requires_torch",
    "requires_tensorflow",
    "requires_keras",
    "requires_jax",
    "requires_captum",
    "requires_sklearn",
    "requires_scipy",
    "requires_matplotlib",
    "requires_zarr",
    "requires_ray",
    "requires_mne",
    "requires_pywt",
    "requires_quantus",
    "requires_nbclient",
]


# --------------------------------------------------------------------------------------------
# skip markers, declared once (xarray's ``requires_X``)
# --------------------------------------------------------------------------------------------


def installed(module: str) -> bool:
    """Whether ``module`` (a dotted name) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a half-imported module
        return False


def requires(*modules: str) -> Any:
    """A ``pytest.mark.skipif`` that skips unless every module in ``modules`` is installed."""
    missing = [m for m in modules if not installed(m)]
    return pytest.mark.skipif(bool(missing), reason=f"requires {', '.join(missing or modules)}")


requires_torch = requires("torch")
requires_tensorflow = requires("tensorflow")
requires_keras = requires("keras")
requires_jax = requires("jax")
requires_captum = requires("captum")
requires_sklearn = requires("sklearn")
requires_scipy = requires("scipy")
requires_matplotlib = requires("matplotlib")
requires_zarr = requires("zarr")
requires_ray = requires("ray")
requires_mne = requires("mne")
requires_pywt = requires("pywt")
requires_quantus = requires("quantus")
requires_nbclient = requires("nbformat", "nbclient", "ipykernel")


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


class LinearModel(torch.nn.Module):
    """``f(x) = <w, x> + b`` over all non-batch axes.

    ``w`` has the shape of one sample (one output, returned as ``(N,)``) or ``(K,) + sample shape``
    (``K`` outputs, returned as ``(N, K)``). ``keepdim=True`` returns ``(N, 1)`` for one output.
    """

    def __init__(self, w: np.ndarray, b: float | np.ndarray = 0.0, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim
        self.w = torch.nn.Parameter(torch.as_tensor(np.asarray(w)))
        self.b = torch.nn.Parameter(torch.as_tensor(np.asarray(b, dtype=np.asarray(w).dtype)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if self.w.ndim == x.ndim:  # (K, *sample)
            return flat @ self.w.reshape(self.w.shape[0], -1).T + self.b
        out = flat @ self.w.reshape(-1) + self.b
        return out[:, None] if self.keepdim else out


class ConvNet(torch.nn.Module):
    """A small smooth (or not) 1-D conv net: (N, C, T) -> (N, K)."""

    ACTS = {"tanh": torch.nn.Tanh, "gelu": torch.nn.GELU, "softplus": torch.nn.Softplus, "relu": torch.nn.ReLU}

    def __init__(self, channels: int = 2, length: int = 64, n_out: int = 3, act: str = "tanh", hidden: int = 4) -> None:
        super().__init__()
        a = self.ACTS[act]
        self.features = torch.nn.Sequential(
            torch.nn.Conv1d(channels, hidden, 5, padding=2),
            a(),
            torch.nn.Conv1d(hidden, hidden, 3),
            a(),
        )
        self.head = torch.nn.Linear(hidden * (length - 2), n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def make_conv_net(
    channels: int = 2, length: int = 64, n_out: int = 3, act: str = "tanh", dtype: torch.dtype = torch.float32, seed: int = 0
) -> ConvNet:
    torch.manual_seed(seed)
    return ConvNet(channels, length, n_out, act).to(dtype).eval()


class ScalarHead(torch.nn.Module):
    """One output per sample of a wrapped model: ``(N,)`` (or ``(N, 1)`` with ``keepdim``)."""

    def __init__(self, model: torch.nn.Module, index: int = 0, keepdim: bool = False) -> None:
        super().__init__()
        self.model, self.index, self.keepdim = model, index, keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)[:, self.index]
        return y[:, None] if self.keepdim else y


class BandEnergy(torch.nn.Module):
    """Planted truth: the energy of a fixed FIR band-pass filter's output, then a linear readout.

    Only frequencies in ``band`` (cycles/sample) pass the filter, so only they can matter.
    """

    def __init__(self, band: tuple[float, float] = (0.15, 0.25), taps: int = 41) -> None:
        super().__init__()
        from scipy.signal import firwin

        h = firwin(taps, list(band), pass_zero=False, fs=1.0)
        self.band = band
        self.conv = torch.nn.Conv1d(1, 1, taps, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.as_tensor(h, dtype=torch.float32).reshape(1, 1, -1))
        self.readout = torch.nn.Linear(1, 1)
        with torch.no_grad():
            self.readout.weight.fill_(2.0)
            self.readout.bias.fill_(0.1)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout((self.conv(x) ** 2).mean(-1))[:, 0]


class FourierBandEnergy(torch.nn.Module):
    """Planted truth: the energy of the rFFT bins ``lo <= k < hi`` (an ideal band-pass)."""

    def __init__(self, lo: int, hi: int) -> None:
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(x, dim=-1)[..., self.lo : self.hi]
        return (spec.abs() ** 2).sum(dim=(1, 2)) / x.shape[-1]


class CallCounter(torch.nn.Module):
    """Counts the model calls and the rows (path points) they carried."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls = 0
        self.rows = 0

    def reset(self) -> None:
        self.calls = self.rows = 0

    def forward(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        self.calls += 1
        self.rows += int(x.shape[0])
        return self.model(x, *args)


class ChannelsLast(torch.nn.Module):
    """The same model for inputs laid out (N, T, C): transposes to (N, C, T) first."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.transpose(1, 2))


class LinearForecaster(torch.nn.Module):
    """``out[n, h, c] = sum_{d, t} W[h, c, d, t] x[n, d, t] + b[h, c]``: (N, C, T) -> (N, H, C)."""

    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w))
        self.b = torch.nn.Parameter(torch.as_tensor(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("hcdt,ndt->nhc", self.w, x) + self.b


# --------------------------------------------------------------------------------------------
# closed forms (independent references)
# --------------------------------------------------------------------------------------------


def band_of_bins(n_times: int, fs: float, bands: dict[str, tuple[float, float]]) -> np.ndarray:
    """The band of each rFFT bin of ``n_times`` samples at ``fs`` Hz: the index of the half-open interval
    ``[low, high)`` in Hz of ``bands`` holding the bin's frequency ``k fs / n_times``, else ``len(bands)``
    (the remainder). Written from the definition, independently of :class:`cdig.FrequencyBands`: a
    reference for tests, and ``groups=`` labels for a perturbation method over bands of Fourier bins.

    Examples
    --------
    >>> band_of_bins(8, 8.0, {"low": (0.0, 2.0), "mid": (2.0, 3.5)})
    array([0, 0, 1, 1, 2])
    """
    freqs = np.arange(n_times // 2 + 1) * fs / n_times
    index = np.full(len(freqs), len(bands))
    for b, (lo, hi) in enumerate(bands.values()):
        index[(freqs >= lo) & (freqs < hi)] = b
    return index


def rfft_weights(n_times: int) -> np.ndarray:
    """How often the inverse real FFT counts each rFFT bin: DC (and Nyquist for even T) once, others twice."""
    c = np.full(n_times // 2 + 1, 2.0)
    c[0] = 1.0
    if n_times % 2 == 0:
        c[-1] = 1.0
    return c


def fourier_gradient(w: np.ndarray) -> np.ndarray:
    """``G_k = ∂g/∂Re z_k + i ∂g/∂Im z_k`` for ``g(z) = <w, irfft(z)>`` along the last axis.

    From ``x_t = (1/T) [Re z_0 + Σ_k c'_k (Re z_k cos θ_kt − Im z_k sin θ_kt)]`` (``θ_kt = 2πkt/T``):
    ``∂g/∂Re z_k = (c_k/T) Σ_t w_t cos θ_kt`` and ``∂g/∂Im z_k = −(c_k/T) Σ_t w_t sin θ_kt``, so
    ``G_k = (c_k/T) Σ_t w_t e^{−iθ_kt} = (c_k/T) rfft(w)_k``.
    """
    t = w.shape[-1]
    return rfft_weights(t) / t * np.fft.rfft(w, axis=-1)


def fourier_linear_map(x: np.ndarray, x0: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Fourier IG of ``f(x) = <w, x> + b``: ``A_k = Re[(X_k − X0_k) conj(G_k)]`` (exact for every rule)."""
    dz = np.fft.rfft(x, axis=-1) - np.fft.rfft(x0, axis=-1)
    return np.real(dz * np.conj(fourier_gradient(w)))


def ica_linear_map(ica: Any, x: np.ndarray, x0: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ICA IG of ``f(x) = <w, x> + b`` per component: ``Σ_t (s_kt − s0_kt) (Aᵀ w)_kt``.

    ``x`` and ``x0`` are (N, C, T); sources ``s = W (x − mean)`` with ``W = components_``.
    """
    unmix, mix, mean = ica.components_, ica.mixing_, ica.mean_
    s = np.einsum("kc,nct->nkt", unmix, x - mean[:, None])
    s0 = np.einsum("kc,nct->nkt", unmix, x0 - mean[:, None])
    return ((s - s0) * (mix.T @ w)[None]).sum(-1)


def fit_ica(n_channels: int, seed: int = 1, n_components: int | None = None) -> Any:
    """A FastICA fitted on ``n_channels`` mixed Laplacian channels (float64, nonzero means)."""
    from sklearn.decomposition import FastICA

    r = np.random.default_rng(seed)
    sources = r.laplace(size=(2000, n_channels))
    mixing = r.normal(size=(n_channels, n_channels)) + 2 * np.eye(n_channels)
    data = sources @ mixing.T + r.normal(size=n_channels)
    return FastICA(n_components=n_components, whiten="unit-variance", random_state=seed, max_iter=2000, tol=1e-6).fit(data)


def foreign_linear(framework: str, w: np.ndarray, x: np.ndarray) -> tuple[Any, Any]:
    """``(f, x_in)``: ``f(v) = Σ v·wᵀ`` per sample in JAX or TensorFlow and ``x`` as that framework's array.

    Channels last: ``w`` is ``(C, T)`` and ``x`` is ``(N, T, C)``. Skips the test if ``framework`` is
    not installed.
    """
    lib = pytest.importorskip(framework)
    if framework == "jax":
        wt = lib.numpy.asarray(w.T)
        return (lambda v: (v * wt).sum(axis=(1, 2))), lib.numpy.asarray(x)
    wt = lib.constant(w.T)
    return (lambda v: lib.reduce_sum(v * wt, axis=[1, 2])), lib.constant(x)


# --------------------------------------------------------------------------------------------
# stores of cdig.explain_dataset
# --------------------------------------------------------------------------------------------
def _store_contents(group: Any, prefix: str = "") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = {prefix + k: group[k][...] for k in group.array_keys()}
    attrs = {prefix: dict(group.attrs)}
    for k in group.group_keys():
        a, t = _store_contents(group[k], prefix + k + "/")
        arrays.update(a)
        attrs.update(t)
    return arrays, attrs


def store_differences(a: Any, b: Any) -> list[str]:
    """How two Zarr stores differ: every array (name, dtype, shape, bytes) and every group's attributes.

    An empty list means the stores hold the same arrays, byte for byte, and the same attributes
    (what a resumed or repaired store must be against one written without interruption).

    Examples
    --------
    >>> import tempfile, zarr
    >>> a, b = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> for path, value in ((a, 1.0), (b, 2.0)):
    ...     zarr.open_group(path, mode="w").create_array("v", shape=(2,), dtype="f8")[...] = value
    >>> store_differences(a, a), store_differences(a, b)
    ([], ['v: values differ'])
    """
    import warnings

    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's note on stray temporary files of a killed write
        xa, ta = _store_contents(zarr.open_group(str(a), mode="r"))
        xb, tb = _store_contents(zarr.open_group(str(b), mode="r"))
    diff = [f"{k}: only in {a if k in xa else b}" for k in sorted(set(xa) ^ set(xb))]
    for k in sorted(set(xa) & set(xb)):
        if xa[k].dtype != xb[k].dtype or xa[k].shape != xb[k].shape:
            diff.append(f"{k}: {xa[k].dtype}{xa[k].shape} vs {xb[k].dtype}{xb[k].shape}")
        elif xa[k].tobytes() != xb[k].tobytes():
            diff.append(f"{k}: values differ")
    diff += [f"{k or '/'}: attributes differ" for k in sorted(set(ta) | set(tb)) if ta.get(k) != tb.get(k)]
    return diff
