"""The on-disk store of a data set's explanations: a Zarr group, one chunk per explained chunk of rows.

Layout (``pip install zarr``)::

    out.zarr/
      .attrs["cdig"]        format, cdig version, settings, their fingerprint, data description,
                            chunk rows, chunks done so far (also in ``_done``)
      _done                 (n_chunks,) bool: chunk k is written completely
      target                (N,) int64 (per-row targets, when the target is per row)
      <domain>/values       (N, ...) the maps, chunked like the data
      <domain>/delta, output, baseline_output   (N,) float64
      <domain>/n_steps      (N,) int64
      <domain>/error_relative, error_absolute   (N,) float64: the map's estimated error
                            (``n_steps="auto"`` only; see :attr:`cdig.Attribution.error_estimate`)
      <domain>/coords/<k>   the coordinates; dims, units and settings in <domain>.attrs

A chunk is marked done only after all its arrays are written, so a job killed at any point leaves
every chunk either done or to be redone; redoing it writes the same bytes. The arrays are created
when the first chunk's results are known (their shapes come from the domains). Stream sources of
unknown length grow the arrays as they go.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.attribution import Attribution
from ..core.errors import CdigValueError

__all__ = ["Store", "open_explained", "ExplainedDataset", "FORMAT", "fingerprint"]

FORMAT = 1
_SCALARS = ("delta", "output", "baseline_output", "n_steps")


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise ImportError("explaining a data set to disk needs zarr: pip install 'cdig[dataset]' (or zarr)") from None
    return zarr


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short hash of the settings (JSON with sorted keys): equal settings, equal fingerprint."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


class Store:
    """Writes chunks of results into a Zarr group; refuses a group written with other settings."""

    def __init__(
        self, path: str | Path, settings: dict[str, Any], n_rows: int | None, chunk_rows: int, overwrite: bool = False
    ) -> None:
        zarr = _zarr()
        self.path = Path(path)
        self.settings = settings
        self.fp = fingerprint(settings)
        self.chunk_rows = chunk_rows
        self.n_rows = n_rows
        exists = self.path.exists() and any(self.path.iterdir()) if self.path.is_dir() else self.path.exists()
        if exists and not overwrite:
            try:
                g = zarr.open_group(str(self.path), mode="r+")
            except Exception as e:  # noqa: BLE001 - anything unreadable is not ours to extend
                raise CdigValueError(
                    f"{self.path} exists and is not a cdig store ({type(e).__name__}); choose another out= or pass overwrite=True"
                ) from None
            meta = dict(g.attrs).get("cdig")
            if not isinstance(meta, dict) or "fingerprint" not in meta:
                raise CdigValueError(f"{self.path} exists and is not a cdig store; choose another out= or pass overwrite=True")
            if meta["fingerprint"] != self.fp:
                diff = _differences(meta.get("settings", {}), settings)
                raise CdigValueError(
                    f"{self.path} holds explanations made with other settings ({diff}); a store is never mixed: "
                    "choose another out=, or pass overwrite=True to start it again"
                )
            self.group = g
        else:
            self.group = zarr.open_group(str(self.path), mode="w")
            self.group.attrs["cdig"] = {
                "format": FORMAT,
                "version": _version(),
                "fingerprint": self.fp,
                "settings": _jsonable(settings),
                "chunk_rows": chunk_rows,
                "rows": n_rows,
                "complete": False,
            }
        self.n_chunks = None if n_rows is None else -(-n_rows // chunk_rows) if n_rows else 0

    # --- progress ------------------------------------------------------------------------
    def done(self) -> frozenset[int]:
        """Indices of the chunks already written completely."""
        if "_done" not in self.group:
            return frozenset()
        return frozenset(np.flatnonzero(self.group["_done"][:]).tolist())

    def _mark(self, k: int) -> None:
        done = self.group["_done"]
        if k >= done.shape[0]:
            done.resize((k + 1,))
        done[k] = True

    def finish(self, n_rows: int) -> None:
        meta = dict(self.group.attrs["cdig"])
        meta.update(rows=n_rows, complete=True)
        self.group.attrs["cdig"] = meta

    # --- writing -------------------------------------------------------------------------
    def write(self, k: int, start: int, maps: Mapping[str, Attribution], target: np.ndarray | None) -> None:
        """Write chunk ``k`` (rows ``start`` ...) of every domain, then mark it done."""
        zarr = _zarr()
        g = self.group
        rows = len(next(iter(maps.values())).values)
        stop = start + rows
        if "_done" not in g:
            n_chunks = self.n_chunks if self.n_chunks is not None else k + 1
            g.create_array("_done", shape=(n_chunks,), chunks=(max(1, n_chunks),), dtype="bool", fill_value=False)
        for name, att in maps.items():
            if name not in g:
                self._create(name, att)
            sub = g[name]
            for key in ("values", *_SCALARS, *_errors(att)):
                arr = np.asarray(att.values if key == "values" else _errors(att).get(key, getattr(att, key, None)))
                z = sub[key]
                if z.shape[0] < stop:
                    z.resize((stop,) + z.shape[1:])
                z[start:stop] = arr
        if target is not None:
            if "target" not in g:
                g.create_array("target", shape=(self.n_rows or stop,), chunks=(self.chunk_rows,), dtype="int64", fill_value=-1)
            z = g["target"]
            if z.shape[0] < stop:
                z.resize((stop,))
            z[start:stop] = np.asarray(target, dtype=np.int64)
        del zarr
        self._mark(k)

    def _create(self, name: str, att: Attribution) -> None:
        g = self.group.create_group(name)
        n = self.n_rows if self.n_rows is not None else len(att.values)
        v = np.asarray(att.values)
        g.create_array("values", shape=(n,) + v.shape[1:], chunks=(self.chunk_rows,) + v.shape[1:], dtype=v.dtype, fill_value=0)
        for key in (*_SCALARS, *_errors(att)):
            dt = "int64" if key == "n_steps" else "float64"
            g.create_array(key, shape=(n,), chunks=(self.chunk_rows,), dtype=dt, fill_value=0)
        for k, c in att.coords.items():
            c = np.asarray(c)
            if c.dtype.kind in "US":
                c = c.astype("U")
            g.create_array(
                f"coords/{k}",
                shape=c.shape,
                dtype=c.dtype if c.dtype.kind != "U" else str,
                fill_value=None if c.dtype.kind == "U" else 0,
            )
            g[f"coords/{k}"][...] = c
        settings = {k: v for k, v in att.settings.items() if k not in ("internal_batch_size_used",)}
        g.attrs["attribution"] = _jsonable(
            {
                "domain": att.domain,
                "dims": list(att.dims),
                "units": att.units,
                "target": att.target if not isinstance(att.target, list) else "per row",
                "settings": settings,
            }
        )


def _errors(att: Attribution) -> dict[str, np.ndarray]:
    """The map's error estimate as per-row arrays ``error_relative``/``error_absolute`` (none for fixed rules)."""
    return {f"error_{k}": v for k, v in (att.error_estimate or {}).items()}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    new = _jsonable(new)
    keys = sorted(set(old) | set(new))
    diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(diff[:4]) + (" ..." if len(diff) > 4 else "") if diff else "different fingerprint"


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _version() -> str:
    from .. import __version__

    return __version__


