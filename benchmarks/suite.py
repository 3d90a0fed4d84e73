"""cdig's benchmark suite: one entry point, one table, every row measured in the same run.

Groups (``--only`` takes a comma-separated list of them; docs/benchmarks.md says what each row means):

captum     time-domain IG, cdig / Captum IntegratedGradients at n_steps 16, 50, 200 (target <= 1.05).
reference  Fourier IG of the reference package ``cross-domain-saliency-maps``: its native loop
           (per sample, per step) and its Captum wrapper, against cdig on the same model and inputs
           at n_steps 16, 50, 200; per-sample time reference / cdig, and whether the maps agree.
dftlrp     a DFT-LRP-style baseline (benchmarks/dft_lrp.py): its time against cdig's Fourier IG at
           16, 50, 200 steps, and faithfulness (Fourier-domain deletion curves) and completeness of both.
overhead   cdig / the model's own batched forward+backward over the same rows (target <= 1.10 on CPU).
domains    every linear domain in one request / the time map alone (target <= 1.2).
steps      accuracy per cost: completeness error vs n_steps for each rule on two briefly trained
           models; Gauss-Legendre needs >= 4x fewer steps than right Riemann for rtol 1e-3.
memory     benchmarks/bench_memory.py, when present.
scale      benchmarks/bench_scale.py, when present.
dataset    benchmarks/bench_dataset.py: windows/s of explain_dataset serial vs Ray (2 local workers), and
           streaming to disk / explaining in memory (target <= 1.10).
certified  benchmarks/bench_certified.py: true map error vs evaluations for every rule and "auto" on a
           ReLU CNN, an attention regressor and a planted-data CNN; honesty of the error estimate.
perturb    benchmarks/bench_perturb.py: model calls per sample of occlusion, exact and sampled Shapley values,
           RISE and IG at a stated accuracy; standard errors' calibration; the domain ranking's answers.

Every timing row is a ratio of two functions measured in the same interleaved rounds (the median
over rounds of the ratio of the two runs of a round; see _common.measure). The script reports; it
does not gate: the exit code is 0 whatever the verdicts. tests/test_benchmark_guard.py runs a fast
subset and fails only when a ratio misses its target by a wide margin.

    python benchmarks/suite.py --quick                    # smoke run, about two minutes on 2 CPU cores
    python benchmarks/suite.py --threads 1                # the documented CPU run
    python benchmarks/suite.py --only captum,overhead --device cuda --json results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.util
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_backends  # noqa: E402
import bench_domains  # noqa: E402
import bench_foundation  # noqa: E402
import dft_lrp  # noqa: E402
from _common import (  # noqa: E402
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

import cdig  # noqa: E402
import cdig.metrics  # noqa: E402

GROUPS = (
    "captum",
    "reference",
    "dftlrp",
    "overhead",
    "domains",
    "steps",
    "memory",
    "scale",
    "dataset",
    "certified",
    "perturb",
)
STEPS = (16, 50, 200)
TARGET_CAPTUM = 1.05
TARGET_OVERHEAD = 1.10
TARGET_GL_ADVANTAGE = 4.0
#: Agreement of two float32 maps of the same integral, max |difference| / max |map|. Round-off alone
#: gives ~1e-7; a path point within round-off of a ReLU kink can take the other slope in one of the
#: two computations, which moves that sample's map by up to ~1e-4 at 200 steps.
TARGET_AGREE = 1e-3
REFERENCE = "cross-domain-saliency-maps"
SKIP_REFERENCE = f"skipped: pip install {REFERENCE}"


@dataclass
class Config:
    """What every group needs: sizes follow ``quick``; ``steps`` are the n_steps of the per-step rows."""

    quick: bool = False
    device: str = "cpu"
    repeats: int | None = None
    steps: tuple[int, ...] = STEPS
    seed: int = 0
    threads: dict[str, Any] = field(default_factory=lambda: {"threads": torch.get_num_threads()})
    _foundation: Any = None

    @property
    def n_repeats(self) -> int:
        return self.repeats or (3 if self.quick else 5)

    def foundation(self) -> "bench_foundation.Bench":
        """bench_foundation's Bench (timing model, trained models), built once and shared by the groups."""
        if self._foundation is None:
            argv = ["--device", self.device, "--seed", str(self.seed), "--repeats", str(self.n_repeats)]
            if self.quick:
                argv.append("--quick")
            else:
                argv += ["--batch", "16"]  # 200 steps of the 32-sample default take minutes on one core
            self._foundation = bench_foundation.Bench(bench_foundation.parser().parse_args(argv))
        return self._foundation


