"""Shared plotting helpers: the lazy matplotlib import and the heat-behind-a-line drawing."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigValueError

#: Diverging colour map of signed attributions: red pushes the explained output up, blue down.
CMAP = "RdBu_r"
POSITIVE, NEGATIVE = "#c0392b", "#2e6da4"


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` not attached to pyplot: no global backend or state is touched, and
    ``fig.savefig("x.png")`` renders with Agg. Raises ImportError with the install hint if matplotlib
    is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("cdig.plot needs matplotlib, which is not installed: pip install 'cdig[plot]'") from None
    return Figure(figsize=figsize, layout="constrained")


class SampleIndexError(CdigValueError, IndexError):
    """``sample`` is not an index of the attribution's batch (an IndexError too, like plain indexing)."""


def check_sample(att: Any, sample: int) -> int:
    """``sample`` as a non-negative index into ``att.values``; a cdig error naming the batch size otherwise."""
    n = len(att.values)
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or not -n <= sample < n:
        raise SampleIndexError(
            f"sample={sample!r} is out of range for an attribution of {n} sample(s); accepted: an integer in [{-n}, {n})"
        )
    return int(sample) % n


def heat_line(ax: Any, t: np.ndarray, signal: np.ndarray, heat: np.ndarray, vmax: float) -> Any:
    """Draw ``signal`` over ``t`` as a line, with ``heat`` (same length) as a colour band behind it."""
    lo, hi = float(np.min(signal)), float(np.max(signal))
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
    image = ax.imshow(
        heat[None, :],
        aspect="auto",
        cmap=CMAP,
        vmin=-vmax,
        vmax=vmax,
        interpolation="nearest",
        extent=(float(t[0]) - dt / 2, float(t[-1]) + dt / 2, lo - pad, hi + pad),
        origin="lower",
    )
    ax.plot(t, signal, color="black", lw=0.8)
    ax.set_xlim(float(t[0]) - dt / 2, float(t[-1]) + dt / 2)
    ax.set_ylim(lo - pad, hi + pad)
    return image


def symmetric_limit(v: np.ndarray) -> float:
    m = float(np.max(np.abs(v))) if np.size(v) else 0.0
    return m if m > 0 else 1.0


def axis_label(name: str, unit: str | None) -> str:
    return f"{name} ({unit})" if unit else name
