"""One chunk of a data set's explanation, the same for every engine (serial, Ray).

Both engines import from here; neither imports the other's module, so the data-set package's
import graph has no cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from .sources import Source, chunk_digest
from .store import Store

__all__ = ["explain_chunk", "total_rows", "pending_chunks"]


def pending_chunks(source: Source, store: Store, labels: bool) -> Iterator[tuple[int, int, Any, Any]]:
    """The chunks still to explain; the data of the chunks already done is hashed and compared with the
    hash stored with them, so that a store is never extended from changed data.

    Random-access sources re-read the done chunks before anything is explained; streams are compared
    as they pass, and on a change the chunks this run wrote are unmarked (the store keeps only rows of
    the data it was begun with). Each yielded chunk's hash is handed to the store, which writes it
    with the chunk.
    """
    done = store.done()

    def check(k: int, start: int, x: Any, y: Any) -> None:
        old = store.stored_digest(k)
        if old is None or not old.any():  # a store from before per-chunk hashes
            return
        if not np.array_equal(old, chunk_digest(x, y if labels else None)):
            store.unmark(store.written)
            raise CdigValueError(
                f"{store.path}: rows {start}..{start + len(x) - 1} (chunk {k}) of the data changed since the store "
                "was written; a store is never mixed: choose another out=, or pass overwrite=True to start it again"
            )

    if source.random_access:
        for k, start, x, y in source.chunks(only=done):
            check(k, start, x, y)
        for k, start, x, y in source.chunks(skip=done):
            store.expect(k, chunk_digest(x, y if labels else None))
            yield k, start, x, y
        return
    for k, start, x, y in source.chunks():
        if k in done:
            check(k, start, x, y)
            continue
        store.expect(k, chunk_digest(x, y if labels else None))
        yield k, start, x, y


def explain_chunk(
    model: Any, x: Any, labels: Any, doms: list, target: Any, baselines: Any, explain_kwargs: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray | None]:
    """One chunk: ``(maps, per-row targets or None)``. The same for every engine."""
    import copy

    from ..api import explain
    from ..engine import prepare

    rows = None
    tgt = target
    if target == "predicted":
        prep = prepare(
            model,
            x,
            target=None,
            time_axis=explain_kwargs.get("time_axis"),
            additional_forward_args=None,
            internal_batch_size=None,
            backend=None,
        )
        with prep.be.prepared():
            out = prep.be.to_numpy(prep.be.forward(prep.xb, ()))
        if out.ndim != 2:
            raise CdigValueError(f"target='predicted' needs (N, classes) outputs; the model returns {out.shape}")
        rows = np.argmax(out, axis=1).astype(np.int64)
    elif target == "label":
        if labels is None:
            raise CdigValueError("target='label' needs batches of (x, y); this data yields x alone")
        rows = np.asarray(labels).reshape(len(np.asarray(labels)), -1)[:, 0].astype(np.int64)
    if rows is not None:
        tgt = rows.tolist()
    maps = explain(model, x, [copy.copy(d) for d in doms], target=tgt, baselines=baselines, **explain_kwargs)
    return maps, rows


def total_rows(store: Store, source: Source, seen: int) -> int:
    """Rows of a finished store: the source's length, else what was written (streams of unknown length)."""
    if source.n is not None:
        return source.n
    return store.rows_written() or seen
