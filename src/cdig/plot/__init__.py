"""Figures of :class:`cdig.Attribution` maps (an edge: uses the core, never imported by it).

matplotlib is imported only when a function draws; each returns a ``matplotlib.figure.Figure``
that is not attached to pyplot (no backend or global state is touched; ``fig.savefig`` renders
with Agg). Install with ``pip install 'cdig[plot]'``.

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
from .domains import check_sample, plot_bands, plot_generic, plot_magphase, plot_stft, plot_trend, plot_wavelet
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
    "plot_generic",
]


def _plotter(att: Any) -> Any:
    """The plotter its domain names (the ``plot`` of the registered class of ``att.domain``), else the
    plotter of its axes, else the fallback."""
    dims = tuple(att.dims)
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
    ``bands``, ``trend`` and ``magphase`` have their own; custom domains with the same axes are
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
        One axes per domain (named by the map's key), in the order given.

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
    >>> len(summary(maps).axes)
    2
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
    if plotter in (plot_stft, plot_wavelet, plot_bands, plot_trend, plot_magphase, plot_generic):
        plotter(att, sample, ax=ax)
        return
    s = check_sample(att, sample)
    v = np.asarray(att.values[s], dtype=float)
    if plotter is plot_time:
        # channel heat map over time: compact and readable for many channels
        from .domains import _coord, _heat

        v = v.reshape(-1, v.shape[-1])
        _heat(ax.figure, ax, _coord(att, "time", v.shape[1]), np.arange(len(v)), v, colorbar=False)
        ax.set_yticks(np.arange(len(v)), [str(c) for c in range(len(v))] if len(v) <= 8 else None)
        ax.set_xlabel(f"time ({att.units['time']})" if "time" in att.units else "time")
        ax.set_ylabel("channel")
        ax.invert_yaxis()  # channel 0 on top, as in plot_time
        return
    # fourier (sum over channels) and ica (one bar per component): the generic shapes
    if plotter is plot_fourier and v.ndim == 2:
        from ._mpl import NEGATIVE, POSITIVE
        from .domains import _coord

        row = v.sum(axis=0)
        f = _coord(att, "frequency", len(row))
        step = float(f[1] - f[0]) if len(f) > 1 else 1.0
        ax.bar(f, row, width=0.9 * step, color=np.where(row >= 0, POSITIVE, NEGATIVE), lw=0)
        ax.axhline(0.0, color="black", lw=0.5)
        ax.set_xlabel(f"frequency ({att.units['frequency']})" if "frequency" in att.units else "frequency")
        return
    plot_generic(att, sample, ax=ax)
