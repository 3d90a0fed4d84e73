"""The TensorFlow / Keras backend: the only module of cdig that imports TensorFlow.

Keras 3 models on the TensorFlow backend, ``tf.Module`` objects, ``tf.function`` callables and any
callable on ``tf.Tensor`` are run here. The model's forward pass is compiled once per input shape
(``tf.function``); gradients are taken with a ``GradientTape`` that watches only the path points.
TensorFlow's gradient of a real loss with respect to a complex tensor is ``∂/∂Re + i ∂/∂Im`` (the
convention cdig uses), as in PyTorch.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..core.errors import CdigModelError, CdigTypeError, CdigValueError, one_line
from ..core.outputs import ModelCall
from .base import Backend, CompiledCache, CompiledPath, Fingerprint, foreign_to_numpy, is_library_module, keras_leaf

__all__ = ["TensorflowBackend", "BACKEND", "TFNamespace"]


def _is_keras_model(model: Any, backend: str) -> bool:
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(model, keras.Model):
        return False
    return str(keras.backend.backend()) == backend


def _move_axis_last(x: tf.Tensor, axis: int) -> tuple[tf.Tensor, list[int] | None]:
    nd = x.shape.rank
    axis = axis % nd
    if axis == nd - 1:
        return x, None
    perm = [i for i in range(nd) if i != axis] + [axis]
    return tf.transpose(x, perm), perm


def _undo(x: tf.Tensor, perm: list[int] | None) -> tf.Tensor:
    return x if perm is None else tf.transpose(x, np.argsort(perm).tolist())


class _FFT:
    """``xp.fft`` for TensorFlow: the Array-API spelling over ``tf.signal`` (innermost axis only)."""

    @staticmethod
    def rfft(x: tf.Tensor, n: int | None = None, axis: int = -1) -> tf.Tensor:
        x, perm = _move_axis_last(x, axis)
        n = int(x.shape[-1]) if n is None else n
        return _undo(tf.signal.rfft(x, fft_length=[n]), perm)

    @staticmethod
    def irfft(z: tf.Tensor, n: int | None = None, axis: int = -1) -> tf.Tensor:
        z, perm = _move_axis_last(z, axis)
        n = 2 * (int(z.shape[-1]) - 1) if n is None else n
        return _undo(tf.signal.irfft(z, fft_length=[n]), perm)

    @staticmethod
    def fft(x: tf.Tensor, n: int | None = None, axis: int = -1) -> tf.Tensor:
        x, perm = _move_axis_last(x, axis)
        return _undo(tf.signal.fft(x), perm)

    @staticmethod
    def ifft(z: tf.Tensor, n: int | None = None, axis: int = -1) -> tf.Tensor:
        z, perm = _move_axis_last(z, axis)
        return _undo(tf.signal.ifft(z), perm)


class TFNamespace:
    """The part of the Array-API namespace that cdig's domains use, spelt for TensorFlow."""

    fft = _FFT

    @staticmethod
    def asarray(obj: Any, dtype: Any = None, device: Any = None) -> tf.Tensor:
        with tf.device(device) if device else _nullcontext():
            return tf.convert_to_tensor(np.asarray(obj) if not tf.is_tensor(obj) else obj, dtype=dtype)

    @staticmethod
    def matmul(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        return tf.linalg.matmul(a, b) if a.shape.rank == b.shape.rank else tf.einsum("...ij,...jk->...ik", a, b)

    @staticmethod
    def permute_dims(x: tf.Tensor, axes: tuple[int, ...]) -> tf.Tensor:
        return tf.transpose(x, axes)

    @staticmethod
    def expand_dims(x: tf.Tensor, axis: int) -> tf.Tensor:
        return tf.expand_dims(x, axis)

    @staticmethod
    def reshape(x: tf.Tensor, shape: tuple[int, ...]) -> tf.Tensor:
        return tf.reshape(x, shape)

    @staticmethod
    def flip(x: tf.Tensor, axis: int) -> tf.Tensor:
        return tf.reverse(x, [axis])

    @staticmethod
    def sum(x: tf.Tensor, axis: Any = None) -> tf.Tensor:
        return tf.reduce_sum(x, axis=axis)

    pi = float(np.pi)

    @staticmethod
    def stack(arrays: Any, axis: int = 0) -> tf.Tensor:
        return tf.stack(list(arrays), axis=axis)

    @staticmethod
    def concat(arrays: Any, axis: int = 0) -> tf.Tensor:
        return tf.concat(list(arrays), axis=axis)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> tf.Tensor:
        return tf.where(cond, a, b)

    @staticmethod
    def take(x: tf.Tensor, indices: Any, axis: int | None = None) -> tf.Tensor:
        return tf.gather(x, indices, axis=0 if axis is None else axis)

    @staticmethod
    def cumulative_sum(x: tf.Tensor, axis: int | None = None) -> tf.Tensor:
        return tf.math.cumsum(x, axis=0 if axis is None else axis)

    @staticmethod
    def matrix_transpose(x: tf.Tensor) -> tf.Tensor:
        return tf.linalg.matrix_transpose(x)

    @staticmethod
    def zeros_like(x: tf.Tensor) -> tf.Tensor:
        return tf.zeros_like(x)

    @staticmethod
    def ones_like(x: tf.Tensor) -> tf.Tensor:
        return tf.ones_like(x)

    complex = staticmethod(tf.complex)  # TF does not promote ``1j * tensor``
    round = staticmethod(tf.math.round)
    real = staticmethod(tf.math.real)
    atan2 = staticmethod(tf.math.atan2)
    maximum = staticmethod(tf.math.maximum)
    minimum = staticmethod(tf.math.minimum)
    imag = staticmethod(tf.math.imag)
    conj = staticmethod(tf.math.conj)
    abs = staticmethod(tf.math.abs)
    sign = staticmethod(tf.math.sign)
    exp = staticmethod(tf.math.exp)
    log = staticmethod(tf.math.log)
    sqrt = staticmethod(tf.math.sqrt)
    sin = staticmethod(tf.math.sin)
    cos = staticmethod(tf.math.cos)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


#: One compiled forward per model, reused by every explanation (a new tf.function per call would
#: retrace each time). Weak keys: the cache never keeps a model alive.
_COMPILED = CompiledCache()


def _make_step(call: Callable[..., Any]) -> Any:
    """One chunk of the time path as one graph: points, forward, selected outputs, input gradient.

    The graph returns ``(g, h, ok)``: the input gradient, ``Σ d·g`` per row and whether the gradient
    exists (False: the model's output does not depend on its input).
    """

    def step(
        start: tf.Tensor, delta: tf.Tensor, rows: tf.Tensor, alphas: tf.Tensor, mask: tf.Tensor, want_h: tf.Tensor, *args: Any
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        d = tf.gather(delta, rows, axis=0)
        a = tf.reshape(tf.cast(alphas, d.dtype), tf.concat([[-1], tf.ones([tf.rank(d) - 1], tf.int32)], 0))
        points = tf.gather(start, rows, axis=0) + a * d
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(points)
            out = call(points, *args)
            total = tf.reduce_sum(out * tf.cast(mask, out.dtype))
        g = tape.gradient(total, points)
        if g is None:  # known while tracing; raised outside the graph (errors inside are wrapped)
            return tf.zeros_like(points), tf.zeros([tf.shape(d)[0]], tf.float64), tf.constant(False)
        g = tf.convert_to_tensor(g)
        h = tf.reduce_sum(tf.reshape(tf.cast(d * g, tf.float64), [tf.shape(d)[0], -1]), axis=1)
        return g, h, tf.constant(True)

    return tf.function(step, reduce_retracing=True)


_NO_GRADIENT = (
    "the model's output does not depend on its input (TensorFlow's gradient is None); check that the model "
    "uses the input and does not cast it to an integer type, round it or stop its gradient"
)


def _alive(ref: weakref.ref[Any]) -> Any:
    """The model behind a weak reference of the compiled functions (alive while it is explained)."""
    model = ref()
    if model is None:
        raise ReferenceError("the model was garbage-collected while its compiled forward was in use")
    return model


def _compiled(model: Any, mc: ModelCall | None = None) -> tuple[Any, Any]:
    """The compiled forward and chunk step of ``model``, called through ``mc`` (keywords bound, the
    explained tensor of a structured output selected; by default its first tensor).

    Keras models, ``tf.Module`` objects and ``tf.function`` callables called plainly (``mc`` trivial) are
    compiled once and cached (weakly): their state is in variables, which a trace reads afresh. Any other
    callable, or call, is wrapped afresh for each explanation: it may read Python state that changes
    between explanations.
    """
    keras = sys.modules.get("keras")
    mc = mc or ModelCall()
    cacheable = mc.trivial and (
        isinstance(model, tf.Module)
        or hasattr(model, "get_concrete_function")
        or (keras is not None and isinstance(model, keras.Model))
    )

    def build() -> tuple[Any, Any]:
        try:
            ref = weakref.ref(model)
        except TypeError:  # not weak-referenceable (e.g. a builtin)
            call: Callable[..., Any] = lambda inputs, *args: mc(model, inputs, args, tf.is_tensor)
        else:
            call = lambda inputs, *args: mc(_alive(ref), inputs, args, tf.is_tensor)
        return tf.function(call, reduce_retracing=True), _make_step(call)

    return _COMPILED.get(model, build, cacheable)


class TensorflowBackend(Backend):
    """TensorFlow 2 / Keras 3 models (Sequential, functional, subclassed, loaded) and ``tf.function`` callables."""

    name = "tensorflow"
    xp = TFNamespace
    default_time_axis = 1

    def __init__(self, model: Any, x: Any) -> None:
        super().__init__(model, x)
        if not callable(model):
            raise CdigTypeError(f"model must be callable (a Keras model or a function), got {type(model).__name__}")
        weights = [tf.as_dtype(w.dtype) for w in getattr(model, "weights", [])]
        weights = [dt for dt in weights if dt.is_floating]
        if weights:
            self.dtype = weights[0]
        elif tf.is_tensor(x):
            self.dtype = x.dtype
        else:
            self.dtype = tf.as_dtype(foreign_to_numpy(x, "tensorflow").dtype)
        device = getattr(x, "device", "") if isinstance(x, tf.Tensor) else ""
        self.device = device or None  # "" (no placement) and non-tensor inputs: None
        self._compiled, self._step = _compiled(model)

    @classmethod
    def opens(cls, path: Path) -> bool:
        """A folder holding ``saved_model.pb``: a TensorFlow SavedModel."""
        return path.is_dir() and (path / "saved_model.pb").is_file()

    @classmethod
    def load_model(cls, path: Path, trusted: bool = False) -> Any:
        """A SavedModel's ``serve`` endpoint (Keras 3 ``model.export``), else its ``serving_default`` signature.

        A SavedModel is a program: unless ``trusted``, its graph is read first (``saved_model.pb``) and
        refused when a function the loader makes callable (every concrete function of the object graph
        and the functions they call; every function and node of a TF1 graph but its checkpoint ops)
        holds an op that touches files, runs Python or talks to the network (``WriteFile``,
        ``ReadFile``, ``PyFunc``, summary writers, file readers and datasets, RPC, ...).
        """
        if not trusted:
            from tensorflow.core.protobuf import saved_model_pb2

            checkpoint = {"Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints"}
            denied = checkpoint | {
                *("WriteFile", "ReadFile", "MatchingFiles", "ImmutableConst", "LoadAndRemapMatrix", "GenerateVocabRemapping"),
                *("PyFunc", "PyFuncStateless", "EagerPyFunc"),
                *("CreateSummaryFileWriter", "CreateSummaryDbWriter", "SummaryWriter", "ImportEvent", "FlushSummaryWriter"),
                *("CloseSummaryWriter", "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary"),
                *("WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary"),
                *("WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "TFRecordReader"),
                *("TFRecordReaderV2", "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "LMDBReader"),
                *("TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset"),
                *("FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "SqlDataset"),
                *("ExperimentalSqlDataset", "LMDBDataset", "ExperimentalLMDBDataset", "SaveDataset", "SaveDatasetV2"),
                *("LoadDataset", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "SnapshotDataset"),
                *("SnapshotDatasetV2", "SnapshotDatasetReader", "DataServiceDataset", "DataServiceDatasetV2"),
                *("DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2"),
                *("Rpc", "TryRpc", "RpcClient", "RpcCall", "RpcServer", "RpcServerStart", "RpcServerRegister"),
                *("DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary"),
                *("DebugNumericSummaryV2", "DecodeProtoV2"),
            }
            saved = saved_model_pb2.SavedModel()
            try:
                saved.ParseFromString((path / "saved_model.pb").read_bytes())
            except Exception as e:  # noqa: BLE001 - any failure is a file the user must fix
                raise CdigValueError(f"{path}: cannot load as a TensorFlow SavedModel ({one_line(e)})") from None
            risky: dict[str, set[str]] = {}
            for meta in saved.meta_graphs:
                library = {f.signature.name: f for f in meta.graph_def.library.function}
                todo = list(meta.object_graph_def.concrete_functions)
                tf1 = not todo  # no object graph: a TF1 model, whose graph holds its own checkpoint ops
                nodes: list[tuple[str, Any]] = [("the graph", n) for n in meta.graph_def.node] if tf1 else []
                todo = list(library) if tf1 else todo
                seen: set[str] = set()
                while todo:  # the functions reachable from the callable ones, through calls and func attrs
                    name = todo.pop()
                    if name in seen or name not in library:
                        continue
                    seen.add(name)
                    for n in library[name].node_def:
                        nodes.append((name, n))
                        todo.append(n.op)  # a direct call names the function as its op
                        for value in n.attr.values():
                            todo.extend([value.func.name, *(f.name for f in value.list.func)])
                for where, node in nodes:
                    stream = node.attr["output_stream"].s.decode(errors="replace") if node.op == "PrintV2" else ""
                    if (node.op in denied and not (tf1 and node.op in checkpoint)) or stream.startswith("file"):
                        risky.setdefault(node.op, set()).add(where)
            if risky:
                ops = ", ".join(f"{op} (in {sorted(fns)[0]})" for op, fns in sorted(risky.items()))
                raise CdigValueError(
                    f"{path}: refused: this SavedModel's functions hold ops that touch files, run Python or use "
                    f"the network: {ops}; a model file is code: if you trust who made it, pass --trust-model "
                    "(cdig explain) or trusted=True (cdig.io.load_model)"
                )
        try:
            obj = tf.saved_model.load(str(path))
        except Exception as e:  # noqa: BLE001 - any failure is a file the user must fix
            raise CdigValueError(f"{path}: cannot load as a TensorFlow SavedModel ({one_line(e)})") from None
        if callable(getattr(obj, "serve", None)):
            fn = obj.serve
        else:
            sig = getattr(obj, "signatures", {}).get("serving_default")
            if sig is None:
                raise CdigValueError(
                    f"{path}: the SavedModel has neither a 'serve' endpoint nor a 'serving_default' "
                    "signature; export it with model.export(path) (Keras 3)"
                )
            names = list(sig.structured_outputs)
            if len(names) != 1:
                raise CdigValueError(
                    f"{path}: the 'serving_default' signature has {len(names)} outputs {names}; "
                    "cdig explains a model with one output tensor"
                )
            key = list(sig.structured_input_signature[1])[0]

            def fn(x: Any) -> Any:
                return sig(**{key: x})[names[0]]

        return _SavedModel(obj, fn)

    @classmethod
    def owns_model(cls, model: Any) -> bool:
        if _is_keras_model(model, "tensorflow"):
            return True
        keras = sys.modules.get("keras")
        if keras is not None and isinstance(model, keras.Model):
            return False  # a Keras model on another backend
        return isinstance(model, tf.Module) or hasattr(model, "get_concrete_function")

    @classmethod
    def owns_array(cls, x: Any) -> bool:
        return tf.is_tensor(x) or isinstance(x, tf.Variable)

    def device_name(self) -> str:
        return str(self.device or "tensorflow default")

    def asarray(self, a: Any, dtype: Any = None) -> tf.Tensor:
        dt = tf.as_dtype(dtype) if dtype is not None else None
        if tf.is_tensor(a):
            if dt is None and a.dtype.is_floating and self.dtype.is_floating:
                dt = self.dtype
            return tf.identity(a) if dt is None or dt == a.dtype else tf.cast(a, dt)
        arr = foreign_to_numpy(a, self.name)
        if dt is None and arr.dtype.kind == "f":
            dt = self.dtype
        elif dt is None and arr.dtype.kind == "c":
            dt = tf.complex128 if self.dtype == tf.float64 else tf.complex64
        return tf.convert_to_tensor(arr, dtype=dt)

    def to_numpy(self, t: Any) -> np.ndarray:
        if tf.is_tensor(t) or isinstance(t, tf.Variable):
            if t.dtype in (tf.bfloat16, tf.float16):
                t = tf.cast(t, tf.float32)
            return t.numpy()
        return np.asarray(t)

    @classmethod
    def from_numpy(cls, a: np.ndarray, device: Any = None) -> tf.Tensor:
        if device and device != "tensorflow default":
            with tf.device(device):
                return tf.convert_to_tensor(a)
        return tf.convert_to_tensor(a)

    def is_array(self, a: Any) -> bool:
        return tf.is_tensor(a)

    def as_index(self, a: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(np.asarray(a, dtype=np.int64))

    def take(self, a: Any, idx: np.ndarray) -> tf.Tensor:
        return tf.gather(a, self.as_index(idx), axis=0)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> tf.Tensor:
        return tf.reshape(a, shape)

    def pick(self, out: Any, cols: tuple[np.ndarray, ...]) -> tf.Tensor:
        rows = np.arange(int(out.shape[0]))
        return tf.gather_nd(out, self.as_index(np.stack((rows,) + tuple(cols), axis=1)))

    # --- the model ---------------------------------------------------------------------
    def set_call(self, call: ModelCall) -> None:
        super().set_call(call)
        if not call.trivial:
            self._compiled, self._step = _compiled(self.model, call)

    def call(self, inputs: Any, args: tuple) -> Any:
        return self._compiled(inputs, *args)

    def forward(self, inputs: Any, args: tuple) -> Any:
        return self._compiled(inputs, *args)

    def digest_leaf(self, v: Any, fp: Fingerprint) -> bool:
        """Keras models (see :func:`~cdig.backends.base.keras_leaf`); variables and tensors by value;
        ``tf.function`` callables by their Python function, or, when loaded from a SavedModel, by the
        graphs and variables of their concrete functions."""
        return _digest_tf(v, fp)

    def randomized_copy(self, model: Any, seed: int) -> Any:
        """``keras.models.clone_model`` (new variables), every weight drawn Gaussian under ``seed`` with
        its original's standard deviation (``1/sqrt(fan_in)`` for constant ones, e.g. zero biases)."""
        keras = sys.modules.get("keras")
        if keras is None or not isinstance(model, keras.Model):
            return super().randomized_copy(model, seed)
        clone = keras.models.clone_model(model)
        rng = np.random.default_rng(seed)
        for w, ref in zip(clone.weights, model.weights):
            v = np.asarray(ref.numpy())
            std = float(v.std()) if v.size > 1 else 0.0
            std = std if std > 0 else 1.0 / max(1, v.shape[0] if v.ndim else 1) ** 0.5
            w.assign(rng.normal(0.0, std, v.shape).astype(v.dtype))
        return clone

    # --- the path primitives -----------------------------------------------------------
    def zeros_like(self, a: Any) -> tf.Tensor:
        return tf.zeros(a.shape, dtype=tf.complex128 if a.dtype.is_complex else tf.float64)

    def _column(self, v: np.ndarray, like: tf.Tensor) -> tf.Tensor:
        real = like.dtype.real_dtype
        return tf.reshape(tf.convert_to_tensor(v, dtype=real), (-1,) + (1,) * (like.shape.rank - 1))

    def path_grad(
        self,
        fn: Callable[[Any, np.ndarray], Any],
        start: Any,
        delta: Any,
        idx: np.ndarray,
        alphas: np.ndarray,
        want_h: bool,
    ) -> tuple[tf.Tensor, np.ndarray | None]:
        path = fn if isinstance(fn, CompiledPath) and not delta.dtype.is_complex else None
        mask = path.mask(idx) if path is not None else None
        if path is not None and mask is not None:  # the time path with an index-like target: one compiled graph per chunk
            g, h, ok = self._step(
                start,
                delta,
                self.as_index(idx),
                tf.convert_to_tensor(alphas),
                tf.constant(mask),
                tf.constant(want_h),
                *path.args(idx),
            )
            if not bool(ok):
                raise CdigModelError(_NO_GRADIENT)
            return g, (h.numpy() if want_h else None)
        ti = self.as_index(idx)
        d = tf.gather(delta, ti, axis=0)
        a = self._column(alphas, d)
        points = tf.gather(start, ti, axis=0) + tf.cast(a, d.dtype) * d
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(points)
            y = fn(points, idx)
            total = tf.reduce_sum(y)
        g = tape.gradient(total, points)
        if g is None:
            raise CdigModelError(_NO_GRADIENT)
        if isinstance(g, tf.IndexedSlices):
            g = tf.convert_to_tensor(g)
        h = None
        if want_h:
            prod = (tf.math.real(d) * tf.math.real(g) + tf.math.imag(d) * tf.math.imag(g)) if g.dtype.is_complex else d * g
            h = tf.reduce_sum(tf.reshape(tf.cast(prod, tf.float64), (len(idx), -1)), axis=1).numpy()
        return g, h

    def accumulate(self, acc: Any, idx: np.ndarray, grads: Any, weights: np.ndarray) -> tf.Tensor:
        samples, rows_of = np.unique(idx, return_inverse=True)
        part = tf.math.unsorted_segment_sum(
            grads * tf.cast(self._column(weights, grads), grads.dtype), self.as_index(rows_of), len(samples)
        )
        return tf.tensor_scatter_nd_add(acc, self.as_index(samples[:, None]), tf.cast(part, acc.dtype))

    def vjp(self, fn: Callable[[Any], Any], z: Any, cotangent: Any) -> tf.Tensor:
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(z)
            out = fn(z)
        g = tape.gradient(out, z, output_gradients=tf.cast(cotangent, out.dtype))
        return tf.zeros_like(z) if g is None else g


def _digest_tf(v: Any, fp: Fingerprint) -> bool:
    if keras_leaf(v, fp):
        return True
    if isinstance(v, tf.Variable) or tf.is_tensor(v):
        try:
            fp.array(np.asarray(v.numpy()))
        except (AttributeError, TypeError, ValueError):  # a symbolic tensor: by its type and shape
            fp.put("tensor", f"{v.dtype}{v.shape}")
        return True
    if isinstance(v, tf.types.experimental.ConcreteFunction):
        fp.put("graph", v.graph.as_graph_def().SerializeToString(deterministic=True))
        fp.add(list(v.variables))
        return True
    if isinstance(v, tf.types.experimental.PolymorphicFunction):
        python = getattr(v, "python_function", None)
        if python is not None and not is_library_module(getattr(python, "__module__", "") or ""):
            fp.add(python)
        else:  # loaded from a SavedModel: its traced graphs
            fp.add(list(v._list_all_concrete_functions()))
        return True
    return False


BACKEND = TensorflowBackend


class _SavedModel(tf.Module):
    """The loaded SavedModel's endpoint; holds the loaded object, whose variables the endpoint uses."""

    def __init__(self, loaded: Any, fn: Callable[[Any], Any]) -> None:
        super().__init__(name="saved_model")
        self.loaded, self._fn = loaded, fn

    def __call__(self, x: Any) -> Any:
        return self._fn(x)
