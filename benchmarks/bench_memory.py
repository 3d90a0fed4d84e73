"""Peak memory of cdig.explain: flat in ``n_steps`` at a fixed ``internal_batch_size``; ``"auto"`` within its budget.

Rows:

M1. peak(n_steps=800) / peak(n_steps=16) at a fixed internal_batch_size, per domain ("time",
    "fourier", and the nonlinear "magphase", which integrates along its own path), with the default
    rule (Gauss-Legendre), and for the time domain with ``riemann_middle`` too: the nodes of a
    Riemann rule cost nothing, so that line isolates the path integral itself. Target <= 1.2.
M2. peak(4x the internal_batch_size) / peak(internal_batch_size), time domain (info): a check that
    the measurement sees the chunk's memory at all (expected: a little under 4).
M3. ``internal_batch_size="auto"`` with ``memory_budget`` = 64 / 256 / 1024 MiB (``--quick``: 16 / 64 /
    256 MiB): max over budgets of measured peak / budget, target <= 1.0; the chosen chunk must grow
    with the budget.
M4. (info) peak memory and time of the Gauss-Legendre nodes and weights alone for n_steps 800, 1600
    and 4096 (uncached). Up to 128 points they come from numpy's ``leggauss`` (eigenvalues of a
    dense n x n matrix, O(n^2) memory, O(n^3) time); above, from ``scipy.special.roots_legendre``
    (O(n) memory; its time grows about as n^2, 0.35 s at 4096 points). With ``leggauss`` at every n
    this transient was what made M1 exceed 1 when a chunk is small (258 MiB and 42 s at 4096
    points); the row checks that it stays negligible.
M5. ``internal_batch_size="auto"`` on one long series, ``(1, 1, 2**20)`` float32, a two-layer Conv1d
    (width 4, tanh) model, domains time + fourier, ``n_steps=16``: max over budgets 256 / 512 / 1024 MiB of
    peak / budget, target <= 1.1 (``--quick``: 2**18 samples, 64 / 256 MiB). A budget too small is
    refused with a CdigValueError, which counts as within budget when its peak is.
M6. The same on a typical batch, ``64 x 3 x 1024``, a small CNN (two Conv1d of width 32, GELU, pooling,
    linear), budgets 64 / 256 / 1024 MiB (``--quick``: 16 x 3 x 1024, 16 / 64 MiB). Target <= 1.1.
M7. The probe: the long series of M5 with ``memory_budget`` = 64 MiB (too small: refused), peak /
    budget of the refused call, target <= 1.0 (the refusal comes before anything large is allocated).
M8. M6's typical batch with ``n_steps="auto"`` (the adaptive rule; its host store of interval
    contributions is a share of the budget), budgets 64 / 256 MiB (``--quick``: 16 / 64). Target <= 1.1.

How peak memory is measured:

* CUDA: ``torch.cuda.max_memory_allocated`` after ``torch.cuda.reset_peak_memory_stats``, minus
  ``torch.cuda.memory_allocated`` before the call: bytes of live tensors, exact.
* CPU: in a fresh Python process per configuration, two at a time (``--quick``: one process for all,
  the configurations one after another), the process's peak resident set. The process is started
  with ``MALLOC_MMAP_THRESHOLD_=65536``, so glibc serves every block of 64 KiB or more (every tensor
  that matters) with its own ``mmap`` and returns it with ``munmap`` when freed; without it glibc
  raises the threshold after the first large free and keeps later blocks in its heap, where what
  earlier calls left (reused or fragmented) decides how far the resident set rises (the same two
  runs read 27.8 and 39.9 MiB that way, 21.5 and 22.0 MiB with the setting). The model and input are
  built, ``cdig.explain`` runs once to warm up (library code pages, oneDNN kernels), then
  ``/proc/self/clear_refs`` is written with ``5``, which resets the kernel's high-water mark
  ``VmHWM`` to the current ``VmRSS``; the measured call runs, and its peak is ``VmHWM - VmRSS``
  before it. Pages are counted when touched, so this is the memory actually used, allocator slack
  and workspaces included. Each worker also measures a 32 MiB tensor the same way (``calibration``),
  which must read 32 MiB.

The script reports; it never gates: the exit code is 0 whatever the verdicts.

    python benchmarks/bench_memory.py --quick        # about a minute on 2 CPU cores
    python benchmarks/bench_memory.py                # 5-9 minutes on 2 CPU cores (M5: 2^20 samples)
    python benchmarks/bench_memory.py --device cuda --json memory.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, describe_machine, print_table, write_json

MIB = 2**20
FLAT_STEPS = (16, 50, 200, 800)
QUICK_STEPS = (16, 800)
DOMAINS = ("time", "fourier", "magphase")
BUDGETS_MIB = (64, 256, 1024)
QUICK_BUDGETS_MIB = (16, 64, 256)
CALIBRATION_MIB = 32
#: n_steps whose Gauss-Legendre nodes are measured alone (scipy's roots_legendre above 128 points).
RULE_PROBE = (800, 1600, 4096)
#: glibc: every block of this size or more gets its own mmap, released on free (see the module docstring).
MMAP_THRESHOLD = 65536


def settings(quick: bool) -> dict[str, Any]:
    """Model and input sizes: batch rows x n_steps=16 fill one chunk, so every configuration runs full chunks."""
    if quick:
        return {
            "batch": 4,
            "channels": 3,
            "length": 256,
            "width": 16,
            "internal_batch_size": 64,
            "steps": QUICK_STEPS,
            "budgets_mib": QUICK_BUDGETS_MIB,
            "auto_steps": 800,
        }
    return {
        "batch": 8,
        "channels": 3,
        "length": 512,
        "width": 16,
        "internal_batch_size": 128,
        "steps": FLAT_STEPS,
        "budgets_mib": BUDGETS_MIB,
        "auto_steps": 800,
    }


# --- the worker: runs in its own process ------------------------------------------------------
def _status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":", 1)
                out[key] = int(val.split()[0]) * 1024.0  # kB
    return out


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def _make_model(channels: int, width: int) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv1d(channels, width, 7, padding=3),
        nn.GELU(),
        nn.Conv1d(width, width, 7, padding=3),
        nn.GELU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(width, 5),
    ).eval()


def _fresh_rule(n: int) -> Any:
    """Gauss-Legendre nodes and weights for ``n`` points computed afresh (cdig caches them)."""
    from cdig.core import rules

    cached = getattr(rules, "_gausslegendre", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()
    return rules.get_rule("gausslegendre", n)


#: M5-M7: (batch, channels, length, width) of the long series and of the typical batch.
SCENARIOS = {"long": (1, 1, 2**20, 4), "typical": (64, 3, 1024, 32)}
QUICK_SCENARIOS = {"long": (1, 1, 2**18, 4), "typical": (16, 3, 1024, 32)}
LONG_BUDGETS_MIB, QUICK_LONG_BUDGETS_MIB = (256, 512, 1024), (64, 256)
TYPICAL_BUDGETS_MIB, QUICK_TYPICAL_BUDGETS_MIB = (64, 256, 1024), (16, 64)
PROBE_BUDGET_MIB = 64


def _scenario_model(name: str, channels: int, width: int) -> Any:
    from torch import nn

    if name == "long":
        return nn.Sequential(
            nn.Conv1d(channels, width, 9, padding=4),
            nn.Tanh(),
            nn.Conv1d(width, width, 9, padding=4),
            nn.Tanh(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(width, 2),
        ).eval()
    return _make_model(channels, width)


def _scenario(cfg: dict[str, Any]) -> dict[str, Any]:
    """M5-M7: one budgeted explanation (time + fourier) of a scenario's model, in this fresh process."""
    import torch

    import cdig

    n, c, t, w = cfg["shape"]
    torch.manual_seed(0)
    model = _scenario_model(cfg["scenario"], c, w)
    x = torch.randn(n, c, t, generator=torch.Generator().manual_seed(0))
    budget = int(cfg["budget_mib"] * MIB)
    kw: dict[str, Any] = {"target": 0, "n_steps": cfg.get("n_steps", 16), "internal_batch_size": "auto", "memory_budget": budget}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up on a short piece, budgeted as well (code pages, oneDNN kernels, the probe's machinery)
        cdig.explain(
            model,
            x[..., : min(t, 4096)],
            ("time", "fourier"),
            target=0,
            n_steps=4,
            internal_batch_size="auto",
            memory_budget="1GiB",
        )
        gc.collect()
        _reset_hwm()
        before = _status()
        refused, used = None, None
        try:
            maps = cdig.explain(model, x, ("time", "fourier"), **kw)
            used = maps["time"].settings["internal_batch_size_used"]
            del maps
        except cdig.CdigValueError as exc:
            refused = str(exc)
        peak = _status()["VmHWM"] - before["VmRSS"]
    return {**cfg, "peak_bytes": peak, "internal_batch_size_used": used, "refused": refused}


def _worker(payload: dict[str, Any]) -> dict[str, Any]:
    """Measure each configuration of ``payload["configs"]``: peak bytes above the state before the call."""
    import torch

    import cdig
    from cdig.core.rules import get_rule

    torch.set_num_threads(1)
    s, device = payload["settings"], torch.device(payload["device"])
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = _make_model(s["channels"], s["width"]).to(device)
    x = torch.randn(s["batch"], s["channels"], s["length"], generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        target = model(x).argmax(1)
    # warm-up of the rule's libraries (code pages, lazy imports), as the warm-up call does for the
    # model: numpy.linalg (leggauss, up to 128 points) and scipy.special (roots_legendre, above)
    _fresh_rule(64)
    _fresh_rule(129)

    def call(cfg: dict[str, Any], n_steps: int) -> dict:
        kw: dict[str, Any] = {"internal_batch_size": cfg["internal_batch_size"], "method": cfg["method"]}
        if cfg.get("budget_mib"):
            kw["memory_budget"] = int(cfg["budget_mib"] * MIB)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cdig.explain(model, x, cfg["domain"], target=target, n_steps=n_steps, **kw)

    def peak_of(fn: Any) -> tuple[float, Any]:
        gc.collect()
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            out = fn()
            torch.cuda.synchronize(device)
            return float(torch.cuda.max_memory_allocated(device) - base), out
        _reset_hwm()
        before = _status()
        if abs(before["VmHWM"] - before["VmRSS"]) > MIB:
            raise RuntimeError("writing 5 to /proc/self/clear_refs did not reset VmHWM")
        out = fn()
        return _status()["VmHWM"] - before["VmRSS"], out

    results = []
    for cfg in payload["configs"]:
        t0 = time.perf_counter()
        if "scenario" in cfg:
            results.append({**_scenario(cfg), "seconds": time.perf_counter() - t0})
            continue
        if "rule_probe" in cfg:  # Gauss-Legendre's nodes and weights alone, no model, not from the cache
            n = cfg["rule_probe"]

            def timed(n: int = n) -> float:
                t = time.perf_counter()
                _fresh_rule(n)
                return time.perf_counter() - t

            peak, secs = peak_of(timed) if not cuda else (None, timed())
            results.append({**cfg, "peak_bytes": peak, "seconds": secs})
            continue
        call(cfg, min(cfg["n_steps"], 16))  # warm-up: code pages, oneDNN kernels, caches
        peak, maps = peak_of(lambda cfg=cfg: call(cfg, cfg["n_steps"]))
        used = next(iter(maps.values())).settings.get("internal_batch_size_used")
        del maps
        # the integration rule's nodes alone (as cdig gets them: from its cache after the call)
        rule_peak = None if cuda else peak_of(lambda cfg=cfg: get_rule(cfg["method"], cfg["n_steps"]))[0]
        results.append(
            {
                **cfg,
                "peak_bytes": peak,
                "internal_batch_size_used": used,
                "rule_peak_bytes": rule_peak,
                "seconds": time.perf_counter() - t0,
            }
        )
    calib = None
    if not cuda:

        def alloc() -> None:
            t = torch.ones(CALIBRATION_MIB * MIB // 4)
            del t

        calib = peak_of(alloc)[0]
    return {"results": results, "calibration_bytes": calib, "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_")}


# --- the parent: starts workers, builds rows ------------------------------------------------
def _run_workers(groups: list[list[dict]], s: dict, device: str, timeout: float) -> tuple[list[dict], list[float], list[str]]:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD), OMP_NUM_THREADS="1")
    results, calibs, errors = [], [], []

    def start(configs: list[dict]) -> subprocess.CompletedProcess | str:
        payload = json.dumps({"settings": s, "device": device, "configs": configs})
        try:
            return subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--worker", payload],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return f"worker timed out after {timeout:.0f} s: {configs}"

    # Each worker measures its own process, so on the CPU two may run side by side (a GPU's
    # allocator statistics are per process too, but the workers would share its memory: one at a time).
    parallel = 1 if device.startswith("cuda") else 2
    with ThreadPoolExecutor(parallel) as pool:
        procs = list(pool.map(start, groups))
    for proc in procs:
        if isinstance(proc, str):
            errors.append(proc)
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            errors.append(f"worker failed (exit {proc.returncode}): {tail[0]}")
            continue
        out = json.loads(lines[-1][len("RESULT ") :])
        results += out["results"]
        if out["calibration_bytes"] is not None:
            calibs.append(out["calibration_bytes"])
    return results, calibs, errors


