"""Named frequency bands: the Fourier domain's per-bin scores summed over bands (EEG rhythms by default)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from .fourier import Fourier

__all__ = ["FrequencyBands", "EEG_BANDS"]

#: The classical EEG rhythms in Hz, each the half-open interval ``[lo, hi)``.
EEG_BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 100.0),
}


def _check_fs(fs: Any) -> float | None:
    if fs is None:
        return None
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not 0 < fs < np.inf:
        raise CdigValueError(f"fs={fs!r}: the sampling rate must be a positive finite number (in Hz)")
    return float(fs)


def _check_bands(bands: Any, remainder: str) -> dict[str, tuple[float, float]]:
    if not isinstance(bands, Mapping) or not bands:
        raise CdigTypeError(f"bands must be a non-empty mapping {{name: (low Hz, high Hz)}}, got {type(bands).__name__}")
    out: dict[str, tuple[float, float]] = {}
    for name, edges in bands.items():
        if not isinstance(name, str) or not name:
            raise CdigTypeError(f"band names must be non-empty strings, got {name!r}")
        if name == remainder:
            raise CdigValueError(
                f"band name {name!r} is the remainder band's name; rename the band or pass remainder=<other name>"
            )
        try:
            lo, hi = (float(e) for e in edges)
        except (TypeError, ValueError):
            raise CdigValueError(f"bands[{name!r}]={edges!r}: give two numbers (low Hz, high Hz)") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise CdigValueError(f"bands[{name!r}]=({lo:g}, {hi:g}): need 0 <= low < high, finite, in Hz (interval [low, high))")
        out[name] = (lo, hi)
    ordered = sorted(out.items(), key=lambda kv: kv[1][0])
    for (n1, (_, h1)), (n2, (l2, _)) in zip(ordered, ordered[1:]):
        if l2 < h1:
            raise CdigValueError(
                f"bands {n1!r} {out[n1]} and {n2!r} {out[n2]} overlap; bands are half-open [low, high) and must "
                "not overlap, so that each frequency bin counts once (touching edges, e.g. (4, 8) and (8, 13), are fine)"
            )
    return out


class FrequencyBands(Fourier, register=True):
    """Fourier scores summed over named frequency bands; the rest goes to a remainder band.

    The coefficients, path and per-bin scores are those of :class:`cdig.Fourier` (the real FFT bins,
    one shared time-domain pass); only the report differs: each bin's score is added to the band
    holding its frequency, so ``values`` has one score per (channel, band) and the bands sum to
    ``f(x) - f(baseline)`` (completeness is untouched: every bin from DC to Nyquist counts exactly once).

    Parameters
    ----------
    bands : mapping of str to (float, float)
        Band name to ``(low, high)`` in Hz, the half-open interval ``low <= f < high``. Default: the
        EEG rhythms delta [0.5, 4), theta [4, 8), alpha [8, 13), beta [13, 30), gamma [30, 100).
        Bands must not overlap (touching edges are fine); their order is kept in the result.
    fs : float
        Sampling rate in Hz, required: the bands are in Hz and bins are assigned to them before cdig
        hands its own ``fs`` over. When :func:`cdig.explain` is also given ``fs``, the two must agree.
    remainder : str
        Name of the band collecting every bin outside the named bands (DC below 0.5 Hz, the gaps,
        what lies above the last band); always reported last, zero when the bands cover everything.

    Notes
    -----
    Bin ``k`` has frequency ``k fs / T`` (``k = 0 .. T//2``). A band reaching past the Nyquist
    frequency ``fs/2`` is clipped there (noted in ``settings["domain"]["note"]``; its reported
    ``band_high`` is then ``fs/2``, and it keeps the Nyquist bin of an even ``T``); a band starting
    above it is an error (probably a wrong ``fs``). With the half-open convention the Nyquist bin
    belongs to a band only if that band's ``high`` exceeds ``fs/2``. A band narrower than
    the bin spacing ``fs/T`` may hold no bin and then scores zero.

    ``extras`` holds ``per_bin`` (the Fourier map, ``(N, C, T//2+1)``), ``band_index`` (the band of
    each bin, ``(T//2+1,)``) and ``band_edges`` (``(B, 2)`` in Hz after clipping, NaN for the
    remainder); ``coords`` holds ``band`` (names), ``band_low``/``band_high`` and ``frequency``.

    Examples
    --------
    >>> import numpy as np
    >>> d = FrequencyBands(fs=128.0).fit(np.zeros((1, 1, 256)))
    >>> d.band_names_
    ['delta', 'theta', 'alpha', 'beta', 'gamma', 'other']
    >>> d.band_edges_[-2].tolist()  # gamma clipped at Nyquist
    [30.0, 64.0]
    >>> per_bin = np.ones((1, 1, 129))
    >>> values, dims, extras = d.reduce(per_bin)
    >>> dims, values.shape, float(values.sum())
    (('channel', 'band'), (1, 1, 6), 129.0)
    """

    name = "bands"
    linear = True
    dims = ("channel", "frequency")
    needs_fs = True
    coord_units = {"band_low": ("Hz", "Hz"), "band_high": ("Hz", "Hz"), "frequency": ("Hz", "Hz")}
    plot = "plot_bands"
    order = 100

    def __init__(
        self, bands: Mapping[str, tuple[float, float]] | None = None, fs: float | None = None, *, remainder: str = "other"
    ) -> None:
        super().__init__()
        if not isinstance(remainder, str) or not remainder:
            raise CdigTypeError(f"remainder must be a non-empty string, got {remainder!r}")
        self.remainder = remainder
        self.bands = _check_bands(EEG_BANDS if bands is None else bands, remainder)
        self.fs = _check_fs(fs)
        self.note_: str | None = None

    def fit(self, x: np.ndarray) -> "FrequencyBands":
        if self.fs is None:
            raise CdigValueError(
                "FrequencyBands needs fs, the sampling rate in Hz (its bands are in Hz): FrequencyBands(bands, fs=...)"
            )
        super().fit(x)
        t, fs = self.fitted_length(), self.fs
        nyq = fs / 2
        freqs = np.arange(t // 2 + 1) * fs / t
        tol = 1e-9 * fs  # k*fs/T lands on an edge up to round-off: count it as on the edge
        index = np.full(len(freqs), len(self.bands), dtype=np.int64)
        edges, clipped = [], []
        for b, (name, (lo, hi)) in enumerate(self.bands.items()):
            if lo > nyq + tol:
                raise CdigValueError(
                    f"band {name!r} [{lo:g}, {hi:g}) Hz starts above the Nyquist frequency {nyq:g} Hz (fs={fs:g}); "
                    "drop it from bands, or check fs"
                )
            if hi > nyq + tol:
                clipped.append(name)
            edges.append((lo, min(hi, nyq)))
            index[(freqs + tol >= lo) & (freqs + tol < hi)] = b
        self.frequencies_ = freqs
        self.band_index_ = index
        self.band_names_ = [*self.bands, self.remainder]
        self.band_edges_ = np.array([*edges, (np.nan, np.nan)], dtype=np.float64)
        self.note_ = f"band(s) {clipped} clipped at the Nyquist frequency {nyq:g} Hz (fs={fs:g})" if clipped else None
        return self

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        n_bands = len(self.band_names_)
        onehot = np.zeros((values.shape[-1], n_bands), dtype=np.float64)
        onehot[np.arange(values.shape[-1]), self.band_index_] = 1.0
        # a plain sum per band (complex gradients for multiply_by_inputs=False are summed the same way)
        summed = values @ onehot.astype(values.dtype)
        extras = {"per_bin": values, "band_index": self.band_index_.copy(), "band_edges": self.band_edges_.copy()}
        return summed, ("channel", "band"), extras

    def value_index(self, shape: tuple[int, ...]) -> np.ndarray:
        # bin f of channel c counts towards band band_index_[f] of channel c
        n_bands = len(self.band_names_)
        return np.arange(shape[0], dtype=np.int64)[:, None] * n_bands + self.band_index_[None, :].astype(np.int64)

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        if fs is not None and self.fs is not None and not np.isclose(float(fs), self.fs, rtol=1e-9, atol=0.0):
            raise CdigValueError(
                f"fs={fs!r} given to cdig.explain differs from FrequencyBands(fs={self.fs:g}); the domain's fs "
                "places the bands, so give the same rate to both (or fs only to the domain)"
            )
        coords = {
            "channel": np.arange(shape[0]),
            "band": np.array(self.band_names_),
            "band_low": self.band_edges_[:, 0].copy(),
            "band_high": self.band_edges_[:, 1].copy(),
            "frequency": self.frequencies_.copy(),
        }
        return coords, {"band_low": "Hz", "band_high": "Hz", "frequency": "Hz"}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(bands={k: list(v) for k, v in self.bands.items()}, convention="[low, high) Hz")
        if self.note_:
            d["note"] = self.note_
        return d

    def __repr__(self) -> str:
        return f"FrequencyBands(bands={self.bands!r}, fs={self.fs!r})"
