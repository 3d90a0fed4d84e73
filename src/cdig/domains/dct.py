"""The cosine domain: an orthonormal discrete cosine transform along time, one score per coefficient."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checks import check_choice
from ..core.errors import CdigValueError
from .base import Domain
from .magphase import complex_from_parts

__all__ = ["DCT"]


def _twiddles(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The real constants of the two FFT-based transforms of length ``n`` (``O(n)`` memory).

    With ``θ_k = π k / 2n`` and the orthonormal scale ``c_0 = √(1/n)``, ``c_k = √(2/n)``:

    * DCT-II: ``X_k = c_k Re(e^{-iθ_k} V_k)``, ``V = rfft(x, 2n)``, so ``X = cos_ii·Re V + sin_ii·Im V``;
    * DCT-III: ``x_t = Σ_k c_k X_k cos(θ_k (2t + 1)) = irfft(Z, 2n)[t]`` for ``t < n`` with
      ``Z_k = g_k c_k e^{iθ_k} X_k`` (``g_0 = 2n``, ``g_k = n``: the inverse real FFT counts bins
      ``1 .. n-1`` twice and divides by ``2n``) and ``Z_n = 0``.
    """
    k = np.arange(n, dtype=np.float64)
    theta = np.pi * k / (2.0 * n)
    scale = np.full(n, np.sqrt(2.0 / n))
    scale[0] = np.sqrt(1.0 / n)
    cos_ii, sin_ii = scale * np.cos(theta), scale * np.sin(theta)
    gain = np.full(n + 1, float(n))
    gain[0], gain[n] = 2.0 * n, 0.0  # bin n (the Nyquist bin of length 2n) is zero
    cos_iii, sin_iii = np.zeros(n + 1), np.zeros(n + 1)
    cos_iii[:n], sin_iii[:n] = cos_ii, sin_ii
    return cos_ii, sin_ii, gain * cos_iii, gain * sin_iii


class DCT(Domain, register=True):
    """Orthonormal DCT along time (``scipy.fft.dct(x, type, norm="ortho")``); real coefficients.

    Unlike the Fourier domain the coefficients are real and there are ``T`` of them, one per cosine
    ``cos(π k (2t + 1) / 2T)`` (type 2); a signal's smooth trend and its ends do not leak into high
    frequencies as they do with the FFT's periodic extension. The transform is computed with a real
    FFT of length ``2T`` and a cosine/sine twiddle (``O(T log T)`` time, ``O(T)`` memory; no ``T × T``
    matrix), written with ``xp`` so that every backend differentiates it: DCT-II is
    ``Re(e^{-iπk/2T} rfft(x, 2T)_k)`` scaled, DCT-III (its inverse and transpose) the first ``T`` samples
    of an inverse real FFT of length ``2T``. Both types are exact to round-off, and the inverse is the
    transpose (orthogonal transform). The map sums to ``f(x) - f(baseline)`` and shares the time-domain
    pass.

    Parameters
    ----------
    type : {2, 3}
        DCT-II (default; the usual "the DCT") or DCT-III, its inverse.
    norm : {"ortho"}
        Only the orthonormal scaling. (Any other scaling of the coefficients gives the same map.)

    Notes
    -----
    ``frequency`` coordinates: coefficient ``k`` of type 2 is a cosine of ``k / 2T`` cycles/sample
    (``k·fs/2T`` Hz); of type 3, ``(k + 1/2) / 2T``.

    Examples
    --------
    >>> import numpy as np
    >>> d = DCT().fit(np.zeros((1, 1, 8)))
    >>> d.coords((1, 8), fs=16.0)[0]["frequency"].tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    >>> x = np.random.default_rng(0).normal(size=(2, 1, 8))
    >>> bool(np.allclose(d.inverse(d.forward(x, np), np), x, atol=1e-12))
    True
    """

    name = "dct"
    linear = True
    dims = ("channel", "frequency")
    coord_units = {"frequency": ("Hz", "cycles/sample")}
    order = 30

    def __init__(self, type: int = 2, norm: str = "ortho") -> None:
        check_choice(type, "type", (2, 3))  # DCT-II, DCT-III
        if norm != "ortho":
            raise CdigValueError(f"norm={norm!r}: only norm='ortho' is supported (other scalings give the same attributions)")
        self.type = int(type)
        self.norm = norm
        self.n_times_: int | None = None

    def fit(self, x: np.ndarray) -> "DCT":
        t = int(x.shape[-1])
        if t == self.n_times_:
            return self
        self._twiddle = _twiddles(t)
        self.n_times_ = t
        return self

    def _dct2(self, x: Any, xp: Any) -> Any:
        n = self.fitted_length(x)
        cos_ii, sin_ii = self._twiddle[:2]
        spec = xp.fft.rfft(x, n=2 * n, axis=-1)[..., :n]  # zero-padded: bins k/2n cycles/sample
        re, im = xp.real(spec), xp.imag(spec)
        return re * self.constant(cos_ii, re, xp) + im * self.constant(sin_ii, im, xp)

    def _dct3(self, z: Any, xp: Any) -> Any:
        n = self.fitted_length(z)
        cos_iii, sin_iii = self._twiddle[2:]
        padded = xp.concat([z, xp.zeros_like(z[..., :1])], axis=-1)  # bin n of the length-2n spectrum
        spec = complex_from_parts(padded * self.constant(cos_iii, z, xp), padded * self.constant(sin_iii, z, xp), xp)
        return xp.fft.irfft(spec, n=2 * n, axis=-1)[..., :n]

    def forward(self, x: Any, xp: Any) -> Any:
        return self._dct2(x, xp) if self.type == 2 else self._dct3(x, xp)

    def inverse(self, z: Any, xp: Any) -> Any:
        return self._dct3(z, xp) if self.type == 2 else self._dct2(z, xp)  # orthogonal: the inverse is the transpose

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        n = shape[-1]
        cycles = (np.arange(n) + (0.5 if self.type == 3 else 0.0)) / (2.0 * n)
        chan = np.arange(shape[0])
        if fs is None:
            return {"channel": chan, "frequency": cycles}, {"frequency": "cycles/sample"}
        return {"channel": chan, "frequency": cycles * float(fs)}, {"frequency": "Hz"}
