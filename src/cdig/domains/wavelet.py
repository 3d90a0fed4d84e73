"""The wavelet domain: a multi-level orthogonal discrete wavelet transform (Haar, Daubechies) along time."""

from __future__ import annotations

from functools import cache
from math import comb
from typing import Any

import numpy as np

from ..core.checks import check_choice
from ..core.errors import CdigTypeError, CdigValueError
from .base import Domain, time_coords

__all__ = ["Wavelet", "WAVELETS", "daubechies"]

#: Largest Daubechies order offered; beyond it the spectral factorisation below loses digits.
MAX_ORDER = 10
#: Accepted wavelet names: ``"haar"`` (= ``"db1"``) and ``"db1"`` .. ``"db10"``.
WAVELETS = ("haar", *(f"db{n}" for n in range(1, MAX_ORDER + 1)))
#: Accepted signal extension modes.
MODES = ("periodization",)


@cache
def _daubechies(order: int) -> tuple[float, ...]:
    # Daubechies' construction: |H(ω)|² = cos^{2N}(ω/2) P(sin²(ω/2)) with P(y) = Σ_k C(N-1+k, k) y^k.
    # Each root y of P gives a reciprocal pair of z-roots; keeping the one inside the unit circle
    # yields the minimum-phase (extremal-phase) filter of the usual dbN tables.
    if order == 1:
        return (2**-0.5, 2**-0.5)
    p = [comb(order - 1 + k, k) for k in range(order)]
    zeros = []
    for y in np.roots(p[::-1]):
        pair = np.roots([1.0, -(2.0 - 4.0 * y), 1.0])
        zeros.append(pair[np.argmin(np.abs(pair))])
    h = np.real(np.poly(np.concatenate([-np.ones(order), zeros])))
    return tuple(h * np.sqrt(2.0) / h.sum())


def daubechies(order: int) -> np.ndarray:
    """The Daubechies scaling (reconstruction low-pass) filter ``dbN`` with ``2N`` taps, summing to √2.

    Computed by spectral factorisation in double precision (orthonormal to ~1e-15); the order and
    signs are PyWavelets' ``rec_lo``.

    Examples
    --------
    >>> np.round(daubechies(2), 6).tolist()
    [0.482963, 0.836516, 0.224144, -0.12941]
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_ORDER:
        raise CdigValueError(f"Daubechies order {order!r} is not offered; accepted: 1 .. {MAX_ORDER}")
    return np.array(_daubechies(int(order)))


def _analysis_step(h: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """One periodized analysis step on ``m`` samples: the (m/2, m) low-pass and high-pass matrices.

    ``out[o] = Σ_j f[j] x[(F/2 + 2o - j) mod m]`` with the decomposition filters ``f`` (PyWavelets'
    periodization alignment).
    """
    f_lo = h[::-1]
    f_hi = np.array([(-1) ** (k + 1) * h[k] for k in range(len(h))])
    lo, hi = np.zeros((m // 2, m)), np.zeros((m // 2, m))
    half = len(h) // 2
    for o in range(m // 2):
        for j in range(len(h)):
            col = (half + 2 * o - j) % m
            lo[o, col] += f_lo[j]
            hi[o, col] += f_hi[j]
    return lo, hi


def dwt_matrix(h: np.ndarray, n_times: int, level: int) -> np.ndarray:
    """The orthonormal ``(T, T)`` matrix ``W`` of the ``level``-level periodized DWT: ``z = W x``.

    Rows are laid out level by level: ``[cA_L, cD_L, cD_{L-1}, ..., cD_1]``. The dense reference
    of the filter bank that :class:`Wavelet` runs (O(T²) memory, O(T³) time): for checks at small ``T``.
    """
    approx = np.eye(n_times)
    details = []
    for _ in range(level):
        lo, hi = _analysis_step(h, approx.shape[0])
        details.append(hi @ approx)
        approx = lo @ approx
    return np.vstack([approx, *details[::-1]])


# --- the fast filter bank ----------------------------------------------------------------------
# One analysis step of ``dwt_matrix`` written out: ``lo[o] = Σ_r h[r] x[(2o + r - s) mod m]`` and
# ``hi[o] = Σ_r g[r] x[(2o + r - s) mod m]`` with ``s = F/2 - 1`` and ``g[r] = (-1)^r h[F-1-r]``.
# Read in pairs ``(x[2k], x[2k+1])``, that is ``F/2`` shifted copies of the pair sequence, each times
# a 2 x 2 block of taps. The transform is orthogonal, so a synthesis step is its transpose; by parity
# of the output sample, ``y[2p + b] = Σ_i h[2i+b] a[(p-i) mod n] + g[2i+b] d[(p-i) mod n]`` (``n = m/2``,
# ``y`` the output rolled by ``s``): again shifted copies times 2 x 2 blocks, a gather and never a
# scatter. Both are O(m F) in time and O(m) in memory, and use only slices, ``concat``, ``stack``,
# ``reshape`` and ``matmul``, which every backend's namespace offers and differentiates (no integer
# index arrays to move between devices). Summing the taps in another order than ``W x`` changes
# results by round-off only.


def _filter_blocks(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``(F/2, 2, 2)`` blocks of taps of one analysis and one synthesis step.

    Analysis block ``q`` maps the pair ``(e[2k], e[2k+1])`` to its share of ``(lo, hi)[k - q]``:
    ``[[h[2q], g[2q]], [h[2q+1], g[2q+1]]]``. Synthesis block ``i`` maps ``(a, d)[p - i]`` to its share of
    ``(y[2p], y[2p+1])``: ``[[h[2i], h[2i+1]], [g[2i], g[2i+1]]]``.
    """
    g = np.array([(-1) ** r * h[len(h) - 1 - r] for r in range(len(h))])
    return np.stack([h, g], axis=1).reshape(-1, 2, 2), np.stack([h.reshape(-1, 2), g.reshape(-1, 2)], axis=1)


