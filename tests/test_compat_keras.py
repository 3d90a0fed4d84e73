"""cdig.compat on Keras models: the reference package's TensorFlow-side conventions, recomputed here.

The references are plain ``tf.GradientTape`` loops, one path point per forward/backward pass, and
numpy FFTs; none of them calls cdig. The same weights copied into a PyTorch model give the torch
side's numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
from sklearn.decomposition import FastICA  # noqa: E402

import cdig  # noqa: E402
from cdig.compat import (  # noqa: E402
    ICAIG,
    CrossDomainIG,
    DomainBase,
    FourierDomain,
    FourierIG,
    ICADomain,
    TimeDomain,
    TimeIG,
)

if keras.backend.backend() != "tensorflow":  # pragma: no cover
    pytest.skip("Keras runs on another backend than TensorFlow", allow_module_level=True)

N_STEPS = 16
TARGET = 1
#: The formula tests use few right-Riemann steps on purpose; completeness is checked separately.
quiet = pytest.mark.filterwarnings("ignore::cdig.ConvergenceWarning")


# --- models --------------------------------------------------------------------------------------
def make_keras(c: int, t: int, seed: int = 0) -> keras.Model:
    """A Conv1D classifier on channels-last input (N, T, C) -> (N, 3)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((t, c)),
            keras.layers.Conv1D(4, 5, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )


class TorchTwin(torch.nn.Module):
    """The Keras model's weights in PyTorch, on channels-first input (N, C, T)."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        conv, dense = model.layers[0], model.layers[2]
        kernel, bias = (np.asarray(w) for w in conv.get_weights())  # (k, in, out), (out,)
        self.conv = torch.nn.Conv1d(kernel.shape[1], kernel.shape[2], kernel.shape[0])
        w, b = (np.asarray(v) for v in dense.get_weights())  # (in, out), (out,)
        self.linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            self.conv.weight.copy_(torch.as_tensor(kernel.transpose(2, 1, 0)))  # (out, in, k)
            self.conv.bias.copy_(torch.as_tensor(bias))
            self.linear.weight.copy_(torch.as_tensor(w.T))
            self.linear.bias.copy_(torch.as_tensor(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv(x)).transpose(1, 2)  # Keras flattens (time, filter)
        return self.linear(h.flatten(1))


@pytest.fixture(scope="module")
def data() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 32, 2)).astype(np.float32)  # (N, T, C)
    x0 = (0.3 * rng.normal(size=(3, 32, 2))).astype(np.float32)
    return make_keras(2, 32), x, x0


@pytest.fixture(scope="module")
def ica_data() -> tuple[keras.Model, np.ndarray, FastICA]:
    rng = np.random.default_rng(2)
    sources = rng.laplace(size=(3, 64, 2))
    mixing = np.array([[1.0, 0.5], [0.3, 1.2]])
    x = (np.einsum("ck,ntk->ntc", mixing, sources) + np.array([0.5, -0.2])).astype(np.float32)
    # As in the reference's TensorFlow example: fitted on one sample's (T, C) data.
    ica = FastICA(random_state=0, whiten="unit-variance", max_iter=2000).fit(x[0])
    return make_keras(2, 64, seed=3), x, ica


# --- independent references --------------------------------------------------------------------
def grad_at(model: keras.Model, point: np.ndarray, c: int) -> np.ndarray:
    """∇f at one sample (T, C), one forward/backward pass."""
    p = tf.constant(point[None], dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(p)
        y = model(p)[0, c]
    return tape.gradient(y, p)[0].numpy()


def tape_avg_grad(model: keras.Model, x: np.ndarray, x0: np.ndarray, alphas: np.ndarray, c: int) -> np.ndarray:
    """(1/n) Σ_i ∇f(x0 + α_i (x − x0)) for one sample (T, C)."""
    return sum(grad_at(model, x0 + a * (x - x0), c) for a in alphas) / len(alphas)


def right(n: int) -> np.ndarray:
    return np.arange(1, n + 1) / n


def tape_ica_scores(model: keras.Model, x: np.ndarray, ica: FastICA, n: int, c: int) -> np.ndarray:
    """The reference's ICA scores of one sample (T, C): mixing matrix scaled from zero, sources fixed."""
    s = tf.constant(ica.transform(x), dtype=tf.float32)  # (T, K)
    mix_t = tf.constant(ica.mixing_.T, dtype=tf.float32)  # (K, C)
    mean = tf.constant(ica.mean_, dtype=tf.float32)
    total = np.zeros(mix_t.shape)
    for i in range(1, n + 1):
        a = (i / n) * mix_t
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = model((s @ a + mean)[None])[0, c]
        total += tape.gradient(y, a).numpy()
    return (mix_t.numpy() * total / n).sum(axis=1)


