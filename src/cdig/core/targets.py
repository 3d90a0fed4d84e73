"""What ``target`` means, in one place: which scalar of the model's output is explained per sample."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import CdigModelError, CdigTypeError, CdigValueError

__all__ = ["Target", "make_target"]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class Target:
    """A validated target.

    ``kind`` is one of ``"scalar"`` (``target=None``), ``"index"`` (one int for every sample),
    ``"rows"`` (one int per sample), ``"tuple"`` (one index tuple into multi-dimensional outputs),
    ``"rows_tuple"`` (one index tuple per sample) or ``"callable"``.
    """

    kind: str
    value: Any = None

    def describe(self) -> Any:
        """A JSON-friendly description of the target, for results and files."""
        if self.kind == "callable":
            return getattr(self.value, "__name__", repr(self.value))
        if isinstance(self.value, np.ndarray):
            return self.value.tolist()
        return self.value

    def take(self, rows: np.ndarray) -> "Target":
        """The target of rows that belong to samples ``rows`` (a sample may repeat)."""
        if self.kind in ("rows", "rows_tuple"):
            return replace(self, value=np.asarray(self.value)[rows])
        return self

    def check_output(self, out_shape: tuple[int, ...], n_samples: int) -> None:
        """Validate the target against the shape of one sample's model output (batch axis removed)."""
        k = self.kind
        if k == "callable":
            return
        if k == "scalar":
            if out_shape not in ((), (1,)):
                raise CdigValueError(
                    f"target=None needs one scalar output per sample, but the model output has shape "
                    f"(N, {', '.join(map(str, out_shape))}); pass target=<int> for a class/output index, "
                    "a tuple for multi-dimensional outputs, or a callable"
                )
            return
        if len(out_shape) == 0:
            raise CdigValueError(
                f"target={self.describe()!r} indexes the output, but the model returns one scalar per sample; use target=None"
            )
        if k in ("index", "rows"):
            if len(out_shape) != 1:
                raise CdigValueError(
                    f"target={self.describe()!r} is an int, but the model output has shape "
                    f"(N, {', '.join(map(str, out_shape))}); pass a tuple of {len(out_shape)} indices "
                    "(e.g. a horizon step and a channel) or a callable"
                )
            vals = np.atleast_1d(self.value)
            bad = vals[(vals < 0) | (vals >= out_shape[0])]
            if bad.size:
                raise CdigValueError(
                    f"target {int(bad[0])} is out of range: the model has {out_shape[0]} outputs, "
                    f"so targets must lie in 0..{out_shape[0] - 1}"
                )
            return
        # tuple / rows_tuple
        rows = [self.value] if k == "tuple" else list(self.value)
        for t in rows:
            if len(t) != len(out_shape):
                raise CdigValueError(
                    f"target {tuple(int(v) for v in t)!r} has {len(t)} indices but the model output per sample has "
                    f"{len(out_shape)} axes (shape {out_shape}); give one index per axis"
                )
            t = tuple(int(v) for v in t)
            for j, (ti, size) in enumerate(zip(t, out_shape)):
                if not 0 <= ti < size:
                    raise CdigValueError(f"target {t!r} is out of range on output axis {j + 1}: it has {size} entries")

    def mask(self, out_shape: tuple[int, ...], idx: np.ndarray) -> np.ndarray | None:
        """The one-hot cotangent that selects each row's explained output, ``(rows, *out_shape)``.

        ``Σ mask ⊙ out`` is the sum of the selected scalars, so compiled backends can take the
        gradient without Python-side indexing. None for callable targets.
        """
        k = self.kind
        rows = len(idx)
        if k == "callable":
            return None
        m = np.zeros((rows,) + tuple(out_shape), dtype=np.float32)
        r = np.arange(rows)
        if k == "scalar":
            m[...] = 1.0
        elif k == "index":
            m[:, int(self.value)] = 1.0
        elif k == "tuple":
            m[(slice(None),) + tuple(int(v) for v in self.value)] = 1.0
        elif k == "rows":
            m[r, self.value[idx]] = 1.0
        else:
            cols = self.value[idx]
            m[(r,) + tuple(cols[:, j] for j in range(cols.shape[1]))] = 1.0
        return m

    def select(self, out: Any, idx: np.ndarray, backend: Any) -> Any:
        """The explained scalar of each row of ``out`` (rows belong to samples ``idx``).

        ``backend`` provides ``reshape(a, shape)`` and ``pick(out, cols)`` (``out[i, cols[0][i], ...]``
        for every row ``i``), the two operations whose spelling differs between frameworks.
        """
        k = self.kind
        rows = len(idx)  # not out.shape: a callable target may read a structured output
        if k == "scalar":
            return backend.reshape(out, (rows,))
        if k == "index":
            return out[:, int(self.value)]
        if k == "tuple":
            return out[(slice(None),) + tuple(int(v) for v in self.value)]
        if k == "rows":
            return backend.pick(out, (self.value[idx],))
        if k == "rows_tuple":
            cols = self.value[idx]  # (rows, n_axes)
            return backend.pick(out, tuple(cols[:, j] for j in range(cols.shape[1])))
        y = self.value(out)
        shape = tuple(getattr(y, "shape", ()))
        if shape != (rows,):
            raise CdigModelError(
                f"the callable target returned shape {shape} for a batch of {rows} rows; it must return "
                "one scalar per row, shape (rows,)"
            )
        return y


