"""Synthetic tasks with a planted truth, one per kind of domain (numpy only; no model here).

Each task makes a labelled data set whose class is decided by one thing a particular domain can
name — a frequency, an independent source, a seasonal pattern, a phase — and records where that
thing is, so a benchmark (:mod:`cdig.metrics.planted`) can check whether an explanation's top
coefficient lands on it.

==============  ==============================  ===============================================
task            the class is decided by          the planted coefficient
==============  ==============================  ===============================================
``frequency``   which of 4 tones is present     the tone's rFFT bin (``Fourier``)
``source``      an 8–12 Hz burst of one of 3    the ICA component of that source (``ICA``)
                mixed sources
``season``      whether a period-12 pattern     the ``seasonal`` component (``TrendSeason(12)``)
                rides on a random trend
``phase``       the sign (phase 0 or π) of a    the phase of the tone's bin (``MagnitudePhase``)
                tone; magnitudes are identical
==============  ==============================  ===============================================

``noise`` scales the background: ``"clean"`` (the default level) or ``"noisy"`` (three times as
much), or a number.

Examples
--------
>>> from cdig.datasets.planted import make_task, TASKS
>>> TASKS
('frequency', 'source', 'season', 'phase')
>>> t = make_task("frequency", n=40, seed=0)
>>> t.X.shape, t.y[:4].tolist(), t.truth["bins"]
((40, 1, 256), [0, 1, 2, 3], [16, 36, 56, 76])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import CdigValueError

__all__ = ["PlantedTask", "make_task", "TASKS", "NOISE_LEVELS"]

TASKS: tuple[str, ...] = ("frequency", "source", "season", "phase")
#: Background noise standard deviation of each named level, per task.
NOISE_LEVELS: dict[str, dict[str, float]] = {
    "frequency": {"clean": 0.5, "noisy": 1.5},
    "source": {"clean": 1.0, "noisy": 2.0},  # scales the background sources (unit variance)
    "season": {"clean": 0.3, "noisy": 0.9},
    "phase": {"clean": 0.5, "noisy": 1.5},
}


@dataclass(frozen=True)
class PlantedTask:
    """A labelled data set with its planted truth.

    Attributes
    ----------
    name : str
        One of :data:`TASKS`.
    X : ndarray, shape (N, C, T), float32
    y : ndarray, shape (N,), int64
    classes : tuple of str
    fs : float
        Sampling rate in Hz.
    truth : dict
        Where the class lives (task-specific: ``bins``, ``planted_source``, ``period``, ``bin``...).
    noise : float
        The background's standard deviation.
    extras : dict
        Arrays the scoring may need (e.g. the true ``sources``).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    fs: float
    truth: dict[str, Any]
    noise: float
    extras: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def make_task(name: str, n: int = 400, noise: str | float = "clean", seed: int = 0) -> PlantedTask:
    """One planted task with ``n`` samples (classes balanced, in turn), reproducible from ``seed``.

    Parameters
    ----------
    name : {"frequency", "source", "season", "phase"}
    n : int
        Number of samples (at least 8).
    noise : "clean", "noisy" or float
        Background level (see :data:`NOISE_LEVELS`).
    seed : int

    Examples
    --------
    >>> t = make_task("phase", n=8, seed=1)
    >>> t.classes, t.truth["bin"]
    (('phase pi', 'phase 0'), 8)
    """
    if name not in TASKS:
        raise CdigValueError(f"unknown planted task {name!r}; choose one of {list(TASKS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 8:
        raise CdigValueError(f"n must be an integer of at least 8, got {n!r}")
    if isinstance(noise, str):
        if noise not in NOISE_LEVELS[name]:
            raise CdigValueError(f"noise must be 'clean', 'noisy' or a non-negative number, got {noise!r}")
        sigma = NOISE_LEVELS[name][noise]
    elif isinstance(noise, (int, float)) and not isinstance(noise, bool) and 0 <= noise < np.inf:
        sigma = float(noise)
    else:
        raise CdigValueError(f"noise must be 'clean', 'noisy' or a non-negative number, got {noise!r}")
    rng = np.random.default_rng(seed)
    return _MAKERS[name](int(n), sigma, rng, seed)


def _frequency(n: int, sigma: float, rng: np.random.Generator, seed: int) -> PlantedTask:
    fs, t_len = 64.0, 256
    hz = [4.0, 9.0, 14.0, 19.0]  # on the rFFT grid: bin = hz * T / fs
    y = np.arange(n) % len(hz)
    t = np.arange(t_len) / fs
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.8, 1.2, n)
    tone = amp[:, None] * np.sin(2 * np.pi * np.asarray(hz)[y][:, None] * t[None, :] + phase[:, None])
    x = tone + sigma * rng.normal(size=(n, t_len))
    bins = [int(round(h * t_len / fs)) for h in hz]
    return PlantedTask(
        "frequency",
        x[:, None, :].astype(np.float32),
        y.astype(np.int64),
        tuple(f"{h:g} Hz" for h in hz),
        fs,
        {"bins": bins, "hz": hz},
        sigma,
    )


