"""What a framework must provide to cdig: one small class per framework with these methods."""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError

__all__ = ["Backend", "CompiledPath", "CompiledCache", "foreign_to_numpy"]


@runtime_checkable
class CompiledPath(Protocol):
    """A path function ``fn(points, idx)`` that also offers what a compiling backend needs to run a
    whole chunk as one graph: the one-hot cotangent selecting each row's output (``mask(idx)``, None
    for callable targets) and the model's extra arguments for the rows (``args(idx)``)."""

    def __call__(self, points: Any, idx: np.ndarray) -> Any: ...

    def mask(self, idx: np.ndarray) -> np.ndarray | None: ...

    def args(self, idx: np.ndarray) -> tuple: ...


def foreign_to_numpy(a: Any, framework: str = "") -> np.ndarray:
    """An array of any framework (torch, TensorFlow, JAX, numpy) as numpy, without importing any.

    Used when the input's framework differs from the model's (``framework``): a copy through the
    host is safe for the dense, real-valued signals cdig explains; anything else (sparse, ragged or
    meta tensors, objects) gets a :class:`CdigTypeError` naming both frameworks.
    """
    source = type(a).__module__.split(".")[0]
    try:
        if hasattr(a, "detach") and hasattr(a, "cpu"):  # torch
            t = a.detach().cpu()
            if str(getattr(t, "dtype", "")) in ("torch.bfloat16", "torch.float16"):
                t = t.float()
            arr = t.numpy()
        elif hasattr(a, "numpy") and callable(a.numpy):  # TensorFlow eager tensors and variables
            arr = np.asarray(a.numpy())
        else:
            arr = np.asarray(a)  # numpy, JAX (via __array__), lists
    except Exception as e:  # noqa: BLE001 - any failure to convert is the same user error
        raise CdigTypeError(
            f"cannot convert the input ({source} {type(a).__name__}) to a dense array for the "
            f"{framework or 'model'} model: {e}. Pass a dense {framework or 'numpy'} array or numpy array"
        ) from None
    if arr.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):  # ml_dtypes from JAX/TF
        arr = arr.astype(np.float32)
    if arr.dtype == object:
        raise CdigTypeError(
            f"cannot convert the input ({source} {type(a).__name__}) to a dense numeric array for the "
            f"{framework or 'model'} model (sparse or ragged tensors are not explained); pass a dense array"
        )
    return arr


class CompiledCache:
    """Compiled forms of models, built once per model and kept weakly (never keeping a model alive).

    The one cache of the compiling backends (TensorFlow, JAX): ``get(model, build, cacheable)`` returns
    what ``build()`` made for ``model`` before, if ``cacheable`` (its state lives where a compiled
    trace reads it afresh: variables, or a function the user jitted); otherwise, or for models that
    cannot be weakly referenced or hashed, it builds afresh each time.

    Examples
    --------
    >>> class M:
    ...     pass
    >>> cache, m, calls = CompiledCache(), M(), []
    >>> first = cache.get(m, lambda: calls.append(1) or "compiled", cacheable=True)
    >>> again = cache.get(m, lambda: calls.append(1) or "compiled", cacheable=True)
    >>> (first, again, len(calls))
    ('compiled', 'compiled', 1)
    """

    def __init__(self) -> None:
        self._store: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def get(self, model: Any, build: Callable[[], Any], cacheable: bool) -> Any:
        if cacheable:
            try:
                return self._store[model]
            except (KeyError, TypeError):  # not built yet / not weak-referenceable or unhashable
                pass
        value = build()
        if cacheable:
            try:
                self._store[model] = value
            except TypeError:
                pass
        return value


