"""The same network with the same weights in PyTorch, Keras (TensorFlow) and JAX.

Not a test module: the test files load it by path (pytest runs with ``--import-mode=importlib``),
and it imports no framework at module level, so collecting it (``--doctest-modules``) costs nothing.

Each builder makes the PyTorch model with PyTorch's own (seeded) initialisation and copies its
weights into the Keras model and into a JAX parameter pytree. PyTorch sees ``(N, C, T)``; Keras and
JAX see ``(N, T, C)``. Every activation is smooth and spelt identically in the three frameworks
(``tanh``; GELU with the tanh approximation), so the three differ only by float32 round-off.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Conv1D classifier: conv(5, same) -> tanh -> conv(3, valid) -> gelu -> avgpool(2) -> flatten -> dense
# ----------------------------------------------------------------------------------------------


def conv_classifier(channels: int = 2, length: int = 32, n_classes: int = 3, hidden: int = 4, seed: int = 0) -> SimpleNamespace:
    """A Conv1D classifier ``(N, C, T) -> (N, K)`` / ``(N, T, C) -> (N, K)`` in the three frameworks.

    Returns a namespace with ``torch`` (an ``nn.Module`` in eval mode), ``keras`` (a functional
    Keras model), ``jax`` (a closure ``x -> logits`` over ``params``), ``apply(params, x)`` and
    ``params`` (a dict of ``jax.Array``).
    """
    import torch

    torch.manual_seed(seed)
    pooled = (length - 2) // 2

    class TorchConv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv1d(channels, hidden, 5, padding=2)
            self.conv2 = torch.nn.Conv1d(hidden, hidden, 3)
            self.pool = torch.nn.AvgPool1d(2)
            self.head = torch.nn.Linear(hidden * pooled, n_classes)

        def forward(self, x):
            h = torch.tanh(self.conv1(x))
            h = torch.nn.functional.gelu(self.conv2(h), approximate="tanh")
            return self.head(self.pool(h).flatten(1))

    tm = TorchConv().float().eval()
    # torch Conv1d weight (out, in, k) -> Keras / lax "WIO" kernel (k, in, out)
    k1, b1 = _np(tm.conv1.weight).transpose(2, 1, 0), _np(tm.conv1.bias)
    k2, b2 = _np(tm.conv2.weight).transpose(2, 1, 0), _np(tm.conv2.bias)
    # torch flattens (hidden, pooled) channel-major, Keras/JAX flatten (pooled, hidden) time-major
    wh = _np(tm.head.weight).reshape(n_classes, hidden, pooled).transpose(2, 1, 0).reshape(pooled * hidden, n_classes)
    bh = _np(tm.head.bias)
    weights = {"k1": k1, "b1": b1, "k2": k2, "b2": b2, "wh": wh, "bh": bh}
    return SimpleNamespace(
        torch=tm,
        weights=weights,
        shape=(channels, length),
        n_out=n_classes,
        make_keras=lambda: _keras_conv(weights, channels, length),
        make_jax=lambda: _jax_conv(weights),
    )


def _keras_conv(w: dict, channels: int, length: int):
    import keras

    inp = keras.Input((length, channels), dtype="float32")
    h = keras.layers.Conv1D(w["k1"].shape[2], 5, padding="same", activation="tanh", name="conv1")(inp)
    h = keras.layers.Conv1D(w["k2"].shape[2], 3, padding="valid", name="conv2")(h)
    h = keras.ops.gelu(h, approximate=True)
    h = keras.layers.AveragePooling1D(2)(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(w["bh"].shape[0], name="head")(h)
    model = keras.Model(inp, out)
    model.get_layer("conv1").set_weights([w["k1"], w["b1"]])
    model.get_layer("conv2").set_weights([w["k2"], w["b2"]])
    model.get_layer("head").set_weights([w["wh"], w["bh"]])
    return model


def _jax_conv(w: dict):
    import jax
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in w.items()}

    def conv(x, k, b, pad):
        y = jax.lax.conv_general_dilated(x, k, window_strides=(1,), padding=[(pad, pad)], dimension_numbers=("NWC", "WIO", "NWC"))
        return y + b

    def apply(p, x):
        h = jnp.tanh(conv(x, p["k1"], p["b1"], 2))
        h = jax.nn.gelu(conv(h, p["k2"], p["b2"], 0), approximate=True)
        n, t, c = h.shape
        h = h[:, : (t // 2) * 2].reshape(n, t // 2, 2, c).mean(axis=2)
        return h.reshape(n, -1) @ p["wh"] + p["bh"]

    return SimpleNamespace(apply=apply, params=params, fn=lambda x: apply(params, x))


# ----------------------------------------------------------------------------------------------
# Attention regressor: embed (+ fixed positions) -> single-head self-attention -> tanh -> mean -> dense
# ----------------------------------------------------------------------------------------------


def attention_regressor(
    channels: int = 3, length: int = 24, dim: int = 8, seed: int = 0, keepdim: bool = True
) -> SimpleNamespace:
    """A single-head self-attention regressor: ``(N, C, T) -> (N, 1)`` (or ``(N,)`` without ``keepdim``).

    ``e = x W_e + b_e + P`` (``P`` fixed positions), ``a = softmax(q kᵀ / √d)`` with ``q, k, v``
    linear in ``e``, ``y = mean_t tanh(e + a v) · w + b``; softmax and products written with plain
    matmuls in each framework.
    """
    import torch

    torch.manual_seed(seed)
    pos = np.sin(np.arange(length)[:, None] * (np.arange(dim)[None] + 1) / length * math.pi).astype(np.float32)

    class TorchAttention(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Linear(channels, dim)
            self.q = torch.nn.Linear(dim, dim, bias=False)
            self.k = torch.nn.Linear(dim, dim, bias=False)
            self.v = torch.nn.Linear(dim, dim, bias=False)
            self.head = torch.nn.Linear(dim, 1)
            self.register_buffer("pos", torch.as_tensor(pos))

        def forward(self, x):  # (N, C, T)
            e = self.embed(x.transpose(1, 2)) + self.pos
            s = self.q(e) @ self.k(e).transpose(1, 2) / math.sqrt(dim)
            s = s - s.max(dim=-1, keepdim=True).values
            a = torch.exp(s)
            a = a / a.sum(dim=-1, keepdim=True)
            y = self.head(torch.tanh(e + a @ self.v(e)).mean(dim=1))
            return y if keepdim else y[:, 0]

    tm = TorchAttention().float().eval()
    weights = {
        "we": _np(tm.embed.weight).T,
        "be": _np(tm.embed.bias),
        "pos": pos,
        "wq": _np(tm.q.weight).T,
        "wk": _np(tm.k.weight).T,
        "wv": _np(tm.v.weight).T,
        "wh": _np(tm.head.weight).T,
        "bh": _np(tm.head.bias),
    }
    return SimpleNamespace(
        torch=tm,
        weights=weights,
        shape=(channels, length),
        n_out=None,
        make_keras=lambda: _keras_attention(weights, channels, length, keepdim),
        make_jax=lambda: _jax_attention(weights, keepdim),
    )


def _keras_attention(w: dict, channels: int, length: int, keepdim: bool):
    import keras
    from keras import ops

    dim = w["we"].shape[1]
    inp = keras.Input((length, channels), dtype="float32")
    e = keras.layers.Dense(dim, name="embed")(inp) + w["pos"]
    q = keras.layers.Dense(dim, use_bias=False, name="q")(e)
    k = keras.layers.Dense(dim, use_bias=False, name="k")(e)
    v = keras.layers.Dense(dim, use_bias=False, name="v")(e)
    s = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / math.sqrt(dim)
    s = s - ops.max(s, axis=-1, keepdims=True)
    a = ops.exp(s)
    a = a / ops.sum(a, axis=-1, keepdims=True)
    pooled = ops.mean(ops.tanh(e + ops.matmul(a, v)), axis=1)
    y = keras.layers.Dense(1, name="head")(pooled)
    if not keepdim:
        y = y[:, 0]
    model = keras.Model(inp, y)
    model.get_layer("embed").set_weights([w["we"], w["be"]])
    for name in ("q", "k", "v"):
        model.get_layer(name).set_weights([w["w" + name]])
    model.get_layer("head").set_weights([w["wh"], w["bh"]])
    return model


def _jax_attention(w: dict, keepdim: bool):
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in w.items()}
    dim = w["we"].shape[1]

    def apply(p, x):  # (N, T, C)
        e = x @ p["we"] + p["be"] + p["pos"]
        s = (e @ p["wq"]) @ jnp.swapaxes(e @ p["wk"], 1, 2) / math.sqrt(dim)
        s = s - s.max(axis=-1, keepdims=True)
        a = jnp.exp(s)
        a = a / a.sum(axis=-1, keepdims=True)
        y = jnp.tanh(e + a @ (e @ p["wv"])).mean(axis=1) @ p["wh"] + p["bh"]
        return y if keepdim else y[:, 0]

    return SimpleNamespace(apply=apply, params=params, fn=lambda x: apply(params, x))


def keras_dense(w: np.ndarray, b: float, **kw):
    """A built ``Dense(1)`` layer with kernel ``w.reshape(-1, 1)`` and bias ``b``."""
    import keras

    layer = keras.layers.Dense(1, **kw)
    layer.build((None, w.size))
    layer.set_weights([w.reshape(-1, 1), np.full(1, b, dtype=w.dtype)])
    return layer


def keras_linear(w: np.ndarray, b: float = 0.5):
    """``f(x) = <w, x> + b`` as a Keras Sequential model over inputs of ``w``'s shape."""
    import keras

    return keras.Sequential([keras.Input(w.shape), keras.layers.Flatten(), keras_dense(w, b)])


