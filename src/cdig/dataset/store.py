"""The on-disk store of a data set's explanations: a Zarr group, one chunk per explained chunk of rows.

Layout (``pip install zarr``)::

    out.zarr/
      .attrs["cdig"]        format, cdig version, settings, their fingerprint, data description,
                            chunk rows, rows, complete
      _cdig/                cdig's marker (a tiny group written first): proves the folder is a cdig
                            store even when the root metadata is damaged
      _done                 (n_chunks,) bool: chunk k is written completely and read back verified
      _data_sha256          (n_chunks, 32) uint8: the hash of chunk k's input rows (and labels)
      target                (N,) int64 (per-row targets, when the target is per row)
      <domain>/values       (N, ...) the maps, chunked like the data
      <domain>/delta, output, baseline_output   (N,) float64
      <domain>/n_steps      (N,) int64
      <domain>/error_relative, error_absolute   (N,) float64: the map's estimated error
                            (``n_steps="auto"`` only; see :attr:`cdig.Attribution.error_estimate`)
      <domain>/coords/<k>   the coordinates; dims, units and settings in <domain>.attrs

What the store guarantees (see ``docs/dataset.md``):

* **One writer.** A job holds an exclusive lock on the store's folder for its whole run
  (``fcntl.flock`` on the folder; the operating system releases it when the process dies, so a
  killed job leaves no stale lock). A second writer, another process or thread, is refused at once.
* **Crash consistency.** The marker and the root metadata are written first; every array and
  attribute is created (from the first chunk's results) before ``_done``, and ``_done`` exists only
  once the layout is complete; a half-created layout (no chunk done) is started again. Every chunk of
  every array carries a CRC-32C checksum (a Zarr codec); chunk ``k`` is marked done only after all
  its arrays are read back equal to what was written. Files are replaced atomically by Zarr.
* **Damage is seen.** :meth:`ExplainedDataset.verify` finds missing, truncated or altered chunks;
  the same :func:`cdig.explain_dataset` call recomputes them; reading a damaged chunk raises.
* **Never deleted by mistake.** ``overwrite=True`` removes a folder only when it carries cdig's
  marker; anything else is refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_atomic
from ..core.attribution import Attribution
from ..core.errors import CdigValueError, CdigWarning, one_line

__all__ = ["Store", "open_explained", "ExplainedDataset", "ChunkDamage", "FORMAT", "fingerprint", "check_group_name"]

FORMAT = 1
_SCALARS = ("delta", "output", "baseline_output", "n_steps")
_MARKER = "_cdig"
_DIGESTS = "_data_sha256"
_RESERVED = ("target", "coords")


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise ImportError("explaining a data set to disk needs zarr: pip install 'cdig[dataset]' (or zarr)") from None
    return zarr


def _codecs() -> dict[str, Any]:
    """Compression plus a CRC-32C checksum on every chunk: a flipped or missing byte is detected."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return {"compressors": (ZstdCodec(), Crc32cCodec())}


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """Every chunk is written as a file, even one equal to the fill value: a missing file is damage."""
    with _zarr().config.set({"array.write_empty_chunks": True}):
        yield


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short hash of the settings (JSON with sorted keys): equal settings, equal fingerprint."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def check_group_name(name: Any) -> str:
    """A domain's name as a group of the store: a plain name, never a path.

    Examples
    --------
    >>> check_group_name("fourier")
    'fourier'
    >>> check_group_name("../x")
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: domain name '../x' cannot name a group of the store: ...
    """
    bad = None
    if not isinstance(name, str) or not name:
        bad = "it is empty or not a string"
    elif any(c in name for c in "/\\:\0") or name in (".", ".."):
        bad = "it holds a path separator or is '.'/'..'"
    elif name[0] in "_.":
        bad = "names starting with '_' or '.' are the store's own"
    elif name in _RESERVED:
        bad = f"{name!r} is an array of the store"
    if bad:
        raise CdigValueError(
            f"domain name {name!r} cannot name a group of the store: {bad}; give the domain a plain name "
            "(letters, digits, '-', not starting with '_' or '.')"
        )
    return name


