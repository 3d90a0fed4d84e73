"""Real data sets that ship inside installable packages, read offline (``pip install 'cdig[examples]'``).

sktime's and aeon's wheels carry a handful of UCR/UEA archive problems and a few plain series; cdig
reads those files in place — it finds the installed package's folder without importing the package,
and parses the files itself (:func:`cdig.io.read_ts`), so nothing is downloaded and neither sktime
nor aeon (nor pandas, nor numba) is imported.

=====================  =====================================================================
``load_ucr(name)``     a UCR/UEA classification problem: ``ACSF1`` (appliance power, 1460
                       steps, 10 classes), ``BasicMotions`` (6-axis accelerometer/gyroscope,
                       100 steps at 10 Hz, 4 classes), ``GunPoint``, ``ItalyPowerDemand``,
                       ``ArrowHead``, ``OSULeaf``, ``PLAID``, ``JapaneseVowels`` (equal-length
                       problems only)
``load_mitdb()``       20.8 s of one MIT-BIH Arrhythmia Database ECG lead at 360 Hz with a
                       per-sample anomaly label
``load_airline()``     the Box–Jenkins monthly airline passengers, 1949–1960 (144 months)
=====================  =====================================================================

Examples
--------
>>> from cdig.datasets.real import load_ucr, available                    # doctest: +SKIP
>>> d = load_ucr("BasicMotions", "train")                              # doctest: +SKIP
>>> d.X.shape, d.classes                                               # doctest: +SKIP
((40, 6, 100), ('Standing', 'Running', 'Walking', 'Badminton'))
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.checks import check_choice
from ..core.errors import CdigValueError

__all__ = ["UCRDataset", "load_ucr", "load_mitdb", "load_airline", "data_folder", "available", "PACKAGES", "SAMPLING_RATES"]

#: Packages searched, in order, for ``<package>/datasets/data/<name>/``.
PACKAGES: tuple[str, ...] = ("sktime", "aeon")

#: Sampling rates (Hz) of the problems whose rate is documented; others are in steps (fs = 1).
SAMPLING_RATES: dict[str, float] = {
    "BasicMotions": 10.0,  # UEA: 10 s recorded at 10 Hz
    "ACSF1": 0.1,  # ACS-F1 plug sensors: one reading every 10 s
    "mitdb": 360.0,
}


@dataclass(frozen=True)
class UCRDataset:
    """One split of a UCR/UEA classification problem.

    Attributes
    ----------
    X : ndarray, shape (N, C, T), float32
    y : ndarray, shape (N,), int64
        Class index into :attr:`classes`.
    classes : tuple of str
        Class labels as written in the file, in the order of the header's ``@classLabel`` line.
    name, split : str
    fs : float or None
        Sampling rate in Hz where the problem documents one, else None (plot in steps).
    path : Path
        The file read.
    """

    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    name: str
    split: str
    fs: float | None
    path: Path = field(repr=False)


def data_folder(name: str) -> Path:
    """The folder ``<pkg>/datasets/data/<name>`` of the first installed package in :data:`PACKAGES`.

    Raises
    ------
    ImportError
        Neither package is installed (the message says what to install).
    CdigValueError
        They are, but neither ships ``name`` (the message lists what they do ship).
    """
    roots = _roots()
    if not roots:
        raise ImportError(
            "the real data sets are read from sktime's or aeon's installed files, and neither is installed: "
            "pip install 'cdig[examples]' (or pip install sktime)"
        )
    for root in roots:
        folder = root / name
        if folder.is_dir():
            return folder
    raise CdigValueError(f"no data set {name!r} in {', '.join(map(str, roots))}; available: {available()}")


def available() -> list[str]:
    """Names of the data sets found in the installed packages (empty when none is installed)."""
    names: set[str] = set()
    for root in _roots():
        names.update(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    return sorted(names)


def _roots() -> list[Path]:
    roots = []
    for pkg in PACKAGES:
        spec = importlib.util.find_spec(pkg)  # finds the folder; does not import the package
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
        if root.is_dir():
            roots.append(root)
    return roots


def load_ucr(name: str, split: str = "train") -> UCRDataset:
    """One split (``"train"`` or ``"test"``) of a UCR/UEA problem shipped in sktime or aeon.

    Parameters
    ----------
    name : str
        The problem's name as the archive spells it, e.g. ``"ACSF1"``, ``"BasicMotions"``.
    split : {"train", "test"}

    Returns
    -------
    UCRDataset

    Examples
    --------
    >>> d = load_ucr("ACSF1", "test")                                  # doctest: +SKIP
    >>> d.X.shape, len(d.classes)                                      # doctest: +SKIP
    ((100, 1, 1460), 10)
    """
    from ..io import read_ts

    check_choice(split, "split", ("train", "test"))
    folder = data_folder(name)
    path = folder / f"{name}_{split.upper()}.ts"
    if not path.is_file():
        raise CdigValueError(f"{folder} has no {path.name} (files: {sorted(p.name for p in folder.iterdir())})")
    X, labels = read_ts(path)
    classes = _class_order(path, labels)
    y = np.asarray([classes.index(lab) for lab in labels], dtype=np.int64)
    return UCRDataset(X.astype(np.float32), y, classes, name, split, SAMPLING_RATES.get(name), path)


def _class_order(path: Path, labels: list[str]) -> tuple[str, ...]:
    """Classes in the header's ``@classLabel true a b c`` order (else sorted), checked against the data."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.strip().split()
        if words[:2] and words[0].lower() == "@classlabel" and len(words) > 2 and words[1].lower() == "true":
            classes = tuple(words[2:])
            break
        if line.strip().lower().startswith("@data"):
            classes = tuple(sorted(set(labels)))
            break
    else:
        classes = tuple(sorted(set(labels)))
    missing = sorted(set(labels) - set(classes))
    if missing:
        raise CdigValueError(f"{path}: labels {missing} are not in the header's @classLabel list {list(classes)}")
    return classes


def load_mitdb() -> tuple[np.ndarray, np.ndarray, float]:
    """One ECG lead from the MIT-BIH Arrhythmia Database as shipped in sktime: ``(signal, label, fs)``.

    ``signal`` holds 7500 samples (mV, float32) at ``fs = 360`` Hz; ``label`` is 1 on the
    samples annotated as anomalous (one segment near the end), else 0.
    """
    path = data_folder("mitdb") / "mitdb.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != ["data", "label"]:
        raise CdigValueError(f"{path}: expected the columns 'data,label', found {rows[0]}")
    body = np.asarray(rows[1:], dtype=np.float64)
    return body[:, 0].astype(np.float32), body[:, 1].astype(np.int64), SAMPLING_RATES["mitdb"]


def load_airline() -> tuple[np.ndarray, list[str]]:
    """Monthly international airline passengers (thousands), January 1949 – December 1960: ``(values, months)``."""
    path = data_folder("Airline") / "Airline.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return np.asarray([float(r[1]) for r in rows[1:]], dtype=np.float32), [r[0] for r in rows[1:]]
