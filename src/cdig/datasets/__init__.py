"""Data sets shipped with cdig (an edge: it uses nothing of the core, and the core never imports it).

>>> from cdig.datasets import load_bands_sources
>>> d = load_bands_sources()
>>> d.X.shape, d.fs, d.band
((400, 3, 256), 64.0, (8.0, 12.0))
"""

from __future__ import annotations

from importlib import resources

from .synthetic import BandsSources, make_bands_sources, mixing_matrix, read_bands_sources, save_bands_sources

__all__ = [
    "BandsSources",
    "load_bands_sources",
    "make_bands_sources",
    "mixing_matrix",
    "read_bands_sources",
    "save_bands_sources",
    "BANDS_SOURCES_FILE",
]

#: The shipped file, inside the package.
BANDS_SOURCES_FILE = "bands_sources.npz"


def load_bands_sources() -> BandsSources:
    """The shipped planted-band data set: ``make_bands_sources(seed=0)`` with the default arguments.

    400 samples of 3 channels × 256 steps at 64 Hz; class 1 when the planted source (index 2)
    oscillates in 8–12 Hz. See :func:`cdig.datasets.synthetic.make_bands_sources` for the construction.
    The file stores the sources, labels, frequencies and mixing matrix (float32 sources; the channels
    are re-mixed on loading); it was written by
    ``save_bands_sources(make_bands_sources(seed=0), "src/cdig/datasets/bands_sources.npz")``, and the
    test suite checks that this reproduces it bit for bit.

    Returns
    -------
    BandsSources

    Examples
    --------
    >>> d = load_bands_sources()
    >>> int(d.y.sum()), d.planted_source
    (200, 2)
    """
    with resources.files(__package__).joinpath(BANDS_SOURCES_FILE).open("rb") as f:
        return read_bands_sources(f)
