"""``internal_batch_size="auto"``: path points per pass sized to a memory budget.

The memory of an explanation above what the caller holds is

* **per sample** (:func:`fixed_bytes`): copies of the input the explanation keeps (baseline, path
  ends and direction, the double-precision accumulators: two for ``n_steps="auto"``), each
  domain's coefficients, baseline coefficients, transforms and the maps returned, and for
  ``n_steps="auto"`` the host store of interval contributions (:func:`adaptive_store_bytes`, a
  share of the budget, at most :data:`cdig.core.path.STORE_BYTES`);
* **per chunk**: the model's forward and backward pass over ``internal_batch_size`` path points —
  what autograd keeps, the gradients flowing back, operators' workspaces — a cost per point plus a
  constant (workspaces, weight copies), both measured by the backend on probes of 1 and 2 points
  of the first sample (:data:`PROBE_ROWS`), after a forward-only probe has shown one point can fit.

It does not depend on ``n_steps``. The budget pays the per-sample part first and the chunk gets the
rest (:func:`chunk_rows`); where not even one point fits, :func:`chunk_rows` says which budget would.
Before any probe, :func:`minimum_budget` refuses budgets smaller than the per-sample part plus a
point's own bytes (estimated from the input's size alone), so the probes themselves stay inside it.
"""

from __future__ import annotations

import ctypes
import functools
import re
from typing import Any

import numpy as np

from .errors import CdigTypeError, CdigValueError

__all__ = [
    "parse_bytes",
    "chunk_rows",
    "fixed_bytes",
    "minimum_budget",
    "check_minimum",
    "adaptive_store_bytes",
    "allocated_bytes",
    "available_memory",
    "PROBE_ROWS",
    "DEFAULT_FRACTION",
    "HEURISTIC_FACTOR",
    "SAMPLE_COPIES",
    "DOMAIN_COPIES",
    "ADAPTIVE_COPIES",
    "STORE_SHARE",
    "CALIBRATE_FACTOR",
]

#: Probe sizes (path points) whose difference gives the bytes of one more point (2, not more: the
#: probe must fit budgets that hold only a few points).
PROBE_ROWS = (1, 2)
#: Without a budget: this share of the memory the device reports free.
DEFAULT_FRACTION = 0.5
#: Backends that cannot measure: assume one path point costs this many times its input's bytes.
HEURISTIC_FACTOR = 64
#: Per sample, copies of the input (in its precision) the explanation holds besides the caller's:
#: baseline, path ends and direction, calibration outputs' transients, the float64 accumulator (2).
SAMPLE_COPIES = 8
#: Per sample and domain: coefficients and baseline coefficients (complex: 2 each), the domain's
#: transient transforms (inverse, reconstruction check in float64, adjoint) and the map returned.
DOMAIN_COPIES = 14
#: ``n_steps="auto"``: the second float64 accumulator (error vector) and its mapped copies.
ADAPTIVE_COPIES = 6
#: ``n_steps="auto"``: share of the budget for the host store of interval contributions (at most
#: :data:`cdig.core.path.STORE_BYTES`); with less the rule re-evaluates instead of subtracting copies.
STORE_SHARE = 0.25
#: Calibration's forward passes (no gradients) take at most ``budget / (CALIBRATE_FACTOR · input
#: bytes)`` samples at once: before anything is measured, a forward pass is assumed to need this
#: many times its input.
CALIBRATE_FACTOR = 32

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


