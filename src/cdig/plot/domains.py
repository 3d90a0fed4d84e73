"""Figures of the remaining domains: STFT, wavelet, bands, trend/season, magnitude/phase, and a fallback.

Every function takes ``att, sample=0, title=None, figsize=None`` (plus a few domain options) and
returns a ``matplotlib.figure.Figure`` not attached to pyplot. Signed maps use the diverging colour
map of :mod:`cdig.plot` centred on zero (red raises the explained output, blue lowers it), with
robust limits (the 99th percentile of ``|value|``; the colour bar says when it clips); every heat
map has its colour bar, also in the compact panels of :func:`cdig.plot.summary`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checks import check_choice
from ..core.errors import CdigValueError
from ._mpl import (  # noqa: F401 - CMAP, SampleIndexError, symmetric_limit: kept importable from here
    CMAP,
    NEGATIVE,
    POSITIVE,
    ROUNDOFF,
    UNIT,
    SampleIndexError,
    add_colorbar,
    axis_label,
    bars_note,
    binned_heat,
    check_sample,
    colour_scale,
    columns,
    distinct_range,
    envelope,
    heat_image,
    hide_roundoff,
    new_figure,
    signed_bars,
    symmetric_limit,
)

__all__ = ["plot_stft", "plot_wavelet", "plot_bands", "plot_trend", "plot_magphase", "plot_groups", "plot_generic"]


def channel_names(att: Any, n: int) -> list[str]:
    """Labels of the ``n`` channels: the coordinate's strings when it holds names, else ``channel i``."""
    names = np.asarray(att.coords.get("channel", np.arange(n)))
    if names.dtype.kind in "US" and len(names) == n:
        return [str(c) for c in names]
    return [f"channel {c}" for c in range(n)]


def _coord(att: Any, name: str, n: int) -> np.ndarray:
    c = np.asarray(att.coords.get(name, np.arange(n)))
    return c.astype(float) if c.dtype.kind in "fiu" and len(c) == n else np.arange(n, dtype=float)


def _names(att: Any, name: str, n: int) -> list[str]:
    c = att.coords.get(name)
    return [str(v) for v in c] if c is not None and len(c) == n else [str(i) for i in range(n)]


def _total(values: np.ndarray) -> float:
    """The sum of ``values``, 0 when it is only rounding residue of terms that cancel (e.g. 1.4e-17)."""
    total = float(np.sum(values))
    return 0.0 if abs(total) <= 1e-12 * float(np.sum(np.abs(values))) else total


def _title(fig: Any, title: str | None, default: str, values: np.ndarray) -> None:
    fig.suptitle(title or f"{default} (sum {_total(values):.3g})", fontsize=10)


def _grouped_bars(ax: Any, groups: np.ndarray, names: list[str], labels: list[str], compact: bool = False) -> None:
    """Bars of ``groups`` (series x groups), side by side per group; signed colours when one series."""
    k, g = groups.shape
    width = 0.8 / k
    x = np.arange(g)
    for i in range(k):
        if k == 1:
            ax.bar(x, groups[i], 0.8, color=np.where(groups[i] >= 0, POSITIVE, NEGATIVE))
        else:
            ax.bar(x + (i - (k - 1) / 2) * width, groups[i], width, label=labels[i])
    ax.set_xticks(x, names)
    if compact and sum(len(n) for n in names) > 30:  # a small panel: slanted names, not overlapping ones
        _slant(ax, 25)
    ax.axhline(0.0, color="black", lw=0.6)
    if k > 1:
        ax.legend(fontsize=7, frameon=False)


def _slant(ax: Any, degrees: float) -> None:
    """Slanted x tick labels, anchored at their right end (long names that would overlap)."""
    ax.tick_params(axis="x", labelrotation=degrees)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")


def _heat(
    fig: Any, ax: Any, x: np.ndarray, y: np.ndarray, m: np.ndarray, colorbar: bool = True, compact: bool | None = None
) -> int:
    """``m`` as a heat map with robust symmetric colours and its colour bar; columns beyond what the
    axes shows legibly are reduced to signed peaks (:func:`cdig.plot._mpl.binned_heat`). Returns how
    many columns of ``m`` each drawn column stands for."""
    x, m, k = binned_heat(x, np.asarray(m, dtype=float), columns(_width(fig, ax)))
    scale = colour_scale(m, peaks=k > 1)
    image = heat_image(ax, x, y, m, scale)
    if colorbar:
        add_colorbar(fig, image, ax, scale, compact=bool(compact))
    return k


