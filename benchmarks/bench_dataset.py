"""A whole data set: windows/s of ``explain_dataset`` serial vs Ray, and the cost of streaming to disk.

Rows:

R1. throughput (windows/s) of ``cdig.explain_dataset(engine="ray", num_workers=2)`` on a local Ray
    cluster / ``engine="serial"`` on the same job (info: the speed-up is bounded by the cores the
    machine has, and by what else runs on them; on 2 cores it cannot exceed 2). The Ray time is the
    whole call: the two actors start, load the model and import cdig inside it; the cluster itself
    is started once before the timed rounds (its start-up is printed apart, and so is the fixed
    cost of one Ray call, from a job of two chunks).
R2. ``explain_dataset(engine="serial")`` into a fresh Zarr store / the same chunks explained in
    memory with :func:`cdig.explain` and thrown away: what reading the chunks, writing the maps and
    marking progress cost on top of the explanations. Target <= 1.10.

The job: windows of a synthetic signal, a small GELU CNN, domains time + Fourier, 16 Gauss-Legendre
steps, target 1, chunks of 64 windows. Every ratio is the median over interleaved rounds of the ratio
of the two runs of a round (see _common.measure). The script reports; it never gates.

    python benchmarks/bench_dataset.py --quick      # about a minute on 2 CPU cores
    python benchmarks/bench_dataset.py              # a few minutes on 2 CPU cores
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, measure, print_table, ratios, rows_main

import cdig

DOMAINS = ("time", "fourier")
TARGET_STREAMING = 1.10


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"windows": 512, "channels": 1, "length": 256, "width": 8, "n_steps": 16, "batch_size": 64, "repeats": 3}
    return {"windows": 1536, "channels": 2, "length": 512, "width": 8, "n_steps": 16, "batch_size": 64, "repeats": 3}


def make_model(channels: int, width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(channels, width, 9, padding=4),
        torch.nn.GELU(),
        torch.nn.Conv1d(width, width, 9, padding=4),
        torch.nn.GELU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(width, 4),
    ).eval()


def make_windows(cfg: dict[str, Any]) -> np.ndarray:
    """Overlapping windows (hop = length / 2) of one long multichannel signal: sines plus noise."""
    rng = np.random.default_rng(0)
    n, c, t = cfg["windows"], cfg["channels"], cfg["length"]
    hop = t // 2
    total = hop * (n - 1) + t
    time_s = np.arange(total) / 128.0
    signal = np.stack([np.sin(2 * np.pi * (3 + 2 * k) * time_s) + 0.5 * rng.normal(size=total) for k in range(c)])
    return np.lib.stride_tricks.sliding_window_view(signal, t, axis=1)[:, ::hop].transpose(1, 0, 2).astype(np.float32).copy()


def rows(quick: bool = False, device: str = "cpu") -> list[Row]:
    """R1 (Ray / serial windows/s, info) and R2 (streaming to disk / in memory, target <= 1.10)."""
    cfg = settings(quick)
    x = make_windows(cfg)
    model = make_model(cfg["channels"], cfg["width"]).to(device)
    kw = dict(target=1, n_steps=cfg["n_steps"], batch_size=cfg["batch_size"], progress=False)
    n = len(x)
    tmp = Path(tempfile.mkdtemp(prefix="cdig-bench-dataset-"))
    fresh = (tmp / f"s{i}.zarr" for i in itertools.count())

    def serial() -> None:
        out = next(fresh)
        cdig.explain_dataset(model, x, out, DOMAINS, **kw)
        shutil.rmtree(out)

    def in_memory() -> None:
        for start in range(0, n, cfg["batch_size"]):
            cdig.explain(model, x[start : start + cfg["batch_size"]], DOMAINS, target=1, n_steps=cfg["n_steps"])

    def factory() -> torch.nn.Module:  # each actor builds the model itself (the recommended way)
        return make_model(cfg["channels"], cfg["width"]).to(device)

    def on_ray() -> None:
        out = next(fresh)
        cdig.explain_dataset(model, x, out, DOMAINS, engine="ray", num_workers=2, model_factory=factory, **kw)
        shutil.rmtree(out)

    print(
        f"job: {n} windows of {cfg['channels']} x {cfg['length']} samples, GELU CNN width {cfg['width']}, "
        f"domains {'+'.join(DOMAINS)}, {cfg['n_steps']} steps, chunks of {cfg['batch_size']}; "
        f"driver torch threads {torch.get_num_threads()}, {os.cpu_count()} cores; load average {os.getloadavg()}"
    )
    out: list[Row] = []
    sync = (lambda: torch.cuda.synchronize()) if str(device).startswith("cuda") else (lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)
        res = measure({"serial to disk": serial, "in memory": in_memory}, cfg["repeats"], 1, sync)
        stream = ratios(res["serial to disk"]["times_s"], res["in memory"]["times_s"])["paired"]

        ray_row: Row
        try:
            import ray
        except ImportError:
            ray = None
        if ray is None:
            ray_row = Row("R1", "windows/s ray(2 workers) / serial", None, "skipped: ray not installed")
        else:
            t0 = time.perf_counter()
            started = not ray.is_initialized()
            if started:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no traffic off this machine
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            up = time.perf_counter() - t0
            try:
                r = measure({"serial": serial, "ray": on_ray}, cfg["repeats"], 1, sync)
                # the fixed cost of a call: actors start, import cdig and torch, build the model; 2 chunks
                small = x[: 2 * cfg["batch_size"]]
                t0 = time.perf_counter()
                cdig.explain_dataset(model, small, next(fresh), DOMAINS, engine="ray", num_workers=2, model_factory=factory, **kw)
                fixed = time.perf_counter() - t0 - len(small) / (n / r["serial"]["median_s"]) / 2
            finally:
                if started:
                    ray.shutdown()
            speed = ratios(r["serial"]["times_s"], r["ray"]["times_s"])["paired"]
            wps = {k: n / r[k]["median_s"] for k in r}
            print_table(["engine", "median", "windows/s"], [(k, f"{r[k]['median_s']:.2f} s", f"{wps[k]:.0f}") for k in r])
            print(
                f"Ray cluster start (once, not in the rounds): {up:.1f} s; fixed cost of a Ray call (actors "
                f"start, load cdig and the model; a 2-chunk job less its share of the work): {fixed:.1f} s"
            )
            print(f"ray / serial windows/s: {speed:.2f} (the whole call)")
            ray_row = Row(
                "R1",
                "windows/s ray(2 workers) / serial",
                speed,
                f"{speed:.2f}",
                "",
                None,
                {"times": r, "windows_per_s": wps, "cluster_start_s": up, "ray_call_fixed_s": fixed},
            )
        out.append(ray_row)
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"streaming to disk / in memory: {stream:.3f} "
        f"(medians {res['serial to disk']['median_s']:.2f} s / {res['in memory']['median_s']:.2f} s)"
    )
    out.append(
        Row(
            "R2",
            "explain_dataset(serial, to Zarr) / explain in memory",
            stream,
            f"{stream:.3f}",
            f"<= {TARGET_STREAMING}",
            stream <= TARGET_STREAMING,
            {"times": res, "settings": cfg},
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    return rows_main(__doc__ or "", rows, "a smaller job (about a minute on 2 CPU cores)", argv)


if __name__ == "__main__":
    raise SystemExit(main())
