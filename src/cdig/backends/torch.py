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
from .base import Backend, Fingerprint, foreign_to_numpy, keras_leaf, reachable, shared_preparation

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
    """The first parameter (else buffer) of the module ``model``, or of the first module a function reaches."""
    for m in _modules(model):
        for t in m.parameters():
            return t
        for t in m.buffers():
            return t
    return None


def _modules(model: Any) -> list[torch.nn.Module]:
    """``[model]`` for a module; for a function or other callable, the modules it reaches (its closure,
    the globals it names, its attributes; see :func:`~cdig.backends.base.reachable`)."""
    if isinstance(model, torch.nn.Module):
        return [model]
    return reachable(model, lambda v: isinstance(v, torch.nn.Module))


def _snapshot(modules: list[torch.nn.Module]) -> Callable[[], None]:
    """A function putting back every buffer of ``modules`` (e.g. batch-norm running statistics that a
    module in training mode behind a function updates while it runs) as it is now, bit for bit."""
    saved = [
        (m, name, t, t.detach().clone())
        for top in modules
        for m in top.modules()
        for name, t in m._buffers.items()
        if t is not None
    ]

    def restore() -> None:
        with torch.no_grad():
            for m, name, t, value in saved:
                m._buffers[name] = t
                if not torch.equal(t, value):
                    t.copy_(value)

    return restore


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
    def load_model(cls, path: Path, trusted: bool = False) -> Any:
        """TorchScript (``.pt``/``.pth``, ``torch.jit.save``) in eval mode, or a ``torch.export`` program (``.pt2``).

        A ``.pt2`` whose loading would unpickle (weights or constants stored as pickles, sample inputs
        that are not plain tensors) or load compiled code is refused unless ``trusted``. TorchScript
        runs only TorchScript code (no Python), and ``trusted`` changes nothing for it.
        """
        if path.suffix.lower() == ".pt2":
            return _load_exported(path, trusted)
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
        """Eval mode with frozen parameters for the explanation, the model's own modes and
        ``requires_grad`` flags restored afterwards; shared by concurrent explanations of one model
        (:func:`~cdig.backends.base.shared_preparation`), so that none of them restores another's.

        The buffers of the module, or of the modules a function reaches, are put back as they were
        afterwards: a module in training mode behind a function (which cdig refuses, see
        :meth:`cdig.engine.Run.check_batch_independence`) updates its batch-norm statistics while it runs.
        """
        model = self.model

        def prepare() -> tuple[Callable[[], None], list[str]]:
            modules = _modules(model)
            put_back = _snapshot(modules)
            # a module passed itself runs in eval mode; those behind a function keep their mode (a
            # training-mode one is refused, by its outputs), all with frozen parameters
            direct = isinstance(model, torch.nn.Module)
            unfreeze, sensitive = _freeze(modules, eval_mode=direct)

            def restore() -> None:
                unfreeze()
                put_back()

            return restore, sensitive if direct else []

        with shared_preparation(model, prepare) as sensitive:
            if sensitive:
                warnings.warn(
                    f"the model is in training mode with {', '.join(sensitive)}; it is explained in eval mode "
                    "(dropout off, batch-norm running statistics) and put back in training mode afterwards. "
                    "Call model.eval() to silence this warning.",
                    CdigWarning,
                    stacklevel=4,
                )
            yield

    def forward(self, inputs: Any, args: tuple) -> Any:
        with torch.no_grad():  # a copy: a model may change its input in place (e.g. x[mask] = 0)
            return self.run_model(inputs.clone(), args)

    def training_layers(self) -> list[str]:
        """Modules (the model, or those a function reaches) in training mode with dropout or batch norm."""
        found = []
        for top in _modules(self.model):
            kinds = sorted({type(m).__name__ for m in top.modules() if m.training and isinstance(m, _TRAIN_SENSITIVE)})
            if kinds:
                found.append(f"{type(top).__name__} ({', '.join(kinds)})")
        return found

    def time_axis_hint(self, shape: tuple[int, ...], time_axis: int) -> str | None:
        """A channels-last input ``(N, T, C)`` taken as ``(N, C, T)``: the first layer that reads the input
        (``Conv1d``, a ``batch_first`` RNN, ``BatchNorm1d``), a Hugging Face config (``context_length``), or
        else a last axis shorter than axis 1, says time is on axis 1."""
        if time_axis not in (-1, 2):
            return None
        _, a1, a2 = shape
        reason = None
        for top in _modules(self.model):
            config = getattr(top, "config", None)
            length = getattr(config, "context_length", None)
            if isinstance(length, int) and length == a1 != a2:
                reason = f"{type(top).__name__}'s config has context_length={length}, the length of axis 1"
                break
            first = next(
                (m for m in top.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.RNNBase, torch.nn.BatchNorm1d))), None
            )
            if isinstance(first, torch.nn.Conv1d) and first.in_channels == a2 != a1:
                reason = f"its first layer, Conv1d, takes {a2} input channels, the length of axis 2"
            elif isinstance(first, torch.nn.RNNBase) and first.batch_first and first.input_size == a2:
                reason = f"its first layer, a batch_first {type(first).__name__}, reads (N, T, C) with {a2} features"
            elif isinstance(first, torch.nn.BatchNorm1d) and first.num_features == a2 != a1:
                reason = f"its first layer, BatchNorm1d, normalises {a2} channels, the length of axis 2"
            if first is not None:
                break
        else:
            if a2 < a1:
                reason = f"the last axis ({a2}) is shorter than axis 1 ({a1})"
        if reason is None:
            return None
        return (
            f"x has shape {tuple(shape)}: cdig takes axis 2 as time ({a2} samples) and axis 1 as {a1} channels "
            f"(PyTorch's (N, C, T)), but {reason}. If x is (N, T, C), pass time_axis=1; pass time_axis=-1 to "
            "keep (N, C, T) and silence this warning"
        )

    # --- the path primitives -----------------------------------------------------------
    def point_bytes(
        self, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any, room: float | None = None
    ) -> tuple[float, float] | None:
        """Bytes one more path point costs in a forward+backward chunk, and what a chunk costs whatever
        its size (workspaces), from chunks of :data:`~cdig.core.memory.PROBE_ROWS` points of the first
        sample.

        First a forward pass of one point that keeps nothing for a backward pass (what autograd would
        keep is counted and dropped): twice that plus the point, its gradient and the direction is a
        lower bound, returned at once when it exceeds ``room`` (so a budget too small for one point is
        refused without running one). Then the probes: on CUDA the allocator's peak; on the CPU the
        bytes the C allocator has handed out (glibc's ``mallinfo2``), read after every operator and,
        by a thread, every 50 µs while operators run (their workspaces, e.g. a convolution's columns,
        live only inside them); where glibc does not tell, the tensors autograd keeps, counted
        twice. A first unmeasured point keeps what a shape's first pass allocates for good (kernels,
        caches) out of the measure. The second probe runs only when the first left ``room`` for it."""
        import gc
        import threading
        import time

        from torch.utils._python_dispatch import TorchDispatchMode

        from ..core.memory import PROBE_ROWS, allocated_bytes

        point = float(start[:1].numel() * start.element_size())
        own: set[int] = set()
        if isinstance(self.model, torch.nn.Module):
            own = {t.untyped_storage().data_ptr() for t in list(self.model.parameters()) + list(self.model.buffers())}

        def storage_bytes(t: torch.Tensor, seen: dict[int, int]) -> None:
            try:
                st = t.untyped_storage()
                if st.data_ptr() not in own:
                    seen[st.data_ptr()] = st.nbytes()
            except (RuntimeError, NotImplementedError):  # e.g. sparse or functional tensors
                seen[id(t)] = t.numel() * t.element_size()

        # 1. one point forward, nothing kept for a backward pass: a lower bound on one point
        kept: dict[int, int] = {}

        def drop(t: torch.Tensor) -> None:
            storage_bytes(t, kept)

        idx = np.zeros(1, dtype=np.int64)
        d = delta.index_select(0, self.as_index(idx))
        pts = torch.addcmul(start.index_select(0, self.as_index(idx)), self._column(np.full(1, 0.5), d), d)
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(drop, lambda _: None):
            y = fn(pts.requires_grad_(True).clone(), idx)
        del y, pts, d
        lower = 2.0 * sum(kept.values()) + 3.0 * point
        if room is not None and lower > room:
            return lower, 0.0

        cuda = self.device is not None and self.device.type == "cuda"
        host = not cuda and allocated_bytes() is not None

        class Peak(TorchDispatchMode):
            """The most the C allocator had handed out: after any operator, and every 50 µs meanwhile."""

            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                # nothing is compiled inside this mode: do not wrap it for torch.compile, whose first
                # use imports torch._dynamo (about 2 s) only to switch itself off
                return False

            def __init__(self) -> None:
                super().__init__()
                self.base = allocated_bytes() or 0
                self.peak = 0
                self.done = threading.Event()
                self.sampler = threading.Thread(target=self.sample, daemon=True)

            def read(self) -> None:
                self.peak = max(self.peak, (allocated_bytes() or 0) - self.base)

            def sample(self) -> None:
                while not self.done.is_set():
                    self.read()
                    time.sleep(5e-5)

            def __enter__(self) -> "Peak":
                self.sampler.start()
                return super().__enter__()

            def __exit__(self, *exc: Any) -> None:
                super().__exit__(*exc)
                self.done.set()
                self.sampler.join()
                self.read()

            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                out = func(*args, **(kwargs or {}))
                self.read()
                return out

        sizes: list[float] = []
        collecting = gc.isenabled()
        gc.disable()  # no garbage freed by the collector while measuring: it would lower the count
        try:
            for rows in (PROBE_ROWS[0], *PROBE_ROWS):  # the first, unmeasured: what a first pass keeps for good
                if len(sizes) > 1 and room is not None and sizes[1] * rows > room:
                    break  # the first probe already fills the room: one point costs all of it
                at, alphas = np.zeros(rows, dtype=np.int64), np.full(rows, 0.5)
                if cuda:
                    torch.cuda.synchronize(self.device)
                    torch.cuda.reset_peak_memory_stats(self.device)
                    base = torch.cuda.memory_allocated(self.device)
                    g, _ = self.path_grad(fn, start, delta, at, alphas, False)
                    torch.cuda.synchronize(self.device)
                    sizes.append(float(torch.cuda.max_memory_allocated(self.device) - base))
                elif host:
                    with Peak() as peak:
                        g, _ = self.path_grad(fn, start, delta, at, alphas, False)
                        del g
                    sizes.append(float(peak.peak))
                    continue
                else:
                    seen: dict[int, int] = {}

                    def pack(t: torch.Tensor) -> torch.Tensor:
                        storage_bytes(t, seen)  # noqa: B023 - used within this iteration
                        return t

                    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                        g, _ = self.path_grad(fn, start, delta, at, alphas, False)
                    sizes.append(2.0 * sum(seen.values()) + 3.0 * rows * point)
                del g
        finally:
            if collecting:
                gc.enable()
        sizes = sizes[1:]
        if len(sizes) < 2:
            return max(sizes[0], lower), 0.0
        per = max((sizes[1] - sizes[0]) / (PROBE_ROWS[1] - PROBE_ROWS[0]), lower)
        return per, max(0.0, sizes[0] - PROBE_ROWS[0] * per)

    def digest_leaf(self, v: Any, fp: Fingerprint) -> bool:
        """Tensors by dtype, shape and contents; modules by their tree (see :func:`_digest_module`);
        TorchScript functions by their code."""
        return _digest_torch(v, fp)

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
        leaf = torch.addcmul(start.index_select(0, ti), self._column(alphas, d), d).requires_grad_(True)
        with torch.enable_grad():
            # the model gets a copy, not the leaf: it may change its input in place (e.g. x[mask] = 0)
            y = fn(leaf.clone(), idx)
            if not isinstance(y, torch.Tensor) or not y.requires_grad:
                raise CdigModelError(
                    "the model's output does not depend on its input (no gradient flows back to it); "
                    "check that the model uses the input and does not detach it or cast it to an integer type"
                )
            (g,) = torch.autograd.grad(y.sum(), leaf, allow_unused=True)
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


