"""What :mod:`cdig.compat` needs from a framework: one small class per framework, the same names.

Like einops' ``_backends``: :class:`TorchOps` and :class:`TensorflowOps` import their framework when
they are built, and :func:`for_model` / :func:`for_dtype` / :func:`default` only build those whose
framework the user has already imported (``sys.modules``), except :func:`default`, which falls back
to the first installed one. This module is the only one of :mod:`cdig.compat` importing a framework.

Each class carries the reference's conventions on its side: PyTorch models take ``(N, C, T)``
inputs and keep the sample axis of a batch of one; Keras models take ``(N, T, C)`` inputs (the
domains transpose them to ``(N, C, T)`` and back) and drop the sample axis of a batch of one.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..core.errors import CdigTypeError

__all__ = ["FrameworkOps", "TorchOps", "TensorflowOps", "OPS", "imported", "for_model", "for_dtype", "default"]


class FrameworkOps(ABC):
    """The names every framework provides: conversion, devices, layout and the two-sided FFT pair.

    Each class is built once, when its framework is needed, so ``is`` compares frameworks.
    """

    #: The framework module; the class is built only when it can be imported.
    framework: ClassVar[str]
    #: The name users see in messages (``"torch"``, ``"tensorflow"``).
    name: ClassVar[str]
    #: Whether the model's input is ``(N, T, C)`` (the domains transpose it to ``(N, C, T)``).
    channels_last: ClassVar[bool]
    #: Whether ``run`` drops the sample axis of a batch of one.
    squeeze_one_sample: ClassVar[bool]
    #: The model's input layout, for messages.
    layout: ClassVar[str]

    @abstractmethod
    def owns(self, obj: Any) -> bool:
        """Whether ``obj`` (a model or a tensor) belongs to this framework."""
        raise NotImplementedError

    @abstractmethod
    def is_dtype(self, obj: Any) -> bool:
        """Whether ``obj`` is a dtype of this framework."""
        raise NotImplementedError

    @abstractmethod
    def default_dtype(self) -> Any:
        """The reference's default dtype: float32."""
        raise NotImplementedError

    @abstractmethod
    def model_device(self, model: Any, x: Any = None) -> Any:
        """The device the model computes on (for a plain function, that of ``x``)."""
        raise NotImplementedError

    @abstractmethod
    def device(self, device: Any) -> Any:
        """``device`` as this framework names devices."""
        raise NotImplementedError

    @abstractmethod
    def is_tensor(self, a: Any) -> bool:
        """Whether ``a`` is a tensor of this framework."""
        raise NotImplementedError

    @abstractmethod
    def tensor(self, a: Any, dtype: Any, device: Any) -> Any:
        """``a`` (numpy, tensor or nested lists) as a tensor of ``dtype`` on ``device``, cut from autograd."""
        raise NotImplementedError

    @abstractmethod
    def to_numpy(self, t: Any) -> np.ndarray:
        """``t`` as a numpy array on the host."""
        raise NotImplementedError

    @abstractmethod
    def broadcast(self, a: Any, shape: tuple[int, ...]) -> Any:
        """``a`` broadcast to ``shape``, as a tensor of its own."""
        raise NotImplementedError

    @abstractmethod
    def zeros_like(self, a: Any) -> Any:
        """Zeros of ``a``'s shape, dtype and device."""
        raise NotImplementedError

    @abstractmethod
    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        """``x`` with its axes permuted by ``perm``."""
        raise NotImplementedError

    @abstractmethod
    def complex_dtype(self, dtype: Any) -> Any:
        """The complex dtype of the real ``dtype`` (complex128 for float64, else complex64)."""
        raise NotImplementedError

    @abstractmethod
    def fft(self, x: Any, axis: int, dtype: Any) -> Any:
        """The full FFT of real ``x`` along ``axis``, in the complex dtype of ``dtype``."""
        raise NotImplementedError

    @abstractmethod
    def ifft_real(self, z: Any, axis: int, dtype: Any) -> Any:
        """The real part of the inverse FFT of ``z`` along ``axis``, in ``dtype``; differentiable."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TorchOps(FrameworkOps):
    """PyTorch: the reference's ``torch_ig`` side."""

    framework = "torch"
    name = "torch"
    channels_last = False
    squeeze_one_sample = False
    layout = "(N, C, T) with the channels on axis 1"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def owns(self, obj: Any) -> bool:
        torch = self.torch
        return isinstance(obj, (torch.nn.Module, torch.Tensor, torch.jit.ScriptFunction))

    def is_dtype(self, obj: Any) -> bool:
        return isinstance(obj, self.torch.dtype)

    def default_dtype(self) -> Any:
        return self.torch.float32

    def model_device(self, model: Any, x: Any = None) -> Any:
        """The device of the model's parameters; for a plain function, that of ``x`` (else the CPU)."""
        torch = self.torch
        if isinstance(model, torch.nn.Module):
            for t in list(model.parameters()) + list(model.buffers()):
                return t.device
        return x.device if isinstance(x, torch.Tensor) else torch.device("cpu")

    def device(self, device: Any) -> Any:
        return self.torch.device(device)

    def is_tensor(self, a: Any) -> bool:
        return isinstance(a, self.torch.Tensor)

    def tensor(self, a: Any, dtype: Any, device: Any) -> Any:
        if isinstance(a, self.torch.Tensor):
            return a.detach().to(device=device, dtype=dtype)
        arr = np.asarray(a)
        if not arr.flags.writeable:  # e.g. np.broadcast_to; torch warns about read-only memory
            arr = arr.copy()
        return self.torch.as_tensor(arr, dtype=dtype, device=device)

    def to_numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, self.torch.Tensor):
            return t.detach().cpu().numpy()
        return np.asarray(t)

    def broadcast(self, a: Any, shape: tuple[int, ...]) -> Any:
        return self.torch.broadcast_to(a, shape).clone()

    def zeros_like(self, a: Any) -> Any:
        return self.torch.zeros_like(a)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return x.permute(*perm)

    def complex_dtype(self, dtype: Any) -> Any:
        torch = self.torch
        return torch.complex128 if dtype == torch.float64 else torch.complex64

    def fft(self, x: Any, axis: int, dtype: Any) -> Any:
        return self.torch.fft.fft(x.to(self.complex_dtype(dtype)), dim=axis)

    def ifft_real(self, z: Any, axis: int, dtype: Any) -> Any:
        return self.torch.fft.ifft(z, dim=axis).real.to(dtype)


