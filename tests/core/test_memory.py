"""internal_batch_size="auto": chunk sizes from a memory budget and the measured cost of a path point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.core.memory import chunk_rows, parse_bytes


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
    with pytest.raises(cdig.CdigValueError, match="too small.*at least"):
        chunk_rows(1000, 600.0, 500.0, 10)


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
    assert a.settings["bytes_per_point"] == 64 * 64 * 4
    ref = cdig.explain(f, jnp.asarray(x), "time", n_steps=8)["time"]
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-5, atol=1e-7)
