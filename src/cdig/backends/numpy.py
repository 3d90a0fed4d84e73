"""Plain functions of numpy arrays (an scikit-learn pipeline's ``predict_proba``, a numpy expression).

No framework: forward passes only. The perturbation methods (:mod:`cdig.perturb`) and the metrics run
such models; Integrated Gradients needs a framework's gradients and says so.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError
from .base import Backend, reachable

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """A model run on numpy arrays: forward passes only (perturbation methods need no gradients).

    Used by :func:`cdig.engine.prepare` for a plain function of numpy arrays (an scikit-learn pipeline's
    ``predict_proba``, a numpy expression); the path integral needs a framework's gradients and never
    runs here.

    Examples
    --------
    >>> import numpy as np
    >>> be = NumpyBackend(lambda x: x.sum(axis=1), np.ones((2, 3)))
    >>> be.forward(be.asarray(np.ones((2, 3))), ()).tolist()
    [3.0, 3.0]
    """

    name = "numpy"
    xp = np
    device = "cpu"
    default_time_axis = -1

    @classmethod
    def owns_model(cls, model: Any) -> bool:
        return False

    @classmethod
    def owns_array(cls, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def _reached(self) -> list[Backend]:
        """Backends of the framework models the function reaches (a torch module in its closure, a Keras
        model behind ``predict``), of the frameworks already imported: they guard those models."""
        if not hasattr(self, "_reached_backends"):
            from . import BACKENDS, get_backend_by_name

            found = []
            for name, (_, framework) in BACKENDS.items():
                if framework in sys.modules:
                    owner = get_backend_by_name(name)
                    if reachable(self.model, owner.owns_model):
                        found.append(owner(self.model, np.zeros((1, 1))))
            self._reached_backends = found
        return self._reached_backends

    @contextmanager
    def prepared(self) -> Iterator[None]:
        """The framework models the function reaches are put back as they were afterwards (their
        buffers, e.g. batch-norm statistics a training-mode module updates while it runs), as their
        own backends do for them; their modes are the caller's."""
        with ExitStack() as stack:
            for be in self._reached():
                stack.enter_context(be.prepared())
            yield

    def training_layers(self) -> list[str]:
        return [layer for be in self._reached() for layer in be.training_layers()]

    def asarray(self, a: Any, dtype: Any = None) -> np.ndarray:
        return np.asarray(a, dtype=dtype)

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.asarray(t)

    @classmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> np.ndarray:
        return np.asarray(a)

    def as_index(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.int64)

    def is_array(self, a: Any) -> bool:
        return isinstance(a, np.ndarray)

    def forward(self, inputs: Any, args: tuple) -> Any:
        out = self.run_model(inputs, args)
        return out if self.model_call.raw else np.asarray(out)

    def zeros_like(self, a: Any) -> np.ndarray:
        return np.zeros_like(a)

    def no_gradients(self) -> CdigTypeError:
        return CdigTypeError(
            "the model runs on numpy arrays, which carry no gradients: Integrated Gradients need a PyTorch, "
            "TensorFlow or JAX model. Perturbation methods need none: cdig.explain(model, x, domains, "
            "method='shapley' | 'occlusion' | 'rise'). If the function also runs on a framework's tensors, pass "
            "backend='torch' | 'tensorflow' | 'jax' (or x as that framework's tensor) for Integrated Gradients; "
            "one that converts to numpy inside (.detach().numpy(), a Keras model's predict) cuts the gradients "
            "there: give cdig the model, or a function returning its tensors"
        )

    def path_grad(self, fn: Any, start: Any, delta: Any, idx: np.ndarray, alphas: np.ndarray, want_h: bool) -> Any:
        raise self.no_gradients()

    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> Any:
        raise self.no_gradients()

    def vjp(self, fn: Any, z: Any, cotangent: Any) -> Any:
        raise self.no_gradients()
