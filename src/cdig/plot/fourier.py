"""The Fourier map: signed bars per frequency bin, the signal's magnitude spectrum in its own panel."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._mpl import UNIT, axis_label, bars_note, check_sample, fmt, group_coords, new_figure, reduce_groups, signed_bars

__all__ = ["plot_fourier"]


def plot_fourier(
    att: Any,
    sample: int = 0,
    *,
    band: tuple[float, float] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (9.0, 4.2),
) -> Any:
    """Plot a Fourier :class:`cdig.Attribution` of one sample: signed bars, the spectrum below, band shaded.

    The bars are the attributions summed over channels (red: raises the explained output, blue:
    lowers it). Below them, in their own panel on the same frequency axis, the signal's magnitude
    spectrum (root-sum-square over channels of ``|att.coefficients|``), in grey. The bin with the
    largest ``|attribution|`` is marked with a triangle at its bar and named in the legend (above
    the axes, clear of the tick labels).

    Bars stay legible from a few bins to 100,000: when there are more bins than the axes shows at a
    few pixels each (about 25 per inch), contiguous bins are summed into equal bands (the
    attribution of a band is the sum of its bins) and the y label says how many bins each bar holds;
    the spectrum is aggregated over the same bands (root-sum-square).

    Parameters
    ----------
    att : Attribution
        A ``"fourier"`` map (``values`` ``(N, C, F)`` or ``(N, F)``).
    sample : int
        Which sample of the batch.
    band : (float, float), optional
        A frequency band to shade (in the map's frequency unit), e.g. a planted or expected one.
    title : str, optional
        Figure title.
    figsize : (float, float)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save it with ``fig.savefig("fourier.png")``. ``fig.axes[0]`` holds
        the bars; ``fig.axes[1]``, when the map has the signal's coefficients, the spectrum.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.plot import plot_fourier
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> att = cdig.explain(model, torch.randn(1, 1, 64), "fourier", fs=64.0, n_steps=4)["fourier"]
    >>> fig = plot_fourier(att, band=(8.0, 12.0))
    >>> fig.axes[-1].get_xlabel()
    'frequency (Hz)'
    """
    from matplotlib.transforms import offset_copy

    s = check_sample(att, sample)
    values = np.asarray(att.values[s], dtype=float)
    if "channel" in att.dims:
        values = values.sum(axis=att.dims.index("channel"))
    values = values.reshape(-1)
    freq = np.asarray(att.coords.get("frequency", np.arange(values.shape[-1])), dtype=float)
    if len(freq) != len(values):
        freq = np.arange(len(values), dtype=float)
    unit = att.units.get("frequency")
    width_in = figsize[0] - 1.1  # less the y labels

    fig = new_figure(figsize)
    has_spectrum = att.coefficients is not None
    if has_spectrum:
        ax, back = fig.subplots(2, 1, sharex=True, height_ratios=(3.0, 1.0))
    else:
        ax, back = fig.subplots(), None
    if band is not None:
        for a in (ax, back) if back is not None else (ax,):
            a.axvspan(float(band[0]), float(band[1]), color="#f1c40f", alpha=0.25, lw=0, label=f"band {band[0]:g}-{band[1]:g}")
    centre, heights, starts = signed_bars(ax, freq, values, width_in)
    grouped = len(starts) < len(values)
    top = int(np.argmax(np.abs(values)))  # the bin with the largest |attribution|, of either sign
    bar = int(np.searchsorted(starts, top, side="right")) - 1  # the bar that holds it
    up = heights[bar] >= 0
    ax.plot(
        [centre[bar]],
        [heights[bar]],
        marker="v" if up else "^",
        ls="none",
        color="black",
        ms=6,
        transform=offset_copy(ax.transData, fig=fig, y=6 if up else -6, units="points"),
        label=f"top bin {fmt(freq[top], 4)}{' ' + unit if unit else ''} ({fmt(values[top])})",
    )
    ax.margins(y=0.15)
    step = len(values) / len(starts) * (float(freq[1] - freq[0]) if len(freq) > 1 else 1.0)
    ax.set_xlim(freq[0] - step, freq[-1] + step)
    n_ch = int(np.prod(np.shape(att.values[s])[:-1], dtype=np.int64))
    notes = ([f"sum of {n_ch} channels"] if n_ch > 1 else []) + ([bars_note(len(values), starts, freq, unit)] if grouped else [])
    ax.set_ylabel(UNIT + "".join(f"\n{n}" for n in notes), fontsize=9 if len(notes) < 2 else 8)
    handles, _ = ax.get_legend_handles_labels()
    if back is not None:
        spec = np.sqrt((np.abs(np.asarray(att.coefficients[s])) ** 2).reshape(-1, len(freq)).sum(axis=0))
        where, _ = group_coords(freq, starts)
        spec = reduce_groups(spec, starts, "rss")
        label = "|spectrum| of the signal" + (" (root-sum-square per bar)" if grouped else "")
        handles.append(back.fill_between(where, spec, step="mid", color="0.55", lw=0, label=label))
        back.set_ylim(0, 1.1 * float(spec.max()) if spec.size and spec.max() > 0 else 1.0)
        back.set_ylabel("|spectrum|", fontsize=9)
        back.tick_params(axis="y", labelsize=8)
        ax.tick_params(labelbottom=False)
    (back if back is not None else ax).set_xlabel(axis_label("frequency", unit))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, fontsize=8, frameon=False, borderaxespad=0.2)
    fig.suptitle(title or f"Fourier attributions, sample {s} (sum {float(values.sum()):.3g})")
    return fig