# ----------------------------------------------------------------------------------------------
# shared references
# ----------------------------------------------------------------------------------------------


def fit_ica(n_channels: int, seed: int = 1):
    """A FastICA fitted on mixed Laplacian channels (nonzero means): :func:`cdig.testing.fit_ica`."""
    from cdig.testing import fit_ica as fit

    return fit(n_channels, seed)


def transpose_last(a: np.ndarray) -> np.ndarray:
    """The last two axes swapped: ``(N, C, T) <-> (N, T, C)``, ``(T, C) <-> (C, T)``."""
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


to_channels_last = transpose_last


def assert_maps_close(a: np.ndarray, b: np.ndarray, rel: float = 1e-5, what: str = "") -> None:
    """``|a - b| <= rel · max|a|`` everywhere (the parity criterion of the issue)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    scale = float(np.abs(a).max())
    err = float(np.abs(a - b).max())
    assert err <= rel * scale, f"{what}: max |diff| {err:.3g} > {rel:g} * max|map| ({scale:.3g})"


def assert_linear_maps(res: dict, w: np.ndarray, x: np.ndarray, x0: np.ndarray, closed, ica=None, rel: float = 2e-6) -> None:
    """The closed forms of ``f(x) = <w, x> + b`` for channels-last ``x``, ``x0`` (N, T, C) and ``w`` (T, C):
    time ``w ⊙ (x - x0)``, Fourier and ICA from ``closed`` (tests/conftest.py); tiny deltas."""
    wc, xc, x0c = (transpose_last(a).astype(np.float64) for a in (w, x, x0))
    expected = {"time": wc * (xc - x0c), "fourier": closed.fourier_linear_map(xc, x0c, wc)}
    if ica is not None:
        expected["ica"] = closed.ica_linear_map(ica, xc, x0c, wc)
    assert set(res) <= set(expected)
    for name in res:
        ref = expected[name]
        assert_maps_close(ref, res[name].values, rel, name)
        assert np.all(np.abs(res[name].delta) <= 1e-5 * np.abs(ref).sum(axis=tuple(range(1, ref.ndim))))


def assert_complete_every_domain(fn, x, x_zero, target, n_steps: int = 64) -> None:
    """Gauss–Legendre with ``n_steps`` on a smooth model: in the time, Fourier and ICA domains the
    completeness error is below 1e-3 of ``f(x) - f(0)`` and the outputs are the model's own."""
    import cdig

    n, c = len(x), np.shape(x)[-1]
    res = cdig.explain(fn, x, ["time", "fourier", cdig.ICA(fit_ica(c))], target=target, n_steps=n_steps)
    pick = 0 if target is None else target
    y = np.asarray(fn(x)).reshape(n, -1)[:, pick]
    y0 = np.asarray(fn(x_zero)).reshape(n, -1)[:, pick]
    for name, a in res.items():
        change = a.output - a.baseline_output
        assert np.all(np.abs(change) > 1e-3), name
        assert np.all(np.abs(a.delta) <= 1e-3 * np.abs(change)), (name, a.delta, change)
        np.testing.assert_allclose(a.output, y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res["time"].baseline_output, y0, rtol=1e-5, atol=1e-6)


