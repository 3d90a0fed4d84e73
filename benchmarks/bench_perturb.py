"""Perturbation attributions: model calls per explained sample at a stated accuracy, exact vs sampled
Shapley values, and the domain ranking on real and planted data.

Three parts, each printed as Markdown tables (``--markdown FILE`` writes them all to one file):

``calls``   Model calls per explained sample each method needs, on a fixed nonlinear PyTorch CNN and a
            numpy MLP (``(N, 128)`` signals, the Fourier domain's 65 bins grouped into ``BANDS_CALLS``
            contiguous frequency bands, the players). Exact Shapley values cost ``2**G`` calls;
            permutation-sampled Shapley values and RISE masks are run at ``n_samples`` 2, 4, 8, ...
            until every explained sample's relative L2 error against the exact Shapley values is at
            most ``TOL`` (5 %). RISE estimates the Banzhaf value, not the Shapley value: its calls to
            ``TOL`` of its own limit (the exact Banzhaf value) are reported too. Occlusion costs
            ``G + 2`` calls and computes a different quantity: its distance to the Shapley values is
            reported. Integrated Gradients with ``n_steps="auto"`` at ``rtol=1e-3`` (PyTorch model
            only: the numpy model has no gradients) counts gradient evaluations; the cost of one
            gradient in forward calls is measured on the same model. Wall time: each method's
            ``cdig.explain`` call at that setting over the exact Shapley call, interleaved rounds.
``shapley`` Exact Shapley values on ``BANDS_SHAPLEY`` (12) bands against permutation sampling at
            ``n_samples`` 2, 4, ..., 256 and RISE masks at the same number of calls: the true error
            (relative L2 against the exact values), the reported standard error
            (``settings["relative_standard_error"]``), their ratio and the share of the 95 % intervals
            (value ± 1.96 standard errors) holding the exact value: is the standard error calibrated?
            A figure: ``--figure FILE`` (docs/img/bench_perturb_convergence.png).
``rank``    ``cdig.ranking.rank_domains`` on the four real-data examples (``examples/*.py``: their
            model, trained as their ``--quick`` run trains it, and a handful of their samples) and on
            the four planted tasks of :mod:`cdig.datasets.planted` (a CNN trained as
            :mod:`cdig.metrics.planted` trains it): the domains best first, and whether the planted
            domain comes first.

The reference values (exact Shapley and Banzhaf values) are computed here from every coalition's
output, independently of cdig (numpy's rFFT, the bins of the coalition's bands kept, the rest zeroed,
inverted); cdig's exact Shapley values are checked against them.

    python benchmarks/bench_perturb.py --quick --threads 1     # ~20 s on 2 CPU cores
    python benchmarks/bench_perturb.py --threads 1 --markdown perturb.md --figure docs/img/bench_perturb_convergence.png
                                                               # the documented run: ~1 min on 2 CPU cores

On a small shared machine, ``--threads 1``: torch's default of one thread per core made the timings of
small calls erratic (ratios up to 4x apart between runs) and the whole run 2-4x slower.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import Row, describe_machine, load_average, measure, print_table, ratios, write_json  # noqa: E402

import cdig  # noqa: E402

EXAMPLES = HERE.parent / "examples"
T = 128  # signal length: 65 rFFT bins
BANDS_CALLS = 10
BANDS_SHAPLEY = 12
TOL = 0.05  # the stated accuracy: relative L2 error of every explained sample's map
IG_RTOL = 1e-3
PERMUTATIONS = (2, 4, 8, 16, 32, 64, 128, 256)


# --- the two fixed models and their signals ------------------------------------------------------
class TanhCNN(nn.Module):
    """Two tanh convolutions, the log of their mean energy, a linear read-out: random weights (fan-in scaled, times
    ``gain``), not trained. Not additive in the bands: occlusion is ~70 % and the Banzhaf value ~3-18 % from the
    Shapley values."""

    def __init__(self, width: int = 8, gain: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.c1 = nn.Conv1d(1, width, 9, padding=4)
        self.c2 = nn.Conv1d(width, width, 9, padding=4)
        self.head = nn.Linear(width, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(max(p[0].numel(), 1)))
            self.c1.weight.mul_(gain)
            self.c2.weight.mul_(gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T) -> (N,)
        h = torch.tanh(self.c2(torch.tanh(self.c1(x[:, None, :]))))
        return self.head(torch.log1p((h**2).mean(dim=-1)))[:, 0]


class NumpyMLP:
    """A numpy function: ``tanh(x W1) w2 + (tanh(x W1) w3)**2``, fixed random weights."""

    def __init__(self, hidden: int = 16, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = rng.standard_normal((T, hidden)) / math.sqrt(T)
        self.w2 = rng.standard_normal(hidden)
        self.w3 = rng.standard_normal(hidden) / 2

    def __call__(self, x: np.ndarray) -> np.ndarray:  # (N, T) -> (N,)
        h = np.tanh(x @ self.w1)
        return h @ self.w2 + (h @ self.w3) ** 2


def signals(n: int, seed: int = 0) -> np.ndarray:
    """``(n, T)`` float32: six tones of random frequency, amplitude and phase plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    x = 0.3 * rng.standard_normal((n, T))
    for _ in range(6):
        f = rng.uniform(1, T / 2 - 1, (n, 1))
        x += rng.uniform(0.3, 1.0, (n, 1)) * np.sin(2 * np.pi * f * t / T + rng.uniform(0, 2 * np.pi, (n, 1)))
    return x.astype(np.float32)