class Backend(ABC):
    """A framework behind cdig.

    A subclass is the only place that imports its framework. It is built for one explanation:
    ``Backend(model, x)`` decides the device and dtype the work runs in. The abstract methods are the
    contract (detection, conversion, the model's forward pass and the three path primitives of
    :mod:`cdig.core.path`, plus ``vjp`` for the domains' adjoints); the others have defaults that a
    framework may override. A framework whose model files cdig reads also says which files it opens
    (:attr:`model_files`, :meth:`opens`) and loads them (:meth:`load_model`), like xarray's backends.

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
    #: Where time is in this framework's usual ``(N, C, T)`` / ``(N, T, C)`` layout.
    default_time_axis: int = -1
    #: Whether double precision is available (JAX without ``jax_enable_x64`` has none).
    float64: bool = True

    #: File name endings of the model files this framework's :meth:`load_model` reads.
    model_files: tuple[str, ...] = ()

    def __init__(self, model: Any, x: Any) -> None:
        self.model = model

    # --- model files (cdig explain) ------------------------------------------------------
    @classmethod
    def opens(cls, path: Path) -> bool:
        """Whether :meth:`load_model` reads ``path`` (by its ending; folders by their contents)."""
        return path.suffix.lower() in cls.model_files

    @classmethod
    def load_model(cls, path: Path) -> Any:
        """The model stored in ``path``, ready to explain; a :class:`CdigValueError` naming the file otherwise."""
        raise CdigValueError(f"{path}: the {cls.name or 'framework'} backend reads no model files")

    # --- detection and conversion ------------------------------------------------------
    @classmethod
    @abstractmethod
    def owns_model(cls, model: Any) -> bool:
        """Whether ``model`` is a model of this framework (a module, a compiled function, ...)."""
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def owns_array(cls, x: Any) -> bool:
        """Whether ``x`` is an array of this framework."""
        raise NotImplementedError

    @abstractmethod
    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (numpy or framework) as a framework array on this backend's device."""
        raise NotImplementedError

    @abstractmethod
    def to_numpy(self, t: Any) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> Any:
        raise NotImplementedError

    @classmethod
    def like(cls, values: np.ndarray, ref: Any) -> Any:
        """``values`` as an array of this framework on the device of ``ref`` (an array of it)."""
        return cls.from_numpy(values, getattr(ref, "device", None))

    def device_name(self) -> str:
        return str(self.device)

    def as_index(self, a: np.ndarray) -> Any:
        """A numpy integer array as an index for framework arrays."""
        return self.asarray(a.astype(np.int64), dtype="int64")

    @abstractmethod
    def is_array(self, a: Any) -> bool:
        raise NotImplementedError

    def take(self, a: Any, idx: np.ndarray) -> Any:
        """Rows ``idx`` of ``a`` along axis 0."""
        return a[self.as_index(idx)]

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return a.reshape(shape)

    def pick(self, out: Any, cols: tuple[np.ndarray, ...]) -> Any:
        """``out[i, cols[0][i], cols[1][i], ...]`` for every row ``i``."""
        rows = self.as_index(np.arange(out.shape[0]))
        return out[(rows,) + tuple(self.as_index(c) for c in cols)]

    # --- the model ---------------------------------------------------------------------
    @contextmanager
    def prepared(self) -> Iterator[None]:
        """Inference mode for the explanation; everything is restored afterwards."""
        yield

    def call(self, inputs: Any, args: tuple) -> Any:
        """The model's output on a batch, for gradients."""
        return self.model(inputs, *args)

    @abstractmethod
    def forward(self, inputs: Any, args: tuple) -> Any:
        """The model's output without gradient bookkeeping."""
        raise NotImplementedError

    def model_digest(self, model: Any) -> str | None:
        """A hash of the model's weights (None where the framework has no weights to read, e.g. a function)."""
        return None

    # --- memory (internal_batch_size="auto", see cdig.core.memory) ------------------------
    def point_bytes(self, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any) -> float | None:
        """Bytes one more path point costs in a forward+backward chunk; None when it cannot be measured."""
        return None

    def free_memory(self) -> int | None:
        """Bytes free for the explanation on the device it runs on (host RAM by default)."""
        from ..core.memory import available_memory

        return available_memory()

    def as_module(self, fn: Callable[..., Any], parts: Sequence[Any] = ()) -> Any:
        """``fn(parts, x, *rest)`` as this framework's model object (e.g. a ``torch.nn.Module`` holding
        ``parts`` as submodules and handing them to ``fn``, so that a copy of it runs on copied parts)."""
        raise CdigTypeError(f"cdig cannot wrap a function as a {self.name or 'framework'} model object")

    def randomized_copy(self, model: Any, seed: int) -> Any:
        """A copy of ``model`` with re-initialised weights (the model itself is left unchanged)."""
        raise CdigTypeError(
            f"cdig cannot copy and re-initialise a {self.name or type(model).__name__} model "
            f"({type(model).__name__}); pass randomized_model=... (the same architecture with fresh weights)"
        )

    # --- the path primitives (see cdig.core.path) --------------------------------------
    @abstractmethod
    def zeros_like(self, a: Any) -> Any:
        raise NotImplementedError

    @abstractmethod
    def path_grad(
        self,
        fn: Callable[[Any, np.ndarray], Any],
        start: Any,
        delta: Any,
        idx: np.ndarray,
        alphas: np.ndarray,
        want_h: bool,
    ) -> tuple[Any, np.ndarray | None]:
        raise NotImplementedError

    @abstractmethod
    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> Any:
        raise NotImplementedError

    @abstractmethod
    def vjp(self, fn: Callable[[Any], Any], z: Any, cotangent: Any) -> Any:
        """``(∂ fn / ∂z)ᴴ cotangent``; for complex ``z`` this is ``∂/∂Re z + i ∂/∂Im z`` of ``<fn(z), cotangent>``."""
        raise NotImplementedError
