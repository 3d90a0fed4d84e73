"""Figures of :class:`cdig.Attribution` maps (an edge: uses the core, never imported by it).

matplotlib is imported only when a function draws; each returns a ``matplotlib.figure.Figure``
that is not attached to pyplot (no backend or global state is touched; ``fig.savefig`` renders
with Agg). Install with ``pip install 'cdig[plot]'``.

The figures stay readable on real recordings, whatever their length:

* heat maps have symmetric, robust colour limits (``±`` the 99th percentile of ``|attribution|``)
  and always a colour bar, which says when a few larger values are clipped and how large they are;
* a series with more points than the axes has columns (e.g. 1,460 readings on a 9-inch figure) is
  drawn as a min/max envelope, its attributions as a heat strip of signed peaks per column;
* bars (Fourier bins, coefficients) are summed into bands when there are more than ~25 per inch,
  and the axis label says how many bins a bar holds;
* scores below round-off (``|value| < 1e-6 x`` the map's largest) are drawn as zero;
* axes name their units (``Hz``, ``s`` when ``fs`` was given; attributions in output units).

>>> from cdig.plot import plot_attribution
>>> plot_attribution.__name__
'plot_attribution'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from ..domains import registered
from .domains import check_sample, plot_bands, plot_generic, plot_groups, plot_magphase, plot_stft, plot_trend, plot_wavelet
from .fourier import plot_fourier
from .ica import plot_ica
from .time import plot_time

__all__ = [
    "plot_attribution",
    "summary",
    "plot_time",
    "plot_fourier",
    "plot_ica",
    "plot_stft",
    "plot_wavelet",
    "plot_bands",
    "plot_trend",
    "plot_magphase",
    "plot_groups",
    "plot_generic",
]


def _plotter(att: Any) -> Any:
    """The plotter its domain names (the ``plot`` of the registered class of ``att.domain``), else the
    plotter of its axes, else the fallback."""
    dims = tuple(att.dims)
    if dims == ("group",):  # a perturbation method's groups: whatever the domain, one value per group
        return plot_groups
    hook = getattr(registered().get(att.domain), "plot", None)
    if hook is not None:
        return globals()[hook] if hook in __all__ else _named_plotter(hook)
    # custom domains named otherwise, recognised by their axes
    if dims[-2:] == ("frequency", "time"):
        return plot_stft
    if dims[-2:] == ("component", "time") and len(dims) == 3:
        return plot_trend
    if dims[-2:] == ("component", "frequency") and len(dims) == 3:
        return plot_magphase
    if "per_level" in att.extras:
        return plot_wavelet
    if dims[-1:] == ("band",):
        return plot_bands
    return plot_generic


def _named_plotter(hook: str) -> Any:
    """A plotter named ``"module:function"`` (a user's domain may bring its own plotter)."""
    import importlib

    module, _, function = hook.partition(":")
    if not function:
        raise CdigValueError(f"plot={hook!r}: name a function of cdig.plot ({', '.join(__all__[2:])}) or 'module:function'")
    return getattr(importlib.import_module(module), function)


def plot_attribution(att: Any, sample: int = 0, **kwargs: Any) -> Any:
    """Plot one sample of ``att`` with the plotter of its domain.

    Each domain names its plotter (its class attribute ``plot``, e.g. ``"plot_stft"``): ``time``,
    ``fourier``, ``ica`` and ``basis`` (component bars and time courses), ``stft``, ``wavelet``,
    ``bands``, ``trend`` and ``magphase`` have their own; a perturbation method's values per group
    (``groups=``) are drawn by :func:`plot_groups` in every domain; custom domains with the same axes are
    recognised by ``att.dims``; every other domain (``dct``, ``cepstrum``, ``compose``, ...) is
    drawn by :func:`plot_generic`.

    Parameters
    ----------
    att : Attribution
        A map from :func:`cdig.explain`.
    sample : int
        Which sample of the batch.
    **kwargs
        Passed to the domain's plotter (e.g. ``band=`` for Fourier, ``highlight=`` for ICA).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    cdig.CdigTypeError
        When ``att`` is not a :class:`cdig.Attribution` (e.g. a bare array, or the dict of maps that
        :func:`summary` takes).
    cdig.CdigValueError
        When ``sample`` is not an index of the batch (also an ``IndexError``).
    """
    _check_attribution(att, "att")
    check_sample(att, sample)
    return _plotter(att)(att, sample, **kwargs)


def _is_attribution(att: Any) -> bool:
    """Whether ``att`` reads as a :class:`cdig.Attribution` (by its fields: the core's result type is not
    imported here, since ``Attribution.plot`` imports this module)."""
    return all(hasattr(att, a) for a in ("values", "domain", "dims", "coords", "delta")) and not isinstance(att, dict)


def _check_attribution(att: Any, name: str) -> None:
    """A :class:`cdig.Attribution`, or a CdigTypeError saying what is accepted."""
    if not _is_attribution(att):
        got = f"an array of shape {att.shape}" if isinstance(att, np.ndarray) else type(att).__name__
        hint = " (for a dict of maps, as cdig.explain returns, use cdig.plot.summary)" if isinstance(att, dict) else ""
        raise CdigTypeError(f"{name} must be a cdig.Attribution (one map from cdig.explain), got {got}{hint}")


def summary(
    maps: Any, sample: int = 0, *, title: str | None = None, figsize: tuple[float, float] | None = None, ncols: int = 3
) -> Any:
    """All domains of one sample on one page: a grid with one compact panel per domain.

    Parameters
    ----------
    maps : dict of str to Attribution, or sequence of Attribution
        E.g. the result of ``cdig.explain(model, x, [...domains])``.
    sample : int
        Which sample of the batch (the same in every map).
    title : str, optional
    figsize : (float, float), optional
        Default: 4.2 x 3 inches per panel.
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per domain (an axes titled by the map's key), in the order given; each heat map
        (time, STFT, scalogram, ...) has its own colour bar beside it (an axes labelled
        ``"<colorbar>"``). Long series and many bins are drawn as in the full figures: signed peaks
        per column, bars summed over bands of bins.

    Raises
    ------
    cdig.CdigTypeError
        When ``maps`` (or one of its entries) is not a :class:`cdig.Attribution`.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.plot import summary
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> maps = cdig.explain(model, torch.randn(1, 1, 64), ["time", "fourier"], fs=64.0, n_steps=4)
    >>> [ax.get_title().split(" ")[0] for ax in summary(maps).axes if ax.get_label() != "<colorbar>"]
    ['time', 'fourier']
    """
    from ._mpl import new_figure

    if _is_attribution(maps):
        maps = [maps]
    elif not isinstance(maps, dict):
        if isinstance(maps, (np.ndarray, str, bytes)) or not hasattr(maps, "__iter__"):
            got = f"an array of shape {maps.shape}" if isinstance(maps, np.ndarray) else type(maps).__name__
            raise CdigTypeError(f"maps must be a dict of cdig.Attribution (as cdig.explain returns) or a list of them, got {got}")
        maps = list(maps)
    for key, att in maps.items() if isinstance(maps, dict) else enumerate(maps):
        _check_attribution(att, f"maps[{key!r}]")
    items = list(maps.items()) if isinstance(maps, dict) else [(a.domain, a) for a in maps]
    if not items:
        raise CdigValueError("maps is empty; summary needs at least one Attribution")
    for _, att in items:
        check_sample(att, sample)
    ncols = max(1, min(int(ncols), len(items)))
    nrows = math.ceil(len(items) / ncols)
    fig = new_figure(figsize or (4.2 * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(items) :]:
        fig.delaxes(ax)
    for ax, (name, att) in zip(axes, items):
        _compact(att, sample, ax)
        ax.set_title(f"{name} (sum {float(np.sum(att.values[sample])):.3g})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.label.set_size(8)
        ax.yaxis.label.set_size(8)
    fig.suptitle(title or f"Attributions of sample {sample % len(items[0][1].values)} in every domain", fontsize=11)
    return fig


def _compact(att: Any, sample: int, ax: Any) -> None:
    """One small panel of ``att`` in ``ax``: the domain's plotter when it can draw into an axes."""
    plotter = _plotter(att)
    if plotter in (plot_stft, plot_wavelet, plot_bands, plot_trend, plot_magphase, plot_groups, plot_generic):
        plotter(att, sample, ax=ax)
        return
    s = check_sample(att, sample)
    v = np.asarray(att.values[s], dtype=float)
    if plotter is plot_time:
        # channel heat map over time: compact and readable for many channels and long series
        from ._mpl import axis_label
        from .domains import _coord, _heat, _mean_note

        v = v.reshape(-1, v.shape[-1])
        k = _heat(ax.figure, ax, _coord(att, "time", v.shape[1]), np.arange(len(v)), v, compact=True)
        ax.set_yticks(np.arange(len(v)), [str(c) for c in range(len(v))] if len(v) <= 8 else None)
        ax.set_xlabel(_mean_note(axis_label("time", att.units.get("time")), k))
        ax.set_ylabel("channel")
        ax.invert_yaxis()  # channel 0 on top, as in plot_time
        return
    # fourier (sum over channels) and ica (one bar per component): the generic shapes
    if plotter is plot_fourier and v.ndim == 2:
        from ._mpl import UNIT, bars_note, signed_bars
        from .domains import _coord, _width

        row = v.sum(axis=0)
        f = _coord(att, "frequency", len(row))
        unit = att.units.get("frequency")
        _, _, starts = signed_bars(ax, f, row, _width(ax.figure, ax))
        ax.set_xlabel(f"frequency ({unit})" if unit else "frequency")
        note = bars_note(len(row), starts, f, unit)
        ax.set_ylabel(UNIT + (f"\n{note}" if note else ""))
        return
    plot_generic(att, sample, ax=ax)
