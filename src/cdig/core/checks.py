"""Validation of user input at the boundary: each error names the argument, the value and what is accepted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from .errors import CdigTypeError, CdigValueError
from .rules import RULES

__all__ = [
    "check_input",
    "check_baseline",
    "check_steps",
    "MAX_STEPS",
    "MAX_GAUSS_STEPS",
    "check_int",
    "check_real",
    "check_choice",
    "check_bool",
    "check_positive_int",
    "Layout",
]


def check_input(x: np.ndarray, name: str = "x") -> None:
    """A batch of real floating-point signals, (N, T) or (N, C, T)/(N, T, C), finite, not empty."""
    if x.dtype.kind in "biu":
        raise CdigTypeError(
            f"{name} has integer/boolean dtype {x.dtype}; IG needs a floating-point signal (convert it, e.g. x.astype('float32'))"
        )
    if x.dtype.kind == "c":
        raise CdigTypeError(
            f"{name} is complex ({x.dtype}); pass the real time-domain signal and choose a domain such as "
            "'fourier' to explain its spectrum"
        )
    if x.dtype.kind != "f":
        raise CdigTypeError(f"{name} has dtype {x.dtype}; a floating-point array is accepted")
    if x.ndim not in (2, 3):
        raise CdigValueError(
            f"{name} has shape {x.shape}; accepted: a batch (N, T) of univariate series or (N, C, T) / "
            "(N, T, C) of multichannel ones (add a batch axis for a single series: x[None])"
        )
    if x.shape[0] == 0:
        raise CdigValueError(f"{name} is an empty batch (shape {x.shape}); give at least one sample")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise CdigValueError(f"{name} contains {bad} NaN/Inf value(s); all values must be finite")


def check_baseline(baseline: Any, x_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A time-domain baseline: None (zeros), a scalar or an array broadcastable to ``x``."""
    if baseline is None:
        return np.zeros(x_shape, dtype=dtype)
    b = np.asarray(baseline)
    if b.dtype.kind == "c":
        raise CdigTypeError(
            "baselines is complex: a time-domain baseline must be real; give Fourier coefficients as "
            "baselines={'fourier': coefficients}"
        )
    if b.dtype.kind not in "biuf":
        raise CdigTypeError(f"baselines must be numeric, got dtype {b.dtype}")
    try:
        b = np.broadcast_to(b, x_shape)
    except ValueError:
        raise CdigValueError(
            f"baselines has shape {b.shape}, which does not broadcast to the input's shape {x_shape}; "
            "accepted: None, a scalar, or an array broadcastable to the input"
        ) from None
    if not np.all(np.isfinite(b)):
        raise CdigValueError("baselines contains NaN/Inf values; all values must be finite")
    return np.array(b, dtype=dtype)


def _bounds(min: float | None, max: float | None, include_min: bool = True, include_max: bool = True) -> str:
    """What a range accepts, in words: ``>= 1``, ``< 1``, ``in [0, 1)``."""
    if min is not None and max is not None:
        return f"in {'[' if include_min else '('}{min}, {max}{']' if include_max else ')'}"
    if min is not None:
        return f"{'>=' if include_min else '>'} {min}"
    if max is not None:
        return f"{'<=' if include_max else '<'} {max}"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@overload
def check_int(
    value: Any, name: str, *, min: int | None = None, max: int | None = None, allow_none: Literal[False] = False
) -> int: ...


@overload
def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None, allow_none: bool = ...) -> int | None: ...


def check_int(value: Any, name: str, *, min: int | None = None, max: int | None = None, allow_none: bool = False) -> int | None:
    """``value`` as a Python int in ``[min, max]`` (bounds included; None: unbounded).

    Python and numpy integers are accepted, ``bool`` is not (``True`` is rarely meant as ``1``).

    Raises
    ------
    CdigTypeError
        ``value`` is not an integer (nor None when ``allow_none``).
    CdigValueError
        ``value`` is outside ``[min, max]``.

    Examples
    --------
    >>> check_int(np.int64(3), "n_fft", min=1)
    3
    >>> check_int(0, "n_fft", min=1)
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: n_fft=0 is too small: it must be >= 1
    """
    if value is None and allow_none:
        return None
    bounds = _bounds(min, max)
    if not _is_int(value):
        accepted = f"an int{' ' + bounds if bounds else ''}{' or None' if allow_none else ''}"
        raise CdigTypeError(f"{name} must be {accepted}, got {value!r}")
    v = int(value)
    if min is not None and v < min:
        raise CdigValueError(f"{name}={v!r} is too small: it must be {bounds}")
    if max is not None and v > max:
        raise CdigValueError(f"{name}={v!r} is too large: it must be {bounds}")
    return v


