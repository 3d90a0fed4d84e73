"""Hostile and careless API inputs (issue 13, item 8): each gets a cdig error (a CdigError that is
also a ValueError or TypeError) with a one-line message naming the argument, never a raw traceback
from numpy, a framework or Python itself. The cases of :mod:`tests.test_errors` are not repeated.

Exceptions the user's own code raises (a model or a callable target that raises) pass through
unchanged: they are the user's to read, with their own traceback.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.testing import requires_jax, requires_tensorflow

N, C, T = 4, 2, 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(C, 3, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * (T - 4), 3)
    ).eval()


@pytest.fixture(scope="module")
def x():
    return torch.randn(N, C, T, generator=torch.Generator().manual_seed(1))


def _plot(value):
    from cdig.plot import plot_attribution

    return plot_attribution(value)


def _summary(value):
    from cdig.plot import summary

    return summary(value)


# (id, keyword arguments to explain (values may be callables of (model, x)) or a callable (model, x),
#  exception class, regex on the message)
CASES = [
    # x: zero-size axes, non-numeric, unreadable tensors
    ("x-zero-channels", dict(x=lambda m, x: torch.randn(4, 0, 32)), cdig.CdigValueError, r"x has shape \(4, 0, 32\).*length 0"),
    (
        "x-zero-channels-fourier",
        dict(x=lambda m, x: np.zeros((4, 0, 32), np.float32), domains="fourier"),
        cdig.CdigValueError,
        r"x has shape \(4, 0, 32\)",
    ),
    ("x-zero-time", dict(x=lambda m, x: torch.randn(4, 2, 0)), cdig.CdigValueError, r"time axis.*0 sample"),
    ("x-zero-time-2d", dict(x=lambda m, x: np.zeros((4, 0))), cdig.CdigValueError, r"time axis.*0 sample"),
    ("x-zero-batch-numpy", dict(x=lambda m, x: np.zeros((0, 2, 32))), cdig.CdigValueError, r"x is an empty batch"),
    ("x-string", dict(x=lambda m, x: "signal.npy"), cdig.CdigTypeError, r"x must be an array.*str"),
    ("x-none", dict(x=lambda m, x: None), cdig.CdigTypeError, r"x must be an array.*NoneType"),
    ("x-dict", dict(x=lambda m, x: {"x": x}), cdig.CdigTypeError, r"x must be an array.*dict"),
    ("x-object-array", dict(x=lambda m, x: np.full((N, C, T), None)), cdig.CdigTypeError, r"x has dtype object"),
    ("x-string-array", dict(x=lambda m, x: np.full((N, C, T), "a")), cdig.CdigTypeError, r"x has dtype <U1"),
    ("x-ragged-list", dict(x=lambda m, x: [[0.0] * 32, [0.0] * 31]), cdig.CdigTypeError, r"x is a ragged list"),
    ("x-list-of-strings", dict(x=lambda m, x: [["a"] * 32] * 4), cdig.CdigTypeError, r"x must be numbers.*<U1"),
    (
        "x-meta-tensor",
        dict(x=lambda m, x: torch.empty(N, C, T, device="meta")),
        cdig.CdigTypeError,
        r"x \(torch Tensor\) cannot be read as a dense array.*meta",
    ),
    ("x-sparse-tensor", dict(x=lambda m, x: x.to_sparse()), cdig.CdigTypeError, r"x \(torch Tensor\) cannot be read.*Sparse"),
    ("x-nan-numpy", dict(x=lambda m, x: np.full((N, C, T), np.nan, np.float32)), cdig.CdigValueError, r"x contains 256 NaN/Inf"),
    ("x-overflow-float16", dict(x=lambda m, x: (x * 1e5).half()), cdig.CdigValueError, r"x contains .* NaN/Inf"),
    ("x-complex-list", dict(x=lambda m, x: (x.numpy() + 1j).tolist()), cdig.CdigTypeError, r"x is complex"),
    # baselines
    ("baseline-ragged-list", dict(baselines=[[0.0], [0.0, 1.0]]), cdig.CdigTypeError, r"baselines is a ragged list"),
    ("baseline-object", dict(baselines=np.array([None] * T, dtype=object)), cdig.CdigTypeError, r"baselines must be numeric"),
    ("baseline-nan-scalar", dict(baselines=float("nan")), cdig.CdigValueError, r"baselines contains NaN/Inf"),
    ("baseline-wrong-channels", dict(baselines=np.zeros((N, 3, T))), cdig.CdigValueError, r"baselines has shape \(4, 3, 32\)"),
    # target
    ("target-huge", dict(target=10**30), cdig.CdigValueError, r"target 1000000000000000000000000000000 is out of range"),
    ("target-numpy-float", dict(target=np.float64(1.0)), cdig.CdigTypeError, r"target must be.*float64"),
    ("target-empty-tuple", dict(target=()), cdig.CdigTypeError, r"target must be.*tuple: \(\)"),
    ("target-dict", dict(target={"class": 1}), cdig.CdigTypeError, r"target must be.*dict"),
    # one index tuple per sample (an (N, k) int array), into an output with one axis
    ("target-matrix", dict(target=[[0, 1]] * N), cdig.CdigValueError, r"target \(0, 1\) has 2 indices but the model output"),
    ("target-callable-none", dict(target=lambda out: None), cdig.CdigModelError, r"callable target returned shape \(\)"),
    # the model and its extra arguments
    ("model-class", dict(model=lambda m, x: torch.nn.Linear), cdig.CdigTypeError, r"model is the class Linear, not a model"),
    ("model-path", dict(model=lambda m, x: "model.pt"), cdig.CdigTypeError, r"model must be callable.*'model\.pt'"),
    ("model-no-arguments", dict(model=lambda m, x: lambda: 0), cdig.CdigTypeError, r"model\(x, \*args, \*\*keywords\)"),
    (
        "model-returns-none",
        dict(model=lambda m, x: lambda v: None),
        cdig.CdigModelError,
        r"model returned builtins NoneType, not a",
    ),
    ("model-returns-scalar", dict(model=lambda m, x: lambda v: m(v).sum()), cdig.CdigModelError, r"model returned shape \(\)"),
    (
        "model-returns-tuple-of-nothing",
        dict(model=lambda m, x: lambda v: (None, "loss")),
        cdig.CdigModelError,
        r"returned tuple\(0: NoneType, 1: str\), which holds no tensor.*output=",
    ),
    ("model-returns-nan", dict(model=lambda m, x: lambda v: m(v) * float("nan")), cdig.CdigModelError, r"NaN/Inf for sample"),
    ("model-returns-inf", dict(model=lambda m, x: lambda v: m(v) + float("inf")), cdig.CdigModelError, r"NaN/Inf for sample"),
    (
        "model-returns-numpy",
        dict(model=lambda m, x: lambda v: m(v).detach().numpy()),
        cdig.CdigModelError,
        r"returned numpy ndarray, not a tensor",
    ),
    (
        "additional-forward-args-extra",
        dict(additional_forward_args=lambda m, x: (1, 2, 3)),
        cdig.CdigTypeError,
        r"additional_forward_args of 3 positional argument\(s\).*Sequential\.forward",
    ),
    (
        "additional-forward-args-dict",
        dict(additional_forward_args=lambda m, x: {"mask": 1}),  # a dict is keywords
        cdig.CdigTypeError,
        r"additional_forward_args of keyword\(s\) mask.*unexpected keyword argument 'mask'",
    ),
    (
        "additional-forward-args-missing",
        dict(model=lambda m, x: lambda v, w: m(v) * w),
        cdig.CdigTypeError,
        r"without additional_forward_args.*missing a required argument: 'w'",
    ),
    # settings
    ("time_axis-huge", dict(time_axis=10**20), cdig.CdigValueError, r"time_axis=100000000000000000000 is not valid"),
    ("time_axis-string", dict(time_axis="time"), cdig.CdigTypeError, r"time_axis must be an int.*'time'"),
    ("ibs-bool", dict(internal_batch_size=True), cdig.CdigTypeError, r"internal_batch_size must be an int.*True"),
    ("memory_budget-negative", dict(internal_batch_size="auto", memory_budget=-5), cdig.CdigValueError, r"memory_budget=-5"),
    ("memory_budget-zero", dict(internal_batch_size="auto", memory_budget=0), cdig.CdigValueError, r"memory_budget=0"),
    ("memory_budget-nan", dict(internal_batch_size="auto", memory_budget=float("nan")), cdig.CdigTypeError, r"memory_budget"),
    ("memory_budget-words", dict(internal_batch_size="auto", memory_budget="lots"), cdig.CdigValueError, r"memory_budget='lots'"),
    ("memory_budget-without-auto", dict(memory_budget="1GB"), cdig.CdigValueError, r"memory_budget sizes internal_batch_size"),
    ("n_steps-bool", dict(n_steps=True), cdig.CdigTypeError, r"n_steps.*True"),
    ("rtol-nan", dict(n_steps="auto", rtol=float("nan")), cdig.CdigValueError, r"rtol=nan"),
    ("method-none", dict(method=None), cdig.CdigValueError, r"method=None is not accepted"),
    ("progress-string", dict(progress="yes"), cdig.CdigTypeError, r"progress must be True or False.*'yes'"),
    ("multiply_by_inputs-int", dict(multiply_by_inputs=1), cdig.CdigTypeError, r"multiply_by_inputs must be True or False"),
    ("fs-inf", dict(fs=float("inf")), cdig.CdigValueError, r"fs=inf"),
    ("fs-complex", dict(fs=1j), cdig.CdigValueError, r"fs=1j"),
    ("domains-none", dict(domains=None), cdig.CdigTypeError, r"domains must be.*None"),
    ("domains-path", dict(domains="../time"), cdig.CdigValueError, r"unknown domain '\.\./time'"),
    ("backend-int", dict(backend=3), cdig.CdigValueError, r"backend=3 is not known"),
    ("backend-capitalised", dict(backend="Torch"), cdig.CdigValueError, r"backend='Torch' is not known"),
    # plots take Attribution objects
    (
        "plot-ndarray",
        lambda m, x: _plot(np.zeros((N, T))),
        cdig.CdigTypeError,
        r"att must be a cdig\.Attribution.*array of shape",
    ),
    ("plot-dict", lambda m, x: _plot({"time": None}), cdig.CdigTypeError, r"att must be a cdig\.Attribution.*summary"),
    ("summary-ndarray", lambda m, x: _summary(np.zeros((N, T))), cdig.CdigTypeError, r"maps must be a dict of cdig\.Attribution"),
    (
        "summary-list-of-arrays",
        lambda m, x: _summary([np.zeros((N, T))]),
        cdig.CdigTypeError,
        r"maps\[0\] must be a cdig\.Attribution",
    ),
    (
        "summary-dict-of-arrays",
        lambda m, x: _summary({"time": np.zeros((N, T))}),
        cdig.CdigTypeError,
        r"maps\['time'\] must be a cdig\.Attribution",
    ),
    # the Captum-style class
    ("crossdomainig-string-input", lambda m, x: cdig.CrossDomainIG(m, "time").attribute("x"), cdig.CdigTypeError, r"x must be"),
    ("crossdomainig-domain-int", lambda m, x: cdig.CrossDomainIG(m, 3), cdig.CdigTypeError, r"domains must be"),
]


def _run(model, x, spec):
    if callable(spec):
        return spec(model, x)
    kw = {"model": model, "x": x, "domains": "time", "target": 0, "n_steps": 4}
    kw.update(
        {k: (v(model, x) if k in ("x", "model", "additional_forward_args") and callable(v) else v) for k, v in spec.items()}
    )
    return cdig.explain(kw.pop("model"), kw.pop("x"), **kw)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(model, x, case):
    _, spec, exc, pattern = case
    with pytest.raises(exc, match=pattern) as info:
        _run(model, x, spec)
    assert isinstance(info.value, cdig.CdigError)
    assert "\n" not in str(info.value)  # one line


# --- a model of one framework with backend= naming another -------------------------------------
def _torch_model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(T * C, 2))


def _keras_model():
    import keras

    return keras.Sequential([keras.Input((T, C)), keras.layers.Flatten(), keras.layers.Dense(2)])


def _tf_function():
    import tensorflow as tf

    return tf.function(lambda v: tf.reduce_sum(v, axis=[1, 2]))


def _jax_function():
    import jax
    import jax.numpy as jnp

    return jax.jit(lambda v: jnp.sum(v, axis=(1, 2)))


MISMATCHES = [
    ("torch", _torch_model, "tensorflow", []),
    ("torch", _torch_model, "jax", [requires_jax]),
    ("tensorflow", _keras_model, "torch", [requires_tensorflow]),
    ("tensorflow", _keras_model, "jax", [requires_tensorflow, requires_jax]),
    ("tensorflow", _tf_function, "torch", [requires_tensorflow]),
    ("tensorflow", _tf_function, "jax", [requires_tensorflow, requires_jax]),
    ("jax", _jax_function, "torch", [requires_jax]),
    ("jax", _jax_function, "tensorflow", [requires_jax, requires_tensorflow]),
]


@pytest.mark.parametrize(
    "owner, make, named",
    [pytest.param(o, m, n, marks=marks, id=f"{m.__name__.strip('_')}-as-{n}") for o, m, n, marks in MISMATCHES],
)
def test_backend_that_does_not_run_the_model(owner, make, named):
    if named == "tensorflow" or owner == "tensorflow":
        pytest.importorskip("tensorflow")
    model = make()
    xn = np.random.default_rng(0).normal(size=(2, T, C)).astype(np.float32)
    with pytest.raises(cdig.CdigTypeError, match=rf"backend='{named}' cannot run the model: .* is a {owner} model") as info:
        cdig.explain(model, xn, "time", target=None if owner != "torch" else 0, n_steps=4, backend=named, time_axis=1)
    assert "\n" not in str(info.value)


def test_user_exceptions_pass_through(model, x):
    """The user's own code raising is not wrapped: its traceback is the user's."""

    def broken(v):
        raise ZeroDivisionError("in the user's model")

    with pytest.raises(ZeroDivisionError, match="in the user's model"):
        cdig.explain(broken, x, "time", n_steps=4)
