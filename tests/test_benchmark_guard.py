"""Regression guard: a fast subset of benchmarks/suite.py, on the CPU with one thread.

It asserts ratios only, each far from its target (a timing ratio measured in the same interleaved
rounds; a step count; the agreement of two maps), so that a loaded machine cannot fail it and a real
regression does. No wall-clock time is asserted anywhere. docs/benchmarks.md describes the rows.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cdig.testing import requires_captum, requires_sklearn

pytestmark = [pytest.mark.slow, requires_captum, requires_sklearn]

torch = pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

# Wide margins: a timing ratio fails only when it is well past its target.
CAPTUM_LIMIT = 2.0  # target 1.05
OVERHEAD_LIMIT = 1.6  # target 1.10
GL_ADVANTAGE_MIN = 2.0  # target 4 (a step count: deterministic for a seed)


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("cdig_benchmark_suite", BENCH / "suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cfg(suite):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield suite.Config(quick=True, steps=(16,), repeats=3, threads={"threads": 1, "usable_cores": 1, "pinned_cores": None})
    finally:
        torch.set_num_threads(threads)


def _one(rows, prefix):
    (row,) = [r for r in rows if r.row.startswith(prefix)]
    return row


def test_time_ig_vs_captum_ratio(suite, cfg):
    row = _one(suite.captum_rows(cfg), "captum@16")
    assert row.details["map_rel_diff"] <= suite.TARGET_AGREE
    assert row.value <= CAPTUM_LIMIT, f"cdig / Captum = {row.value:.2f} (target {suite.TARGET_CAPTUM})"


def test_overhead_over_plain_forward_backward(suite, cfg):
    row = _one(suite.overhead_rows(cfg, ("torch",)), "overhead")
    assert row.value <= OVERHEAD_LIMIT, f"cdig / plain fwd+bwd = {row.value:.2f} (target {suite.TARGET_OVERHEAD})"


def test_gauss_legendre_needs_fewer_steps_than_right_riemann(suite, cfg):
    rows = suite.steps_rows(cfg, models=("attention",), full_grid=0)
    row = [r for r in rows if "right-Riemann steps / GL steps" in r.name][0]
    assert row.value is not None and row.value >= GL_ADVANTAGE_MIN, row.shown


def test_reference_package_maps_agree(suite, cfg):
    if not suite.reference_available():
        pytest.skip(suite.SKIP_REFERENCE)
    rows = suite.reference_rows(cfg)
    for r in rows[:-1]:
        assert r.details["map_rel_diff"] <= suite.TARGET_AGREE, (r.name, r.details["map_rel_diff"])


def test_fold_two_sided_inverts_cdig_compat(suite):
    from cdig.compat import fourier_two_sided

    for n in (6, 7):
        one = np.arange(n // 2 + 1, dtype=float) + 1
        np.testing.assert_allclose(suite.fold_two_sided(fourier_two_sided(one, n), n), one)


def test_dft_lrp_redistribution_is_the_lrp0_rule_and_conserves():
    sys.path.insert(0, str(BENCH))
    import dft_lrp

    gen = torch.Generator().manual_seed(0)
    for n in (32, 33):
        x = torch.randn(3, 2, n, generator=gen, dtype=torch.float64)
        r = x * torch.randn(3, 2, n, generator=gen, dtype=torch.float64)  # gradient x input
        fft_form = dft_lrp.redistribute(x, r)
        np.testing.assert_allclose(fft_form, dft_lrp.redistribute_matrix(x, r), rtol=1e-9, atol=1e-9)
        # LRP-0 keeps the total exactly; the stabiliser eps moves it by O(eps)
        np.testing.assert_allclose(dft_lrp.redistribute(x, r, eps=0.0).sum(-1), r.sum(-1), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(fft_form.sum(-1), r.sum(-1), rtol=1e-3)


def test_dft_lrp_and_cdig_beat_random_deletion(suite, cfg):
    rows = suite.dftlrp_rows(cfg)
    del_row = _one(rows, "dftlrp-del")
    norm, rand = del_row.details["normalised_auc"], del_row.details["random"]
    # a deterministic quality ratio: both maps delete the output faster than a random order
    assert norm["dft-lrp"] < rand and norm["cdig@16"] < rand, (norm, rand)
