"""Shared plotting helpers: the lazy matplotlib import, robust colour scales, and drawings that stay
readable however long the map is (min/max envelopes, heat strips, aggregated bars).

Every figure of :mod:`cdig.plot` (and of :mod:`cdig.report`) goes through these helpers, so one rule
holds everywhere:

* **colour limits** are symmetric and robust: ``±`` the 99th percentile of ``|value|`` (never less
  than 1/100 of the largest), and the colour bar says when and where it clips
  (:func:`colour_scale`, :func:`add_colorbar`);
* **long series** (more points than the axes has room for) are drawn as a min/max envelope per
  column, with the attribution as a heat strip under the signal (:func:`heat_line`);
* **many bars** are aggregated into contiguous groups so each bar is a few pixels wide, and the axis
  label says so (:func:`signed_bars`);
* **round-off** (``|value| < 1e-6 x`` the map's largest) is drawn as zero (:func:`hide_roundoff`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import CdigValueError

#: Diverging colour map of signed attributions: red pushes the explained output up, blue down.
CMAP = "RdBu_r"
POSITIVE, NEGATIVE = "#c0392b", "#2e6da4"
#: Colour limits: this percentile of ``|value|`` ...
PERCENTILE = 99.0
#: ... but never below the largest ``|value|`` divided by this (a map that is zero almost everywhere
#: must not turn its round-off into full colour).
MAX_CLIP_RATIO = 100.0
#: Values below this fraction of a map's largest ``|value|`` are round-off: drawn as zero.
ROUNDOFF = 1e-6
#: Columns (envelope bins, heat-map columns) per inch of axes: about 2 px each at 100 dpi.
COLUMNS_PER_INCH = 48
#: Bars per inch of axes: at least ~4 px each at 100 dpi (2.4 px at 60 dpi).
BARS_PER_INCH = 25
#: The attribution unit, on every colour bar and attribution axis.
UNIT = "attribution (output units)"


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


# --- numbers as text ------------------------------------------------------------------------------
def fmt(v: float, digits: int = 3) -> str:
    """``v`` with ``digits`` significant digits (``%g``)."""
    return f"{float(v):.{digits}g}"


def distinct_range(lo: float, hi: float, unit: str | None = None) -> str:
    """``"lo-hi"`` with the fewest significant digits (3 or more) that tell the two edges apart.

    >>> distinct_range(0.02496575, 0.02503425)
    '0.02497-0.02503'
    >>> distinct_range(8.0, 13.0, "Hz")
    '8-13 Hz'
    """
    a, b = float(lo), float(hi)
    for digits in range(3, 12):
        if fmt(a, digits) != fmt(b, digits) or a == b:
            break
    text = f"{fmt(a, digits)}-{fmt(b, digits)}"
    return f"{text} {unit}" if unit else text


def axis_label(name: str, unit: str | None) -> str:
    return f"{name} ({unit})" if unit else name


# --- colour scales --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColourScale:
    """Symmetric colour limits ``±vmax`` of a signed map, and what they leave out.

    Attributes
    ----------
    vmax : float
        The limit: the ``percentile`` of ``|value|``, raised to at least ``peak / MAX_CLIP_RATIO``
        (1.0 for an all-zero map).
    peak : float
        The largest ``|value|``.
    percentile : float
        The percentile of ``|value|`` that ``vmax`` is.
    of : str
        What the percentile is taken of, for the label (``"|value|"``, or ``"column peaks"`` for a
        map drawn as :func:`binned_heat`'s signed peaks).
    """

    vmax: float
    peak: float
    percentile: float = PERCENTILE
    of: str = "|value|"

    @property
    def clipped(self) -> bool:
        """Whether some values lie beyond ``±vmax`` (drawn in the end colours)."""
        return self.peak > self.vmax * (1 + 1e-9)

    @property
    def extend(self) -> str:
        """The colour bar's ``extend``: arrows when values are clipped."""
        return "both" if self.clipped else "neither"

    def label(self, what: str = UNIT, compact: bool = False) -> str:
        """The colour bar's label: ``what``, and when clipping, the limit, the rule and the largest value
        (short lines: the label runs along the colour bar)."""
        if not self.clipped:
            return what
        if compact:
            return f"{what}\nclipped ±{fmt(self.vmax)} (max {fmt(self.peak)})"
        return f"{what}\nclipped at ±{fmt(self.vmax)}\n({self.percentile:g}th pct of {self.of}; max {fmt(self.peak)})"


def colour_scale(*maps: Any, percentile: float = PERCENTILE, peaks: bool = False) -> ColourScale:
    """Robust symmetric colour limits for one or more signed maps (pooled).

    Parameters
    ----------
    *maps : array-like
        The values the colours will show (non-finite values are ignored).
    percentile : float
        The percentile of ``|value|`` that gets the end colours (100: the maximum, no clipping).
    peaks : bool
        The maps are :func:`binned_heat`'s signed peaks, where one value shows in up to three
        columns: the percentile is taken three times further from 100 (99 becomes 97), so that one
        outlier still cannot set the scale.

    Returns
    -------
    ColourScale

    Examples
    --------
    >>> v = np.r_[np.linspace(-0.1, 0.1, 999), 3.3]   # one outlier
    >>> s = colour_scale(v)
    >>> round(s.vmax, 3), s.peak, s.clipped
    (0.099, 3.3, True)
    >>> colour_scale(np.zeros(5)).vmax
    1.0
    """
    if peaks:
        percentile = max(0.0, 100.0 - 3 * (100.0 - percentile))
    flat = np.concatenate([np.abs(np.asarray(m, dtype=float)).ravel() for m in maps]) if maps else np.zeros(0)
    flat = flat[np.isfinite(flat)]
    peak = float(flat.max()) if flat.size else 0.0
    of = "column peaks" if peaks else "|value|"
    if peak <= 0:
        return ColourScale(1.0, 0.0, percentile, of)
    vmax = max(float(np.percentile(flat, percentile)), peak / MAX_CLIP_RATIO)
    return ColourScale(vmax, peak, percentile, of)


def symmetric_limit(v: np.ndarray) -> float:
    """The robust symmetric colour limit of ``v`` (:func:`colour_scale`)."""
    return colour_scale(v).vmax


def add_colorbar(
    fig: Any, image: Any, ax: Any, scale: ColourScale, what: str = UNIT, compact: bool = False, **kwargs: Any
) -> Any:
    """A colour bar for ``image`` beside ``ax`` (an axes or a list), labelled by :meth:`ColourScale.label`."""
    cbar = fig.colorbar(image, ax=ax, extend=scale.extend, pad=0.01, **kwargs)
    cbar.set_label(scale.label(what, compact=compact), fontsize=6.5 if compact else 8)
    if compact:
        cbar.ax.tick_params(labelsize=6)
    return cbar


# --- aggregation along the last axis ----------------------------------------------------------------
def group_starts(n: int, max_groups: int) -> np.ndarray:
    """Start indices of contiguous groups of about equal size (differing by one at most), as few as
    make at most ``max_groups`` groups; one item each when ``n <= max_groups``."""
    k = max(1, math.ceil(n / max(1, int(max_groups))))
    if k == 1:
        return np.arange(n)
    groups = math.ceil(n / k)
    return np.round(np.linspace(0, n, groups + 1)[:-1]).astype(np.int64)


def group_sizes(n: int, starts: np.ndarray) -> np.ndarray:
    """How many items each group of ``starts`` holds (of ``n``)."""
    return np.diff(np.r_[starts, n])


def reduce_groups(v: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """``v`` reduced over each group along its last axis: ``"sum"``, ``"mean"``, ``"min"``, ``"max"``,
    ``"rss"`` (root of the sum of squares)."""
    v = np.asarray(v, dtype=float)
    if len(starts) == v.shape[-1]:
        return v.copy()
    if how == "min":
        return np.minimum.reduceat(v, starts, axis=-1)
    if how == "max":
        return np.maximum.reduceat(v, starts, axis=-1)
    if how == "rss":
        return np.sqrt(np.add.reduceat(v * v, starts, axis=-1))
    total = np.add.reduceat(v, starts, axis=-1)
    if how == "mean":
        return total / group_sizes(v.shape[-1], starts)
    return total


def group_coords(x: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre and width of each group of the (evenly spaced) coordinate ``x``."""
    x = np.asarray(x, dtype=float)
    step = float(x[1] - x[0]) if len(x) > 1 else 1.0
    ends = np.r_[starts[1:], len(x)] - 1
    left, right = x[starts] - step / 2, x[ends] + step / 2
    return (left + right) / 2, right - left


def columns(width_in: float) -> int:
    """How many columns an axes ``width_in`` inches wide shows legibly (:data:`COLUMNS_PER_INCH`)."""
    return max(16, int(width_in * COLUMNS_PER_INCH))


def max_bars(width_in: float) -> int:
    """How many bars an axes ``width_in`` inches wide shows legibly (:data:`BARS_PER_INCH`)."""
    return max(8, int(width_in * BARS_PER_INCH))


def binned_heat(x: np.ndarray, m: np.ndarray, max_cols: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A heat map's columns reduced to at most ``max_cols``: (x, m, about how many columns of ``m``
    each drawn column stands for).

    Each drawn column shows the value of largest ``|value|`` among its own columns and its two
    neighbours' (the signed peak, as :func:`envelope` shows a signal's min and max): the colours keep
    the map's units (one time step's attribution) whatever the figure's width, a single large value
    stays visible instead of being averaged away, and a pattern about as fast as the columns (signs
    alternating from one step to the next) fills the strip evenly instead of beating into false
    stripes.
    """
    m = np.asarray(m, dtype=float)
    starts = group_starts(m.shape[-1], max_cols)
    if len(starts) == m.shape[-1]:
        return np.asarray(x, dtype=float), m, 1
    centre, _ = group_coords(x, starts)
    return centre, signed_peaks(m, starts), round(m.shape[-1] / len(starts))


def signed_peaks(m: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group of columns (``starts``) of ``m``, the value of largest ``|value|`` in the group and
    its two neighbouring groups."""
    m = np.nan_to_num(np.asarray(m, dtype=float))
    hi, lo = reduce_groups(m, starts, "max"), reduce_groups(m, starts, "min")
    peak = np.where(np.abs(hi) >= np.abs(lo), hi, lo)
    before = np.concatenate([peak[..., :1], peak[..., :-1]], axis=-1)
    after = np.concatenate([peak[..., 1:], peak[..., -1:]], axis=-1)
    three = np.stack([before, peak, after])
    pick = np.argmax(np.abs(three), axis=0)
    return np.take_along_axis(three, pick[None], axis=0)[0]


# --- drawings -----------------------------------------------------------------------------------
def cell_edges(c: np.ndarray) -> np.ndarray:
    """The edges of cells centred on the coordinates ``c`` (midpoints; a single cell is one unit wide).

    matplotlib's ``shading="nearest"`` gives a single row or column zero height, so a one-channel
    heat map would be drawn blank: cdig passes the edges itself.
    """
    c = np.asarray(c, dtype=float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.r_[2 * c[0] - mid[0], mid, 2 * c[-1] - mid[-1]]


def heat_image(ax: Any, x: np.ndarray, y: np.ndarray, m: np.ndarray, scale: ColourScale) -> Any:
    """``m`` (rows over ``y``, columns over ``x``) as a diverging heat map with the limits of ``scale``."""
    return ax.pcolormesh(
        cell_edges(x), cell_edges(y), m, cmap=CMAP, vmin=-scale.vmax, vmax=scale.vmax, shading="flat", rasterized=True
    )


def envelope(ax: Any, t: np.ndarray, signal: np.ndarray, max_cols: int, color: str = "black", lw: float = 0.8, **kw: Any) -> int:
    """``signal`` over ``t`` as a line, or, when it has more than ``max_cols`` points, as its min/max
    envelope per column (over the column's points and its neighbours': a light fill between two thin
    edges). Returns the number of points per column."""
    starts = group_starts(len(signal), max_cols)
    if len(starts) == len(signal):
        ax.plot(t, signal, color=color, lw=lw, **kw)
        return 1
    centre, _ = group_coords(t, starts)
    lo, hi = reduce_groups(signal, starts, "min"), reduce_groups(signal, starts, "max")
    # each column spans its neighbours too: a pattern about as fast as the columns (a pulse every 4
    # points, columns of 3) then fills the band evenly instead of beating into false gaps
    lo = np.minimum(np.minimum(lo, np.r_[lo[:1], lo[:-1]]), np.r_[lo[1:], lo[-1:]])
    hi = np.maximum(np.maximum(hi, np.r_[hi[:1], hi[:-1]]), np.r_[hi[1:], hi[-1:]])
    ax.fill_between(centre, lo, hi, color=color, alpha=0.22, lw=0, step="mid")
    ax.plot(centre, hi, color=color, lw=0.6, drawstyle="steps-mid", **kw)
    ax.plot(centre, lo, color=color, lw=0.6, drawstyle="steps-mid", alpha=0.7)
    return round(len(signal) / len(starts))


def heat_line(
    ax: Any, t: np.ndarray, signal: np.ndarray, heat: np.ndarray, scale: ColourScale | float, max_cols: int | None = None
) -> Any:
    """Draw ``signal`` over ``t`` with its attribution ``heat`` (same length) in colour.

    Short series (at most ``max_cols`` points): the signal as a line over a colour band of ``heat``
    behind it. Long series: the signal as a min/max envelope per column, and ``heat`` (the signed
    peak per column, :func:`binned_heat`) as a strip under it, labelled ``IG``, so neither hides the
    other.
    Returns the colour image (for a colour bar).
    """
    if not isinstance(scale, ColourScale):
        scale = ColourScale(float(scale), float(scale))
    signal = np.asarray(signal, dtype=float)
    t = np.asarray(t, dtype=float)
    finite = signal[np.isfinite(signal)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
    left, right = float(t[0]) - dt / 2, float(t[-1]) + dt / 2
    kw = dict(aspect="auto", cmap=CMAP, vmin=-scale.vmax, vmax=scale.vmax, interpolation="nearest", origin="lower")
    if max_cols is None or len(t) <= max_cols:
        image = ax.imshow(np.asarray(heat, dtype=float)[None, :], extent=(left, right, lo - pad, hi + pad), **kw)
        ax.plot(t, signal, color="black", lw=0.8)
        ax.set_xlim(left, right)
        ax.set_ylim(lo - pad, hi + pad)
        return image
    # long: envelope above, heat strip below (a quarter of the height), one y axis for the signal
    _, strip, k = binned_heat(t, np.asarray(heat, dtype=float)[None, :], max_cols)
    span = (hi - lo) if hi > lo else 1.0
    top, bottom = lo - 0.1 * span, lo - 0.45 * span
    image = ax.imshow(strip, extent=(left, right, bottom, top), **kw)
    envelope(ax, t, signal, max_cols)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, hi + pad)
    from matplotlib.ticker import MaxNLocator

    ticks = [v for v in MaxNLocator(nbins=4).tick_values(lo, hi) if lo - pad <= v <= hi + pad]
    ax.set_yticks([*ticks, (top + bottom) / 2], [*(f"{v:g}" for v in ticks), f"IG\n(peak of ~{k})"])
    ax.axhline(top, color="white", lw=2)
    return image


def signed_bars(ax: Any, x: np.ndarray, v: np.ndarray, width_in: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed bars of ``v`` over the evenly spaced ``x``, red up and blue down, legible at any count.

    More values than the axes holds legibly (:func:`max_bars` for ``width_in`` inches) are summed
    over contiguous groups (bands) of about equal size, so each bar is a few pixels wide; every bar
    has a hairline edge of its own colour, so even the narrowest stays visible. Returns the bars'
    centres and heights and the groups' start indices (``arange(len(v))`` when not grouped);
    :func:`bars_note` says it in words for the axis label.
    """
    x = np.asarray(x, dtype=float)
    v = np.asarray(v, dtype=float)
    starts = group_starts(len(v), max_bars(width_in))
    centre, width = group_coords(x, starts)
    heights = reduce_groups(v, starts, "sum")
    colours = np.where(heights >= 0, POSITIVE, NEGATIVE)
    ax.bar(centre, heights, width=0.9 * width if len(starts) == len(v) else width, color=colours, edgecolor=colours, lw=0.3)
    ax.axhline(0.0, color="black", lw=0.6)
    return centre, heights, starts


def bars_note(n: int, starts: np.ndarray, x: np.ndarray, unit: str | None, what: str = "bins") -> str:
    """Words for an axis label when :func:`signed_bars` summed the ``n`` values in groups (``starts``);
    empty when it did not."""
    if len(starts) >= n:
        return ""
    x = np.asarray(x, dtype=float)
    step = float(x[1] - x[0]) if len(x) > 1 else 1.0
    sizes = group_sizes(n, starts)
    count = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}-{sizes.max()}"
    return f"bar = {count} {what}, {fmt(n / len(starts) * step)}{' ' + unit if unit else ''}"


def hide_roundoff(v: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, bool]:
    """``v`` with the values below round-off (``|value| < ROUNDOFF x scale``, ``scale`` by default
    ``v``'s largest ``|value|``) set to zero, and whether any non-zero value was hidden."""
    v = np.asarray(v, dtype=float)
    if scale is None:
        scale = float(np.nanmax(np.abs(v))) if v.size else 0.0
    tiny = (np.abs(v) < ROUNDOFF * scale) & (v != 0)
    return np.where(tiny, 0.0, v), bool(tiny.any())
