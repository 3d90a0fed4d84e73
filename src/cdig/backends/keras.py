"""Keras model files (``.keras``, ``.h5``): the only module of cdig that imports keras itself.

Keras 3 runs on TensorFlow, PyTorch or JAX; a loaded model is explained by the backend of the
framework Keras runs on (detected from the model, see :func:`cdig.backends.get_backend`). This module
only reads the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..core.errors import CdigValueError, one_line

__all__ = ["MODEL_FILES", "load_model", "predict"]

#: File name endings of Keras model files.
MODEL_FILES = (".keras", ".h5", ".hdf5")


def load_model(path: Path, trusted: bool = False) -> Any:
    """The Keras model saved in ``path`` (``model.save``), uncompiled.

    Keras' ``safe_mode`` stays on unless ``trusted``: ``Lambda`` layers (Python bytecode in the file)
    are refused. Custom layers run the code of classes already imported, never code from the file.
    """
    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=not trusted)
    except Exception as e:  # noqa: BLE001 - any failure is a file the user must fix
        raise CdigValueError(f"{path}: cannot load as a Keras model ({one_line(e)})") from None


def predict(model: Any, rows: np.ndarray) -> np.ndarray:
    """The model's outputs on ``rows`` in inference mode, as numpy, on whatever Keras runs on."""
    out = model(rows, training=False)
    return np.asarray(out.numpy() if hasattr(out, "numpy") else keras.ops.convert_to_numpy(out))