class TensorflowOps(FrameworkOps):
    """TensorFlow (Keras models on the TensorFlow backend): the reference's ``tensorflow_ig`` side."""

    framework = "tensorflow"
    name = "tensorflow"
    channels_last = True
    squeeze_one_sample = True
    layout = "(N, T, C) with the channels last"

    def __init__(self) -> None:
        import tensorflow as tf

        from ..backends import get_backend_by_name

        self.tf = tf
        # Which models TensorFlow runs (Keras on its TensorFlow backend, tf.Module, tf.function) is
        # the backend's knowledge; compat asks it rather than repeating it.
        self._backend = get_backend_by_name("tensorflow")

    def owns(self, obj: Any) -> bool:
        return bool(self._backend.owns_model(obj) or self._backend.owns_array(obj))

    def is_dtype(self, obj: Any) -> bool:
        return isinstance(obj, self.tf.dtypes.DType)

    def default_dtype(self) -> Any:
        return self.tf.float32

    def model_device(self, model: Any, x: Any = None) -> Any:
        """None: TensorFlow places tensors itself (its default device)."""
        return None

    def device(self, device: Any) -> Any:
        return None if device is None else str(device)

    def is_tensor(self, a: Any) -> bool:
        return bool(self.tf.is_tensor(a) or isinstance(a, self.tf.Variable))

    def tensor(self, a: Any, dtype: Any, device: Any) -> Any:
        tf = self.tf
        if self.is_tensor(a):
            t = tf.stop_gradient(tf.convert_to_tensor(a))
            t = t if t.dtype == dtype else tf.cast(t, dtype)
        else:
            t = tf.constant(np.asarray(a), dtype=dtype)
        if not device:
            return t
        with tf.device(device):
            return tf.identity(t)

    def to_numpy(self, t: Any) -> np.ndarray:
        if self.is_tensor(t):
            return np.asarray(t.numpy())
        return np.asarray(t)

    def broadcast(self, a: Any, shape: tuple[int, ...]) -> Any:
        return self.tf.broadcast_to(a, shape)

    def zeros_like(self, a: Any) -> Any:
        return self.tf.zeros_like(a)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return self.tf.transpose(x, perm)

    def complex_dtype(self, dtype: Any) -> Any:
        tf = self.tf
        return tf.complex128 if dtype == tf.float64 else tf.complex64

    def _along(self, f: Any, x: Any, axis: int) -> Any:
        """``f`` (a ``tf.signal`` transform of the innermost axis) applied along ``axis``."""
        rank = len(x.shape)
        axis %= rank
        if axis == rank - 1:
            return f(x)
        perm = list(range(rank))
        perm[axis], perm[-1] = perm[-1], perm[axis]  # a swap: its own inverse
        return self.tf.transpose(f(self.tf.transpose(x, perm)), perm)

    def fft(self, x: Any, axis: int, dtype: Any) -> Any:
        return self._along(self.tf.signal.fft, self.tf.cast(x, self.complex_dtype(dtype)), axis)

    def ifft_real(self, z: Any, axis: int, dtype: Any) -> Any:
        return self.tf.cast(self.tf.math.real(self._along(self.tf.signal.ifft, z, axis)), dtype)


