"""``cdig.explain_dataset``: a whole data set as one job that streams to disk and survives interruption."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CdigTypeError, CdigValueError, CdigWarning
from ..domains import resolve
from .chunks import explain_chunk, pending_chunks, total_rows
from .sources import Source, chunk_digest, make_source
from .store import ExplainedDataset, Store, check_group_name

__all__ = ["explain_dataset", "ENGINES"]

ENGINES = ("serial", "ray")
_ROW_TARGETS = ("predicted", "label")


def explain_dataset(
    model: Any,
    data: Any,
    out: str | Path,
    domains: Any = ("time", "fourier"),
    *,
    batch_size: int | None = None,
    target: Any = None,
    baselines: Any = None,
    n_steps: int | str = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | str | None = None,
    memory_budget: int | str | None = None,
    time_axis: int | None = None,
    fs: float | None = None,
    multiply_by_inputs: bool = True,
    rtol: float = 1e-3,
    max_steps: int = 4096,
    engine: str = "serial",
    num_workers: int | None = None,
    model_factory: Callable[[], Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExplainedDataset:
    """Explain every row of ``data`` and stream the maps into a Zarr store at ``out``; resumable.

    The data is read in chunks of consecutive rows; each chunk is explained with
    :func:`cdig.explain` and written, then marked done. Run the same call again after an
    interruption (a crash, a killed job, a pre-empted node) and it continues with the first chunk
    not done, producing the very store an uninterrupted run writes; chunks found missing or damaged
    (see :meth:`ExplainedDataset.verify`) are recomputed. A store written with other settings
    (domains, target, steps, model, data...) is refused, never mixed, and so is data whose rows
    changed in any chunk already done. One job writes a store at a time: a second is refused.

    Parameters
    ----------
    model : model
        As for :func:`cdig.explain` (PyTorch, TensorFlow/Keras, JAX).
    data : array, memmap, DataLoader, Dataset, tf.data.Dataset, Windows or iterable of batches
        The rows (see :func:`cdig.dataset.sources.make_source`); batches may be ``(x, y)``.
    out : str or Path
        The Zarr store (a folder) to write; created, or resumed when it exists with the same settings.
    domains : as for :func:`cdig.explain`
        Domains that fit themselves on each batch (``"ica"`` without a fitted object) are refused:
        fit them once on the data set.
    batch_size : int, optional
        Rows per chunk for arrays, datasets and windows (default 64); loaders keep their batches.
    target : None, int, tuple, callable, "predicted" or "label"
        As for :func:`cdig.explain`, the same for every row; ``"predicted"`` explains each row's
        arg-max output, ``"label"`` the label its batch carries (``(x, y)`` batches). Per-row
        targets are stored in ``target``.
    baselines : None, scalar, array broadcastable to one sample, or dict
        As for :func:`cdig.explain`, applied to every chunk.
    n_steps, method, internal_batch_size, memory_budget, time_axis, fs, multiply_by_inputs, rtol, max_steps :
        As for :func:`cdig.explain`.
    engine : {"serial", "ray"}
        ``"ray"`` spreads the chunks over Ray actors (see :mod:`cdig.dataset.ray_engine`).
    num_workers : int, optional
        Ray actors (default: one per GPU, else one per CPU of the cluster).
    model_factory : callable, optional
        For ``engine="ray"``: builds the model inside each actor (loaded once per actor) instead of
        shipping ``model`` to it.
    overwrite : bool
        Start the store again even if it holds explanations (with any settings). Only a cdig store
        (recognised by its marker) is ever emptied; a folder or file cdig did not write is refused.
    progress : bool
        A progress bar over the chunks.

    Returns
    -------
    ExplainedDataset
        The store, opened for reading.

    Examples
    --------
    >>> import numpy as np, torch, tempfile, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> x = np.random.default_rng(0).normal(size=(10, 1, 64)).astype("float32")
    >>> ds = cdig.explain_dataset(model, x, tempfile.mkdtemp() + "/maps.zarr", ("time", "fourier"),
    ...                           target="predicted", batch_size=4, n_steps=8, progress=False)
    >>> ds.rows, ds.complete, ds.attribution("fourier").values.shape
    (10, True, (10, 1, 33))
    """
    if engine not in ENGINES:
        raise CdigValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    source = make_source(data, batch_size)
    doms = resolve(domains)
    for d in doms:
        check_group_name(d.name)
        why = d.batch_dependent()
        if why:
            raise CdigValueError(f"domain {d.name!r} cannot explain a data set chunk by chunk: {why}")
    _check_target(target)
    explain_kwargs = dict(
        n_steps=n_steps,
        method=method,
        internal_batch_size=internal_batch_size,
        memory_budget=memory_budget,
        time_axis=time_axis,
        fs=fs,
        multiply_by_inputs=multiply_by_inputs,
        rtol=rtol,
        max_steps=max_steps,
    )
    settings = _settings(model, source, doms, target, baselines, explain_kwargs)
    with Store(out, settings, source.n, max(1, source.chunk_rows or len(source.first()[0])), overwrite) as store:
        if store.resumed and settings["model"]["weights"] is None:
            warnings.warn(
                CdigWarning(
                    f"resuming {store.path}: the model ({settings['model']['type']}) could not be fingerprinted, so a "
                    "change to it since the store was begun (weights, layers, code) cannot be detected; the rows "
                    "already stored are kept as they are. Pass overwrite=True if the model changed"
                ),
                stacklevel=2,
            )
        if engine == "ray":
            from .ray_engine import run_ray

            run_ray(model, model_factory, source, store, doms, target, baselines, explain_kwargs, num_workers, progress)
        else:
            run_serial(model, source, store, doms, target, baselines, explain_kwargs, progress)
    return ExplainedDataset(store.path)


def run_serial(
    model: Any,
    source: Source,
    store: Store,
    doms: list,
    target: Any,
    baselines: Any,
    explain_kwargs: dict[str, Any],
    progress: bool,
) -> None:
    from .._progress import Progress

    done = store.done()
    total = store.n_chunks
    bar = Progress(progress, total, "cdig explain_dataset", unit="chunk")
    if done:
        bar(len(done))
    rows = 0
    try:
        for k, start, x, y in pending_chunks(source, store, isinstance(target, str) and target == "label"):
            maps, row_targets = explain_chunk(model, x, y, doms, target, baselines, explain_kwargs)
            store.write(k, start, maps, row_targets)
            rows = max(rows, start + len(next(iter(maps.values())).values))
            bar(1)
    finally:
        bar.close()
    store.finish(total_rows(store, source, rows))


def _check_target(target: Any) -> None:
    if isinstance(target, str) and target not in _ROW_TARGETS:
        raise CdigValueError(f"target={target!r}: a string target must be one of {list(_ROW_TARGETS)}")
    if isinstance(target, (list, np.ndarray)):
        raise CdigTypeError(
            "explain_dataset takes one target for every row (an int, a tuple, a callable, "
            "'predicted' or 'label'), not a list: per-row targets come from 'predicted' or 'label'"
        )


def _digest(v: Any) -> Any:
    """A JSON-friendly stand-in for a setting: arrays by their hash, objects by their type and state."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_digest(i) for i in v]
    if isinstance(v, dict):
        return {str(k): _digest(i) for k, i in v.items()}
    if callable(v) and not hasattr(v, "__dict__"):
        return getattr(v, "__qualname__", repr(v))
    try:
        arr = np.asarray(v)
        if arr.dtype != object:
            return {"shape": list(arr.shape), "sha256": chunk_digest(arr).tobytes().hex()[:16]}
    except Exception:  # noqa: BLE001 - not an array
        pass
    state = getattr(v, "__dict__", None)
    if state is not None:
        return {
            "type": type(v).__qualname__,
            "state": _digest({k: s for k, s in state.items() if not k.startswith("_") and not callable(s)}),
        }
    return repr(v)


def _settings(
    model: Any, source: Source, doms: list, target: Any, baselines: Any, explain_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Everything that determines the stored numbers (the store's fingerprint covers it)."""
    from ..backends import get_backend

    x0, _ = source.first()
    be = get_backend(model, x0, None)
    kw = {k: v for k, v in explain_kwargs.items() if k != "memory_budget"}
    return {
        "domains": [{"describe": _digest(d.describe()), "state": _digest(vars(d))} for d in doms],
        "target": _digest(target),
        "baselines": _digest(baselines),
        **{k: _digest(v) for k, v in kw.items()},
        "memory_budget": _digest(explain_kwargs.get("memory_budget")),
        "model": {"type": type(model).__qualname__, "weights": be.model_digest(model), "backend": be.name},
        "data": source.describe(),
    }
