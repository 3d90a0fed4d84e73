"""``explain_dataset(..., engine="ray")``: the chunks of a data set spread over Ray actors.

The driver (the process that calls :func:`cdig.explain_dataset`) reads the source, hands each chunk
not yet done to one of ``num_workers`` actors, and writes every result into the store itself, in
whatever order the results come back: the store is indexed by chunk, so the order does not change a
byte of it. Each actor holds the model, built once (by ``model_factory()`` inside the actor, or
unpickled once from the object store), and runs :func:`cdig.dataset.chunks.explain_chunk` on the chunks
it is given, exactly as the serial engine does. At most :data:`IN_FLIGHT_PER_WORKER` chunks per actor
are submitted and not yet written, which bounds the driver's memory whatever the data set's size.

Ray is imported here only, when ``engine="ray"`` is asked for (``pip install 'cdig[ray]'``). A cluster
already joined with ``ray.init(...)`` is used as it is; otherwise the one at ``RAY_ADDRESS`` when that
variable is set; otherwise a local cluster is started for the job and shut down after it.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core.errors import CdigValueError
from .chunks import explain_chunk, pending_chunks, total_rows
from .sources import Source
from .store import Store

__all__ = ["run_ray", "IN_FLIGHT_PER_WORKER"]

#: Chunks submitted to one actor and not yet written: one computing, one waiting (no idle gap).
IN_FLIGHT_PER_WORKER = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("engine='ray' needs Ray: pip install 'cdig[ray]' (or ray)") from None
    return ray


class ChunkWorker:
    """One Ray actor: the job's settings, and the model, loaded once; explains the chunks it is given.

    The model is built (or fetched from the object store) on the first chunk rather than in
    ``__init__``: an exception raised there then reaches the driver as itself, whereas Ray reports a
    failed actor creation only as a dead actor.
    """

    def __init__(
        self,
        shipped: list[Any],
        model_factory: Callable[[], Any] | None,
        doms: list,
        target: Any,
        baselines: Any,
        explain_kwargs: dict[str, Any],
        weights: str | None,
        one_thread: bool,
    ) -> None:
        self.shipped, self.factory, self.weights, self.one_thread = shipped, model_factory, weights, one_thread
        self.doms, self.target, self.baselines, self.kwargs = doms, target, baselines, explain_kwargs
        self.model: Any = None

    def _load(self) -> Any:
        if self.model is None:
            if self.factory is not None:
                model = self.factory()
                if self.weights is not None:
                    self._check_weights(model, self.weights)
            else:
                import ray

                model = ray.get(self.shipped[0])  # a list keeps Ray from fetching it in __init__
            if self.one_thread and "torch" in sys.modules:
                # one actor per core: torch's own thread pool would oversubscribe the cores the others use
                sys.modules["torch"].set_num_threads(1)
            self.model = model
        return self.model

    @staticmethod
    def _check_weights(model: Any, weights: str) -> None:
        """The store's fingerprint names ``model``'s weights: the factory's model must have the same."""
        from ..backends import get_backend

        try:
            be = get_backend(model, np.zeros((1, 1, 1)), None)
        except Exception:  # noqa: BLE001 - a model cdig cannot recognise here fails on the first chunk instead
            return
        got = be.model_digest(model)
        if got is not None and got != weights:
            raise CdigValueError(
                f"model_factory() built a model (architecture and weights, digest {got}) that differs from the model passed "
                f"to explain_dataset (digest {weights}), which the store's settings record; pass the same model, "
                "e.g. one loaded from the same checkpoint"
            )

    def explain(self, x: Any, labels: Any) -> tuple[dict[str, Any], np.ndarray | None]:
        maps, rows = explain_chunk(self._load(), x, labels, self.doms, self.target, self.baselines, self.kwargs)
        return {name: _portable(att) for name, att in maps.items()}, rows


def _portable(att: Any) -> Any:
    """The Attribution as plain arrays and settings: what the store writes, nothing that needs the actor.

    The domain snapshot (``domain_object``) and the coefficients are not written to the store; the
    snapshot may hold objects that do not pickle, and the coefficients would double the traffic.
    """
    import dataclasses

    return dataclasses.replace(att, domain_object=None, coefficients=None, baseline_coefficients=None)


def _host(a: Any) -> Any:
    """A chunk as it travels to an actor: numpy (a view of a framework tensor would pickle all its storage)."""
    if a is None or isinstance(a, np.ndarray):
        return a
    from ..backends.base import foreign_to_numpy

    return foreign_to_numpy(a)


