"""What the report and the explorer both check and read from a batch of maps (an edge module:
used by :mod:`cdig.report` and :mod:`cdig.explorer`, never by the core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .core.attribution import Attribution
from .core.errors import CdigTypeError, CdigValueError

__all__ = ["check_maps", "positive_int", "as_numpy", "classes", "canonical_x", "class_name", "input_of"]


def check_maps(maps: Any, what: str) -> dict[str, Attribution]:
    """``maps`` (an Attribution, a dict of name to Attribution, or a list of them) as a dict, checked to
    cover one batch; ``what`` names the page in messages (``"a report"``, ``"the explorer"``)."""
    if isinstance(maps, Attribution):
        items = {maps.domain: maps}
    elif isinstance(maps, Mapping):
        items = dict(maps)
    elif isinstance(maps, Sequence) and not isinstance(maps, (str, bytes)):
        items = {getattr(a, "domain", str(i)): a for i, a in enumerate(maps)}
    else:
        raise CdigTypeError(
            f"maps={type(maps).__name__}: expected an Attribution, a dict of name to Attribution "
            "(as cdig.explain returns) or a list of them"
        )
    if not items:
        raise CdigValueError(f"maps is empty; {what} needs at least one Attribution")
    for name, a in items.items():
        if not isinstance(a, Attribution):
            raise CdigTypeError(f"maps[{name!r}] is a {type(a).__name__}, not a cdig.Attribution")
    sizes = {str(name): len(a.values) for name, a in items.items()}
    if len(set(sizes.values())) > 1:
        raise CdigValueError(f"the maps explain batches of different sizes ({sizes}); {what} shows one batch")
    if 0 in sizes.values():
        raise CdigValueError(f"the maps hold no sample; {what} needs at least one explained sample")
    return {str(k): v for k, v in items.items()}


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise CdigValueError(f"{name}={value!r}: expected a positive integer")
    return int(value)


def as_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def classes(name: str, y: Any, n: int) -> np.ndarray | None:
    """One class per explained sample (``y``, ``y_true``), or None."""
    if y is None:
        return None
    y = as_numpy(y)
    if y.ndim != 1 or len(y) != n:
        raise CdigValueError(f"{name} has shape {y.shape}; expected one class per explained sample, shape ({n},)")
    return y


def canonical_x(x: Any, n: int, time_axis: Any) -> np.ndarray:
    """The inputs as (N, C, T), time moved last as the maps' ``time_axis`` says."""
    x = as_numpy(x)
    if x.dtype.kind not in "biuf" or x.ndim not in (2, 3) or len(x) != n:
        raise CdigValueError(
            f"x has shape {x.shape} and dtype {x.dtype}; expected the {n} explained inputs as real numbers, (N, C, T) or (N, T)"
        )
    x = x.astype(float)
    if x.ndim == 2:
        return x[:, None, :]
    if isinstance(time_axis, int) and time_axis % 3 != 2:
        x = np.moveaxis(x, time_axis, -1)
    return x


def class_name(label: Any, class_names: Any) -> str:
    if class_names is None:
        return str(label)
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, label))
    try:
        return str(class_names[int(label)])
    except (ValueError, TypeError, IndexError):
        return str(label)


def input_of(items: Mapping[str, Attribution]) -> np.ndarray | None:
    """The input, (N, C, T), when a time-domain map carries it: its coefficients are the input."""
    time_map = next((a for a in items.values() if a.domain == "time"), None)
    if time_map is None or time_map.coefficients is None or np.ndim(time_map.coefficients) < 2:
        return None
    c = np.asarray(time_map.coefficients)
    if np.iscomplexobj(c) or c.dtype.kind not in "biuf":
        return None
    c = c.astype(float)
    return c[:, None, :] if c.ndim == 2 else c.reshape(len(c), -1, c.shape[-1])
