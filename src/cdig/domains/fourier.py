"""The frequency domain: the real FFT along time, one score per non-negative frequency bin."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Domain

__all__ = ["Fourier"]


class Fourier(Domain, register=True):
    """Real FFT ``z = rfft(x)`` along time; bins ``0 .. T//2``.

    Each bin's score adds the scores of its real and imaginary parts. Because the inverse real FFT
    counts bins ``1 .. ⌈T/2⌉-1`` twice (their negative-frequency twins), this equals the two-sided
    map of the full FFT folded onto the non-negative frequencies, and the scores sum to
    ``f(x) - f(baseline)``. The FFT's normalisation does not change the scores.

    Examples
    --------
    >>> import numpy as np
    >>> Fourier().fit(np.zeros((1, 1, 8))).coords((1, 5), fs=8.0)[0]["frequency"].tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """

    name = "fourier"
    linear = True
    dims = ("channel", "frequency")
    coord_units = {"frequency": ("Hz", "cycles/sample")}
    plot = "plot_fourier"
    order = 10

    def __init__(self) -> None:
        self.n_times_: int | None = None

    def fit(self, x: np.ndarray) -> "Fourier":
        self.n_times_ = int(x.shape[-1])
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        return xp.fft.rfft(x, axis=-1)

    def inverse(self, z: Any, xp: Any) -> Any:
        return xp.fft.irfft(z, n=self.n_times_, axis=-1)

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        n = self.n_times_ if self.n_times_ is not None else 2 * (shape[-1] - 1)
        if fs is None:
            return {"channel": np.arange(shape[0]), "frequency": np.fft.rfftfreq(n)}, {"frequency": "cycles/sample"}
        return {"channel": np.arange(shape[0]), "frequency": np.fft.rfftfreq(n, d=1.0 / fs)}, {"frequency": "Hz"}
