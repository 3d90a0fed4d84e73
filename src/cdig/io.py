"""Models and data from files, for the command line (an edge: the core never imports it).

:func:`load_model` reads a TorchScript file (``torch.jit.save``), a ``torch.export`` program
(``torch.export.save``, ``.pt2``) or a Keras model (``.keras``, ``.h5``); :func:`load_data` reads
``.npy``, ``.npz``, ``.csv`` and UCR/UEA ``.ts`` files into a float32 array. Each framework is
imported only by the function for its format. Every failure is a :class:`cdig.CdigValueError`
whose message names the file and what was wrong.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "two.ts")
>>> _ = open(path, "w").write("@problemName two\\n@classLabel true a b\\n@data\\n1,2,3:a\\n4,5,6:b\\n")
>>> load_data(path).shape
(2, 1, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import CdigValueError, one_line

__all__ = ["load_model", "load_data", "predict", "MODEL_SUFFIXES", "DATA_SUFFIXES", "read_ts"]

#: File name endings of models -> the framework that reads them.
MODEL_SUFFIXES: dict[str, str] = {
    ".pt": "torch",
    ".pth": "torch",
    ".pt2": "torch",
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
}
#: File name endings of data.
DATA_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".csv", ".ts")


def _backend(name: str, path: Path) -> Any:
    """The backend module or class that reads ``path``, or an ImportError naming the file and the package."""
    import importlib

    try:
        importlib.import_module(name)  # the framework itself first: its backend module may be loaded already
        if name == "keras":
            return importlib.import_module("cdig.backends.keras")
        from .backends import get_backend_by_name

        return get_backend_by_name(name)
    except (ImportError, CdigValueError):
        raise ImportError(f"{path}: reading {path.suffix or 'SavedModel'} files needs {name}: pip install {name}") from None


# --- models ---------------------------------------------------------------------------------------
def load_model(path: str | Path, trusted: bool = False) -> tuple[Callable[..., Any], str]:
    """The model stored in ``path`` and the name of its framework (``"torch"``, ``"keras"`` or ``"tensorflow"``).

    **A model file is code: load only models you trust.** Unless ``trusted``, what would run code
    from the file while it loads or is explained is refused (see the security page of the docs): a
    ``.pt2`` archive holding pickles (weights, constants, sample inputs that are not plain tensors) or
    compiled code, a SavedModel whose functions hold file, Python or network ops, and Keras
    ``Lambda`` layers (Keras' ``safe_mode``). TorchScript runs TorchScript only (no Python).

    ``.pt``/``.pth`` are TorchScript (``torch.jit.save``), ``.pt2`` a ``torch.export`` program
    (``torch.export.save``; export it with a dynamic batch dimension, because cdig evaluates
    batches of path points), ``.keras``/``.h5``/``.hdf5`` Keras models (``model.save``), and a
    folder holding ``saved_model.pb`` a TensorFlow SavedModel (Keras 3 ``model.export(path)``, or
    ``tf.saved_model.save``): its ``serve`` endpoint, else its ``serving_default`` signature
    (framework ``"tensorflow"``; channels last like Keras). Each format is read by the module of its
    framework in :mod:`cdig.backends` (``load_model``), which is imported only then.

    Parameters
    ----------
    path : str or Path
        The model file, or a SavedModel folder.
    trusted : bool
        Load what cdig would refuse as unsafe (``cdig explain --trust-model``): only for a file
        from someone you trust, since loading or running it may run any code.

    Raises
    ------
    CdigValueError
        The file does not exist, its ending is not one of :data:`MODEL_SUFFIXES`, it fails to load,
        or it is refused as unsafe (the message names ``--trust-model`` / ``trusted=True``).

    Examples
    --------
    >>> load_model("model.onnx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: model.onnx: unknown model file type '.onnx'; expected TorchScript ...
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise CdigValueError(f"{path}: a folder, but not a TensorFlow SavedModel (no saved_model.pb in it)")
        return _backend("tensorflow", path).load_model(path, trusted=trusted), "tensorflow"
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise CdigValueError(
            f"{path}: unknown model file type {suffix or '(no extension)'!r}; expected TorchScript .pt/.pth, "
            "torch.export .pt2, Keras .keras/.h5, or a SavedModel folder"
        )
    if not path.is_file():
        raise CdigValueError(f"{path}: model file not found")
    framework = MODEL_SUFFIXES[suffix]
    return _backend(framework, path).load_model(path, trusted=trusted), framework


def predict(model: Any, framework: str, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for ``x`` as a numpy array, without gradients, ``batch_size`` rows at a time.

    Run by the backend of ``framework`` (its inference-mode forward pass); Keras models by Keras.
    """
    outs = []
    for s in range(0, len(x), batch_size):
        rows = np.ascontiguousarray(x[s : s + batch_size])
        if framework == "keras":
            outs.append(_backend("keras", Path("model.keras")).predict(model, rows))
            continue
        be = _backend(framework, Path(f"model ({framework})"))(model, rows)
        with be.prepared():
            outs.append(be.to_numpy(be.forward(be.asarray(rows), ())))
    return np.concatenate(outs)


# --- data -----------------------------------------------------------------------------------------
def load_data(path: str | Path, *, npz_key: str | None = None, channels: int | None = None) -> np.ndarray:
    """The data set in ``path`` as a float32 array with the samples on the first axis.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (the array as stored), ``.npz`` (the array ``npz_key``, or the only array),
        ``.csv`` (one series per row, comma-separated, no header), or a UCR/UEA ``.ts`` file
        (returned as ``(N, C, T)``; the class labels are dropped).
    npz_key : str, optional
        Which array of an ``.npz`` file; needed when it holds several.
    channels : int, optional
        CSV only: split each row into ``channels`` consecutive series of equal length, giving
        ``(N, channels, T)``; without it the CSV is ``(N, T)`` (univariate).

    Raises
    ------
    CdigValueError
        Naming the file: not found, unknown ending, unreadable, non-numeric, NaN/Inf, or wrong shape.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise CdigValueError(
            f"{path}: unknown data file type {suffix or '(no extension)'!r}; expected one of {', '.join(DATA_SUFFIXES)}"
        )
    if not path.is_file():
        raise CdigValueError(f"{path}: data file not found")
    if npz_key is not None and suffix != ".npz":
        raise CdigValueError(f"{path}: --npz-key applies to .npz files only")
    if channels is not None and suffix != ".csv":
        raise CdigValueError(f"{path}: --channels applies to .csv files only")
    if suffix == ".ts":
        x = read_ts(path)[0]
    elif suffix == ".csv":
        x = _read_csv(path, channels)
    else:
        x = _read_numpy(path, npz_key)
    if x.dtype.kind not in "biuf":
        raise CdigValueError(f"{path}: the data must be real numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim not in (2, 3) or x.shape[0] == 0:
        raise CdigValueError(f"{path}: the data has shape {x.shape}; expected (N, T) or (N, C, T) / (N, T, C) with N >= 1")
    if not np.all(np.isfinite(x)):
        raise CdigValueError(f"{path}: the data contains NaN or Inf values")
    return x


def _read_numpy(path: Path, key: str | None) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise CdigValueError(f"{path}: cannot read as {path.suffix} ({one_line(e)})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None:
            if len(names) != 1:
                raise CdigValueError(
                    f"{path}: holds {len(names)} arrays ({', '.join(names) or 'none'}); choose one with --npz-key"
                )
            key = names[0]
        if key not in names:
            raise CdigValueError(f"{path}: has no array {key!r}; it holds {', '.join(names) or 'none'}")
        try:
            return loaded[key]
        except Exception as e:  # noqa: BLE001 - object arrays (pickles are never loaded), damaged members
            raise CdigValueError(f"{path}: cannot read the array {key!r} ({one_line(e)})") from None


def _read_csv(path: Path, channels: int | None) -> np.ndarray:
    try:
        x = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except Exception as e:  # noqa: BLE001
        raise CdigValueError(
            f"{path}: cannot read as CSV of numbers, one series per row without a header ({one_line(e)})"
        ) from None
    if channels is None:
        return x
    n, width = x.shape
    if width % channels:
        raise CdigValueError(f"{path}: rows of {width} values cannot be split into --channels {channels} equal series")
    return x.reshape(n, channels, width // channels)


def read_ts(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """A UCR/UEA (sktime) ``.ts`` file: ``(X (N, C, T), labels)``; equal-length series without gaps only.

    Header lines start with ``@`` (``@data`` ends the header), ``#`` lines are comments; each data
    line holds the dimensions separated by ``:``, each a ``,``-separated series, and the class
    label last when the header says ``@classLabel true`` (or ``@targetLabel true``).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise CdigValueError(f"{path}: cannot read ({one_line(e)})") from None
    header: dict[str, str] = {}
    rows: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = has_label = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise CdigValueError(f"{path}, line {number}: expected a header line starting with '@' before @data")
            word, _, rest = line[1:].partition(" ")
            word = word.lower()
            if word == "data":
                in_data = True
                has_label = any(header.get(k, "").lower().split()[:1] == ["true"] for k in ("classlabel", "targetlabel"))
            else:
                header[word] = rest.strip()
            continue
        fields = line.split(":")
        if has_label:
            if len(fields) < 2:
                raise CdigValueError(
                    f"{path}, line {number}: the header says @classLabel true (or @targetLabel true) but the line "
                    "ends in no ':label'; add the labels or set @classLabel false"
                )
            labels.append(fields[-1].strip())
            fields = fields[:-1]
        dims = []
        for f in fields:
            if "?" in f:
                raise CdigValueError(f"{path}, line {number}: missing values ('?') are not supported")
            if "(" in f:
                raise CdigValueError(f"{path}, line {number}: timestamped series '(t,v)' are not supported; give plain values")
            try:
                dims.append([float(v) for v in f.split(",")])
            except ValueError:
                raise CdigValueError(f"{path}, line {number}: non-numeric value in {f[:40]!r}") from None
        rows.append(dims)
    if not in_data:
        raise CdigValueError(f"{path}: no '@data' line; not a UCR/UEA .ts file")
    if not rows:
        raise CdigValueError(f"{path}: no series after @data")
    n_dims = {len(r) for r in rows}
    if len(n_dims) != 1:
        raise CdigValueError(f"{path}: the series have different numbers of dimensions {sorted(n_dims)}")
    lengths = {len(d) for r in rows for d in r}
    if len(lengths) != 1:
        raise CdigValueError(
            f"{path}: the series have unequal lengths ({min(lengths)} to {max(lengths)}); "
            "only equal-length series are supported: pad or resample them first"
        )
    return np.asarray(rows, dtype=np.float64), labels