def _source(n: int, sigma: float, rng: np.random.Generator, seed: int) -> PlantedTask:
    from .synthetic import make_bands_sources

    d = make_bands_sources(n_samples=n, seed=seed)
    sources = d.sources.astype(np.float64)
    background = np.arange(sources.shape[1]) != d.planted_source
    sources[:, background] *= sigma  # the background sources have unit variance
    x = np.einsum("cs,nst->nct", d.mixing, sources)
    return PlantedTask(
        "source",
        x.astype(np.float32),
        d.y,
        ("out of band", "8-12 Hz"),
        d.fs,
        {"planted_source": d.planted_source, "band": d.band},
        sigma,
        {"sources": sources.astype(np.float32), "mixing": d.mixing},
    )


def _season(n: int, sigma: float, rng: np.random.Generator, seed: int) -> PlantedTask:
    t_len, period = 96, 12
    y = np.arange(n) % 2
    t = np.arange(t_len)
    shape = np.sin(2 * np.pi * np.arange(period) / period) + 0.5 * np.sin(4 * np.pi * np.arange(period) / period)
    shape -= shape.mean()
    shift = rng.integers(0, period, n)
    season = np.stack([np.roll(np.tile(shape, t_len // period), s) for s in shift])
    trend = rng.normal(0, 1, n)[:, None] + rng.normal(0, 1.5, n)[:, None] * (t[None, :] / t_len - 0.5)
    x = trend + y[:, None] * season + sigma * rng.normal(size=(n, t_len))
    return PlantedTask(
        "season",
        x[:, None, :].astype(np.float32),
        y.astype(np.int64),
        ("trend only", "seasonal"),
        1.0,
        {"period": period, "component": "seasonal"},
        sigma,
    )


def _phase(n: int, sigma: float, rng: np.random.Generator, seed: int) -> PlantedTask:
    t_len, k0 = 128, 8
    y = np.arange(n) % 2
    t = np.arange(t_len)
    amp = rng.uniform(0.8, 1.2, n)
    sign = np.where(y == 1, 1.0, -1.0)  # class 1: phase 0; class 0: phase pi
    x = (sign * amp)[:, None] * np.cos(2 * np.pi * k0 * t[None, :] / t_len) + sigma * rng.normal(size=(n, t_len))
    # a shift by T/(2 k0) samples turns bin k0's phase by pi and keeps every magnitude: the baseline
    return PlantedTask(
        "phase",
        x[:, None, :].astype(np.float32),
        y.astype(np.int64),
        ("phase pi", "phase 0"),
        1.0,
        {"bin": k0, "component": "phase", "baseline_shift": t_len // (2 * k0)},
        sigma,
    )


_MAKERS = {"frequency": _frequency, "source": _source, "season": _season, "phase": _phase}