#: The frameworks cdig.compat serves, in the order they are tried: PyTorch first (the reference's
#: ``torch_ig``), then TensorFlow. A new framework is one class above and one entry here.
OPS: tuple[type[FrameworkOps], ...] = (TorchOps, TensorflowOps)

_LOADED: dict[type[FrameworkOps], FrameworkOps] = {}


def _load(cls: type[FrameworkOps]) -> FrameworkOps:
    """The one instance of ``cls`` (imports its framework; ImportError when it is not installed)."""
    if cls not in _LOADED:
        _LOADED[cls] = cls()
    return _LOADED[cls]


def imported() -> list[FrameworkOps]:
    """The ops of the frameworks the user has imported, in the order of :data:`OPS`."""
    return [_load(cls) for cls in OPS if cls.framework in sys.modules]


def for_model(model: Any) -> FrameworkOps:
    """The ops of the framework that runs ``model``; a plain function is run by the first imported one.

    Raises
    ------
    CdigTypeError
        When no imported framework runs ``model``.
    """
    loaded = imported()
    for ops in loaded:
        if ops.owns(model):
            return ops
    if callable(model) and loaded:
        return loaded[0]  # a plain function of tensors
    raise CdigTypeError(
        f"cdig.compat runs PyTorch models (torch.nn.Module or a function of tensors) and Keras models on "
        f"the TensorFlow backend; got {type(model).__name__}. Import the model's framework and pass its "
        "model, or use cdig.explain"
    )


def for_dtype(dtype: Any) -> FrameworkOps | None:
    """The ops of the imported framework ``dtype`` belongs to; None when none claims it."""
    return next((ops for ops in imported() if ops.is_dtype(dtype)), None)


def default() -> FrameworkOps:
    """The first imported framework, else the first installed one (PyTorch first).

    Raises
    ------
    CdigTypeError
        When neither is installed.
    """
    loaded = imported()
    if loaded:
        return loaded[0]
    for cls in OPS:
        try:
            return _load(cls)
        except ImportError:  # not installed
            continue
    raise CdigTypeError("cdig.compat needs PyTorch or TensorFlow; neither is installed")
