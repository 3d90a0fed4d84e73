"""The time-domain map: each channel's signal with its attributions as a heat band behind it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._mpl import axis_label, check_sample, heat_line, new_figure, symmetric_limit

__all__ = ["plot_time"]


def plot_time(att: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None) -> Any:
    """Plot a time-domain :class:`cdig.Attribution` of one sample: signal lines over attribution heat.

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
    vmax = symmetric_limit(heat)
    fig = new_figure(figsize or (9.0, 1.0 + 1.6 * n_ch))
    axes = fig.subplots(n_ch, 1, sharex=True, squeeze=False)[:, 0]
    image = None
    for c, ax in enumerate(axes):
        image = heat_line(ax, t, signal[c], heat[c], vmax)
        ax.set_ylabel(f"channel {c}")
    axes[-1].set_xlabel(axis_label("time", att.units.get("time")))
    cbar = fig.colorbar(image, ax=list(axes), shrink=0.9, pad=0.01)
    cbar.set_label("attribution (output units)")
    fig.suptitle(title or f"Time-domain attributions, sample {s} (sum {float(heat.sum()):.3g})")
    return fig
