"""Explaining whole data sets and long recordings: streaming to a Zarr store, resumable.

* :func:`explain_dataset` — every row of an array, memmap, loader, ``tf.data`` set or iterator,
  chunk by chunk into a Zarr store; a killed job resumes where it stopped; ``engine="ray"`` spreads
  the chunks over a Ray cluster.
* :func:`open_explained` — read a store back (:class:`ExplainedDataset`).
* :func:`windows` — a long recording as windows to explain; :meth:`Windows.stitch` puts their
  time and STFT maps back on the recording's time axis.
"""

from .recording import Stitched, Windows, windows
from .run import explain_dataset
from .store import ExplainedDataset, open_explained

__all__ = ["explain_dataset", "open_explained", "ExplainedDataset", "windows", "Windows", "Stitched"]
