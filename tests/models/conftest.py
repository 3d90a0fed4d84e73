"""Shared pieces of ``tests/models/``: the tiny models of ``_builders.py`` and MNE epochs.

pytest runs with ``--import-mode=importlib``, so test modules cannot import a sibling by name:
``_builders.py`` is loaded once here as ``sys.modules["_cdig_tests_model_builders"]`` (torch and numpy only).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "_cdig_tests_model_builders"

if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(NAME, Path(__file__).with_name("_builders.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[NAME] = _module
    _spec.loader.exec_module(_module)
