"""Figures of :class:`cdig.Attribution` maps (an edge: uses the core, never imported by it).

matplotlib is imported only when a function draws; each returns a ``matplotlib.figure.Figure``
that is not attached to pyplot (no backend or global state is touched; ``fig.savefig`` renders
with Agg). Install with ``pip install 'cdig[plot]'``.

>>> from cdig.plot import plot_attribution
>>> plot_attribution.__name__
'plot_attribution'
"""

from __future__ import annotations

from typing import Any

from .fourier import plot_fourier
from .ica import plot_ica
from .time import plot_time

__all__ = ["plot_attribution", "plot_time", "plot_fourier", "plot_ica"]

_PLOTTERS = {"time": plot_time, "fourier": plot_fourier, "ica": plot_ica}


def plot_attribution(att: Any, sample: int = 0, **kwargs: Any) -> Any:
    """Plot one sample of ``att`` with the plotter of its domain (``plot_time``, ``plot_fourier``, ``plot_ica``).

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
    ValueError
        For a domain without a plotter.
    """
    try:
        plotter = _PLOTTERS[att.domain]
    except KeyError:
        raise ValueError(
            f"no plotter for the {att.domain!r} domain; available: {', '.join(_PLOTTERS)}"
        ) from None
    return plotter(att, sample, **kwargs)