def _circular(x: Any, start: int, length: int, xp: Any) -> Any:
    """``x[..., (start + k) mod m]`` for ``k < length``, from slices of the last axis (wraps any number of times)."""
    m = int(x.shape[-1])
    pos, pieces = start % m, []
    while length > 0:
        take = min(m - pos, length)
        pieces.append(x[..., pos : pos + take])
        pos, length = 0, length - take
    return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=-1)


def _lead(x: Any) -> tuple[int, ...]:
    """The leading (batch) axes of ``x`` for ``reshape``; -1 for one not known until run time (a traced batch)."""
    return tuple(-1 if d is None else int(d) for d in x.shape[:-1])


def _analysis_level(x: Any, blocks: Any, xp: Any) -> tuple[Any, Any]:
    """One periodized analysis step on the last axis (``m`` samples): ``(lo, hi)``, ``m/2`` each."""
    lead, n, half = _lead(x), int(x.shape[-1]) // 2, int(blocks.shape[0])
    # pairs[k] = (e[2k], e[2k+1]) with e[k] = x[(k - s) mod m]; output o reads pairs o .. o + F/2 - 1
    pairs = xp.reshape(_circular(x, 1 - half, 2 * (n + half - 1), xp), (*lead, n + half - 1, 2))
    out = xp.matmul(pairs[..., :n, :], blocks[0])
    for q in range(1, half):
        out = out + xp.matmul(pairs[..., q : q + n, :], blocks[q])
    return out[..., 0], out[..., 1]


def _synthesis_level(a: Any, d: Any, blocks: Any, xp: Any) -> Any:
    """The transpose of :func:`_analysis_level`: ``2n`` samples from ``n`` approximation and detail coefficients."""
    lead, n, half = _lead(a), int(a.shape[-1]), int(blocks.shape[0])
    # ad[k] = (a, d)[(k - F/2 + 1) mod n], so that (a, d)[(p - i) mod n] = ad[p - i + F/2 - 1]
    ad = xp.stack([_circular(v, 1 - half, n + half - 1, xp) for v in (a, d)], axis=-1)
    y = xp.matmul(ad[..., half - 1 : half - 1 + n, :], blocks[0])
    for i in range(1, half):
        y = y + xp.matmul(ad[..., half - 1 - i : half - 1 - i + n, :], blocks[i])
    return _circular(xp.reshape(y, (*lead, 2 * n)), half - 1, 2 * n, xp)  # (y[2p], y[2p+1]); x[t] = y[t + s]


