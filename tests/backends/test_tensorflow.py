"""The TensorFlow / Keras backend: every kind of model, closed forms, completeness, the complex VJP,
errors instead of silent zeros, foreign inputs, tensor types, the channels-last default; and Keras 3
models on its JAX and torch backends (in subprocesses: Keras fixes its backend per process).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import warnings

import numpy as np
import pytest
import torch

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import cdig  # noqa: E402
from cdig.backends import get_backend  # noqa: E402
from cdig.backends.tensorflow import TensorflowBackend, TFNamespace  # noqa: E402

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


def _dense_layer(w: np.ndarray, b: float, **kw):
    layer = keras.layers.Dense(1, **kw)
    layer.build((None, w.size))
    layer.set_weights([w.reshape(-1, 1), np.full(1, b, dtype=w.dtype)])
    return layer


def _sequential(w: np.ndarray, b: float = 0.5):
    return keras.Sequential([keras.Input(w.shape), keras.layers.Flatten(), _dense_layer(w, b)])


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

    seq = _sequential(w, b)
    inp = keras.Input(w.shape)
    functional = keras.Model(inp, _dense_layer(w, b)(keras.layers.Flatten()(inp)))
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


KINDS = ["sequential", "functional", "subclassed", ".keras-file", ".h5-file", "tf.Module", "tf.function",
         "plain-function-tf-input", "plain-function-numpy-backend"]


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
    _sequential(w).export(str(tmp_path / "exported"))
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
    model64 = keras.Sequential([keras.Input(w.shape, dtype="float64"), keras.layers.Flatten(dtype="float64"),
                                _dense_layer(w64, 0.5, dtype="float64")])
    res = cdig.explain(model64, x.astype(np.float64), ["time", "fourier"], baselines=x0, n_steps=4)
    assert res["time"].values.dtype == np.float64 and res["fourier"].coefficients.dtype == np.complex128
    tr.assert_linear_maps(res, w64, x.astype(np.float64), x0.astype(np.float64), closed, None, rel=1e-12)
    res32 = cdig.explain(_sequential(w), x.astype(np.float64), "time", baselines=x0, n_steps=4)["time"]
    assert res32.values.dtype == np.float32  # cast to the model's dtype, as in PyTorch


# --- completeness on smooth models ----------------------------------------------------------------


@pytest.mark.parametrize("builder,target", [("conv_classifier", 2), ("attention_regressor", None)])
def test_completeness_gausslegendre_64_in_every_domain(builder, target):
    trip = getattr(tr, builder)()
    model = trip.make_keras()
    c, t = trip.shape
    x = np.random.default_rng(1).normal(size=(N, t, c)).astype(np.float32)
    tr.assert_complete_every_domain(model, x, np.zeros_like(x), target)


# --- the backend's primitives ---------------------------------------------------------------------


@pytest.mark.parametrize("n_times", [16, 17])
def test_vjp_through_the_fourier_inverse_matches_finite_differences(rng, n_times):
    """TensorFlow's VJP for complex ``z`` is ∂/∂Re z + i ∂/∂Im z of <irfft(z), cotangent>, as in PyTorch."""
    f = n_times // 2 + 1
    z = rng.normal(size=(2, 2, f)) + 1j * rng.normal(size=(2, 2, f))
    cot = rng.normal(size=(2, 2, n_times))
    be = TensorflowBackend(lambda v: v, tf.constant(cot))
    dom = cdig.Fourier().fit(np.zeros((2, 2, n_times)))
    g = be.vjp(lambda zz: dom.inverse(zz, TFNamespace), tf.constant(z), tf.constant(cot))
    assert g.dtype == tf.complex128
    np.testing.assert_allclose(g.numpy(), tr.fourier_fd_gradient(z, cot, n_times), rtol=0, atol=1e-8)


def test_vjp_through_the_ica_inverse_is_the_transposed_mixing(rng, fitted_ica):
    dom = cdig.ICA(fitted_ica).fit(np.zeros((2, 3, 8)))
    z, cot = rng.normal(size=(2, 3, 8)), rng.normal(size=(2, 3, 8))
    g = TensorflowBackend(lambda v: v, tf.constant(cot)).vjp(lambda zz: dom.inverse(zz, TFNamespace),
                                                              tf.constant(z), tf.constant(cot))
    np.testing.assert_allclose(g.numpy(), np.einsum("ck,nct->nkt", fitted_ica.mixing_, cot), atol=1e-12)


