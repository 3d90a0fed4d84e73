"""internal_batch_size="auto": chunk sizes from a memory budget and the measured cost of a path point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig import engine
from cdig.core import path as core_path
from cdig.core.checks import MAX_GAUSS_STEPS, MAX_STEPS, check_steps
from cdig.core.memory import (
    ADAPTIVE_COPIES,
    DOMAIN_COPIES,
    SAMPLE_COPIES,
    STORE_SHARE,
    adaptive_store_bytes,
    allocated_bytes,
    chunk_rows,
    fixed_bytes,
    minimum_budget,
    parse_bytes,
)

MIB = 2**20


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(2, 32, 9, padding=4),
        torch.nn.Tanh(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 2),
    ).eval()


@pytest.mark.parametrize(
    "text, value",
    [("512MiB", 512 * 2**20), ("2 GB", 2 * 10**9), ("1.5GiB", int(1.5 * 2**30)), ("100", 100), (4096, 4096), ("3kib", 3072)],
)
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize(
    "bad, err",
    [
        ("lots", cdig.CdigValueError),
        ("5 parsecs", cdig.CdigValueError),
        (0, cdig.CdigValueError),
        (-3, cdig.CdigValueError),
        (True, cdig.CdigTypeError),
        ([1], cdig.CdigTypeError),
    ],
)
def test_parse_bytes_refuses(bad, err):
    with pytest.raises(err, match="memory_budget"):
        parse_bytes(bad)


def test_chunk_rows_too_small_says_what_is_needed():
    with pytest.raises(cdig.CdigValueError, match=r"memory_budget=1000 B is too small.*memory_budget >= 1.07 KiB"):
        chunk_rows(1000, 600.0, 500.0, 10)
    # the chunk's own constant (workspaces) is paid before the points
    assert chunk_rows(10_000, 100.0, 2_000, 1_000, chunk_fixed=3_000) == 50
    with pytest.raises(cdig.CdigValueError, match=r">= 9.77 KiB"):
        chunk_rows(9_000, 1_000.0, 2_000, 1_000, chunk_fixed=7_000)


def test_fixed_bytes_counts_samples_domains_and_the_adaptive_store():
    row = 4096 * 4
    assert fixed_bytes(3, row, 2, False) == 3 * row * (SAMPLE_COPIES + 2 * DOMAIN_COPIES)
    assert fixed_bytes(3, row, 2, True, store=12345) == 3 * row * (SAMPLE_COPIES + 2 * DOMAIN_COPIES + ADAPTIVE_COPIES) + 12345
    assert fixed_bytes(3, row, 2, False, store=12345) == fixed_bytes(3, row, 2, False)  # a fixed rule keeps no store
    assert adaptive_store_bytes(64 * MIB, core_path.STORE_BYTES) == int(64 * MIB * STORE_SHARE)
    assert adaptive_store_bytes(2**34, core_path.STORE_BYTES) == core_path.STORE_BYTES
    assert minimum_budget(1, row, 1, False) == fixed_bytes(1, row, 1, False) + 3 * row


def test_allocated_bytes_sees_an_allocation():
    before = allocated_bytes()
    if before is None:
        pytest.skip("the C library does not report its allocations (not glibc)")
    block = np.ones(8 * MIB // 8)
    assert allocated_bytes() - before >= 8 * MIB - 4096
    del block


class _Counting(torch.nn.Module):
    """Counts forward passes with and without gradients, and the rows of each."""

    def __init__(self, net):
        super().__init__()
        self.net, self.grad_rows, self.nograd_rows = net, [], []

    def forward(self, x):
        (self.grad_rows if torch.is_grad_enabled() else self.nograd_rows).append(x.shape[0])
        return self.net(x)


def test_a_budget_too_small_for_the_samples_is_refused_before_the_model_runs():
    model, x = _Counting(_net()), torch.randn(2, 2, 2**16)
    row = 2 * 2**16 * 4
    need = minimum_budget(2, row, 2, False)
    msg = r"memory_budget=8 MiB is too small for 2 sample\(s\) of 512 KiB.*memory_budget >= "
    with pytest.raises(cdig.CdigValueError, match=msg):
        cdig.explain(model, x, ("time", "fourier"), target=0, n_steps=8, internal_batch_size="auto", memory_budget="8MiB")
    assert model.grad_rows == [] and model.nograd_rows == []  # nothing ran
    # with the domains counted: the two-domain minimum is refused after calibration, before any path point
    budget = need - 1
    with pytest.raises(cdig.CdigValueError, match=r"memory_budget >= "):
        cdig.explain(model, x, ("time", "fourier"), target=0, n_steps=8, internal_batch_size="auto", memory_budget=budget)
    assert model.grad_rows == []


def test_the_probe_refuses_a_point_that_cannot_fit_without_running_it():
    torch.manual_seed(0)
    wide = torch.nn.Sequential(
        torch.nn.Conv1d(1, 64, 9, padding=4), torch.nn.Tanh(), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten()
    ).eval()
    model, x = _Counting(wide), torch.randn(1, 1, 2**16)
    row = 2**16 * 4
    # room for the samples and a few input rows, far from the 64 activations of 256 KiB a point keeps
    budget = minimum_budget(1, row, 1, False) + 8 * row
    with pytest.raises(cdig.CdigValueError, match=r"one path point needs about .* \(measured\).*memory_budget >= "):
        cdig.explain(model, x, "time", target=0, n_steps=8, internal_batch_size="auto", memory_budget=budget)
    # the forward-only probe ran one point; no backward pass, no probe of two points
    assert model.grad_rows == [1]


def test_planned_chunk_and_store_fit_the_budget(monkeypatch):
    seen = {}
    real = engine.integrate_adaptive

    def spy(*args, **kw):
        seen["store_bytes"], seen["batch_rows"] = kw["store_bytes"], args[7]
        return real(*args, **kw)

    monkeypatch.setattr(engine, "integrate_adaptive", spy)
    model, x = _net(), torch.randn(4, 2, 1024)
    for n_steps in (16, "auto"):
        budget = 16 * MIB
        maps = cdig.explain(
            model, x, ("time", "fourier"), target=1, n_steps=n_steps, internal_batch_size="auto", memory_budget=budget
        )
        st = maps["time"].settings
        planned = st["bytes_fixed"] + st["bytes_per_chunk"] + st["internal_batch_size_used"] * st["bytes_per_point"]
        assert planned <= budget
        row = 2 * 1024 * 4
        assert st["bytes_fixed"] == fixed_bytes(4, row, 2, n_steps == "auto", st.get("adaptive_store_bytes", 0))
        # a point costs at least what autograd keeps of it: the Tanh output (32 x 1024 float32)
        assert st["bytes_per_point"] >= 32 * 1024 * 4
    assert seen["store_bytes"] == st["adaptive_store_bytes"] == int(budget * STORE_SHARE)
    assert seen["batch_rows"] == st["internal_batch_size_used"]


def test_calibration_forward_passes_are_bounded_by_the_budget(monkeypatch):
    monkeypatch.setattr(engine, "CALIBRATE_FACTOR", 2**12)
    model, x = _Counting(_net()), torch.randn(64, 2, 256)
    budget = 64 * MIB
    cdig.explain(model, x, "time", target=0, n_steps=4, internal_batch_size="auto", memory_budget=budget)
    most = budget // (2**12 * 2 * 256 * 4)
    assert most < 64 and model.nograd_rows and max(model.nograd_rows) <= most
    model.nograd_rows.clear()
    cdig.explain(model, x, "time", target=0, n_steps=4)  # without a budget: one pass
    assert model.nograd_rows[0] == 64


@pytest.mark.parametrize(
    "n_steps, method, max_steps, match",
    [
        (10**9, "riemann_middle", 4096, r"n_steps=1000000000 is too large for method='riemann_middle': accepted are up to"),
        (MAX_STEPS + 1, "riemann_trapezoid", 4096, r"n_steps=100001 is too large"),
        (MAX_GAUSS_STEPS + 1, "gausslegendre", 4096, r"n_steps=10001 is too large.*Gauss-Legendre nodes take O\(n\^2\)"),
        ("auto", "gausslegendre", 10**6, r"max_steps=1000000 is too large: accepted are 15 to 100_000"),
    ],
)
def test_step_counts_have_an_upper_bound(n_steps, method, max_steps, match):
    with pytest.raises(cdig.CdigValueError, match=match):
        check_steps(n_steps, method, 1e-3, max_steps)
    with pytest.raises(cdig.CdigValueError, match=match):  # before any allocation: a MemoryError was the old answer
        cdig.explain(_net(), torch.randn(1, 2, 16), "time", target=0, n_steps=n_steps, method=method, max_steps=max_steps)


def test_step_counts_at_the_bound_are_accepted():
    check_steps(MAX_STEPS, "riemann_middle", 1e-3, 4096)
    check_steps(MAX_GAUSS_STEPS, "gausslegendre", 1e-3, 4096)
    check_steps("auto", "gausslegendre", 1e-3, MAX_STEPS)


def test_auto_chunks_grow_with_the_budget_and_change_nothing_else():
    model, x = _net(), torch.randn(6, 2, 512)
    ref = cdig.explain(model, x, ("time", "fourier"), target=1, n_steps=16, internal_batch_size=7)
    used = []
    for budget in ("2MiB", "8MiB", "64MiB"):
        maps = cdig.explain(model, x, ("time", "fourier"), target=1, n_steps=16, internal_batch_size="auto", memory_budget=budget)
        st = maps["time"].settings
        assert st["internal_batch_size"] == "auto" and st["memory_budget"] == parse_bytes(budget)
        assert st["bytes_per_point_measured"] is True
        # one point keeps at least the Tanh output (32 x 512 float32) for the backward pass
        assert st["bytes_per_point"] >= 32 * 512 * 4
        # what was chosen fits: points x cost + accumulators <= budget
        assert st["internal_batch_size_used"] * st["bytes_per_point"] <= st["memory_budget"]
        used.append(st["internal_batch_size_used"])
        for k in maps:
            np.testing.assert_allclose(maps[k].values, ref[k].values, rtol=1e-5, atol=1e-7)
    assert used[0] < used[1] <= used[2] and used[2] == 6 * 16  # capped at every point at once


def test_auto_without_budget_uses_free_memory_and_settings_say_so():
    model, x = _net(), torch.randn(3, 2, 256)
    a = cdig.explain(model, x, "time", target=0, n_steps=8, internal_batch_size="auto")["time"]
    assert a.settings["internal_batch_size_used"] == 24 and a.settings["memory_budget"] > 0
    fixed = cdig.explain(model, x, "time", target=0, n_steps=8)["time"]
    assert fixed.settings["internal_batch_size_used"] >= 1 and "memory_budget" not in fixed.settings
    ig = cdig.CrossDomainIG(model, "fourier")
    ig.attribute(x, target=0, n_steps=8, internal_batch_size="auto", memory_budget="4MiB")
    assert ig.attribution_.settings["memory_budget"] == 4 * 2**20


def test_auto_errors():
    model, x = _net(), torch.randn(3, 2, 256)
    with pytest.raises(cdig.CdigValueError, match="too small"):
        cdig.explain(model, x, "time", target=0, internal_batch_size="auto", memory_budget="1KiB")
    with pytest.raises(cdig.CdigValueError, match="pass internal_batch_size='auto'"):
        cdig.explain(model, x, "time", target=0, internal_batch_size=4, memory_budget="1GiB")
    with pytest.raises(cdig.CdigTypeError, match="'auto' or None"):
        cdig.explain(model, x, "time", target=0, internal_batch_size="big")


def test_backends_that_cannot_measure_use_the_heuristic():
    jnp = pytest.importorskip("jax.numpy")
    w = jnp.asarray(np.random.default_rng(0).normal(size=(64,)).astype("float32"))

    def f(xx):
        return jnp.tanh(xx.reshape(len(xx), -1) @ w)[:, None]

    x = np.random.default_rng(1).normal(size=(3, 32, 2)).astype("float32")
    a = cdig.explain(f, jnp.asarray(x), "time", n_steps=8, internal_batch_size="auto", memory_budget="1MiB")["time"]
    assert a.settings["bytes_per_point_measured"] is False
    # the heuristic's 64 input rows, and the weighted gradients of the integration (one row)
    assert a.settings["bytes_per_point"] == 64 * 64 * 4 + 64 * 4
    ref = cdig.explain(f, jnp.asarray(x), "time", n_steps=8)["time"]
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-5, atol=1e-7)
