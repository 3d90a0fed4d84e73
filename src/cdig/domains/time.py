"""The time domain: the identity transform; its map is classic Integrated Gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Domain, time_coords

__all__ = ["Time"]


class Time(Domain, register=True):
    """Integrated Gradients on the samples themselves: one score per channel and time step.

    Examples
    --------
    >>> Time().describe()
    {'name': 'time', 'class': 'Time', 'linear': True}
    """

    name = "time"
    linear = True
    dims = ("channel", "time")
    coord_units = {"time": ("s", "sample")}
    plot = "plot_time"
    order = 0

    def forward(self, x: Any, xp: Any) -> Any:
        return x

    def inverse(self, z: Any, xp: Any) -> Any:
        return z

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        t, unit = time_coords(shape[-1], fs)
        return {"channel": np.arange(shape[0]), "time": t}, {"time": unit}