@overload
def check_real(
    value: Any,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
    allow_none: Literal[False] = False,
    finite: bool = True,
) -> float: ...


@overload
def check_real(
    value: Any,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
    allow_none: bool = ...,
    finite: bool = True,
) -> float | None: ...


def check_real(
    value: Any,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
    allow_none: bool = False,
    finite: bool = True,
) -> float | None:
    """``value`` as a Python float within the bounds (``include_min``/``include_max``: closed ends).

    Python and numpy integers and floats are accepted, ``bool`` is not. NaN is always refused; so is
    ±inf when ``finite`` (the default).

    Raises
    ------
    CdigTypeError
        ``value`` is not a real number (nor None when ``allow_none``).
    CdigValueError
        ``value`` is NaN, infinite while ``finite``, or outside the bounds.

    Examples
    --------
    >>> check_real(np.float32(0.5), "threshold", min=0, max=1, include_min=False)
    0.5
    >>> check_real(0, "threshold", min=0, max=1, include_min=False)
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: threshold=0.0 is too small: it must be in (0, 1]
    """
    if value is None and allow_none:
        return None
    bounds = _bounds(min, max, include_min, include_max)
    if not (_is_int(value) or isinstance(value, (float, np.floating))):
        kind = "a finite real number" if finite else "a real number"
        accepted = f"{kind}{' ' + bounds if bounds else ''}{' or None' if allow_none else ''}"
        raise CdigTypeError(f"{name} must be {accepted}, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        v = np.inf if value > 0 else -np.inf
    if np.isnan(v) or (finite and np.isinf(v)):
        extra = f" {bounds}" if bounds else ""
        raise CdigValueError(f"{name}={v!r}: it must be a {'finite ' if finite else ''}number{extra}")
    if min is not None and (v < min if include_min else v <= min):
        raise CdigValueError(f"{name}={v!r} is too small: it must be {bounds}")
    if max is not None and (v > max if include_max else v >= max):
        raise CdigValueError(f"{name}={v!r} is too large: it must be {bounds}")
    return v


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices`` (``True`` does not stand for ``1``), else a CdigValueError.

    Examples
    --------
    >>> check_choice("reflect", "edges", ("reflect", "shrink"))
    'reflect'
    >>> check_choice("wrap", "edges", ("reflect", "shrink"))
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: edges='wrap' is not accepted: it must be 'reflect' or 'shrink'
    """
    choices = tuple(choices)
    for c in choices:
        try:
            same = isinstance(value, (bool, np.bool_)) == isinstance(c, (bool, np.bool_)) and bool(value == c)
        except (TypeError, ValueError):  # e.g. an array compared with a string
            same = False
        if same:
            return c
    names = [repr(c) for c in choices]
    accepted = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
    raise CdigValueError(f"{name}={value!r} is not accepted: it must be {accepted}")


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a Python bool; Python and numpy booleans are accepted, ``0``/``1`` are not."""
    if not isinstance(value, (bool, np.bool_)):
        raise CdigTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


@overload
def check_positive_int(value: Any, name: str, minimum: int = 1, allow_none: Literal[False] = False) -> int: ...


@overload
def check_positive_int(value: Any, name: str, minimum: int = 1, allow_none: bool = ...) -> int | None: ...


def check_positive_int(value: Any, name: str, minimum: int = 1, allow_none: bool = False) -> int | None:
    """:func:`check_int` with a lower bound only (``minimum``, 1 by default)."""
    return check_int(value, name, min=minimum, allow_none=allow_none)


#: Most points of a fixed rule (``n_steps``) and most gradient evaluations per sample of ``"auto"``
#: (``max_steps``): the rule's nodes and weights, and the row plan, are arrays of this length, and no
#: integrand cdig can resolve needs more (float32 cannot tell apart nodes closer than about 1e-7).
MAX_STEPS = 100_000
#: Most Gauss–Legendre points: their nodes take O(n²) time to compute (2 s at 10 000, 23 s at 32 768),
#: and their accuracy is reached with far fewer (use ``n_steps="auto"`` for hard integrands).
MAX_GAUSS_STEPS = 10_000


def check_steps(n_steps: Any, method: str, rtol: Any, max_steps: Any) -> None:
    """``n_steps`` is an int (checked against the rule in :func:`cdig.core.rules.get_rule`) at most
    :data:`MAX_STEPS` (:data:`MAX_GAUSS_STEPS` for Gauss–Legendre) or ``"auto"`` with ``max_steps``
    in ``[15, MAX_STEPS]``.

    Examples
    --------
    >>> check_steps(10**9, "riemann_middle", 1e-3, 4096)
    Traceback (most recent call last):
    ...
    cdig.core.errors.CdigValueError: n_steps=1000000000 is too large for method='riemann_middle': accepted are ...
    """
    check_choice(method, "method", sorted(RULES))
    if isinstance(n_steps, str):
        if n_steps != "auto":
            raise CdigValueError(f"n_steps={n_steps!r}: accepted are a positive int or 'auto'")
        if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
            raise CdigValueError(f"rtol={rtol!r}: it must be a float in (0, 1), e.g. 1e-3")
        check_positive_int(max_steps, "max_steps", minimum=15)
        if max_steps > MAX_STEPS:
            raise CdigValueError(
                f"max_steps={max_steps} is too large: accepted are 15 to {MAX_STEPS:_} gradient evaluations per "
                "sample (no integrand cdig can resolve in float32 needs more); raise rtol instead"
            )
        return
    if isinstance(n_steps, (int, np.integer)) and not isinstance(n_steps, bool):
        most = MAX_GAUSS_STEPS if method == "gausslegendre" else MAX_STEPS
        if n_steps > most:
            why = (
                "Gauss-Legendre nodes take O(n^2) time to compute"
                if method == "gausslegendre"
                else "the rule's nodes, weights and row plan are arrays of n_steps entries"
            )
            raise CdigValueError(
                f"n_steps={int(n_steps)} is too large for method={method!r}: accepted are up to {most:_} ({why}); "
                "for a hard integrand use n_steps='auto' with rtol"
            )


@dataclass(frozen=True)
class Layout:
    """Where the time axis is: maps the user's layout to the canonical (N, C, T) and back.

    Domains always see (N, C, T); 2-D inputs (N, T) get a channel axis of one, which the maps drop again.
    """

    ndim: int
    time_axis: int

    @classmethod
    def make(cls, shape: tuple[int, ...], time_axis: Any) -> "Layout":
        ndim = len(shape)
        axis = check_int(time_axis, "time_axis")
        ax = axis + ndim if axis < 0 else axis
        if not 1 <= ax < ndim:
            raise CdigValueError(
                f"time_axis={time_axis} is not valid for an input of shape {shape}: the batch axis is 0, "
                f"so accepted are {', '.join(str(a) for a in range(1, ndim))} (or negative equivalents)"
            )
        if shape[ax] < 2:
            raise CdigValueError(f"the time axis (axis {ax}) has {shape[ax]} sample(s); at least 2 are needed")
        return cls(ndim, ax)

    @property
    def channels_last(self) -> bool:
        return self.ndim == 3 and self.time_axis == 1

    def canonical_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        if self.ndim == 2:
            return (shape[0], 1, shape[1])
        return (shape[0], shape[3 - self.time_axis], shape[self.time_axis])

    def to_canonical(self, x: Any, xp: Any) -> Any:
        if self.ndim == 2:
            return xp.expand_dims(x, axis=1)
        return xp.permute_dims(x, (0, 2, 1)) if self.channels_last else x

    def from_canonical(self, xc: Any, xp: Any) -> Any:
        if self.ndim == 2:
            return xc[:, 0, :]
        return xp.permute_dims(xc, (0, 2, 1)) if self.channels_last else xc

    def to_canonical_np(self, x: np.ndarray) -> np.ndarray:
        return self.to_canonical(x, _NumpyNs)

    def squeeze_channels(self, values: np.ndarray, dims: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
        """Drop the channel axis of a map again when the input had none."""
        if self.ndim == 2 and dims and dims[0] == "channel":
            return values[:, 0], dims[1:]
        return values, dims


class _NumpyNs:
    expand_dims = staticmethod(np.expand_dims)

    @staticmethod
    def permute_dims(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.transpose(x, axes)
