"""A synthetic data set with a planted truth: the class is decided by a frequency band of one source.

Each sample mixes ``C`` independent, non-Gaussian sources into ``C`` channels with a fixed mixing
matrix. One of them, the *planted source*, carries a Gaussian-windowed burst of a sinusoid: inside
the *planted band* for class 1, outside it (same amplitude, same envelope statistics) for class 0.
So the class is decided by the frequency, not by the presence of energy, and an explanation in the
Fourier domain should point at the band, one in the ICA domain at the planted component.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BandsSources", "make_bands_sources", "mixing_matrix", "save_bands_sources", "read_bands_sources"]

#: Background sources stay this far (Hz) below and above the planted band.
GUARD_HZ = 1.0
#: Peak amplitude of the planted burst (the background sources have unit variance).
BURST_AMPLITUDE = 3.0


@dataclass(frozen=True)
class BandsSources:
    """The data set made by :func:`make_bands_sources`.

    Attributes
    ----------
    X : ndarray, shape (N, C, T), float32
        The observed channels, ``X[n] = mixing @ sources[n]``.
    y : ndarray, shape (N,), int64
        The class: 1 when the planted source oscillates inside ``band``, 0 when outside.
    sources : ndarray, shape (N, C, T), float32
        The independent sources (ground truth for ICA).
    mixing : ndarray, shape (C, C), float64
        The mixing matrix (channels × sources).
    frequency : ndarray, shape (N,), float32
        The planted oscillation's frequency in Hz, per sample.
    fs : float
        Sampling rate in Hz.
    band : tuple of float
        The planted band ``(low, high)`` in Hz.
    planted_source : int
        Index of the class-carrying source in ``sources``.
    seed : int
        The seed the data set was generated with.
    description : str
        A human-readable account of the construction.
    """

    X: np.ndarray
    y: np.ndarray
    sources: np.ndarray
    mixing: np.ndarray
    frequency: np.ndarray
    fs: float
    band: tuple[float, float]
    planted_source: int
    seed: int
    description: str

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.X.shape[1])

    @property
    def length(self) -> int:
        return int(self.X.shape[2])

    def __repr__(self) -> str:
        n, c, t = self.X.shape
        return (
            f"BandsSources(X={n}×{c}×{t}, fs={self.fs:g} Hz, band={self.band[0]:g}-{self.band[1]:g} Hz, "
            f"planted_source={self.planted_source}, class 1: {int(self.y.sum())}/{n})"
        )


def mixing_matrix(n_channels: int) -> np.ndarray:
    """The fixed, well-conditioned mixing matrix used for ``n_channels`` channels and sources.

    Ones on the diagonal, fixed off-diagonal weights in ``[-0.5, 0.5]`` (drawn once from a constant
    seed, so the matrix depends on ``n_channels`` only).

    Examples
    --------
    >>> a = mixing_matrix(3)
    >>> a.shape, bool(np.linalg.cond(a) < 5), float(a[0, 0])
    ((3, 3), True, 1.0)
    """
    _check_int(n_channels, "n_channels", 2)
    a = np.random.default_rng(20240607).uniform(-0.5, 0.5, size=(n_channels, n_channels))
    np.fill_diagonal(a, 1.0)
    return a


def make_bands_sources(
    n_samples: int = 400,
    n_channels: int = 3,
    length: int = 256,
    fs: float = 64.0,
    band: tuple[float, float] = (8.0, 12.0),
    seed: int = 0,
) -> BandsSources:
    """Generate the planted-band / planted-source data set.

    Sources (each independent of the others and across samples):

    * the **planted source** (the last one): a sinusoid of random phase under a Gaussian envelope
      of random centre and width; its frequency is drawn inside ``band`` (0.5 Hz from its edges)
      for class 1, and from ``[low/2, low - w/2] ∪ [high + w/2, 1.5·high]`` (``w`` the band's width)
      for class 0. Same amplitude either way, so only the frequency tells the classes apart.
    * background sources, alternating: **Laplacian noise** (super-Gaussian) and a **sawtooth** of
      random frequency in 0.5–2 Hz and random phase (sub-Gaussian), both with their energy within
      ``GUARD_HZ`` of the band removed, scaled to unit variance.

    The channels are ``mixing_matrix(n_channels) @ sources``. Classes are balanced (they differ by
    at most one sample) and shuffled. Everything is computed in float64 and stored as float32.

    Parameters
    ----------
    n_samples : int
        Number of samples ``N`` (at least 2).
    n_channels : int
        Channels ``C`` = sources (at least 2).
    length : int
        Time steps ``T`` per sample (at least 16).
    fs : float
        Sampling rate in Hz.
    band : (float, float)
        The planted band in Hz; ``1.5·high`` must stay below the Nyquist frequency ``fs/2``.
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give the same arrays, bit for bit.

    Returns
    -------
    BandsSources

    Raises
    ------
    ValueError
        For sizes, rates or bands that cannot be used (the message names the argument).

    Examples
    --------
    >>> d = make_bands_sources(n_samples=8, length=128, seed=1)
    >>> d.X.shape, d.X.dtype, d.y.tolist().count(1)
    ((8, 3, 128), dtype('float32'), 4)
    >>> bool(np.all((d.frequency[d.y == 1] > 8) & (d.frequency[d.y == 1] < 12)))
    True
    >>> bool(np.allclose(d.X, np.einsum("ck,nkt->nct", d.mixing, d.sources), atol=1e-5))
    True
    """
    _check_int(n_samples, "n_samples", 2)
    _check_int(n_channels, "n_channels", 2)
    _check_int(length, "length", 16)
    _check_int(seed, "seed", 0)
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not fs > 0:
        raise ValueError(f"fs={fs!r}: the sampling rate must be a positive number (Hz)")
    fs = float(fs)
    low, high = _check_band(band, fs)
    width = high - low
    if width <= 1.0 or width < 2 * fs / length:
        raise ValueError(
            f"band={band!r} is {width:g} Hz wide; it must be wider than 1 Hz and span at least 2 frequency "
            f"bins ({2 * fs / length:g} Hz at fs={fs:g}, length={length}): widen the band or lengthen the samples"
        )

    rng = np.random.default_rng(seed)
    t = np.arange(length) / fs
    duration = length / fs
    y = rng.permutation(np.arange(n_samples) % 2).astype(np.int64)
    planted = n_channels - 1

    # The planted source: a Gaussian-windowed sinusoid, in band (class 1) or out of band (class 0).
    inside = rng.uniform(low + 0.5, high - 0.5, size=n_samples)
    lo_range = (low / 2, low - width / 2)
    hi_range = (high + width / 2, 1.5 * high)
    lo_len, hi_len = max(lo_range[1] - lo_range[0], 0.0), hi_range[1] - hi_range[0]
    u = rng.uniform(0.0, lo_len + hi_len, size=n_samples)
    outside = np.where(u < lo_len, lo_range[0] + u, hi_range[0] + (u - lo_len))
    freq = np.where(y == 1, inside, outside)
    phase = rng.uniform(0.0, 2 * np.pi, size=n_samples)
    centre = rng.uniform(0.25, 0.75, size=n_samples) * duration
    sigma = rng.uniform(0.08, 0.12, size=n_samples) * duration
    envelope = np.exp(-0.5 * ((t[None, :] - centre[:, None]) / sigma[:, None]) ** 2)
    burst = BURST_AMPLITUDE * envelope * np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])

    # Background sources, with the band (and a guard) removed so the planted truth stays clean.
    freqs = np.fft.rfftfreq(length, d=1.0 / fs)
    stop = (freqs >= low - GUARD_HZ) & (freqs <= high + GUARD_HZ)
    sources = np.empty((n_samples, n_channels, length))
    for k in range(n_channels - 1):
        if k % 2 == 0:
            s = rng.laplace(size=(n_samples, length))
        else:
            f0 = rng.uniform(0.5, 2.0, size=(n_samples, 1))
            ph = rng.uniform(0.0, 1.0, size=(n_samples, 1))
            s = 2.0 * np.mod(f0 * t[None, :] + ph, 1.0) - 1.0
        spec = np.fft.rfft(s, axis=-1)
        spec[:, stop] = 0.0
        s = np.fft.irfft(spec, n=length, axis=-1)
        sources[:, k] = s / s.std()
    sources[:, planted] = burst

    mixing = mixing_matrix(n_channels)
    sources32 = sources.astype(np.float32)
    return BandsSources(
        X=_mix(mixing, sources32),
        y=y,
        sources=sources32,
        mixing=mixing,
        frequency=freq.astype(np.float32),
        fs=fs,
        band=(low, high),
        planted_source=planted,
        seed=int(seed),
        description=_describe(n_samples, n_channels, length, fs, (low, high), planted),
    )


def _mix(mixing: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """``mixing @ sources`` in float64, summed in a fixed order (no BLAS), then float32: reproducible."""
    out = np.zeros(sources.shape, dtype=np.float64)
    for k in range(mixing.shape[1]):
        out += mixing[None, :, k, None] * sources[:, k, None, :].astype(np.float64)
    return out.astype(np.float32)


def _describe(n: int, c: int, t: int, fs: float, band: tuple[float, float], planted: int) -> str:
    return (
        f"{n} samples of {c} channels x {t} steps at {fs:g} Hz: a fixed mixing of {c} independent sources. "
        f"Source {planted} carries a Gaussian-windowed sinusoid, inside {band[0]:g}-{band[1]:g} Hz for class 1 "
        f"and outside it (same amplitude) for class 0; the other sources are Laplacian noise and sawtooth "
        f"waves with no energy within {GUARD_HZ:g} Hz of the band."
    )


def _check_int(v: Any, name: str, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name}={v!r}: expected an integer >= {minimum}")


def _check_band(band: Any, fs: float) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"band={band!r}: expected two frequencies (low, high) in Hz") from None
    if not 0 < low < high:
        raise ValueError(f"band={band!r}: expected 0 < low < high (Hz)")
    if 1.5 * high >= fs / 2:
        raise ValueError(
            f"band={band!r} with fs={fs:g}: class 0 draws frequencies up to 1.5 x high = {1.5 * high:g} Hz, "
            f"which must stay below the Nyquist frequency {fs / 2:g} Hz; lower the band or raise fs"
        )
    return low, high


# --- files -------------------------------------------------------------------------------------
def save_bands_sources(data: BandsSources, path: str | Path) -> Path:
    """Write ``data`` to a compressed ``.npz`` (the sources; the channels are re-mixed on reading).

    Examples
    --------
    >>> import os, tempfile
    >>> d = make_bands_sources(n_samples=4, length=64, band=(8.0, 12.0), fs=64.0)
    >>> p = save_bands_sources(d, os.path.join(tempfile.mkdtemp(), "d.npz"))
    >>> bool(np.array_equal(read_bands_sources(p).X, d.X))
    True
    """
    path = Path(path)
    meta = {
        "fs": data.fs,
        "band": list(data.band),
        "planted_source": data.planted_source,
        "seed": data.seed,
        "description": data.description,
        "generator": "cdig.datasets.synthetic.make_bands_sources",
    }
    np.savez_compressed(
        path, sources=data.sources, y=data.y, mixing=data.mixing, frequency=data.frequency, meta=np.array(json.dumps(meta))
    )
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def read_bands_sources(file: Any) -> BandsSources:
    """Read a file written by :func:`save_bands_sources` (a path or an open binary file)."""
    with np.load(file, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        sources, mixing = f["sources"], f["mixing"]
        return BandsSources(
            X=_mix(mixing, sources),
            y=f["y"],
            sources=sources,
            mixing=mixing,
            frequency=f["frequency"],
            fs=float(meta["fs"]),
            band=(float(meta["band"][0]), float(meta["band"][1])),
            planted_source=int(meta["planted_source"]),
            seed=int(meta["seed"]),
            description=meta["description"],
        )
