"""The time-domain map: each channel's signal with its attributions in colour.

Short series: the signal as a line over a heat band of its attributions. Long series (more points
than the axes has columns, e.g. 1,460 points on a 9-inch figure): the signal as a min/max envelope
per column and the attributions, averaged per column, as a heat strip under it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._mpl import add_colorbar, axis_label, binned_heat, check_sample, colour_scale, columns, heat_line, new_figure

__all__ = ["plot_time"]


def plot_time(att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None) -> Any:
    """Plot a time-domain :class:`cdig.Attribution` of one sample: signal lines over attribution heat.

    The colours are symmetric about zero and robust: ``±`` the 99th percentile of ``|attribution|``
    (the colour bar says when a few larger values are clipped, and the largest). A series with more
    points than the axes shows legibly is drawn as a min/max envelope, with the attributions (mean
    per column) as a heat strip under it, labelled ``IG``.

    Parameters
    ----------
    att : Attribution
        A ``"time"`` map (``values`` ``(N, C, T)`` or ``(N, T)``; the signal is taken from
        ``att.coefficients``).
    sample : int
        Which sample of the batch.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Default: 9 wide, 1.6 per channel.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save it with ``fig.savefig("time.png")``.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.plot import plot_time
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 32, 1))
    >>> att = cdig.explain(model, torch.randn(2, 2, 32), "time", fs=16.0, n_steps=4)["time"]
    >>> len(plot_time(att, sample=1).axes)  # two channels and a colour bar
    3
    """
    s = check_sample(att, sample)
    if att.coefficients is None:
        raise ValueError("this attribution has no coefficients (the signal); plot_time needs them")
    signal = np.asarray(att.coefficients[s], dtype=float)
    signal = signal.reshape(-1, signal.shape[-1])
    heat = np.asarray(att.values[s], dtype=float).reshape(signal.shape)
    n_ch, n_t = signal.shape
    t = np.asarray(att.coords.get("time", np.arange(n_t)), dtype=float)
    size = figsize or (9.0, 1.0 + 1.6 * n_ch)
    max_cols = columns(size[0] - 1.6)  # less the y labels and the colour bar
    long = n_t > max_cols
    fig = new_figure(size)
    axes = fig.subplots(n_ch, 1, sharex=True, squeeze=False)[:, 0]
    image = None
    scale = colour_scale(binned_heat(t, heat, max_cols)[1] if long else heat, peaks=long)
    for c, ax in enumerate(axes):
        image = heat_line(ax, t, signal[c], heat[c], scale, max_cols)
        ax.set_ylabel(f"channel {c}")
    axes[-1].set_xlabel(axis_label("time", att.units.get("time")))
    add_colorbar(fig, image, list(axes), scale, shrink=0.9)
    fig.suptitle(title or f"Time-domain attributions, sample {s} (sum {float(heat.sum()):.3g})")
    return fig
