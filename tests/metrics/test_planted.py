"""The planted-truth tasks (the data, checked against their construction) and the benchmark's score."""

from __future__ import annotations

import numpy as np
import pytest

from cdig import CdigValueError
from cdig.datasets.planted import TASKS, make_task
from cdig.metrics.planted import TARGET_SCORE, run_planted


def test_frequency_task_puts_each_class_on_its_bin():
    t = make_task("frequency", n=40, noise=0.0, seed=3)
    spec = np.abs(np.fft.rfft(t.X[:, 0].astype(np.float64), axis=-1))
    np.testing.assert_array_equal(np.argmax(spec, axis=1), np.asarray(t.truth["bins"])[t.y])


def test_phase_task_classes_differ_only_in_phase():
    t = make_task("phase", n=40, noise=0.0, seed=0)
    z = np.fft.rfft(t.X[:, 0].astype(np.float64), axis=-1)
    k = t.truth["bin"]
    mag = np.abs(z)
    assert np.all(np.argmax(mag, axis=1) == k)
    # the same magnitude spectrum shape in both classes; the sign of the bin decides the class
    np.testing.assert_array_equal(np.sign(z[:, k].real) > 0, t.y == 1)
    shifted = np.fft.rfft(np.roll(t.X[:, 0].astype(np.float64), t.truth["baseline_shift"], axis=-1), axis=-1)
    np.testing.assert_allclose(np.abs(shifted), mag, atol=1e-4)  # the baseline: same magnitudes
    np.testing.assert_allclose(shifted[:, k], -z[:, k], atol=1e-4)  # ... and the other class's phase


def test_season_and_source_tasks():
    s = make_task("season", n=20, noise=0.0, seed=0)
    # detrended (second difference kills a line), class 0 is exactly zero, class 1 is periodic
    d2 = np.diff(s.X[:, 0].astype(np.float64), n=2, axis=-1)
    assert np.abs(d2[s.y == 0]).max() < 1e-5 and np.abs(d2[s.y == 1]).max() > 0.1
    np.testing.assert_allclose(d2[s.y == 1][:, 12:], d2[s.y == 1][:, :-12], atol=1e-5)
    src = make_task("source", n=20, noise=0.5, seed=0)
    mixed = np.einsum("cs,nst->nct", src.extras["mixing"], src.extras["sources"].astype(np.float64))
    np.testing.assert_allclose(src.X, mixed, rtol=1e-5, atol=1e-5)


def test_tasks_are_reproducible_and_validate_arguments():
    for name in TASKS:
        a, b = make_task(name, n=16, seed=5), make_task(name, n=16, seed=5)
        np.testing.assert_array_equal(a.X, b.X)
        assert not np.array_equal(a.X, make_task(name, n=16, seed=6).X)
    with pytest.raises(CdigValueError, match="unknown planted task"):
        make_task("amplitude")
    with pytest.raises(CdigValueError, match="at least 8"):
        make_task("phase", n=4)
    with pytest.raises(CdigValueError, match="noise"):
        make_task("phase", noise="loud")
    with pytest.raises(CdigValueError, match="unknown planted task"):
        run_planted(["phase", "x"])


def test_cdig_finds_the_planted_coefficient_in_every_clean_task():
    rows = run_planted(noise="clean")
    assert [r["task"] for r in rows] == list(TASKS)
    for r in rows:
        assert r["accuracy"] >= 0.95, r
        assert r["score"] >= TARGET_SCORE, r
        assert r["score"] > 2 * r["chance"], r
        assert r["max_relative_delta"] < 1e-3, r
