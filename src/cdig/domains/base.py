"""The Domain base class: a transform ``z = T(x)`` with a differentiable inverse."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..core.errors import CdigError, CdigValueError

__all__ = ["Domain", "DOMAINS", "registered"]

#: Every named domain class by its ``name``, filled by subclassing :class:`Domain` (see
#: :meth:`Domain.__init_subclass__`); ordered by the classes' ``order``, then by definition.
_REGISTRY: dict[str, type[Domain]] = {}

#: Domain names accepted by :func:`cdig.explain`; each makes a fresh object with its defaults.
#: Domains that need parameters (STFT's n_fft, a basis, bands' fs, a period) are passed as objects.
#: Derived from the registered classes whose ``parameter_free`` is true (kept up to date in place).
DOMAINS: dict[str, Callable[[], Domain]] = {}


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
    needs_fs : bool
        Whether the constructor must be given ``fs``, the sampling rate in Hz (e.g. bands in Hz).
    parameter_free : bool
        Whether ``cls()`` is ready to explain any input, so that the domain can be asked for by name
        (:data:`DOMAINS`); default: the constructor has no required parameter and ``needs_fs`` is false.
    coord_units : dict of str to (str, str)
        Unit of each coordinate axis with a unit, with and without the sampling rate ``fs``
        (``{"frequency": ("Hz", "cycles/sample")}``), as :meth:`coords` reports them.
    plot : str or None
        Name of the function of :mod:`cdig.plot` that draws this domain's maps, or
        ``"module:function"`` (None: chosen by the map's axes, else :func:`cdig.plot.plot_generic`).
    order : int
        Position in listings (:data:`DOMAINS`, the command line's choices); ties keep definition order.

    Notes
    -----
    Registration by subclassing: a subclass declared ``class D(cdig.Domain, register=True)`` that
    sets its own ``name`` (in its class body) and implements ``forward`` and ``inverse`` is registered
    under that name, as each of cdig's own domains is, and then found by name with nothing else to
    edit: in :data:`DOMAINS` when it is ``parameter_free`` (so :func:`cdig.domains.resolve` and
    :func:`cdig.explain` make it from its name), by :mod:`cdig.plot` (its ``plot``) and by the
    command line's ``--domain`` (``parameter_free``, or ``needs_fs`` and made from ``fs`` alone).
    Other subclasses (a domain written for one experiment or test) are passed as objects and change
    no list that others see. A name of one of cdig's own domains is refused; registering a name
    again (a notebook cell run again) replaces the earlier class. :meth:`describe` and ``repr`` are
    built from the constructor's parameters (:meth:`get_params`).

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
    needs_fs: ClassVar[bool] = False
    parameter_free: ClassVar[bool] = False
    coord_units: ClassVar[dict[str, tuple[str, str]]] = {}
    plot: ClassVar[str | None] = None
    order: ClassVar[int] = 1000
    #: Constructor parameters that :meth:`describe` leaves out (objects a saved result cannot hold, such
    #: as a fitted estimator: such a domain then cannot be rebuilt from its description, by design).
    _undescribed: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, register: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "parameter_free" not in cls.__dict__:
            cls.parameter_free = not cls.needs_fs and not _required_parameters(cls)
        if "order" not in cls.__dict__:
            cls.order = Domain.order  # a new domain is listed after cdig's, even when it subclasses one
        name = cls.__dict__.get("name")
        concrete = cls.forward is not Domain.forward and cls.inverse is not Domain.inverse
        if register and isinstance(name, str) and concrete:
            _register(cls, name)

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

    def check_fitted(self, *attrs: str) -> None:
        """Raise unless every fitted attribute ``attrs`` (default ``n_times_``) is set and not None.

        The one "not fitted" check of the domains (scikit-learn's ``check_is_fitted``).

        Raises
        ------
        CdigValueError
            Naming the domain and saying to call :meth:`fit` first.

        Examples
        --------
        >>> from cdig.domains import Fourier
        >>> Fourier().check_fitted()
        Traceback (most recent call last):
        ...
        cdig.core.errors.CdigValueError: this Fourier domain is not fitted: call .fit(x) with a (N, C, T) batch first ...
        """
        if any(getattr(self, a, None) is None for a in (attrs or ("n_times_",))):
            raise CdigValueError(
                f"this {type(self).__name__} domain is not fitted: call .fit(x) with a (N, C, T) batch first (cdig.explain does)"
            )

    def fitted_length(self, a: Any = None) -> int:
        """The length ``n_times_`` the domain was fitted to, after checking ``a``'s last axis against it
        (``a=None``: only that the domain is fitted).

        For domains that precompute per-length tables in :meth:`fit` (a gather with indices for another
        length would silently read the wrong samples: JAX clamps out-of-range indices).
        """
        self.check_fitted("n_times_")
        n = int(getattr(self, "n_times_"))  # noqa: B009 - declared by the subclasses that fit a length
        t = None if a is None else a.shape[-1]
        if t is not None and int(t) != n:
            raise CdigValueError(
                f"this {type(self).__name__} domain was fitted to {n} samples, got an array with "
                f"{int(t)} along its last axis: call .fit(x) again"
            )
        return n

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

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their values, read from the attributes of the same names.

        As scikit-learn's ``get_params``: the ``__init__`` signature is the parameter list (a
        ``*args`` parameter reads the attribute as a tuple); a parameter the object does not keep under
        its own name is left out.

        Examples
        --------
        >>> from cdig.domains import DCT
        >>> DCT(type=3).get_params()
        {'type': 3, 'norm': 'ortho'}
        """
        out: dict[str, Any] = {}
        for p in _init_parameters(type(self)):
            if p.kind is p.VAR_KEYWORD or not hasattr(self, p.name):
                continue
            out[p.name] = getattr(self, p.name)
        return out

    def describe(self) -> dict[str, Any]:
        """The domain's settings, recorded in each result: its name, class, linearity and parameters.

        The parameters are :meth:`get_params` (less ``_undescribed``), under their own names: then
        :meth:`from_description` can rebuild the domain from a saved result (see there).

        Examples
        --------
        >>> from cdig.domains import DCT
        >>> DCT().describe()
        {'name': 'dct', 'class': 'DCT', 'linear': True, 'type': 2, 'norm': 'ortho'}
        """
        params = {k: v for k, v in self.get_params().items() if k not in self._undescribed}
        return {"name": self.name, "class": type(self).__name__, "linear": self.linear, **params}

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
        params = _init_parameters(cls)
        variadic = [p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        missing = [p.name for p in params if p.name not in description and p.name not in variadic]
        if variadic or missing:
            what = (
                f"it takes *{variadic[0]}"
                if variadic
                else f"its constructor's parameter(s) {', '.join(missing)} are not recorded by describe()"
            )
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
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    """The parameters of ``cls.__init__`` after ``self`` (none for a class without its own)."""
    init = cls.__init__  # type: ignore[misc]
    return [] if init is object.__init__ else list(inspect.signature(init).parameters.values())[1:]


def _required_parameters(cls: type) -> list[str]:
    return [p.name for p in _init_parameters(cls) if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _builtin(cls: type) -> bool:
    """Whether ``cls`` is one of cdig's own domains (defined in :mod:`cdig.domains`)."""
    return cls.__module__.startswith("cdig.domains.")


def _register(cls: type[Domain], name: str) -> None:
    """Add ``cls`` to the registry under ``name`` and refresh :data:`DOMAINS` (in place, in order)."""
    key = name.lower()
    old = _REGISTRY.get(key)
    if old is not None and _builtin(old) and not _builtin(cls):
        raise CdigValueError(
            f"the domain name {name!r} is cdig's {old.__name__}; give {cls.__name__} another name "
            "(or pass its objects without registering it)"
        )
    _REGISTRY[key] = cls
    _refresh()


def _refresh() -> None:
    ordered = sorted(_REGISTRY.items(), key=lambda kv: kv[1].order)  # stable: ties keep definition order
    _REGISTRY.clear()
    _REGISTRY.update(ordered)
    DOMAINS.clear()
    DOMAINS.update((k, c) for k, c in ordered if c.parameter_free)


def registered() -> dict[str, type[Domain]]:
    """Every registered domain class by name, in listing order (a copy).

    The domains cdig can make from a name alone are :data:`DOMAINS`; those whose ``needs_fs`` is
    set are made from a name and ``fs`` (see :func:`cdig.domains.make`).

    Examples
    --------
    >>> from cdig.domains import registered
    >>> [name for name, cls in registered().items() if cls.needs_fs]
    ['bands']
    """
    return dict(_REGISTRY)


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
