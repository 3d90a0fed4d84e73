"""Where the rows come from: arrays, memmaps, PyTorch loaders and datasets, ``tf.data``, iterators.

Every source is read in *chunks* of consecutive rows; chunk ``k`` always holds the same rows, so a
resumed job can skip the chunks already stored. Random-access sources (arrays, memmaps, map-style
datasets, :class:`cdig.Windows`) jump straight to the missing chunks; streams (loaders, ``tf.data``,
iterators) are read from the start and the stored chunks are passed over without explaining them.
No framework is imported here: objects are recognised by their module and duck type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.base import foreign_to_numpy
from ..core.errors import CdigTypeError, CdigValueError

__all__ = ["Source", "make_source", "chunk_digest", "DEFAULT_BATCH"]

#: Rows per chunk when the data does not say (arrays, datasets, windows).
DEFAULT_BATCH = 64


@dataclass
class Source:
    """Chunks of rows of one data set (see :func:`make_source`)."""

    kind: str
    chunk_rows: int
    n: int | None  # rows in total, when known before reading
    _get: Any = field(repr=False)  # (start, stop) -> (x, labels) for random access, else None
    _iter: Any = field(repr=False)  # () -> iterator of (x, labels), for streams
    extra: dict[str, Any] = field(default_factory=dict)  # more of what identifies the data (e.g. windows)

    @property
    def random_access(self) -> bool:
        """Whether any chunk can be read without reading the ones before it."""
        return self._get is not None

    def chunks(
        self, skip: frozenset[int] = frozenset(), only: frozenset[int] | None = None
    ) -> Iterator[tuple[int, int, Any, Any]]:
        """``(chunk index, first row, x, labels or None)`` for every chunk not in ``skip`` (and, when
        given, in ``only``), in order."""
        if self._get is not None:
            assert self.n is not None
            for k, start in enumerate(range(0, self.n, self.chunk_rows)):
                if k not in skip and (only is None or k in only):
                    x, y = self._get(start, min(start + self.chunk_rows, self.n))
                    yield k, start, x, y
            return
        start = 0
        for k, (x, y) in enumerate(self._iter()):
            rows = len(x)
            if rows == 0:
                continue
            if k not in skip and (only is None or k in only):
                yield k, start, x, y
            start += rows

    def first(self) -> tuple[Any, Any]:
        """The first chunk (for the store's fingerprint and shapes); a one-shot iterator keeps it for later."""
        peek = getattr(self, "_peek", None)
        if peek is not None:
            try:
                return _split(peek())
            except StopIteration:
                raise CdigValueError("the data set is empty: there is nothing to explain") from None
        for _, _, x, y in self.chunks():
            return x, y
        raise CdigValueError("the data set is empty: there is nothing to explain")

    def describe(self) -> dict[str, Any]:
        x, _ = self.first()
        xn = foreign_to_numpy(x)
        digest = chunk_digest(xn).tobytes().hex()[:16]
        return {
            "kind": self.kind,
            "rows": self.n,
            "chunk_rows": self.chunk_rows,
            "sample_shape": list(xn.shape[1:]),
            "dtype": str(xn.dtype),
            "first_chunk_sha256": digest,
            **self.extra,
        }


def chunk_digest(x: Any, labels: Any = None) -> np.ndarray:
    """SHA-256 of a chunk's rows (shape, dtype and bytes; and its labels when given), as 32 bytes.

    Examples
    --------
    >>> a = np.zeros((2, 3))
    >>> bool((chunk_digest(a) == chunk_digest(a.copy())).all()), bool((chunk_digest(a) == chunk_digest(a + 1)).all())
    (True, False)
    """
    h = hashlib.sha256()
    for a in (x, labels):
        if a is None:
            h.update(b"-")
            continue
        an = np.ascontiguousarray(foreign_to_numpy(a))
        h.update(f"{an.shape}{an.dtype.str}".encode())
        h.update(an.tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8).copy()


class _Pushback:
    """An iterator whose next item can be looked at without being lost."""

    def __init__(self, it: Iterator[Any]) -> None:
        self.it, self.buf = it, []  # type: ignore[var-annotated]

    def peek(self) -> Any:
        if not self.buf:
            self.buf.append(next(self.it))
        return self.buf[0]

    def __iter__(self) -> Iterator[Any]:
        while self.buf:
            yield self.buf.pop(0)
        yield from self.it


def _split(item: Any) -> tuple[Any, Any]:
    """A batch as ``(x, labels)``: tuples/lists ``(x, y, ...)`` and dicts with ``x``/``y`` keys."""
    if isinstance(item, dict):
        for k in ("x", "inputs", "input"):
            if k in item:
                return item[k], item.get("y", item.get("label", item.get("labels")))
        raise CdigValueError(f"a batch is a dict with keys {sorted(item)}; expected an 'x' (and 'y') key")
    if isinstance(item, (tuple, list)):
        if not item:
            raise CdigValueError("a batch is an empty tuple")
        return item[0], (item[1] if len(item) > 1 else None)
    return item, None


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def make_source(data: Any, batch_size: int | None = None) -> Source:
    """Wrap ``data`` as a :class:`Source`.

    Accepted: a numpy array or memmap ``(N, ...)``; a framework tensor; a :class:`cdig.Windows`; a
    PyTorch ``DataLoader`` (not shuffled) or map-style ``Dataset``; a ``tf.data.Dataset`` of batches;
    any iterable of batches (arrays, or ``(x, y)`` tuples). ``batch_size`` sets the chunk of the
    random-access kinds (default 64); loaders and streams keep their own batches.

    Examples
    --------
    >>> s = make_source(np.zeros((10, 2, 8)), batch_size=4)
    >>> [(k, start, len(x)) for k, start, x, _ in s.chunks()]
    [(0, 0, 4), (1, 4, 4), (2, 8, 2)]
    >>> [k for k, *_ in s.chunks(skip=frozenset({0, 2}))]
    [1]
    """
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise CdigValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    rows = int(batch_size) if batch_size is not None else None
    mod = _module(data)

    if isinstance(data, np.ndarray):
        if data.ndim < 2:
            raise CdigValueError(f"the data array has shape {data.shape}; expected (N, ...) with one row per sample")
        return Source(
            "memmap" if isinstance(data, np.memmap) else "array",
            rows or DEFAULT_BATCH,
            len(data),
            lambda a, b: (data[a:b], None),
            None,
        )
    if hasattr(data, "stitch") and hasattr(data, "starts"):  # cdig.Windows: random access, lazily cut
        src = Source("windows", rows or DEFAULT_BATCH, len(data), lambda a, b: (data[a:b], None), None)
        src.extra = {
            "length": int(data.length),
            "hop": int(data.hop),
            "tail": str(getattr(data, "tail", "")),
            "recording_samples": int(data.n_samples),
            "starts_sha256": chunk_digest(np.asarray(data.starts)).tobytes().hex()[:16],
        }
        return src
    if mod.startswith("torch.utils.data") and hasattr(data, "batch_size") and hasattr(data, "sampler"):
        sampler = type(data.sampler).__name__
        if (
            sampler not in ("SequentialSampler",)
            and data.batch_sampler is not None
            and type(data.batch_sampler.sampler).__name__ != "SequentialSampler"
        ):
            raise CdigValueError(
                f"the DataLoader draws its rows with a {type(data.batch_sampler.sampler).__name__}; a resumable "
                "job needs the same rows in the same chunks every time: use shuffle=False"
            )
        if data.batch_size is None:
            raise CdigValueError("the DataLoader has batch_size=None (single samples); give it a batch size")
        n = len(data.dataset) if hasattr(data.dataset, "__len__") else None
        return Source("torch DataLoader", int(data.batch_size), n, None, lambda: (_split(b) for b in data))
    if mod.startswith("torch") and hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "shape"):

        def get(a: int, b: int) -> tuple[Any, Any]:
            items = [_split(data[i]) for i in range(a, b)]
            x = np.stack([foreign_to_numpy(i[0], "torch") for i in items])
            y = None if items[0][1] is None else np.asarray([np.asarray(foreign_to_numpy(i[1])) for i in items])
            return x, y

        return Source("torch Dataset", rows or DEFAULT_BATCH, len(data), get, None)
    if mod.startswith("tensorflow") and hasattr(data, "as_numpy_iterator") and hasattr(data, "element_spec"):

        def batches() -> Iterator[tuple[Any, Any]]:
            for item in data.as_numpy_iterator():
                x, y = _split(item)
                if np.ndim(x) < 2:
                    raise CdigValueError("the tf.data.Dataset yields single samples; batch it first: ds.batch(64)")
                yield x, y

        return Source("tf.data.Dataset", 0, None, None, batches)
    if hasattr(data, "shape") and hasattr(data, "__getitem__") and len(getattr(data, "shape", ())) >= 2:
        # framework tensors (torch, TensorFlow, JAX) and array-likes with slicing (h5py, zarr)
        n = int(data.shape[0])
        return Source(
            f"{mod.split('.')[0] or 'array-like'} array", rows or DEFAULT_BATCH, n, lambda a, b: (data[a:b], None), None
        )
    if hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
        if iter(data) is not data:  # re-iterable (a list of batches, a custom loader): read afresh each time
            return Source("iterable", 0, None, None, lambda: (_split(b) for b in data))
        # a one-shot iterator (a generator): read once; first() peeks without losing the batch
        pb = _Pushback(iter(data))
        src = Source("iterator", 0, None, None, lambda: (_split(b) for b in pb))
        src._peek = pb.peek  # type: ignore[attr-defined]
        return src
    raise CdigTypeError(
        f"cannot read rows from a {type(data).__name__}; pass an array or memmap (N, ...), a torch DataLoader "
        "or Dataset, a tf.data.Dataset of batches, cdig.windows(...), or an iterable of batches"
    )
