"""``cdig demo --real``: the whole job on real data, ACSF1 appliance power curves in the frequency domain.

Trains the demo's CNN (three strided GELU convolutions) on the ACSF1 problem of the UCR archive —
power drawn by ten kinds of home appliance, one reading every 10 s for about four hours (1460 steps,
100 training and 100 test curves), read offline from the files that ship inside sktime's wheel
(:func:`cdig.datasets.real.load_ucr`) — then explains the predicted class of held-out curves in the time
and Fourier domains and in named frequency bands (:class:`cdig.FrequencyBands`), and sets the share
of the attribution in each band against the share of the signal's power there.

ACSF1 as distributed is a pulse train: one non-zero reading in four, so most of the power sits in
two spectral lines, 0.025 Hz (period 40 s) and 0.05 Hz (Nyquist), while the appliance's load
envelope lives at low frequencies; :data:`ACSF1_BANDS` names those regions.

The same pipeline, written as a user script, is ``examples/acsf1_fourier.py`` in the repository.
This module is an edge: it uses cdig's public API; torch, matplotlib and the data files are needed
when :func:`run_real_demo` runs (``pip install 'cdig[examples]'``).

Files written into ``out_dir`` by :class:`cdig.results.ResultWriter` (the conventions of
:func:`cdig.demo.run_demo`):

``time.npz``, ``fourier.npz``, ``bands.npz``
    One :class:`cdig.Attribution` per domain.
``explained.npz``
    ``x`` ``(n, 1, 1460)``, ``y`` (true class), ``predicted``, ``index`` (row in the test split).
``summary.json``
    ``schema_version``, accuracy, per-domain completeness errors, band shares, settings, runtimes, files.
``time.png``, ``fourier.png``, ``bands.png``, ``band_shares.png``
    One explained curve per domain, and the mean shares of attribution and power per band.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import CdigValueError
from .results import ResultWriter, deltas_summary
from .training import make_model, torch_settings, train_classifier

__all__ = ["run_real_demo", "ACSF1_BANDS", "ACSF1_FS", "REAL_EPOCHS"]

#: Sampling rate of ACSF1 (Hz): one reading every 10 s.
ACSF1_FS = 0.1
#: Training epochs of ``cdig demo --real`` (about 10 s on one core; ~0.84 held-out accuracy).
REAL_EPOCHS = 150
_HALF_BIN = 0.5 * ACSF1_FS / 1460
#: Named bands (Hz, half-open): the load envelope, the two lines of the 40 s pulse train; the rest is "other".
ACSF1_BANDS: dict[str, tuple[float, float]] = {
    "slow (> 5 min)": (0.0, 1 / 300),
    "80 s-5 min": (1 / 300, 1 / 80),
    "40 s line": (0.025 - _HALF_BIN, 0.025 + _HALF_BIN),
    "20 s line": (0.05 - _HALF_BIN, 0.06),
}
_BATCH_SIZE = 16
_LEARNING_RATE = 3e-3


def run_real_demo(
    out_dir: str | Path = "cdig-demo-real",
    n_explain: int = 32,
    epochs: int = REAL_EPOCHS,
    n_steps: int | str = 32,
    seed: int = 0,
    progress: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train a CNN on ACSF1, explain held-out curves in time, Fourier and named bands; write everything.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the files (created if needed; existing files of the same names are overwritten).
    n_explain : int
        Held-out curves to explain, 2 to 100, taken round-robin over the ten classes.
    epochs : int
        Training epochs (default :data:`REAL_EPOCHS`; about 40 already gives ~0.65 accuracy).
    n_steps : int or "auto"
        Gauss–Legendre points per sample, or ``"auto"`` (adaptive).
    seed : int
        Seed of the network's initialisation and batch order.
    progress, verbose : bool
        Progress bars; print the results and where the files are.

    Returns
    -------
    dict
        The summary also written to ``summary.json`` (keys ``schema_version``, ``cdig_version``,
        ``accuracy``, ``deltas``, ``bands``, ``fourier``, ``data``, ``model``, ``explained``,
        ``settings``, ``runtime_s``, ``out_dir``, ``files``).

    Raises
    ------
    ImportError
        When torch, matplotlib or the data files (sktime) are missing: ``pip install 'cdig[examples]'``.
    ValueError
        For arguments out of range.

    Examples
    --------
    >>> summary = run_real_demo("cdig-demo-real", n_explain=10, epochs=20)     # doctest: +SKIP
    >>> summary["accuracy"] > 0.1                                              # doctest: +SKIP
    True
    """
    from .demo import _check_args

    t_start = time.perf_counter()
    _check_args(n_explain, epochs, n_steps, seed)
    torch = _imports()
    import cdig
    from cdig.datasets.real import load_ucr

    writer = ResultWriter(out_dir)
    train, test = load_ucr("ACSF1", "train"), load_ucr("ACSF1", "test")
    n_classes = len(train.classes)
    with torch_settings(torch, seed):
        t0 = time.perf_counter()
        model = make_model(1, n_classes, width=16, n_layers=3, stride=2)
        history = train_classifier(
            model,
            train.X,
            train.y,
            epochs,
            batch_size=_BATCH_SIZE,
            lr=_LEARNING_RATE,
            seed=seed,
            progress=progress,
            desc="cdig demo --real: training",
        )
        with torch.no_grad():
            test_pred = model(torch.from_numpy(test.X)).argmax(dim=1).numpy()
        accuracy = float(np.mean(test_pred == test.y))
        t_train = time.perf_counter() - t0

        t0 = time.perf_counter()
        pick = _round_robin(test.y, n_explain)
        x, y, predicted = test.X[pick], test.y[pick], test_pred[pick]
        domains = ("time", "fourier", cdig.FrequencyBands(ACSF1_BANDS, fs=ACSF1_FS, remainder="other"))
        maps = cdig.explain(
            model, torch.from_numpy(x), domains, target=predicted.tolist(), fs=ACSF1_FS, n_steps=n_steps, progress=progress
        )
        t_explain = time.perf_counter() - t0

    t0 = time.perf_counter()
    names = [*ACSF1_BANDS, "other"]
    bands, fourier = maps["bands"], maps["fourier"]
    attribution_share = _mean_share(np.abs(bands.values[:, 0]).astype(np.float64))
    freq = np.asarray(fourier.coords["frequency"])
    power = np.abs(np.fft.rfft(x[:, 0].astype(np.float64), axis=-1)) ** 2
    in_band = np.stack([power[:, (freq >= lo) & (freq < hi)].sum(axis=1) for lo, hi in ACSF1_BANDS.values()], 1)
    other = power.sum(axis=1, keepdims=True) - in_band.sum(axis=1, keepdims=True)
    power_share = _mean_share(np.concatenate([in_band, other], axis=1))
    top_hz = freq[np.argmax(np.abs(fourier.values[:, 0]), axis=1)]

    writer.save_maps(maps)
    writer.save_explained(x=x, y=y, predicted=predicted, index=pick)
    from cdig.plot import plot_bands, plot_fourier, plot_time

    show = int(np.flatnonzero(predicted == y)[0]) if np.any(predicted == y) else 0
    label = f"ACSF1 test curve {pick[show]} (class {test.classes[y[show]]}, predicted {test.classes[predicted[show]]})"
    writer.save_figures(
        {
            "time": lambda: plot_time(maps["time"], show, title=f"{label}: time-domain IG"),
            "fourier": lambda: plot_fourier(fourier, show, title=f"{label}: Fourier IG"),
            "bands": lambda: plot_bands(bands, show, title=f"{label}: IG per band"),
            "band_shares": lambda: _share_figure(names, attribution_share, power_share, len(pick)),
        },
        dpi=100,
    )
    t_write = time.perf_counter() - t0

    summary = writer.write_summary(
        {
            "accuracy": accuracy,
            "deltas": deltas_summary(maps),
            "bands": {
                "names": names,
                "edges_hz": [list(e) for e in ACSF1_BANDS.values()],
                "attribution_share": np.round(attribution_share, 4).tolist(),
                "power_share": np.round(power_share, 4).tolist(),
                "meaning": "mean over explained curves of |band attribution| / sum of |band attributions|, "
                "and of the band's share of the curve's power",
            },
            "fourier": {"top_bin_hz": top_hz.tolist(), "median_top_bin_hz": float(np.median(top_hz))},
            "data": {
                "name": "ACSF1",
                "source": str(train.path.parent),
                "n_train": int(len(train.y)),
                "n_test": int(len(test.y)),
                "n_channels": 1,
                "length": int(train.X.shape[2]),
                "fs": ACSF1_FS,
                "classes": list(train.classes),
            },
            "model": {
                "architecture": str(model),
                "n_parameters": int(sum(p.numel() for p in model.parameters())),
                "train_loss": history["loss"],
                "train_accuracy": history["accuracy"],
            },
            "explained": {
                "n": int(len(pick)),
                "index": pick.tolist(),
                "y": y.tolist(),
                "predicted": predicted.tolist(),
                "target": "the predicted class (logit), from the zero baseline (the curves are z-normalised)",
            },
            "settings": {
                "n_explain": n_explain,
                "epochs": epochs,
                "n_steps": n_steps,
                "method": "gausslegendre" if n_steps != "auto" else "gausskronrod_adaptive",
                "seed": seed,
                "batch_size": _BATCH_SIZE,
                "learning_rate": _LEARNING_RATE,
                "torch_threads": 1,
            },
            "runtime_s": {
                "train": round(t_train, 3),
                "explain": round(t_explain, 3),
                "write": round(t_write, 3),
                "total": round(time.perf_counter() - t_start, 3),
            },
        }
    )
    if verbose:
        _report(summary)
    return summary


