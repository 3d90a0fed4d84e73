"""Deprecated name of :mod:`cdig.datasets` (the data sets shipped with cdig), kept so that code written
for cdig 0.1 runs; it will be removed in 1.0.

``cdig.data`` and ``cdig.dataset`` (explaining a data set into a store) were too easily confused; the
shipped data sets now live in ``cdig.datasets``. ``import cdig.data``, ``from cdig.data import ...``
and ``cdig.data.real`` / ``.planted`` / ``.synthetic`` still work and warn once.
"""

from __future__ import annotations

import sys
import warnings

from .. import datasets as _datasets
from ..datasets import *  # noqa: F403 - the same names, under the old module
from ..datasets import __all__ as __all__
from ..datasets import planted, real, synthetic

for _name, _module in (("planted", planted), ("real", real), ("synthetic", synthetic)):
    sys.modules[f"{__name__}.{_name}"] = _module

warnings.warn(
    "cdig.data is renamed cdig.datasets (cdig.dataset explains data sets into stores); "
    "import cdig.datasets instead: cdig.data will be removed in 1.0",
    DeprecationWarning,
    stacklevel=2,
)

del _datasets, _name, _module