def _mean_note(label: str, k: int) -> str:
    """An x label, saying when each drawn column is the signed peak of about ``k`` columns of the map."""
    return label if k <= 1 else f"{label}; colour: peak of ~{k} points"


def _width(fig: Any, ax: Any) -> float:
    """The width of ``ax`` in inches (its position before layout: a fair estimate)."""
    return float(ax.get_position().width * fig.get_figwidth())


# --- the domains -----------------------------------------------------------------------------
def plot_stft(
    att: Any,
    sample: int = 0,
    *,
    channels: str = "sum",
    fmax: float | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Any:
    """Plot an STFT map of one sample as a spectrogram-style heat map (frequency x time).

    Parameters
    ----------
    att : Attribution
        An ``"stft"`` map (``values`` ``(N, C, F, frames)``).
    sample : int
        Which sample of the batch.
    channels : {"sum", "each"}
        One heat map of the channel sum, or one panel per channel.
    fmax : float, optional
        Draw frequencies up to this one only (in the map's frequency units, Hz when ``fs`` was
        given); the colour scale then fits what is drawn.
    title : str, optional
    figsize : (float, float), optional
    ax : matplotlib Axes, optional
        Draw a compact channel-sum heat map (no colour bar) into this axes; returns its figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> att = cdig.explain(model, torch.randn(1, 1, 64), cdig.STFT(16), fs=64.0, n_steps=4)["stft"]
    >>> len(plot_stft(att).axes)  # heat map and colour bar
    2
    """
    s = check_sample(att, sample)
    check_choice(channels, "channels", ("sum", "each"))
    v = np.asarray(att.values[s], dtype=float)
    v = v.reshape((-1,) + v.shape[-2:])
    f = _coord(att, "frequency", v.shape[1])
    t = _coord(att, "time", v.shape[2])
    if fmax is not None:
        if isinstance(fmax, bool) or not isinstance(fmax, (int, float)) or not fmax > f.min():
            raise CdigValueError(f"fmax={fmax!r} must be a number above the lowest frequency {f.min():g}")
        keep = f <= fmax
        v, f = v[:, keep], f[keep]
    xlabel = axis_label("time", att.units.get("time"))
    ylabel = axis_label("frequency", att.units.get("frequency"))
    if ax is not None:
        k = _heat(ax.figure, ax, t, f, v.sum(axis=0), compact=True)
        ax.set_xlabel(_mean_note(xlabel, k))
        ax.set_ylabel(ylabel)
        return ax.figure
    maps = [v.sum(axis=0)] if channels == "sum" or len(v) == 1 else list(v)
    labels = ["sum over channels"] if channels == "sum" and len(v) > 1 else channel_names(att, len(v))
    size = figsize or (8.0, 1.0 + 2.6 * len(maps))
    fig = new_figure(size)
    axes = fig.subplots(len(maps), 1, sharex=True, squeeze=False)[:, 0]
    binned = [binned_heat(t, m, columns(size[0] - 1.8)) for m in maps]
    scale = colour_scale(*(m for _, m, _ in binned), peaks=binned[0][2] > 1)
    image = None
    for a, (tb, m, _), label in zip(axes, binned, labels):
        image = heat_image(a, tb, f, m, scale)
        a.set_ylabel(ylabel)
        a.set_title(label, fontsize=9)
    axes[-1].set_xlabel(_mean_note(xlabel, binned[0][2]))
    add_colorbar(fig, image, list(axes), scale)
    _title(fig, title, f"STFT attributions, sample {s}", v)
    return fig


def plot_wavelet(
    att: Any,
    sample: int = 0,
    *,
    kind: str = "bars",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Any:
    """Plot a wavelet map of one sample: per-level bars, or a level x position heat map (scalogram).

    Parameters
    ----------
    att : Attribution
        A ``"wavelet"`` map (``values`` ``(N, C, coefficients)``, ``extras["per_level"]``,
        coords ``band_name``, ``level``, ``position``).
    sample : int
    kind : {"bars", "scalogram"}
        ``"bars"``: each level's attribution per channel; ``"scalogram"``: the channel sum of each
        coefficient at its level (rows) and time position (columns).
    title, figsize, ax : optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = check_sample(att, sample)
    check_choice(kind, "kind", ("bars", "scalogram"))
    v = np.asarray(att.values[s], dtype=float)
    v = v.reshape(-1, v.shape[-1])
    per_level = att.extras.get("per_level")
    if per_level is not None:
        groups = np.asarray(per_level[s], dtype=float).reshape(len(v), -1)
    else:
        band = np.asarray(att.coords.get("band", np.zeros(v.shape[1], int)), dtype=int)
        groups = np.stack([np.bincount(band, weights=row) for row in v])
    names = _names(att, "band_name", groups.shape[1])
    fig = ax.figure if ax is not None else new_figure(figsize or (8.0, 3.4))
    target = ax if ax is not None else fig.add_subplot()
    if kind == "bars":
        _grouped_bars(
            target,
            groups if ax is None else groups.sum(axis=0, keepdims=True),
            names,
            channel_names(att, len(groups)),
            ax is not None,
        )
        target.set_xlabel("wavelet band (A: approximation, D: details)")
        target.set_ylabel(UNIT)
    else:
        band = np.asarray(att.coords.get("band", np.zeros(v.shape[1], int)), dtype=int)
        n_t = v.shape[1]
        n_bands = groups.shape[1]
        # the coefficients' "time" is the start of each dyadic block; the finest band gives the sample step
        start = np.asarray(att.coords.get("time", np.arange(n_t)), dtype=float)
        finest = np.flatnonzero(band == np.bincount(band).argmax())
        dt = (start[finest[1]] - start[finest[0]]) * len(finest) / n_t if len(finest) > 1 else 1.0
        t = float(start.min()) + dt * np.arange(n_t)
        m = np.full((n_bands, n_t), 0.0)
        total = v.sum(axis=0)
        for b in range(n_bands):
            idx = np.flatnonzero(band == b)
            # each coefficient of a coarse band covers len(t)/len(idx) samples: spread it over them
            cols = np.minimum((np.arange(len(t)) * len(idx)) // len(t), len(idx) - 1)
            m[b] = total[idx][cols] if len(idx) else 0.0
        k = _heat(fig, target, t, np.arange(n_bands), m, compact=ax is not None)
        target.set_yticks(np.arange(n_bands), names)
        target.set_xlabel(_mean_note(axis_label("time", att.units.get("time")), k))
        target.set_ylabel("band")
    if ax is None:
        _title(fig, title, f"Wavelet attributions, sample {s}", v)
    return fig


def plot_bands(
    att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None, ax: Any = None
) -> Any:
    """Plot a frequency-band map of one sample: signed bars per named band, grouped by channel.

    Parameters
    ----------
    att : Attribution
        A ``"bands"`` map (``values`` ``(N, C, B)``, coords ``band`` with the names and
        ``band_low`` / ``band_high`` with the edges).
    sample : int
    title, figsize, ax : optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = check_sample(att, sample)
    v = np.asarray(att.values[s], dtype=float)
    v = v.reshape(-1, v.shape[-1])
    names = _names(att, "band", v.shape[1])
    lo, hi = att.coords.get("band_low"), att.coords.get("band_high")
    if lo is not None and hi is not None and len(lo) == len(names) and ax is None:
        # edges with the digits that tell them apart (a band 0.02497-0.02503 Hz must not read
        # 0.025-0.025); the "other" band (bins outside every named band) has no edges: its bare name
        names = [f"{n}\n{distinct_range(a, b)}" if np.isfinite([a, b]).all() else n for n, a, b in zip(names, lo, hi)]
    fig = ax.figure if ax is not None else new_figure(figsize or (8.0, 3.4))
    target = ax if ax is not None else fig.add_subplot()
    _grouped_bars(target, v if ax is None else v.sum(axis=0, keepdims=True), names, channel_names(att, len(v)), ax is not None)
    target.set_xlabel(axis_label("band", att.units.get("band_low")))
    target.set_ylabel(UNIT)
    if ax is None:
        _title(fig, title, f"Band attributions, sample {s}", v)
    return fig


def plot_groups(
    att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None, ax: Any = None
) -> Any:
    """Plot a perturbation method's values per group of one sample: a signed bar per group, ± its standard error.

    For the results of ``cdig.explain(..., method=..., groups=...)`` (``dims == ("group",)``). The bars
    are labelled by ``coords["group"]`` (the labels 0 .. G-1, or names you set:
    ``att.coords["group"] = np.array(["alpha", "beta", ...])``) and by the range of the domain's
    coordinate each group covers, when cdig recorded it (``coords["group_low"]`` / ``["group_high"]``,
    e.g. the frequencies of a group of Fourier bins). Sampled estimates carry error bars of one
    standard error (``extras["standard_error"]``).

    Parameters
    ----------
    att : Attribution
    sample : int
    title, figsize, ax : optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import cdig
    >>> x = np.random.default_rng(0).standard_normal((2, 64))
    >>> att = cdig.explain(lambda s: s[:, :8].sum(axis=1), x, "time", method="occlusion", groups=np.arange(64) // 16)["time"]
    >>> [t.get_text() for t in plot_groups(att).axes[0].get_xticklabels()]
    ['0\\n0-15', '1\\n16-31', '2\\n32-47', '3\\n48-63']
    """
    s = check_sample(att, sample)
    v = np.asarray(att.values[s], dtype=float).reshape(-1)
    names = _names(att, "group", len(v))
    lo, hi = att.coords.get("group_low"), att.coords.get("group_high")
    unit = att.units.get("group_low")
    if lo is not None and hi is not None and len(lo) == len(v):
        names = [f"{n}\n{distinct_range(a, b)}" if a != b else f"{n}\n{a:g}" for n, a, b in zip(names, lo, hi)]
    se = att.extras.get("standard_error")
    err = np.asarray(se[s], dtype=float).reshape(-1) if se is not None and np.size(se[s]) == len(v) else None
    fig = ax.figure if ax is not None else new_figure(figsize or (max(6.5, min(12.0, 2.0 + 0.6 * len(v))), 3.4))
    target = ax if ax is not None else fig.add_subplot()
    x = np.arange(len(v))
    target.bar(x, v, 0.8, color=np.where(v >= 0, POSITIVE, NEGATIVE), yerr=err, capsize=2 if err is not None else 0)
    if len(v) <= 24:
        target.set_xticks(x, names)
        if sum(max(len(line) for line in n.split("\n")) for n in names) * 0.11 > _width(fig, target):  # ~0.11 in a character
            _slant(target, 30)
    target.axhline(0.0, color="black", lw=0.6)
    axis = att.settings.get("group_axis")
    target.set_xlabel("group" + (f" ({axis} range" + (f", {unit})" if unit else ")") if axis and lo is not None else ""))
    target.set_ylabel(UNIT + ("\nerror bars: ± 1 standard error" if err is not None else ""))
    if ax is None:
        _title(fig, title, f"{att.domain}: {att.settings.get('method', 'perturbation')} values per group, sample {s}", v)
    return fig


def _component_panels(
    att: Any, s: int, axis: str, title: str | None, default: str, figsize: tuple[float, float] | None, ax: Any
) -> Any:
    raw = np.asarray(att.values[s], dtype=float)
    raw = raw.reshape((-1,) + raw.shape[-2:])  # channel, component, axis
    # scores below round-off of the whole map (1e-9 phase scores beside magnitude scores of 10) are
    # drawn as zero, not blown up by a panel's own autoscale into a signal
    scale = float(np.max(np.abs(raw))) if raw.size else 0.0
    v, _ = hide_roundoff(raw, scale)
    parts, _ = hide_roundoff(v.sum(axis=0), scale)
    names = _names(att, "component", parts.shape[0])
    x = _coord(att, axis, parts.shape[1])
    xlabel = axis_label(axis, att.units.get(axis))
    if ax is not None:
        n_cols = columns(_width(ax.figure, ax))
        for i, (row, name) in enumerate(zip(parts, names)):
            envelope(ax, x, row, n_cols, color=f"C{i}", lw=0.9, label=name)
        ax.axhline(0.0, color="black", lw=0.5)
        ax.legend(fontsize=6, frameon=False)
        ax.set_xlabel(xlabel)
        return ax.figure
    size = figsize or (8.0, 0.8 + 1.5 * len(parts))
    n_cols = columns(size[0] - 1.2)
    fig = new_figure(size)
    axes = fig.subplots(len(parts), 1, sharex=True, squeeze=False)[:, 0]
    labels = channel_names(att, len(v))
    for a, k, name in zip(axes, range(len(parts)), names):
        if len(v) > 1:
            for c in range(len(v)):
                envelope(a, x, v[c, k], n_cols, color=f"C{c}", lw=0.7, alpha=0.6, label=labels[c])
        envelope(a, x, parts[k], n_cols, color="black", lw=1.1, label="sum over channels" if len(v) > 1 else None)
        a.axhline(0.0, color="0.5", lw=0.5)
        a.set_ylabel(f"{name}\n(sum {_total(parts[k]):.3g})", fontsize=8)
        if not parts[k].any() and raw[:, k].any():
            a.set_ylim(-0.05 * scale, 0.05 * scale)
            a.text(
                0.5,
                0.62,
                f"all |values| < {ROUNDOFF:g} x the map's largest ({scale:.3g}): round-off, drawn as 0",
                transform=a.transAxes,
                ha="center",
                fontsize=8,
                color="0.35",
            )
    if len(v) > 1:
        # above the first panel, not inside it: inside, "upper right" covers the curves
        axes[0].legend(
            fontsize=7, frameon=False, ncol=min(len(v) + 1, 4), loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2
        )
    axes[-1].set_xlabel(xlabel)
    fig.supylabel(UNIT, fontsize=9)
    _title(fig, title, default, v)
    return fig


def plot_trend(
    att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None, ax: Any = None
) -> Any:
    """Plot a trend/season map of one sample: stacked trend, seasonal and residual panels over time.

    Each panel shows the component's attribution per time step, per channel and summed (black);
    its total is under its name.

    Parameters
    ----------
    att : Attribution
        A ``"trend"`` map (``values`` ``(N, C, 3, T)``).
    sample : int
    title, figsize, ax : optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = check_sample(att, sample)
    return _component_panels(att, s, "time", title, f"Trend/season attributions, sample {s}", figsize, ax)


def plot_magphase(
    att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None, ax: Any = None
) -> Any:
    """Plot a magnitude/phase map of one sample: a magnitude panel and a phase panel over frequency.

    Parameters
    ----------
    att : Attribution
        A ``"magphase"`` map (``values`` ``(N, C, 2, F)``).
    sample : int
    title, figsize, ax : optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = check_sample(att, sample)
    return _component_panels(att, s, "frequency", title, f"Magnitude/phase attributions, sample {s}", figsize, ax)


def plot_generic(
    att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None, ax: Any = None
) -> Any:
    """Plot any map of one sample by its shape: bars for a vector, lines per row for a matrix, a heat map beyond.

    The fallback for ``dct``, ``cepstrum``, ``basis``, ``compose`` and custom domains: a 1-D map is
    drawn as signed bars over its coordinate; a 2-D map as one line per row (channel or component)
    over the last axis; a higher one as a heat map of its last two axes summed over the others.

    Parameters
    ----------
    att : Attribution
    sample : int
    title, figsize, ax : optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = check_sample(att, sample)
    v = np.asarray(att.values[s], dtype=float)
    dims = tuple(att.dims)
    fig = ax.figure if ax is not None else new_figure(figsize or (8.0, 3.2))
    target = ax if ax is not None else fig.add_subplot()
    width = _width(fig, target)
    if v.ndim <= 1:
        v = v.reshape(-1)
        dim = dims[0] if dims else "index"
        names = _names(att, dim, len(v))
        index = np.arange(len(v), dtype=float)
        _, _, starts = signed_bars(target, index, v, width)
        if len(v) <= 24:
            target.set_xticks(index, names)
        target.set_xlabel(dim)
        note = bars_note(len(v), starts, index, None, "coefficients")
        target.set_ylabel(UNIT + (f"\n{note}" if note else ""))
    elif v.ndim == 2:
        last = dims[-1] if dims else "index"
        x = _coord(att, last, v.shape[1])
        row_dim = dims[0] if dims else "row"
        labels = channel_names(att, len(v)) if row_dim == "channel" else [f"{row_dim} {n}" for n in _names(att, row_dim, len(v))]
        for i, (row, label) in enumerate(zip(v, labels)):
            envelope(target, x, row, columns(width), color=f"C{i % 10}", lw=1.0, label=label)
        target.axhline(0.0, color="black", lw=0.5)
        target.set_xlabel(axis_label(last, att.units.get(last)))
        target.set_ylabel(UNIT)
        if len(v) <= 8:
            target.legend(fontsize=7, frameon=False)
    else:
        m = v.reshape((-1,) + v.shape[-2:]).sum(axis=0)
        ydim, xdim = (dims[-2], dims[-1]) if len(dims) >= 2 else ("row", "column")
        k = _heat(fig, target, _coord(att, xdim, m.shape[1]), _coord(att, ydim, m.shape[0]), m, compact=ax is not None)
        target.set_xlabel(_mean_note(axis_label(xdim, att.units.get(xdim)), k))
        target.set_ylabel(axis_label(ydim, att.units.get(ydim)))
    if ax is None:
        _title(fig, title, f"{att.domain} attributions, sample {s}", v)
    return fig