# --- what a folder is --------------------------------------------------------------------------
def _read_json(p: Path) -> Any:
    try:
        return json.loads(p.read_bytes())
    except (OSError, ValueError):
        return None


def _classify(path: Path) -> str:
    """``"absent"``, ``"empty"``, ``"file"``, ``"store"``, ``"damaged"`` (cdig's marker, root unreadable)
    or ``"foreign"`` (files cdig did not write)."""
    if not path.exists():
        return "absent"
    if not path.is_dir():
        return "file"
    if not any(path.iterdir()):
        return "empty"
    # the marker folder is created before anything else and removed last: its presence alone is proof
    has_marker = (path / _MARKER).is_dir()
    root = _read_json(path / "zarr.json")
    meta = root.get("attributes", {}).get("cdig") if isinstance(root, dict) and isinstance(root.get("attributes"), dict) else None
    if isinstance(meta, dict) and "fingerprint" in meta:
        return "store"
    return "damaged" if has_marker else "foreign"


def _listing(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir())
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


# --- one writer ----------------------------------------------------------------------------------
class _Lock:
    """An exclusive lock on the store's folder, held by one job for its whole run.

    POSIX: ``fcntl.flock`` on the folder itself (no file is added); the OS drops it when the process
    ends, however it ends, so there are no stale locks. Elsewhere: a file ``_cdig/lock`` created with
    ``O_EXCL`` holding ``pid@host``; it is stale (and taken over) when that process no longer runs on
    this host.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.file: Path | None = None
        try:
            import fcntl
        except ImportError:
            self._exclusive_file()
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise CdigValueError(
                f"{path} is being written by another job ({_holder(path)}); one store has one writer: wait for it "
                "to finish (then run again to resume), or choose another out="
            ) from None
        self.fd = fd

    def _exclusive_file(self) -> None:
        lock = self.path / _MARKER / "lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        me = f"{os.getpid()}@{socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = lock.read_text(errors="replace").strip() if lock.exists() else ""
                pid, _, host = owner.partition("@")
                if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
                    lock.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise CdigValueError(
                    f"{self.path} is being written by another job (pid {owner or '?'}); one store has one writer: "
                    f"wait for it to finish, or delete {lock} if that job is gone, or choose another out="
                ) from None
            os.write(fd, me.encode())
            os.close(fd)
            self.file = lock
            return

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
        if self.file is not None:
            self.file.unlink(missing_ok=True)
            self.file = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _holder(path: Path) -> str:
    """Who holds the folder's flock: ``pid N`` from /proc/locks where the OS tells, else ``another process or thread``."""
    try:
        st = os.stat(path)
        ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if "FLOCK" in parts and ident in parts:
                pid = parts[parts.index(ident) - 1]
                return f"pid {pid}" + (", this process" if pid == str(os.getpid()) else "")
    except (OSError, ValueError, AttributeError):
        pass
    return "another process or thread"


@dataclass(frozen=True)
class ChunkDamage:
    """One problem :meth:`ExplainedDataset.verify` found: an array's chunk (or its layout, ``chunk=None``)."""

    array: str
    chunk: int | None
    problem: str

    def __str__(self) -> str:
        where = "its metadata" if self.chunk is None else f"chunk {self.chunk}"
        return f"{self.array}: {where} {self.problem}"


