"""The Domain base class: a transform ``z = T(x)`` with a differentiable inverse."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.errors import CdigError, CdigValueError

__all__ = ["Domain"]


class Domain:
    """A domain to explain a model in: write ``forward``, ``inverse`` and set ``linear``.

    Both transforms work on a batch in the canonical layout ``(N, C, T)`` (cdig moves the user's
    time axis there) and are written with ``xp``, an Array-API namespace of the model's framework
    (``xp.fft.rfft``, ``xp.matmul``, ``xp.exp``, ...), so gradients flow through them on any backend
    and device. Constants go to the input's device and dtype with ``self.constant(c, like=x, xp=xp)``.

    * A **linear** (or affine) domain, ``x = M z + b``, rides the shared time-domain pass: its map is
      ``Re[Δz ⊙ conj(Mᴴ ḡ)]`` from one vector–Jacobian product of ``inverse``; no extra model calls.
    * A **nonlinear** domain (``linear = False``) is integrated along its own straight path in ``z``
      through ``inverse``.

    Attributes
    ----------
    name : str
        Key of the domain in the result of :func:`cdig.explain`.
    linear : bool
        Whether ``inverse`` is affine in ``z``.
    dims : tuple of str or None
        Names of the axes of the coefficients after the sample axis (None: ``axis1, axis2, ...``).

    Examples
    --------
    A domain of the time-reversed signal (linear, its own inverse):

    >>> import cdig
    >>> class Reversed(cdig.Domain):
    ...     name, linear, dims = "reversed", True, ("channel", "time")
    ...     def forward(self, x, xp):
    ...         return xp.flip(x, axis=-1)
    ...     def inverse(self, z, xp):
    ...         return xp.flip(z, axis=-1)
    >>> Reversed().describe()["name"]
    'reversed'
    """

    name: str = "domain"
    linear: bool = True
    dims: tuple[str, ...] | None = None

    def fit(self, x: np.ndarray) -> "Domain":
        """Prepare for a batch ``x`` (numpy, canonical ``(N, C, T)``); called by cdig before use."""
        return self

    def forward(self, x: Any, xp: Any) -> Any:
        """Coefficients of a canonical batch ``x`` of shape ``(N, C, T)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, xp)")

    def inverse(self, z: Any, xp: Any) -> Any:
        """The canonical batch ``(N, C, T)`` whose coefficients are ``z``; differentiable in ``z``."""
        raise NotImplementedError(f"{type(self).__name__} must implement inverse(z, xp)")

    @staticmethod
    def constant(value: Any, like: Any, xp: Any) -> Any:
        """``value`` (numpy) as an array of ``xp`` with the dtype and device of ``like``.

        Works inside traced code too (JAX tracers have no ``device``).
        """
        device = getattr(like, "device", None)
        if device is None or callable(device):
            return xp.asarray(value, dtype=like.dtype)
        return xp.asarray(value, dtype=like.dtype, device=device)

    @staticmethod
    def index(idx: np.ndarray, like: Any, xp: Any) -> Any:
        """An integer index array (numpy) as an array of ``xp`` on the device of ``like`` (for ``xp.take``)."""
        device = getattr(like, "device", None)
        if device is None or callable(device):
            return xp.asarray(idx)
        return xp.asarray(idx, device=device)

    def fitted_length(self, a: Any = None) -> int:
        """The length ``n_times_`` the domain was fitted to, after checking ``a``'s last axis against it
        (``a=None``: only that the domain is fitted).

        For domains that precompute per-length tables in :meth:`fit` (a gather with indices for another
        length would silently read the wrong samples: JAX clamps out-of-range indices).
        """
        n = getattr(self, "n_times_", None)
        if n is None:
            raise CdigValueError(f"this {type(self).__name__} domain is not fitted: call .fit(x) with a (N, C, T) "
                                 "batch first")
        t = None if a is None else a.shape[-1]
        if t is not None and int(t) != n:
            raise CdigValueError(f"this {type(self).__name__} domain was fitted to {n} samples, got an array with "
                                 f"{int(t)} along its last axis: call .fit(x) again")
        return int(n)

    def select_rows(self, idx: np.ndarray) -> "Domain":
        """The domain for rows that belong to samples ``idx`` (differs only for per-sample domains)."""
        return self

    def coords(self, shape: tuple[int, ...], fs: float | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Coordinates and units of the map's axes; ``shape`` is the map's shape without the sample axis."""
        return {}, {}

    def axis_names(self, ndim: int) -> tuple[str, ...]:
        if self.dims is not None and len(self.dims) == ndim:
            return tuple(self.dims)
        return tuple(f"axis{i}" for i in range(1, ndim + 1))

    def reduce(self, values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, dict[str, np.ndarray]]:
        """Turn the per-coefficient map into the reported one: ``(values, dims or None, extras)``."""
        return values, None, {}

    def value_index(self, shape: tuple[int, ...]) -> np.ndarray:
        """For each coefficient (``shape``: one sample's coefficients), the flat index of the reported
        value it counts towards: the inverse of :meth:`reduce`, used by :mod:`cdig.metrics` to remove or
        insert everything a reported value stands for. Default: one value per coefficient.

        A domain whose :meth:`reduce` sums coefficients into fewer values overrides both.

        Examples
        --------
        >>> Domain().value_index((2, 3)).tolist()
        [[0, 1, 2], [3, 4, 5]]
        """
        return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)

    def batch_dependent(self) -> str | None:
        """Why this domain would differ from one batch to the next (it fits itself on each batch), or
        None. Explaining a data set chunk by chunk refuses such a domain: fit it once beforehand."""
        return None

    def describe(self) -> dict[str, Any]:
        """The domain's settings, recorded in each result.

        A subclass adds its constructor's parameters under their own names: then
        :meth:`from_description` can rebuild it from a saved result (see there).
        """
        return {"name": self.name, "class": type(self).__name__, "linear": self.linear}

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> "Domain":
        """The unfitted domain that ``description`` (what :meth:`describe` recorded) stands for.

        Every parameter of the constructor must be recorded in ``description`` under its own name:
        then the new object is configured exactly as the one described, and fitting it on the
        explained input gives it the same fitted state (cdig's :meth:`fit` depends only on the
        parameters and the batch). A domain built from objects that ``describe()`` does not record
        (a fitted ICA, a basis, the parts of a ``Compose``) cannot be rebuilt: that is an error, never
        a guess. JSON has no tuples, so recorded lists are passed as tuples.

        Raises
        ------
        CdigValueError
            When a constructor parameter is not recorded, or the constructor refuses the recorded values.

        Examples
        --------
        >>> from cdig.domains import DCT, ICA
        >>> DCT.from_description({"name": "dct", "class": "DCT", "type": 3, "norm": "ortho"})
        DCT(type=3, norm='ortho')
        >>> ICA.from_description(ICA().describe())
        Traceback (most recent call last):
        ...
        cdig.core.errors.CdigValueError: ICA cannot be rebuilt from its recorded settings: its constructor's ...
        """
        init = cls.__init__
        params = [] if init is object.__init__ else list(inspect.signature(init).parameters.values())[1:]
        variadic = [p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        missing = [p.name for p in params if p.name not in description and p.name not in variadic]
        if variadic or missing:
            what = (f"it takes *{variadic[0]}" if variadic else
                    f"its constructor's parameter(s) {', '.join(missing)} are not recorded by describe()")
            raise CdigValueError(f"{cls.__name__} cannot be rebuilt from its recorded settings: {what}")
        kwargs = {p.name: _tuples(description[p.name]) for p in params}
        try:
            domain = cls(**kwargs)
        except (CdigError, TypeError, ValueError) as e:
            raise CdigValueError(f"{cls.__name__} cannot be rebuilt from its recorded settings {kwargs}: {e}") from None
        name = description.get("name")
        if isinstance(name, str) and name != domain.name:
            domain.name = name  # a user's renamed instance: the name is only the result's key
        return domain

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _tuples(value: Any) -> Any:
    """Lists (what JSON makes of tuples) as tuples, inside dicts too."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def time_coords(n: int, fs: float | None) -> tuple[np.ndarray, str]:
    """Sample times in seconds when ``fs`` is known, else sample indices."""
    if fs is None:
        return np.arange(n, dtype=float), "sample"
    return np.arange(n) / float(fs), "s"