def test_path_grad_and_accumulate_against_a_plain_loop(rng):
    w = tf.constant(rng.normal(size=(2, 8)))

    def fn(points, idx):
        return tf.sin(tf.reduce_sum(points * w, axis=(1, 2)))

    be = TensorflowBackend(fn, w)
    start, delta = tf.constant(rng.normal(size=(3, 2, 8))), tf.constant(rng.normal(size=(3, 2, 8)))
    idx = np.array([0, 0, 2, 1, 2])
    alphas = np.array([0.1, 0.7, 0.5, 0.2, 0.9])
    grads, h = be.path_grad(fn, start, delta, idx, alphas, True)
    for r, (i, a) in enumerate(zip(idx, alphas)):
        p = start[i].numpy() + a * delta[i].numpy()
        expected = np.cos((p * w.numpy()).sum()) * w.numpy()
        np.testing.assert_allclose(grads[r].numpy(), expected, atol=1e-12)
        np.testing.assert_allclose(h[r], float((delta[i].numpy() * expected).sum()), atol=1e-12)
    weights = np.array([0.5, 0.25, 1.0, 2.0, -1.0])
    acc = be.accumulate(be.zeros_like(start), idx, grads, weights)
    ref = np.zeros(start.shape)
    for r, i in enumerate(idx):
        ref[i] += weights[r] * grads[r].numpy()
    np.testing.assert_allclose(acc.numpy(), ref, atol=1e-12)


def test_nonlinear_path_with_complex_coefficients_matches_the_shared_pass(data):
    """A domain flagged nonlinear integrates its own path in complex ``z`` (``path_grad`` on complex
    points): for the Fourier transform it must give the shared linear pass's map."""
    _, x, _ = data

    class FourierOwnPath(cdig.Fourier):
        name, linear = "fourier_own_path", False

    trip = tr.conv_classifier(channels=C, length=T)
    res = cdig.explain(trip.make_keras(), x, ["fourier", FourierOwnPath()], target=0, n_steps=16)
    tr.assert_maps_close(res["fourier"].values, res["fourier_own_path"].values, 1e-5)


# --- the model is left as it was -------------------------------------------------------------------


def test_keras_model_runs_in_inference_mode_and_is_not_changed(data):
    _, x, _ = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((T, C)), keras.layers.Conv1D(4, 3, activation="tanh"), keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.5), keras.layers.Flatten(), keras.layers.Dense(3),
    ])
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
    chunked = cdig.explain(model, x, ["time", "fourier"], target=np.array([0, 2, 1]), n_steps=16,
                           internal_batch_size=7)
    for name in ref:
        np.testing.assert_array_equal(as_tensor[name].values, ref[name].values)
        tr.assert_maps_close(ref[name].values, chunked[name].values, 1e-6)

    wt = tf.constant(w)

    @tf.function
    def scaled(v, s):
        return tf.reduce_sum(v * wt, axis=(1, 2)) * s

    s = np.array([1.0, -2.0, 3.0], dtype=np.float32)  # split with the batch
    a = cdig.explain(scaled, tf.constant(x), "time", additional_forward_args=(s,), n_steps=4,
                     internal_batch_size=5)["time"]
    np.testing.assert_allclose(a.values, tr.transpose_last(w * x) * s[:, None, None], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", [(2, 1), [(0, 1), (3, 0), (2, 2)]], ids=["tuple", "tuple-per-sample"])
def test_tuple_targets_of_a_forecaster(target, data):
    """``out[n, h, c] = Σ_{t,d} W[h, c, t, d] x[n, t, d]``: the map of output ``(h, c)`` is ``W[h, c] ⊙ x``."""
    _, x, _ = data
    weights = np.random.default_rng(5).normal(size=(4, C, T, C)).astype(np.float32)
    forecaster = tf.function(lambda v: tf.einsum("hctd,ntd->nhc", weights, v))
    a = cdig.explain(forecaster, tf.constant(x), "time", target=target, n_steps=2)["time"]
    rows = [target] * N if isinstance(target, tuple) else target
    expected = np.stack([tr.transpose_last(weights[h, c] * x[i]) for i, (h, c) in enumerate(rows)])
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-6)


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


