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
from .base import Backend, reachable

__all__ = ["Backend", "get_backend", "get_backend_by_name", "BACKENDS"]

#: backend name -> (module holding it, the framework module it needs)
BACKENDS: dict[str, tuple[str, str]] = {
    "torch": ("cdig.backends.torch", "torch"),
    "tensorflow": ("cdig.backends.tensorflow", "tensorflow"),
    "jax": ("cdig.backends.jax", "jax"),
}


def _load(name: str) -> type[Backend]:
    module, _ = BACKENDS[name]
    return importlib.import_module(module).BACKEND


def get_backend_by_name(name: str) -> type[Backend]:
    """The backend class called ``name`` (imports its framework)."""
    if name not in BACKENDS:
        raise CdigValueError(f"backend={name!r} is not known; accepted: {', '.join(sorted(BACKENDS))}")
    try:
        return _load(name)
    except ImportError as e:
        raise CdigValueError(
            f"backend {name!r} needs the {BACKENDS[name][1]!r} package, which is not installed (pip install 'cdig[{name}]'): {e}"
        ) from None


def get_backend(model: Any, x: Any, backend: str | None = None) -> Backend:
    """The backend that runs ``model`` on ``x``: named explicitly, or detected from their types.

    Only frameworks the caller has already imported are considered. The model decides: an input of
    another framework is converted (through the host); a plain function is run by the framework of
    its input, by the only framework imported, or by the framework of the models it calls (those its
    closure, globals and attributes reach, see :func:`~cdig.backends.base.reachable`).
    """
    if not callable(model):
        raise CdigTypeError(f"model must be callable (a framework model or a function), got {type(model).__name__}")
    if backend is not None:
        return get_backend_by_name(backend)(model, x)
    imported = [n for n, (_, fw) in BACKENDS.items() if fw in sys.modules]
    by_model = [n for n in imported if _load(n).owns_model(model)]
    if len(by_model) > 1:
        raise CdigTypeError(
            f"the model ({type(model).__name__}) looks like a model of several frameworks ({', '.join(by_model)}); "
            "name the one that runs it with backend=..."
        )
    if by_model:
        return _load(by_model[0])(model, x)
    by_input = [n for n in imported if _load(n).owns_array(x)]
    if by_input and callable(model):
        return _load(by_input[0])(model, x)
    if len(imported) == 1 and callable(model):
        return _load(imported[0])(model, x)
    # a function calling a framework's model (lambda x: net(x)): the framework of the models it reaches
    behind = {
        n
        for v in reachable(model, lambda v: any(_load(n).owns_model(v) for n in imported))
        for n in imported
        if _load(n).owns_model(v)
    }
    if len(behind) == 1:
        return _load(behind.pop())(model, x)
    raise CdigTypeError(
        f"cannot tell which framework runs the model ({type(model).__name__}) on an input of type "
        f"{type(x).__name__} (frameworks imported: {', '.join(imported) or 'none'}; supported: "
        f"{', '.join(sorted(BACKENDS))}); pass backend='torch' | 'tensorflow' | 'jax'"
    )
