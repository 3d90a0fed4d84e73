"""cdig's backend benchmark: each framework against its own plain batched forward+backward, and against PyTorch.

The same GELU 1-D CNN classifier is built in PyTorch, in Keras 3 on TensorFlow and in JAX (written
with ``jax.lax.conv_general_dilated`` and jitted), with the PyTorch weights copied into the other
two, and explained with ``cdig.explain(model, x, "time", n_steps=50, method="gausslegendre",
internal_batch_size=R)``. Rows (benchmarks/README.md says what each line of the table means):

A. Per backend: cdig's time / the time of the model's own plain batched forward+backward over the
   same ``N * n_steps`` path points in chunks of ``R`` rows (gradient with respect to the input
   only, target class selected), written directly in that framework and compiled as it would be
   (torch: eager autograd; TensorFlow: one ``tf.function`` with a ``GradientTape``; JAX: one
   ``jax.jit`` of ``jax.grad``). Target <= 1.15 for each.
B. cdig with TensorFlow / cdig with PyTorch, and JAX / PyTorch, on the matched models (info); the
   same ratios of the plain forward+backward show how much of it is the framework itself.
C. Per backend: ``explain(time, fourier, ica)`` / ``explain(time)`` (info; the three linear domains
   share one pass of gradients).
D. Whether the three backends' maps agree: max |map - torch map| / max |torch map|.

All timed functions of a run are measured in the same interleaved rounds; a ratio is the median over
rounds of the ratio of the two runs of that round, which are adjacent in time. The script reports;
it does not gate: the exit code is 0 whatever the verdicts or failures.

    python benchmarks/bench_backends.py --quick                # smoke run, < 1 min on 2 CPU cores
    python benchmarks/bench_backends.py                        # default, about 2 minutes on 2 CPU cores
    python benchmarks/bench_backends.py --device cuda --json results.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, describe_machine, fmt_seconds, load_average, measure, print_table, ratios, write_json

BACKENDS = ("torch", "tensorflow", "jax")
SHORT = {"torch": "torch", "tensorflow": "TF", "jax": "JAX"}
TARGET_FLOOR = 1.15
TARGET_AGREE = 1e-4
KERNEL = 7
PAD = 3
N_CLASSES = 5


# --- threads and devices: set before any framework is imported -------------------------------
def configure_threads(threads: int | None, device: str) -> dict[str, Any]:
    """One thread budget for all three frameworks; returns its description.

    torch: ``torch.set_num_threads``. TensorFlow: intra-op threads = ``threads``, inter-op threads = 1
    (the models are a chain of ops; more inter-op threads only compete for the cores). XLA (JAX) sizes
    its CPU pool from the cores this process may use, so ``--threads`` below the usable cores
    restricts the whole process to that many cores (``sched_setaffinity``) before anything starts.
    """
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    n = threads or len(usable)
    pinned = None
    if n < len(usable) and hasattr(os, "sched_setaffinity"):
        pinned = usable[:n]
        os.sched_setaffinity(0, pinned)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Three frameworks share one GPU: none may take most of its memory up front.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if not device.startswith("cuda"):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    return {
        "threads": n,
        "usable_cores": len(usable),
        "pinned_cores": pinned,
        "tf_inter_op_threads": 1,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "keras_backend": os.environ["KERAS_BACKEND"],
    }


def _cuda_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0


# --- the matched models ----------------------------------------------------------------------
def torch_model(channels: int, widths: tuple[int, ...], activation: str, seed: int) -> Any:
    """Conv1d layers (kernel 7, padding 3, strides 1, 2, 2, ...), activation, mean over time, linear head."""
    import torch
    from torch import nn

    class ConvClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c = channels
            for i, w in enumerate(widths):
                layers += [
                    nn.Conv1d(c, w, KERNEL, stride=1 if i == 0 else 2, padding=PAD),
                    nn.GELU() if activation == "gelu" else nn.ReLU(),
                ]
                c = w
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(c, N_CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x).mean(dim=-1))

    torch.manual_seed(seed)
    return ConvClassifier().eval()


def torch_weights(model: Any) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """[(kernel (k, in, out), bias, stride)] of each conv, then (dense (in, out), bias, 0) of the head."""
    out = []
    for m in model.features:
        if hasattr(m, "weight"):
            out.append(
                (
                    m.weight.detach().cpu().numpy().transpose(2, 1, 0).copy(),
                    m.bias.detach().cpu().numpy().copy(),
                    int(m.stride[0]),
                )
            )
    out.append((model.head.weight.detach().cpu().numpy().T.copy(), model.head.bias.detach().cpu().numpy().copy(), 0))
    return out


class TraceCounter:
    """How many times the model's Python code ran: once per trace in a compiled framework."""

    def __init__(self) -> None:
        self.count = 0


