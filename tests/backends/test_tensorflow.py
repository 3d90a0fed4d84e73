"""The TensorFlow / Keras backend: every kind of model, closed forms, float64, inference mode, targets
and chunks, errors instead of silent zeros, inputs of other frameworks; and Keras 3 models on its JAX
and torch backends (in subprocesses: Keras fixes its backend per process).

What TensorFlow shares with the other backends (the complex VJP, completeness, foreign inputs, tensor
types, the channels-last default, ...) is tested in test_backends.py.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np
import pytest
import torch

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import cdig  # noqa: E402

if keras.backend.backend() != "tensorflow":  # pragma: no cover - depends on KERAS_BACKEND
    pytest.skip("these tests need Keras on the TensorFlow backend", allow_module_level=True)


tr = sys.modules["_cdig_tests_triplets"]  # loaded by tests/backends/conftest.py

N, T, C = 3, 16, 3  # C = 3: the channels of the session's fitted_ica


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    w = rng.normal(size=(T, C)).astype(np.float32)
    x = rng.normal(size=(N, T, C)).astype(np.float32)
    x0 = (0.3 * rng.normal(size=(N, T, C))).astype(np.float32)
    return w, x, x0


# --- every kind of TensorFlow model ------------------------------------------------------------------


def _model_kinds(w, b, tmp_path):
    """kind -> (model, input type, extra explain kwargs)"""
    wt = tf.constant(w)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat = keras.layers.Flatten()
            self.dense = keras.layers.Dense(1)

        def call(self, v):
            return self.dense(self.flat(v))

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(w)

        def __call__(self, v):
            return tf.reduce_sum(v * self.w, axis=(1, 2)) + b

    def plain(v):
        return tf.reduce_sum(v * wt, axis=(1, 2)) + b

    seq = tr.keras_linear(w, b)
    inp = keras.Input(w.shape)
    functional = keras.Model(inp, tr.keras_dense(w, b)(keras.layers.Flatten()(inp)))
    sub = Subclassed()
    sub(np.zeros((1,) + w.shape, np.float32))
    sub.dense.set_weights([w.reshape(-1, 1), np.full(1, b, np.float32)])

    kinds = {
        "sequential": (seq, "numpy", {}),
        "functional": (functional, "tf", {}),
        "subclassed": (sub, "numpy", {}),
        "tf.Module": (Module(), "tf", {}),
        "tf.function": (tf.function(plain), "numpy", {}),
        "plain-function-tf-input": (plain, "tf", {}),
        "plain-function-numpy-backend": (plain, "numpy", {"backend": "tensorflow"}),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls .h5 a legacy format
        for suffix in ("keras", "h5"):
            path = tmp_path / f"model.{suffix}"
            seq.save(path)
            kinds[f".{suffix}-file"] = (keras.models.load_model(path), "numpy", {})
    return kinds


KINDS = [
    "sequential",
    "functional",
    "subclassed",
    ".keras-file",
    ".h5-file",
    "tf.Module",
    "tf.function",
    "plain-function-tf-input",
    "plain-function-numpy-backend",
]


@pytest.fixture(scope="module")
def kinds(data, tmp_path_factory):
    w, _, _ = data
    return _model_kinds(w, 0.5, tmp_path_factory.mktemp("keras"))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_model_gives_the_closed_form(kind, kinds, data, closed, fitted_ica):
    w, x, x0 = data
    model, input_type, kw = kinds[kind]
    inp = tf.constant(x) if input_type == "tf" else x
    res = cdig.explain(model, inp, ["time", "fourier", cdig.ICA(fitted_ica)], baselines=x0, n_steps=4, **kw)
    tr.assert_linear_maps(res, w, x, x0, closed, fitted_ica)
    a = res["time"]
    assert a.settings["backend"] == "tensorflow" and a.settings["time_axis"] == 1
    assert a.values.shape == (N, C, T) and res["fourier"].values.shape == (N, C, T // 2 + 1)
    np.testing.assert_allclose(a.output, (x * w).sum(axis=(1, 2)) + 0.5, rtol=1e-5)
    np.testing.assert_allclose(a.baseline_output, (x0 * w).sum(axis=(1, 2)) + 0.5, rtol=1e-5)


def test_exported_savedmodel(data, closed, tmp_path):
    """``model.export(path)`` + ``tf.saved_model.load``: its ``serve`` endpoint is explained; the loaded
    object itself is not callable, which is a clear CdigTypeError."""
    w, x, x0 = data
    tr.keras_linear(w).export(str(tmp_path / "exported"))
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    res = cdig.explain(loaded.serve, x, ["time", "fourier"], baselines=x0, n_steps=4)
    tr.assert_linear_maps(res, w, x, x0, closed, None)
    assert res["time"].settings["backend"] == "tensorflow"
    signature = loaded.signatures["serving_default"]

    def from_signature(v):
        return next(iter(signature(v).values()))

    res = cdig.explain(from_signature, tf.constant(x), "time", baselines=x0, n_steps=4)
    tr.assert_linear_maps(res, w, x, x0, closed, None)
    if not callable(loaded):
        with pytest.raises(cdig.CdigTypeError, match="callable"):
            cdig.explain(loaded, x, "time")


def test_float64_model_and_float64_input_to_a_float32_model(data, closed):
    w, x, x0 = data
    w64 = w.astype(np.float64)
    model64 = keras.Sequential(
        [keras.Input(w.shape, dtype="float64"), keras.layers.Flatten(dtype="float64"), tr.keras_dense(w64, 0.5, dtype="float64")]
    )
    res = cdig.explain(model64, x.astype(np.float64), ["time", "fourier"], baselines=x0, n_steps=4)
    assert res["time"].values.dtype == np.float64 and res["fourier"].coefficients.dtype == np.complex128
    tr.assert_linear_maps(res, w64, x.astype(np.float64), x0.astype(np.float64), closed, None, rel=1e-12)
    res32 = cdig.explain(tr.keras_linear(w), x.astype(np.float64), "time", baselines=x0, n_steps=4)["time"]
    assert res32.values.dtype == np.float32  # cast to the model's dtype, as in PyTorch


# --- the model is left as it was -------------------------------------------------------------------


def test_keras_model_runs_in_inference_mode_and_is_not_changed(data):
    _, x, _ = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((T, C)),
            keras.layers.Conv1D(4, 3, activation="tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    bn = model.layers[1]
    rng = np.random.default_rng(0)
    bn.moving_mean.assign(rng.normal(size=4).astype(np.float32))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=4).astype(np.float32))
    before = [v.numpy().copy() for v in model.weights]
    first = cdig.explain(model, x, ["time", "fourier"], target=2, n_steps=32)
    second = cdig.explain(model, x, ["time", "fourier"], target=2, n_steps=32)
    for v, b in zip(model.weights, before):
        np.testing.assert_array_equal(v.numpy(), b)  # moving statistics untouched
    for name in first:  # dropout off: deterministic
        np.testing.assert_array_equal(first[name].values, second[name].values)
        assert np.all(first[name].relative_delta < 1e-3)
    np.testing.assert_allclose(first["time"].output, model(x, training=False).numpy()[:, 2], rtol=1e-6)


# --- targets, extra arguments, chunks ---------------------------------------------------------------


def test_targets_as_tensors_extra_arguments_and_chunks(data):
    w, x, _ = data
    model = tr.conv_classifier(channels=C, length=T).make_keras()
    ref = cdig.explain(model, x, ["time", "fourier"], target=[0, 2, 1], n_steps=16)
    as_tensor = cdig.explain(model, tf.constant(x), ["time", "fourier"], target=tf.constant([0, 2, 1]), n_steps=16)
    chunked = cdig.explain(model, x, ["time", "fourier"], target=np.array([0, 2, 1]), n_steps=16, internal_batch_size=7)
    for name in ref:
        np.testing.assert_array_equal(as_tensor[name].values, ref[name].values)
        tr.assert_maps_close(ref[name].values, chunked[name].values, 1e-6)

    wt = tf.constant(w)

    @tf.function
    def scaled(v, s):
        return tf.reduce_sum(v * wt, axis=(1, 2)) * s

    s = np.array([1.0, -2.0, 3.0], dtype=np.float32)  # split with the batch
    a = cdig.explain(scaled, tf.constant(x), "time", additional_forward_args=(s,), n_steps=4, internal_batch_size=5)["time"]
    np.testing.assert_allclose(a.values, tr.transpose_last(w * x) * s[:, None, None], rtol=1e-5, atol=1e-6)


# --- plain functions and their Python state --------------------------------------------------------


def test_unhashable_callable_object(data, closed):
    w, x, x0 = data

    @dataclasses.dataclass
    class Module:
        w: np.ndarray

        def __call__(self, v):
            return tf.reduce_sum(v * self.w, axis=(1, 2))

    res = cdig.explain(Module(w), tf.constant(x), ["time", "fourier"], baselines=x0, n_steps=4)
    tr.assert_linear_maps(res, w, x, x0, closed, None)


def test_a_keras_model_is_read_afresh_by_every_explanation(data):
    """Keras weights are variables: changing them changes the next explanation (no stale trace)."""
    w, x, _ = data
    model = tr.keras_linear(w)
    first = cdig.explain(model, x, "time", n_steps=4)["time"]
    model.layers[-1].kernel.assign(3.0 * model.layers[-1].kernel)
    second = cdig.explain(model, x, "time", n_steps=4)["time"]
    np.testing.assert_allclose(second.values, 3 * first.values, rtol=1e-5, atol=1e-6)


# --- errors, not silent zeros -------------------------------------------------------------------------


class _IntegerCast(keras.layers.Layer):
    def call(self, v):
        return tf.cast(tf.cast(4.0 * v, tf.int32), tf.float32)


@pytest.mark.parametrize("case", ["keras-int-cast", "function-int-cast", "round", "stop_gradient", "int-output"])
def test_a_model_without_a_gradient_is_an_error(case, data):
    w, x, _ = data
    wt = tf.constant(w)
    if case == "keras-int-cast":
        model = keras.Sequential([keras.Input((T, C)), _IntegerCast(), keras.layers.Flatten(), tr.keras_dense(w, 0.0)])
    else:

        def model(v):
            if case == "function-int-cast":
                v = tf.cast(tf.cast(4.0 * v, tf.int32), tf.float32)
            elif case == "round":
                v = tf.round(4.0 * v)
            elif case == "stop_gradient":
                v = tf.stop_gradient(v)
            y = tf.reduce_sum(v * wt, axis=(1, 2))
            return tf.cast(100.0 * y, tf.int32) if case == "int-output" else y

    inp = x if case == "keras-int-cast" else tf.constant(x)
    with pytest.raises(cdig.CdigModelError, match="gradient|integer"):
        cdig.explain(model, inp, ["time", "fourier"], n_steps=8)


# --- other frameworks' tensors -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_conv():
    return tr.conv_classifier(channels=C, length=T).make_keras()


@pytest.mark.parametrize("case", ["torch->keras", "jax->keras", "tf->torch"])
def test_crossdomainig_with_an_input_of_another_framework(case, keras_conv, models, data):
    """``attribute`` returns the input's array type (its docstring), whichever framework runs the model."""
    _, x, _ = data
    if case == "tf->torch":
        model, xin = models.conv_net(channels=C, length=T, n_out=3), tr.transpose_last(x)
        inp, kind = tf.constant(xin), tf.Tensor
    else:
        model, xin = keras_conv, x
        if case == "torch->keras":
            inp, kind = torch.as_tensor(x), torch.Tensor
        else:
            jax = pytest.importorskip("jax")
            inp, kind = jax.numpy.asarray(x), jax.Array
    ref = cdig.CrossDomainIG(model, "fourier").attribute(xin, target=1, n_steps=8)
    attr, delta = cdig.CrossDomainIG(model, "fourier").attribute(inp, target=1, n_steps=8, return_convergence_delta=True)
    assert isinstance(attr, kind) and isinstance(delta, kind)
    np.testing.assert_allclose(np.asarray(attr), ref, rtol=1e-6, atol=1e-7)


