"""What a framework must provide to cdig: one small class per framework with these methods."""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import sysconfig
import threading
import types
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError
from ..core.outputs import ModelCall

__all__ = [
    "Backend",
    "CompiledPath",
    "CompiledCache",
    "Fingerprint",
    "digest_model",
    "foreign_to_numpy",
    "keras_leaf",
    "reachable",
    "shared_preparation",
]


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
        self._lock = threading.Lock()  # explanations in several threads share the cache

    def get(self, model: Any, build: Callable[[], Any], cacheable: bool) -> Any:
        if cacheable:
            with self._lock:
                try:
                    return self._store[model]
                except (KeyError, TypeError):  # not built yet / not weak-referenceable or unhashable
                    pass
        value = build()
        if cacheable:
            with self._lock:
                try:
                    return self._store.setdefault(model, value)  # a thread that built it first wins
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
        #: How the model is called and which tensor of its output is explained (set by the engine).
        self.model_call = ModelCall()

    def set_call(self, call: ModelCall) -> None:
        """Use ``call`` for every model call from now on (keyword arguments, the output selected).
        Compiling backends rebuild their compiled functions around it where it is not trivial."""
        self.model_call = call

    def run_model(self, inputs: Any, args: tuple) -> Any:
        """``model(inputs, *args)`` through :attr:`model_call`: keywords bound, the explained tensor selected."""
        return self.model_call(self.model, inputs, args, self.is_array)

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
        return self.run_model(inputs, args)

    def training_layers(self) -> list[str]:
        """The model's parts in training mode that compute across the batch or at random, in words (e.g.
        ``"PatchTSTForClassification (BatchNorm1d, Dropout)"``), wherever they sit: behind a function too."""
        return []

    def time_axis_hint(self, shape: tuple[int, ...], time_axis: int) -> str | None:
        """For a 3-D input and the default ``time_axis``: a sentence when the model suggests that time is on
        another axis (e.g. a first layer that takes the last axis as its channels), else None."""
        return None

    @abstractmethod
    def forward(self, inputs: Any, args: tuple) -> Any:
        """The model's output without gradient bookkeeping."""
        raise NotImplementedError

    def model_digest(self, model: Any) -> str | None:
        """A fingerprint of what the model computes with: its architecture or code, and its weights.

        Used by :func:`cdig.explain_dataset` to refuse resuming a store with another model. Covered
        (see :class:`Fingerprint`): plain Python functions and callable objects by their code
        (bytecode, constants, nested code), closure cells, default values and the globals they name
        (the user's functions recursively, arrays and plain values by value); Keras models by their
        layers' classes and configurations and their weights; and what each framework adds in
        :meth:`digest_leaf` (PyTorch: the module tree, each module's class, hyperparameters,
        parameters and buffers, the code of the user's own module classes, TorchScript code and
        exported graphs; TensorFlow: variables and the graphs of compiled and loaded functions; JAX:
        arrays and pytrees). Not covered: installed code (library functions and classes count by
        their qualified name, so an upgrade of a package is not seen), names of locals, comments and
        line numbers; the digest depends on the Python version (bytecode).

        Returns
        -------
        str or None
            20 hex digits, the same for a model rebuilt identically (in this or another process); None
            when the model cannot be read (it is then not fingerprinted).

        Examples
        --------
        The framework-free part, :func:`digest_model`, on a plain function:

        >>> def model(x):
        ...     return x.sum(axis=-1)
        >>> digest_model(model) == digest_model(model), len(digest_model(model))
        (True, 20)
        """
        return digest_model(model, self.digest_leaf)

    def digest_leaf(self, v: Any, fp: Fingerprint) -> bool:
        """Add a framework object (tensor, module, variable, compiled function) to ``fp``; True when
        ``v`` was handled, False to let :class:`Fingerprint` digest it as a Python object."""
        return keras_leaf(v, fp)

    # --- memory (internal_batch_size="auto", see cdig.core.memory) ------------------------
    def point_bytes(
        self, fn: Callable[[Any, np.ndarray], Any], start: Any, delta: Any, room: float | None = None
    ) -> tuple[float, float] | None:
        """Bytes one more path point costs in a forward+backward chunk and bytes a chunk costs whatever
        its size; None when they cannot be measured. Where one point would not fit ``room`` bytes, a
        backend may stop measuring and return a first cost above ``room`` (the engine then refuses)."""
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