def _freeze(modules: list[torch.nn.Module], eval_mode: bool) -> tuple[Callable[[], None], list[str]]:
    """Frozen parameters and, with ``eval_mode``, eval mode; returns the function restoring the modules'
    own modes and flags and the training-sensitive layers (dropout, batch norm) that were in training mode."""
    modes = [(m, m.training) for top in modules for m in top.modules()]
    flags = [(p, p.requires_grad) for top in modules for p in top.parameters()]
    sensitive = sorted({type(m).__name__ for m, training in modes if training and isinstance(m, _TRAIN_SENSITIVE)})
    if eval_mode:
        for top in modules:
            if any(m.training for m in top.modules()):
                top.eval()
    for p, _ in flags:
        p.requires_grad_(False)

    def restore() -> None:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, training in modes:
            m.training = training

    return restore, sensitive


#: What every module has (hooks, flags, registries): not the module's own settings.
_MODULE_INTERNALS = frozenset(vars(torch.nn.Module())) | {"training"}


def _digest_torch(v: Any, fp: Fingerprint) -> bool:
    if keras_leaf(v, fp):
        return True
    if isinstance(v, torch.Tensor):
        fp.put("tensor", f"{v.dtype}{tuple(v.shape)}")
        if v.is_meta or isinstance(v, torch.nn.parameter.UninitializedTensorMixin):
            return True
        t = v.detach().cpu()
        if t.layout != torch.strided:
            t = t.to_dense()
        if t.numel():
            fp.put("bytes", t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return True
    if isinstance(v, (torch.dtype, torch.device)):
        fp.put("torch", str(v))
        return True
    if isinstance(v, torch.jit.ScriptFunction):
        fp.put("torchscript-function", v.code)
        return True
    if isinstance(v, _ExportedModel):
        fp.put("exported")
        fp.add(v.inner)
        return True
    if isinstance(v, torch.nn.Module):
        _digest_module(v, fp)
        return True
    return False


def _digest_module(model: torch.nn.Module, fp: Fingerprint) -> None:
    """The module tree: for each module its qualified name and class (with the code of the user's own
    classes), its settings (attributes other than ``nn.Module``'s own, e.g. ``stride``, ``eps``, a
    custom ``scale``; the training mode is not one), its forward hooks, all its parameters and buffers
    (persistent or not); TorchScript modules by their compiled code, ``torch.fx`` graph modules (and
    ``torch.export`` programs) by their generated code."""
    for qualname, m in model.named_modules(remove_duplicate=False):
        fp.put("module", qualname)
        if isinstance(m, torch.jit.ScriptModule):
            fp.put("torchscript", getattr(m, "original_name", type(m).__name__))
            try:
                fp.put("code", m.code)
            except (RuntimeError, AttributeError):  # a module without forward
                pass
        else:
            fp.user_class(type(m))
            if isinstance(m, torch.fx.GraphModule):
                fp.put("fx", m.code)
            fp.add({k: a for k, a in vars(m).items() if k not in _MODULE_INTERNALS})
            fp.add([*m._forward_pre_hooks.values(), *m._forward_hooks.values()])
        for kind, items in (("parameter", m._parameters), ("buffer", m._buffers)):
            for name, t in items.items():
                fp.put(kind, name)
                fp.add(t)


BACKEND = TorchBackend


class _ExportedModel(torch.nn.Module):
    """An exported program's module, out of reach of ``.eval()``/``.train()`` (which it refuses)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        object.__setattr__(self, "inner", inner)  # not a registered child: eval() does not recurse

    def forward(self, *args: Any) -> Any:
        return self.inner(*args)


def _load_exported(path: Path, trusted: bool = False) -> Any:
    """The module of a ``torch.export`` archive; refused before anything is unpickled unless ``trusted``.

    ``torch.export.load`` calls ``torch.load(weights_only=False)`` on weights and constants marked
    ``use_pickle``, ``pickle.loads`` on opaque objects, loads AOTInductor libraries, and falls back to
    ``weights_only=False`` for sample inputs (and old-format archives) that the safe unpickler refuses:
    each of these runs code from the file. The archive (a zip) is inspected first, and every pickle in
    it must load with ``torch.load(weights_only=True)``, so that torch's first, safe attempt succeeds.
    """
    import io
    import json
    import zipfile

    def unsafe_parts() -> list[str]:
        found = []
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                rel = info.filename.split("/", 1)[-1]  # torch's reader drops the archive's top folder
                if rel.startswith(("data/aotinductor/", "data/executorch/", "data/mtia")):
                    found.append(f"compiled code ({rel})")
                elif rel.startswith("data/") and rel.endswith("_config.json"):
                    config = json.loads(z.read(info))
                    entries = config.get("config") if isinstance(config, dict) else None
                    for name, meta in (entries or {}).items() if isinstance(entries, dict) else ():
                        if not isinstance(meta, dict):
                            found.append(f"an unreadable entry {name!r} in {rel}")
                        elif meta.get("use_pickle") or str(meta.get("path_name", "")).startswith(("custom_obj_", "opaque_obj_")):
                            found.append(f"{name!r} stored as a pickle")
                elif rel.endswith((".pt", ".pkl", ".pickle")):
                    try:
                        torch.load(io.BytesIO(z.read(info)), weights_only=True)
                    except Exception:  # noqa: BLE001 - whatever the safe unpickler refuses, torch would unpickle
                        found.append(f"{rel}, a pickle of more than plain tensors")
        return found

    if not trusted:
        try:
            found = unsafe_parts()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise CdigValueError(
                f"{path}: cannot load as a torch.export program ({one_line(e)}); save it with "
                "torch.export.save(torch.export.export(model, (x,)), path)"
            ) from None
        if found:
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            raise CdigValueError(
                f"{path}: refused: loading this torch.export archive would run code stored in it "
                f"({'; '.join(found[:3])}{more}); a model file is code: if you trust who made it, "
                "pass --trust-model (cdig explain) or trusted=True (cdig.io.load_model)"
            )
    import logging

    noisy = logging.getLogger("torch._export.serde.serialize")  # its unsafe fallback logs with a broken format
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        module = torch.export.load(str(path)).module()
    except Exception as e:  # noqa: BLE001 - any failure is a file the user must fix
        raise CdigValueError(
            f"{path}: cannot load as a torch.export program ({one_line(e)}); save it with "
            "torch.export.save(torch.export.export(model, (x,)), path)"
        ) from None
    finally:
        noisy.setLevel(level)
    return _ExportedModel(module)