def keras_model(weights: list, length: int, channels: int, activation: str, counter: TraceCounter) -> Any:
    """The same network in Keras (channels last): explicit zero padding + 'valid' Conv1D = torch's padding."""
    import keras

    class CountCalls(keras.layers.Layer):
        def call(self, x: Any) -> Any:  # an identity; its Python body runs at every trace (or eager call)
            counter.count += 1
            return x

    def act(v: Any) -> Any:
        return keras.activations.gelu(v, approximate=False) if activation == "gelu" else keras.activations.relu(v)

    inp = keras.Input((length, channels))
    h = CountCalls()(inp)
    convs = []
    for kernel, _, stride in weights[:-1]:
        h = keras.layers.ZeroPadding1D(PAD)(h)
        conv = keras.layers.Conv1D(kernel.shape[2], KERNEL, strides=stride, padding="valid")
        h = keras.layers.Activation(act)(conv(h))
        convs.append(conv)
    h = keras.layers.GlobalAveragePooling1D()(h)
    head = keras.layers.Dense(N_CLASSES)
    model = keras.Model(inp, head(h))
    for layer, (kernel, bias, _) in zip(convs + [head], weights):
        layer.set_weights([kernel, bias])
    return model


def jax_apply(weights: list, activation: str, counter: TraceCounter, device: Any) -> Callable[[Any], Any]:
    """The same network as a pure JAX function of ``x`` (N, T, C); the weights are closed over."""
    import jax
    import jax.numpy as jnp

    params = [(jax.device_put(jnp.asarray(k), device), jax.device_put(jnp.asarray(b), device), s) for k, b, s in weights]

    def apply(x: Any) -> Any:
        counter.count += 1
        h = x
        for kernel, bias, stride in params[:-1]:
            h = jax.lax.conv_general_dilated(h, kernel, (stride,), [(PAD, PAD)], dimension_numbers=("NWC", "WIO", "NWC")) + bias
            h = jax.nn.gelu(h, approximate=False) if activation == "gelu" else jax.nn.relu(h)
        dense, bias, _ = params[-1]
        return h.mean(axis=1) @ dense + bias

    return apply


# --- one framework: model, input, cdig runs and the plain forward+backward ---------------------
class Framework:
    """What the rows need from one framework; built once, reused by every row."""

    name: str = ""
    model: Any = None
    x: Any = None
    counter: TraceCounter | None = None

    def __init__(self, bench: "Bench") -> None:
        self.b = bench

    def explain(self, domains: Any = ("time",)) -> dict[str, Any]:
        import cdig

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            return cdig.explain(
                self.model,
                self.x,
                domains,
                target=self.b.target,
                n_steps=self.b.n_steps,
                method="gausslegendre",
                internal_batch_size=self.b.ibs,
            )

    def cdig_run(self, domains: Any = ("time",)) -> Callable[[], Any]:
        def run() -> Any:
            return self.explain(domains)  # maps come back as numpy: nothing is left queued on the device

        return run

    def floor_run(self) -> Callable[[], Any]:
        raise NotImplementedError

    def logits(self) -> np.ndarray:
        raise NotImplementedError

    def device_check(self) -> str:
        """Where CrossDomainIG.attribute's map lives, next to where the input lives."""
        import cdig

        ig = cdig.CrossDomainIG(self.model, "time")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            out = ig.attribute(self.x, target=self.b.target, n_steps=4, internal_batch_size=self.b.ibs)
        return (
            f"input on {self._where(self.x)}, map returned on {self._where(out)}, cdig says it ran on "
            f"{ig.attribution_.settings['device']}"
        )

    @staticmethod
    def _where(t: Any) -> str:
        if hasattr(t, "devices"):  # jax
            return ",".join(str(d) for d in t.devices())
        return str(getattr(t, "device", "host (numpy)")) or "?"


