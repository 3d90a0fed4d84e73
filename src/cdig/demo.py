"""``cdig demo``: the whole job on the shipped planted-truth data set, in seconds on a CPU.

Trains a small 1-D CNN on :func:`cdig.datasets.load_bands_sources` (the class is decided by an
8–12 Hz oscillation of one independent source), explains held-out samples in the time, Fourier
and ICA domains, checks that the explanations find the planted band and the planted source, and
writes maps, a JSON summary and figures into one folder.

The network and its training loop live in :mod:`cdig.training` (``cdig.demo.make_model``,
``cdig.demo.train_classifier`` and ``cdig.demo.train_regressor`` are aliases of them); the folder is
written by :class:`cdig.results.ResultWriter`, the one writer of ``cdig demo``, ``cdig demo --real``
and ``cdig explain``, which ``cdig report`` reads.

This module is an edge: it uses cdig's public API, and nothing in the core imports it. torch,
scikit-learn and matplotlib are imported when :func:`run_demo` runs (``pip install 'cdig[all]'``).

Files written into ``out_dir``:

``time.npz``, ``fourier.npz``, ``ica.npz``
    One :class:`cdig.Attribution` per domain (:meth:`~cdig.Attribution.save`; read back with
    :meth:`cdig.Attribution.load`).
``explained.npz``
    The explained samples: ``x`` ``(n, C, T)``, ``y`` (true class), ``predicted``, ``index`` (row
    in the data set), ``sources`` (true sources), ``frequency`` (planted frequency, Hz).
``summary.json``
    ``schema_version`` (:data:`cdig.results.SCHEMA_VERSION`), accuracy, per-domain completeness
    errors, the planted-truth checks, settings, runtimes, files.
``time.png``, ``fourier.png``, ``ica.png``
    One explained class-1 sample per domain; ``fourier_mean.png``: the Fourier map averaged over
    the explained samples of each class.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import CdigValueError
from .results import ResultWriter, deltas_summary
from .training import BATCH_SIZE, LEARNING_RATE, make_model, torch_settings, train_classifier, train_regressor

__all__ = [
    "run_demo",
    "make_model",
    "train_classifier",
    "train_regressor",
    "deltas_summary",
    "DEFAULT_EPOCHS",
    "DEFAULT_STEPS",
    "TEST_FRACTION",
]

#: Training epochs of the default demo (the CNN reaches ~100% held-out accuracy in a few).
DEFAULT_EPOCHS = 6
#: Gauss–Legendre points of the default explanation (completeness error ~1e-6 of f(x) - f(x0)).
DEFAULT_STEPS = 32
#: Share of the data set held out for accuracy and explanation.
TEST_FRACTION = 0.25


def run_demo(
    out_dir: str | Path = "cdig-demo",
    n_explain: int = 32,
    epochs: int = DEFAULT_EPOCHS,
    n_steps: int | str = DEFAULT_STEPS,
    seed: int = 0,
    progress: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train, explain and check the planted truth on the shipped data set; write everything to ``out_dir``.

    Steps: split the 400 samples of :func:`cdig.datasets.load_bands_sources` into 300 for training and
    100 held out (seeded); train :func:`make_model` with Adam (one CPU thread, deterministic
    algorithms, ``torch.manual_seed(seed)``; the global torch settings are restored afterwards);
    fit sklearn ``FastICA(whiten="unit-variance", random_state=seed)`` on the training set pooled
    over time; pick ``n_explain`` held-out samples, half of each class; explain the model's
    **predicted** class of each (what the model did, as a user without labels would; when the model
    errs, the check below counts the sample as a miss) with
    ``cdig.explain(model, x, ("time", Fourier(), ICA(fastica)), target=predicted, fs=fs)`` from the
    zero baseline.

    Planted-truth checks, over the explained samples of class 1: the share whose **top Fourier bin**
    (largest attribution summed over channels) lies in the planted band, and the share whose top
    ICA component (largest attribution) is the one that matches the planted source (largest
    ``|correlation|`` between the ICA's sources and the true ones on the training set).

    Parameters
    ----------
    out_dir : str or Path
        Folder for the files (created if needed; existing demo files are overwritten).
    n_explain : int
        Held-out samples to explain (2 to 100; half of each class).
    epochs : int
        Training epochs.
    n_steps : int or "auto"
        Integration points per sample (Gauss–Legendre), or ``"auto"`` (adaptive).
    seed : int
        Seed of the split, the network's initialisation and batches, and the ICA.
    progress : bool
        Progress bars for training and explanation (tqdm when installed).
    verbose : bool
        Print the results and where the files are.

    Returns
    -------
    dict
        The summary also written to ``summary.json`` (keys ``schema_version``, ``cdig_version``,
        ``accuracy``, ``deltas``, ``fourier``, ``ica``, ``data``, ``model``, ``explained``, ``settings``,
        ``runtime_s``, ``out_dir``, ``files``).

    Raises
    ------
    CdigValueError
        For arguments out of range.
    ImportError
        When torch, scikit-learn or matplotlib is missing (with the install hint).
    """
    t_start = time.perf_counter()
    _check_args(n_explain, epochs, n_steps, seed)
    torch, FastICA = _imports()
    import cdig
    from cdig.datasets import load_bands_sources
    from cdig.plot import plot_fourier, plot_ica, plot_time

    writer = ResultWriter(out_dir)
    data = load_bands_sources()
    n, c, _ = data.X.shape
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    test_idx, train_idx = np.sort(perm[:n_test]), perm[n_test:]

    with torch_settings(torch, seed):
        t0 = time.perf_counter()
        model, history = _train(torch, data.X[train_idx], data.y[train_idx], epochs, seed, progress)
        model.eval()
        with torch.no_grad():
            test_pred = model(torch.from_numpy(data.X[test_idx])).argmax(dim=1).numpy()
        accuracy = float(np.mean(test_pred == data.y[test_idx]))
        t_train = time.perf_counter() - t0

        t0 = time.perf_counter()
        pooled = data.X[train_idx].transpose(0, 2, 1).reshape(-1, c).astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FastICA's convergence chatter; the match is checked below
            fastica = FastICA(whiten="unit-variance", random_state=seed, max_iter=1000).fit(pooled)
        true_pooled = data.sources[train_idx].transpose(0, 2, 1).reshape(-1, c)
        corr = _cross_correlation(fastica.transform(pooled), true_pooled)
        planted_component = int(np.argmax(np.abs(corr[:, data.planted_source])))
        t_ica = time.perf_counter() - t0

        t0 = time.perf_counter()
        pick = _balanced(test_idx, data.y, n_explain)
        x = data.X[pick]
        predicted = test_pred[np.searchsorted(test_idx, pick)]
        maps = cdig.explain(
            model,
            torch.from_numpy(x),
            domains=("time", cdig.Fourier(), cdig.ICA(fastica)),
            target=predicted.tolist(),
            fs=data.fs,
            n_steps=n_steps,
            progress=progress,
        )
        t_explain = time.perf_counter() - t0

    y = data.y[pick]
    fourier, ica = maps["fourier"], maps["ica"]
    freqs = np.asarray(fourier.coords["frequency"])
    top_hz = freqs[np.argmax(fourier.values.sum(axis=1), axis=1)]
    in_band = (top_hz >= data.band[0]) & (top_hz <= data.band[1])
    top_component = np.argmax(ica.values, axis=1)
    is_planted = top_component == planted_component
    class1 = y == 1

    t0 = time.perf_counter()
    writer.save_maps(maps)
    writer.save_explained(x=x, y=y, predicted=predicted, index=pick, sources=data.sources[pick], frequency=data.frequency[pick])
    show = int(np.flatnonzero(class1)[0])
    band = data.band
    writer.save_figures(
        {
            "time": lambda: plot_time(
                maps["time"],
                show,
                title=(f"Time-domain IG of sample {pick[show]} (class 1, planted {data.frequency[pick[show]]:.2f} Hz)"),
            ),
            "fourier": lambda: plot_fourier(
                fourier,
                show,
                band=band,
                title=(
                    f"Fourier IG of sample {pick[show]}: largest positive bin {top_hz[show]:g} Hz, planted band "
                    f"{band[0]:g}-{band[1]:g} Hz shaded"
                ),
            ),
            "ica": lambda: plot_ica(
                ica,
                show,
                highlight=planted_component,
                title=(
                    f"ICA IG of sample {pick[show]}: IC {planted_component} * matches the planted source "
                    f"(|r| = {abs(corr[planted_component, data.planted_source]):.3f})"
                ),
            ),
            "fourier_mean": lambda: _mean_fourier_figure(fourier, y, band),
        },
        dpi=110,
    )
    t_write = time.perf_counter() - t0

    summary = writer.write_summary(
        {
            "accuracy": accuracy,
            "deltas": deltas_summary(maps),
            "fourier": {
                "band_hz": list(band),
                "top_bin_in_band_fraction": float(np.mean(in_band[class1])),
                "top_bin_in_band_fraction_class0": float(np.mean(in_band[~class1])),
                "top_bin_hz_class1": top_hz[class1].tolist(),
                "planted_hz_class1": np.round(data.frequency[pick][class1].astype(float), 3).tolist(),
            },
            "ica": {
                "planted_source": data.planted_source,
                "planted_component": planted_component,
                "planted_correlation": float(abs(corr[planted_component, data.planted_source])),
                "abs_correlation": np.round(np.abs(corr), 4).tolist(),
                "top_is_planted_fraction": float(np.mean(is_planted[class1])),
                "top_is_planted_fraction_all": float(np.mean(is_planted)),
            },
            "data": {
                "name": "bands_sources",
                "n_samples": int(n),
                "n_train": int(len(train_idx)),
                "n_test": int(n_test),
                "n_channels": int(c),
                "length": int(data.X.shape[2]),
                "fs": data.fs,
                "description": data.description,
            },
            "model": {
                "architecture": str(model),
                "n_parameters": int(sum(p.numel() for p in model.parameters())),
                "train_loss": history["loss"],
                "train_accuracy": history["accuracy"],
            },
            "explained": {
                "n": int(len(pick)),
                "n_class1": int(class1.sum()),
                "index": pick.tolist(),
                "y": y.tolist(),
                "predicted": predicted.tolist(),
                "target": "the predicted class (logit), from the zero baseline",
            },
            "settings": {
                "n_explain": n_explain,
                "epochs": epochs,
                "n_steps": n_steps,
                "method": "gausslegendre" if n_steps != "auto" else "gausskronrod_adaptive",
                "seed": seed,
                "batch_size": BATCH_SIZE,
                "learning_rate": LEARNING_RATE,
                "test_fraction": TEST_FRACTION,
                "torch_threads": 1,
                "fastica": {"whiten": "unit-variance", "random_state": seed, "fitted_on": "training set pooled over time"},
            },
            "runtime_s": {
                "train": round(t_train, 3),
                "ica": round(t_ica, 3),
                "explain": round(t_explain, 3),
                "write": round(t_write, 3),
                "total": round(time.perf_counter() - t_start, 3),
            },
        }
    )
    if verbose:
        _report(summary)
    return summary