def _auto_supported() -> bool:
    import inspect

    import cdig

    return "memory_budget" in inspect.signature(cdig.explain).parameters


def rows(quick: bool = False, device: str = "cpu") -> list[Row]:
    """The memory rows; a row that cannot run comes back as an 'info' row saying why (never raises)."""
    try:
        return _rows(quick, device)
    except Exception as exc:  # noqa: BLE001 - the suite must go on
        return [Row("M", "peak memory", None, "not run", "", None, {"error": f"{type(exc).__name__}: {exc}"})]


def _rows(quick: bool, device: str) -> list[Row]:
    import torch

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        return [Row("M", "peak memory", None, "not run", "", None, {"error": f"device {device!r}: CUDA is not available"})]
    if torch.device(device).type == "cpu" and not Path("/proc/self/clear_refs").exists():
        return [
            Row(
                "M",
                "peak memory",
                None,
                "not run",
                "",
                None,
                {"error": "CPU peak memory needs Linux /proc/self/clear_refs and VmHWM"},
            )
        ]
    s = settings(quick)
    ibs = s["internal_batch_size"]
    gl = "gausslegendre"
    lines = [(d, gl) for d in DOMAINS] + [("time", "riemann_middle")]
    flat = [{"domain": d, "method": m, "n_steps": n, "internal_batch_size": ibs} for d, m in lines for n in s["steps"]]
    big = {"domain": "time", "method": gl, "n_steps": 4 * ibs // s["batch"], "internal_batch_size": 4 * ibs, "label": "ibs x4"}
    auto = (
        [
            {"domain": "time", "method": gl, "n_steps": s["auto_steps"], "internal_batch_size": "auto", "budget_mib": b}
            for b in s["budgets_mib"]
        ]
        if _auto_supported()
        else []
    )
    probes = [{"rule_probe": n} for n in RULE_PROBE]
    scen = SCENARIOS if not quick else QUICK_SCENARIOS
    budgeted = (
        [
            {"scenario": "long", "shape": scen["long"], "budget_mib": b, "row": "M5"}
            for b in (QUICK_LONG_BUDGETS_MIB if quick else LONG_BUDGETS_MIB)
        ]
        + [
            {"scenario": "typical", "shape": scen["typical"], "budget_mib": b, "row": "M6"}
            for b in (QUICK_TYPICAL_BUDGETS_MIB if quick else TYPICAL_BUDGETS_MIB)
        ]
        + [{"scenario": "long", "shape": scen["long"], "budget_mib": PROBE_BUDGET_MIB, "row": "M7"}]
        + [
            {"scenario": "typical", "shape": scen["typical"], "budget_mib": b, "row": "M8", "n_steps": "auto"}
            for b in (QUICK_TYPICAL_BUDGETS_MIB if quick else TYPICAL_BUDGETS_MIB[:2])
        ]
        if _auto_supported() and device == "cpu"
        else []
    )
    configs = flat + [big] + auto + probes + budgeted
    if quick:  # one process, the configurations in turn (each with its own warm-up and reset)
        groups = [configs]
    else:  # one fresh process per configuration (the rule probes: one for both)
        groups = [[c] for c in configs if "rule_probe" not in c] + [probes]
    if quick and budgeted:  # the budgeted rows each in their own process: they measure the whole process
        groups = [[c for c in configs if "scenario" not in c]] + [[c] for c in budgeted]
    results, calibs, errors = _run_workers([g for g in groups if g], s, device, 90.0 if quick else 600.0)

    def find(**kw: Any) -> dict | None:
        return next((r for r in results if all(r.get(k) == v for k, v in kw.items()) and "label" not in r), None)

    out: list[Row] = []
    common = {"settings": s, "device": device, "calibration_mib": [c / MIB for c in calibs], "errors": errors}
    lo, hi = s["steps"][0], s["steps"][-1]
    for d, m in lines:
        r_lo = find(domain=d, method=m, n_steps=lo, internal_batch_size=ibs)
        r_hi = find(domain=d, method=m, n_steps=hi, internal_batch_size=ibs)
        name = f"{d}, {m}: peak(n_steps={hi}) / peak(n_steps={lo}), internal_batch_size {ibs}"
        if r_lo is None or r_hi is None or r_lo["peak_bytes"] <= 0:
            out.append(Row("M1", name, None, "not run", "<= 1.2", None, common))
            continue
        ratio = r_hi["peak_bytes"] / r_lo["peak_bytes"]
        peaks = {n: (find(domain=d, method=m, n_steps=n, internal_batch_size=ibs) or {}).get("peak_bytes") for n in s["steps"]}
        shown = f"{ratio:.3f} (" + " / ".join(f"{p / MIB:.1f}" if p else "-" for p in peaks.values()) + " MiB)"
        rule = {
            n: (find(domain=d, method=m, n_steps=n, internal_batch_size=ibs) or {}).get("rule_peak_bytes") for n in s["steps"]
        }
        out.append(
            Row("M1", name, ratio, shown, "<= 1.2", ratio <= 1.2, {**common, "peak_bytes": peaks, "rule_nodes_peak_bytes": rule})
        )
    rb = next((r for r in results if r.get("label") == "ibs x4"), None)
    r1 = find(domain="time", method=gl, n_steps=lo, internal_batch_size=ibs)
    if rb and r1 and r1["peak_bytes"] > 0:
        ratio = rb["peak_bytes"] / r1["peak_bytes"]
        out.append(
            Row(
                "M2",
                f"time: peak(internal_batch_size {4 * ibs}) / peak({ibs}) (the measure sees chunks)",
                ratio,
                f"{ratio:.2f} ({rb['peak_bytes'] / MIB:.1f} / {r1['peak_bytes'] / MIB:.1f} MiB)",
                "",
                None,
                {**common, "peaks": [rb["peak_bytes"], r1["peak_bytes"]]},
            )
        )
    out.append(auto_row(results, s, common) if auto else auto_row_todo())
    out += budget_rows(results, common)
    rp = sorted((r for r in results if "rule_probe" in r and r["peak_bytes"] is not None), key=lambda r: r["rule_probe"])
    if len(rp) == len(RULE_PROBE):
        big = max(r["peak_bytes"] for r in rp)
        out.append(
            Row(
                "M4",
                "Gauss-Legendre nodes alone: peak at n_steps " + " / ".join(str(r["rule_probe"]) for r in rp),
                big / MIB,
                " / ".join(f"{r['peak_bytes'] / MIB:.2f}" for r in rp)
                + " MiB; "
                + " / ".join(f"{r['seconds']:.3f}" for r in rp)
                + " s",
                "",
                None,
                {**common, "probes": rp},
            )
        )
    return out


def auto_row(results: list[dict], s: dict, common: dict) -> Row:
    """M3: ``internal_batch_size="auto"``: measured peak within each budget, chunk growing with the budget."""
    got = [r for r in results if r.get("internal_batch_size") == "auto"]
    name = f"auto: max peak / memory_budget over {'/'.join(map(str, s['budgets_mib']))} MiB; chunk grows"
    if len(got) != len(s["budgets_mib"]):
        return Row("M3", name, None, "not run", "<= 1.0", None, common)
    got.sort(key=lambda r: r["budget_mib"])
    fracs = [r["peak_bytes"] / (r["budget_mib"] * MIB) for r in got]
    chunks = [r["internal_batch_size_used"] for r in got]
    grows = all(b > a for a, b in zip(chunks, chunks[1:]) if a is not None and b is not None) and None not in chunks
    worst = max(fracs)
    shown = (
        f"{worst:.2f}; peaks "
        + " / ".join(f"{r['peak_bytes'] / MIB:.0f}" for r in got)
        + " MiB; chunks "
        + " / ".join(map(str, chunks))
    )
    return Row(
        "M3",
        name,
        worst,
        shown,
        "<= 1.0 and growing",
        worst <= 1.0 and grows,
        {**common, "peak_bytes": [r["peak_bytes"] for r in got], "chunks": chunks, "fractions": fracs},
    )


def budget_rows(results: list[dict], common: dict) -> list[Row]:
    """M5-M7: peak above the state before the call / memory_budget (a refusal is within budget if its peak is)."""
    out = []
    names = {
        "M5": "auto, one long series (time+fourier): max peak / memory_budget",
        "M6": "auto, typical batch (time+fourier): max peak / memory_budget",
        "M7": "auto, long series, budget too small: peak of the refused call / memory_budget",
        "M8": "auto, typical batch, n_steps='auto' (adaptive, its host store in the budget): max peak / memory_budget",
    }
    for row, name in names.items():
        got = sorted((r for r in results if r.get("row") == row), key=lambda r: r["budget_mib"])
        if not got:
            continue
        fracs = [r["peak_bytes"] / (r["budget_mib"] * MIB) for r in got]
        worst = max(fracs)
        target = 1.0 if row == "M7" else 1.1
        shown = "; ".join(
            f"{r['budget_mib']} MiB: {r['peak_bytes'] / MIB:.0f} MiB = {f:.2f}"
            + (" refused" if r["refused"] else f", chunk {r['internal_batch_size_used']}")
            for r, f in zip(got, fracs)
        )
        n, c, t, _ = got[0]["shape"]
        ok = worst <= target and (row != "M7" or all(r["refused"] for r in got))
        out.append(Row(row, f"{name} ({n}x{c}x{t})", worst, shown, f"<= {target}", ok, {**common, "runs": got}))
    return out


def auto_row_todo() -> Row:
    """TODO(memory_budget): cdig.explain has no ``memory_budget`` here; M3 runs once it has."""
    return Row(
        "M3", "auto: peak / memory_budget (TODO: cdig.explain has no memory_budget yet)", None, "not run", "<= 1.0", None, {}
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller model, n_steps 16 and 800 only, one worker process")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--json", default=None, metavar="PATH", help="also write machine, settings and rows as JSON")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker is not None:
        print("RESULT " + json.dumps(_worker(json.loads(a.worker))))
        return 0
    import torch

    torch.set_num_threads(1)
    machine = describe_machine(a.device)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    s = settings(a.quick)
    print(
        f"model: 2-layer GELU Conv1d (width {s['width']}), input {s['batch']} x {s['channels']} x {s['length']}, "
        f"1 thread per worker\n"
    )
    t0 = time.perf_counter()
    out = rows(a.quick, a.device)
    print_table(["row", "measured", "value", "target", "verdict"], [[r.row, r.name, r.shown, r.target, r.verdict] for r in out])
    calib = next((r.details.get("calibration_mib") for r in out if r.details.get("calibration_mib")), None)
    if calib:
        print(f"\ncalibration: a {CALIBRATION_MIB} MiB tensor measured as " + ", ".join(f"{c:.2f}" for c in calib) + " MiB")
    for err in {e for r in out for e in r.details.get("errors", [])}:
        print("error:", err)
    for r in out:
        rule = r.details.get("rule_nodes_peak_bytes")
        if rule and any(rule.values()):
            print(
                f"{r.row} {r.name.split(':')[0]}: the rule's nodes alone peak at "
                + " / ".join(f"{v / MIB:.1f}" if v is not None else "-" for v in rule.values())
                + " MiB"
            )
    for r in out:
        if "error" in r.details:
            print(f"{r.row}: {r.details['error']}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    if a.json:
        write_json(a.json, machine, s, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
