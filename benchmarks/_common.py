"""Shared helpers of cdig's benchmarks: timing, the machine's description, a table, JSON output.

Benchmarks report ratios against a reference measured in the same run, on the same model and
inputs; absolute times are printed only next to the machine that produced them.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "rows_main",
    "Row",
    "describe_machine",
    "load_average",
    "measure",
    "ratios",
    "synchronizer",
    "print_table",
    "write_json",
    "fmt_seconds",
]


@dataclass
class Row:
    """One line of the final table: what was measured, the ratio, the target and the verdict.

    ``passed`` is None for rows that inform without a target.
    """

    row: str
    name: str
    value: float | None
    shown: str
    target: str = ""
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "info" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS does not say): other work on the machine."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def describe_machine(device: Any = "cpu") -> dict[str, Any]:
    """CPU model and cores, OS, Python and library versions, torch threads and the device's name."""
    import numpy
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "load_average": load_average(),
    }
    dev = torch.device(device)
    if dev.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(dev)
        info["cuda"] = torch.version.cuda
    else:
        info["device_name"] = info["cpu"]
    for mod in ("cdig", "captum", "sklearn"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional library is just not described
            info[mod] = None
    return info


def synchronizer(device: Any) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def measure(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] = lambda: None,
) -> dict[str, dict[str, Any]]:
    """Median wall time of each function, interleaved so that drift hits all of them alike.

    Every function is called ``warmup`` times first (not timed), then ``repeats`` rounds run each
    function once; the order of the functions alternates from round to round. The device is
    synchronised before the clock starts and before it is read.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            sync()
            t0 = time.perf_counter()
            fns[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
    return {name: {"median_s": statistics.median(ts), "min_s": min(ts), "times_s": ts} for name, ts in times.items()}


def ratios(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Three estimates of time(a) / time(b) from interleaved repeats.

    ``paired``: the median over rounds of a[r] / b[r]; the two runs of a round are adjacent in time,
    so they share the machine's load, which makes this the estimate least moved by other work.
    ``of_medians`` and ``of_mins``: the ratio of the medians, and of the fastest runs.
    """
    return {
        "paired": statistics.median(x / y for x, y in zip(a, b)),
        "of_medians": statistics.median(a) / statistics.median(b),
        "of_mins": min(a) / min(b),
    }


def fmt_seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{1e3 * s:.2f} ms"
    return f"{1e6 * s:.1f} us"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], file: Any = None) -> None:
    """A plain, left-aligned text table."""
    out = file or sys.stdout
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(cells[0], widths)), file=out)
    print(line, file=out)
    for r in cells[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)), file=out)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "tolist"):
        return _jsonable(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def write_json(
    path: str | os.PathLike[str], machine: Mapping[str, Any], settings: Mapping[str, Any], rows: Sequence[Row]
) -> Path:
    """Write the machine, the settings and every row (with its details) as JSON."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True)
    payload = {"machine": machine, "settings": settings, "rows": [asdict(r) | {"verdict": r.verdict} for r in rows]}
    p.write_text(json.dumps(_jsonable(payload), indent=2) + "\n", encoding="utf-8")
    return p


def rows_main(doc: str, rows: Callable[[bool, str], list[Row]], quick_help: str, argv: Sequence[str] | None = None) -> int:
    """The command line of a benchmark module that exposes ``rows(quick, device)``: run, print the table."""
    import argparse

    import torch

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    machine = describe_machine(a.device)
    out = rows(a.quick, a.device)
    print()
    print_table(["row", "measured", "value", "target", "verdict"], [(r.row, r.name, r.shown, r.target, r.verdict) for r in out])
    print(
        f"\n{machine.get('cpu', '')}, {machine.get('usable_cores')} usable cores, torch {torch.__version__}, "
        f"load average {machine.get('load_average')}"
    )
    if a.json:
        write_json(a.json, machine, vars(a), out)
    return 0