def _index_rows(target: list[Any]) -> np.ndarray | None:
    """A list whose entries are all index sequences (tuples, lists, 1-D arrays) as an ``(N, k)`` int
    array; None when the entries are not sequences (a list of ints or 0-d arrays is ``"rows"``)."""
    if not target or not all(isinstance(t, (tuple, list)) or (isinstance(t, np.ndarray) and t.ndim == 1) for t in target):
        return None
    lengths = {len(t) for t in target}
    if len(lengths) != 1 or not all(_is_int(v) for t in target for v in t):
        raise CdigTypeError(
            f"a list of target tuples must hold tuples of ints of one length (one index per output "
            f"axis), got lengths {sorted(lengths)}: {target!r}"
        )
    arr = np.asarray(target)
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise CdigTypeError(f"a list of target tuples must hold ints of equal length, got {target!r}")
    return arr


def _rows_tuple(arr: np.ndarray, n_samples: int) -> Target:
    """One index tuple per sample from an ``(N, k)`` int array."""
    if arr.shape[1] == 0:
        raise CdigValueError(
            f"target has shape {arr.shape}: each sample's index tuple is empty; give one index per output axis, "
            "shape (N, number of output axes)"
        )
    if arr.shape[0] != n_samples:
        hint = (
            f"; it looks transposed (one row per output axis): pass its transpose, shape ({n_samples}, {arr.shape[0]})"
            if arr.shape[1] == n_samples
            else ""
        )
        raise CdigValueError(
            f"target has {arr.shape[0]} entries but the batch has {n_samples} samples; give one per sample{hint}"
        )
    return Target("rows_tuple", arr.astype(np.int64))


def make_target(target: Any, n_samples: int) -> Target:
    """Validate ``target`` (already converted from framework tensors to numpy/python).

    Accepted: None (one scalar output per sample), an int (one output index for every sample), a tuple
    of ints (one index per output axis, for every sample), one int per sample (a list or 1-D int
    array), one index tuple per sample (a list of tuples or lists of ints, or a 2-D int array of shape
    ``(N, k)``: row ``i`` indexes sample ``i``'s output, with ``k`` its number of axes), or a callable
    taking the batch's output and returning one scalar per row.

    Raises
    ------
    CdigTypeError
        When ``target`` is none of the accepted forms (e.g. floats, ragged tuples).
    CdigValueError
        When a per-sample target does not hold one entry per sample.

    Examples
    --------
    >>> make_target(None, 4).kind, make_target(2, 4).kind, make_target([0, 1, 1, 0], 4).kind
    ('scalar', 'index', 'rows')
    >>> make_target((3, 0), 4).kind
    'tuple'
    >>> make_target(np.array([[0, 1], [2, 0], [1, 1]]), 3).kind  # (horizon step, channel) per sample
    'rows_tuple'
    """
    if target is None:
        return Target("scalar")
    if callable(target):
        return Target("callable", target)
    if _is_int(target):
        return Target("index", int(target))
    if isinstance(target, np.ndarray) and target.ndim == 0 and target.dtype.kind in "iu":
        return Target("index", int(target))
    if isinstance(target, tuple) and all(_is_int(v) for v in target) and len(target) > 0:
        return Target("tuple", tuple(int(v) for v in target))
    if isinstance(target, (list, np.ndarray)) or (isinstance(target, tuple) and len(target) > 0):
        rows = _index_rows(target) if isinstance(target, list) else None
        if rows is not None:
            return _rows_tuple(rows, n_samples)
        arr = np.asarray(target)
        if isinstance(target, np.ndarray) and arr.ndim == 2 and arr.dtype.kind in "iu":
            return _rows_tuple(arr, n_samples)
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise CdigTypeError(
                f"target must be None, an int, a tuple of ints, one int per sample (list/array), one index tuple "
                f"per sample (list of tuples, or an (N, k) int array) or a callable; got {type(target).__name__} "
                f"with dtype {arr.dtype} and shape {arr.shape}"
            )
        if arr.shape[0] != n_samples:
            raise CdigValueError(f"target has {arr.shape[0]} entries but the batch has {n_samples} samples; give one per sample")
        return Target("rows", arr.astype(np.int64))
    raise CdigTypeError(
        f"target must be None, an int, a tuple of ints, one int per sample (list/array), one index tuple per "
        f"sample (list of tuples, or an (N, k) int array) or a callable; got {type(target).__name__}: {target!r}"
    )
