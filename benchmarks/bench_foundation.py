"""cdig's foundation benchmark: speed against Captum and a one-step-per-pass loop, and convergence of the rules.

Rows (select with ``--rows 1,2,3,4``; benchmarks/README.md says what each line of the table means):

1. cdig time-domain IG / Captum IntegratedGradients, same rule, steps and internal batch, both
   returning the convergence delta. Target <= 1.05.
2. cdig.explain with ("time", "fourier", "ica") / with ("time",) alone. The ICA is fitted
   beforehand and passed as cdig.ICA(fitted), so fitting is not timed. Target <= 1.15.
3. Per-sample time of a one-step-per-pass loop (the reference package's approach: one forward and
   one backward of a single point per step, right Riemann) / per-sample time of cdig with the
   same rule and steps. Target >= 20, on the timing model; the same ratio on a small model is
   reported for information.
4. Steps each rule needs for ``|delta| <= 1e-3 |f(x) - f(x0)|`` on every sample of a small batch,
   on a ReLU 1-D CNN and on a small attention model; ``n_steps="auto"``'s steps and error; the
   relative delta of 128 Gauss-Legendre steps.

Every ratio is measured in one run, on the same model and inputs; a timing ratio is the median
over interleaved rounds of the two runs of each round. The script reports; it does not gate: the
exit code is 0 whatever the verdicts.

    python benchmarks/bench_foundation.py --quick            # smoke run, < 1 min on 2 CPU cores
    python benchmarks/bench_foundation.py                    # default, a few minutes on 2 CPU cores
    python benchmarks/bench_foundation.py --device cuda --json results.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Row,
    describe_machine,
    fmt_seconds,
    load_average,
    measure,
    print_table,
    ratios,
    synchronizer,
    write_json,
)

import cdig

RTOL = 1e-3
RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


# --- models and data -------------------------------------------------------------------------
class ConvClassifier(nn.Module):
    """A ReLU 1-D CNN classifier: three convolutions, global average pooling, a linear head."""

    def __init__(self, in_channels: int = 3, n_classes: int = 5, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, width, 7, padding=3),
            nn.ReLU(),
            nn.Conv1d(width, 2 * width, 7, stride=2, padding=3),
            nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 7, stride=2, padding=3),
            nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=-1))


class AttentionClassifier(nn.Module):
    """Strided conv embedding, learned positions, one softmax-attention encoder layer, mean pooling, linear head."""

    def __init__(
        self, in_channels: int = 3, n_classes: int = 4, d_model: int = 32, heads: int = 2, length: int = 256, stride: int = 4
    ) -> None:
        super().__init__()
        self.embed = nn.Conv1d(in_channels, d_model, 2 * stride, stride=stride, padding=stride // 2)
        n_tokens = (length + 2 * (stride // 2) - 2 * stride) // stride + 1
        self.pos = nn.Parameter(0.1 * torch.randn(1, n_tokens, d_model))
        self.encoder = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).transpose(1, 2) + self.pos
        return self.head(self.encoder(tokens).mean(dim=1))


FREQS = (0.02, 0.05, 0.1, 0.2)  # cycles/sample of the burst that defines each class


def synthetic(n: int, channels: int, length: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy signals; class k holds a windowed sinusoid burst of frequency FREQS[k] in a random channel."""
    y = torch.randint(len(FREQS), (n,), generator=gen)
    t = torch.arange(length, dtype=torch.float32)
    x = 0.3 * torch.randn(n, channels, length, generator=gen)
    x += 0.5 * torch.sin(2 * torch.pi * (t / length) * torch.rand(n, channels, 1, generator=gen) * 2)  # slow drift
    width = length / 4
    centre = width + torch.rand(n, generator=gen) * (length - 2 * width)
    window = torch.exp(-0.5 * ((t - centre[:, None]) / (width / 3)) ** 2)
    phase = 2 * torch.pi * torch.rand(n, 1, generator=gen)
    burst = window * torch.sin(2 * torch.pi * torch.tensor(FREQS)[y][:, None] * t + phase)
    ch = torch.randint(channels, (n,), generator=gen)
    x[torch.arange(n), ch] += burst
    return x, y