class ExplainedDataset:
    """A store written by :func:`cdig.explain_dataset`, read back lazily.

    Attributes
    ----------
    path : Path
    settings : dict
        The run's settings (what the fingerprint covers).
    domains : list of str
    complete : bool
        Whether every chunk was written.
    rows : int
        Rows stored.
    """

    def __init__(self, path: str | Path) -> None:
        zarr = _zarr()
        self.path = Path(path)
        try:
            self.group = zarr.open_group(str(self.path), mode="r")
        except Exception as e:  # noqa: BLE001
            raise CdigValueError(f"{self.path}: not a readable Zarr store ({type(e).__name__}: {e})") from None
        meta = dict(self.group.attrs).get("cdig")
        if not isinstance(meta, dict):
            raise CdigValueError(f"{self.path}: not a cdig store (no 'cdig' attributes)")
        self.meta = meta
        self.settings = meta["settings"]
        stored = set(self.group.group_keys())
        order = [
            d.get("describe", {}).get("name")
            for d in self.settings.get("domains", [])
            if isinstance(d, dict) and isinstance(d.get("describe"), dict)
        ]
        # in the order they were explained; the arrays of each appear with the first chunk written
        self.domains = [n for n in order if n in stored] + sorted(stored - set(order))
        self.complete = bool(meta.get("complete"))
        first = self.group[self.domains[0]]["delta"] if self.domains else None
        self.rows = int(meta.get("rows") or (first.shape[0] if first is not None else 0))

    def __repr__(self) -> str:
        state = "complete" if self.complete else f"partial: {len(self.done())} chunks done"
        return f"ExplainedDataset({str(self.path)!r}, {self.rows} rows, domains={self.domains}, {state})"

    def done(self) -> frozenset[int]:
        if "_done" not in self.group:
            return frozenset()
        return frozenset(np.flatnonzero(self.group["_done"][:]).tolist())

    def __getitem__(self, domain: str) -> Any:
        """The Zarr group of one domain (``values``, ``delta``, ... as lazily read arrays)."""
        if domain not in self.domains:
            raise KeyError(f"no domain {domain!r} in {self.path}; stored: {self.domains}")
        return self.group[domain]

    def attribution(self, domain: str, rows: slice | np.ndarray | None = None) -> Attribution:
        """Rows of one domain as an in-memory :class:`cdig.Attribution` (default: all rows)."""
        g = self[domain]
        sel = slice(0, self.rows) if rows is None else rows
        meta = dict(g.attrs)["attribution"]
        coords = {k: np.asarray(g[f"coords/{k}"][...]) for k in g["coords"].array_keys()} if "coords" in g else {}
        target = meta["target"]
        if target == "per row" and "target" in self.group:
            target = self.group["target"][sel].tolist()
        errors = {k: np.asarray(g[f"error_{k}"][sel]) for k in ("relative", "absolute") if f"error_{k}" in g}
        return Attribution(
            values=np.asarray(g["values"][sel]),
            domain=meta["domain"],
            dims=tuple(meta["dims"]),
            coords=coords,
            delta=np.asarray(g["delta"][sel]),
            output=np.asarray(g["output"][sel]),
            baseline_output=np.asarray(g["baseline_output"][sel]),
            n_steps=np.asarray(g["n_steps"][sel]),
            target=target,
            units=meta["units"],
            settings=meta["settings"],
            error_estimate=errors or None,
        )


def open_explained(path: str | Path) -> ExplainedDataset:
    """Open a store written by :func:`cdig.explain_dataset` (complete or not) for reading."""
    return ExplainedDataset(path)