# --- concurrent explanations of one model ---------------------------------------------------
#: Models prepared for an explanation right now, by id: [explanations in flight, restore, info].
#: An entry lives only while its model is in use (so an id cannot be reused meanwhile).
_PREPARED: dict[int, list[Any]] = {}
_PREPARED_LOCK = threading.Lock()


@contextmanager
def shared_preparation(model: Any, prepare: Callable[[], tuple[Callable[[], None], Any]]) -> Iterator[Any]:
    """Run ``prepare()`` on ``model`` once for all the explanations of it in flight, in any thread.

    ``prepare()`` changes the model for an explanation (e.g. eval mode, frozen weights) and returns a
    function restoring it and some information for the callers (e.g. a warning's text). The first
    explanation of a model saves and prepares it, those that start while it is prepared join it, and
    the last one to finish restores it: concurrent explanations of one model (threads, or an
    explanation inside another) never save each other's changes as the model's own state.

    Yields what ``prepare()`` returned besides the restoring function (the first caller's).

    Examples
    --------
    >>> state = {"mode": "train"}
    >>> def prepare():
    ...     saved, state["mode"] = state["mode"], "eval"
    ...     return (lambda: state.update(mode=saved)), saved
    >>> with shared_preparation(state, prepare) as outer, shared_preparation(state, prepare) as inner:
    ...     (outer, inner, state["mode"])
    ('train', 'train', 'eval')
    >>> state["mode"]
    'train'
    """
    key = id(model)
    with _PREPARED_LOCK:
        entry = _PREPARED.get(key)
        if entry is None or entry[3] is not model:
            restore, info = prepare()
            entry = _PREPARED[key] = [0, restore, info, model]
        entry[0] += 1
    try:
        yield entry[2]
    finally:
        with _PREPARED_LOCK:
            entry[0] -= 1
            if entry[0] == 0:
                _PREPARED.pop(key, None)
                entry[1]()


# --- what a model reaches -----------------------------------------------------------------------
def reachable(root: Any, match: Callable[[Any], bool], limit: int = 5000) -> list[Any]:
    """The objects satisfying ``match`` that ``root`` reaches, in the order found (breadth first).

    Followed: closure cells, default values and the globals a function's code names (functions of
    installed packages are not entered), bound methods' functions and objects, ``functools.partial``
    parts, ``__wrapped__``, containers (dicts, lists, tuples, sets) and the attributes of objects (not of
    modules or classes). A match is not entered. At most ``limit`` objects are visited.

    Used to find the framework models behind a function (``lambda x: model(x)``), to run, check and
    restore them like a model passed itself.

    Examples
    --------
    >>> class Net:
    ...     pass
    >>> net = Net()
    >>> fn = lambda x: net
    >>> reachable(fn, lambda v: isinstance(v, Net)) == [net]
    True
    """
    found: list[Any] = []
    seen: set[int] = set()
    queue: list[Any] = [root]
    head = 0
    while head < len(queue) and len(seen) < limit:
        v = queue[head]
        head += 1
        if isinstance(v, _PLAIN) or isinstance(v, (np.ndarray, np.generic, types.ModuleType, type)) or id(v) in seen:
            continue
        seen.add(id(v))
        if match(v):
            found.append(v)
            continue
        if isinstance(v, dict):
            queue.extend(list(v.values())[:1000])
        elif isinstance(v, (list, tuple, set, frozenset)):
            queue.extend(list(v)[:1000])
        elif isinstance(v, types.FunctionType):
            if is_library_module(v.__module__ or ""):
                continue
            for cell in v.__closure__ or ():
                try:
                    queue.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    pass
            queue.extend([v.__defaults__, v.__kwdefaults__])
            queue.extend(v.__globals__[n] for n in _code_names(v.__code__) if n in v.__globals__)
        elif isinstance(v, types.MethodType):
            queue.extend([v.__func__, v.__self__])
        elif isinstance(v, functools.partial):
            queue.extend([v.func, v.args, v.keywords])
        else:
            wrapped = getattr(v, "__wrapped__", None) if not isinstance(v, types.BuiltinFunctionType) else None
            if wrapped is not None:
                queue.append(wrapped)
            state = getattr(v, "__dict__", None)
            if isinstance(state, dict):
                queue.extend(list(state.values())[:1000])
    return found


