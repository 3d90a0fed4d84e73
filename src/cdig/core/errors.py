"""The exceptions and warnings cdig raises: one family, so callers can catch them all."""

from __future__ import annotations

__all__ = [
    "CdigError",
    "CdigValueError",
    "CdigTypeError",
    "CdigModelError",
    "CdigWarning",
    "ConvergenceWarning",
]


class CdigError(Exception):
    """Base class of every error cdig raises on purpose."""


class CdigValueError(CdigError, ValueError):
    """An argument has the right type but a value cdig cannot use."""


class CdigTypeError(CdigError, TypeError):
    """An argument has a type cdig cannot use."""


class CdigModelError(CdigError, ValueError):
    """The model cannot be explained as given (e.g. its output does not depend on the input)."""


class CdigWarning(UserWarning):
    """Base class of cdig's warnings."""


class ConvergenceWarning(CdigWarning):
    """The path integral's completeness error is larger than the tolerance asked for."""