def train(model: nn.Module, steps: int, channels: int, length: int, seed: int) -> float:
    """A brief Adam run on the synthetic task (a realistic integrand, not a good model); returns held-out accuracy."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        x, y = synthetic(64, channels, length, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = synthetic(512, channels, length, gen)
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


# --- rows ------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.sync = synchronizer(self.device)
        q = args.quick
        self.batch = args.batch or (8 if q else 32)
        self.channels = 3
        self.length = args.length or (256 if q else 512)
        self.n_steps = args.n_steps
        self.ibs = args.internal_batch_size or self.batch * 10
        self.repeats = args.repeats or (3 if q else 5)
        torch.manual_seed(args.seed)
        self.model = ConvClassifier(self.channels).to(self.device).eval()
        gen = torch.Generator().manual_seed(args.seed)
        self.x = torch.randn(self.batch, self.channels, self.length, generator=gen).to(self.device)
        self.x0 = torch.zeros_like(self.x)
        with torch.no_grad():
            self.target = self.model(self.x).argmax(1)
        self._timing_described = False

    def describe_timing_setup(self) -> None:
        if self._timing_described:
            return
        self._timing_described = True
        print(
            f"timing model: ConvClassifier (3 ReLU conv layers, width 32/64/64), input {self.batch} x "
            f"{self.channels} x {self.length}, n_steps={self.n_steps}, internal_batch_size={self.ibs}, "
            f"median of {self.repeats} interleaved repeats after 1 warm-up\n"
        )

    def _cdig_time(self, method: str = "gausslegendre", n_steps: int | None = None) -> Callable[[], Any]:
        ig = cdig.CrossDomainIG(self.model, "time")
        n_steps = n_steps or self.n_steps

        def run() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", cdig.ConvergenceWarning)
                return ig.attribute(
                    self.x,
                    baselines=self.x0,
                    target=self.target,
                    n_steps=n_steps,
                    method=method,
                    internal_batch_size=self.ibs,
                    return_convergence_delta=True,
                )

        return run

    # 1 -----------------------------------------------------------------------------------
    def row1(self, n_steps: int | None = None) -> list[Row]:
        """cdig / Captum, time domain; ``n_steps`` overrides ``--n-steps`` (benchmarks/suite.py runs several)."""
        from captum.attr import IntegratedGradients

        self.describe_timing_setup()
        captum_ig = IntegratedGradients(self.model)
        n_steps = n_steps or self.n_steps

        def captum_run() -> Any:
            return captum_ig.attribute(
                self.x,
                baselines=self.x0,
                target=self.target,
                n_steps=n_steps,
                method="gausslegendre",
                internal_batch_size=self.ibs,
                return_convergence_delta=True,
            )

        cdig_run = self._cdig_time(n_steps=n_steps)
        t = measure({"cdig": cdig_run, "captum": captum_run}, self.repeats, 1, self.sync)
        a_c, d_c = cdig_run()
        a_r, d_r = captum_run()
        agree = float((a_c - a_r).abs().max() / a_r.abs().max().clamp_min(1e-30))
        ddelta = float((d_c.double().cpu() - d_r.double().cpu()).abs().max())
        rs = ratios(t["cdig"]["times_s"], t["captum"]["times_s"])
        ratio = rs["paired"]
        print(
            f"[1] {n_steps} steps: cdig CrossDomainIG('time') {fmt_seconds(t['cdig']['median_s'])}, "
            f"Captum IntegratedGradients "
            f"{fmt_seconds(t['captum']['median_s'])} (medians) -> ratio {_fmt_ratios(rs)}"
        )
        _warn_noise(t)
        print(f"    maps agree to {agree:.2e} (max abs difference / max abs map); deltas differ by at most {ddelta:.2e}\n")
        return [
            Row(
                "1",
                "time IG: cdig / Captum (gausslegendre, delta on)",
                ratio,
                f"{ratio:.3f}",
                "<= 1.05",
                ratio <= 1.05,
                {
                    "times": t,
                    "ratios": rs,
                    "map_rel_diff": agree,
                    "delta_abs_diff": ddelta,
                    "n_steps": n_steps,
                    "input_shape": list(self.x.shape),
                    "internal_batch_size": self.ibs,
                },
            )
        ]

    # 2 -----------------------------------------------------------------------------------
    def row2(self) -> list[Row]:
        from sklearn.decomposition import FastICA

        self.describe_timing_setup()
        pooled = self.x.cpu().numpy().transpose(0, 2, 1).reshape(-1, self.channels)
        t0 = time.perf_counter()
        fitted = FastICA(n_components=self.channels, whiten="unit-variance", random_state=0, max_iter=1000).fit(pooled)
        fit_s = time.perf_counter() - t0
        ica = cdig.ICA(fitted)

        def run(domains: tuple) -> Callable[[], Any]:
            def f() -> Any:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", cdig.ConvergenceWarning)
                    return cdig.explain(
                        self.model,
                        self.x,
                        domains,
                        target=self.target,
                        baselines=self.x0,
                        n_steps=self.n_steps,
                        method="gausslegendre",
                        internal_batch_size=self.ibs,
                    )

            return f

        one, three = run(("time",)), run(("time", "fourier", ica))
        t = measure({"time": one, "time+fourier+ica": three}, self.repeats, 1, self.sync)
        rows_one, rows_three = _rows_evaluated(self.model, one), _rows_evaluated(self.model, three)
        rs = ratios(t["time+fourier+ica"]["times_s"], t["time"]["times_s"])
        ratio = rs["paired"]
        print(
            f"[2] explain(time, fourier, ica) {fmt_seconds(t['time+fourier+ica']['median_s'])}, explain(time) "
            f"{fmt_seconds(t['time']['median_s'])} (medians) -> ratio {_fmt_ratios(rs)}"
        )
        _warn_noise(t)
        print(
            f"    FastICA fitted beforehand in {fmt_seconds(fit_s)} (not timed); model rows evaluated: "
            f"{rows_one} (time) vs {rows_three} (three domains; {rows_one} means one shared pass)\n"
        )
        return [
            Row(
                "2",
                "explain(time,fourier,ica) / explain(time)",
                ratio,
                f"{ratio:.3f}",
                "<= 1.15",
                ratio <= 1.15,
                {"times": t, "ratios": rs, "ica_fit_s": fit_s, "model_rows": [rows_one, rows_three]},
            )
        ]

    # 3 -----------------------------------------------------------------------------------
    def row3(self) -> list[Row]:
        self.describe_timing_setup()
        n_loop = min(self.batch, self.args.loop_samples or (2 if self.args.quick else 4))
        # The gated row: a model of the size of the reference package's demos (a small CNN on
        # 2 x 256 inputs), where the per-pass overhead of a one-point loop dominates.
        torch.manual_seed(self.args.seed)
        small = ConvClassifier(2, len(FREQS), width=8).to(self.device).eval()
        gen = torch.Generator().manual_seed(self.args.seed)
        xs = torch.randn(self.batch, 2, 256, generator=gen).to(self.device)
        with torch.no_grad():
            ts = small(xs).argmax(1)
        rows = [self._loop_vs_cdig(small, xs, ts, n_loop, "reference-demo-sized CNN (width 8, 2 x 256)", True)]
        # For information: the compute-heavy timing model, where a CPU gains little from batching.
        rows.append(self._loop_vs_cdig(self.model, self.x, self.target, n_loop, "timing model", False))
        print()
        return rows

    def _loop_vs_cdig(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor, n_loop: int, label: str, gate: bool) -> Row:
        n = self.n_steps
        x0 = torch.zeros_like(x)

        def loop() -> torch.Tensor:
            # The reference's approach, written plainly: per sample, per step, one forward and one
            # backward of a single point, right Riemann, with ``.backward()`` on the explained output
            # (so the parameters' gradients are computed and pile up in ``.grad``, as there).
            maps = []
            for i in range(n_loop):
                grad_sum = torch.zeros_like(x[i])
                for k in range(1, n + 1):
                    point = (x0[i] + (k / n) * (x[i] - x0[i])).unsqueeze(0).requires_grad_(True)
                    model(point)[0, target[i]].backward()
                    grad_sum += point.grad[0]
                maps.append((x[i] - x0[i]) * grad_sum / n)
            model.zero_grad(set_to_none=True)
            return torch.stack(maps)

        ig = cdig.CrossDomainIG(model, "time")

        def cdig_run() -> Any:
            return ig.attribute(x, baselines=x0, target=target, n_steps=n, method="riemann_right", internal_batch_size=self.ibs)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            t = measure({"cdig": cdig_run, "loop": loop}, self.repeats, 1, self.sync)
            a_c = cdig_run()
        a_l = loop()
        per_cdig = t["cdig"]["median_s"] / len(x)
        per_loop = t["loop"]["median_s"] / n_loop
        rs = {k: v * len(x) / n_loop for k, v in ratios(t["loop"]["times_s"], t["cdig"]["times_s"]).items()}
        ratio = rs["paired"]
        agree = float((a_c[:n_loop] - a_l).abs().max() / a_l.abs().max().clamp_min(1e-30))
        shape = " x ".join(map(str, x.shape))
        print(
            f"[3] {label}, input {shape}: per sample, loop {fmt_seconds(per_loop)} ({n_loop} samples x {n} "
            f"single-point passes), cdig {fmt_seconds(per_cdig)} (batched) (medians) -> cdig is "
            f"{_fmt_ratios(rs, 'x')} faster"
        )
        _warn_noise(t)
        print(f"    maps agree to {agree:.2e} (riemann_right, {n} steps, max abs difference / max abs map)")
        return Row(
            "3",
            f"per-sample loop / cdig, {label}",
            ratio,
            f"{ratio:.1f}x",
            ">= 20x" if gate else "",
            ratio >= 20 if gate else None,
            {
                "times": t,
                "ratios": rs,
                "per_sample_s": {"cdig": per_cdig, "loop": per_loop},
                "loop_samples": n_loop,
                "input_shape": list(x.shape),
                "map_rel_diff": agree,
            },
        )

    # 4 -----------------------------------------------------------------------------------
    def trained_model(self, name: str) -> tuple[nn.Module, float, float]:
        """One of row 4's models ("relu-cnn", "attention"), briefly trained on the synthetic task, once per Bench.

        Returns (model, held-out accuracy, training seconds). Both models are initialised from the
        same seed whichever is asked for first, so each gets the same weights either way.
        """
        if not hasattr(self, "_untrained"):
            a = self.args
            torch.manual_seed(a.seed)
            self._untrained = {
                "relu-cnn": ConvClassifier(self.channels, len(FREQS), width=8),
                "attention": AttentionClassifier(self.channels, len(FREQS), d_model=32, heads=2, length=a.conv_length),
            }
            self._trained: dict[str, tuple[nn.Module, float, float]] = {}
        if name not in self._trained:
            a = self.args
            steps = a.train_steps if a.train_steps is not None else (100 if a.quick else 400)
            model = self._untrained[name]
            t0 = time.perf_counter()
            acc = train(model, steps, self.channels, a.conv_length, a.seed + 2)
            self._trained[name] = (model.to(self.device).eval(), acc, time.perf_counter() - t0)
        return self._trained[name]

    def row4(self, models: tuple[str, ...] = ("relu-cnn", "attention"), full_grid: int = 0) -> list[Row]:
        """Steps per rule for rtol 1e-3; ``full_grid=M`` also evaluates every rule at every grid value up to M.

        The latter gives the completeness error against n_steps of each rule (accuracy per cost).
        """
        a, q = self.args, self.args.quick
        length, n_expl = a.conv_length, a.conv_samples
        steps = a.train_steps if a.train_steps is not None else (100 if q else 400)
        cap = a.max_grid or (512 if q else 8192)
        refine = a.refine if a.refine is not None else (0 if q else 3)
        grid = [n for n in (2**k for k in range(3, 30)) if n <= cap]
        gen = torch.Generator().manual_seed(a.seed + 1)
        pool, _ = synthetic(max(64, 8 * n_expl), self.channels, length, gen)
        print(
            f"[4] rtol {RTOL:g}: smallest n_steps with |delta| <= rtol |f(x) - f(0)| on all {n_expl} samples "
            f"(input {n_expl} x {self.channels} x {length}, zero baseline, predicted class, samples with "
            f"|f(x) - f(0)| >= {MIN_CHANGE:g} (|f(x)| + |f(0)|)); grid "
            f"{grid[0]}..{grid[-1]} doubling" + (f", then {refine} bisection steps" if refine else "")
        )
        print(
            "    models: relu-cnn = ConvClassifier(width 8: 3 ReLU conv layers 8/16/16, mean pooling, linear); "
            "attention = strided conv embedding (d 32, 32 tokens) + learned positions + one TransformerEncoderLayer "
            "(2 heads, softmax attention, ReLU feed-forward) + mean pooling + linear; both briefly trained on the "
            "synthetic burst-frequency task with a fixed seed"
        )
        out: list[Row] = []
        for name in models:
            model, acc, seconds = self.trained_model(name)
            xd, tgt, f1, f0, skipped = _well_conditioned(model, pool.to(self.device), n_expl)
            change = (f1 - f0).abs()
            print(
                f"  {name}: trained {steps} Adam steps in {seconds:.1f} s (held-out accuracy "
                f"{acc:.2f}); |f(x) - f(0)| from {float(change.min()):.3g} to {float(change.max()):.3g}, "
                f"|f(x)| + |f(0)| up to {float((f1.abs() + f0.abs()).max()):.3g} ({skipped} pool samples skipped)"
            )
            out += self._convergence(name, model, xd, tgt, grid, refine, full_grid)
        print()
        return out

    def _convergence(
        self, name: str, model: nn.Module, x: torch.Tensor, tgt: torch.Tensor, grid: list[int], refine: int, full_grid: int = 0
    ) -> list[Row]:
        cache: dict[tuple[str, int], float] = {}
        t_start = time.perf_counter()
        ibs = self.args.conv_internal_batch_size

        def rel(rule: str, n: int) -> float:
            if (rule, n) not in cache:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", cdig.ConvergenceWarning)
                    att = cdig.explain(model, x, "time", target=tgt, n_steps=n, method=rule, internal_batch_size=ibs)["time"]
                cache[rule, n] = float(np.max(att.relative_delta))
            return cache[rule, n]

        needed: dict[str, int | None] = {}
        for rule in RULES:
            needed[rule] = _steps_needed(lambda n, rule=rule: rel(rule, n) <= RTOL, grid, refine)
            shown = f"{needed[rule]}" if needed[rule] is not None else f"> {grid[-1]}"
            print(
                f"    {rule:18s} {shown:>7s}  (max rel. delta at the grid: "
                + ", ".join(f"{n}: {cache[rule, n]:.1e}" for n in grid if (rule, n) in cache)
                + ")"
            )
        gl128 = rel("gausslegendre", 128)
        for rule in RULES:  # the error of every rule at every grid value up to full_grid: accuracy per cost
            for n in grid:
                if n <= full_grid:
                    rel(rule, n)
        max_steps = self.args.auto_max_steps or 8192
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            att = cdig.explain(
                model, x, "time", target=tgt, n_steps="auto", rtol=RTOL, max_steps=max_steps, internal_batch_size=ibs
            )["time"]
        t_auto = time.perf_counter() - t0
        used = np.asarray(att.n_steps)
        auto_rel = float(np.max(att.relative_delta))
        print(
            f"    {'auto (rtol 1e-3)':18s} mean {used.mean():.0f}, max {used.max()} steps per sample "
            f"(max_steps {max_steps}); max rel. delta {auto_rel:.1e}; {t_auto:.1f} s"
        )
        found = {r: v for r, v in needed.items() if v is not None}
        best = min(found, key=found.__getitem__) if found else None
        cost = float(used.sum() / (len(used) * found[best])) if best else None
        if best:
            print(
                f"    auto's model evaluations / those of the cheapest fixed rule that met rtol on every sample "
                f"({best}, {found[best]} steps each): {cost:.2f}"
            )
        print(
            f"    gausslegendre 128 steps: max rel. delta {gl128:.2e}   [{name} search took "
            f"{time.perf_counter() - t_start:.0f} s]"
        )
        fmt = {r: (str(v) if v is not None else f">{grid[-1]}") for r, v in needed.items()}
        short = {
            "riemann_left": "left",
            "riemann_right": "right",
            "riemann_middle": "mid",
            "riemann_trapezoid": "trap",
            "gausslegendre": "GL",
        }
        return [
            Row(
                "4",
                f"{name}: steps for rtol 1e-3 (" + "/".join(short[r] for r in RULES) + ")",
                None,
                "/".join(fmt[r] for r in RULES),
                "",
                None,
                {"needed": needed, "grid": grid, "evaluated": {f"{r}@{n}": v for (r, n), v in sorted(cache.items())}},
            ),
            Row(
                "4",
                f"{name}: auto steps per sample (mean/max)",
                float(used.mean()),
                f"{used.mean():.0f}/{used.max()}",
                "",
                None,
                {"steps": used, "max_steps": max_steps, "seconds": t_auto},
            ),
            Row(
                "4",
                f"{name}: auto max |delta|/|f(x)-f(0)|",
                auto_rel,
                f"{auto_rel:.1e}",
                f"<= {RTOL:g}",
                auto_rel <= RTOL,
                {"relative_delta": att.relative_delta},
            ),
            Row(
                "4",
                f"{name}: auto evaluations / cheapest passing fixed rule's",
                cost,
                f"{cost:.2f} ({best})" if best else "-",
                "",
                None,
                {"rule": best, "steps": found.get(best)},
            ),
            Row("4", f"{name}: 128 GL steps max |delta|/|f(x)-f(0)|", gl128, f"{gl128:.1e}", "", None, {}),
        ]


#: Samples whose explained output changes by less than this fraction of |f(x)| + |f(0)| are not used in
#: row 4: for them, 1e-3 of the change is within a few hundred float32 ulps of the outputs.
MIN_CHANGE = 0.05


def _well_conditioned(model: nn.Module, pool: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """The first ``k`` samples of ``pool`` whose predicted-class output moves from f(0) well above round-off."""
    with torch.no_grad():
        logits, base = model(pool), model(torch.zeros_like(pool))
    tgt = logits.argmax(1)
    f1, f0 = logits.gather(1, tgt[:, None])[:, 0], base.gather(1, tgt[:, None])[:, 0]
    keep = torch.nonzero((f1 - f0).abs() >= MIN_CHANGE * (f1.abs() + f0.abs()))[:, 0][:k]
    skipped = int(keep[-1]) + 1 - len(keep) if len(keep) else len(pool)
    if len(keep) < k:
        raise RuntimeError(f"only {len(keep)} of {len(pool)} samples change the output by {MIN_CHANGE:.0%}")
    return pool[keep], tgt[keep], f1[keep], f0[keep], skipped


def _fmt_ratios(rs: dict[str, float], unit: str = "") -> str:
    return (
        f"{rs['paired']:.3g}{unit} (median of paired rounds; ratio of medians {rs['of_medians']:.3g}{unit}, "
        f"of fastest runs {rs['of_mins']:.3g}{unit})"
    )


def _warn_noise(t: dict[str, dict[str, Any]]) -> None:
    spread = max(max(v["times_s"]) / min(v["times_s"]) for v in t.values())
    if spread > 1.3:
        print(
            f"    note: repeats of one function differ by up to {spread:.1f}x: the machine is busy "
            f"(load average {load_average()}); trust the paired ratio more than the absolute times"
        )


def _steps_needed(ok: Callable[[int], bool], grid: list[int], refine: int) -> int | None:
    """The first grid value that passes, then ``refine`` bisection steps between it and the last failing one.

    The error is not monotone in n_steps, so this is the smallest passing count the search met.
    """
    prev = None
    for n in grid:
        if ok(n):
            hi = n
            break
        prev = n
    else:
        return None
    if prev is not None:
        lo = prev
        for _ in range(refine):
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
    return hi


def _rows_evaluated(model: nn.Module, fn: Callable[[], Any]) -> int:
    """How many inputs (path points plus end points) the model saw during one call of ``fn``."""
    count = [0]
    handle = model.register_forward_pre_hook(lambda m, inp: count.__setitem__(0, count[0] + inp[0].shape[0]))
    try:
        fn()
    finally:
        handle.remove()
    return count[0]


def parser() -> argparse.ArgumentParser:
    """The command line's options (benchmarks/suite.py builds its settings from them too)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1,2,3,4", help="comma-separated rows to run (default: 1,2,3,4)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats: a smoke run under a minute")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: the usable cores)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write machine, settings and rows as JSON")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("timing rows (1-3)")
    g.add_argument("--batch", type=int, default=None, help="samples (default 32; --quick 8)")
    g.add_argument("--length", type=int, default=None, help="time steps (default 512; --quick 256)")
    g.add_argument("--n-steps", type=int, default=50)
    g.add_argument("--internal-batch-size", type=int, default=None, help="path points per pass (default 10 x batch)")
    g.add_argument("--repeats", type=int, default=None, help="timed repeats, median reported (default 5; --quick 3)")
    g.add_argument("--loop-samples", type=int, default=None, help="samples the row-3 loop explains (default 4)")
    g = p.add_argument_group("convergence row (4)")
    g.add_argument("--conv-samples", type=int, default=8, help="samples explained (default 8)")
    g.add_argument("--conv-length", type=int, default=128, help="time steps of those samples (default 128)")
    g.add_argument("--conv-internal-batch-size", type=int, default=4096, help="path points per pass (default 4096)")
    g.add_argument("--train-steps", type=int, default=None, help="Adam steps on synthetic data (default 400; --quick 100)")
    g.add_argument("--max-grid", type=int, default=None, help="largest n_steps tried (default 8192; --quick 512)")
    g.add_argument("--refine", type=int, default=None, help="bisection steps after the doubling grid (default 3; --quick 0)")
    g.add_argument("--auto-max-steps", type=int, default=None, help="max_steps of n_steps='auto' (default 8192)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    rows = sorted({int(r) for r in args.rows.split(",") if r.strip()})
    if not set(rows) <= {1, 2, 3, 4}:
        p.error(f"--rows {args.rows!r}: rows are 1, 2, 3 and 4")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available here")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    torch.set_num_threads(args.threads or usable or torch.get_num_threads())

    machine = describe_machine(args.device)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()) + "\n")
    bench = Bench(args)
    results: list[Row] = []
    t0 = time.perf_counter()
    for r in rows:
        results += getattr(bench, f"row{r}")()
    total = time.perf_counter() - t0

    print_table(
        ["row", "measured", "value", "target", "verdict"], [[r.row, r.name, r.shown, r.target or "-", r.verdict] for r in results]
    )
    print(
        f"\n{machine['cpu']} ({machine['usable_cores']} usable cores), torch {machine['torch']} with "
        f"{machine['torch_threads']} threads, device {machine['device']} ({machine['device_name']}); "
        f"total {total:.0f} s"
    )
    if args.json:
        path = write_json(args.json, machine, {**vars(args), "total_s": total}, results)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
