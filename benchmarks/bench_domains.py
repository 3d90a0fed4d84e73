"""Cost of the domain library: every linear domain added to a request vs the time-domain map alone.

All linear domains ride the one shared pass of time-domain path gradients; each adds only its
transform, one vector–Jacobian product of its inverse and the reduction of its map. Target: adding
every linear domain costs <= 1.2x the time-domain map alone (issue 4). Also printed, for information:
the cost of each domain on its own and of the two nonlinear domains, which need their own path.

    python benchmarks/bench_domains.py [--quick] [--threads N] [--device cuda] [--json PATH]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fmt_seconds, measure, print_table, ratios, rows_main, synchronizer

import cdig


def make_model(channels: int, width: int = 32, classes: int = 5) -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(channels, width, 7, padding=3),
        nn.GELU(),
        nn.Conv1d(width, 2 * width, 7, stride=2, padding=3),
        nn.GELU(),
        nn.Conv1d(2 * width, 2 * width, 7, stride=2, padding=3),
        nn.GELU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(2 * width, classes),
    ).eval()


def rows(quick: bool = False, device: str = "cpu", repeats: int | None = None) -> list[Row]:
    """Time every linear domain in one request, and each alone, against the time map alone; one Row (target <= 1.2)."""
    torch.manual_seed(0)
    n, c, t, steps, reps = (8, 3, 256, 32, 3) if quick else (16, 3, 512, 50, 5)
    repeats = repeats or reps
    fs = 128.0
    model = make_model(c).to(device)
    x = torch.randn(n, c, t)
    target = 1
    from sklearn.decomposition import PCA, FastICA

    pooled = x.numpy().transpose(0, 2, 1).reshape(-1, c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ica = FastICA(random_state=0, whiten="unit-variance").fit(pooled)
    pca = PCA(random_state=0).fit(pooled)
    x = x.to(device)
    linear = [
        "time",
        "fourier",
        cdig.ICA(ica),
        cdig.STFT(64),
        cdig.DCT(),
        cdig.Wavelet("db4"),
        cdig.LinearBasis(pca),
        cdig.FrequencyBands(fs=fs),
        cdig.TrendSeason(period=32),
    ]
    names = [d if isinstance(d, str) else d.name for d in linear]

    def run(domains: list) -> callable:
        def f() -> object:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", cdig.ConvergenceWarning)
                return cdig.explain(model, x, domains, target=target, n_steps=steps, fs=fs)

        return f

    fns = {"time": run(["time"]), "all linear": run(linear)}
    for d, name in zip(linear[1:], names[1:]):
        fns[f"time+{name}"] = run(["time", d])
    fns["time+magphase (own path)"] = run(["time", cdig.MagnitudePhase()])
    print(
        f"model: GELU Conv1d classifier, input {n} x {c} x {t}, {steps} Gauss-Legendre steps, fs {fs}; "
        f"torch threads {torch.get_num_threads()}; median of {repeats} interleaved rounds"
    )
    res = measure(fns, repeats, 1, synchronizer(device))
    rows_out = []
    for name in fns:
        if name == "time":
            continue
        rs = ratios(res[name]["times_s"], res["time"]["times_s"])
        rows_out.append((name, fmt_seconds(res[name]["median_s"]), f"{rs['paired']:.3f}"))
    print_table(["request", "median", "/ time alone"], [("time", fmt_seconds(res["time"]["median_s"]), "1")] + rows_out)
    all_ratio = ratios(res["all linear"]["times_s"], res["time"]["times_s"])["paired"]
    maps = fns["all linear"]()
    worst = max(float(np.max(a.relative_delta)) for a in maps.values())
    print(
        f"\nall {len(linear)} linear domains in one request: {all_ratio:.3f} x the time map alone; worst "
        f"completeness |delta|/|f(x)-f(0)| over them {worst:.1e}"
    )
    return [
        Row(
            "D",
            f"explain(all {len(linear)} linear domains) / explain(time)",
            all_ratio,
            f"{all_ratio:.3f}",
            "<= 1.2",
            all_ratio <= 1.2,
            {"times": res, "worst_relative_delta": worst, "domains": names, "input_shape": [n, c, t], "n_steps": steps},
        )
    ]


def main(argv: list[str] | None = None) -> int:
    return rows_main(__doc__ or "", rows, "small sizes, 3 repeats (< 1 min)", argv)


if __name__ == "__main__":
    raise SystemExit(main())
