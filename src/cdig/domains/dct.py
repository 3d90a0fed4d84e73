"""The cosine domain: an orthonormal discrete cosine transform along time, one score per coefficient."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from .base import Domain

__all__ = ["DCT"]


class DCT(Domain):
    """Orthonormal DCT along time (``scipy.fft.dct(x, type, norm="ortho")``); real coefficients.

    Unlike the Fourier domain the coefficients are real and there are ``T`` of them, one per cosine
    ``cos(π k (2t + 1) / 2T)`` (type 2); a signal's smooth trend and its ends do not leak into high
    frequencies as they do with the FFT's periodic extension. The transform is the matrix ``D`` of
    ``scipy.fft.dct`` applied with ``xp.matmul``; it is orthogonal, so the inverse is ``Dᵀ`` (exact to
    round-off). The map sums to ``f(x) - f(baseline)`` and shares the time-domain pass.

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

    def __init__(self, type: int = 2, norm: str = "ortho") -> None:  # noqa: A002 - scipy's name
        if isinstance(type, bool) or type not in (2, 3):
            raise CdigValueError(f"type={type!r}: accepted DCT types are 2 (DCT-II) and 3 (DCT-III)")
        if norm != "ortho":
            raise CdigValueError(
                f"norm={norm!r}: only norm='ortho' is supported (other scalings give the same attributions)"
            )
        self.type = int(type)
        self.norm = norm
        self.n_times_: int | None = None

    def fit(self, x: np.ndarray) -> "DCT":
        t = int(x.shape[-1])
        if t == self.n_times_:
            return self
        from scipy.fft import dct

        # column j is the transform of the unit impulse e_j: z = D x for a column signal x
        self.matrix_ = dct(np.eye(t), type=self.type, norm="ortho", axis=0)
        self.n_times_ = t
        return self

    def _ready(self) -> None:
        if self.n_times_ is None:
            raise CdigValueError("this DCT domain is not fitted: call .fit(x) with a (N, C, T) batch first")

    def forward(self, x: Any, xp: Any) -> Any:
        self._ready()
        return xp.matmul(x, self.constant(self.matrix_.T, x, xp))  # rows: zᵀ = xᵀ Dᵀ

    def inverse(self, z: Any, xp: Any) -> Any:
        self._ready()
        return xp.matmul(z, self.constant(self.matrix_, z, xp))  # D orthogonal: x = Dᵀ z

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        n = shape[-1]
        cycles = (np.arange(n) + (0.5 if self.type == 3 else 0.0)) / (2.0 * n)
        chan = np.arange(shape[0])
        if fs is None:
            return {"channel": chan, "frequency": cycles}, {"frequency": "cycles/sample"}
        return {"channel": chan, "frequency": cycles * float(fs)}, {"frequency": "Hz"}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(type=self.type, norm=self.norm)
        return d

    def __repr__(self) -> str:
        return f"DCT(type={self.type}, norm={self.norm!r})"
