"""The planted-truth benchmark: does each domain's top coefficient land on the planted one?

For every task of :mod:`cdig.datasets.planted` a small CNN is trained (PyTorch, seconds on a CPU), the
held-out samples are explained in the domain that names the planted thing, and the score is the
share of explained samples whose largest attribution is the planted coefficient:

=============  ===================  =======================================================
task           domain               a hit
=============  ===================  =======================================================
frequency      ``Fourier``          the top bin is the bin of the sample's class tone
source         ``ICA`` (fitted on   the top component is the one that recovers the planted
               the training set)    source (largest |correlation| with it)
season         ``TrendSeason(12)``  the ``seasonal`` component has the largest total
phase          ``MagnitudePhase``   the top coefficient is the *phase* of the tone's bin
               (baseline: the
               input shifted by
               half the tone's
               period)
=============  ===================  =======================================================

Each sample is explained for its true class (the planted class for ``source`` and ``season``,
every class for the others). cdig is expected to reach at least 95 % on the clean tasks.

Examples
--------
>>> from cdig.metrics.planted import run_planted          # doctest: +SKIP
>>> rows = run_planted(noise="clean")                      # doctest: +SKIP
>>> [(r["task"], r["score"]) for r in rows]                # doctest: +SKIP
[('frequency', 1.0), ('source', 1.0), ('season', 1.0), ('phase', 1.0)]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from ..datasets.planted import TASKS, PlantedTask, make_task

__all__ = ["run_planted", "score_task", "TARGET_SCORE"]

#: The score cdig must reach on every clean task.
TARGET_SCORE = 0.95


def run_planted(
    tasks: Sequence[str] = TASKS, noise: str | float = "clean", n: int = 400, epochs: int = 12, n_steps: int = 32, seed: int = 0
) -> list[dict[str, Any]]:
    """Train, explain and score every task; one row per task.

    Parameters
    ----------
    tasks : sequence of str
        Among :data:`cdig.datasets.planted.TASKS`.
    noise : "clean", "noisy" or float
        The background level of every task.
    n : int
        Samples per task (3/4 train, 1/4 held out and explained).
    epochs : int
        Training epochs.
    n_steps : int
        Gauss–Legendre points of the explanations.
    seed : int
        Seed of the data, the initialisation and the training.

    Returns
    -------
    list of dict
        ``task``, ``domain``, ``noise``, ``accuracy`` (held out), ``score`` (share of hits),
        ``chance`` (the score of a random map: one over the coefficients ranked), ``hits``, ``explained``,
        ``max_relative_delta``, ``seconds``.
    """
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise CdigValueError(f"unknown planted task(s) {unknown}; choose among {list(TASKS)}")
    return [score_task(make_task(t, n=n, noise=noise, seed=seed), epochs=epochs, n_steps=n_steps, seed=seed) for t in tasks]


def score_task(task: PlantedTask, epochs: int = 12, n_steps: int = 32, seed: int = 0) -> dict[str, Any]:
    """Train a CNN on ``task``'s first 3/4, explain the rest in the task's domain, and score the hits."""
    import torch

    import cdig

    from ..training import make_model, train_classifier

    t0 = time.perf_counter()
    n_train = (3 * len(task.X)) // 4
    xtr, ytr, xte, yte = task.X[:n_train], task.y[:n_train], task.X[n_train:], task.y[n_train:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        c, t_len = task.X.shape[1], task.X.shape[2]
        if task.name == "phase":  # absolute timing: a head that sees positions, not a pooled one
            model = torch.nn.Sequential(
                torch.nn.Conv1d(c, 8, 9, padding=4),
                torch.nn.GELU(),
                torch.nn.Flatten(),
                torch.nn.Linear(8 * t_len, len(task.classes)),
            )
        else:
            model = make_model(c, len(task.classes))
        train_classifier(model, xtr, ytr, epochs, seed=seed)
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())

    xt = torch.from_numpy(xte)
    target = yte.tolist()
    if task.name == "frequency":
        att = cdig.explain(model, xt, "fourier", target=target, fs=task.fs, n_steps=n_steps)["fourier"]
        top = np.argmax(att.values[:, 0, :], axis=1)
        hit = top == np.asarray(task.truth["bins"])[yte]
        keep = np.ones(len(yte), bool)
    elif task.name == "source":
        keep = yte == 1
        ica, planted = _fit_ica(task, n_train, seed)
        att = cdig.explain(model, xt[keep], [cdig.ICA(ica)], target=1, n_steps=n_steps)["ica"]
        hit = np.argmax(att.values, axis=1) == planted
    elif task.name == "season":
        keep = yte == 1
        att = cdig.explain(model, xt[keep], [cdig.TrendSeason(task.truth["period"])], target=1, n_steps=n_steps)["trend"]
        totals = att.extras["totals"].sum(axis=1)  # (N, component)
        season = list(att.coords["component"]).index(task.truth["component"])
        hit = np.argmax(totals, axis=1) == season
    else:  # phase
        keep = np.ones(len(yte), bool)
        x0 = np.roll(xte, task.truth["baseline_shift"], axis=-1)
        att = cdig.explain(model, xt, [cdig.MagnitudePhase()], baselines=x0, target=target, n_steps=n_steps)["magphase"]
        flat = att.values.reshape(len(xte), -1)
        c_idx, comp, f_idx = np.unravel_index(np.argmax(flat, axis=1), att.values.shape[1:])
        phase = list(att.coords["component"]).index(task.truth["component"])
        hit = (comp == phase) & (f_idx == task.truth["bin"])
    units = int(np.prod(att.values.shape[1:])) if task.name != "season" else totals.shape[1]
    return {
        "task": task.name,
        "domain": att.domain,
        "noise": task.noise,
        "accuracy": round(accuracy, 4),
        "score": round(float(hit.mean()), 4),
        "chance": round(1.0 / units, 4),
        "hits": int(hit.sum()),
        "explained": int(keep.sum()),
        "max_relative_delta": float(att.relative_delta.max()),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _fit_ica(task: PlantedTask, n_train: int, seed: int) -> tuple[Any, int]:
    """FastICA on the training set's pooled time steps, and the component that recovers the planted source."""
    from sklearn.decomposition import FastICA

    x = task.X[:n_train].astype(np.float64)
    c = x.shape[1]
    ica = FastICA(n_components=c, whiten="unit-variance", random_state=seed, max_iter=1000)
    rec = ica.fit_transform(x.transpose(0, 2, 1).reshape(-1, c))  # (N*T, K)
    true = task.extras["sources"][:n_train, task.truth["planted_source"]].reshape(-1)
    corr = [abs(np.corrcoef(rec[:, k], true)[0, 1]) for k in range(c)]
    return ica, int(np.argmax(corr))