def _two_adic(n: int) -> int:
    """How often 2 divides ``n``."""
    k = 0
    while n > 0 and n % 2 == 0:
        n //= 2
        k += 1
    return k


class Wavelet(Domain, register=True):
    """Multi-level orthogonal discrete wavelet transform along time; one score per coefficient.

    Parameters
    ----------
    wavelet : str
        ``"haar"`` or ``"db1"`` .. ``"db10"`` (Daubechies with N vanishing moments, ``2N`` taps;
        ``"haar"`` is ``"db1"``).
    level : int or None
        Number of decomposition levels ``L``. None: the largest level PyWavelets' ``dwt_max_level``
        allows for the length and filter (at least 1) that also divides the length, i.e.
        ``min(floor(log2(T / (2N - 1))), k)`` where ``2**k`` is the largest power of two dividing ``T``.
    mode : str
        Signal extension; only ``"periodization"`` (the orthonormal, non-redundant transform).

    Notes
    -----
    The coefficients ``z = W x`` (per sample and channel) are those of the orthonormal ``(T, T)``
    matrix ``W`` of the periodized filter bank, and the inverse is ``Wᵀ``; both run as the filter
    bank itself, level by level (shifted slices of the signal times the taps, see the module), in
    O(T·F) time and O(T) memory for ``F`` taps, on every backend and differentiably. ``W`` is never
    formed (:attr:`matrix_` builds it on request, for checks at small ``T``). The transform is
    linear, so the domain rides the shared time-domain pass. The length ``T`` must be divisible by
    ``2**L``.

    Coefficients are laid out along the time axis level by level, as PyWavelets' ``wavedec``
    concatenated: ``[cA_L (T/2^L), cD_L (T/2^L), cD_{L-1} (T/2^{L-1}), ..., cD_1 (T/2)]``, with
    PyWavelets' filters and the alignment of its ``periodization`` routine
    (``out[o] = Σ_j f[j] x[(F/2 + 2o - j) mod T]``); checked against hand-computed Haar sums,
    published Daubechies tables and, where it is installed, PyWavelets itself (cdig does not depend
    on it). ``values`` is the map per coefficient,
    ``(N, C, T)``; the coordinates give each coefficient's ``band`` (index into ``band_name``,
    ``["A<L>", "D<L>", ..., "D1"]``), ``level``, ``position`` within its band and ``time`` (the first
    sample of its dyadic block, ``position·2**level``). ``extras["per_level"]`` sums the map per band,
    ``(N, C, L + 1)`` in ``band_name`` order.

    Examples
    --------
    >>> import numpy as np
    >>> w = Wavelet("haar", level=2).fit(np.zeros((1, 1, 8)))
    >>> w.coords((1, 8), fs=None)[0]["band_name"].tolist()
    ['A2', 'D2', 'D1']
    >>> np.round(w.matrix_[-4] * np.sqrt(2), 12).tolist()  # first finest detail: (x0 - x1) / √2
    [1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """

    name = "wavelet"
    linear = True
    dims = ("channel", "coefficient")
    coord_units = {"time": ("s", "sample")}
    plot = "plot_wavelet"
    order = 40

    def __init__(self, wavelet: str = "db4", level: int | None = None, mode: str = "periodization") -> None:
        if not isinstance(wavelet, str):
            raise CdigTypeError(f"wavelet must be a name (str), got {type(wavelet).__name__}; accepted: {', '.join(WAVELETS)}")
        key = wavelet.lower()
        if key not in WAVELETS:
            raise CdigValueError(f"unknown wavelet {wavelet!r}; accepted: {', '.join(WAVELETS)}")
        if level is not None and (isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 1):
            raise CdigValueError(f"level={level!r}: give a positive integer number of levels, or None for the maximum")
        check_choice(mode, "mode", MODES)
        self.wavelet = wavelet
        self.level = None if level is None else int(level)
        self.mode = mode
        self.filter_ = daubechies(1 if key == "haar" else int(key[2:]))
        self._analysis, self._synthesis = _filter_blocks(self.filter_)
        self.level_: int | None = None
        self.n_times_: int | None = None

    # --- fitting ---------------------------------------------------------------------------
    def max_level(self, n_times: int) -> int:
        """The level used for ``level=None`` on ``n_times`` samples (0 if no level fits)."""
        taps = len(self.filter_)
        useful = int(np.floor(np.log2(n_times / (taps - 1)))) if n_times >= taps - 1 else 0
        return max(0, min(max(useful, 1), _two_adic(n_times)))

    def fit(self, x: np.ndarray) -> "Wavelet":
        t = int(np.shape(x)[-1])
        divides = _two_adic(t)
        if self.level is None:
            level = self.max_level(t)
            if level == 0:
                raise CdigValueError(
                    f"the wavelet domain cannot decompose a signal of {t} samples: the periodized DWT needs an "
                    "even length (T divisible by 2**level); pad or crop the input to an even length"
                )
        else:
            level = self.level
            if t % 2**level:
                accepted = f"levels 1 .. {divides}" if divides else "no level (the length is odd)"
                raise CdigValueError(
                    f"level={level} needs a length divisible by 2**{level} = {2**level}, but the signal has "
                    f"{t} samples; accepted lengths for this level: multiples of {2**level}; accepted for "
                    f"{t} samples: {accepted}"
                )
        self.n_times_, self.level_ = t, level
        return self

    def _fitted(self, a: Any = None) -> tuple[int, int]:
        """``(n_times_, level_)`` of the fitted transform, after :meth:`fitted_length`'s checks."""
        t = self.fitted_length(a)
        assert self.level_ is not None  # fit() sets level_ together with n_times_
        return t, self.level_

    @property
    def matrix_(self) -> np.ndarray:
        """The dense orthonormal ``(T, T)`` matrix ``W`` of the fitted transform (``z = W x``).

        Built on each access, in O(T²) memory: for inspection and checks at small ``T``. The transform
        itself never forms it (:meth:`forward` and :meth:`inverse` run the filter bank).
        """
        t, level = self._fitted()
        return dwt_matrix(self.filter_, t, level)

    # --- the transform ---------------------------------------------------------------------
    def forward(self, x: Any, xp: Any) -> Any:
        _, level = self._fitted(x)
        analysis = self.constant(self._analysis, x, xp)
        approx, details = x, []
        for _ in range(level):
            approx, detail = _analysis_level(approx, analysis, xp)
            details.append(detail)
        return xp.concat([approx, *details[::-1]], axis=-1)

    def inverse(self, z: Any, xp: Any) -> Any:
        t, level = self._fitted()
        synthesis = self.constant(self._synthesis, z, xp)
        size = t // 2**level
        approx, start = z[..., :size], size
        for _ in range(level):
            approx = _synthesis_level(approx, z[..., start : start + size], synthesis, xp)
            start, size = start + size, 2 * size
        return approx

    # --- reporting -------------------------------------------------------------------------
    def bands(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(band names, band index / level / position of each coefficient)."""
        t, big = self._fitted()
        names = [f"A{big}"] + [f"D{j}" for j in range(big, 0, -1)]
        levels = [big] + list(range(big, 0, -1))
        band, level, pos = [], [], []
        for b, lv in enumerate(levels):
            size = t // 2**lv
            band += [b] * size
            level += [lv] * size
            pos += list(range(size))
        return names, np.array(band), np.array(level), np.array(pos)

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        names, band, _, _ = self.bands()
        per_level = np.stack([values[..., band == b].sum(axis=-1) for b in range(len(names))], axis=-1)
        return values, ("channel", "coefficient"), {"per_level": per_level}

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        names, band, level, pos = self.bands()
        start = pos * 2**level
        t, unit = time_coords(int(start.max()) + 1 if start.size else 0, fs)
        return (
            {
                "channel": np.arange(shape[0]),
                "coefficient": np.arange(shape[-1]),
                "band": band,
                "band_name": np.array(names),
                "level": level,
                "position": pos,
                "time": t[start],
            },
            {"time": unit},
        )

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.level_ is not None:
            d["level"] = self.level_  # the level used (level=None: the largest that fits the length)
        return d