def fourier_fd_gradient(z: np.ndarray, cot: np.ndarray, n_times: int, eps: float = 1e-6) -> np.ndarray:
    """``∂φ/∂Re z + i ∂φ/∂Im z`` of ``φ(z) = <irfft(z, n_times), cot>`` by float64 central differences (numpy)."""

    def phi(zz: np.ndarray) -> float:
        return float((np.fft.irfft(zz, n=n_times, axis=-1) * cot).sum())

    fd = np.zeros(z.shape, dtype=complex)
    for idx in np.ndindex(*z.shape):
        e = np.zeros(z.shape, dtype=complex)
        e[idx] = 1.0
        fd[idx] = ((phi(z + eps * e) - phi(z - eps * e)) + 1j * (phi(z + 1j * eps * e) - phi(z - 1j * eps * e))) / (2 * eps)
    return fd


# ----------------------------------------------------------------------------------------------
# Keras 3 on its JAX and torch backends (a fresh process each: Keras fixes its backend at import)
# ----------------------------------------------------------------------------------------------

KERAS_N, KERAS_T, KERAS_C = 3, 16, 2

_KERAS_SCRIPT = r"""
import json
import time
import numpy as np
import keras
import cdig

out = {"keras_backend": keras.backend.backend()}
rng = np.random.default_rng(0)
N, T, C = %(n)d, %(t)d, %(c)d
w = rng.normal(size=(T, C)).astype("float32")
x = rng.normal(size=(N, T, C)).astype("float32")
x0 = (0.1 * rng.normal(size=(N, T, C))).astype("float32")
keras.utils.set_random_seed(0)
lin = keras.Sequential([keras.Input((T, C)), keras.layers.Flatten(), keras.layers.Dense(1)])
lin.layers[-1].set_weights([w.reshape(-1, 1), np.zeros(1, "float32")])
conv = keras.Sequential([
    keras.Input((T, C)), keras.layers.Conv1D(4, 5, padding="same", activation="tanh"),
    keras.layers.Conv1D(4, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3),
])


def _fw(t):
    mod = type(t).__module__.split(".")[0]
    return "jax" if mod.startswith("jax") else mod


def run(key, fn):
    start = time.perf_counter()
    try:
        out[key] = fn()
    except Exception as e:  # reported to the test, which fails with the message
        out[key] = {"error": type(e).__name__ + ": " + str(e)[:500]}
    out.setdefault("seconds", {})[key] = round(time.perf_counter() - start, 2)


def linear(**kw):
    r = cdig.explain(lin, x, ["time", "fourier"], baselines=x0, n_steps=4, **kw)
    return {"backend": r["time"].settings["backend"], "time_axis": r["time"].settings["time_axis"],
            "time": r["time"].values.tolist(), "fourier": r["fourier"].values.tolist(),
            "as_tensor": _fw(r["time"].as_tensor())}


def complete():
    r = cdig.explain(conv, x, ["time", "fourier"], target=2, n_steps=64, method="gausslegendre", time_axis=1)
    res = {d: {"delta": a.delta.tolist(), "change": (a.output - a.baseline_output).tolist(),
               "output": a.output.tolist()} for d, a in r.items()}
    res["model"] = np.asarray(keras.ops.convert_to_numpy(conv(x)))[:, 2].tolist()
    return res


def attribute():
    native = keras.ops.convert_to_tensor(x)
    attr = cdig.CrossDomainIG(lin, "time", time_axis=1).attribute(native, baselines=x0, n_steps=4)
    return {"input": _fw(native), "result": _fw(attr),
            "values": np.asarray(keras.ops.convert_to_numpy(attr)).tolist()}


run("linear_channels_last", lambda: linear(time_axis=1))
run("linear_default", linear)
run("conv", complete)
run("attribute", attribute)
print("RESULT:" + json.dumps(out))
""" % {"n": KERAS_N, "t": KERAS_T, "c": KERAS_C}  # noqa: UP031 - a script with braces of its own


