"""The shared core of ICA and LinearBasis: a fitted affine map across channels at every time step."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Domain, time_coords

__all__ = ["ChannelMixing"]


class ChannelMixing(Domain):
    """``z = W (x - mean)`` and ``x = A z + mean`` across channels, the same at every time step.

    Subclasses set in ``fit``: ``unmixing_`` ``W`` (K, C) — or (N, K, C), one per sample —,
    ``mixing_`` ``A`` (C, K) (or (N, C, K)) and ``mean_`` (C,) (or (N, C)). The map per (component,
    time step) is kept in ``extras["per_time"]``; ``values`` sums it over time, one score per component.
    """

    linear = True
    dims = ("component",)
    coord_units = {"time": ("s", "sample")}
    plot = "plot_ica"

    # set by the subclass's fit() (declared, not assigned: unset until then)
    unmixing_: np.ndarray
    mixing_: np.ndarray
    mean_: np.ndarray

    def _require_fitted(self) -> None:
        self.check_fitted("unmixing_")

    def forward(self, x: Any, xp: Any) -> Any:
        self._require_fitted()
        return xp.matmul(self.constant(self.unmixing_, x, xp), x - self.constant(self.mean_[..., None], x, xp))

    def inverse(self, z: Any, xp: Any) -> Any:
        self._require_fitted()
        return xp.matmul(self.constant(self.mixing_, z, xp), z) + self.constant(self.mean_[..., None], z, xp)

    @property
    def n_components_(self) -> int:
        self._require_fitted()
        return int(self.unmixing_.shape[-2])

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        return values.sum(axis=-1), ("component",), {"per_time": values}

    def value_index(self, shape: tuple[int, ...]) -> np.ndarray:
        # a component's value sums its time course: every time step of component k counts towards k
        return np.broadcast_to(np.arange(shape[0], dtype=np.int64)[:, None], shape).copy()

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        t, unit = time_coords(shape[-1], fs)
        return {"component": np.arange(shape[0]), "time": t}, {"time": unit}
