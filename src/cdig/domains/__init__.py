"""One small module per domain; :func:`resolve` turns names into Domain objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..core.errors import CdigTypeError, CdigValueError
from .bands import FrequencyBands
from .base import Domain
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
    "Domain", "Time", "Fourier", "ICA", "STFT", "DCT", "Wavelet", "LinearBasis", "FrequencyBands",
    "TrendSeason", "MagnitudePhase", "ComplexCepstrum", "Compose", "DOMAINS", "resolve", "rebuild",
]

#: Domain names accepted by :func:`cdig.explain`; each makes a fresh object with its defaults.
#: Domains that need parameters (STFT's n_fft, a basis, bands' fs, a period) are passed as objects.
DOMAINS: dict[str, Callable[[], Domain]] = {
    "time": Time, "fourier": Fourier, "ica": ICA, "dct": DCT, "wavelet": Wavelet,
    "magphase": MagnitudePhase, "cepstrum": ComplexCepstrum,
}


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
        raise CdigValueError(f"no domain description to rebuild from (got {description!r}); it is settings['domain'] "
                             "of a result of cdig.explain")
    cls = _CLASSES.get(description["class"])
    if cls is None:
        raise CdigValueError(f"{description['class']} is not one of cdig's domains ({', '.join(sorted(_CLASSES))}); "
                             "a domain of another class cannot be rebuilt from its name")
    return cls.from_description(description)


#: cdig's domain classes by name, for :func:`rebuild` (derived from ``__all__``).
_CLASSES: dict[str, type[Domain]] = {
    name: obj for name, obj in ((n, globals()[n]) for n in __all__)
    if isinstance(obj, type) and issubclass(obj, Domain) and obj is not Domain
}