# --- steps ------------------------------------------------------------------------------------
def _check_args(n_explain: Any, epochs: Any, n_steps: Any, seed: Any) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(n_explain) or not 2 <= n_explain <= 100:
        raise CdigValueError(f"n_explain={n_explain!r}: expected an integer from 2 to 100 (the held-out samples)")
    if not is_int(epochs) or epochs < 1:
        raise CdigValueError(f"epochs={epochs!r}: expected a positive integer")
    if n_steps != "auto" and (not is_int(n_steps) or n_steps < 1):
        raise CdigValueError(f"n_steps={n_steps!r}: expected a positive integer or 'auto'")
    if not is_int(seed) or seed < 0:
        raise CdigValueError(f"seed={seed!r}: expected a non-negative integer")


def _imports() -> tuple[Any, Any]:
    try:
        import torch
        from sklearn.decomposition import FastICA
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"the cdig demo needs torch and scikit-learn ({e.name} is missing): pip install 'cdig[all]'") from None
    return torch, FastICA


def _train(
    torch: Any, x: np.ndarray, y: np.ndarray, epochs: int, seed: int, progress: bool
) -> tuple[Any, dict[str, list[float]]]:
    model = make_model(x.shape[1])
    history = train_classifier(
        model, x, y, epochs, batch_size=BATCH_SIZE, lr=LEARNING_RATE, seed=seed, progress=progress, desc="cdig demo: training"
    )
    return model, history


