"""cdig — Cross-Domain Integrated Gradients for time-series models.

>>> import cdig
>>> sorted(cdig.DOMAINS)
['fourier', 'ica', 'time']
"""

from .api import CrossDomainIG, explain
from .core.attribution import Attribution
from .core.errors import (
    CdigError,
    CdigModelError,
    CdigTypeError,
    CdigValueError,
    CdigWarning,
    ConvergenceWarning,
)
from .core.rules import RULES
from .domains import DOMAINS, ICA, Domain, Fourier, Time

__version__ = "0.1.0"

__all__ = [
    "explain", "CrossDomainIG", "Attribution", "Domain", "Time", "Fourier", "ICA", "DOMAINS", "RULES",
    "CdigError", "CdigValueError", "CdigTypeError", "CdigModelError", "CdigWarning", "ConvergenceWarning",
]