class TorchFramework(Framework):
    name = "torch"

    def __init__(self, bench: "Bench") -> None:
        import torch

        super().__init__(bench)
        self.torch = torch
        self.dev = torch.device(bench.device if bench.device.startswith("cuda") else "cpu")
        self.model = bench.torch_model.to(self.dev)
        self.x = torch.as_tensor(bench.x_nct, device=self.dev)
        self.sync = (lambda: torch.cuda.synchronize(self.dev)) if self.dev.type == "cuda" else (lambda: None)

    def floor_run(self) -> Callable[[], Any]:
        torch, model = self.torch, self.model
        for p in model.parameters():
            p.requires_grad_(False)  # gradient with respect to the input only, as cdig takes it
        chunks = [(torch.as_tensor(c, device=self.dev), torch.as_tensor(t, device=self.dev)) for c, t in self.b.chunks("nct")]

        def run() -> Any:
            g = None
            for xc, tc in chunks:
                p = xc.detach().requires_grad_(True)
                y = model(p).gather(1, tc[:, None]).sum()
                (g,) = torch.autograd.grad(y, p)
            self.sync()
            return g

        return run

    def logits(self) -> np.ndarray:
        with self.torch.no_grad():
            return self.model(self.x).cpu().numpy()


class TensorflowFramework(Framework):
    name = "tensorflow"

    def __init__(self, bench: "Bench") -> None:
        import tensorflow as tf

        super().__init__(bench)
        self.tf = tf
        self.dev = "/GPU:0" if bench.device.startswith("cuda") else "/CPU:0"
        self.counter = TraceCounter()
        with tf.device(self.dev):
            self.model = keras_model(bench.weights, bench.length, bench.channels, bench.activation, self.counter)
            self.x = tf.constant(bench.x_ntc)

    def floor_run(self) -> Callable[[], Any]:
        tf, model = self.tf, self.model

        @tf.function(reduce_retracing=True, jit_compile=self.b.args.tf_xla)
        def step(xc: Any, tc: Any) -> Any:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(xc)
                y = tf.reduce_sum(tf.gather(model(xc), tc, axis=1, batch_dims=1))
            return tape.gradient(y, xc)

        with tf.device(self.dev):
            chunks = [(tf.constant(c), tf.constant(t)) for c, t in self.b.chunks("ntc")]

        def run() -> Any:
            g = None
            with tf.device(self.dev):
                for xc, tc in chunks:
                    g = step(xc, tc)
                return float(tf.reduce_sum(g))  # waits for the device

        return run

    def tape_run(self) -> Callable[[], Any]:
        """The same rows, as cdig's TF backend takes them: an eager GradientTape around a compiled forward.

        The forward ``tf.function`` is made once (traced in the warm-up), so the difference to
        cdig is what cdig adds per call (retracing, building the gradient functions, bookkeeping), and
        the difference to the plain forward+backward is the cost of differentiating outside the graph.
        """
        tf, model = self.tf, self.model
        forward = tf.function(lambda v: model(v), reduce_retracing=True)
        with tf.device(self.dev):
            chunks = [(tf.constant(c), tf.constant(t)) for c, t in self.b.chunks("ntc")]

        def run() -> Any:
            g = None
            with tf.device(self.dev):
                for xc, tc in chunks:
                    with tf.GradientTape(watch_accessed_variables=False) as tape:
                        tape.watch(xc)
                        y = tf.reduce_sum(tf.gather(forward(xc), tc, axis=1, batch_dims=1))
                    g = tape.gradient(y, xc)
                return float(tf.reduce_sum(g))

        return run

    def logits(self) -> np.ndarray:
        return self.model(self.x).numpy()


