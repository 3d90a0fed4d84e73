"""``internal_batch_size="auto"``: path points per pass sized to a memory budget.

The memory of an explanation is that of one chunk of path points (the model's activations kept for
the backward pass, the points and their gradients) plus the per-sample accumulators; it does not
depend on ``n_steps``. So a budget fixes the chunk: cdig measures the bytes one more path point
costs (the backend runs a probe of 1 and of 4 points of the first sample and takes the difference,
so the model's weights and fixed workspaces cancel out), subtracts the accumulators, and divides.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .errors import CdigTypeError, CdigValueError

__all__ = ["parse_bytes", "chunk_rows", "available_memory", "PROBE_ROWS", "DEFAULT_FRACTION", "HEURISTIC_FACTOR"]

#: Probe sizes (path points) whose difference gives the bytes of one more point.
PROBE_ROWS = (1, 4)
#: Without a budget: this share of the memory the device reports free.
DEFAULT_FRACTION = 0.5
#: Backends that cannot measure: assume one path point costs this many times its input's bytes.
HEURISTIC_FACTOR = 64

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(value: Any, name: str = "memory_budget") -> int:
    """A byte count from an int or a string such as ``"512MiB"``, ``"2 GB"``, ``"1.5GiB"``.

    Examples
    --------
    >>> parse_bytes("512MiB"), parse_bytes("2 GB"), parse_bytes(1000)
    (536870912, 2000000000, 1000)
    """
    if isinstance(value, bool):
        raise CdigTypeError(f"{name} must be a number of bytes or a string like '512MiB', got {value!r}")
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and np.isfinite(value)):
        n = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", value)
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _UNITS:
            raise CdigValueError(
                f"{name}={value!r}: expected a size like '512MiB', '2GB' or a byte count "
                f"(units: {', '.join(u for u in _UNITS if u)})"
            )
        n = int(float(m.group(1)) * _UNITS[unit])
    else:
        raise CdigTypeError(f"{name} must be a number of bytes or a string like '512MiB', got {value!r}")
    if n <= 0:
        raise CdigValueError(f"{name}={value!r} must be positive")
    return n


def available_memory() -> int | None:
    """Bytes the OS reports available (Linux ``MemAvailable``); None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def chunk_rows(budget: int, per_row: float, fixed: float, most: int) -> int:
    """Path points per pass that fit ``budget`` bytes: ``(budget - fixed) // per_row``, at most ``most``.

    Examples
    --------
    >>> chunk_rows(10_000, 100.0, 2_000, 1_000)
    80
    >>> chunk_rows(10_000, 100.0, 2_000, 50)
    50
    """
    room = budget - fixed
    if room < per_row:
        raise CdigValueError(
            f"memory_budget={_fmt(budget)} is too small: one path point needs about {_fmt(per_row)} (measured) "
            f"besides {_fmt(fixed)} for the per-sample accumulators; give at least {_fmt(fixed + per_row)}, "
            "explain fewer samples at once, or set internal_batch_size yourself"
        )
    return int(max(1, min(most, room // per_row)))


def _fmt(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"
