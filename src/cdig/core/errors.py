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
    """The path integral's completeness error is larger than the tolerance asked for, or the FastICA that
    ``ICA()`` fits itself did not converge."""


def one_line(e: BaseException) -> str:
    """The gist of an exception in one line (the last line of a message carrying a traceback), for
    error messages that quote a framework's or a file reader's own words.

    Examples
    --------
    >>> one_line(ValueError("Traceback (most recent call last):\\n  File x\\nKeyError: 'x'"))
    "KeyError: 'x'"
    >>> one_line(ValueError("two\\n   lines"))
    'two lines'
    """
    text = str(e)
    if "Traceback" in text:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        text = lines[-1] if lines else text
    text = " ".join(text.split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."
