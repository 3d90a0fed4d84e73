"""An additive trend / seasonal / residual decomposition as a linear domain."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checks import check_choice, check_int
from ..core.errors import CdigValueError
from .base import Domain, time_coords

__all__ = ["TrendSeason", "decomposition_matrices"]

COMPONENTS = ("trend", "seasonal", "residual")


def _moving_average_taps(n_times: int, window: int, edges: str) -> tuple[np.ndarray, np.ndarray]:
    """The centred moving average of ``window`` samples as ``(T, taps)`` source indices and weights.

    ``trend[t] = Σ_j weight[t, j] · x[index[t, j]]`` with ``taps = 2 (window // 2) + 1``. An even
    window is the classical centred ``2 x window`` average (``window + 1`` taps, the two end taps at
    half weight), so that it stays centred. ``edges="reflect"`` mirrors the signal about its first and
    last samples (``x[-k] = x[k]``; a sample met twice near an end appears twice); ``"shrink"`` keeps
    the taps inside the signal and renormalises them (the taps outside get weight 0 and index 0).
    ``O(T · window)`` memory.
    """
    half = window // 2
    taps = np.ones(2 * half + 1)
    if window % 2 == 0:
        taps[0] = taps[-1] = 0.5
    taps /= taps.sum()
    idx = np.arange(n_times)[:, None] + np.arange(-half, half + 1)[None, :]
    if edges == "reflect":
        idx = np.abs(idx)  # half <= T/2 <= T - 1: one reflection at each end is enough
        idx = np.where(idx > n_times - 1, 2 * (n_times - 1) - idx, idx)
        return idx, np.broadcast_to(taps, idx.shape).copy()
    keep = (idx >= 0) & (idx < n_times)
    weight = np.where(keep, taps[None, :], 0.0)
    return np.where(keep, idx, 0), weight / weight.sum(axis=1, keepdims=True)


def _moving_average(n_times: int, window: int, edges: str) -> np.ndarray:
    """The (T, T) matrix of a centred moving average of ``window`` samples (the reference, row by row).

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


def decomposition_matrices(n_times: int, period: int, trend_window: int | None = None, edges: str = "reflect") -> np.ndarray:
    """The (3, T, T) matrices ``(M_trend, M_seasonal, M_residual)``; they sum to the identity.

    ``seasonal = (per-phase means of the detrended signal, minus their mean over the phases)``, repeated
    with the phase ``t mod period`` counted from the first sample.

    The reference for :class:`TrendSeason`, which computes the same maps without them (``O(T · window)``
    instead of ``O(T²)``): ``forward(x)[..., c, :] = x @ M_c.T`` to round-off. Built row by row in
    ``O(T²)`` memory, for checks and small ``T``.

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


class TrendSeason(Domain, register=True):
    """Trend, seasonal and residual components of each channel; scores per component and time step.

    ``x = trend + seasonal + residual`` with each component a fixed linear map of ``x`` (its index
    and weight arrays built in numpy by :meth:`fit`). The coefficients stack the three, ``z`` of shape
    ``(N, C, 3, T)``; the inverse adds them up. That inverse is not injective
    (``forward(inverse(z)) != z`` in general) but ``inverse(forward(x)) = x`` (to round-off), so the
    straight coefficient path from ``forward(x0)`` to ``forward(x)`` maps onto the straight time path
    and the domain rides cdig's shared time-domain pass: each component's map is ``(z_c - z0_c) * ḡ``
    with ``ḡ`` the time-integrated gradient.

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
    ("trend", "seasonal", "residual")``; ``extras["totals"]`` is the per-component total ``(N, C, 3)``.
    For ``(N, T)`` input both drop the channel axis, as the input has none: ``values`` is
    ``(N, 3, T)`` and ``extras["totals"]`` ``(N, 3)``.

    No ``T × T`` matrix is formed (:func:`decomposition_matrices` is the reference): the trend is one
    gather of the ``2 (window // 2) + 1`` taps of every sample (the reflected indices, or the taps inside
    the signal renormalised) and a weighted sum; the seasonal part sums the detrended signal per phase
    (zero-padded to whole periods and reshaped ``(..., periods, period)``), divides by each phase's
    count, centres the phase means and gathers them back with ``t mod period``; the residual is
    ``x - trend - seasonal``. ``O(T · window)`` time and memory, equal to the matrices to round-off.
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
    coord_units = {"time": ("s", "sample")}
    plot = "plot_trend"
    order = 115

    def __init__(self, period: int, trend_window: int | None = None, *, edges: str = "reflect") -> None:
        check_int(period, "period", min=2)
        check_int(trend_window, "trend_window", min=2, allow_none=True)
        check_choice(edges, "edges", ("reflect", "shrink"))
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
            window = self.period if self.trend_window is None else self.trend_window
            index, weight = _moving_average_taps(t, window, self.edges)
            self.trend_index_ = index.reshape(-1)  # (T * taps,): row t's taps, one gather for all
            self.trend_weight_ = weight  # (T, taps)
            phase = np.arange(t) % self.period
            self.phase_index_ = phase  # (T,): where each sample's seasonal value comes from
            self.phase_scale_ = 1.0 / np.bincount(phase, minlength=self.period)  # (period,): 1 / samples per phase
            self.n_periods_ = -(-t // self.period)
            self.n_times_ = t
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        t = self.fitted_length(x)
        lead = tuple(-1 if d is None else int(d) for d in x.shape[:-1])  # -1: a batch known at run time
        period, n_periods = self.period, self.n_periods_
        taps = xp.take(x, self.index(self.trend_index_, x, xp), axis=-1)
        taps = xp.reshape(taps, (*lead, *self.trend_weight_.shape))
        trend = xp.sum(taps * self.constant(self.trend_weight_, x, xp), axis=-1)
        detrended = x - trend
        if n_periods * period > t:  # zeros complete the last period; the counts exclude them
            detrended = xp.concat([detrended, xp.zeros_like(detrended[..., : n_periods * period - t])], axis=-1)
        means = xp.sum(xp.reshape(detrended, (*lead, n_periods, period)), axis=-2)
        means = means * self.constant(self.phase_scale_, x, xp)
        means = means - xp.sum(means, axis=-1)[..., None] / period
        seasonal = xp.take(means, self.index(self.phase_index_, x, xp), axis=-1)
        return xp.stack([trend, seasonal, x - trend - seasonal], axis=-2)

    def inverse(self, z: Any, xp: Any) -> Any:
        return xp.sum(z, axis=-2)

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        return values, ("channel", "component", "time"), {"totals": values.sum(axis=-1)}

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        t, unit = time_coords(shape[-1], fs)
        return {"channel": np.arange(shape[0]), "component": np.array(COMPONENTS), "time": t}, {"time": unit}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "trend_window": self.trend_window or self.period}  # the window used