def band_labels(n_bands: int) -> np.ndarray:
    """The group of each of the ``T // 2 + 1`` rFFT bins: ``n_bands`` contiguous bands of about equal width."""
    f = T // 2 + 1
    return np.minimum(np.arange(f) * n_bands // f, n_bands - 1)


def _torch_fn(model: nn.Module, device: str) -> Callable[[np.ndarray], np.ndarray]:
    def run(s: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(s, dtype=torch.float32, device=device)).double().cpu().numpy()

    return run


# --- the reference: every coalition's output, computed here -------------------------------------
def game_table(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``v[i, S]`` for every sample ``i`` and coalition code ``S`` (bit ``g`` set: band ``g`` kept)."""
    g = int(labels.max()) + 1
    codes = np.arange(2**g)
    keep = ((codes[:, None] >> np.arange(g)) & 1).astype(bool)[:, labels]  # (2**G, bins)
    z = np.fft.rfft(x.astype(np.float64), axis=-1)
    return np.stack([fn(np.fft.irfft(z[i] * keep, n=x.shape[-1], axis=-1)) for i in range(len(x))])


def shapley_banzhaf(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley and Banzhaf values ``(N, G)`` from the table of :func:`game_table`."""
    n, k = v.shape
    g = k.bit_length() - 1
    codes = np.arange(k)
    size = np.array([bin(c).count("1") for c in codes])
    weight = np.array([math.factorial(s) * math.factorial(g - s - 1) / math.factorial(g) for s in range(g)])
    shap, banz = np.empty((n, g)), np.empty((n, g))
    for i in range(g):
        without = codes[((codes >> i) & 1) == 0]
        diff = v[:, without | (1 << i)] - v[:, without]
        shap[:, i] = diff @ weight[size[without]]
        banz[:, i] = diff.mean(axis=1)
    return shap, banz


def rel_l2(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per sample, ``||a - ref|| / ||ref||``."""
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return np.linalg.norm(a - ref, axis=1) / np.linalg.norm(ref, axis=1)


def _explain(model: Any, x: Any, labels: np.ndarray, method: str, **kw: Any) -> cdig.Attribution:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        return cdig.explain(model, x, "fourier", method=method, groups=labels, **kw)["fourier"]


def _band_sums(att: cdig.Attribution, labels: np.ndarray) -> np.ndarray:
    """An IG Fourier map ``(N, bins)`` summed per band: ``(N, G)``."""
    v = np.asarray(att.values, dtype=np.float64)
    return np.stack([v[:, labels == g].sum(axis=1) for g in range(int(labels.max()) + 1)], axis=1)


def _first_within(grid: Any, run: Callable[[int], np.ndarray], tol: float) -> tuple[int | None, float]:
    """The first ``n`` of ``grid`` whose errors (one per sample) are all <= tol, and the last largest error."""
    worst = float("nan")
    for n in grid:
        worst = float(np.max(run(n)))  # NaN (a refused n) is never within
        if worst <= tol:
            return n, worst
    return None, worst


def _models(quick: bool, device: str) -> dict[str, tuple[Any, Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]]:
    """name -> (model, x as the model takes it, x as numpy, numpy function) for the two fixed models."""
    n = 4 if quick else 8
    xn = signals(n)
    cnn = TanhCNN().to(device).eval()
    mlp = NumpyMLP()
    return {
        "torch CNN": (cnn, torch.from_numpy(xn).to(device), xn, _torch_fn(cnn, device)),
        "numpy MLP": (mlp, xn.astype(np.float64), xn.astype(np.float64), mlp),
    }


# --- part (a): calls per explained sample at TOL ------------------------------------------------
def gradient_cost(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Time of one forward+backward pass over the time of one forward pass (no gradients), same rows."""
    rows = x.repeat(max(1, 256 // len(x)), 1)

    def fwd() -> None:
        with torch.no_grad():
            model(rows)

    def grad() -> None:
        r = rows.clone().requires_grad_(True)
        torch.autograd.grad(model(r).sum(), r)

    t = measure({"forward": fwd, "gradient": grad}, repeats=max(repeats, 5))
    return ratios(t["gradient"]["times_s"], t["forward"]["times_s"])["paired"]


def calls_part(quick: bool, device: str) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    md = [
        f"**Model calls per explained sample for a relative L2 error <= {TOL:.0%}** ({BANDS_CALLS} frequency bands of the "
        f"Fourier domain, T = {T}, error against the exact Shapley values, the largest over the explained samples; wall "
        "time of the `cdig.explain` call over the exact Shapley call's, measured in the same interleaved rounds)",
        "",
    ]
    for name, (model, x, xn, fn) in _models(quick, device).items():
        print(f"[perturb] calls: {name}")
        r, m = _calls_one(name, model, x, xn, fn, quick)
        rows += r
        md += m
    return rows, md


def _calls_one(name: str, model: Any, x: Any, xn: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], quick: bool) -> Any:
    """Part (a) for one model: its table (Markdown lines) and rows."""
    labels = band_labels(BANDS_CALLS)
    g = BANDS_CALLS
    repeats = 1 if quick else 3
    perm_grid = [2**k for k in range(1, 11)]
    rise_grid = [2**k for k in range(1, 14 if quick else 16)]
    shap, banz = shapley_banzhaf(game_table(fn, xn, labels))
    exact = _explain(model, x, labels, "shapley")
    exact_err = float(rel_l2(exact.values, shap).max())
    n_perm, perm_err = _first_within(
        perm_grid, lambda n: rel_l2(_explain(model, x, labels, "shapley", n_samples=n).values, shap), TOL
    )
    rise_cache: dict[int, np.ndarray] = {}

    def rise(n: int) -> np.ndarray:
        if n not in rise_cache:
            try:
                rise_cache[n] = _explain(model, x, labels, "rise", n_samples=n).values
            except cdig.CdigValueError:  # too few masks to keep and drop every group: refused
                rise_cache[n] = np.full_like(shap, np.nan)
        return rise_cache[n]

    n_rise, rise_err = _first_within(rise_grid, lambda n: rel_l2(rise(n), shap), TOL)
    n_rise_b, rise_b_err = _first_within(rise_grid, lambda n: rel_l2(rise(n), banz), TOL)
    occ = _explain(model, x, labels, "occlusion")
    occ_err = float(rel_l2(occ.values, shap).max())
    banz_bias = float(rel_l2(banz, shap).max())
    fns: dict[str, Callable[[], Any]] = {
        "exact": lambda: _explain(model, x, labels, "shapley"),
        "occlusion": lambda: _explain(model, x, labels, "occlusion"),
    }
    if n_perm:
        fns["permutation"] = lambda: _explain(model, x, labels, "shapley", n_samples=n_perm)
    if n_rise_b:
        fns["rise"] = lambda: _explain(model, x, labels, "rise", n_samples=n_rise_b)
    ig = None
    if isinstance(model, nn.Module):
        fns["ig"] = lambda: cdig.explain(model, x, "fourier", n_steps="auto", rtol=IG_RTOL)["fourier"]
        ig = fns["ig"]()
        ig_err = float(rel_l2(_band_sums(ig, labels), shap).max())
    t = measure(fns, repeats=repeats, warmup=0 if quick else 1)

    def ratio(key: str) -> str:
        return f"{ratios(t[key]['times_s'], t['exact']['times_s'])['paired']:.2f}" if key in t else "-"

    table = [
        ["exact Shapley", f"{2**g}", f"{exact_err:.1e} (vs the reference computed here)", "1.00"],
        [
            "sampled Shapley (permutations)",
            f"{2 + n_perm * (g - 1)} ({n_perm} permutations)" if n_perm else f"> {2 + perm_grid[-1] * (g - 1)}",
            f"{perm_err:.3f}",
            ratio("permutation"),
        ],
        [
            "RISE, against the Shapley values",
            f"{n_rise + 2} ({n_rise} masks)" if n_rise else f"not reached by {rise_grid[-1]} masks",
            f"{rise_err:.3f} (its limit, the Banzhaf value, is {banz_bias:.3f} from the Shapley values)",
            "-",
        ],
        [
            "RISE, against its own limit (Banzhaf)",
            f"{n_rise_b + 2} ({n_rise_b} masks)" if n_rise_b else f"> {rise_grid[-1] + 2}",
            f"{rise_b_err:.3f}",
            ratio("rise"),
        ],
        ["occlusion (a different quantity)", f"{g + 2}", f"{occ_err:.3f}", ratio("occlusion")],
    ]
    if ig is not None:
        steps = np.asarray(ig.n_steps)
        cost = gradient_cost(model, x, repeats)
        table.append(
            [
                f'IG, n_steps="auto", rtol={IG_RTOL:g} (band sums; a different quantity)',
                f"{steps.max()} gradients (mean {steps.mean():.0f}; 1 gradient = {cost:.1f} forward calls here)",
                f"{ig_err:.3f}",
                ratio("ig"),
            ]
        )
    else:
        table.append(["IG", "n/a: a numpy function has no gradients", "-", "-"])
    headers = ["method", "calls / sample", "error vs exact Shapley", "time / exact"]
    print_table(headers, table)
    md = [f"*{name}* ({len(xn)} samples):", "", *_markdown(headers, table), ""]
    rows = [
        Row(
            "perturb",
            f"{name}: cdig exact Shapley vs the reference computed here",
            exact_err,
            f"{exact_err:.1e}",
            "<= 1e-4",
            exact_err <= 1e-4,
        ),
        Row(
            "perturb",
            f"{name}: calls/sample of sampled Shapley for error <= {TOL:g} (exact: {2**g})",
            None if n_perm is None else float(2 + n_perm * (g - 1)),
            table[1][1],
            details={"error": perm_err},
        ),
        Row(
            "perturb",
            f"{name}: calls/sample of RISE for error <= {TOL:g} of its limit (Banzhaf)",
            None if n_rise_b is None else float(n_rise_b + 2),
            table[3][1],
            details={"error_vs_banzhaf": rise_b_err, "error_vs_shapley": rise_err, "banzhaf_vs_shapley": banz_bias},
        ),
        Row("perturb", f"{name}: occlusion's distance to the Shapley values", occ_err, f"{occ_err:.3f}"),
    ]
    return rows, md


# --- part (b): exact vs sampled Shapley values on 12 bands ---------------------------------------
def shapley_part(quick: bool, device: str, figure: str | None) -> tuple[list[Row], list[str]]:
    labels = band_labels(BANDS_SHAPLEY)
    g = BANDS_SHAPLEY
    grid = PERMUTATIONS[:6] if quick else PERMUTATIONS
    rows: list[Row] = []
    md = [
        f"**Exact Shapley values on {g} bands ({2**g} calls per sample) against sampling**: relative L2 error "
        "against the exact values (mean over the samples; largest in brackets), the reported relative standard error "
        "`settings['relative_standard_error']` (mean), the true error over the reported one (median over samples; 1 "
        "is calibrated) and the share of the 95 % intervals (value ± 1.96 standard errors) that hold the exact value. "
        "RISE runs the same number of calls (masks = calls - 2); its error is given against the Shapley values and "
        "against its own limit, the Banzhaf value.",
        "",
    ]
    curves: dict[str, dict[str, list[float]]] = {}
    for name, (model, x, xn, fn) in _models(quick, device).items():
        print(f"[perturb] shapley: {name}")
        shap, banz = shapley_banzhaf(game_table(fn, xn, labels))
        exact = _explain(model, x, labels, "shapley")
        exact_err = float(rel_l2(exact.values, shap).max())
        table = []
        c: dict[str, list[float]] = {k: [] for k in ("calls", "perm", "perm_se", "rise", "rise_banzhaf", "rise_se")}
        for n in grid:
            perm = _explain(model, x, labels, "shapley", n_samples=n)
            calls = int(perm.n_steps[0])
            err = rel_l2(perm.values, shap)
            se = np.asarray(perm.extras["standard_error"], dtype=np.float64)
            rse = np.asarray(perm.settings["relative_standard_error"], dtype=np.float64)
            rise = _explain(model, x, labels, "rise", n_samples=calls - 2)
            r_err, r_berr = rel_l2(rise.values, shap), rel_l2(rise.values, banz)
            r_rse = np.asarray(rise.settings["relative_standard_error"], dtype=np.float64)
            r_se = np.asarray(rise.extras["standard_error"], dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = float(np.median(err / rse)) if np.all(np.isfinite(rse)) else float("nan")
                cover = float(np.mean(np.abs(perm.values - shap) <= 1.96 * se)) if np.all(np.isfinite(se)) else float("nan")
                r_ratio = float(np.median(r_berr / r_rse))
                r_cover = float(np.mean(np.abs(rise.values - banz) <= 1.96 * r_se))
            table.append(
                [
                    str(n),
                    str(calls),
                    f"{err.mean():.3f} ({err.max():.3f})",
                    _num(rse.mean()),
                    _num(ratio, 2),
                    _pct(cover),
                    f"{r_err.mean():.3f}",
                    f"{r_berr.mean():.3f} ({r_berr.max():.3f})",
                    _num(r_rse.mean()),
                    _num(r_ratio, 2),
                    _pct(r_cover),
                ]
            )
            for k, v in zip(c, (calls, err.mean(), rse.mean(), r_err.mean(), r_berr.mean(), r_rse.mean())):
                c[k].append(float(v))
            rows.append(
                Row(
                    "perturb",
                    f"{name}: {g} bands, {n} permutations ({calls} calls): error mean; true/reported SE; 95% coverage",
                    float(err.mean()),
                    f"{err.mean():.3f}; {_num(ratio, 2)}; {_pct(cover)}",
                    details={"rise_error_vs_shapley": float(r_err.mean()), "rise_error_vs_banzhaf": float(r_berr.mean())},
                )
            )
        curves[name] = c
        headers = [
            "permutations",
            "calls",
            "error",
            "reported SE",
            "true / reported",
            "95% coverage",
            "RISE error vs Shapley",
            "RISE error vs Banzhaf",
            "RISE reported SE",
            "RISE true / reported",
            "RISE 95% coverage",
        ]
        bias = float(rel_l2(banz, shap).mean())
        md += [
            f"*{name}* ({len(xn)} samples; cdig's exact values vs the reference: {exact_err:.1e}; the Banzhaf value is "
            f"{bias:.3f} from the Shapley value):",
            "",
            *_markdown(headers, table),
            "",
        ]
        print_table(headers, table)
    if figure:
        _figure(curves, g, figure)
        md += [f"Figure: `{figure}`.", ""]
    return rows, md


def _figure(curves: dict[str, dict[str, list[float]]], g: int, path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(curves), sharey=True))
    for ax, (name, c) in zip(axes, curves.items()):
        ax.loglog(c["calls"], c["perm"], "o-", color="#2c7fb8", label="permutations: true error")
        ax.loglog(c["calls"], c["perm_se"], "o--", color="#2c7fb8", alpha=0.5, label="permutations: reported SE")
        ax.loglog(c["calls"], c["rise"], "s-", color="#e6550d", label="RISE: error vs Shapley")
        ax.loglog(c["calls"], c["rise_banzhaf"], "s:", color="#e6550d", label="RISE: error vs Banzhaf (its limit)")
        ax.loglog(c["calls"], c["rise_se"], "s--", color="#e6550d", alpha=0.5, label="RISE: reported SE")
        ax.axhline(TOL, color="0.5", lw=0.8)
        ax.axvline(2**g, color="k", lw=0.8, ls="--")
        ax.annotate(f"exact: {2**g} calls ", (2**g, 0.98), xycoords=("data", "axes fraction"), ha="right", va="top", fontsize=7)
        ax.set_title(f"{name}, {g} bands", fontsize=9)
        ax.set_xlabel("model calls per sample")
    axes[0].set_ylabel("relative L2 error (mean)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=7, frameon=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"[perturb] wrote {path}")


# --- part (c): rank_domains on the examples and the planted tasks --------------------------------
def _example(name: str) -> ModuleType:
    """An example script as a module (its constants and classes; main() is not run)."""
    spec = importlib.util.spec_from_file_location(f"cdig_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases(quick: bool) -> dict[str, dict[str, Any]]:
    """name -> model, x, domains, the planted domain (None for real data), rank_domains' keywords."""
    from cdig.datasets.planted import TASKS, make_task
    from cdig.datasets.real import available, load_airline, load_mitdb, load_ucr
    from cdig.metrics.planted import _fit_ica
    from cdig.training import make_model, train_classifier, train_regressor

    out: dict[str, dict[str, Any]] = {}
    n_show = 4 if quick else 8
    torch.manual_seed(0)
    if available():
        ex = _example("acsf1_fourier")
        train, test = load_ucr("ACSF1", "train"), load_ucr("ACSF1", "test")
        model = make_model(n_channels=1, n_classes=10, width=16, n_layers=3, stride=2)
        train_classifier(model, train.X, train.y, 40, batch_size=16, lr=3e-3, seed=0)
        x = torch.from_numpy(test.X[:: len(test.X) // n_show][:n_show])
        bands = cdig.FrequencyBands(ex.BANDS, fs=ex.FS, remainder="other")
        out["ACSF1 (acsf1_fourier)"] = dict(
            model=model.eval(),
            x=x,
            domains=("time", "fourier", "dct", "wavelet", bands),
            kw=dict(target=model(x).argmax(1).tolist(), fs=ex.FS),
        )

        ex = _example("airline_trendseason")
        passengers, _ = load_airline()
        series = np.log(passengers)
        w, h = ex.WINDOW, ex.HORIZON
        starts = np.arange(len(series) - w - h + 1)
        X = np.stack([series[s : s + w] for s in starts])[:, None, :].astype(np.float32)
        Y = np.stack([series[s + w : s + w + h] for s in starts]).astype(np.float32)
        is_train = starts + w + h <= len(series) - ex.TEST_MONTHS
        model = ex.Forecaster()
        train_regressor(model, X[is_train], Y[is_train], 150, batch_size=16, lr=3e-3, weight_decay=1e-3, seed=0)
        test_idx = np.flatnonzero(~is_train)
        x = torch.from_numpy(X[test_idx[:: max(1, len(test_idx) // n_show)][:n_show]])
        out["Airline, +1 month (airline_trendseason)"] = dict(
            model=model.eval(),
            x=x,
            domains=("time", "fourier", "dct", "wavelet", cdig.TrendSeason(period=ex.PERIOD)),
            kw=dict(target=0, baselines=x.mean(dim=-1, keepdim=True).expand_as(x)),
        )

        from sklearn.decomposition import FastICA

        train, test = load_ucr("BasicMotions", "train"), load_ucr("BasicMotions", "test")
        mean, std = train.X.mean(axis=(0, 2), keepdims=True), train.X.std(axis=(0, 2), keepdims=True)
        xtr, xte = (train.X - mean) / std, (test.X - mean) / std
        model = make_model(n_channels=6, n_classes=4, width=16)
        train_classifier(model, xtr, train.y, 30, batch_size=8, lr=3e-3, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ica = FastICA(whiten="unit-variance", random_state=0, max_iter=1000).fit(
                xtr.transpose(0, 2, 1).reshape(-1, 6).astype(np.float64)
            )
        x = torch.from_numpy(xte[:: len(xte) // n_show][:n_show].astype(np.float32))
        out["BasicMotions (basicmotions_ica)"] = dict(
            model=model.eval(),
            x=x,
            domains=("time", "fourier", "dct", "wavelet", cdig.ICA(ica)),
            kw=dict(target=model(x).argmax(1).tolist(), fs=train.fs),
        )

        ex = _example("ecg_mitdb")
        signal, label, fs = load_mitdb()
        signal = (signal - signal[: ex.TRAIN_END].mean()) / signal[: ex.TRAIN_END].std()
        past, future = ex.PAST, ex.FUTURE
        starts = np.arange(0, len(signal) - past - future + 1, 10)
        windows = np.stack([signal[s : s + past + future] for s in starts])[:, None, :].astype(np.float32)
        is_train = starts + past + future <= ex.TRAIN_END
        forecaster = ex.Forecaster()
        train_regressor(forecaster, windows[is_train, :, :past], windows[is_train, 0, past:], 30, batch_size=16, lr=3e-3, seed=0)
        model = ex.AnomalyScore(forecaster).eval()
        with torch.no_grad():
            score = model(torch.from_numpy(windows)).numpy()
        held = np.flatnonzero(~is_train)
        top = held[np.argmax(score[held])]
        pick = np.unique(np.concatenate([[top], held[:: max(1, len(held) // (n_show - 1))][: n_show - 1]]))
        out["ECG anomaly score (ecg_mitdb)"] = dict(
            model=model,
            x=torch.from_numpy(windows[pick]),
            domains=("time", "fourier", "dct", "wavelet", cdig.STFT(64, 16)),
            kw=dict(fs=fs),
        )
    else:
        print("[perturb] rank: sktime's data files are not installed: the real-data examples are skipped")

    planted_domain = {"frequency": "fourier", "source": "ica", "season": "trend", "phase": "magphase"}
    for name in TASKS:
        t_case = time.perf_counter()
        task = make_task(name, n=200 if quick else 400, seed=0)
        n_train = (3 * len(task.X)) // 4
        torch.manual_seed(0)
        c, t_len = task.X.shape[1], task.X.shape[2]
        if name == "phase":  # as cdig.metrics.planted: a head that sees positions
            model = nn.Sequential(nn.Conv1d(c, 8, 9, padding=4), nn.GELU(), nn.Flatten(), nn.Linear(8 * t_len, len(task.classes)))
        else:
            model = make_model(c, len(task.classes))
        train_classifier(model, task.X[:n_train], task.y[:n_train], 6 if quick else 12, seed=0)
        xte, yte = task.X[n_train:], task.y[n_train:]
        kw: dict[str, Any] = dict(fs=task.fs)
        if name == "frequency":
            keep, domains = np.arange(n_show), ("time", "fourier", "dct", "wavelet")
            kw["target"] = yte[keep].tolist()
        elif name == "source":
            keep = np.flatnonzero(yte == 1)[:n_show]
            ica, _ = _fit_ica(task, n_train, 0)
            domains, kw["target"] = ("time", "fourier", "dct", cdig.ICA(ica)), 1
        elif name == "season":
            keep = np.flatnonzero(yte == 1)[:n_show]
            domains, kw["target"] = ("time", "fourier", "dct", cdig.TrendSeason(task.truth["period"])), 1
        else:
            keep, domains = np.arange(n_show), ("time", "fourier", "dct", cdig.MagnitudePhase())
            kw["target"] = yte[keep].tolist()
            kw["baselines"] = np.roll(xte[keep], task.truth["baseline_shift"], axis=-1)
        print(f"[perturb] rank: planted {name} trained ({time.perf_counter() - t_case:.0f} s)")
        out[f"planted: {name}"] = dict(
            model=model.eval(), x=torch.from_numpy(xte[keep]), domains=domains, kw=kw, planted=planted_domain[name]
        )
    return out


def rank_part(quick: bool, device: str) -> tuple[list[Row], list[str]]:
    from cdig.ranking import rank_domains

    t0 = time.perf_counter()
    cases = _cases(quick)
    print(f"[perturb] rank: {len(cases)} models trained in {time.perf_counter() - t0:.0f} s")
    rows: list[Row] = []
    summary, full = [], []
    for case, c in cases.items():
        t1 = time.perf_counter()
        model, x = c["model"].to(device), c["x"].to(device)
        kw = dict(c["kw"])
        if isinstance(kw.get("baselines"), np.ndarray):
            kw["baselines"] = torch.from_numpy(kw["baselines"]).to(device)
        elif isinstance(kw.get("baselines"), torch.Tensor):
            kw["baselines"] = kw["baselines"].to(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            r = rank_domains(model, x, c["domains"], **kw)
        planted = c.get("planted")
        first = "-" if planted is None else ("yes" if r.order[0] == planted else f"no (rank {r.order.index(planted) + 1})")
        summary.append([case, str(len(x)), " > ".join(r.order), planted or "-", first, f"{time.perf_counter() - t1:.1f}"])
        for row in r.rows:
            full.append(
                [
                    case if row["rank"] == 1 else "",
                    str(row["rank"]),
                    row["domain"],
                    str(row["n_coefficients"]),
                    f"{row['faithfulness']:.3f}",
                    f"{row['deletion_auc']:.3f}",
                    f"{row['insertion_auc']:.3f}",
                    f"{row['deletion_gain']:+.3f}",
                    f"{row['insertion_gain']:+.3f}",
                    f"{100 * row['concentration']:.1f}%",
                    f"{row['entropy']:.3f}",
                ]
            )
        rows.append(
            Row(
                "perturb",
                f"rank {case}: order" + ("" if planted is None else f" (planted: {planted}; first? {first})"),
                None if planted is None else float(r.order.index(planted) + 1),
                " > ".join(r.order),
                # informative, no verdict: a planted thing can be as sparse in another domain (a period-12
                # pattern is two rFFT bins)
                details={"rows": r.rows, "planted": planted, "planted_first": None if planted is None else r.order[0] == planted},
            )
        )
        print(f"[perturb] rank {case}: {' > '.join(r.order)}")
    head = ["case", "samples", "domains, best first", "planted domain", "planted first?", "seconds"]
    cols = ["case", "rank", "domain", "coefficients", "faithfulness", "deletion_auc", "insertion_auc"]
    cols += ["deletion_gain", "insertion_gain", "concentration", "entropy"]
    md = [
        "**`rank_domains` on the real-data examples and the planted tasks** (n_steps 32, the default fractions; "
        "the columns are explained on the *Ranking domains* page):",
        "",
        *_markdown(head, summary),
        "",
        *_markdown(cols, full),
        "",
    ]
    print_table(head, summary)
    return rows, md


# --- output ------------------------------------------------------------------------------------
def _num(v: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.{digits}f}"


def _pct(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{100 * v:.0f}%"


def _markdown(headers: list[str], table: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"] + [
        "| " + " | ".join(r) + " |" for r in table
    ]


PARTS = ("calls", "shapley", "rank")


def rows(
    quick: bool = False, device: str = "cpu", parts: Any = PARTS, figure: str | None = None, markdown: str | None = None
) -> list[Row]:
    """Every part's rows (the suite's entry point); the Markdown tables are printed and, given, written."""
    out: list[Row] = []
    md: list[str] = []
    for part in parts:
        t0 = time.perf_counter()
        if part == "calls":
            r, m = calls_part(quick, device)
        elif part == "shapley":
            r, m = shapley_part(quick, device, figure)
        else:
            r, m = rank_part(quick, device)
        out += r
        md += m
        print(f"[perturb] {part}: {time.perf_counter() - t0:.0f} s\n")
    text = "\n".join(md) + "\n"
    print(text)
    if markdown:
        Path(markdown).write_text(text, encoding="utf-8")
        print(f"[perturb] wrote {markdown}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer samples, shorter grids, briefer training: a smoke run")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts (default: all): {', '.join(PARTS)}")
    p.add_argument("--json", default=None, metavar="FILE", help="write the machine, the settings and the rows as JSON")
    p.add_argument("--markdown", default=None, metavar="FILE", help="write the Markdown tables to this file")
    p.add_argument("--figure", default=None, metavar="FILE", help="write the convergence figure of part 'shapley' (.png)")
    a = p.parse_args(argv)
    parts = [s.strip() for s in a.only.split(",") if s.strip()]
    if [s for s in parts if s not in PARTS]:
        p.error(f"--only: unknown {[s for s in parts if s not in PARTS]}; parts are {', '.join(PARTS)}")
    if a.threads:
        torch.set_num_threads(a.threads)
    machine = describe_machine(a.device)
    t0 = time.perf_counter()
    out = rows(a.quick, a.device, parts, a.figure, a.markdown)
    print_table(["row", "measured", "value", "target", "verdict"], [(r.row, r.name, r.shown, r.target, r.verdict) for r in out])
    print(
        f"\n{machine['cpu']}, {machine['usable_cores']} usable cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s), device {a.device}; load average {load_average()}; total "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if a.json:
        write_json(a.json, machine, vars(a), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