class _Reader:
    """What reading and verifying a store needs, shared by the writer and the reader."""

    path: Path
    group: Any
    chunk_rows: int

    def done(self) -> frozenset[int]:
        """Indices of the chunks already written completely (and verified when they were written)."""
        try:
            if _DONE not in self.group:
                return frozenset()
            return frozenset(np.flatnonzero(self.group[_DONE][:]).tolist())
        except Exception:  # noqa: BLE001 - a damaged _done: nothing can be trusted as done
            return frozenset()

    def _row_arrays(self) -> dict[str, Any]:
        """Every per-row array (``domain/values``, ``target``, ...) by its path."""
        g = self.group
        out: dict[str, Any] = {}
        for name in sorted(g.group_keys()):
            if name.startswith("_"):
                continue
            sub = g[name]
            for key in sorted(sub.array_keys()):
                out[f"{name}/{key}"] = sub[key]
        if "target" in g:
            out["target"] = g["target"]
        return out

    def _chunk_problem(self, z: Any, k: int) -> str | None:
        """Why chunk ``k`` (row chunk) of array ``z`` cannot be trusted, or None."""
        coords = (k,) + (0,) * (len(z.shape) - 1)
        key = z.metadata.encode_chunk_key(coords)
        if not (self.path / z.path / key).is_file():
            return "is missing (its file is gone; it would read as zeros)"
        try:
            z.get_block_selection(coords)
        except Exception as e:  # noqa: BLE001 - checksum, decompression, truncation: all damage
            return f"is damaged ({one_line(e)})"
        return None

    def _verify(self, chunks: Any = None) -> list[ChunkDamage]:
        zarr = _zarr()
        damage: list[ChunkDamage] = []
        try:
            arrays = self._row_arrays()
            for name in list(arrays):
                if "/coords" in name:
                    arrays.pop(name)
            for name in self.group.group_keys():
                if not name.startswith("_") and "coords" in self.group[name]:
                    for c in self.group[name]["coords"].array_keys():
                        self.group[name]["coords"][c][...]
            if _DIGESTS in self.group:
                arrays[_DIGESTS] = self.group[_DIGESTS]
            if _DONE in self.group:
                z = self.group[_DONE]
                for b in range(-(-z.shape[0] // z.chunks[0])):
                    why = self._chunk_problem(z, b)
                    if why:
                        return [ChunkDamage(_DONE, None, why)]
        except Exception as e:  # noqa: BLE001 - metadata or coordinates unreadable
            return [ChunkDamage("layout", None, f"is damaged ({one_line(e)})")]
        del zarr
        for k in sorted(self.done() if chunks is None else chunks):
            for name, z in arrays.items():
                why = self._chunk_problem(z, k if name != _DIGESTS else k // z.chunks[0])
                if why:
                    damage.append(ChunkDamage(name, k, why))
        return damage


_DONE = "_done"


class Store(_Reader):
    """Writes chunks of results into a Zarr group; one writer at a time; refuses other settings.

    Use as a context manager (or call :meth:`close`): the lock is held until then.
    """

    def __init__(
        self, path: str | Path, settings: dict[str, Any], n_rows: int | None, chunk_rows: int, overwrite: bool = False
    ) -> None:
        zarr = _zarr()
        self.path = Path(path)
        self.settings = settings
        self.fp = fingerprint(settings)
        self.chunk_rows = chunk_rows
        self.n_rows = n_rows
        self.n_chunks = None if n_rows is None else -(-n_rows // chunk_rows) if n_rows else 0
        self.written: set[int] = set()
        self.resumed = False
        self.repaired: list[ChunkDamage] = []
        self._digests: dict[int, np.ndarray] = {}
        self._opened: dict[str, Any] = {}
        kind = self._check_folder(overwrite)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CdigValueError(f"out={str(self.path)!r} cannot be created: {e.strerror or e}") from None
        self._lock = _Lock(self.path)
        try:
            kind = self._check_folder(overwrite)  # again, under the lock: another job may have written meanwhile
            if kind == "damaged" and not overwrite:
                if (self.path / _DONE).exists():
                    raise CdigValueError(
                        f"{self.path} is a damaged cdig store: its root metadata (zarr.json) is missing or unreadable. "
                        "It carries cdig's marker, so pass overwrite=True to start it again (or choose another out=)"
                    )
                kind = "restart"  # killed before any chunk was done: nothing to lose
            if kind == "store" and not overwrite:
                g = zarr.open_group(str(self.path), mode="r+")
                meta = dict(g.attrs)["cdig"]
                if meta["fingerprint"] != self.fp:
                    diff = _differences(meta.get("settings", {}), settings)
                    raise CdigValueError(
                        f"{self.path} holds explanations made with other settings ({diff}); a store is never mixed: "
                        "choose another out=, or pass overwrite=True to start it again"
                    )
                self.group = g
                self.resumed = bool(self.done())
                self._repair()
            else:
                _io(self.path, "creating the store", self._create)
        except BaseException:
            self._lock.release()
            raise

    def _check_folder(self, overwrite: bool) -> str:
        kind = _classify(self.path)
        if kind == "file":
            raise CdigValueError(
                f"out={str(self.path)!r} is a file, not a cdig store; cdig will not replace it (even with overwrite=True): "
                "choose another out= (a new or empty folder)"
            )
        if kind == "foreign":
            raise CdigValueError(
                f"out={str(self.path)!r} exists and is not a cdig store (it holds {_listing(self.path)}); cdig writes only "
                "into a new or empty folder or its own store, and will not delete it (even with overwrite=True): "
                "choose another out="
            )
        return kind

    def _create(self) -> None:
        """Empty the folder (it is new, empty, or cdig's own store) and write the marker, then the root."""
        zarr = _zarr()
        marker = self.path / _MARKER
        marker.mkdir(exist_ok=True)  # first in, last out: a job killed while emptying the folder leaves it marked
        for p in list(self.path.iterdir()):
            if p.name == _MARKER:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        write_atomic(
            marker / "zarr.json",
            json.dumps(
                {"zarr_format": 3, "node_type": "group", "attributes": {"cdig_store": FORMAT}},
                indent=2,
            ).encode(),
        )
        meta = {
            "format": FORMAT,
            "version": _version(),
            "fingerprint": self.fp,
            "settings": _jsonable(self.settings),
            "chunk_rows": self.chunk_rows,
            "rows": self.n_rows,
            "complete": False,
        }
        self.group = _io(self.path, "creating the store", lambda: zarr.create_group(str(self.path), attributes={"cdig": meta}))

    def close(self) -> None:
        """Release the store's lock (the job is over)."""
        self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- resume: damage found is recomputed ------------------------------------------------
    def _repair(self) -> None:
        damage = self._verify()
        if not damage:
            return
        self.repaired = damage
        with _writing():
            if any(d.chunk is None for d in damage):
                # the layout itself is damaged: it is built again, and every chunk recomputed
                self._drop_layout()
            else:
                done = self.group[_DONE]
                for k in sorted({d.chunk for d in damage if d.chunk is not None}):
                    done[k] = False
                for d in damage:  # the damaged files go: a later partial write must not decode them
                    assert d.chunk is not None
                    z = self.group[d.array]
                    block = d.chunk // z.chunks[0] if d.array == _DIGESTS else d.chunk
                    (self.path / z.path / z.metadata.encode_chunk_key((block,) + (0,) * (z.ndim - 1))).unlink(missing_ok=True)
            self._set_meta(complete=False)
        shown = "; ".join(str(d) for d in damage[:3]) + (f"; ... ({len(damage)} in all)" if len(damage) > 3 else "")
        warnings.warn(
            CdigWarning(f"{self.path}: damaged chunks found and recomputed now: {shown}"),
            stacklevel=3,
        )

    def _drop_layout(self) -> None:
        """Remove every array and domain group (a half-created or damaged layout); keep marker and root."""
        for p in list(self.path.iterdir()):
            if p.name in (_MARKER, "zarr.json"):
                continue
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        self._opened.clear()
        self.group = _zarr().open_group(str(self.path), mode="r+")

    def _set_meta(self, **kw: Any) -> None:
        meta = dict(self.group.attrs["cdig"])
        if all(meta.get(k) == v for k, v in kw.items()):
            return
        meta.update(kw)
        _io(self.path, "updating the store's metadata", lambda: self.group.attrs.__setitem__("cdig", meta))

    # --- the data's hash, per chunk -------------------------------------------------------------
    def stored_digest(self, k: int) -> np.ndarray | None:
        if _DIGESTS not in self.group or k >= self.group[_DIGESTS].shape[0]:
            return None
        return np.asarray(self.group[_DIGESTS][k])

    def expect(self, k: int, digest: np.ndarray) -> None:
        """The hash of chunk ``k``'s rows, written with it by :meth:`write`."""
        self._digests[k] = digest

    def unmark(self, chunks: Any) -> None:
        """Mark chunks not done (they were written from data that turned out to have changed)."""
        if _DONE in self.group:
            with _writing():
                done = self.group[_DONE]
                for k in chunks:
                    if k < done.shape[0]:
                        done[k] = False

    def finish(self, n_rows: int) -> None:
        done = self.done()
        n = self.n_chunks if self.n_chunks is not None else (self.group[_DONE].shape[0] if _DONE in self.group else 0)
        with _writing():
            self._set_meta(rows=n_rows, complete=len(done) == n and done == frozenset(range(n)))

    # --- writing -------------------------------------------------------------------------
    def write(self, k: int, start: int, maps: Mapping[str, Attribution], target: np.ndarray | None) -> None:
        """Write chunk ``k`` (rows ``start`` ...) of every domain, read it back, then mark it done."""
        with _writing():
            _io(self.path, f"writing chunk {k}", lambda: self._write(k, start, maps, target))

    def _write(self, k: int, start: int, maps: Mapping[str, Attribution], target: np.ndarray | None) -> None:
        g = self.group
        rows = len(next(iter(maps.values())).values)
        stop = start + rows
        if _DONE not in g:
            self._layout(k, maps, target)
            g = self.group
        written: list[tuple[Any, Any, np.ndarray]] = []  # (array, selection, data)
        for name, att in maps.items():
            check_group_name(name)
            errs = _errors(att)
            for key in ("values", *_SCALARS, *errs):
                arr = np.asarray(att.values if key == "values" else errs.get(key, getattr(att, key, None)))
                written.append((self._grow(self._array(f"{name}/{key}"), stop), slice(start, stop), arr))
        if target is not None:
            written.append((self._grow(self._array("target"), stop), slice(start, stop), np.asarray(target, dtype=np.int64)))
        digest = self._digests.pop(k, None)
        if digest is not None:
            z = self._array(_DIGESTS)
            if z.shape[0] <= k:
                z.resize((k + 1, 32))
            written.append((z, slice(k, k + 1), digest[None]))
        _set_all(written)
        # read back: a chunk is done only when every array holds exactly what was written
        for (z, _, arr), back in zip(written, _get_all([(z, sel) for z, sel, _ in written])):
            want = np.asarray(arr, dtype=z.dtype).reshape(np.shape(back))
            if np.asarray(back).tobytes() != want.tobytes():
                raise CdigValueError(
                    f"{self.path}: chunk {k} of {z.path} did not read back as written (a disk or file-system fault); "
                    "run the same call again to rewrite it"
                )
        done = self._array(_DONE)
        if k >= done.shape[0]:
            done.resize((k + 1,))
        done[k] = True
        self.written.add(k)

    def _array(self, path: str) -> Any:
        """An array opened for writing once per job (opened inside :func:`_writing`: empty chunks are written)."""
        z = self._opened.get(path)
        if z is None:
            z = self._opened[path] = self.group[path]
        return z

    @staticmethod
    def _grow(z: Any, stop: int) -> Any:
        """``z`` with at least ``stop`` rows (streams of unknown length grow their arrays as they go)."""
        if z.shape[0] < stop:
            z.resize((stop,) + z.shape[1:])
        return z

    def _layout(self, k: int, maps: Mapping[str, Attribution], target: np.ndarray | None) -> None:
        """Every array and attribute, from the first results; ``_done`` last, so that its presence means
        the layout is complete. A half-created layout (a job killed here) is dropped and built again."""
        self._drop_layout()
        g = self.group
        rows = len(next(iter(maps.values())).values)
        n = self.n_rows if self.n_rows is not None else rows
        for name, att in maps.items():
            self._create_domain(check_group_name(name), att, n)
        if target is not None:
            g.create_array("target", shape=(n,), chunks=(self.chunk_rows,), dtype="int64", fill_value=-1, **_codecs())
        n_chunks = self.n_chunks if self.n_chunks is not None else k + 1
        g.create_array(
            _DIGESTS, shape=(n_chunks, 32), chunks=(min(max(1, n_chunks), 1024), 32), dtype="uint8", fill_value=0, **_codecs()
        )
        # _done is built under another name and renamed into place (atomic): it appears complete, with its data
        building = "_done_building"
        g.create_array(building, shape=(n_chunks,), chunks=(max(1, n_chunks),), dtype="bool", fill_value=False, **_codecs())
        g[building][:] = False
        os.replace(self.path / building, self.path / _DONE)
        self._opened.clear()

    def _create_domain(self, name: str, att: Attribution, n: int) -> None:
        g = self.group.create_group(name)
        v = np.asarray(att.values)
        g.create_array(
            "values", shape=(n,) + v.shape[1:], chunks=(self.chunk_rows,) + v.shape[1:], dtype=v.dtype, fill_value=0, **_codecs()
        )
        for key in (*_SCALARS, *_errors(att)):
            dt = "int64" if key == "n_steps" else "float64"
            g.create_array(key, shape=(n,), chunks=(self.chunk_rows,), dtype=dt, fill_value=0, **_codecs())
        for k, c in att.coords.items():
            c = np.asarray(c)
            if c.dtype.kind in "US":
                c = c.astype("U")
            g.create_array(
                f"coords/{k}",
                shape=c.shape,
                dtype=c.dtype if c.dtype.kind != "U" else str,
                fill_value=None if c.dtype.kind == "U" else 0,
                **_codecs(),
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

    def rows_written(self) -> int:
        for name in self.group.group_keys():
            if not name.startswith("_"):
                return int(self.group[name]["delta"].shape[0])
        return 0


def _set_all(items: list[tuple[Any, Any, np.ndarray]]) -> None:
    """``z[sel] = data`` for every item, concurrently (one round trip to Zarr's event loop, not one each:
    a chunk writes a dozen small arrays, and each synchronous call costs milliseconds)."""
    run = _gather()
    if run is None:
        for z, sel, data in items:
            z[sel] = data
        return
    run([z.async_array.setitem(sel, data) for z, sel, data in items])


def _get_all(items: list[tuple[Any, Any]]) -> list[Any]:
    """``z[sel]`` for every item, concurrently (see :func:`_set_all`)."""
    run = _gather()
    if run is None:
        return [z[sel] for z, sel in items]
    return list(run([z.async_array.getitem(sel) for z, sel in items]))


def _gather() -> Any:
    """Runs coroutines together on Zarr's own event loop; None where this Zarr does not offer it."""
    try:
        import asyncio

        from zarr.core.sync import sync
    except ImportError:  # pragma: no cover - another Zarr layout: one call at a time
        return None

    async def together(coros: list[Any]) -> list[Any]:
        return list(await asyncio.gather(*coros))

    return lambda coros: sync(together(coros))


def _io(path: Path, what: str, fn: Any) -> Any:
    """Run a write; a full disk or an unwritable folder becomes one line saying so and how to resume."""
    try:
        return fn()
    except OSError as e:
        if isinstance(e, CdigValueError):
            raise
        why = e.strerror or str(e)
        hint = "free some space" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "make the folder writable"
        raise CdigValueError(
            f"{path}: {what} failed: {why} ({e.filename or path}); {hint} and run the same call again: "
            "the chunks already done are kept"
        ) from None


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


class ExplainedDataset(_Reader):
    """A store written by :func:`cdig.explain_dataset`, read back lazily.

    Attributes
    ----------
    path : Path
    settings : dict
        The run's settings (what the fingerprint covers).
    domains : list of str
    complete : bool
        Whether every chunk was written and verified when it was written (:meth:`verify` checks now).
    rows : int
        Rows stored.
    """

    def __init__(self, path: str | Path) -> None:
        zarr = _zarr()
        self.path = Path(path)
        kind = _classify(self.path)
        if kind == "damaged":
            raise CdigValueError(
                f"{self.path} is a damaged cdig store: its root metadata (zarr.json) is missing or unreadable; "
                "run explain_dataset again with overwrite=True to start it again"
            )
        try:
            self.group = zarr.open_group(str(self.path), mode="r")
        except Exception as e:  # noqa: BLE001
            raise CdigValueError(f"{self.path}: not a readable Zarr store ({type(e).__name__}: {one_line(e)})") from None
        meta = dict(self.group.attrs).get("cdig")
        if not isinstance(meta, dict):
            raise CdigValueError(f"{self.path}: not a cdig store (no 'cdig' attributes)")
        self.meta = meta
        self.settings = meta["settings"]
        self.chunk_rows = int(meta.get("chunk_rows") or 1)
        stored = {n for n in self.group.group_keys() if not n.startswith("_")}
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

    def verify(self) -> list[ChunkDamage]:
        """Check every chunk marked done: present, checksum right, decodable. Reads the whole store.

        Returns
        -------
        list of ChunkDamage
            Empty when the store is sound. Otherwise each missing or damaged chunk (``array``,
            ``chunk``, ``problem``); running the same :func:`cdig.explain_dataset` call again
            recomputes them.

        Examples
        --------
        >>> import numpy as np, torch, tempfile, cdig
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        >>> x = np.zeros((6, 1, 16), "float32")
        >>> ds = cdig.explain_dataset(model, x, tempfile.mkdtemp() + "/m.zarr", "time", target=0,
        ...                           batch_size=3, n_steps=4, progress=False)
        >>> ds.verify()
        []
        >>> import shutil; shutil.rmtree(ds.path / "time" / "values" / "c" / "1")
        >>> [str(d) for d in ds.verify()]
        ['time/values: chunk 1 is missing (its file is gone; it would read as zeros)']
        """
        return self._verify()

    def __getitem__(self, domain: str) -> Any:
        """The Zarr group of one domain (``values``, ``delta``, ... as lazily read arrays)."""
        if domain not in self.domains:
            raise KeyError(f"no domain {domain!r} in {self.path}; stored: {self.domains}")
        return self.group[domain]

    def _read(self, z: Any, sel: Any, name: str) -> np.ndarray:
        """Rows ``sel`` of array ``z``, only from chunks done and sound; else one line naming the chunk."""
        rows = np.arange(z.shape[0])[sel]
        done = self.done()
        for k in sorted({int(r) // self.chunk_rows for r in np.atleast_1d(rows)}):
            a, b = k * self.chunk_rows, min((k + 1) * self.chunk_rows, z.shape[0])
            if k not in done:
                raise CdigValueError(
                    f"{self.path}: rows {a}..{b - 1} (chunk {k}) are not written yet; run the same explain_dataset "
                    "call to finish the store, or read only rows that are done (see .done())"
                )
            why = self._chunk_problem(z, k)
            if why:
                raise CdigValueError(
                    f"{self.path}: {name} {'chunk ' + str(k)} {why}; run the same explain_dataset call again to recompute it"
                )
        try:
            return np.asarray(z[sel])
        except Exception as e:  # noqa: BLE001 - damaged between the check and the read
            raise CdigValueError(f"{self.path}: {name} cannot be read ({one_line(e)}); run .verify()") from None

    def attribution(self, domain: str, rows: slice | np.ndarray | None = None) -> Attribution:
        """Rows of one domain as an in-memory :class:`cdig.Attribution` (default: all rows).

        Raises
        ------
        CdigValueError
            When a row asked for lies in a chunk not written yet, missing or damaged.
        """
        g = self[domain]
        sel = slice(0, self.rows) if rows is None else rows
        meta = dict(g.attrs)["attribution"]
        coords = {k: np.asarray(g[f"coords/{k}"][...]) for k in g["coords"].array_keys()} if "coords" in g else {}
        target = meta["target"]
        if target == "per row" and "target" in self.group:
            target = self._read(self.group["target"], sel, "target").tolist()
        errors = {
            k: self._read(g[f"error_{k}"], sel, f"{domain}/error_{k}") for k in ("relative", "absolute") if f"error_{k}" in g
        }
        return Attribution(
            values=self._read(g["values"], sel, f"{domain}/values"),
            domain=meta["domain"],
            dims=tuple(meta["dims"]),
            coords=coords,
            delta=self._read(g["delta"], sel, f"{domain}/delta"),
            output=self._read(g["output"], sel, f"{domain}/output"),
            baseline_output=self._read(g["baseline_output"], sel, f"{domain}/baseline_output"),
            n_steps=self._read(g["n_steps"], sel, f"{domain}/n_steps"),
            target=target,
            units=meta["units"],
            settings=meta["settings"],
            error_estimate=errors or None,
        )


def open_explained(path: str | Path) -> ExplainedDataset:
    """Open a store written by :func:`cdig.explain_dataset` (complete or not) for reading."""
    return ExplainedDataset(path)
