"""Certified maps: ``n_steps="auto"`` bounds the error of the map itself, and floors are relative to the change.

References are independent of cdig's adaptive rule: a closed form (a sum of shifted ReLUs has an
exact integrated gradient) and a fine midpoint rule whose own accuracy is checked against a rule
with a quarter of its points.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cdig  # noqa: E402
from cdig.metrics import completeness  # noqa: E402

nn = torch.nn


class ShiftedRelus(nn.Module):
    """``f(x) = Σ_k w_k relu(x_k − c_k)``: the path gradient of coordinate k is a step at ``α = c_k / x_k``."""

    def __init__(self, w: torch.Tensor, c: torch.Tensor) -> None:
        super().__init__()
        self.w, self.c = nn.Parameter(w), nn.Parameter(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * torch.relu(x - self.c)).flatten(1).sum(dim=1, keepdim=True)


def _shifted_relus(T: int = 96, n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = 0.5 + torch.rand(n, 1, T, generator=g, dtype=torch.float64)  # x_k in [0.5, 1.5]
    c = 0.9 * torch.rand(1, 1, T, generator=g, dtype=torch.float64) * x.min(0).values  # 0 < c_k < x_k
    w = torch.randn(1, 1, T, generator=g, dtype=torch.float64)  # signs cancel in the sum
    model = ShiftedRelus(w, c).eval()
    exact = (w * (x - c)).numpy()  # IG from the zero baseline: w_k (x_k − c_k), no quadrature
    return model, x, exact


def _rel(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    a, ref = a.reshape(len(a), -1), ref.reshape(len(ref), -1)
    return np.linalg.norm(a - ref, axis=1) / np.linalg.norm(ref, axis=1)


def _auto(model, x, domains=("time",), **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        return cdig.explain(model, x, domains, n_steps="auto", **kw)


# --- the map, not only its sum --------------------------------------------------------------
@pytest.mark.parametrize("rtol", [1e-2, 1e-3])
def test_auto_certifies_the_map_against_a_closed_form(rtol):
    model, x, exact = _shifted_relus()
    a = _auto(model, x, rtol=rtol, max_steps=20000)["time"]
    true = _rel(a.values, exact[:, 0])
    est = a.error_estimate["relative"]
    assert np.all(true <= 3 * rtol), (true, a.n_steps)
    assert np.all(true <= 2 * est), (true, est)  # the estimate is honest on a piecewise-constant integrand
    assert np.all(est <= rtol)  # and it is what stopped the rule
    assert np.all(a.relative_delta <= rtol)


class MirroredRelus(nn.Module):
    """``f(x) = v·x + Σ_k w_k [relu(x_k − c_k) − relu(x'_k − c_k)]`` on an input holding ``x`` twice.

    Along the straight path from zero each step of the first half is cancelled by its mirror in the
    second: ``h(α) = d f/dα = v·x`` is constant, so every rule meets completeness exactly, while the
    map is piecewise constant in each coordinate and a coarse rule gets it wrong.
    """

    def __init__(self, v: torch.Tensor, w: torch.Tensor, c: torch.Tensor) -> None:
        super().__init__()
        self.v, self.w, self.c = v, w, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
        steps = self.w * (torch.relu(a - self.c) - torch.relu(b - self.c))
        return ((self.v * x).flatten(1).sum(1) + steps.flatten(1).sum(1))[:, None]


def test_completeness_is_blind_to_map_errors_and_auto_is_not():
    g = torch.Generator().manual_seed(3)
    half = 48
    xh = 0.5 + torch.rand(3, 1, half, generator=g, dtype=torch.float64)
    x = torch.cat([xh, xh], dim=-1)
    c = 0.9 * torch.rand(1, 1, half, generator=g, dtype=torch.float64) * xh.min(0).values
    w = torch.randn(1, 1, half, generator=g, dtype=torch.float64)
    v = 0.1 * torch.randn(1, 1, 2 * half, generator=g, dtype=torch.float64)
    model = MirroredRelus(v, w, c).eval()
    exact = (v * x).numpy()
    exact[..., :half] += (w * (xh - c)).numpy()
    exact[..., half:] -= (w * (xh - c)).numpy()
    fixed = cdig.explain(model, x, "time", n_steps=15)["time"]
    assert fixed.relative_delta.max() < 1e-12  # the sum is right to round-off...
    assert _rel(fixed.values, exact).max() > 1e-2  # ...and the map is not
    a = _auto(model, x, rtol=1e-3, max_steps=20000)["time"]
    true = _rel(a.values, exact)
    assert np.all(true <= 3e-3) and np.all(true <= 2 * a.error_estimate["relative"]), (true, a.n_steps)
    assert np.all(a.n_steps > 15)


def _relu_cnn():
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv1d(2, 8, 7, padding=3),
            nn.ReLU(),
            nn.Conv1d(8, 8, 7, padding=3),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(4),
            nn.Flatten(),
            nn.Linear(32, 1),
        )
        .double()
        .eval()
    )


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.AvgPool1d(4))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        t = self.conv(x).transpose(1, 2)
        return self.head((t + self.attn(t, t, t, need_weights=False)[0]).mean(1))


def _planted_cnn():
    from cdig.datasets.planted import make_task

    task = make_task("frequency", n=8, seed=0)
    torch.manual_seed(2)
    c = task.X.shape[1]
    model = (
        nn.Sequential(
            nn.Conv1d(c, 8, 9, padding=4), nn.ReLU(), nn.AdaptiveAvgPool1d(8), nn.Flatten(), nn.Linear(64, len(task.classes))
        )
        .double()
        .eval()
    )
    return model, torch.as_tensor(task.X[:4, :, :128], dtype=torch.float64), torch.as_tensor(task.y[:4])


def _family(name):
    g = torch.Generator().manual_seed(5)
    if name == "relu-cnn":
        return _relu_cnn(), torch.randn(4, 2, 64, generator=g, dtype=torch.float64), None
    if name == "attention":
        return _Attention().double().eval(), torch.randn(4, 1, 64, generator=g, dtype=torch.float64), None
    return _planted_cnn()


@pytest.mark.parametrize("family", ["relu-cnn", "attention", "planted"])
def test_estimate_is_honest_against_a_fine_reference(family):
    model, x, target = _family(family)
    domains = ("time", "fourier")
    kw = dict(target=target, internal_batch_size=4096)
    ref = cdig.explain(model, x, domains, n_steps=2**13, method="riemann_middle", **kw)
    coarse = cdig.explain(model, x, domains, n_steps=2**11, method="riemann_middle", **kw)
    ref_err = 0.0
    for d in domains:  # the reference is itself far more accurate than the tolerance checked
        ref_err = max(ref_err, _rel(coarse[d].values, ref[d].values).max())  # ~4x the reference's own error
    assert ref_err < 5e-4
    rtol = 1e-2
    a = _auto(model, x, domains, rtol=rtol, **kw)
    for d in domains:
        true = _rel(a[d].values, ref[d].values)
        est = a[d].error_estimate["relative"]
        assert np.all(true <= 2 * est + ref_err), (d, true, est)
        assert np.all(true <= 3 * rtol), (d, true)


def test_error_estimate_only_with_auto_and_saved(tmp_path):
    model, x, _ = _shifted_relus(T=32, n=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        fixed = cdig.explain(model, x, "fourier", n_steps=16)["fourier"]
    assert fixed.error_estimate is None
    a = _auto(model, x, ("fourier",), rtol=1e-2)["fourier"]
    assert set(a.error_estimate) == {"relative", "absolute"}
    norm = np.linalg.norm(a.values.reshape(2, -1), axis=1)
    np.testing.assert_allclose(a.error_estimate["absolute"], a.error_estimate["relative"] * norm, rtol=1e-12)
    back = cdig.Attribution.load(a.save(tmp_path / "a.npz"))
    for k in ("relative", "absolute"):
        np.testing.assert_array_equal(back.error_estimate[k], a.error_estimate[k])


def test_budget_warning_names_the_map_error_reached():
    model, x, _ = _shifted_relus()
    with pytest.warns(cdig.ConvergenceWarning, match="estimated relative map error"):
        cdig.explain(model, x, "time", n_steps="auto", rtol=1e-6, max_steps=200)


# --- floors relative to the change, in the model's precision --------------------------------
class Offset(nn.Module):
    def __init__(self, model: nn.Module, c: float) -> None:
        super().__init__()
        self.model, self.c = model, c

    def forward(self, x):
        return self.model(x) + self.c


def _tanh_net():
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv1d(1, 4, 5), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 60, 1)).double().eval()


@pytest.mark.parametrize("offset", [1e3, 1e6])
def test_a_constant_offset_changes_nothing(offset):
    x = torch.randn(3, 1, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    base, shifted = _tanh_net(), Offset(_tanh_net(), offset)
    a0 = _auto(base, x, ("time", "fourier"), rtol=1e-6)
    a1 = _auto(shifted, x, ("time", "fourier"), rtol=1e-6)
    for d in ("time", "fourier"):
        np.testing.assert_array_equal(a1[d].n_steps, a0[d].n_steps)
        np.testing.assert_allclose(a1[d].values, a0[d].values, rtol=0, atol=1e-9 * np.abs(a0[d].values).max())
        assert a1[d].relative_delta.max() <= 1e-6 + 1e-9
    # the fixed rule's warning is raised (or not) alike, and the completeness metric judges alike
    for model in (base, shifted):
        with pytest.warns(cdig.ConvergenceWarning, match="completeness is off"):
            m = cdig.explain(model, x, "time", n_steps=2, method="riemann_left")
        row = completeness(m, rtol=1e-3)[0]
        assert row["passed"] == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error", cdig.ConvergenceWarning)
            ok = cdig.explain(model, x, "time", n_steps=64)
        assert completeness(ok, rtol=1e-6)[0]["passed"] == 3


def test_float32_offset_says_the_outputs_cannot_resolve_the_tolerance():
    torch.manual_seed(4)
    model = Offset(nn.Sequential(nn.Conv1d(1, 4, 5), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 60, 1)).eval(), 1e6)
    x = torch.randn(2, 1, 64, generator=torch.Generator().manual_seed(0))
    with pytest.warns(cdig.ConvergenceWarning, match="only known to about"):
        cdig.explain(model, x, "time", n_steps="auto", rtol=1e-4, max_steps=300)


def test_float64_model_floor_uses_float64_eps():
    """A float64 model's completeness error of 1e-9 is not round-off (float32's floor would call it so)."""
    x = torch.randn(3, 1, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = cdig.explain(Offset(_tanh_net(), 1e3), x, "time", n_steps=64)["time"]
    assert m.settings["dtype"] == "float64"
    change = np.abs(m.output - m.baseline_output)
    m.delta = 1e-6 * change  # far above float64 round-off, far below float32's floor at |f| = 1e3
    assert completeness(m, rtol=1e-9)[0]["passed"] == 0
