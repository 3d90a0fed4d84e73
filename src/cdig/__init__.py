"""cdig — Cross-Domain Integrated Gradients for time-series models.

>>> import cdig
>>> sorted(cdig.DOMAINS)
['cepstrum', 'dct', 'fourier', 'ica', 'magphase', 'time', 'wavelet']
"""

from .api import CrossDomainIG, explain
from .core.attribution import Attribution
from .core.draws import References
from .core.errors import (
    CdigError,
    CdigModelError,
    CdigTypeError,
    CdigValueError,
    CdigWarning,
    ConvergenceWarning,
)
from .core.rules import RULES
from .dataset import ExplainedDataset, Windows, explain_dataset, open_explained, windows
from .domains import (
    DCT,
    DOMAINS,
    ICA,
    STFT,
    ComplexCepstrum,
    Compose,
    Domain,
    Fourier,
    FrequencyBands,
    LinearBasis,
    MagnitudePhase,
    Time,
    TrendSeason,
    Wavelet,
)

__version__ = "0.1.0"

__all__ = [
    "explain",
    "CrossDomainIG",
    "Attribution",
    "References",
    "explain_dataset",
    "open_explained",
    "ExplainedDataset",
    "windows",
    "Windows",
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
    "RULES",
    "CdigError",
    "CdigValueError",
    "CdigTypeError",
    "CdigModelError",
    "CdigWarning",
    "ConvergenceWarning",
]

#: Submodules at the edges, imported on first use (``cdig.metrics.deletion(...)`` after ``import cdig``).
_LAZY = (
    "metrics",
    "plot",
    "report",
    "datasets",
    "data",
    "io",
    "compat",
    "demo",
    "results",
    "training",
    "testing",
    "perturb",
    "ranking",
    "explorer",
)


#: Functions of those submodules offered at the top level too (``cdig.rank_domains(...)``).
_LAZY_FUNCTIONS = {"rank_domains": "ranking"}


def __getattr__(name: str):
    if name in _LAZY or name in _LAZY_FUNCTIONS:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY_FUNCTIONS.get(name, name)}")
        return getattr(module, name) if name in _LAZY_FUNCTIONS else module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
