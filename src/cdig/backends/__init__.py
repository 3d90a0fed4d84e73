"""One small module per framework, imported lazily.

Like einops' ``_backends``: a backend is only loaded when its framework is already imported by the
user (it is in ``sys.modules``) or asked for by name, so cdig itself never imports torch, TensorFlow
or JAX on its own.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from ..core.errors import CdigTypeError, CdigValueError
from .base import Backend

__all__ = ["Backend", "get_backend", "get_backend_by_name", "BACKENDS"]

#: backend name -> (module holding it, the framework module it needs)
BACKENDS: dict[str, tuple[str, str]] = {
    "torch": ("cdig.backends.torch", "torch"),
}


def _load(name: str) -> type[Backend]:
    module, _ = BACKENDS[name]
    return importlib.import_module(module).BACKEND  # type: ignore[no-any-return]


def get_backend_by_name(name: str) -> type[Backend]:
    """The backend class called ``name`` (imports its framework)."""
    if name not in BACKENDS:
        raise CdigValueError(f"backend={name!r} is not known; accepted: {', '.join(sorted(BACKENDS))}")
    try:
        return _load(name)
    except ImportError as e:
        raise CdigValueError(
            f"backend {name!r} needs the {BACKENDS[name][1]!r} package, which is not installed "
            f"(pip install 'cdig[{name}]'): {e}"
        ) from None


def get_backend(model: Any, x: Any, backend: str | None = None) -> Backend:
    """The backend that runs ``model`` on ``x``: named explicitly, or detected from their types.

    Only frameworks the caller has already imported are considered.
    """
    if backend is not None:
        return get_backend_by_name(backend)(model, x)
    imported = [n for n, (_, fw) in BACKENDS.items() if fw in sys.modules]
    owners = [n for n in imported if _load(n).owns(model, x)]
    if len(owners) == 1:
        return _load(owners[0])(model, x)
    if len(owners) > 1:
        raise CdigTypeError(
            f"the model ({type(model).__name__}) and input ({type(x).__name__}) belong to different "
            f"frameworks ({', '.join(owners)}); convert the input to the model's framework or pass backend="
        )
    if len(imported) == 1 and callable(model):
        return _load(imported[0])(model, x)
    raise CdigTypeError(
        f"cannot tell which framework runs the model ({type(model).__name__}) on an input of type "
        f"{type(x).__name__}; supported frameworks: {', '.join(sorted(BACKENDS))}. Import the framework "
        "and pass its model, or name it with backend=..."
    )