def _sparse_torch(x):
    return torch.as_tensor(x).to_sparse()


def _meta_torch(x):
    return torch.empty(x.shape, device="meta")


@pytest.mark.parametrize("case", ["torch-sparse->keras", "torch-meta->keras", "tf-sparse->torch", "tf-ragged->torch"])
def test_inputs_that_cannot_be_converted_name_both_frameworks(case, keras_conv, models, data):
    _, x, _ = data
    if case.endswith("keras"):
        model = keras_conv
        inp = (_sparse_torch if "sparse" in case else _meta_torch)(x)
    else:
        model = models.conv_net(channels=C, length=T, n_out=3)
        xc = tr.transpose_last(x)
        # (a RaggedTensor with rows of equal length is dense and converts: this one's rows differ)
        inp = tf.sparse.from_dense(tf.constant(xc)) if "sparse" in case else tf.ragged.constant([[[1.0, 2.0]], [[1.0]]])
    with pytest.raises(cdig.CdigTypeError) as err:
        cdig.explain(model, inp, "time", target=1, n_steps=4)
    msg = str(err.value).lower()
    assert "torch" in msg and ("tensorflow" in msg or "keras" in msg)


def test_bfloat16_jax_input_to_a_keras_model(keras_conv, data):
    jnp = pytest.importorskip("jax.numpy")
    _, x, _ = data
    ref = cdig.explain(keras_conv, jnp.asarray(x).astype(jnp.bfloat16).astype(jnp.float32), "time", target=1, n_steps=8)["time"]
    res = cdig.explain(keras_conv, jnp.asarray(x).astype(jnp.bfloat16), "time", target=1, n_steps=8)["time"]
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-6)


