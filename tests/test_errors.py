"""Bad inputs: each gets a cdig exception (a CdigError that is also a ValueError or TypeError) whose
message names the argument or the value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig

N, C, T = 4, 2, 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(C, 3, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * (T - 4), 3)
    ).eval()


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.randn(N, C, T)


def _with(x, index, value):
    y = x.clone()
    y[index] = value
    return y


def _fitted_ica(n_channels):
    from sklearn.decomposition import FastICA

    r = np.random.default_rng(0)
    return FastICA(whiten="unit-variance", random_state=0, max_iter=1000).fit(r.laplace(size=(400, n_channels)))


class _NoTransformICA:
    """Looks fitted, but its transform() is not (x - mean_) @ components_.T."""

    def __init__(self):
        ica = _fitted_ica(C)
        self.mixing_, self.mean_, self.components_ = ica.mixing_, ica.mean_, ica.components_

    def transform(self, v):
        return 3.0 * v


# (id, keyword arguments to explain or a callable (model, x) -> None, exception class, regex on the message)
CASES = [
    # x
    ("x-nan", dict(x=lambda x: _with(x, (0, 0, 3), float("nan"))), cdig.CdigValueError, r"x contains 1 NaN/Inf"),
    ("x-inf", dict(x=lambda x: _with(x, (1, 1, 0), float("-inf"))), cdig.CdigValueError, r"x contains 1 NaN/Inf"),
    ("x-int-torch", dict(x=lambda x: x.long()), cdig.CdigTypeError, r"x has integer.*int64"),
    ("x-int-numpy", dict(x=lambda x: np.ones((N, C, T), dtype=np.int32)), cdig.CdigTypeError, r"x has integer.*int32"),
    ("x-bool", dict(x=lambda x: x > 0), cdig.CdigTypeError, r"x has integer/boolean"),
    ("x-complex-torch", dict(x=lambda x: x.to(torch.complex64)), cdig.CdigTypeError, r"x is complex"),
    ("x-complex-numpy", dict(x=lambda x: x.numpy().astype(np.complex128)), cdig.CdigTypeError, r"x is complex"),
    ("x-empty", dict(x=lambda x: x[:0]), cdig.CdigValueError, r"x is an empty batch.*\(0, 2, 32\)"),
    ("x-1d", dict(x=lambda x: x[0, 0]), cdig.CdigValueError, r"x has shape \(32,\)"),
    ("x-4d", dict(x=lambda x: x[..., None]), cdig.CdigValueError, r"x has shape \(4, 2, 32, 1\)"),
    ("x-short-time", dict(x=lambda x: x[..., :1]), cdig.CdigValueError, r"time axis.*1 sample"),
    # baselines
    (
        "baseline-nan",
        dict(baselines=lambda x: _with(torch.zeros_like(x), (2, 0, 0), float("nan"))),
        cdig.CdigValueError,
        r"baselines contains NaN/Inf",
    ),
    ("baseline-inf", dict(baselines=np.full((1, C, 1), np.inf)), cdig.CdigValueError, r"baselines contains NaN/Inf"),
    (
        "baseline-shape",
        dict(baselines=np.zeros((3, C, T))),
        cdig.CdigValueError,
        r"baselines has shape \(3, 2, 32\).*\(4, 2, 32\)",
    ),
    ("baseline-shape-time", dict(baselines=np.zeros((C, T - 1))), cdig.CdigValueError, r"baselines has shape \(2, 31\)"),
    ("baseline-complex", dict(baselines=np.zeros((N, C, T), complex)), cdig.CdigTypeError, r"baselines is complex"),
    ("baseline-string", dict(baselines="zeros"), cdig.CdigTypeError, r"baselines must be numeric"),
    (
        "baseline-dict-unknown",
        dict(baselines={"fourier": 0.0}, domains="time"),
        cdig.CdigValueError,
        r"baselines names domain\(s\) \['fourier'\]",
    ),
    (
        "baseline-dict-shape",
        dict(baselines={"fourier": np.zeros((N, C, 5))}, domains="fourier"),
        cdig.CdigValueError,
        r"baselines\['fourier'\] has shape \(4, 2, 5\).*\(4, 2, 17\)",
    ),
    (
        "baseline-dict-nan",
        dict(baselines={"fourier": np.full((1, C, 17), np.nan)}, domains="fourier"),
        cdig.CdigValueError,
        r"baselines\['fourier'\] contains NaN/Inf",
    ),
    (
        "baseline-dict-complex-for-real",
        dict(baselines={"time": np.zeros((N, C, T), complex)}, domains="time"),
        cdig.CdigTypeError,
        r"baselines\['time'\] is complex",
    ),
    # target
    ("target-too-large", dict(target=3), cdig.CdigValueError, r"target 3 is out of range.*0\.\.2"),
    ("target-negative", dict(target=-1), cdig.CdigValueError, r"target -1 is out of range"),
    ("target-row-out-of-range", dict(target=[0, 1, 7, 0]), cdig.CdigValueError, r"target 7 is out of range"),
    ("target-float", dict(target=1.0), cdig.CdigTypeError, r"target must be.*float: 1\.0"),
    ("target-string", dict(target="cat"), cdig.CdigTypeError, r"target must be.*'cat'"),
    ("target-bool", dict(target=True), cdig.CdigTypeError, r"target must be.*bool"),
    ("target-float-list", dict(target=[0.0, 1.0, 1.0, 0.0]), cdig.CdigTypeError, r"target must be.*float64"),
    ("target-float-tensor", dict(target=torch.tensor([0.0, 1.0, 1.0, 0.0])), cdig.CdigTypeError, r"target must be.*float32"),
    ("target-wrong-length", dict(target=[0, 1]), cdig.CdigValueError, r"target has 2 entries.*4 samples"),
    ("target-tuple-too-many-axes", dict(target=(0, 1)), cdig.CdigValueError, r"target \(0, 1\) has 2 indices.*1 axes"),
    ("target-tuples-wrong-length", dict(target=[(0,), (1,)]), cdig.CdigValueError, r"target has 2 entries"),
    ("target-none-for-vector", dict(target=None), cdig.CdigValueError, r"target=None.*\(N, 3\)"),
    (
        "target-int-for-scalar-output",
        lambda m, x: cdig.explain(lambda v: m(v)[:, 0], x, "time", target=0),
        cdig.CdigValueError,
        r"target=0 indexes the output.*target=None",
    ),
    (
        "target-int-for-forecast",
        lambda m, x: cdig.explain(lambda v: m(v).reshape(N, 3, 1), x, "time", target=1),
        cdig.CdigValueError,
        r"target=1 is an int.*\(N, 3, 1\).*tuple",
    ),
    (
        "target-tuple-out-of-range",
        lambda m, x: cdig.explain(lambda v: m(v).reshape(N, 3, 1), x, "time", target=(0, 1)),
        cdig.CdigValueError,
        r"target \(0, 1\) is out of range on output axis 2",
    ),
    ("target-callable-shape", dict(target=lambda out: out), cdig.CdigModelError, r"callable target.*\(4, 3\)"),
    # steps and rules
    ("n_steps-zero", dict(n_steps=0), cdig.CdigValueError, r"n_steps=0"),
    ("n_steps-negative", dict(n_steps=-5), cdig.CdigValueError, r"n_steps=-5"),
    (
        "n_steps-riemann-1",
        dict(n_steps=1, method="riemann_trapezoid"),
        cdig.CdigValueError,
        r"n_steps=1.*riemann_trapezoid.*>= 2",
    ),
    ("n_steps-float", dict(n_steps=10.0), cdig.CdigTypeError, r"n_steps.*10\.0"),
    ("n_steps-string", dict(n_steps="many"), cdig.CdigValueError, r"n_steps='many'"),
    ("method-unknown", dict(method="simpson"), cdig.CdigValueError, r"method='simpson'.*gausslegendre"),
    ("rtol-zero", dict(n_steps="auto", rtol=0.0), cdig.CdigValueError, r"rtol=0\.0"),
    ("rtol-large", dict(n_steps="auto", rtol=2.0), cdig.CdigValueError, r"rtol=2\.0"),
    ("max_steps-small", dict(n_steps="auto", max_steps=3), cdig.CdigValueError, r"max_steps=3"),
    ("max_steps-float", dict(n_steps="auto", max_steps=100.0), cdig.CdigTypeError, r"max_steps.*100\.0"),
    # domains
    ("domain-unknown", dict(domains="shapelet"), cdig.CdigValueError, r"unknown domain 'shapelet'.*fourier"),
    ("domain-unknown-in-list", dict(domains=["time", "stft"]), cdig.CdigValueError, r"unknown domain 'stft'"),
    (
        "domain-duplicate",
        dict(domains=["time", "fourier", "time"]),
        cdig.CdigValueError,
        r"domain name\(s\) \['time'\] appear twice",
    ),
    ("domain-duplicate-objects", dict(domains=[cdig.Fourier(), "fourier"]), cdig.CdigValueError, r"\['fourier'\] appear twice"),
    ("domain-empty", dict(domains=[]), cdig.CdigValueError, r"domains is empty"),
    ("domain-wrong-type", dict(domains=[3]), cdig.CdigTypeError, r"domains entries.*int"),
    ("domain-not-iterable", dict(domains=3.5), cdig.CdigTypeError, r"domains must be.*3\.5"),
    # ICA objects
    (
        "ica-unfitted",
        dict(domains=lambda: cdig.ICA(__import__("sklearn.decomposition").decomposition.FastICA())),
        cdig.CdigValueError,
        r"not a fitted ICA.*mixing_",
    ),
    ("ica-channels", dict(domains=lambda: cdig.ICA(_fitted_ica(3))), cdig.CdigValueError, r"fitted on 3 channels.*input has 2"),
    ("ica-wrong-type", dict(domains=lambda: cdig.ICA("fastica")), cdig.CdigTypeError, r"ica must be.*str"),
    (
        "ica-per-sample-length",
        dict(domains=lambda: cdig.ICA([_fitted_ica(C)] * 3)),
        cdig.CdigValueError,
        r"sequence of 3 fitted objects.*4 samples",
    ),
    ("ica-foreign-transform", dict(domains=lambda: cdig.ICA(_NoTransformICA())), cdig.CdigValueError, r"transform\(\)"),
    # layout, fs, batching, backend
    ("time_axis-batch", dict(time_axis=0), cdig.CdigValueError, r"time_axis=0.*accepted are 1, 2"),
    ("time_axis-out", dict(time_axis=3), cdig.CdigValueError, r"time_axis=3"),
    ("time_axis-negative-out", dict(time_axis=-3), cdig.CdigValueError, r"time_axis=-3"),
    ("time_axis-float", dict(time_axis=2.0), cdig.CdigTypeError, r"time_axis must be an int.*2\.0"),
    ("time_axis-2d", dict(x=lambda x: x[:, 0], time_axis=2), cdig.CdigValueError, r"time_axis=2.*\(4, 32\)"),
    ("fs-zero", dict(fs=0), cdig.CdigValueError, r"fs=0"),
    ("fs-negative", dict(fs=-100.0), cdig.CdigValueError, r"fs=-100\.0"),
    ("fs-nan", dict(fs=float("nan")), cdig.CdigValueError, r"fs=nan"),
    ("fs-string", dict(fs="100"), cdig.CdigValueError, r"fs='100'"),
    ("fs-bool", dict(fs=True), cdig.CdigValueError, r"fs=True"),
    ("ibs-zero", dict(internal_batch_size=0), cdig.CdigValueError, r"internal_batch_size=0"),
    ("ibs-negative", dict(internal_batch_size=-2), cdig.CdigValueError, r"internal_batch_size=-2"),
    ("ibs-float", dict(internal_batch_size=8.0), cdig.CdigTypeError, r"internal_batch_size.*8\.0"),
    ("ibs-string", dict(internal_batch_size="8"), cdig.CdigTypeError, r"internal_batch_size.*'8'"),
    ("backend-unknown", dict(backend="mxnet"), cdig.CdigValueError, r"backend='mxnet'.*torch"),
    # models
    (
        "model-constant",
        lambda m, x: cdig.explain(lambda v: torch.ones(v.shape[0]), x, "time"),
        cdig.CdigModelError,
        r"does not depend on its input",
    ),
    (
        "model-constant-requires-grad",
        lambda m, x: cdig.explain(lambda v: torch.zeros(v.shape[0], requires_grad=True), x, "time"),
        cdig.CdigModelError,
        r"does not depend on its input",
    ),
    (
        "model-detaches",
        lambda m, x: cdig.explain(lambda v: m(v.detach()), x, "time", target=0),
        cdig.CdigModelError,
        r"does not depend on its input",
    ),
    (
        "model-casts-output-to-int",
        lambda m, x: cdig.explain(lambda v: m(v).long(), x, "time", target=0),
        cdig.CdigModelError,
        r"dtype int64.*must be floating",
    ),
    (
        "model-casts-input-to-int",
        lambda m, x: cdig.explain(lambda v: m(v.long().float()), x, "time", target=0),
        cdig.CdigModelError,
        r"does not depend on its input",
    ),
    (
        "model-wrong-batch",
        lambda m, x: cdig.explain(lambda v: m(v)[:1], x, "time", target=0),
        cdig.CdigModelError,
        r"shape \(1, 3\) for a batch of 4",
    ),
    ("model-not-callable", lambda m, x: cdig.explain(42, x, "time"), cdig.CdigTypeError, r"model must be callable"),
    ("crossdomainig-several-domains", lambda m, x: cdig.CrossDomainIG(m, ["time", "fourier"]), cdig.CdigTypeError, r"one domain"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(model, x, case):
    _, spec, exc, pattern = case
    with pytest.raises(exc, match=pattern) as info:
        if callable(spec):
            spec(model, x)
        else:
            kw = {"domains": "time", "target": 0, "n_steps": 4, **spec}
            # inputs built lazily (they need x, or fit an ICA): x and baselines take x, domains nothing
            xx = kw.pop("x", x)
            xx = xx(x) if callable(xx) else xx
            if callable(kw.get("baselines")):
                kw["baselines"] = kw["baselines"](x)
            if callable(kw["domains"]) and not isinstance(kw["domains"], cdig.Domain):
                kw["domains"] = kw["domains"]()
            cdig.explain(model, xx, kw.pop("domains"), **kw)
    err = info.value
    assert isinstance(err, cdig.CdigError)
    assert isinstance(err, (ValueError, TypeError))


def test_error_family():
    assert issubclass(cdig.CdigValueError, ValueError) and issubclass(cdig.CdigValueError, cdig.CdigError)
    assert issubclass(cdig.CdigTypeError, TypeError) and issubclass(cdig.CdigTypeError, cdig.CdigError)
    assert issubclass(cdig.CdigModelError, ValueError) and issubclass(cdig.CdigModelError, cdig.CdigError)
    assert issubclass(cdig.ConvergenceWarning, cdig.CdigWarning) and issubclass(cdig.CdigWarning, UserWarning)


def test_errors_are_raised_before_the_model_runs(model, x):
    calls = []

    def spy(v):
        calls.append(v.shape[0])
        return model(v)

    for kw in (
        dict(target=7),
        dict(n_steps=0),
        dict(method="simpson"),
        dict(internal_batch_size=0),
        dict(baselines=np.zeros((3, C, T))),
        dict(fs=-1.0),
    ):
        with pytest.raises(cdig.CdigError):
            cdig.explain(spy, x, "time", **{"target": 0, **kw})
    # the target's range needs the output's shape: one forward pass at most
    assert len(calls) <= 1


def test_fs_infinite(model, x):
    with pytest.raises(cdig.CdigValueError, match="fs=inf"):
        cdig.explain(model, x, ["time", "fourier"], target=0, n_steps=4, fs=float("inf"))


def test_ragged_target_tuples(model, x):
    with pytest.raises(cdig.CdigError, match="target"):
        cdig.explain(model, x, "time", target=[(0, 1), (1,), (0, 1), (1, 0)], n_steps=4)


def test_multiply_by_inputs_must_be_bool(model, x):
    with pytest.raises(cdig.CdigTypeError, match="multiply_by_inputs"):
        cdig.explain(model, x, "time", target=0, n_steps=4, multiply_by_inputs="no")


def test_nan_model_output_is_an_error(model, x):
    with pytest.raises(cdig.CdigModelError, match="NaN/Inf"):
        cdig.explain(lambda v: model(v) * float("nan"), x, "time", target=0, n_steps=4)


def test_nan_gradient_is_an_error(x):
    import torch

    # finite output, infinite derivative at 0 (sqrt), hit by the path from the zero baseline
    def model(v):
        return torch.sqrt(v.abs()).sum(dim=(1, 2))[:, None]

    with pytest.raises(cdig.CdigModelError, match="gradient is NaN/Inf"):
        cdig.explain(model, x, "time", target=0, n_steps=4, method="riemann_left")
