"""One small module per domain; :func:`resolve` turns names into Domain objects.

Each domain describes itself (class attributes ``name``, ``needs_fs``, ``coord_units``, ``plot``, ...)
and is registered by subclassing :class:`Domain`; every list of domains elsewhere (:data:`DOMAINS`,
:mod:`cdig.plot`'s plotters, the command line's choices and help) is derived from that registry.
Every public module of this package is imported below, so a new domain is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from ..core.errors import CdigTypeError, CdigValueError
from .bands import FrequencyBands
from .base import DOMAINS, Domain, _init_parameters, _required_parameters, registered
from .basis import LinearBasis
from .cepstrum import ComplexCepstrum
from .compose import Compose
from .dct import DCT
from .fourier import Fourier
from .ica import ICA
from .magphase import MagnitudePhase
from .stft import STFT
from .time import Time
from .trend import TrendSeason
from .wavelet import Wavelet

__all__ = [
    "Domain",
    "Time",
    "Fourier",
    "ICA",
    "STFT",
    "DCT",
    "Wavelet",
    "LinearBasis",
    "FrequencyBands",
    "TrendSeason",
    "MagnitudePhase",
    "ComplexCepstrum",
    "Compose",
    "DOMAINS",
    "resolve",
    "rebuild",
    "registered",
    "make",
    "names",
]

# einops-style discovery: a domain module added to this package registers its classes on import.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
del _module


def names(*, with_fs: bool = False) -> list[str]:
    """The names :func:`make` accepts: :data:`DOMAINS`, then (``with_fs``) the domains made from ``fs`` alone.

    Examples
    --------
    >>> from cdig.domains import names
    >>> names(with_fs=True)[-1]
    'bands'
    """
    by_fs = [n for n, c in registered().items() if c.needs_fs and _made_from_fs(c)]
    return [*DOMAINS, *(by_fs if with_fs else [])]


def make(name: str, fs: float | None = None) -> Domain:
    """A fresh domain of a registered ``name`` with its defaults, given ``fs`` when it ``needs_fs``.

    Raises
    ------
    CdigValueError
        For a name :func:`names` does not list, or a domain that needs ``fs`` without it.

    Examples
    --------
    >>> from cdig.domains import make
    >>> make("bands", fs=128.0).fs
    128.0
    """
    key = name.strip().lower()
    if key not in names(with_fs=True):
        raise CdigValueError(f"unknown domain {name!r}; accepted: {', '.join(names(with_fs=True))}")
    cls = registered()[key]
    if not cls.needs_fs:
        return cls()
    if fs is None:
        raise CdigValueError(f"the {key} domain needs the sampling rate fs (Hz)")
    return cls(fs=fs)  # type: ignore[call-arg]


def _made_from_fs(cls: type[Domain]) -> bool:
    """Whether ``cls(fs=...)`` is all the domain needs."""
    return "fs" in [p.name for p in _init_parameters(cls)] and set(_required_parameters(cls)) <= {"fs"}


def resolve(domains: Any) -> list[Domain]:
    """Domain objects for ``domains``: a name, a Domain, or a sequence of them; names must be unique."""
    if isinstance(domains, (str, Domain)):
        domains = [domains]
    try:
        items = list(domains)
    except TypeError:
        raise CdigTypeError(f"domains must be a name, a Domain or a sequence of them, got {domains!r}") from None
    if not items:
        raise CdigValueError(f"domains is empty; give at least one of {', '.join(DOMAINS)} or a Domain object")
    out: list[Domain] = []
    for d in items:
        if isinstance(d, str):
            key = d.lower()
            if key not in DOMAINS:
                raise CdigValueError(f"unknown domain {d!r}; accepted names: {', '.join(DOMAINS)}, or a cdig.Domain object")
            out.append(DOMAINS[key]())
        elif isinstance(d, Domain):
            out.append(d)
        else:
            raise CdigTypeError(f"domains entries must be names or cdig.Domain objects, got {type(d).__name__}")
    names = [d.name for d in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CdigValueError(f"domain name(s) {dup} appear twice; give each Domain a distinct .name")
    return out


def rebuild(description: Any) -> Domain:
    """The unfitted cdig domain that a recorded ``describe()`` (``settings["domain"]``) stands for.

    The class is looked up by ``description["class"]`` among cdig's own domains (a user's subclass
    is not found: pass it as an object), then built by :meth:`Domain.from_description`. Fit it on
    the explained input to get the state that computed the result.

    Raises
    ------
    CdigValueError
        When the class is not one of cdig's domains or its recorded settings do not determine it.

    Examples
    --------
    >>> from cdig.domains import STFT, rebuild
    >>> rebuild(STFT(16, hop_length=4).describe())
    STFT(n_fft=16, hop_length=4, window='hann', center=True, pad_mode='constant')
    """
    if not isinstance(description, Mapping) or not isinstance(description.get("class"), str):
        raise CdigValueError(
            f"no domain description to rebuild from (got {description!r}); it is settings['domain'] of a result of cdig.explain"
        )
    cls = _CLASSES.get(description["class"])
    if cls is None:
        raise CdigValueError(
            f"{description['class']} is not one of cdig's domains ({', '.join(sorted(_CLASSES))}); "
            "a domain of another class cannot be rebuilt from its name"
        )
    return cls.from_description(description)


def _own_classes(cls: type[Domain] = Domain) -> dict[str, type[Domain]]:
    """cdig's public domain classes (defined in this package's public modules), by class name."""
    out: dict[str, type[Domain]] = {}
    for sub in cls.__subclasses__():
        module = sub.__module__
        if module.startswith(f"{__name__}.") and not module.rsplit(".", 1)[-1].startswith("_"):
            out[sub.__name__] = sub
        out.update(_own_classes(sub))
    return out


#: cdig's domain classes by name, for :func:`rebuild`.
_CLASSES: dict[str, type[Domain]] = _own_classes()