# --- Keras 3 on its JAX and torch backends (one fresh process each) -------------------------------------


# Each a fresh process, mostly importing: started with the session, on the core the tests leave idle
# (tests/conftest.py), so they are done when these tests come.
BACKGROUND_JOBS = {f"keras on {b}": tr.keras_on_job(b) for b in ("jax", "torch")}


@pytest.fixture(scope="module")
def keras_runs(background):
    runs = {b: background.result(f"keras on {b}") for b in ("jax", "torch")}
    return {b: tr.script_result(p.returncode, p.stdout, p.stderr) for b, p in runs.items() if p is not None}


@pytest.fixture(params=["jax", "torch"])
def keras_other(request, keras_runs):
    if request.param not in keras_runs:
        pytest.skip(f"{request.param} is not installed")
    out = keras_runs[request.param]
    assert "error" not in out, out.get("error")
    return request.param, out


def _no_error(part: dict) -> dict:
    assert "error" not in part, part.get("error")
    return part


@pytest.mark.background("keras on jax", "keras on torch")
def test_keras_on_another_backend_closed_form_and_tensors(keras_other, closed):
    backend, out = keras_other
    assert out["keras_backend"] == backend
    w, x, x0 = tr.keras_data()
    part = _no_error(out["linear_channels_last"])
    assert part["backend"] == backend and part["time_axis"] == 1
    assert part["as_tensor"] == backend  # jax.Array / torch.Tensor
    wc, xc, x0c = (tr.transpose_last(a).astype(np.float64) for a in (w, x, x0))
    tr.assert_maps_close(wc * (xc - x0c), np.asarray(part["time"]), 2e-6, "time")
    tr.assert_maps_close(closed.fourier_linear_map(xc, x0c, wc), np.asarray(part["fourier"]), 2e-6, "fourier")
    att = _no_error(out["attribute"])
    assert att["result"] == att["input"] == backend
    # CrossDomainIG keeps the input's own layout in time (Captum's contract): (N, T, C) here
    tr.assert_maps_close((w * (x - x0)).astype(np.float64), np.asarray(att["values"]), 2e-6, "CrossDomainIG")


@pytest.mark.background("keras on jax", "keras on torch")
def test_keras_on_another_backend_completeness(keras_other):
    _, out = keras_other
    conv = _no_error(out["conv"])
    for name in ("time", "fourier"):
        delta, change = np.asarray(conv[name]["delta"]), np.asarray(conv[name]["change"])
        assert np.all(np.abs(change) > 1e-3)
        assert np.all(np.abs(delta) <= 1e-3 * np.abs(change)), (name, delta, change)
        np.testing.assert_allclose(conv[name]["output"], conv["model"], rtol=1e-5, atol=1e-6)


@pytest.mark.background("keras on jax", "keras on torch")
def test_keras_on_another_backend_is_channels_last_by_default(keras_other, closed):
    backend, out = keras_other
    part = _no_error(out["linear_default"])
    assert part["time_axis"] == 1
    w, x, x0 = tr.keras_data()
    wc, xc, x0c = (tr.transpose_last(a).astype(np.float64) for a in (w, x, x0))
    tr.assert_maps_close(wc * (xc - x0c), np.asarray(part["time"]), 2e-6, "time")