def _connect(ray: Any, num_workers: int | None) -> bool:
    """Join a cluster; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:
        # a local cluster cdig starts for the user does not report usage statistics unless they chose to
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=num_workers or os.cpu_count() or 1, include_dashboard=False)
    return True


def _plan(ray: Any, num_workers: int | None) -> tuple[int, dict[str, float], bool]:
    """Actors, the resources of each, and whether they are CPU actors (one thread each).

    One GPU per actor when the cluster has GPUs, else one CPU. More actors than GPUs (or CPUs) share
    them: each asks for ``1/m`` of one, ``m`` the actors per device, so that every actor finds room
    (on every node, whole devices hold whole shares) and none waits forever.
    """
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    if num_workers is not None and (
        isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1
    ):
        raise CdigValueError(f"num_workers must be a positive integer or None, got {num_workers!r}")
    have, key = (gpus, "num_gpus") if gpus else (max(1, cpus), "num_cpus")
    n = int(num_workers or have)
    per_device = -(-n // have)
    share = int(1e4 / per_device) / 1e4 if per_device > 1 else 1  # Ray counts resources to 1e-4
    return n, {key: share}, not gpus


def _unwrap(ray: Any, err: Exception, k: int) -> BaseException:
    """The exception raised inside the actor, as it was raised (not Ray's wrapper), with a note."""
    cause = getattr(err, "cause", None)
    note = f"(raised in a Ray actor while explaining chunk {k}; engine='ray')"
    raised: BaseException = err
    if isinstance(err, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        raised = cause
    if hasattr(raised, "add_note"):
        raised.add_note(note)
    return raised


def run_ray(
    model: Any,
    model_factory: Callable[[], Any] | None,
    source: Source,
    store: Store,
    doms: list,
    target: Any,
    baselines: Any,
    explain_kwargs: dict[str, Any],
    num_workers: int | None,
    progress: bool,
) -> None:
    """Explain every chunk not yet done on Ray actors and write it into ``store``; then finish the store."""
    from .._progress import Progress

    ray = _ray()
    started = _connect(ray, num_workers)
    actors: list[Any] = []
    try:
        n, each, one_thread = _plan(ray, num_workers)
        weights = store.settings.get("model", {}).get("weights")
        # the model travels once: into the object store, then to each actor; a factory travels instead
        shipped = [] if model_factory is not None else [ray.put(model)]
        remote = ray.remote(ChunkWorker)
        actors = [
            remote.options(**each).remote(shipped, model_factory, doms, target, baselines, explain_kwargs, weights, one_thread)
            for _ in range(n)
        ]
        _drive(ray, actors, source, store, progress, Progress, isinstance(target, str) and target == "label")
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()


def _drive(
    ray: Any, actors: list[Any], source: Source, store: Store, progress: bool, progress_cls: Any, labels: bool = False
) -> None:
    done = store.done()
    bar = progress_cls(progress, store.n_chunks, "cdig explain_dataset (ray)", unit="chunk")
    if done:
        bar(len(done))
    free: deque[Any] = deque(a for _ in range(IN_FLIGHT_PER_WORKER) for a in actors)  # a, b, a, b: all start at once
    pending: dict[Any, tuple[int, int, Any]] = {}  # result ref -> (chunk, first row, actor)
    chunks: Iterator[tuple[int, int, Any, Any]] = pending_chunks(source, store, labels)
    rows = 0
    exhausted = False
    try:
        while True:
            while free and not exhausted:
                item = next(chunks, None)
                if item is None:
                    exhausted = True
                    break
                k, start, x, y = item
                actor = free.popleft()
                pending[actor.explain.remote(_host(x), _host(y))] = (k, start, actor)
            if not pending:
                break
            [ref], _ = ray.wait(list(pending), num_returns=1)
            k, start, actor = pending.pop(ref)
            try:
                maps, row_targets = ray.get(ref)
            except Exception as e:
                original = _unwrap(ray, e, k)
                if original is e:
                    raise
                raise original from e  # Ray's error, shown as the cause, carries the actor's traceback
            store.write(k, start, maps, row_targets)
            rows = max(rows, start + len(next(iter(maps.values())).values))
            free.append(actor)
            bar(1)
    finally:
        bar.close()
    store.finish(total_rows(store, source, rows))
