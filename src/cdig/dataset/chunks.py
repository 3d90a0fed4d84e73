"""One chunk of a data set's explanation, the same for every engine (serial, Ray).

Both engines import from here; neither imports the other's module, so the data-set package's
import graph has no cycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from .sources import Source
from .store import Store

__all__ = ["explain_chunk", "total_rows"]


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
    g = store.group
    name = next(iter(g.group_keys()), None)
    return int(g[name]["delta"].shape[0]) if name is not None else seen