def _quiet(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` with cdig's ConvergenceWarning and torch's complex-to-real cast warning silenced."""

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            warnings.filterwarnings("ignore", message="Casting complex values to real")
            return fn()

    return run


def _rel_diff_per_sample(a: Any, b: Any) -> np.ndarray:
    """max |a - b| / max |b| of each sample (first axis)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(a - b).reshape(len(a), -1).max(axis=1)
    return d / np.maximum(np.abs(b).reshape(len(b), -1).max(axis=1), 1e-30)


def fold_two_sided(values: Any, n_times: int) -> np.ndarray:
    """A two-sided Fourier map (bins 0..T-1, full FFT) folded onto bins 0..T//2: bin k plus its twin T-k.

    This is the inverse of :func:`cdig.compat.fourier_two_sided` and gives cdig's one-sided map.
    """
    v = np.asarray(values, dtype=np.float64)
    out = v[..., : n_times // 2 + 1].copy()
    m = (n_times - 1) // 2  # bins 1..m have a twin
    out[..., 1 : m + 1] += v[..., n_times - 1 : n_times - m - 1 : -1]
    return out


def _paired(t: dict[str, Any], a: str, b: str) -> dict[str, float]:
    return ratios(t[a]["times_s"], t[b]["times_s"])


def _noise_note(t: dict[str, Any]) -> None:
    spread = max(max(v["times_s"]) / min(v["times_s"]) for v in t.values())
    if spread > 1.3:
        print(
            f"    note: repeats of one function differ by up to {spread:.1f}x (load average {load_average()}): "
            "trust the paired ratio more than the absolute times"
        )


# --- captum: time-domain IG against Captum at several step counts ------------------------------
def captum_rows(cfg: Config) -> list[Row]:
    """bench_foundation's row 1 at each of ``cfg.steps``."""
    bench = cfg.foundation()
    out = []
    for n in cfg.steps:
        (row,) = bench.row1(n_steps=n)
        out.append(dataclasses.replace(row, row=f"captum@{n}", name=f"time IG: cdig / Captum, {n} GL steps"))
    return out


# --- reference: the cross-domain-saliency-maps package, Fourier domain ------------------------
def reference_available() -> bool:
    return importlib.util.find_spec("cross_domain_saliency_maps") is not None


def reference_rows(cfg: Config) -> list[Row]:
    """Per-sample time of the reference's Fourier IG (native loop; Captum wrapper) / cdig's, and agreement.

    The reference's conventions, converted before comparing: its native ``FourierIG.run`` takes one
    sample ``(1, C, T)`` and one fixed ``output_channel`` (so it is called per sample, with that
    sample's target), integrates with the right Riemann sum ``alpha = i/n`` and returns the
    two-sided map of the full FFT ``(1, C, T)``; its ``CaptumFourierIG`` takes the batch and
    per-sample targets, integrates with Captum's rule (Gauss-Legendre here) over the real and
    imaginary parts and adds the two. cdig runs the same rule as each, on the whole batch, and its
    one-sided rFFT map is compared with the reference's map folded onto bins 0..T//2.
    """
    if not reference_available():
        print(f"[reference] {SKIP_REFERENCE}")
        return [Row("reference", f"Fourier IG: {REFERENCE} / cdig", None, SKIP_REFERENCE)]
    from importlib.metadata import version

    import cross_domain_saliency_maps.torch_ig.cross_domain_integrated_gradients as ref_native
    from cross_domain_saliency_maps.torch_ig.captum_integrated_gradients import CaptumFourierIG

    if not isinstance(ref_native.tqdm, functools.partial):
        # its loop draws a progress bar per sample, which is not what is compared here
        ref_native.tqdm = functools.partial(ref_native.tqdm, disable=True)
    dev = torch.device(cfg.device)
    sync = synchronizer(dev)
    n_batch, n_loop = (4, 1) if cfg.quick else (16, 2)
    # A model of the size of the reference package's demos: bench_foundation row 3's small ReLU CNN.
    torch.manual_seed(cfg.seed)
    model = bench_foundation.ConvClassifier(2, len(bench_foundation.FREQS), width=8).to(dev).eval()
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(n_batch, 2, 256, generator=gen).to(dev)
    x0 = torch.zeros_like(x)
    n_times = x.shape[-1]
    with torch.no_grad():
        target = model(x).argmax(1)
    x_np, x0_np = x.cpu().numpy(), x0.cpu().numpy()
    ibs = 10 * n_batch
    print(
        f"[reference] {REFERENCE} {version(REFERENCE)}: Fourier IG of a small ReLU CNN (width 8), input "
        f"{n_batch} x 2 x {n_times}, predicted class, zero baseline; the native loop explains {n_loop} "
        f"sample(s) (one forward+backward of one point per step), the Captum wrapper and cdig the batch "
        f"(internal_batch_size {ibs}); per-sample times; median of {cfg.n_repeats} interleaved rounds"
    )
    out: list[Row] = []
    for n in cfg.steps:
        native = ref_native.FourierIG(model, n, 0, dev)

        def native_run(native: Any = native) -> np.ndarray:
            maps = []
            for i in range(n_loop):
                native.output_channel = int(target[i])
                maps.append(native.run(x_np[i : i + 1], x0_np[i : i + 1]).detach())
            sync()
            return torch.cat(maps).cpu().numpy()

        wrapper = CaptumFourierIG(model, n, 0, dev, method="gausslegendre")

        def wrapper_run(wrapper: Any = wrapper, n: int = n) -> np.ndarray:
            res = wrapper.run(x_np, x0_np, target=target, internal_batch_size=ibs)
            sync()
            return res.detach().cpu().numpy()

        def cdig_run(method: str, n: int = n) -> Callable[[], Any]:
            def run() -> Any:
                return cdig.explain(model, x, "fourier", target=target, n_steps=n, method=method, internal_batch_size=ibs)[
                    "fourier"
                ]

            return run

        fns = {
            "native": _quiet(native_run),
            "cdig right": _quiet(cdig_run("riemann_right")),
            "captum wrapper": _quiet(wrapper_run),
            "cdig GL": _quiet(cdig_run("gausslegendre")),
        }
        t = measure(fns, cfg.n_repeats, 1, sync)
        a_native, a_right = fns["native"](), fns["cdig right"]()
        a_wrapper, a_gl = fns["captum wrapper"](), fns["cdig GL"]()
        per_native = _rel_diff_per_sample(fold_two_sided(a_native, n_times), a_right.values[:n_loop])
        per_wrapper = _rel_diff_per_sample(fold_two_sided(a_wrapper, n_times), a_gl.values)
        agree_native, agree_wrapper = float(per_native.max()), float(per_wrapper.max())
        # per sample: the loop explained n_loop samples, cdig the batch
        rs_native = {k: v * n_batch / n_loop for k, v in _paired(t, "native", "cdig right").items()}
        rs_wrapper = _paired(t, "captum wrapper", "cdig GL")
        print(
            f"  {n} steps: native loop {fmt_seconds(t['native']['median_s'] / n_loop)}/sample vs cdig "
            f"(riemann_right) {fmt_seconds(t['cdig right']['median_s'] / n_batch)}/sample -> "
            f"{rs_native['paired']:.1f}x; maps agree to {agree_native:.1e}"
        )
        print(
            f"  {n} steps: Captum wrapper {fmt_seconds(t['captum wrapper']['median_s'])} vs cdig (gausslegendre) "
            f"{fmt_seconds(t['cdig GL']['median_s'])} per batch -> {rs_wrapper['paired']:.2f}x; maps agree to "
            f"{agree_wrapper:.1e}"
        )
        _noise_note(t)
        v1, v2 = rs_native["paired"], rs_wrapper["paired"]
        out.append(
            Row(
                f"ref-loop@{n}",
                f"Fourier: reference native loop / cdig per sample (right Riemann, {n})",
                v1,
                f"{v1:.1f}x (maps {agree_native:.0e})",
                "",
                None,
                {
                    "times": t,
                    "ratios": rs_native,
                    "map_rel_diff": agree_native,
                    "map_rel_diff_per_sample": per_native,
                    "loop_samples": n_loop,
                    "batch": n_batch,
                    "n_steps": n,
                    "rule": "riemann_right",
                },
            )
        )
        out.append(
            Row(
                f"ref-captum@{n}",
                f"Fourier: reference Captum wrapper / cdig (GL, {n})",
                v2,
                f"{v2:.2f}x (maps {agree_wrapper:.0e})",
                "",
                None,
                {
                    "times": t,
                    "ratios": rs_wrapper,
                    "map_rel_diff": agree_wrapper,
                    "map_rel_diff_per_sample": per_wrapper,
                    "batch": n_batch,
                    "n_steps": n,
                    "rule": "gausslegendre",
                },
            )
        )
    per = np.concatenate([r.details["map_rel_diff_per_sample"] for r in out])
    worst, median = float(per.max()), float(np.median(per))
    out.append(
        Row(
            "ref-agree",
            "reference maps (folded to one side) vs cdig: worst sample; median",
            worst,
            f"{worst:.1e}; {median:.0e}",
            f"<= {TARGET_AGREE:g}",
            worst <= TARGET_AGREE,
            {"median": median, "samples_compared": len(per)},
        )
    )
    print()
    return out


# --- dftlrp: DFT-LRP-style relevance against cdig's Fourier IG -------------------------------
def dftlrp_rows(cfg: Config) -> list[Row]:
    """Time of cdig's Fourier IG / DFT-LRP's, and both maps' deletion curves and completeness.

    On bench_foundation's briefly trained ReLU CNN (row 4's ``relu-cnn``), for which gradient x input
    is LRP-0, on held-out samples of its synthetic task.
    """
    bench = cfg.foundation()
    model = bench.trained_model("relu-cnn")[0]
    dev = torch.device(cfg.device)
    sync = synchronizer(dev)
    n_batch = 8 if cfg.quick else 32
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    x, _ = bench_foundation.synthetic(n_batch, bench.channels, bench.args.conv_length, gen)
    x = x.to(dev)
    with torch.no_grad():
        target = model(x).argmax(1)
    ibs = 10 * n_batch

    def lrp_run() -> torch.Tensor:
        r = dft_lrp.dft_lrp(model, x, target)
        sync()
        return r

    def ig_run(n: int) -> Callable[[], Any]:
        return _quiet(lambda: cdig.explain(model, x, "fourier", target=target, n_steps=n, internal_batch_size=ibs)["fourier"])

    fns = {"dft-lrp": lrp_run, **{f"cdig@{n}": ig_run(n) for n in cfg.steps}}
    print(
        f"[dftlrp] trained ReLU CNN (relu-cnn of bench_foundation row 4), {n_batch} held-out samples of "
        f"{bench.channels} x {bench.args.conv_length}, predicted class, zero baseline; cdig Fourier IG "
        f"(gausslegendre) vs DFT-LRP (gradient x input = LRP-0, redistributed through a virtual inverse rDFT); "
        f"median of {cfg.n_repeats} interleaved rounds"
    )
    t = measure(fns, cfg.n_repeats, 1, sync)
    _noise_note(t)
    out: list[Row] = []
    for n in cfg.steps:
        rs = _paired(t, f"cdig@{n}", "dft-lrp")
        print(
            f"  cdig {n} steps {fmt_seconds(t[f'cdig@{n}']['median_s'])} vs DFT-LRP "
            f"{fmt_seconds(t['dft-lrp']['median_s'])} -> {rs['paired']:.1f}x"
        )
        out.append(
            Row(
                f"dftlrp@{n}",
                f"Fourier: cdig IG ({n} GL steps) / DFT-LRP time",
                rs["paired"],
                f"{rs['paired']:.1f}x",
                "",
                None,
                {"times": {k: t[k] for k in (f"cdig@{n}", "dft-lrp")}, "ratios": rs},
            )
        )

    # quality: the same deletion curves (Fourier bins, signed order) for each map
    fractions = np.linspace(0.0, 1.0, 11 if cfg.quick else 21)
    atts = {f"cdig@{n}": fns[f"cdig@{n}"]() for n in cfg.steps}
    ref_att = atts[f"cdig@{50 if 50 in cfg.steps else cfg.steps[0]}"]
    lrp_vals = lrp_run().cpu().numpy().astype(ref_att.values.dtype)
    atts["dft-lrp"] = dataclasses.replace(ref_att, values=lrp_vals)
    change = np.asarray(ref_att.output, dtype=np.float64) - np.asarray(ref_att.baseline_output, dtype=np.float64)
    f0 = np.asarray(ref_att.baseline_output, dtype=np.float64)
    norm: dict[str, float] = {}
    rand: list[float] = []
    completeness: dict[str, float] = {}
    for name, att in atts.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cdig.ConvergenceWarning)
            c = cdig.metrics.deletion(model, x, att, target=target, fractions=fractions, n_random=2, seed=cfg.seed)
        # the AUC as a fraction of the output's change: 0 = the output falls to f(x0) at once, 1 = never
        norm[name] = float(np.median((c.auc - f0) / change))
        rand.append(float(np.median((c.random_auc - f0) / change)))
        total = np.asarray(att.values, dtype=np.float64).reshape(len(change), -1).sum(axis=1)
        completeness[name] = float(np.median(np.abs(total - change) / np.abs(change)))
    r_auc = float(np.median(rand))
    print(
        "  deletion AUC in the Fourier domain, (AUC - f(x0)) / (f(x) - f(x0)), median over samples (lower is "
        "more faithful): " + ", ".join(f"{k} {v:.3f}" for k, v in norm.items()) + f", random order {r_auc:.3f}"
    )
    print(
        "  completeness |sum(map) - (f(x) - f(x0))| / |f(x) - f(x0)|, median: "
        + ", ".join(f"{k} {v:.1e}" for k, v in completeness.items())
    )
    n_ref = ref_att.n_steps if np.isscalar(ref_att.n_steps) else int(np.max(ref_att.n_steps))
    out.append(
        Row(
            "dftlrp-del",
            f"deletion AUC (norm., lower better): cdig {n_ref} / DFT-LRP / random",
            norm["dft-lrp"] - norm[f"cdig@{n_ref}"],
            f"{norm[f'cdig@{n_ref}']:.3f} / {norm['dft-lrp']:.3f} / {r_auc:.3f}",
            "",
            None,
            {"normalised_auc": norm, "random": r_auc, "fractions": fractions, "batch": n_batch},
        )
    )
    out.append(
        Row(
            "dftlrp-compl",
            f"completeness error, median: cdig {n_ref} / DFT-LRP",
            completeness["dft-lrp"],
            f"{completeness[f'cdig@{n_ref}']:.1e} / {completeness['dft-lrp']:.1e}",
            "",
            None,
            {"completeness": completeness},
        )
    )
    print()
    return out


# --- overhead: cdig against the model's own forward+backward ----------------------------------
def overhead_rows(cfg: Config, backends: tuple[str, ...] = ("torch",)) -> list[Row]:
    """bench_backends' rows A (re-judged against the suite's 1.10) and C, for ``backends``."""
    argv = [
        "--device",
        cfg.device,
        "--seed",
        str(cfg.seed),
        "--repeats",
        str(cfg.n_repeats),
        "--backends",
        ",".join(backends),
        "--no-diagnosis",
    ]
    if cfg.quick:
        argv.append("--quick")
    args = bench_backends.parser().parse_args(argv)
    args.backends = list(backends)
    bench_backends.configure_tensorflow(args, {"tf_inter_op_threads": 1, **cfg.threads})
    bench = bench_backends.Bench(args, cfg.threads)
    print("[overhead] " + bench.describe())
    out = []
    for r in bench.run():
        if r.row == "A":
            out.append(dataclasses.replace(r, row="overhead", target=f"<= {TARGET_OVERHEAD}", passed=r.value <= TARGET_OVERHEAD))
        elif r.row == "C":
            out.append(dataclasses.replace(r, row="shared"))
    for name, err in bench.errors.items():
        out.append(Row("overhead", f"{name}: cdig / plain fwd+bwd", None, f"not measured ({err})"))
    print()
    return out


# --- domains ---------------------------------------------------------------------------------
def domains_rows(cfg: Config) -> list[Row]:
    print("[domains]")
    rows = bench_domains.rows(cfg.quick, cfg.device, cfg.repeats)
    print()
    return [dataclasses.replace(r, row="domains") for r in rows]


# --- steps: accuracy per cost ----------------------------------------------------------------
SHORT = {
    "riemann_left": "left",
    "riemann_right": "right",
    "riemann_middle": "mid",
    "riemann_trapezoid": "trap",
    "gausslegendre": "GL",
}


def gl_advantage(needed: dict[str, int | None], cap: int) -> tuple[float | None, str]:
    """Steps right Riemann needs / steps Gauss-Legendre needs; a bound when one of them passed nowhere."""
    gl, right = needed.get("gausslegendre"), needed.get("riemann_right")
    if gl is None:
        return None, f"GL > {cap}"
    if right is None:
        return 2 * cap / gl, f">= {2 * cap / gl:.1f}x (right > {cap}, GL {gl})"
    return right / gl, f"{right / gl:.1f}x ({right} / {gl})"


#: Every rule is evaluated at every grid value up to this many steps, for the error-vs-steps table
#: (beyond it the table shows what the search evaluated).
FULL_GRID = 1024


def steps_rows(cfg: Config, models: tuple[str, ...] = ("relu-cnn", "attention"), full_grid: int = FULL_GRID) -> list[Row]:
    """bench_foundation's row 4, every rule evaluated up to ``full_grid`` steps; GL's advantage over right Riemann."""
    bench = cfg.foundation()
    rows = bench.row4(models, full_grid=full_grid)
    out: list[Row] = []
    for name in models:
        mine = [r for r in rows if r.name.startswith(f"{name}:")]
        steps_row = mine[0]
        evaluated = steps_row.details["evaluated"]
        grid = [n for n in steps_row.details["grid"] if any(f"{r}@{n}" in evaluated for r in bench_foundation.RULES)]
        table = [
            [SHORT[rule]] + [f"{evaluated[f'{rule}@{n}']:.1e}" if f"{rule}@{n}" in evaluated else "-" for n in grid]
            for rule in bench_foundation.RULES
        ]
        print(f"  {name}: completeness error max |delta| / |f(x) - f(x0)| vs n_steps")
        print_table(["rule"] + [str(n) for n in grid], table)
        value, shown = gl_advantage(steps_row.details["needed"], steps_row.details["grid"][-1])
        out.append(dataclasses.replace(steps_row, row="steps"))
        out.append(
            Row(
                "steps",
                f"{name}: right-Riemann steps / GL steps for rtol 1e-3",
                value,
                shown,
                f">= {TARGET_GL_ADVANTAGE:g}x",
                None if value is None else value >= TARGET_GL_ADVANTAGE,
                {"needed": steps_row.details["needed"]},
            )
        )
        out += [dataclasses.replace(r, row="steps") for r in mine if "auto" in r.name and "evaluations" not in r.name]
    print()
    return out


# --- the other helpers' benchmarks, when present ---------------------------------------------
def external_rows(group: str, cfg: Config) -> list[Row]:
    """``bench_<group>.rows(quick, device)`` when benchmarks/bench_<group>.py exists."""
    if not (HERE / f"bench_{group}.py").exists():
        return [Row(group, f"bench_{group}.py", None, f"skipped: benchmarks/bench_{group}.py not present")]
    print(f"[{group}]")
    module = importlib.import_module(f"bench_{group}")
    rows = module.rows(cfg.quick, cfg.device)
    print()
    return [dataclasses.replace(r, row=f"{group}:{r.row}" if r.row != group else r.row) for r in rows]


def run_group(group: str, cfg: Config, backends: tuple[str, ...] = ("torch",)) -> list[Row]:
    """One group's rows; a group that fails is reported as a row, not raised."""
    try:
        if group == "captum":
            return captum_rows(cfg)
        if group == "reference":
            return reference_rows(cfg)
        if group == "dftlrp":
            return dftlrp_rows(cfg)
        if group == "overhead":
            return overhead_rows(cfg, backends)
        if group == "domains":
            return domains_rows(cfg)
        if group == "steps":
            return steps_rows(cfg)
        return external_rows(group, cfg)
    except Exception as e:  # noqa: BLE001 - report, never gate
        traceback.print_exc()
        return [Row(group, group, None, f"failed: {type(e).__name__}: {e}")]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and 3 rounds: a smoke run")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument(
        "--threads", type=int, default=None, help="threads (default: the usable cores; fewer pins the process to that many cores)"
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write machine, settings and rows as JSON")
    p.add_argument(
        "--only", default=",".join(GROUPS), metavar="ROWS", help=f"comma-separated groups (default: all): {', '.join(GROUPS)}"
    )
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; --quick 3)")
    p.add_argument("--steps", default=",".join(map(str, STEPS)), help="n_steps of the per-step rows (default 16,50,200)")
    p.add_argument("--backends", default="torch", help="backends of the overhead rows (default torch)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    groups = [g.strip() for g in a.only.split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        p.error(f"--only: unknown {bad}; groups are {', '.join(GROUPS)}")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {a.device}: CUDA is not available here")
    t_start = time.perf_counter()
    threads = bench_backends.configure_threads(a.threads, a.device)  # before TensorFlow or JAX start
    torch.set_num_threads(threads["threads"])
    cfg = Config(
        quick=a.quick,
        device=a.device,
        repeats=a.repeats,
        seed=a.seed,
        threads=threads,
        steps=tuple(int(s) for s in a.steps.split(",")),
    )
    backends = tuple(b.strip() for b in a.backends.split(",") if b.strip())
    machine = describe_machine(a.device)
    machine["usable_cores"] = threads["usable_cores"]
    machine["thread_setup"] = threads
    try:
        from importlib.metadata import version

        machine[REFERENCE] = version(REFERENCE)
    except Exception:  # noqa: BLE001
        machine[REFERENCE] = None
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()) + "\n")
    rows: list[Row] = []
    for g in groups:
        rows += run_group(g, cfg, backends)
    total = time.perf_counter() - t_start
    print_table(
        ["row", "what", "value", "target", "verdict"], [[r.row, r.name, r.shown, r.target or "-", r.verdict] for r in rows]
    )
    pinned = f", pinned to core(s) {threads['pinned_cores']}" if threads["pinned_cores"] else ""
    print(
        f"\nmachine: {machine['cpu']} ({machine['usable_cores']} usable cores), torch {machine['torch']} with "
        f"{torch.get_num_threads()} thread(s){pinned}, device {machine['device']} ({machine['device_name']}); "
        f"{REFERENCE} {machine[REFERENCE]}; load average at start {machine['load_average']}, at end "
        f"{load_average()}; total {total:.0f} s"
    )
    if a.json:
        path = write_json(a.json, machine, {**vars(a), "total_s": total}, rows)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