def two_sided_reference(gbar: np.ndarray, x: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """A_k = Re(ΔX_k conj(G_k)) with G_k = FFT(ḡ)_k / T along the last axis, for x = Re(ifft(X))."""
    t = x.shape[-1]
    g = np.fft.fft(gbar.astype(np.float64), axis=-1) / t
    dx = np.fft.fft((x - x0).astype(np.float64), axis=-1)
    return (dx * np.conj(g)).real


def model_out(model: keras.Model, x: np.ndarray, c: int = TARGET) -> np.ndarray:
    return np.asarray(model(tf.constant(x))[:, c], dtype=np.float64)


def close(a, b, rel: float = 1e-5) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * np.abs(b).max())


# --- time and Fourier ----------------------------------------------------------------------------
@quiet
def test_time_ig_equals_right_riemann_tape_loop_for_every_sample(data):
    model, x, x0 = data
    out = TimeIG(model, N_STEPS, output_channel=TARGET).run(x, x0)
    assert isinstance(out, tf.Tensor) and out.dtype == tf.float32
    assert tuple(out.shape) == (3, 2, 32)  # (N, C, T): the reference's (C, T) per sample
    for j in range(len(x)):
        ref = (x[j] - x0[j]) * tape_avg_grad(model, x[j], x0[j], right(N_STEPS), TARGET)
        close(out.numpy()[j], ref.T)
    one = TimeIG(model, N_STEPS, output_channel=TARGET).run(x[:1], x0[:1])
    assert isinstance(one, tf.Tensor) and tuple(one.shape) == (2, 32)  # one sample: (C, T)
    close(one.numpy(), out.numpy()[0], rel=1e-6)


@quiet
@pytest.mark.parametrize("t", [32, 15])
def test_fourier_ig_equals_two_sided_formula_for_every_sample(t):
    rng = np.random.default_rng(t)
    x = rng.normal(size=(2, t, 2)).astype(np.float32)
    x0 = (0.5 * rng.normal(size=(2, t, 2))).astype(np.float32)
    model = make_keras(2, t, seed=t)
    out = FourierIG(model, N_STEPS, output_channel=TARGET).run(x, x0)
    assert isinstance(out, tf.Tensor) and tuple(out.shape) == (2, 2, t)
    out = out.numpy()
    for j in range(len(x)):
        gbar = tape_avg_grad(model, x[j], x0[j], right(N_STEPS), TARGET)
        close(out[j], two_sided_reference(gbar.T, x[j].T, x0[j].T))
        close(out[j][:, 1:], out[j][:, 1:][:, ::-1])  # real signals: A_k = A_{T-k}
    one = FourierIG(model, N_STEPS, output_channel=TARGET).run(x[1:], x0[1:])
    assert tuple(one.shape) == (2, t)
    close(one.numpy(), out[1], rel=1e-5)


def test_fourier_ig_completeness_with_gauss_legendre(data):
    model, x, x0 = data
    ig = FourierIG(model, 16, output_channel=TARGET, method="gausslegendre")
    out = ig.run(x, x0).numpy()
    np.testing.assert_allclose(out.sum(axis=(1, 2)), model_out(model, x) - model_out(model, x0), atol=1e-4)
    assert ig.getMultiIG() is ig.multiIG


@quiet
def test_equal_to_the_torch_side_with_the_same_weights(data, ica_data):
    model, x, x0 = data
    twin = TorchTwin(model).eval()
    xt, x0t = x.transpose(0, 2, 1), x0.transpose(0, 2, 1)
    close(model_out(model, x), twin(torch.as_tensor(xt))[:, TARGET].detach().numpy())  # the twin is the model
    for cls in (TimeIG, FourierIG):
        keras_map = cls(model, N_STEPS, TARGET).run(x, x0).numpy()
        torch_map = cls(twin, N_STEPS, TARGET).run(xt, x0t).numpy()
        close(keras_map, torch_map, rel=1e-5)
    imodel, ix, ica = ica_data
    itwin = TorchTwin(imodel).eval()
    close(
        ICAIG(imodel, ica, N_STEPS, TARGET).run(ix).numpy(),
        ICAIG(itwin, ica, N_STEPS, TARGET).run(ix.transpose(0, 2, 1)).numpy(),
        rel=1e-5,
    )


