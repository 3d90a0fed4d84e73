"""Fixtures over the shared test models and references of :mod:`cdig.testing`.

Test modules import what they need by name (``from cdig.testing import LinearModel, requires_jax``);
the fixtures below hand out the same objects for the tests written before ``cdig.testing`` existed.
The ``background`` fixture (at the end) runs the costliest subprocesses on the core the tests leave idle.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cdig import testing

# Ray (tests/dataset/test_ray.py) must not report usage statistics: no traffic leaves the machine.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models: intra-op threads only add overhead (10x and more on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def models() -> SimpleNamespace:
    """The model classes and factories of :mod:`cdig.testing`."""
    return SimpleNamespace(
        Linear=testing.LinearModel,
        ConvNet=testing.ConvNet,
        conv_net=testing.make_conv_net,
        ScalarHead=testing.ScalarHead,
        BandEnergy=testing.BandEnergy,
        FourierBandEnergy=testing.FourierBandEnergy,
        CallCounter=testing.CallCounter,
        ChannelsLast=testing.ChannelsLast,
        LinearForecaster=testing.LinearForecaster,
    )


@pytest.fixture(scope="session")
def foreign_linear():
    """``foreign_linear(framework, w, x) -> (f, x_in)``: ``f(v) = Σ v·wᵀ`` per sample in JAX or TensorFlow
    (channels last: ``w`` is ``(C, T)``, ``x`` is ``(N, T, C)``), and ``x`` as that framework's array."""
    return testing.foreign_linear


@pytest.fixture(scope="session")
def closed() -> SimpleNamespace:
    """Closed-form references: rfft bin weights, Fourier gradient and maps, ICA maps of linear models."""
    return SimpleNamespace(
        rfft_weights=testing.rfft_weights,
        fourier_gradient=testing.fourier_gradient,
        fourier_linear_map=testing.fourier_linear_map,
        ica_linear_map=testing.ica_linear_map,
    )


@pytest.fixture(scope="session")
def fitted_ica():
    """A FastICA fitted on 3 mixed Laplacian channels (float64, nonzero means)."""
    return testing.fit_ica(3, seed=1)


@pytest.fixture(scope="session")
def fit_ica():
    """``fit_ica(n_channels, seed, n_components=None)``: a fresh fitted FastICA."""
    return testing.fit_ica


# --------------------------------------------------------------------------------------------
# expensive subprocesses, run in the background
# --------------------------------------------------------------------------------------------
# The suite runs on one core (torch is set to one thread above); the subprocesses that cost the most
# (the example scripts and notebooks, the mkdocs build, Keras on its other backends) are real runs of
# a fresh interpreter either way. They are started when the session starts, one at a time, on the
# core the tests leave idle, and the tests that need one wait for its result.
#
# A test module declares its runs in ``BACKGROUND_JOBS = {name: make}``: ``make(tmp)`` returns the
# keyword arguments of ``subprocess.Popen`` (``args``, optional ``cwd`` and ``env``; ``timeout``, default
# 600 s) for a run whose files go to the fresh folder ``tmp``, or None when the run cannot happen here
# (its test skips). A test marked ``@pytest.mark.background(name, ...)`` queues those runs when it is
# selected; ``background.result(name)`` returns one's result: while the worker is busy with another run,
# the waiting test runs the next run nobody has started itself (an unqueued run is started on demand).

_JOBS = pytest.StashKey[dict[str, Callable[[Path], dict | None]]]()
_QUEUED = pytest.StashKey[list[str]]()


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    jobs: dict[str, Callable[[Path], dict | None]] = {}
    queued: list[str] = []
    for item in items:
        module = getattr(item, "module", None)
        jobs.update(getattr(module, "BACKGROUND_JOBS", {}))
        for mark in item.iter_markers("background"):
            for name in mark.args:
                if name not in jobs:
                    raise pytest.UsageError(f"{item.nodeid}: no BACKGROUND_JOBS entry {name!r} in its module")
                if name not in queued:
                    queued.append(name)  # in the order the tests need them
    config.stash[_JOBS] = jobs
    config.stash[_QUEUED] = queued


class Background:
    """Runs of :data:`BACKGROUND_JOBS`, one at a time on a worker thread; see the comment above."""

    def __init__(self, jobs: dict[str, Callable[[Path], dict | None]], tmp_path_factory: pytest.TempPathFactory) -> None:
        self._jobs = jobs
        self._tmp = tmp_path_factory
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdig-tests-background")
        self._futures: dict[str, Future] = {}
        self._results: dict[str, SimpleNamespace | None] = {}
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, name: str) -> None:
        prepared = self._prepare(name)  # here, in the main thread: the environment as the session began
        self._futures[name] = self._pool.submit(self._run, *prepared)

    def result(self, name: str) -> SimpleNamespace | None:
        """``returncode``, ``stdout``, ``stderr`` (text) and ``tmp`` (its folder) of the run ``name``;
        None when its ``make`` said it cannot run here."""
        future = self._futures.get(name)
        while name not in self._results and future is not None and not future.done():
            # the worker is busy with another run: rather than wait, run the next run nobody started
            waiting = next((n for n, f in self._futures.items() if n not in self._results and f.cancel()), None)
            if waiting is None:
                break
            self._results[waiting] = self._run(*self._prepare(waiting))
        if name not in self._results:
            if future is None or future.cancelled():  # never queued: run it on demand
                self._results[name] = self._run(*self._prepare(name))
            else:
                self._results[name] = future.result()
        return self._results[name]

    def _prepare(self, name: str) -> tuple[str, Path, dict | None]:
        tmp = self._tmp.mktemp("bg-" + re.sub(r"[^\w.-]", "_", name))
        return name, tmp, self._jobs[name](tmp)

    def _run(self, name: str, tmp: Path, kwargs: dict | None) -> SimpleNamespace | None:
        if kwargs is None:
            return None
        kwargs = dict(kwargs)
        timeout = kwargs.pop("timeout", 600)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"background run {name!r} asked for after the session ended")
            proc = subprocess.Popen(**kwargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self._running.add(proc)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += f"\n[killed after {timeout} s]"
        finally:
            with self._lock:
                self._running.discard(proc)
        return SimpleNamespace(returncode=proc.returncode, stdout=stdout, stderr=stderr, tmp=tmp)

    def close(self) -> None:
        """Drop the runs not started and end the ones running (a session stopped early)."""
        with self._lock:
            self._closed = True
            for future in self._futures.values():
                future.cancel()
            for proc in self._running:
                proc.kill()
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="session", autouse=True)
def background(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The session's :class:`Background` runs, started with its first test."""
    runs = Background(request.config.stash.get(_JOBS, {}), tmp_path_factory)
    for name in request.config.stash.get(_QUEUED, []):
        runs.submit(name)
    yield runs
    runs.close()
