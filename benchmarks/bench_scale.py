"""How the cost of cdig.explain grows with the signal's length, its channels and the batch.

A tiny model whose own cost is linear in every size (one ``Conv1d`` with 4 filters of 5 taps, tanh,
mean over time, a linear head) is explained with a few fixed steps (``n_steps=8``, Gauss-Legendre,
the default chunking), so the time measured is cdig's own work around it. Sweeps:

S1. "time" and "fourier": length 1e3 ... 1e6 samples (``--quick``: ... 1e5), batch 1, 1 channel;
S2. "time" and "fourier": channels 1, 4, 16, 64, 256 at length 1000, batch 1;
S3. "time" and "fourier": batch 1, 4, 16, 64, 256, 1024 (``--quick``: ... 256) at length 1000, 1 channel;
S4. "dct", "wavelet" (``Wavelet("db4")``) and "stft" (``STFT(64)``): the lengths of S1, batch 1,
    1 channel. Their transforms are fast algorithms (DCT: an rFFT of length 2T, O(T log T); wavelet:
    the periodized filter bank, O(T F); STFT: gathers and rFFTs of the frames, O(T n_fft/hop)); none
    builds a T x T matrix, so they are held to the same target as the others.

Row value: the slope of log(time) against log(size) fitted over the three largest sizes of the sweep
(where fixed per-call overheads no longer dominate). Target <= 1.15 (linear). For the FFT-based
domains along length ("fourier" in S1, "dct" and "stft" in S4) the slope is fitted against
log(n log n): <= 1.15 means log-linear (the row's details also keep the plain slope against log(n));
the wavelet is fitted against log(n) (linear). Each sweep also times the model's own batched
forward+backward over the same path points in the same chunks ("model alone"): where that grows
faster than linearly too, the machine (caches, memory bandwidth, page faults of large fresh buffers),
not cdig, is what bends the curve.

The allocator. torch has no caching allocator on the CPU: every tensor comes from malloc, and glibc
serves large blocks (always those above 32 MiB) with a fresh ``mmap`` whose pages the kernel faults in and
zeroes on first touch, then returns them with ``munmap``. At the largest sizes here that page-fault
work is two thirds of the time of the model's own forward+backward (on this VM: 1.4 s of which 0.96 s
in the kernel at batch 1024), and it grows faster than the bytes (more and more blocks cross the
threshold). So the sweeps run in a child process whose glibc keeps what it frees
(``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` = 4 GiB, ``MALLOC_TOP_PAD_`` = 256 MiB), as a
caching allocator (PyTorch's on CUDA, jemalloc, tcmalloc) would; S5 (information, full run only)
repeats the time-domain batch sweep with glibc's defaults.

Times are the fastest of interleaved rounds (``_common.measure``: 3 rounds, 7 without ``--quick``,
after a warm-up; on a machine shared with other work the fastest run is the one least disturbed)
with one torch thread (and one BLAS thread where threadpoolctl is installed); only slopes are
reported as values, never absolute times.

    python benchmarks/bench_scale.py --quick                      # well under a minute on 2 CPU cores
    python benchmarks/bench_scale.py --plot docs/img/bench_scale.png   # about 2 minutes on 2 CPU cores
    python benchmarks/bench_scale.py --device cuda --json scale.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, describe_machine, measure, print_table, synchronizer, write_json

N_STEPS = 8
DOMAINS = ("time", "fourier")
#: The domains of S4 (rewritten as fast transforms; once dense T x T matrices).
FAST_DOMAINS = ("dct", "wavelet", "stft")
#: Fitted against n log n along length (FFT-based); the others against n.
FFT_DOMAINS = {"fourier", "dct", "stft"}
FIT_POINTS = 3
TARGET = 1.15
#: Which of measure()'s statistics the fits use: the fastest of the interleaved rounds, the run least
#: slowed by other work on a shared machine.
STAT = "min_s"


def sweeps(quick: bool) -> dict[str, dict[str, Any]]:
    """Per sweep: the sizes, how a size becomes (batch, channels, length), and the domains timed."""
    lengths = [1000, 3000, 10_000, 30_000, 100_000] + ([] if quick else [300_000, 1_000_000])
    return {
        "S1": {"label": "length", "sizes": lengths, "shape": lambda n: (1, 1, n), "domains": DOMAINS},
        "S2": {"label": "channels", "sizes": [1, 4, 16, 64, 256], "shape": lambda c: (1, c, 1000), "domains": DOMAINS},
        "S3": {
            "label": "batch",
            "sizes": [1, 4, 16, 64, 256, 1024] if not quick else [1, 4, 16, 64, 256],
            "shape": lambda b: (b, 1, 1000),
            "domains": DOMAINS,
        },
        "S4": {"label": "length", "sizes": lengths, "shape": lambda n: (1, 1, n), "domains": FAST_DOMAINS},
    }


def make_model(channels: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(channels, 4, 5, padding=2), nn.Tanh(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2)
    ).eval()


def make_domain(name: str) -> Any:
    import cdig

    return {"stft": lambda: cdig.STFT(64), "wavelet": lambda: cdig.Wavelet("db4")}.get(name, lambda: name)()


def fit_slope(sizes: list[float], times: list[float], nlogn: bool = False) -> float:
    """Least-squares slope of log(time) against log(size) (or log(size·log size)) over the last FIT_POINTS."""
    s = np.asarray(sizes[-FIT_POINTS:], dtype=float)
    t = np.asarray(times[-FIT_POINTS:], dtype=float)
    xs = np.log(s * np.log(s)) if nlogn else np.log(s)
    return float(np.polyfit(xs, np.log(t), 1)[0])


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch (and BLAS, through threadpoolctl when installed) on one thread; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield
        else:
            with threadpool_limits(1):
                yield
    finally:
        torch.set_num_threads(before)


def explainer(shape: tuple[int, int, int], domain: str, device: str) -> Callable[[], Any]:
    import torch

    import cdig

    model = make_model(shape[1]).to(device)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(device)
    dom = make_domain(domain)

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cdig.explain(model, x, dom, target=0, n_steps=N_STEPS)

    return run


def plain(shape: tuple[int, int, int], device: str) -> Callable[[], Any]:
    """The model's own batched forward+backward over the same path points, in the same chunks as cdig's
    default (``2**24`` input elements): the reference that says how the model itself scales here."""
    import torch

    from cdig.engine import DEFAULT_CHUNK_ELEMENTS

    model = make_model(shape[1]).to(device)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(device)
    total = shape[0] * N_STEPS
    chunk = max(1, DEFAULT_CHUNK_ELEMENTS // (shape[1] * shape[2]))
    alphas = torch.linspace(0.05, 0.95, N_STEPS, device=device)

    def run() -> None:
        for s in range(0, total, chunk):
            rows = torch.arange(s, min(s + chunk, total), device=device)
            points = (x.index_select(0, rows // N_STEPS) * alphas[rows % N_STEPS, None, None]).requires_grad_(True)
            torch.autograd.grad(model(points)[:, 0].sum(), points)

    return run


def run_sweep(
    sizes: list[int], shape: Callable[[int], tuple], domains: tuple[str, ...], device: str, repeats: int
) -> dict[str, list[float]]:
    """Median times per domain and of the plain model ("model"), all sizes and domains interleaved."""
    fns: dict[tuple[str, int], Callable[[], Any]] = {}
    for n in sizes:
        fns[("model", n)] = plain(shape(n), device)
        for d in domains:
            fns[(d, n)] = explainer(shape(n), d, device)
    res = measure(fns, repeats=repeats, warmup=1, sync=synchronizer(device))
    return {d: [res[(d, n)][STAT] for n in sizes] for d in ("model",) + domains}


#: glibc told to keep the memory it frees (no ``munmap``, no trimming of the heap) in the child that
#: runs the sweeps: see the module docstring.
RETAIN_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32), "MALLOC_TOP_PAD_": str(2**28)}


def rows(quick: bool = False, device: str = "cpu", results: dict | None = None) -> list[Row]:
    """The scaling rows; a sweep that cannot run gives an 'info' row saying why (never raises).

    The sweeps run in a child process whose allocator keeps freed memory (``RETAIN_ENV``); without
    ``quick``, S5 repeats the batch sweep in a child with glibc's defaults. ``results``, when given,
    receives the raw times (for the plot).
    """
    results = {} if results is None else results
    out: list[Row] = []
    jobs = [(["S1", "S2", "S3", "S4"], True)] + ([] if quick else [(["S5"], False)])
    for parts, retain in jobs:
        try:
            got, res = _child(quick, device, parts, retain, timeout=120.0 if quick else 900.0)
        except Exception as exc:  # noqa: BLE001 - the suite must go on
            out.append(
                Row(
                    "/".join(parts),
                    "scaling sweeps",
                    None,
                    "not run",
                    f"<= {TARGET}",
                    None,
                    {"error": f"{type(exc).__name__}: {exc}"},
                )
            )
            continue
        out += got
        results.update(res)
    return out


def _child(quick: bool, device: str, parts: list[str], retain: bool, timeout: float) -> tuple[list[Row], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    if retain:
        env.update(RETAIN_ENV)
    payload = json.dumps({"quick": quick, "device": device, "parts": parts})
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", payload],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"worker failed (exit {proc.returncode}): {tail[0]}")
    out = json.loads(lines[-1][len("RESULT ") :])
    return [Row(**r) for r in out["rows"]], out["results"]


def measure_parts(quick: bool, device: str, parts: list[str], results: dict) -> list[Row]:
    """Run the sweeps named in ``parts`` in this process (the worker's side of :func:`rows`)."""
    import torch

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        return [Row("S", "scaling", None, "not run", "", None, {"error": f"device {device!r}: CUDA is not available"})]
    repeats = 3 if quick else 7
    allocator = "glibc defaults" if not any(k.startswith("MALLOC_") for k in os.environ) else "freed memory kept"
    out: list[Row] = []
    todo = {k: v for k, v in sweeps(quick).items() if k in parts}
    if "S5" in parts:
        todo["S5"] = dict(sweeps(quick)["S3"], label="batch, glibc defaults", domains=("time",))
    with one_thread():
        for key, sw in todo.items():
            span = f"{sw['sizes'][0]:g}..{sw['sizes'][-1]:g}"
            domains = sw["domains"]
            try:
                times = run_sweep(sw["sizes"], sw["shape"], domains, device, repeats)
            except Exception as exc:  # noqa: BLE001 - the suite must go on
                out.append(
                    Row(
                        key,
                        f"time vs {sw['label']} {span}",
                        None,
                        "not run",
                        f"<= {TARGET}",
                        None,
                        {"error": f"{type(exc).__name__}: {exc}"},
                    )
                )
                continue
            results[key] = {"label": sw["label"], "sizes": sw["sizes"], "times": times}
            model_slope = fit_slope(sw["sizes"], times["model"])
            for domain in domains:
                nlogn = sw["label"] == "length" and domain in FFT_DOMAINS
                name = f"{domain}: time vs {sw['label']} {span}, log-log slope" + (" against n log n" if nlogn else "")
                slope = fit_slope(sw["sizes"], times[domain], nlogn)
                plain_slope = fit_slope(sw["sizes"], times[domain])
                info = key == "S5"
                out.append(
                    Row(
                        key,
                        name,
                        slope,
                        f"{slope:.2f} (model alone {model_slope:.2f})",
                        "" if info else f"<= {TARGET}",
                        None if info else slope <= TARGET,
                        {
                            "sizes": sw["sizes"],
                            "seconds": times[domain],
                            "model_seconds": times["model"],
                            "statistic": STAT,
                            "allocator": allocator,
                            "model_slope": model_slope,
                            "fit_points": FIT_POINTS,
                            "nlogn": nlogn,
                            "slope_vs_n": plain_slope,
                            "n_steps": N_STEPS,
                            "repeats": repeats,
                        },
                    )
                )
    return out


def plot(results: dict, path: str | Path) -> Path:
    """Log-log time against size, one panel per sweep, a line per domain, a dotted linear guide.

    S4 (dct, wavelet, stft against length) is drawn in S1's panel, with S1's "model alone" line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("S1", "S2", "S3") if k in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 1.6, 3.0), squeeze=False)
    styles = {"time": ("C0", "o"), "fourier": ("C1", "s"), "dct": ("C2", "^"), "wavelet": ("C3", "v"), "stft": ("C4", "D")}
    for ax, key in zip(axes[0], panels):
        r = results[key]
        sizes = np.asarray(r["sizes"], dtype=float)
        for dom, times in r["times"].items():
            if dom == "model":
                ax.loglog(sizes, times, color="0.55", ls="--", lw=1, label="model fwd+bwd alone")
                continue
            c, m = styles.get(dom, ("k", "."))
            ax.loglog(sizes, times, marker=m, color=c, ms=4, lw=1.3, label=dom)
        if key == "S1" and "S4" in results:
            for dom, times in results["S4"]["times"].items():
                if dom == "model":
                    continue
                c, m = styles.get(dom, ("k", "."))
                ax.loglog(results["S4"]["sizes"], times, marker=m, color=c, ms=4, lw=1.3, label=dom)
        if key == "S3" and "S5" in results:
            ax.loglog(
                sizes,
                results["S5"]["times"]["time"],
                marker="o",
                color="C0",
                ms=3,
                lw=1,
                ls="--",
                mfc="none",
                label="time, glibc default allocator",
            )
        ref = r["times"].get("time") or next(iter(r["times"].values()))
        ax.loglog(sizes, ref[-1] * sizes / sizes[-1], "k:", lw=1, label="linear")
        ax.set_xlabel({"S1": "signal length (samples)", "S2": "channels", "S3": "batch"}[key])
        ax.set_title(
            {"S1": "length (batch 1, 1 channel; S1 + S4)", "S2": "channels (length 1000)", "S3": "batch (length 1000)"}[key],
            fontsize=9,
        )
        ax.grid(True, which="major", lw=0.4, alpha=0.5)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel(f"seconds per explain (n_steps={N_STEPS})")
    handles: dict = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), fontsize=7, loc="center right", frameon=False)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="lengths up to 1e5, batch up to 256, 3 rounds")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--plot", default=None, metavar="FILE", help="save the log-log figure (PNG) here")
    p.add_argument("--json", default=None, metavar="PATH", help="also write machine, settings and rows as JSON")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker is not None:
        job = json.loads(a.worker)
        res: dict = {}
        got = measure_parts(job["quick"], job["device"], job["parts"], res)
        print("RESULT " + json.dumps({"rows": [asdict(r) for r in got], "results": res}))
        return 0
    import torch

    with one_thread():
        machine = describe_machine(a.device)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    print(
        f"model: Conv1d(C, 4, 5) + tanh + mean + Linear(4, 2); n_steps={N_STEPS}; torch threads 1; "
        f"slope over the {FIT_POINTS} largest sizes\n"
    )
    t0 = time.perf_counter()
    results: dict = {}
    out = rows(a.quick, a.device, results)
    print_table(["row", "measured", "value", "target", "verdict"], [[r.row, r.name, r.shown, r.target, r.verdict] for r in out])
    print()
    for r in out:
        if "error" in r.details:
            print(f"{r.row}: {r.details['error']}")
        elif "sizes" in r.details:
            ts = r.details["seconds"]
            print(
                f"{r.row} {r.name.split(':')[0]}: "
                + ", ".join(f"{n:g}: {1e3 * t:.1f} ms" for n, t in zip(r.details["sizes"], ts))
            )
    print(f"({time.perf_counter() - t0:.0f} s; torch {torch.__version__})")
    if a.plot:
        print("figure:", plot(results, a.plot))
    if a.json:
        write_json(a.json, machine, {"n_steps": N_STEPS, "fit_points": FIT_POINTS, "quick": a.quick}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