def _imports() -> Any:
    try:
        import matplotlib  # noqa: F401
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"cdig demo --real needs torch, matplotlib and sktime's data files ({e.name} is missing): "
            "pip install 'cdig[examples]'"
        ) from None
    from .datasets.real import _roots

    if not _roots():
        raise ImportError(
            "cdig demo --real reads the ACSF1 data set from the files that ship inside sktime's wheel, and "
            "sktime is not installed: pip install 'cdig[examples]'"
        )
    return torch


def _round_robin(y: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices of ``y``, cycling over the classes (the first of each class, then the second, ...)."""
    if n > len(y):
        raise CdigValueError(f"n_explain={n}: the test split has only {len(y)} curves")
    rank = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        rank[y == c] = np.arange(int(np.sum(y == c)))
    order = np.lexsort((y, rank))  # by rank within the class, then by class
    return np.sort(order[:n])


def _mean_share(v: np.ndarray) -> np.ndarray:
    total = v.sum(axis=1, keepdims=True)
    return (v / np.where(total > 0, total, 1.0)).mean(axis=0)


def _share_figure(names: list[str], attribution: np.ndarray, power: np.ndarray, n: int) -> Any:
    from cdig.plot._mpl import POSITIVE, new_figure

    fig = new_figure((7.0, 3.2))
    ax = fig.subplots()
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, attribution, 0.4, color=POSITIVE, label="share of |attribution| (IG)")
    ax.bar(pos + 0.2, power, 0.4, color="0.6", label="share of signal power")
    ax.set_xticks(pos, names, fontsize=8)
    ax.set_ylabel(f"share (mean over {n} curves)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("ACSF1: the time scales the CNN uses vs where the power is", fontsize=10)
    return fig


def _report(s: dict[str, Any]) -> None:
    b = s["bands"]
    print(
        f"cdig demo --real: ACSF1 held-out accuracy {s['accuracy']:.2f} ({s['data']['n_test']} curves, 10 classes, chance 0.10)"
    )
    print(
        "  completeness: max relative |delta| " + ", ".join(f"{k} {v['max_relative_delta']:.1e}" for k, v in s["deltas"].items())
    )
    print(f"  {'band':>16}  |attribution|  power   (mean shares over {s['explained']['n']} explained curves)")
    for name, a, p in zip(b["names"], b["attribution_share"], b["power_share"]):
        print(f"  {name:>16}  {a:13.2f}  {p:5.2f}")
    print(f"  {s['runtime_s']['total']:.1f} s in all; wrote {len(s['files'])} files to {s['out_dir']}:")
    print("    " + ", ".join(s["files"]))
