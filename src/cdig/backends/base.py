"""What a framework must provide to cdig: one small class per framework with these methods."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["Backend"]


class Backend:
    """A framework behind cdig.

    A subclass is the only place that imports its framework. It is built for one explanation:
    ``Backend(model, x)`` decides the device and dtype the work runs in.

    Attributes
    ----------
    name : str
        ``"torch"``, ``"tensorflow"``, ``"jax"``.
    xp : module
        An Array-API namespace for domain code (``xp.fft.rfft``, ``xp.matmul``, ...).
    """

    name: str = ""
    xp: Any = None
    device: Any = None
    dtype: Any = None

    def __init__(self, model: Any, x: Any) -> None:
        self.model = model

    # --- detection and conversion ------------------------------------------------------
    @classmethod
    def owns(cls, model: Any, x: Any) -> bool:
        """Whether the model or the input belongs to this framework."""
        raise NotImplementedError

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (numpy or framework) as a framework array on this backend's device."""
        raise NotImplementedError

    def to_numpy(self, t: Any) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> Any:
        raise NotImplementedError

    def device_name(self) -> str:
        return str(self.device)

    def as_index(self, a: np.ndarray) -> Any:
        """A numpy integer array as an index for framework arrays."""
        return self.asarray(a.astype(np.int64), dtype="int64")

    def is_array(self, a: Any) -> bool:
        raise NotImplementedError

    def take(self, a: Any, idx: np.ndarray) -> Any:
        """Rows ``idx`` of ``a`` along axis 0."""
        return a[self.as_index(idx)]

    # --- the model ---------------------------------------------------------------------
    @contextmanager
    def prepared(self) -> Iterator[None]:
        """Inference mode for the explanation; everything is restored afterwards."""
        yield

    def call(self, inputs: Any, args: tuple) -> Any:
        """The model's output on a batch, for gradients."""
        return self.model(inputs, *args)

    def forward(self, inputs: Any, args: tuple) -> Any:
        """The model's output without gradient bookkeeping."""
        raise NotImplementedError

    # --- the path primitives (see cdig.core.path) --------------------------------------
    def zeros_like(self, a: Any) -> Any:
        raise NotImplementedError

    def path_grad(
        self, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any, idx: np.ndarray,
        alphas: np.ndarray, want_h: bool,
    ) -> tuple[Any, np.ndarray | None]:
        raise NotImplementedError

    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> Any:
        raise NotImplementedError

    def vjp(self, fn: Callable[[Any], Any], z: Any, cotangent: Any) -> Any:
        """``(∂ fn / ∂z)ᴴ cotangent``; for complex ``z`` this is ``∂/∂Re z + i ∂/∂Im z`` of ``<fn(z), cotangent>``."""
        raise NotImplementedError
