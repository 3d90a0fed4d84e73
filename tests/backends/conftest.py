"""Loads the cross-framework helpers (``_triplets.py``) once, as ``sys.modules["_cdig_tests_triplets"]``.

pytest runs with ``--import-mode=importlib``, so test modules cannot import a sibling by name; the
module imports no framework at load time.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "_cdig_tests_triplets"

if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(NAME, Path(__file__).with_name("_triplets.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[NAME] = _module
    _spec.loader.exec_module(_module)