def keras_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``w (T, C)``, ``x`` and ``x0 (N, T, C)`` exactly as the Keras subprocess makes them."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(KERAS_T, KERAS_C)).astype("float32")
    x = rng.normal(size=(KERAS_N, KERAS_T, KERAS_C)).astype("float32")
    x0 = (0.1 * rng.normal(size=(KERAS_N, KERAS_T, KERAS_C))).astype("float32")
    return w, x, x0


def start_script(script: str, **env: str):
    """Run ``script`` in a fresh Python with extra environment variables, in the background.

    Its last line starting with ``RESULT:`` holds its results as JSON (see :func:`finish_script`).
    """
    import os
    import subprocess
    import sys

    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env
    )


def finish_script(proc, timeout: float = 300) -> dict:
    """The results of a run started by :func:`start_script`: a dict, with ``"error"`` if it failed."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except Exception:  # noqa: BLE001 - a hung subprocess must not outlive the tests
        proc.kill()
        stdout, stderr = proc.communicate()
    return script_result(proc.returncode, stdout, stderr)


def script_result(returncode: int, stdout: str, stderr: str) -> dict:
    """The JSON of the last ``RESULT:`` line of a script's output; ``{"error": ...}`` if it failed."""
    import json

    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT:")]
    if returncode != 0 or not lines:
        return {"error": f"the subprocess failed (exit code {returncode}):\n{stderr[-3000:]}"}
    return json.loads(lines[-1][len("RESULT:") :])


def stop_script(proc) -> None:
    """End a run started by :func:`start_script` that nobody waited for."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def keras_on_job(backend: str):
    """The Keras script above with ``KERAS_BACKEND=backend``, as a run of ``BACKGROUND_JOBS``
    (tests/conftest.py): ``make(tmp)`` for it, None where ``backend`` is not installed."""
    import importlib.util
    import os
    import sys

    def make(tmp):
        if importlib.util.find_spec(backend) is None:
            return None
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
        return dict(args=[sys.executable, "-c", _KERAS_SCRIPT], cwd=tmp, env=env, timeout=300)

    return make