def _code_names(co: types.CodeType) -> list[str]:
    """The global names a code object (and the code nested in it) uses."""
    names = list(co.co_names)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            names.extend(_code_names(c))
    return names


# --- model fingerprints ------------------------------------------------------------------------
_LIBRARY_DIRS = tuple(
    {str(Path(p).resolve()) for k, p in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


@functools.lru_cache(maxsize=1024)
def is_library_module(name: str) -> bool:
    """Whether the module ``name`` is installed code (the standard library, site-packages, built in),
    as opposed to the user's own code (a script, a notebook, a project folder or an editable install)."""
    if not name or name == "__main__":
        return False
    root = name.split(".")[0]
    if root in sys.builtin_module_names or root in ("builtins", "numpy", "torch", "tensorflow", "keras", "jax", "jaxlib"):
        return True
    module = sys.modules.get(name) or sys.modules.get(root)
    path = getattr(module, "__file__", None)
    if path is None:
        return module is not None  # built-in or namespace packages of installed code
    resolved = str(Path(path).resolve())
    return any(resolved.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def _is_user_object(v: Any) -> bool:
    return not is_library_module(getattr(type(v), "__module__", "") or "")


_PLAIN = (type(None), bool, int, float, complex, str, bytes)


class Fingerprint:
    """A SHA-256 digest of what a model computes with: its code and its state.

    Covered, for any object reached from the model: plain values (numbers, strings, None) and numpy
    arrays (dtype, shape, bytes); containers (dicts in order, lists, tuples, sets sorted); Python
    functions by their code (bytecode, constants and names, nested code), default values, closure
    cells and the globals their code names (user functions recursively, arrays and plain values by
    value, modules by name); bound methods, ``functools.partial`` and wrapped (``__wrapped__``,
    e.g. ``jax.jit``) functions by their parts; objects of the user's own classes by their class's
    methods and their attributes. A framework's objects (tensors, modules, variables) are digested
    by ``leaf(value, fingerprint)``, which returns True when it handled ``value``.

    Not covered: installed code (functions and classes of the standard library and of packages in
    site-packages count by their qualified name only, so a package upgrade is not seen, and objects
    of installed classes that no ``leaf`` handles count by their type), names of locals, line
    numbers and comments (they do not change what runs), and anything beyond a nesting depth of 64.
    Bytecode is that of the running Python: another Python version gives another digest.

    Examples
    --------
    >>> def f(x):
    ...     return 2.0 * x
    >>> def g(x):
    ...     return 3.0 * x
    >>> Fingerprint().add(f).hexdigest() == Fingerprint().add(f).hexdigest() != Fingerprint().add(g).hexdigest()
    True
    """

    MAX_DEPTH = 64

    def __init__(self, leaf: Callable[[Any, Fingerprint], bool] | None = None) -> None:
        self._h = hashlib.sha256()
        self._seen: dict[int, tuple[int, Any]] = {}  # id -> (order, the object, kept alive meanwhile)
        self.leaf = leaf
        self._depth = 0

    def hexdigest(self, length: int = 20) -> str:
        return self._h.hexdigest()[:length]

    def put(self, tag: str, payload: bytes | str = b"") -> None:
        """Add a tagged, length-prefixed record (so that no two sequences of records collide)."""
        data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        self._h.update(f"{tag}:{len(data)}:".encode())
        self._h.update(data)

    def array(self, a: np.ndarray) -> None:
        """A numpy array by dtype, shape and contents."""
        self.put("array", f"{a.dtype.str}{a.shape}")
        if a.dtype == object:
            for v in a.reshape(-1):
                self.add(v)
        else:
            self.put("bytes", np.ascontiguousarray(a).tobytes())

    def add(self, v: Any) -> Fingerprint:
        """Add ``v`` (recursively); returns this fingerprint."""
        if isinstance(v, _PLAIN):
            self.put(type(v).__name__, repr(v) if not isinstance(v, (str, bytes)) else v)
            return self
        if isinstance(v, (np.ndarray, np.generic)):
            self.array(np.asarray(v))
            return self
        key = id(v)
        if key in self._seen:  # a cycle or a shared object: its position in this digest
            self.put("seen", str(self._seen[key][0]))
            return self
        if self._depth >= self.MAX_DEPTH:
            self.put("deep", type(v).__qualname__)
            return self
        self._seen[key] = (len(self._seen), v)
        self._depth += 1
        try:
            if self.leaf is None or not self.leaf(v, self):
                self._object(v)
        finally:
            self._depth -= 1
        return self

    def name(self, v: Any) -> None:
        """``v`` by its qualified name only (installed functions and classes, modules)."""
        if isinstance(v, types.ModuleType):
            self.put("module", v.__name__)
        else:
            self.put(
                "name", f"{getattr(v, '__module__', None)}.{getattr(v, '__qualname__', getattr(v, '__name__', type(v).__name__))}"
            )

    def code(self, co: types.CodeType, globals_: dict[str, Any] | None = None) -> None:
        """A code object: bytecode, constants (nested code recursively), names; and, given the
        function's globals, the values of the globals it names."""
        self.put("code", co.co_code)
        self.put("shape", f"{co.co_argcount},{co.co_posonlyargcount},{co.co_kwonlyargcount},{co.co_flags}")
        self.put("names", "\0".join(co.co_names))
        for c in co.co_consts:
            if isinstance(c, types.CodeType):
                self.code(c, globals_)
            elif isinstance(c, frozenset):
                self.put("frozenset", "\0".join(sorted(repr(e) for e in c)))
            else:
                self.add(c)
        if globals_ is not None:
            for n in co.co_names:
                if n in globals_ and not n.startswith("__"):
                    self.put("global", n)
                    self.add(globals_[n])

    def function(self, fn: types.FunctionType) -> None:
        if is_library_module(fn.__module__ or ""):
            self.name(fn)
            return
        self.put("function")
        self.code(fn.__code__, fn.__globals__)
        self.add(fn.__defaults__)
        self.add(fn.__kwdefaults__)
        for cell in fn.__closure__ or ():
            try:
                self.add(cell.cell_contents)
            except ValueError:  # an empty cell
                self.put("empty-cell")

    def user_class(self, cls: type) -> None:
        """A class by name, and (for the user's own classes and their own bases) the code of its methods
        and its class-level values (numbers, strings, arrays and containers of them)."""
        self.name(cls)
        for klass in cls.__mro__:
            if is_library_module(klass.__module__ or ""):
                continue
            self.put("class", klass.__qualname__)
            for attr, value in sorted(vars(klass).items()):
                fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
                if isinstance(value, property):
                    fn = value.fget
                if isinstance(fn, types.FunctionType):
                    self.put("method", attr)
                    self.function(fn)
                elif not (attr.startswith("__") and attr.endswith("__")) and _is_data(value):
                    self.put("class-value", attr)
                    self.add(value)

    def _object(self, v: Any) -> None:
        if isinstance(v, dict):
            self.put("dict", str(len(v)))
            for k, item in v.items():
                self.add(k)
                self.add(item)
        elif isinstance(v, (list, tuple)):
            self.put(type(v).__name__, str(len(v)))
            for item in v:
                self.add(item)
        elif isinstance(v, (set, frozenset)):
            self.put("set", "\0".join(sorted(Fingerprint(self.leaf).add(e).hexdigest(64) for e in v)))
        elif isinstance(v, types.FunctionType):
            self.function(v)
        elif isinstance(v, types.MethodType):
            self.put("method")
            self.add(v.__func__)
            self.add(v.__self__)
        elif isinstance(v, functools.partial):
            self.put("partial")
            self.add(v.func)
            self.add(v.args)
            self.add(v.keywords)
        elif isinstance(v, types.CodeType):
            self.code(v)
        elif isinstance(v, type):
            self.user_class(v)
        elif isinstance(v, (types.ModuleType, types.BuiltinFunctionType)) or not _is_user_object(v):
            wrapped = getattr(v, "__wrapped__", None)
            if callable(wrapped) and not isinstance(v, types.ModuleType):  # e.g. jax.jit(f), functools.wraps
                self.put("wrapper", type(v).__qualname__)
                self.add(wrapped)
            elif callable(getattr(v, "__array__", None)) and hasattr(v, "shape"):
                try:
                    self.array(np.asarray(v))
                except Exception:  # noqa: BLE001 - an array-like that will not convert counts by its type
                    self.name(type(v))
            elif isinstance(v, (types.ModuleType, types.BuiltinFunctionType)):
                self.name(v)
            else:  # installed classes' objects: by a repr that shows their value (dtypes, enums), else their type
                self.name(type(v))
                text = _value_repr(v)
                if text is not None:
                    self.put("repr", text)
        else:  # an object of the user's own class
            self.user_class(type(v))
            state = getattr(v, "__dict__", None)
            if state is None:
                state = {s: getattr(v, s) for c in type(v).__mro__ for s in getattr(c, "__slots__", ()) if hasattr(v, s)}
            self.add(dict(state))


def _is_data(v: Any) -> bool:
    """Plain values, arrays and (shallow) containers of them: what a class body sets as a constant."""
    if isinstance(v, (*_PLAIN, np.ndarray, np.generic)):
        return True
    if isinstance(v, (list, tuple, frozenset, set)):
        return all(isinstance(e, (*_PLAIN, np.generic)) for e in v)
    if isinstance(v, dict):
        return all(isinstance(e, (*_PLAIN, np.generic)) for e in (*v.keys(), *v.values()))
    return False


def _value_repr(v: Any) -> str | None:
    """``repr(v)`` where it shows a value (not an object's address), else None."""
    try:
        text = repr(v)
    except Exception:  # noqa: BLE001 - an object whose repr fails counts by its type
        return None
    return None if " at 0x" in text or " object at " in text or len(text) > 10_000 else text


def digest_model(model: Any, leaf: Callable[[Any, Fingerprint], bool] | None = None) -> str | None:
    """:class:`Fingerprint` of ``model`` (20 hex digits); None when it cannot be computed (an error while
    reading the model, reported by the caller as a model that could not be fingerprinted)."""
    try:
        return Fingerprint(leaf).add(model).hexdigest()
    except Exception:  # noqa: BLE001 - a model that cannot be read is reported as not fingerprinted
        return None


def keras_leaf(v: Any, fp: Fingerprint) -> bool:
    """Keras layers and models (any Keras backend): their layers' classes and configurations (layer
    names replaced by their position, as Keras numbers them per process) and every weight by position."""
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(v, keras.layers.Layer):
        return False
    try:
        layers = list(v._flatten_layers(include_self=True, recursive=True))
    except Exception:  # noqa: BLE001 - an older Keras: the model and its direct layers
        layers = [v, *getattr(v, "layers", [])]
    names = {layer.name: f"<layer {i}>" for i, layer in enumerate(layers)}
    for layer in layers:
        fp.user_class(type(layer))
        try:
            config = layer.get_config()
        except Exception:  # noqa: BLE001 - a subclassed layer without get_config: its class code and weights
            config = None
        fp.add(_renamed(config, names))
    for w in v.weights:
        value = np.asarray(w.numpy() if hasattr(w, "numpy") else keras.ops.convert_to_numpy(w))
        fp.array(value)
    return True


def _renamed(config: Any, names: dict[str, str]) -> Any:
    if isinstance(config, str):
        return names.get(config, config)
    if isinstance(config, dict):
        return {k: _renamed(c, names) for k, c in config.items()}
    if isinstance(config, (list, tuple)):
        return [_renamed(c, names) for c in config]
    return config