def _balanced(candidates: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``candidates`` (in order), alternating class 1 and class 0."""
    ones, zeros = candidates[y[candidates] == 1], candidates[y[candidates] == 0]
    n1 = min(len(ones), max(n - len(zeros), (n + 1) // 2))
    n0 = min(len(zeros), n - n1)
    picked = np.empty(n1 + n0, dtype=np.int64)
    k = min(n1, n0)
    picked[: 2 * k : 2], picked[1 : 2 * k : 2] = ones[:k], zeros[:k]
    picked[2 * k :] = ones[k:n1] if n1 > k else zeros[k:n0]
    return picked


def _cross_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Correlation of each column of ``a`` with each column of ``b``, shape (a cols, b cols)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    return a.T @ b / len(a)


def _mean_fourier_figure(att: Any, y: np.ndarray, band: tuple[float, float]) -> Any:
    from cdig.plot._mpl import UNIT, bars_note, new_figure, signed_bars

    freq = np.asarray(att.coords["frequency"], dtype=float)
    unit = att.units.get("frequency", "")
    fig = new_figure((9.0, 4.6))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, cls in zip(axes, (1, 0)):
        sel = y == cls
        mean = att.values[sel].sum(axis=1).mean(axis=0) if sel.any() else np.zeros_like(freq)
        ax.axvspan(band[0], band[1], color="#f1c40f", alpha=0.25, lw=0, label=f"planted band {band[0]:g}-{band[1]:g} {unit}")
        _, _, starts = signed_bars(ax, freq, mean, 9.0 - 1.1)  # bars summed over bins when there are too many
        note = bars_note(len(freq), starts, freq, unit)
        ax.set_ylabel(f"mean {UNIT}" + (f"\n{note}" if note else ""), fontsize=8)
        ax.set_title(f"class {cls} ({int(sel.sum())} explained samples, target: predicted class)", fontsize=9)
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    axes[-1].set_xlabel(f"frequency ({unit})" if unit else "frequency")
    fig.suptitle("Fourier IG averaged over the explained samples of each class")
    return fig


def _report(s: dict[str, Any]) -> None:
    d, f, i = s["deltas"], s["fourier"], s["ica"]
    print(f"cdig demo: held-out accuracy {s['accuracy']:.3f} ({s['data']['n_test']} samples)")
    print("  completeness: max relative |delta| " + ", ".join(f"{k} {v['max_relative_delta']:.1e}" for k, v in d.items()))
    print(
        f"  Fourier: top bin in the planted band {f['band_hz'][0]:g}-{f['band_hz'][1]:g} Hz for "
        f"{100 * f['top_bin_in_band_fraction']:.0f}% of {s['explained']['n_class1']} explained class-1 samples"
    )
    print(
        f"  ICA: component {i['planted_component']} matches the planted source (|r| = "
        f"{i['planted_correlation']:.3f}); it is the top component for "
        f"{100 * i['top_is_planted_fraction']:.0f}% of them"
    )
    print(f"  {s['runtime_s']['total']:.1f} s in all; wrote {len(s['files'])} files to {s['out_dir']}:")
    print("    " + ", ".join(s["files"]))