def test_a_plain_function_is_read_afresh_by_every_explanation(data):
    w, x, _ = data
    weights = w.copy()

    def plain(v):
        return tf.reduce_sum(v * weights, axis=(1, 2))

    first = cdig.explain(plain, tf.constant(x), "time", n_steps=4)["time"]
    weights *= 3.0  # the function itself now returns three times as much
    np.testing.assert_allclose(plain(tf.constant(x)).numpy(), 3 * first.output, rtol=1e-5)
    second = cdig.explain(plain, tf.constant(x), "time", n_steps=4)["time"]
    np.testing.assert_allclose(second.output, 3 * first.output, rtol=1e-5)
    np.testing.assert_allclose(second.values, 3 * first.values, rtol=1e-5, atol=1e-6)


def test_a_keras_model_is_read_afresh_by_every_explanation(data):
    """Keras weights are variables: changing them changes the next explanation (no stale trace)."""
    w, x, _ = data
    model = _sequential(w)
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
        model = keras.Sequential([keras.Input((T, C)), _IntegerCast(), keras.layers.Flatten(),
                                  _dense_layer(w, 0.0)])
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


@pytest.mark.parametrize("kind", ["torch", "torch-float64", "torch-requires-grad", "jax", "numpy-float64",
                                  "tf.Variable"])
def test_foreign_inputs_to_a_keras_model_are_converted(kind, keras_conv, data):
    _, x, _ = data
    ref = cdig.explain(keras_conv, x, ["time", "fourier"], target=1, n_steps=16)
    if kind.startswith("torch"):
        inp = torch.as_tensor(x, dtype=torch.float64 if kind == "torch-float64" else torch.float32)
        if kind == "torch-requires-grad":
            inp.requires_grad_(True)
    elif kind == "jax":
        jnp = pytest.importorskip("jax.numpy")
        inp = jnp.asarray(x)
    elif kind == "numpy-float64":
        inp = x.astype(np.float64)
    else:
        inp = tf.Variable(x)
    res = cdig.explain(keras_conv, inp, ["time", "fourier"], target=1, n_steps=16)
    assert tf.is_tensor(res["time"].as_tensor())  # the model's framework
    for name in ref:
        assert res[name].settings["backend"] == "tensorflow"
        assert res[name].values.dtype == np.float32
        tr.assert_maps_close(ref[name].values, res[name].values, 1e-6, name)


def test_tf_tensors_to_a_torch_model_are_converted(models):
    net = models.conv_net(channels=2, length=T, n_out=3)
    x = np.random.default_rng(0).normal(size=(N, 2, T)).astype(np.float32)
    ref = cdig.explain(net, x, ["time", "fourier"], target=1, n_steps=16)
    res = cdig.explain(net, tf.constant(x), ["time", "fourier"], target=1, n_steps=16)
    for name in ref:
        assert res[name].settings["backend"] == "torch" and res[name].settings["time_axis"] == 2
        np.testing.assert_array_equal(res[name].values, ref[name].values)


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
    attr, delta = cdig.CrossDomainIG(model, "fourier").attribute(inp, target=1, n_steps=8,
                                                                 return_convergence_delta=True)
    assert isinstance(attr, kind) and isinstance(delta, kind)
    np.testing.assert_allclose(np.asarray(attr), ref, rtol=1e-6, atol=1e-7)


def _sparse_torch(x):
    return torch.as_tensor(x).to_sparse()


def _meta_torch(x):
    return torch.empty(x.shape, device="meta")


@pytest.mark.parametrize("case", ["torch-sparse->keras", "torch-meta->keras", "tf-sparse->torch",
                                  "tf-ragged->torch"])
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
    ref = cdig.explain(keras_conv, jnp.asarray(x).astype(jnp.bfloat16).astype(jnp.float32), "time",
                       target=1, n_steps=8)["time"]
    res = cdig.explain(keras_conv, jnp.asarray(x).astype(jnp.bfloat16), "time", target=1, n_steps=8)["time"]
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-6)


# --- tensors stay TensorFlow tensors -----------------------------------------------------------------