def chunk_rows(budget: int, per_row: float, fixed: float, most: int, chunk_fixed: float = 0.0, measured: bool = True) -> int:
    """Path points per pass that fit ``budget`` bytes: ``(budget - fixed - chunk_fixed) // per_row``,
    at most ``most``.

    ``fixed`` is what the explanation holds per sample (:func:`fixed_bytes`), ``chunk_fixed`` what a
    forward and backward pass costs whatever its size (workspaces), ``per_row`` one more path point.

    Examples
    --------
    >>> chunk_rows(10_000, 100.0, 2_000, 1_000)
    80
    >>> chunk_rows(10_000, 100.0, 2_000, 50)
    50
    >>> chunk_rows(10_000, 100.0, 2_000, 1_000, chunk_fixed=3_000)
    50
    """
    room = budget - fixed - chunk_fixed
    if room < per_row:
        need = fixed + chunk_fixed + per_row
        raise CdigValueError(
            f"memory_budget={format_bytes(budget)} is too small: one path point needs about "
            f"{format_bytes(per_row + chunk_fixed)} "
            f"({'measured' if measured else 'estimated'}) besides {format_bytes(fixed)} the explanation holds for its "
            f"samples (accumulators, coefficients, maps); give memory_budget >= {format_bytes(need)}, explain fewer "
            "samples at once, or set internal_batch_size yourself"
        )
    return int(max(1, min(most, room // per_row)))


def fixed_bytes(n: int, row_bytes: int, n_domains: int, adaptive: bool, store: int = 0) -> int:
    """Bytes an explanation of ``n`` samples of ``row_bytes`` each holds besides its chunks.

    :data:`SAMPLE_COPIES` copies of the input, :data:`DOMAIN_COPIES` per domain, and for the adaptive
    rule :data:`ADAPTIVE_COPIES` more and its host ``store`` (see :func:`adaptive_store_bytes`).

    Examples
    --------
    >>> fixed_bytes(2, 1000, 1, False)
    44000
    >>> fixed_bytes(2, 1000, 1, True, store=5000)
    61000
    """
    copies = SAMPLE_COPIES + DOMAIN_COPIES * max(1, n_domains) + (ADAPTIVE_COPIES if adaptive else 0)
    return int(n * row_bytes * copies + (store if adaptive else 0))


def adaptive_store_bytes(budget: int, most: int) -> int:
    """Host bytes ``n_steps="auto"`` may keep interval contributions in: :data:`STORE_SHARE` of the
    budget, at most ``most`` (:data:`cdig.core.path.STORE_BYTES`).

    Examples
    --------
    >>> adaptive_store_bytes(2**30, 2**28) == 2**28, adaptive_store_bytes(2**26, 2**28) == 2**24
    (True, True)
    """
    return int(min(most, budget * STORE_SHARE))


def minimum_budget(n: int, row_bytes: int, n_domains: int, adaptive: bool, store: int = 0) -> int:
    """The smallest budget that could hold the explanation: its per-sample part and one path point's
    own bytes (the point, its gradient and the direction: 3 input rows), estimated from the input's
    size alone, before the model runs. Budgets below it are refused before anything is allocated.
    ``n_domains=0``: not known yet (counted as one).

    Examples
    --------
    >>> minimum_budget(1, 2**22, 2, False) // 2**20
    156
    """
    return fixed_bytes(n, row_bytes, n_domains, adaptive, store) + 3 * row_bytes


def check_minimum(budget: int, n: int, row_bytes: int, n_domains: int, adaptive: bool, store: int = 0) -> None:
    """Refuse ``budget`` below :func:`minimum_budget`, naming ``memory_budget`` and what it needs.

    Examples
    --------
    >>> check_minimum(2**20, 1, 2**22, 2, False)
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: memory_budget=1 MiB is too small for 1 sample(s) of 4 MiB ...
    """
    need = minimum_budget(n, row_bytes, n_domains, adaptive, store)
    if budget < need:
        raise CdigValueError(
            f"memory_budget={format_bytes(budget)} is too small for {n} sample(s) of {format_bytes(row_bytes)}"
            + (f" and {n_domains} domain(s)" if n_domains else "")
            + f": the explanation alone holds about {format_bytes(need - 3 * row_bytes)} (input copies, accumulators, "
            f"coefficients, maps) before any path point; give memory_budget >= {format_bytes(need)} (more for the model's "
            "activations), explain fewer samples or domains at once, or set internal_batch_size yourself"
        )


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
    ]


@functools.cache
def _mallinfo2() -> Any:
    """glibc's ``mallinfo2``, looked up on first use (not at import); None where the C library lacks it."""
    try:
        fn = ctypes.CDLL(None).mallinfo2  # the process's own symbols, the C library's among them
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype = _Mallinfo2
    fn.argtypes = []
    return fn


def allocated_bytes() -> int | None:
    """Bytes the C allocator has handed out and not taken back (glibc's ``mallinfo2``: heap blocks in
    use plus ``mmap``-ed blocks); None where it cannot say (other C libraries).

    Examples
    --------
    >>> n = allocated_bytes()
    >>> n is None or n > 0
    True
    """
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return None
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


def format_bytes(n: float) -> str:
    """``n`` bytes in words: ``"1.5 MiB"``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"
