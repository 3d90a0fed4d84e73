"""An additive trend / seasonal / residual decomposition as a linear domain."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from .base import Domain, time_coords

__all__ = ["TrendSeason", "decomposition_matrices"]

COMPONENTS = ("trend", "seasonal", "residual")


def _moving_average(n_times: int, window: int, edges: str) -> np.ndarray:
    """The (T, T) matrix of a centred moving average of ``window`` samples.

    An even window is the classical centred ``2 x window`` average (``window + 1`` taps, the two end
    taps at half weight), so that it stays centred. ``edges="reflect"`` mirrors the signal about its
    first and last samples (``x[-k] = x[k]``); ``"shrink"`` keeps the taps inside the signal and
    renormalises them.
    """
    half = window // 2
    taps = np.ones(2 * half + 1)
    if window % 2 == 0:
        taps[0] = taps[-1] = 0.5
    taps /= taps.sum()
    m = np.zeros((n_times, n_times))
    for t in range(n_times):
        idx = t + np.arange(-half, half + 1)
        if edges == "reflect":
            idx = np.abs(idx)
            idx = np.where(idx > n_times - 1, 2 * (n_times - 1) - idx, idx)
            np.add.at(m[t], idx, taps)
        else:
            keep = (idx >= 0) & (idx < n_times)
            m[t, idx[keep]] = taps[keep] / taps[keep].sum()
    return m


def decomposition_matrices(n_times: int, period: int, trend_window: int | None = None,
                           edges: str = "reflect") -> np.ndarray:
    """The (3, T, T) matrices ``(M_trend, M_seasonal, M_residual)``; they sum to the identity.

    ``seasonal = (per-phase means of the detrended signal, minus their mean over the phases)``, repeated
    with the phase ``t mod period`` counted from the first sample.

    Examples
    --------
    >>> m = decomposition_matrices(12, 4)
    >>> m.shape, bool(np.allclose(m.sum(0), np.eye(12)))
    ((3, 12, 12), True)
    """
    trend = _moving_average(n_times, period if trend_window is None else trend_window, edges)
    phase = np.arange(n_times) % period
    counts = np.bincount(phase, minlength=period).astype(np.float64)
    same = (phase[:, None] == phase[None, :]) / counts[phase][None, :]  # row t: mean over t's phase
    centre = np.broadcast_to(1.0 / (period * counts[phase])[None, :], (n_times, n_times))  # mean of the phase means
    seasonal = (same - centre) @ (np.eye(n_times) - trend)
    residual = np.eye(n_times) - trend - seasonal
    return np.stack([trend, seasonal, residual])


class TrendSeason(Domain):
    """Trend, seasonal and residual components of each channel; scores per component and time step.

    ``x = trend + seasonal + residual`` with each component a fixed linear map of ``x`` (built in
    numpy by :meth:`fit`). The coefficients stack the three, ``z`` of shape ``(N, C, 3, T)``; the
    inverse adds them up. That inverse is not injective (``forward(inverse(z)) != z`` in general) but
    ``inverse(forward(x)) = x`` exactly, so the straight coefficient path from ``forward(x0)`` to
    ``forward(x)`` maps onto the straight time path and the domain rides cdig's shared time-domain
    pass: each component's map is ``(z_c - z0_c) * ḡ`` with ``ḡ`` the time-integrated gradient.

    Parameters
    ----------
    period : int
        Season length in samples, ``2 <= period <= T/2`` (at least two full seasons).
    trend_window : int, optional
        Window of the centred moving average giving the trend; default ``period`` (which removes a
        season of any shape). An even window is the classical centred ``2 x window`` average.
        ``2 <= trend_window <= T``.
    edges : {"reflect", "shrink"}
        How the moving average treats the first and last ``window // 2`` samples: mirror the signal
        about its end samples (default), or average only the samples present.

    Notes
    -----
    Trend: centred moving average. Seasonal: the detrended signal averaged per phase ``t mod
    period`` (phase 0 is the first sample), centred so that the phase means average to zero, and
    repeated. Residual: ``x - trend - seasonal``. ``values`` is ``(N, C, 3, T)`` with ``component =
    ("trend", "seasonal", "residual")``; ``extras["totals"]`` is the per-component total ``(N, C, 3)``
    (it keeps the channel axis also for ``(N, T)`` input). The matrices take ``O(T²)`` memory.
    A coefficient baseline (``baselines={"trend": z0}``) stands for the signal ``z0.sum(axis=-2)``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48)
    >>> x = (0.1 * t + np.sin(2 * np.pi * t / 12))[None, None]
    >>> d = TrendSeason(period=12).fit(x)
    >>> z = d.forward(x, np)
    >>> z.shape, bool(np.allclose(d.inverse(z, np), x))
    ((1, 1, 3, 48), True)
    """

    name = "trend"
    linear = True
    dims = ("channel", "component", "time")

    def __init__(self, period: int, trend_window: int | None = None, *, edges: str = "reflect") -> None:
        for arg, v in (("period", period), ("trend_window", trend_window)):
            if v is None and arg == "trend_window":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise CdigTypeError(f"{arg} must be an int (samples), got {v!r}")
            if v < 2:
                raise CdigValueError(f"{arg}={v}: must be at least 2 samples")
        if edges not in ("reflect", "shrink"):
            raise CdigValueError(f"edges={edges!r}: accepted 'reflect' or 'shrink'")
        self.period = int(period)
        self.trend_window = None if trend_window is None else int(trend_window)
        self.edges = edges
        self.n_times_: int | None = None

    def fit(self, x: np.ndarray) -> "TrendSeason":
        t = int(x.shape[-1])
        if 2 * self.period > t:
            raise CdigValueError(
                f"period={self.period} is longer than half the signal (T={t} samples); the seasonal "
                f"component needs at least two full periods: period <= {t // 2}"
            )
        if self.trend_window is not None and self.trend_window > t:
            raise CdigValueError(f"trend_window={self.trend_window} exceeds the signal length T={t}")
        if t != self.n_times_:
            self.matrices_ = decomposition_matrices(t, self.period, self.trend_window, self.edges)
            # forward as one product x @ P with P = [M_trend^T | M_seasonal^T | M_residual^T], (T, 3T)
            self.projector_ = np.concatenate([m.T for m in self.matrices_], axis=1)
            self.n_times_ = t
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        t = self.n_times_
        z = xp.matmul(x, self.constant(self.projector_, x, xp))
        return xp.reshape(z, (*tuple(x.shape[:-1]), 3, t))

    def inverse(self, z: Any, xp: Any) -> Any:
        return xp.sum(z, axis=-2)

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        return values, ("channel", "component", "time"), {"totals": values.sum(axis=-1)}

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        t, unit = time_coords(shape[-1], fs)
        return {"channel": np.arange(shape[0]), "component": np.array(COMPONENTS), "time": t}, {"time": unit}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(period=self.period, trend_window=self.trend_window or self.period, edges=self.edges)
        return d

    def __repr__(self) -> str:
        return f"TrendSeason(period={self.period}, trend_window={self.trend_window}, edges={self.edges!r})"