def test_crossdomainig_returns_tf_tensors_for_tf_input(data, keras_conv):
    _, x, x0 = data
    ig = cdig.CrossDomainIG(keras_conv, "fourier")
    attr, delta = ig.attribute(tf.constant(x), baselines=tf.constant(x0), target=2, n_steps=16,
                               return_convergence_delta=True)
    assert tf.is_tensor(attr) and tf.is_tensor(delta)
    assert tuple(attr.shape) == (N, C, T // 2 + 1) and tuple(delta.shape) == (N,)
    assert "CPU" in ig.attribution_.settings["device"].upper()
    as_tensor = ig.attribution_.as_tensor()
    assert tf.is_tensor(as_tensor)
    np.testing.assert_array_equal(as_tensor.numpy(), attr.numpy())
    attr_np = ig.attribute(x, baselines=x0, target=2, n_steps=16)
    assert isinstance(attr_np, np.ndarray)
    np.testing.assert_array_equal(attr_np, attr.numpy())
    assert tf.is_tensor(cdig.explain(keras_conv, x, "time", target=2, n_steps=8)["time"].as_tensor())


def test_backend_detection(data, keras_conv):
    _, x, _ = data
    assert isinstance(get_backend(keras_conv, x), TensorflowBackend)
    assert isinstance(get_backend(tf.function(lambda v: v), x), TensorflowBackend)
    assert isinstance(get_backend(lambda v: v, tf.constant(x)), TensorflowBackend)
    assert isinstance(get_backend(lambda v: v, tf.Variable(x)), TensorflowBackend)
    assert TensorflowBackend.default_time_axis == 1


# --- the time axis ------------------------------------------------------------------------------------


def test_channels_last_by_default_time_axis_minus_one_for_channels_first(data, closed):
    w, x, x0 = data
    res = cdig.explain(_sequential(w), x, ["time", "fourier"], baselines=x0, n_steps=4)
    assert res["time"].settings["time_axis"] == 1
    tr.assert_linear_maps(res, w, x, x0, closed, None)
    # a channels-first Keras model, (N, C, T): time_axis=-1 (or 2) overrides the default
    wc, xc, x0c = tr.transpose_last(w), tr.transpose_last(x), tr.transpose_last(x0)
    channels_first = _sequential(wc)
    for axis in (-1, 2):
        res = cdig.explain(channels_first, xc, ["time", "fourier"], baselines=x0c, n_steps=4, time_axis=axis)
        assert res["time"].settings["time_axis"] == 2
        tr.assert_linear_maps(res, w, x, x0, closed, None)
    # without it the model's (C, T) input is read as (T, C): C "samples" of T channels
    wrong = cdig.explain(channels_first, xc, "time", baselines=x0c, n_steps=4)["time"]
    assert wrong.values.shape == (N, T, C)
    # 2-D input is (N, T) in every framework; the maps have no channel axis
    univariate = cdig.explain(_sequential(w[:, 0]), x[..., 0], ["time", "fourier"], baselines=x0[..., 0],
                              n_steps=4)
    assert univariate["time"].values.shape == (N, T) and univariate["fourier"].values.shape == (N, T // 2 + 1)
    np.testing.assert_allclose(univariate["time"].values, w[:, 0] * (x - x0)[..., 0], rtol=1e-5, atol=1e-6)


# --- Keras 3 on its JAX and torch backends (one fresh process each) -------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _keras_processes(request):
    """Start both subprocesses with the module's first test (when any test here needs them): they
    spend most of their time importing, which overlaps with the tests running meanwhile."""
    wanted = any("keras_other" in getattr(item, "fixturenames", ()) for item in request.session.items)
    procs = {b: tr.start_keras_on(b) for b in ("jax", "torch")
             if wanted and importlib.util.find_spec(b) is not None}
    yield procs
    for proc in procs.values():
        tr.stop_script(proc)


@pytest.fixture(scope="module")
def keras_runs(_keras_processes):
    return {b: tr.finish_script(p) for b, p in _keras_processes.items()}


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
    tr.assert_maps_close(wc * (xc - x0c), np.asarray(att["values"]), 2e-6, "CrossDomainIG")


def test_keras_on_another_backend_completeness(keras_other):
    _, out = keras_other
    conv = _no_error(out["conv"])
    for name in ("time", "fourier"):
        delta, change = np.asarray(conv[name]["delta"]), np.asarray(conv[name]["change"])
        assert np.all(np.abs(change) > 1e-3)
        assert np.all(np.abs(delta) <= 1e-3 * np.abs(change)), (name, delta, change)
        np.testing.assert_allclose(conv[name]["output"], conv["model"], rtol=1e-5, atol=1e-6)


def test_keras_on_another_backend_is_channels_last_by_default(keras_other, closed):
    backend, out = keras_other
    part = _no_error(out["linear_default"])
    assert part["time_axis"] == 1
    w, x, x0 = tr.keras_data()
    wc, xc, x0c = (tr.transpose_last(a).astype(np.float64) for a in (w, x, x0))
    tr.assert_maps_close(wc * (xc - x0c), np.asarray(part["time"]), 2e-6, "time")