class JaxFramework(Framework):
    name = "jax"

    def __init__(self, bench: "Bench") -> None:
        import jax
        import jax.numpy as jnp

        super().__init__(bench)
        self.jax, self.jnp = jax, jnp
        kind = "gpu" if bench.device.startswith("cuda") else "cpu"
        self.dev = jax.devices(kind)[_cuda_index(bench.device) if kind == "gpu" else 0]
        self.counter = TraceCounter()
        self.apply = jax_apply(bench.weights, bench.activation, self.counter, self.dev)
        self.model = jax.jit(self.apply)
        self.x = jax.device_put(jnp.asarray(bench.x_ntc), self.dev)

    def floor_run(self) -> Callable[[], Any]:
        jax, jnp, apply = self.jax, self.jnp, self.apply

        @jax.jit
        def step(xc: Any, tc: Any) -> Any:
            return jax.grad(lambda p: jnp.take_along_axis(apply(p), tc[:, None], axis=1).sum())(xc)

        chunks = [
            (jax.device_put(jnp.asarray(c), self.dev), jax.device_put(jnp.asarray(t), self.dev)) for c, t in self.b.chunks("ntc")
        ]

        def run() -> Any:
            g = None
            for xc, tc in chunks:
                g = step(xc, tc)
            return g.block_until_ready()

        return run

    def logits(self) -> np.ndarray:
        return np.asarray(self.model(self.x))


FRAMEWORKS = {"torch": TorchFramework, "tensorflow": TensorflowFramework, "jax": JaxFramework}