# --- ICA -----------------------------------------------------------------------------------------
@quiet
def test_ica_ig_equals_mixing_matrix_formula_for_every_sample(ica_data):
    model, x, ica = ica_data
    out = ICAIG(model, ica, N_STEPS, output_channel=TARGET).run(x)
    assert isinstance(out, tf.Tensor) and tuple(out.shape) == (3, 2)
    for j in range(len(x)):
        close(out.numpy()[j], tape_ica_scores(model, x[j], ica, N_STEPS, TARGET))
    one = ICAIG(model, ica, N_STEPS, output_channel=TARGET).run(x[:1])
    assert tuple(one.shape) == (2,)
    close(one.numpy(), out.numpy()[0], rel=1e-5)


def test_ica_domain_scales_the_mixing_matrix_from_zero(ica_data):
    model, x, ica = ica_data
    d = ICAIG(model, ica, 4).domain
    d.set_coefficients(x, None)
    assert tuple(d.get_coefficients().shape) == (3, 2, 2) and not np.any(d.get_coefficient_baseline().numpy())
    np.testing.assert_allclose(d.inverse_transform(d.get_coefficients()).numpy(), x, atol=1e-4)  # (N, T, C)
    start = d.inverse_transform(d.get_coefficient_baseline()).numpy()
    np.testing.assert_allclose(start, np.broadcast_to(ica.mean_, x.shape), atol=1e-6)
    np.testing.assert_allclose(d.forward_transform(x[0]), ica.transform(x[0]), rtol=1e-6)
    assert ICADomain(ica, tf.float32).ica is ica  # the reference's ICADomain(ica, dtype)


@quiet
def test_ica_baseline_is_the_means_and_another_one_warns(ica_data):
    model, x, ica = ica_data
    default = ICAIG(model, ica, N_STEPS, TARGET).run(x)
    zeros = np.zeros_like(x)
    with pytest.warns(cdig.CdigWarning, match="ignores x_baseline"):
        ignored = ICAIG(model, ica, N_STEPS, TARGET).run(x, zeros)
    np.testing.assert_array_equal(ignored.numpy(), default.numpy())
    mean = np.broadcast_to(ica.mean_, x.shape).astype(np.float32)  # channels last
    with warnings.catch_warnings():
        warnings.simplefilter("error", cdig.CdigWarning)
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        np.testing.assert_array_equal(ICAIG(model, ica, N_STEPS, TARGET).run(x, mean).numpy(), default.numpy())
        honoured = ICAIG(model, ica, N_STEPS, TARGET, honour_baseline=True).run(x, zeros)
    native = cdig.explain(model, x, [cdig.ICA(ica)], target=TARGET, baselines=zeros, n_steps=N_STEPS, method="riemann_right")[
        "ica"
    ].values
    close(honoured.numpy(), native, rel=1e-6)
    # with the means as baseline the reference's path is cdig's native ICA domain
    at_mean = cdig.explain(model, x, [cdig.ICA(ica)], target=TARGET, baselines=mean, n_steps=N_STEPS, method="riemann_right")[
        "ica"
    ].values
    close(default.numpy(), at_mean, rel=1e-5)


# --- the TensorFlow reference's own rule -----------------------------------------------------------
@quiet
def test_difference_from_the_tensorflow_reference_rule(data):
    """The TF reference integrates with α = linspace(0, 1, n), each weight 1/n; cdig keeps the right
    Riemann sum on both sides. Exactly: TF_ref(n) = (n−1)/n · compat(n−1) + Δ ⊙ ∇f(x0) / n, and the
    two differ by O(1/n)."""
    model, x, x0 = data
    x, x0 = x[:1], x0[:1]
    dx = (x[0] - x0[0]).T
    gl = TimeIG(model, 24, TARGET, method="gausslegendre").run(x, x0).numpy()  # the integral itself
    gaps = []
    for n in (8, 32):
        tf_ref = dx * tape_avg_grad(model, x[0], x0[0], np.linspace(0.0, 1.0, n), TARGET).T
        compat = TimeIG(model, n, TARGET).run(x, x0).numpy()
        previous = TimeIG(model, n - 1, TARGET).run(x, x0).numpy()
        close(tf_ref, (n - 1) / n * previous + dx * grad_at(model, x0[0], TARGET).T / n, rel=1e-5)
        scale = np.abs(gl).max()
        gaps.append(np.abs(compat - tf_ref).max() / scale)
        assert np.abs(compat - gl).max() / scale < 2.0 / n and np.abs(tf_ref - gl).max() / scale < 2.0 / n
    assert 0.01 < gaps[0] < 0.25 and gaps[1] < gaps[0] / 3  # a few % at n = 8, shrinking like 1/n


