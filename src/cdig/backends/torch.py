"""The PyTorch backend: the only module of cdig that imports torch."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import array_api_compat.torch as xp_torch
import numpy as np
import torch

from ..core.errors import CdigModelError, CdigTypeError, CdigValueError, CdigWarning, one_line
from .base import Backend, foreign_to_numpy

__all__ = ["TorchBackend", "BACKEND"]

_NUMPY_DTYPES = {
    "int64": torch.int64,
    "float64": torch.float64,
    "float32": torch.float32,
    "complex128": torch.complex128,
    "complex64": torch.complex64,
}
#: Layers that compute differently in training mode (randomness, batch statistics).
_TRAIN_SENSITIVE = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._NormBase)


def _model_tensor(model: Any) -> torch.Tensor | None:
    if isinstance(model, torch.nn.Module):
        for t in model.parameters():
            return t
        for t in model.buffers():
            return t
    return None


class _FunctionModule(torch.nn.Module):
    """``fn(parts, x, *rest)`` as a module: ``parts`` are its submodules and are handed to ``fn`` on every
    call, so a deep copy of the module (Quantus' randomisation metrics) runs on the copy's parts. ``x``
    is cast to ``dtype`` (callers such as Quantus hand over float32 tensors). In eval mode itself; the
    parts' own modes are left as they are (the user's model is never changed)."""

    def __init__(self, fn: Callable[..., Any], parts: list, dtype: Any) -> None:
        super().__init__()
        self.fn, self.parts, self.dtype = fn, torch.nn.ModuleList(parts), dtype
        self.training = False

    def forward(self, x: Any, *rest: Any) -> Any:
        x = torch.as_tensor(x)
        x = x.to(self.dtype) if x.is_floating_point() and self.dtype is not None else x
        return self.fn(list(self.parts), x, *rest)


class TorchBackend(Backend):
    """PyTorch models (``nn.Module``, TorchScript, or any callable on tensors)."""

    name = "torch"
    xp = xp_torch

    def __init__(self, model: Any, x: Any) -> None:
        super().__init__(model, x)
        if not callable(model):
            raise CdigTypeError(f"model must be callable (an nn.Module or a function), got {type(model).__name__}")
        ref = _model_tensor(model)
        if ref is not None:
            self.device = ref.device
        elif isinstance(x, torch.Tensor):
            self.device = x.device
        else:
            self.device = torch.device("cpu")
        keras = sys.modules.get("keras")
        if keras is not None and isinstance(model, keras.Model):
            self.default_time_axis = 1  # a Keras model on the torch Keras backend: channels last
        # Floating inputs are cast to the model's parameter dtype (a float64 array for a float32 model).
        if ref is not None and ref.is_floating_point():
            self.dtype = ref.dtype
        elif isinstance(x, torch.Tensor):
            self.dtype = x.dtype
        else:
            self.dtype = torch.from_numpy(np.zeros(0, dtype=foreign_to_numpy(x, "torch").dtype)).dtype

    model_files = (".pt", ".pth", ".pt2")

    @classmethod
    def load_model(cls, path: Path) -> Any:
        """TorchScript (``.pt``/``.pth``, ``torch.jit.save``) in eval mode, or a ``torch.export`` program (``.pt2``)."""
        if path.suffix.lower() == ".pt2":
            return _load_exported(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still read
                model = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # noqa: BLE001 - any failure is a file the user must fix
            raise CdigValueError(
                f"{path}: cannot load as TorchScript ({one_line(e)}); save the model with "
                "torch.jit.save(torch.jit.script(model), path) (a torch.save'd module or state_dict is not "
                "supported) or torch.export.save(...) as .pt2"
            ) from None
        model.eval()
        return model

    @classmethod
    def owns_model(cls, model: Any) -> bool:
        return isinstance(model, (torch.nn.Module, torch.jit.ScriptFunction))

    @classmethod
    def owns_array(cls, x: Any) -> bool:
        return isinstance(x, torch.Tensor)

    def is_array(self, a: Any) -> bool:
        return isinstance(a, torch.Tensor)

    def asarray(self, a: Any, dtype: Any = None) -> torch.Tensor:
        dt = _NUMPY_DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype
        if isinstance(a, torch.Tensor):
            if dt is None and a.is_floating_point() and self.dtype.is_floating_point:
                dt = self.dtype
            return a.detach().to(device=self.device, dtype=dt or a.dtype)
        arr = foreign_to_numpy(a, self.name)
        if not arr.flags.writeable:  # e.g. a view of a JAX array; torch wants writable memory
            arr = arr.copy()
        if dt is None and arr.dtype.kind == "f":
            dt = self.dtype
        elif dt is None and arr.dtype.kind == "c":
            dt = torch.complex128 if self.dtype == torch.float64 else torch.complex64
        return torch.as_tensor(arr, device=self.device, dtype=dt)

    def to_numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, torch.Tensor):
            t = t.detach()
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            return t.cpu().numpy()
        return np.asarray(t)

    @classmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), device=device)

    def as_index(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.int64, device=self.device)

    def take(self, a: Any, idx: np.ndarray) -> Any:
        return a.index_select(0, self.as_index(idx))

    # --- the model ---------------------------------------------------------------------
    @contextmanager
    def prepared(self) -> Iterator[None]:
        model = self.model
        if not isinstance(model, torch.nn.Module):
            yield
            return
        modes = [(m, m.training) for m in model.modules()]
        flags = [(p, p.requires_grad) for p in model.parameters()]
        if any(training for _, training in modes):
            model.eval()
        sensitive = sorted({type(m).__name__ for m, training in modes if training and isinstance(m, _TRAIN_SENSITIVE)})
        if sensitive:
            warnings.warn(
                f"the model is in training mode with {', '.join(sensitive)}; it is explained in eval mode "
                "(dropout off, batch-norm running statistics) and put back in training mode afterwards. "
                "Call model.eval() to silence this warning.",
                CdigWarning,
                stacklevel=4,
            )
        try:
            for p, _ in flags:
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            for m, training in modes:
                m.training = training

    def forward(self, inputs: Any, args: tuple) -> Any:
        with torch.no_grad():
            return self.model(inputs, *args)

    # --- the path primitives -----------------------------------------------------------
    def point_bytes(self, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any) -> float | None:
        """Measured: on CUDA the allocator's peak during a chunk; elsewhere the tensors autograd keeps for
        the backward pass (counted once per storage), twice over for the gradients flowing back, plus
        the points, their gradients and the scaled direction. Chunks of 1 and 4 points of the first
        sample; the difference per point is the cost of one more."""
        from ..core.memory import PROBE_ROWS

        cuda = self.device is not None and self.device.type == "cuda"
        sizes = []
        for rows in PROBE_ROWS:
            idx = np.zeros(rows, dtype=np.int64)
            alphas = np.full(rows, 0.5)
            if cuda:
                torch.cuda.synchronize(self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
                base = torch.cuda.memory_allocated(self.device)
                g, _ = self.path_grad(fn, start, delta, idx, alphas, False)
                torch.cuda.synchronize(self.device)
                sizes.append(torch.cuda.max_memory_allocated(self.device) - base)
                del g
                continue
            seen: dict[int, int] = {}

            def pack(t: torch.Tensor) -> torch.Tensor:
                try:
                    storage = t.untyped_storage()
                    seen[storage.data_ptr()] = storage.nbytes()  # noqa: B023 - used within this iteration
                except (RuntimeError, NotImplementedError):  # e.g. sparse or functional tensors
                    seen[id(t)] = t.numel() * t.element_size()  # noqa: B023
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                g, _ = self.path_grad(fn, start, delta, idx, alphas, False)
            sizes.append(2 * sum(seen.values()) + 3 * g.numel() * g.element_size())
        per = (sizes[1] - sizes[0]) / (PROBE_ROWS[1] - PROBE_ROWS[0])
        point = start[:1].numel() * start.element_size()
        return float(max(per, 3 * point))

    def model_digest(self, model: Any) -> str | None:
        import hashlib

        if not isinstance(model, torch.nn.Module):
            return None
        h = hashlib.sha256()
        for name, t in model.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.hexdigest()[:20]

    def free_memory(self) -> int | None:
        if self.device is not None and self.device.type == "cuda":
            return int(torch.cuda.mem_get_info(self.device)[0])
        return super().free_memory()

    def as_module(self, fn: Callable[..., Any], parts: Any = ()) -> Any:
        """A ``torch.nn.Module`` computing ``fn(parts, x, *rest)``; ``parts`` (e.g. the wrapped model) are
        its submodules, so ``.to()``, parameter lists and deep copies reach them."""
        return _FunctionModule(fn, list(parts), self.dtype)

    def randomized_copy(self, model: Any, seed: int) -> Any:
        """``copy.deepcopy(model)``; each layer's ``reset_parameters()`` under ``seed``, and parameters no
        layer resets drawn Gaussian with their original's standard deviation."""
        import copy

        if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
            return super().randomized_copy(model, seed)
        clone = copy.deepcopy(model)
        devices = [self.device] if self.device is not None and self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            # not seed itself: a fresh model built after torch.manual_seed(seed) would come back unchanged
            torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
            reset: set[int] = set()  # ids of the parameters some layer reset
            for m in clone.modules():
                if callable(getattr(m, "reset_parameters", None)):
                    m.reset_parameters()
                    reset.update(id(p) for p in m.parameters(recurse=False))
            for p in clone.parameters():
                if id(p) not in reset and p.is_floating_point():
                    std = float(p.std()) if p.numel() > 1 else 0.0
                    p.normal_(0.0, std if std > 0 else 1.0 / max(1, p.shape[-1] if p.ndim else 1) ** 0.5)
        return clone

    def zeros_like(self, a: Any) -> torch.Tensor:
        # The accumulator is double precision (chunks are summed in the gradients' precision, then added
        # here): the adaptive rule adds and removes interval contributions.
        return torch.zeros(a.shape, dtype=torch.complex128 if a.is_complex() else torch.float64, device=a.device)

    def _column(self, v: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        real = like.real.dtype if like.is_complex() else like.dtype
        return torch.as_tensor(v, dtype=real, device=self.device).reshape((-1,) + (1,) * (like.ndim - 1))

    def path_grad(
        self,
        fn: Callable[[Any, np.ndarray], Any],
        start: Any,
        delta: Any,
        idx: np.ndarray,
        alphas: np.ndarray,
        want_h: bool,
    ) -> tuple[torch.Tensor, np.ndarray | None]:
        ti = self.as_index(idx)
        d = delta.index_select(0, ti)
        points = torch.addcmul(start.index_select(0, ti), self._column(alphas, d), d).requires_grad_(True)
        with torch.enable_grad():
            y = fn(points, idx)
            if not isinstance(y, torch.Tensor) or not y.requires_grad:
                raise CdigModelError(
                    "the model's output does not depend on its input (no gradient flows back to it); "
                    "check that the model uses the input and does not detach it or cast it to an integer type"
                )
            (g,) = torch.autograd.grad(y.sum(), points, allow_unused=True)
        if g is None:
            raise CdigModelError("the model's output does not depend on its input (its gradient is None)")
        h = None
        if want_h:
            prod = d.real * g.real + d.imag * g.imag if g.is_complex() else d * g
            h = prod.reshape(len(idx), -1).sum(dim=1).double().cpu().numpy()
        return g, h

    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> torch.Tensor:
        # Sum each sample's rows of this chunk in the gradients' precision (fast), then add the few
        # per-sample sums to the double-precision accumulator.
        samples, rows_of = np.unique(idx, return_inverse=True)
        part = torch.zeros((len(samples),) + tuple(grads.shape[1:]), dtype=grads.dtype, device=grads.device)
        # (index_put_ with accumulate: index_add_ is much slower on CPU.)
        part.index_put_((self.as_index(rows_of),), grads * self._column(weights, grads), accumulate=True)
        return acc.index_put_((self.as_index(samples),), part.to(acc.dtype), accumulate=True)

    def vjp(self, fn: Callable[[Any], Any], z: Any, cotangent: Any) -> torch.Tensor:
        zz = z.detach().requires_grad_(True)
        with torch.enable_grad():
            out = fn(zz)
            (g,) = torch.autograd.grad(out, zz, grad_outputs=cotangent.to(out.dtype), allow_unused=True)
        return torch.zeros_like(zz) if g is None else g


BACKEND = TorchBackend


class _ExportedModel(torch.nn.Module):
    """An exported program's module, out of reach of ``.eval()``/``.train()`` (which it refuses)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        object.__setattr__(self, "inner", inner)  # not a registered child: eval() does not recurse

    def forward(self, *args: Any) -> Any:
        return self.inner(*args)


def _load_exported(path: Path) -> Any:
    try:
        module = torch.export.load(str(path)).module()
    except Exception as e:  # noqa: BLE001 - any failure is a file the user must fix
        raise CdigValueError(
            f"{path}: cannot load as a torch.export program ({one_line(e)}); save it with "
            "torch.export.save(torch.export.export(model, (x,)), path)"
        ) from None
    return _ExportedModel(module)