# --- the benchmark ---------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, threads: dict[str, Any]) -> None:
        self.args, self.threads = args, threads
        q = args.quick
        self.device = args.device
        self.batch = args.batch or (8 if q else 16)
        self.channels = 3
        self.length = args.length or (256 if q else 512)
        self.widths = tuple(int(w) for w in args.widths.split(","))
        self.activation = args.activation
        self.n_steps = args.n_steps
        self.ibs = args.internal_batch_size or 10 * self.batch
        self.repeats = args.repeats or (3 if q else 5)
        rng = np.random.default_rng(args.seed)
        self.x_nct = rng.standard_normal((self.batch, self.channels, self.length)).astype(np.float32)
        self.x_ntc = np.ascontiguousarray(self.x_nct.transpose(0, 2, 1))
        self.torch_model = torch_model(self.channels, self.widths, self.activation, args.seed)
        self.weights = torch_weights(self.torch_model)
        import torch

        with torch.no_grad():
            self.target = self.torch_model(torch.as_tensor(self.x_nct)).argmax(1).numpy()
        self.fw: dict[str, Framework] = {}
        self.errors: dict[str, str] = {}

    def chunks(self, layout: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The path points of the zero-baseline Gauss-Legendre path, row r = (sample r // n, step r % n), in chunks."""
        from cdig.core.rules import get_rule

        alphas, _ = get_rule("gausslegendre", self.n_steps)
        x = self.x_nct if layout == "nct" else self.x_ntc
        total = self.batch * self.n_steps
        out = []
        for s in range(0, total, self.ibs):
            rows = np.arange(s, min(s + self.ibs, total))
            idx, j = rows // self.n_steps, rows % self.n_steps
            points = (alphas[j].astype(np.float32).reshape(-1, 1, 1) * x[idx]).astype(np.float32)
            out.append((points, self.target[idx].astype(np.int64 if layout == "nct" else np.int32)))
        return out

    def describe(self) -> str:
        return (
            f"model: {len(self.widths)} {self.activation.upper()} conv layers (kernel {KERNEL}, widths "
            f"{'/'.join(map(str, self.widths))}, strides 1/2/2...), mean over time, linear head over "
            f"{N_CLASSES} classes, the same weights in every framework; input {self.batch} x {self.channels} x "
            f"{self.length} (torch N,C,T; TF and JAX N,T,C), predicted class, zero baseline; "
            f"n_steps={self.n_steps} gausslegendre, internal_batch_size={self.ibs} "
            f"({self.batch * self.n_steps} path points in {-(-self.batch * self.n_steps // self.ibs)} chunks); "
            f"median of {self.repeats} interleaved rounds after 1 warm-up"
        )

    def setup(self) -> None:
        for name in self.args.backends:
            t0 = time.perf_counter()
            try:
                self.fw[name] = FRAMEWORKS[name](self)
                print(f"  {name}: built in {time.perf_counter() - t0:.1f} s")
            except Exception as e:  # noqa: BLE001 - a framework that cannot run is reported, not fatal
                self.errors[name] = f"{type(e).__name__}: {e}"
                print(f"  {name}: cannot run ({self.errors[name]})")

    def run(self) -> list[Row]:
        self.setup()
        fns: dict[str, Callable[[], Any]] = {}
        for name, fw in list(self.fw.items()):
            try:
                floor, one = fw.floor_run(), fw.cdig_run(("time",))
                three = fw.cdig_run(("time", "fourier", self.ica()))
                for f in (floor, one, three):  # compile / trace each once before anything is timed
                    f()
            except Exception as e:  # noqa: BLE001
                self.errors[name] = f"{type(e).__name__}: {e}"
                print(f"  {name}: failed: {self.errors[name]}")
                traceback.print_exc(limit=3)
                del self.fw[name]
                continue
            if name == "tensorflow" and not self.args.no_diagnosis:
                fns["tensorflow:tape"] = fw.tape_run()  # next to the floor, which is next to cdig
                fns["tensorflow:tape"]()
            fns[f"{name}:floor"], fns[f"{name}:time"], fns[f"{name}:three"] = floor, one, three
        if not fns:
            return []
        print(f"\ntiming {len(fns)} functions, {self.repeats} interleaved rounds ...")
        t = measure(fns, self.repeats, 1)
        self._warn_noise(t)
        rows: list[Row] = []
        for row in (lambda: self.row_a(t), lambda: self.row_b(t), lambda: self.row_c(t), self.row_d):
            try:
                rows += row()
            except Exception:  # noqa: BLE001 - one failing row does not hide the others
                traceback.print_exc()
        return rows

    def ica(self) -> Any:
        if not hasattr(self, "_ica"):
            from sklearn.decomposition import FastICA

            import cdig

            pooled = self.x_nct.transpose(0, 2, 1).reshape(-1, self.channels).astype(np.float64)
            with warnings.catch_warnings():  # Gaussian noise has no independent components to converge to
                warnings.simplefilter("ignore")
                fitted = FastICA(n_components=self.channels, whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)
            self._ica = cdig.ICA(fitted)
        return self._ica

    # A ------------------------------------------------------------------------------------
    def row_a(self, t: dict[str, Any]) -> list[Row]:
        print("\n[A] cdig.explain(time) / the framework's own plain batched forward+backward (same rows, same chunks)")
        out = []
        for name, fw in self.fw.items():
            rs = ratios(t[f"{name}:time"]["times_s"], t[f"{name}:floor"]["times_s"])
            floor_how = {
                "torch": "eager autograd.grad",
                "jax": "jax.jit(jax.grad) per chunk",
                "tensorflow": "tf.function(GradientTape)" + (" with XLA" if self.args.tf_xla else ""),
            }[name]
            traces = self._traces(fw)
            print(
                f"  {name:10s} cdig {fmt_seconds(t[f'{name}:time']['median_s'])}, plain {floor_how} "
                f"{fmt_seconds(t[f'{name}:floor']['median_s'])} -> {_fmt_ratios(rs)}"
                + (f"; model traced {traces} time(s) per explain call" if traces is not None else "")
            )
            details = {}
            if f"{name}:tape" in t:
                parts = {
                    "cdig / eager tape": ratios(t[f"{name}:time"]["times_s"], t[f"{name}:tape"]["times_s"]),
                    "eager tape / plain": ratios(t[f"{name}:tape"]["times_s"], t[f"{name}:floor"]["times_s"]),
                }
                details["decomposition"] = parts
                print(
                    f"             where it goes: an eager GradientTape around a compiled forward (made once) takes "
                    f"{fmt_seconds(t[f'{name}:tape']['median_s'])}: eager tape / plain "
                    f"{parts['eager tape / plain']['paired']:.3f}, cdig / eager tape "
                    f"{parts['cdig / eager tape']['paired']:.3f} (retracing and per-call set-up)"
                )
            v = rs["paired"]
            out.append(
                Row(
                    "A",
                    f"{SHORT[name]}: cdig / plain fwd+bwd",
                    v,
                    f"{v:.3f}",
                    f"<= {TARGET_FLOOR}",
                    v <= TARGET_FLOOR,
                    {
                        "ratios": rs,
                        "times": {k: t[f"{name}:{k}"] for k in ("time", "floor")},
                        "floor": floor_how,
                        "traces_per_explain": traces,
                        **details,
                    },
                )
            )
        return out

    def _traces(self, fw: Framework) -> int | None:
        """Model traces (Python executions of its code) during one more, already warm, explain call."""
        if fw.counter is None:
            return None
        before = fw.counter.count
        fw.explain(("time",))
        return fw.counter.count - before

    # B ------------------------------------------------------------------------------------
    def row_b(self, t: dict[str, Any]) -> list[Row]:
        if "torch" not in self.fw:
            return []
        print("\n[B] against PyTorch on the matched model (info)")
        out = []
        for name in ("tensorflow", "jax"):
            if name not in self.fw:
                continue
            for kind, label in (("time", "cdig"), ("floor", "plain fwd+bwd")):
                rs = ratios(t[f"{name}:{kind}"]["times_s"], t[f"torch:{kind}"]["times_s"])
                print(f"  {label:14s} {name} / torch: {_fmt_ratios(rs)}")
                v = rs["paired"]
                out.append(Row("B", f"{label}: {SHORT[name]} / torch", v, f"{v:.2f}", "", None, {"ratios": rs}))
        return out

    # C ------------------------------------------------------------------------------------
    def row_c(self, t: dict[str, Any]) -> list[Row]:
        print("\n[C] explain(time, fourier, ica) / explain(time), per backend (info; FastICA fitted beforehand)")
        out = []
        for name in self.fw:
            rs = ratios(t[f"{name}:three"]["times_s"], t[f"{name}:time"]["times_s"])
            print(f"  {name:10s} {_fmt_ratios(rs)}")
            v = rs["paired"]
            out.append(
                Row(
                    "C",
                    f"{SHORT[name]}: explain(time,fourier,ica) / explain(time)",
                    v,
                    f"{v:.3f}",
                    "",
                    None,
                    {"ratios": rs, "times": t[f"{name}:three"]},
                )
            )
        return out

    # D ------------------------------------------------------------------------------------
    def row_d(self) -> list[Row]:
        if "torch" not in self.fw:
            return []
        print("\n[D] agreement with the torch maps (max |difference| / max |torch map|; maps as N x C x ...)")
        ref_logits = self.fw["torch"].logits()
        ica = self.ica()
        maps = {name: fw.explain(("time", "fourier", ica)) for name, fw in self.fw.items()}
        out = []
        for name, fw in self.fw.items():
            if name == "torch":
                continue
            logit_diff = float(np.abs(fw.logits() - ref_logits).max() / np.abs(ref_logits).max())
            diffs = {}
            for dom, att in maps[name].items():
                ref = maps["torch"][dom].values
                diffs[dom] = float(np.abs(att.values - ref).max() / max(np.abs(ref).max(), 1e-30))
            worst = max(diffs.values())
            print(f"  {name:10s} " + ", ".join(f"{d} {v:.1e}" for d, v in diffs.items()) + f"; model outputs {logit_diff:.1e}")
            out.append(
                Row(
                    "D",
                    f"{SHORT[name]} maps vs torch (time/fourier/ica, worst)",
                    worst,
                    f"{worst:.1e}",
                    f"<= {TARGET_AGREE:g}",
                    worst <= TARGET_AGREE,
                    {"per_domain": diffs, "logits_rel_diff": logit_diff},
                )
            )
        for name, fw in self.fw.items():
            try:
                print(f"  {name:10s} device: {fw.device_check()}")
            except Exception as e:  # noqa: BLE001
                print(f"  {name:10s} device check failed: {type(e).__name__}: {e}")
        return out

    def _warn_noise(self, t: dict[str, dict[str, Any]]) -> None:
        spread = max(max(v["times_s"]) / min(v["times_s"]) for v in t.values())
        if spread > 1.3:
            hint = "; --threads 1 is much less sensitive to it" if self.threads["threads"] > 1 else ""
            print(
                f"  note: repeats of one function differ by up to {spread:.1f}x: the machine is busy "
                f"(load average {load_average()}); trust the paired ratios more than the absolute times{hint}"
            )


def _fmt_ratios(rs: dict[str, float]) -> str:
    return (
        f"{rs['paired']:.3f} (median of paired rounds; ratio of medians {rs['of_medians']:.3f}, "
        f"of fastest runs {rs['of_mins']:.3f})"
    )


def _versions(names: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for mod in ("tensorflow", "keras", "jax", "jaxlib"):
        if mod == "jaxlib" and "jax" not in names or mod in ("tensorflow", "keras") and "tensorflow" not in names:
            continue
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            info[mod] = None
    if "tensorflow" in names and info.get("tensorflow"):
        import tensorflow as tf

        info["tf_threads"] = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
        info["tf_onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")
    if "jax" in names and info.get("jax"):
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
    return info


def configure_tensorflow(args: argparse.Namespace, threads: dict[str, Any]) -> None:
    """TensorFlow's threads and visible devices, set before it runs; drops it from ``args.backends`` if absent."""
    if "tensorflow" not in args.backends:
        return
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(threads["tf_inter_op_threads"])
        gpus = tf.config.list_physical_devices("GPU")
        if args.device.startswith("cuda") and gpus:
            gpu = gpus[_cuda_index(args.device)]
            tf.config.set_visible_devices([gpu], "GPU")
            tf.config.experimental.set_memory_growth(gpu, True)
        else:
            tf.config.set_visible_devices([], "GPU")
            if args.device.startswith("cuda"):
                print("note: TensorFlow sees no GPU here: its rows are skipped")
                args.backends.remove("tensorflow")
        tf.get_logger().setLevel("ERROR")
    except ImportError as e:
        print(f"note: TensorFlow is not installed ({e}): its rows are skipped")
        args.backends.remove("tensorflow")


def parser() -> argparse.ArgumentParser:
    """The command line's options (benchmarks/suite.py builds its settings from them too)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats: a smoke run under a minute")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: torch,tensorflow,jax)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ... (every framework on it)")
    p.add_argument(
        "--threads", type=int, default=None, help="threads of every framework (default: the usable cores; fewer pins the process)"
    )
    p.add_argument("--json", default=None, metavar="PATH", help="also write machine, settings and rows as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=None, help="samples (default 16; --quick 8)")
    p.add_argument("--length", type=int, default=None, help="time steps (default 512; --quick 256)")
    p.add_argument("--widths", default="32,64,64", help="conv widths (default 32,64,64)")
    p.add_argument("--activation", choices=("gelu", "relu"), default="gelu")
    p.add_argument("--n-steps", type=int, default=50)
    p.add_argument("--internal-batch-size", type=int, default=None, help="path points per pass (default 10 x batch)")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; --quick 3)")
    p.add_argument(
        "--no-diagnosis",
        action="store_true",
        help="skip the extra TensorFlow run that splits cdig's time (eager tape vs retracing)",
    )
    p.add_argument(
        "--tf-xla", action="store_true", help="compile TensorFlow's plain forward+backward with XLA (jit_compile=True)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in args.backends if b not in BACKENDS]
    if bad:
        p.error(f"--backends: unknown {bad}; accepted: {', '.join(BACKENDS)}")

    t_start = time.perf_counter()
    threads = configure_threads(args.threads, args.device)
    import torch

    torch.set_num_threads(threads["threads"])
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA is not available to torch here; nothing measured")
        return 0
    configure_tensorflow(args, threads)

    machine = describe_machine(args.device)
    machine.update(_versions(args.backends))
    machine["usable_cores"] = threads["usable_cores"]  # before --threads pinned the process
    machine["thread_setup"] = threads
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()) + "\n")
    bench = Bench(args, threads)
    print(bench.describe() + "\n")
    results: list[Row] = []
    try:
        results = bench.run()
    except Exception:  # noqa: BLE001 - report, never gate
        traceback.print_exc()
    total = time.perf_counter() - t_start

    print()
    print_table(
        ["row", "measured", "value", "target", "verdict"], [[r.row, r.name, r.shown, r.target or "-", r.verdict] for r in results]
    )
    for name, err in bench.errors.items():
        print(f"{name}: not measured ({err})")
    pinned = f", pinned to core(s) {threads['pinned_cores']}" if threads["pinned_cores"] else ""
    print(
        f"\n{machine['cpu']} ({machine['usable_cores']} usable cores), {threads['threads']} thread(s) per framework "
        f"(TF inter-op {threads['tf_inter_op_threads']}{pinned}), device {machine['device']} ({machine['device_name']}); "
        f"load average at start {machine['load_average']}, at end {load_average()}; total {total:.0f} s"
    )
    if args.json:
        settings = {
            **vars(args),
            "batch": bench.batch,
            "length": bench.length,
            "internal_batch_size": bench.ibs,
            "repeats": bench.repeats,
            "total_s": total,
            "errors": bench.errors,
        }
        path = write_json(args.json, machine, settings, results)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