# --- types, dtypes, positional arguments ----------------------------------------------------------
@quiet
def test_dtypes_inputs_and_the_references_positional_dtype(data):
    model, x, x0 = data
    out = TimeIG(model, 4, 0, tf.float64).run(x, x0)  # the TF reference's TimeIG(model, n, c, dtype)
    assert out.dtype == tf.float64
    assert TimeIG(model, 4, 0, dtype=tf.float64, device=None).domain.dtype == tf.float64
    ref = TimeIG(model, 4).run(x, x0)
    np.testing.assert_array_equal(TimeIG(model, 4).run(tf.constant(x), tf.constant(x0)).numpy(), ref.numpy())
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    assert tuple(TimeIG(model, 4).run(x, 0.5).shape) == (3, 2, 32)  # a scalar baseline broadcasts
    ig = CrossDomainIG(model, 4, 0, tf.float64)
    assert ig.dtype == tf.float64 and ig.device is None
    # the torch side's positional dtype reaches the preset domain too
    twin = TorchTwin(model).double().eval()
    assert TimeIG(twin, 4, 0, torch.float64).run(x.transpose(0, 2, 1)).dtype == torch.float64


def test_errors_name_the_tensorflow_layout(data, ica_data):
    model, x, x0 = data
    with pytest.raises(cdig.CdigValueError, match="x_baseline has shape"):
        TimeIG(model, 4).run(x, x0[:, :5])
    imodel, ix, ica = ica_data
    with pytest.raises(cdig.CdigValueError, match=r"\(N, T, C\)"):
        ICAIG(imodel, ica, 4).run(ix[0])
    ig = CrossDomainIG(model, 4)
    with pytest.raises(cdig.CdigTypeError, match="dtype"):
        ig.initialize_domain(TimeDomain, dtype=torch.float64)
    ig.domain = TimeDomain(dtype=torch.float32)  # built on its own, for torch
    with pytest.raises(cdig.CdigTypeError, match="built for torch"):
        ig.run(x, x0)


# --- domains -------------------------------------------------------------------------------------
def test_domains_transpose_to_channels_first_as_the_reference():
    x = np.random.default_rng(2).normal(size=(2, 10, 3)).astype(np.float32)  # (N, T, C)
    time, fourier = TimeDomain(tf.float32), FourierDomain(dtype=tf.float32)  # framework of the dtype
    z = time.forward_transform(tf.constant(x))
    assert isinstance(z, tf.Tensor) and tuple(z.shape) == (2, 3, 10)
    np.testing.assert_array_equal(time.inverse_transform(z).numpy(), x)
    zf = fourier.forward_transform(tf.constant(x))
    assert zf.dtype == tf.complex64
    np.testing.assert_allclose(zf.numpy(), np.fft.fft(x.transpose(0, 2, 1), axis=-1), rtol=1e-5, atol=1e-5)
    back = fourier.inverse_transform(zf)
    assert back.dtype == tf.float32 and tuple(back.shape) == x.shape
    np.testing.assert_allclose(back.numpy(), x, atol=1e-6)
    assert TimeDomain().dtype == torch.float32  # on its own, torch first: the reference's torch_ig


class Sinh(DomainBase):
    """A nonlinear domain written in TensorFlow: z = sinh(x), in the model's (N, T, C) layout."""

    def forward_transform(self, x):
        return tf.math.sinh(x)

    def inverse_transform(self, z):
        return tf.math.asinh(z)


def test_user_domain_in_tensorflow(data):
    model, x, x0 = data
    ig = CrossDomainIG(model, 24, TARGET, method="gausslegendre")
    ig.initialize_domain(Sinh)
    assert ig.domain.dtype == tf.float32
    out = ig.run(x, x0)
    assert isinstance(out, tf.Tensor) and tuple(out.shape) == x.shape
    np.testing.assert_allclose(out.numpy().sum(axis=(1, 2)), model_out(model, x) - model_out(model, x0), atol=1e-4)
    assert tuple(ig.run(x[:1], x0[:1]).shape) == x.shape[1:]
