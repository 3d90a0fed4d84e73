"""The result folder: one writer and one reader of what ``cdig demo``, ``cdig demo --real`` and
``cdig explain`` write and ``cdig report`` reads (an edge: uses the core, never the reverse).

A result folder holds (schema version :data:`SCHEMA_VERSION`):

``NAME.npz``
    One :class:`cdig.Attribution` per domain (:meth:`~cdig.Attribution.save`), ``NAME`` the key of
    the maps (``time.npz``, ``fourier.npz``, ...).
``explained.npz``
    Optional: the explained samples as plain arrays (``x``, ``y``, ``predicted``, ``index``, ...).
``NAME.nc``
    Optional: each map as NetCDF (:meth:`cdig.Attribution.to_xarray`), when xarray can write it.
``*.png``
    Optional: figures.
``.cdig-results.json``
    The marker of a folder cdig wrote: ``{"cdig_results": SCHEMA_VERSION, "files": [...]}``, each
    file's name entered before the file is written (so a run killed half-way is still recognised).
    cdig replaces only the files it lists, and only when asked (``overwrite=True``, ``--force``).
``summary.json``
    A JSON object with at least ``schema_version`` (int), ``cdig_version``, ``deltas`` (per map:
    ``max_abs_delta``, ``max_relative_delta``, and ``max_relative_map_error`` with
    ``n_steps="auto"``), ``out_dir`` and ``files`` (every file written, in order, the maps first and
    ``summary.json`` last); the rest is up to the writer (``accuracy``, ``data``, ``model``,
    ``target``, ``explained``, ``settings``, ``runtime_s``, ``notes``, ...).

A folder is refused as an output when it holds files cdig did not write (:func:`check_out_dir`);
folders written before the marker existed are recognised by their ``summary.json``.

Folders written before the schema was versioned carry no ``schema_version``: they are read as
version 1, which is what they are. A folder from a newer schema is refused with a message that says so.

Examples
--------
>>> import numpy as np, tempfile
>>> from cdig import Attribution
>>> a = Attribution(np.ones((2, 3)), "ica", ("component",), {"component": np.arange(3)}, np.zeros(2),
...                 np.ones(2), np.zeros(2), np.array([8, 8]))
>>> w = ResultWriter(tempfile.mkdtemp())
>>> w.save_maps({"ica": a})
>>> summary = w.write_summary({"note": "a doctest"})
>>> summary["schema_version"], summary["files"]
(1, ['ica.npz', 'summary.json'])
>>> r = read_results(w.out_dir)
>>> r.schema_version, list(r.maps), r.summary["note"]
(1, ['ica'], 'a doctest')
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._files import write_atomic
from ._progress import Progress
from .core.attribution import Attribution
from .core.errors import CdigValueError, one_line

__all__ = [
    "SCHEMA_VERSION",
    "SUMMARY",
    "EXPLAINED",
    "MARKER",
    "ResultWriter",
    "Results",
    "read_results",
    "deltas_summary",
    "check_out_dir",
]

#: Version of the folder layout written by :class:`ResultWriter` (``summary.json``'s ``schema_version``).
SCHEMA_VERSION = 1
#: The summary's file name.
SUMMARY = "summary.json"
#: The file of the explained samples.
EXPLAINED = "explained.npz"
#: The marker of a folder written by :class:`ResultWriter`: the files cdig wrote there.
MARKER = ".cdig-results.json"


def _own_files(folder: Path) -> list[str] | None:
    """The names of the files cdig wrote in ``folder`` (its marker; or the ``summary.json`` of a folder
    from before the marker), or None when nothing says cdig wrote it."""
    marker, summary = folder / MARKER, folder / SUMMARY
    if marker.is_file():
        try:
            files = json.loads(marker.read_text(encoding="utf-8"))["files"]
            if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
                raise ValueError("'files' is not a list of names")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CdigValueError(
                f"{marker}: a damaged cdig marker ({one_line(e)}); cdig cannot tell its own files apart: "
                "give another folder, or delete the old results yourself"
            ) from None
    elif summary.is_file():
        try:
            old = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(old, dict) or "cdig_version" not in old or not isinstance(old.get("files"), list):
            return None
        files = [f for f in old["files"] if isinstance(f, str)]
    else:
        return None
    # only plain names in the folder itself: a marker never sends cdig elsewhere
    return [f for f in dict.fromkeys(files) if f and f == Path(f).name and f not in (".", "..", MARKER)]


def check_out_dir(out_dir: str | Path, *, overwrite: bool = False) -> list[str]:
    """Check that ``out_dir`` can take a result folder, before any work is done.

    Accepted: a folder that does not exist yet (its nearest existing parent a writable folder), an
    empty folder, or a folder cdig wrote (:data:`MARKER`); its earlier results only with ``overwrite``.
    Files cdig did not write are never replaced: a folder holding them is accepted only when cdig's
    marker is there too, and then they are left alone.

    Returns
    -------
    list of str
        The files of an earlier cdig run that a writer with ``overwrite`` would remove.

    Raises
    ------
    cdig.CdigValueError
        One line naming the folder: it is a file, lies below a file, is not writable, holds files cdig
        did not write, or holds earlier results and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> check_out_dir(d / "new")
    []
    >>> _ = (d / "notes.txt").write_text("mine")
    >>> check_out_dir(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: ...: not empty and not a folder cdig wrote (it holds notes.txt); ...
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CdigValueError(f"{out}: exists and is not a folder; give a folder for the results (--out)")
    if not out.exists():
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise CdigValueError(f"{out}: cannot be created, {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CdigValueError(f"{out}: cannot be created, the folder {parent} is not writable")
        return []
    if not os.access(out, os.W_OK | os.X_OK):
        raise CdigValueError(f"{out}: the folder is not writable")
    own = _own_files(out)
    entries = sorted(p.name for p in out.iterdir() if p.name != f"{MARKER}.tmp")
    if own is None:
        if entries:
            shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
            raise CdigValueError(
                f"{out}: not empty and not a folder cdig wrote (it holds {shown}); give a new or empty folder "
                "(cdig never replaces files it did not write)"
            )
        return []
    present = [f for f in own if (out / f).is_file()]
    if present and not overwrite:
        shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
        raise CdigValueError(
            f"{out}: holds the results of an earlier cdig run ({shown}); give another folder, or --force "
            "(overwrite=True) to replace them"
        )
    return present


def deltas_summary(maps: Mapping[str, Attribution]) -> dict[str, dict[str, float]]:
    """Per map, the largest absolute and relative completeness error (``summary.json``'s ``deltas``),
    and with ``n_steps="auto"`` the largest estimated relative error of the map itself."""
    out = {}
    for name, att in maps.items():
        row = {"max_abs_delta": float(np.max(np.abs(att.delta))), "max_relative_delta": float(np.max(att.relative_delta))}
        if att.error_estimate is not None:
            row["max_relative_map_error"] = float(np.max(att.error_estimate["relative"]))
        out[name] = row
    return out


# --- writing ----------------------------------------------------------------------------------
class ResultWriter:
    """Writes one result folder, file by file, and lists what it wrote.

    Parameters
    ----------
    out_dir : str or Path
        The folder: created if needed, or empty, or one cdig wrote (:func:`check_out_dir`).
    overwrite : bool
        Remove the files of an earlier cdig run in ``out_dir`` first (only those its marker lists);
        without it such a folder is refused. Files cdig did not write are never replaced.

    Attributes
    ----------
    files : list of str
        The files written so far, in order.
    notes : list of str
        What could not be written and why (NetCDF without xarray, a figure that failed), when the
        caller asked to go on.
    """

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        earlier = check_out_dir(self.out_dir, overwrite=overwrite)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name in earlier:
            (self.out_dir / name).unlink(missing_ok=True)
        self.files: list[str] = []
        self.notes: list[str] = []
        self._claimed: list[str] = []
        self._mark()

    def _mark(self) -> None:
        """Write the marker (atomically): the files this writer has claimed so far."""
        write_atomic(self.out_dir / MARKER, json.dumps({"cdig_results": SCHEMA_VERSION, "files": self._claimed}) + "\n")

    def _claim(self, name: str) -> Path:
        """The path of ``name``, entered in the marker before it is written; refused when a file of
        that name is there that this writer did not write."""
        path = self.out_dir / name
        if name not in self._claimed:
            if path.exists():
                raise CdigValueError(f"{path}: already exists and cdig did not write it; not replaced")
            self._claimed.append(name)
            self._mark()
        return path

    def save_maps(self, maps: Mapping[str, Attribution]) -> None:
        """``NAME.npz`` for each map."""
        for name, att in maps.items():
            self.files.append(att.save(self._claim(f"{name}.npz")).name)

    def save_explained(self, **arrays: Any) -> None:
        """``explained.npz``: the explained samples as plain arrays (``x=``, ``y=``, ``predicted=``, ...)."""
        # no key is "allow_pickle" (numpy's keyword-only flag), which the stubs cannot be told
        np.savez_compressed(self._claim(EXPLAINED), **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
        self.files.append(EXPLAINED)

    def save_text(self, name: str, text: str) -> None:
        """A text file ``name`` (UTF-8), e.g. ``ranking.md``."""
        self._claim(name).write_text(text, encoding="utf-8")
        self.files.append(name)

    def save_netcdf(self, maps: Mapping[str, Attribution]) -> None:
        """``NAME.nc`` for each map (:meth:`cdig.Attribution.to_xarray`); without xarray or a NetCDF
        engine, a note instead."""
        try:
            import xarray  # noqa: F401
        except ImportError:
            self.notes.append("NetCDF maps skipped: xarray is not installed (pip install xarray netCDF4)")
            return
        for name, att in maps.items():
            try:
                att.to_xarray(name).to_netcdf(self._claim(f"{name}.nc"))
            except Exception as e:  # noqa: BLE001 - e.g. no NetCDF engine installed
                self.notes.append(f"NetCDF maps skipped: {one_line(e)}")
                return
            self.files.append(f"{name}.nc")

    def save_figures(
        self,
        draws: Mapping[str, Callable[[], Any]],
        *,
        dpi: int = 100,
        progress: bool = False,
        desc: str = "figures",
        keep_going: bool = False,
    ) -> None:
        """``NAME.png`` for each ``draws[NAME]()`` (a function returning a matplotlib Figure).

        With ``keep_going``, a figure that fails becomes a note (the maps already written are worth
        more than one figure); otherwise its error propagates.
        """
        bar = Progress(progress, len(draws), desc, unit="fig")
        try:
            for name, draw in draws.items():
                try:
                    fig = draw()
                except Exception as e:
                    if not keep_going:
                        raise
                    self.notes.append(f"no figure for {name}: {one_line(e)}")
                else:
                    fig.savefig(self._claim(f"{name}.png"), dpi=dpi)
                    self.files.append(f"{name}.png")
                bar(1)
        finally:
            bar.close()

    def write_summary(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``summary.json``: ``summary`` with ``schema_version`` and ``cdig_version`` first and
        ``out_dir`` and ``files`` last. Returns what was written."""
        from . import __version__

        full = {
            "schema_version": SCHEMA_VERSION,
            "cdig_version": __version__,
            **summary,
            "out_dir": str(self.out_dir.resolve()),
            "files": [*self.files, SUMMARY],
        }
        self._claim(SUMMARY).write_text(json.dumps(full, indent=2) + "\n")
        return full


# --- reading ----------------------------------------------------------------------------------
@dataclass
class Results:
    """What :func:`read_results` found in a result folder."""

    folder: Path
    maps: dict[str, Attribution]
    schema_version: int = SCHEMA_VERSION
    summary: dict[str, Any] = field(default_factory=dict)
    explained: dict[str, np.ndarray] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Samples in the batch the maps explain."""
        return len(next(iter(self.maps.values())).values)


def read_results(folder: str | Path) -> Results:
    """Read a result folder: its maps (in the order ``summary.json`` lists them), ``explained.npz`` and
    ``summary.json`` when present. ``.npz`` files that are not Attributions are listed in ``ignored``.

    Raises
    ------
    cdig.CdigValueError
        One line naming the folder or file: the folder is missing, holds no maps, a file cannot be
        read, the maps cover different batches, or the folder's schema is newer than this cdig reads.
    """
    folder = Path(folder)
    if not folder.exists():
        raise CdigValueError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CdigValueError(f"{folder}: not a folder (give the folder written by cdig demo or cdig explain)")
    summary = _read_summary(folder / SUMMARY)
    version = _schema_version(folder / SUMMARY, summary)
    listed = summary.get("files", [])
    if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
        raise CdigValueError(f"{folder / SUMMARY}: 'files' is {listed!r:.60}; expected a list of file names")
    order = [Path(f).stem for f in listed if f.endswith(".npz")]
    files = sorted(folder.glob("*.npz"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.name))
    found = Results(folder=folder, maps={}, schema_version=version, summary=summary)
    for f in files:
        keys, arrays = _read_npz(f, keep=f.name == EXPLAINED)
        if arrays is not None and "meta" not in keys:
            found.explained = arrays
        elif not {"meta", "values"} <= keys:
            if f.stem in order and f.name != EXPLAINED:
                raise CdigValueError(
                    f"{f}: summary.json lists it as a map, but it holds no cdig Attribution (no 'meta' and 'values')"
                )
            found.ignored.append(f.name)
        else:
            try:
                found.maps[f.stem] = att = Attribution.load(f)
            except Exception as e:  # noqa: BLE001 - the user's file, named in one line
                raise CdigValueError(f"{f}: not a readable cdig Attribution ({one_line(e)})") from None
            _check_map(f, att)
    if not found.maps:
        raise CdigValueError(
            f"{folder}: no maps found (expected *.npz files written by cdig demo or cdig explain, e.g. time.npz)"
        )
    sizes = {name: len(a.values) for name, a in found.maps.items()}
    if len(set(sizes.values())) > 1:
        raise CdigValueError(
            f"{folder}: the maps explain batches of different sizes ({', '.join(f'{k}.npz: {v}' for k, v in sizes.items())})"
        )
    return found


def _check_map(path: Path, att: Attribution) -> None:
    """A map read from a file fits together: numbers, one axis per dim, coordinates as long as their
    axis, one delta / output / step count per sample (a hand-edited file says so, in one line)."""
    v = np.asarray(att.values)
    if v.dtype.kind not in "biufc":
        raise CdigValueError(f"{path}: the values are of dtype {v.dtype}; expected numbers")
    if v.ndim != 1 + len(att.dims):
        raise CdigValueError(
            f"{path}: the values have shape {v.shape}, which does not fit the dims {tuple(att.dims)} "
            f"(expected {1 + len(att.dims)} axes: the samples, then one per dim)"
        )
    for axis, dim in enumerate(att.dims, 1):
        c = att.coords.get(dim)
        if c is not None and np.ndim(c) == 1 and len(c) != v.shape[axis]:
            raise CdigValueError(f"{path}: the values have {v.shape[axis]} entries along {dim!r} but its coordinate has {len(c)}")
    for name in ("delta", "output", "baseline_output", "n_steps"):
        a = np.asarray(getattr(att, name))
        if a.shape[:1] != v.shape[:1] or a.dtype.kind not in "biuf":
            raise CdigValueError(
                f"{path}: {name} has shape {a.shape} and dtype {a.dtype}; expected {len(v)} numbers, one per sample"
            )


def _read_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CdigValueError(f"{path}: not readable JSON ({one_line(e)})") from None
    if not isinstance(summary, dict):
        raise CdigValueError(f"{path}: holds a JSON {type(summary).__name__}; expected an object (a cdig summary)")
    return summary


def _schema_version(path: Path, summary: Mapping[str, Any]) -> int:
    version = summary.get("schema_version", 1)  # folders from before the schema had a version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CdigValueError(f"{path}: schema_version={version!r}: expected a positive integer")
    if version > SCHEMA_VERSION:
        raise CdigValueError(
            f"{path}: schema_version {version} was written by a newer cdig; this one "
            f"reads up to {SCHEMA_VERSION} (pip install -U cdig)"
        )
    return version


def _read_npz(path: Path, keep: bool) -> tuple[set[str], dict[str, np.ndarray] | None]:
    """The keys of an ``.npz`` file, and its arrays when ``keep``."""
    import zipfile

    if path.is_file() and not zipfile.is_zipfile(path):  # else numpy reads it as a pickle and says so
        raise CdigValueError(f"{path}: cannot be read as an .npz file (not a zip archive: damaged or not an .npz)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return set(z.files), ({k: z[k] for k in z.files} if keep else None)
    except Exception as e:  # noqa: BLE001 - any failure to open is the user's file, named in one line
        raise CdigValueError(f"{path}: cannot be read as an .npz file ({one_line(e)})") from None
