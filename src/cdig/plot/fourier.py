"""The Fourier map: signed bars per frequency bin over the signal's magnitude spectrum."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._mpl import NEGATIVE, POSITIVE, axis_label, check_sample, new_figure

__all__ = ["plot_fourier"]


def plot_fourier(
    att: Any,
    sample: int = 0,
    *,
    band: tuple[float, float] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (9.0, 3.6),
) -> Any:
    """Plot a Fourier :class:`cdig.Attribution` of one sample: signed bars, spectrum behind, band shaded.

    The bars are the attributions summed over channels (red: raises the explained output, blue:
    lowers it); behind them, in grey on the right axis, the signal's magnitude spectrum
    (root-sum-square over channels of ``|att.coefficients|``). The bin with the largest attribution
    is marked.

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
        Not attached to pyplot; save it with ``fig.savefig("fourier.png")``.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.plot import plot_fourier
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> att = cdig.explain(model, torch.randn(1, 1, 64), "fourier", fs=64.0, n_steps=4)["fourier"]
    >>> fig = plot_fourier(att, band=(8.0, 12.0))
    >>> fig.axes[0].get_xlabel()
    'frequency (Hz)'
    """
    s = check_sample(att, sample)
    values = np.asarray(att.values[s], dtype=float)
    if "channel" in att.dims:
        values = values.sum(axis=att.dims.index("channel"))
    freq = np.asarray(att.coords.get("frequency", np.arange(values.shape[-1])), dtype=float)
    step = float(freq[1] - freq[0]) if len(freq) > 1 else 1.0

    fig = new_figure(figsize)
    ax = fig.subplots()
    handles = []
    if att.coefficients is not None:
        spec = np.sqrt((np.abs(np.asarray(att.coefficients[s])) ** 2).reshape(-1, len(freq)).sum(axis=0))
        back = ax.twinx()
        handles.append(back.fill_between(freq, spec, step="mid", color="0.6", alpha=0.35, lw=0, label="magnitude spectrum"))
        back.set_ylim(0, 1.05 * float(spec.max()) if spec.max() > 0 else 1.0)
        back.set_ylabel("|spectrum| (grey)", color="0.4")
        back.tick_params(axis="y", colors="0.4")
        ax.set_zorder(back.get_zorder() + 1)  # bars in front of the spectrum
        ax.patch.set_visible(False)
    if band is not None:
        ax.axvspan(float(band[0]), float(band[1]), color="#f1c40f", alpha=0.25, lw=0, label=f"band {band[0]:g}-{band[1]:g}")
    ax.bar(freq, values, width=0.9 * step, color=np.where(values >= 0, POSITIVE, NEGATIVE), lw=0, label="attribution")
    top = int(np.argmax(values))
    ax.annotate(f"top bin {freq[top]:g}", (freq[top], values[top]), xytext=(6, 4), textcoords="offset points", fontsize=8)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.margins(y=0.15)
    ax.set_xlim(freq[0] - step, freq[-1] + step)
    ax.set_xlabel(axis_label("frequency", att.units.get("frequency")))
    ax.set_ylabel("attribution (summed over channels)")
    own, _ = ax.get_legend_handles_labels()
    ax.legend(handles=own + handles, loc="upper right", fontsize=8, frameon=False)
    ax.set_title(title or f"Fourier attributions, sample {s} (sum {float(values.sum()):.3g})")
    return fig
