"""Fault probe of the data-set store: crashes, races, changed inputs and damage, with real processes.

Every trial ends in one of three outcomes:

* ``identical`` — the store, after the fault and the same ``explain_dataset`` call run again, holds
  exactly what an uninterrupted run writes (every array's bytes and dtype, every attribute) and
  ``verify()`` finds nothing;
* ``refused`` — cdig refused with a one-line ``CdigValueError`` and changed nothing it should not;
* ``other`` — anything else (a wrong store, a traceback, a hang): a bug.

Faults: a kill after each of the first 50 file writes (injected in-process); random ``SIGKILL`` of
a subprocess running ``explain_dataset`` at random times, then the same call; two writer processes
at once (the second is refused; the first must finish identical); changed data (in a later chunk)
and changed models (weights; architecture Tanh -> ReLU with the same weights; a plain function's
code); damaged chunks (deleted / one byte flipped / truncated, of values, delta, target and the data
hashes) found by ``verify()`` and repaired by the same call; a full disk (a real, small tmpfs when
this runs as root, else an injected ``ENOSPC``), then resumed after space is freed.

    python benchmarks/fault_probe.py --quick     # about 3 minutes on 2 busy CPU cores
    python benchmarks/fault_probe.py             # about 6 minutes on 2 busy CPU cores

It reports; it never gates (the test suite's tests/dataset/test_store_faults.py does).
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

JOB = textwrap.dedent("""
    import sys, time
    import numpy as np, torch, cdig
    torch.set_num_threads(1)

    def net(act="tanh", seed=0):
        torch.manual_seed(seed)
        a = torch.nn.Tanh() if act == "tanh" else torch.nn.ReLU()
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 6), a, torch.nn.Linear(6, 3)).double().eval()

    class Slow(torch.nn.Module):
        def __init__(self, inner, delay):
            super().__init__()
            self.inner, self.delay = inner, delay
        def forward(self, x):
            time.sleep(self.delay)
            return self.inner(x)

    _NET = net()
    def plain(x):
        return _NET(x)
    def plain_changed(x):
        return _NET(x) * 1.5

    def model(variant, delay=0.0):
        if variant == "plain":
            return plain
        if variant == "plain_changed":
            return plain_changed
        inner = {"base": lambda: net(), "weights": lambda: net(seed=1), "relu": lambda: net("relu")}[variant]()
        return Slow(inner, delay) if delay else inner

    def data(changed_row=None):
        x = np.random.default_rng(0).normal(size=(24, 2, 16))
        if changed_row is not None:
            x[changed_row, 0, 0] += 1e-6
        return x

    def run(out, variant="base", delay=0.0, changed_row=None, n_steps=4, overwrite=False):
        return cdig.explain_dataset(model(variant, delay), data(changed_row), out, ("time", "fourier"),
                                    target="predicted", batch_size=3, n_steps=n_steps, progress=False,
                                    overwrite=overwrite)

    def main(argv):
        # run as "import job; job.main(...)", not as __main__: the model's classes live in module "job" in
        # every process, as their fingerprint (which covers the code) requires
        out, variant, delay = argv[0], argv[1], float(argv[2])
        n_steps = int(argv[3]) if len(argv) > 3 else 4
        try:
            run(out, variant, delay, n_steps=n_steps)
        except cdig.CdigValueError as e:
            print("REFUSED:", e, flush=True)
            sys.exit(3)
""")


def identical(a: Path, b: Path) -> bool:
    import cdig
    from cdig.testing import store_differences

    return not store_differences(a, b) and cdig.open_explained(a).verify() == [] and cdig.open_explained(a).complete


class Probe:
    def __init__(self, quick: bool, seed: int) -> None:
        self.quick = quick
        self.rng = random.Random(seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="cdig-fault-probe-"))
        (self.tmp / "job.py").write_text(JOB)
        sys.path.insert(0, str(self.tmp))
        import job  # noqa: F401 - the same code the subprocesses run

        self.job = sys.modules["job"]
        self.rows: list[tuple[str, Counter[str], str]] = []
        self.refs: dict[str, Path] = {}
        self.n = 0

    def out(self) -> Path:
        self.n += 1
        return self.tmp / f"s{self.n}.zarr"

    def ref(self, variant: str = "base", delay: float = 0.0) -> Path:
        """An uninterrupted run's store (the model's fingerprint covers its wrapper: same delay, same store)."""
        key = f"{variant}-{delay}"
        if key not in self.refs:
            self.refs[key] = self.tmp / f"ref-{key}.zarr"
            self.job.run(self.refs[key], variant, delay)
        return self.refs[key]

    def resume_outcome(self, out: Path, variant: str = "base", delay: float = 0.0) -> str:
        import warnings

        import cdig

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", cdig.CdigWarning)  # "damaged chunks recomputed" is expected
                self.job.run(out, variant, delay)
        except cdig.CdigValueError as e:
            print("    refused:", e)
            return "refused" if "\n" not in str(e) else "other"
        return "identical" if identical(out, self.ref(variant, delay)) else "other"

    def subprocess(self, out: Path, variant: str = "base", delay: float = 0.0, n_steps: int = 4) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, sys.argv[1]); import job; job.main(sys.argv[2:])",
                str(self.tmp),
                str(out),
                variant,
                str(delay),
                str(n_steps),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def record(self, fault: str, outcomes: Counter[str], note: str = "") -> None:
        self.rows.append((fault, outcomes, note))
        print(f"  {fault}: {dict(outcomes)} {note}", flush=True)

    # --- the faults -----------------------------------------------------------------------------
    def injected_kills(self) -> None:
        from zarr.storage import LocalStore

        class Killed(BaseException):
            pass

        orig = LocalStore.set
        counts = Counter[str]()
        ks = range(50) if not self.quick else range(0, 50, 5)
        for k in ks:
            out = self.out()
            n = [0]

            async def dying(self_: Any, key: str, value: Any, n: list[int] = n, k: int = k) -> None:
                n[0] += 1
                if n[0] > k:
                    raise Killed
                await orig(self_, key, value)

            LocalStore.set = dying
            try:
                self.job.run(out)
                counts["other"] += 1  # not interrupted: the job writes fewer than k files?
                continue
            except Killed:
                pass
            finally:
                LocalStore.set = orig
            counts[self.resume_outcome(out)] += 1
            shutil.rmtree(out, ignore_errors=True)
        self.record(f"kill after write k (injected), k = {ks.start}..{ks.stop - 1}", counts)

    def random_sigkills(self) -> None:
        trials = 8 if self.quick else 20
        # how long a whole job takes as a subprocess (interpreter, imports, the job itself)
        out = self.out()
        t = time.perf_counter()
        p = self.subprocess(out, delay=0.01)
        p.communicate()
        total = time.perf_counter() - t
        shutil.rmtree(out)
        counts = Counter[str]()
        states = Counter[str]()
        for _ in range(trials):
            out = self.out()
            p = self.subprocess(out, delay=0.01)
            time.sleep(self.rng.uniform(0.3 * total, 1.0 * total))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                states["killed"] += 1
            else:
                states["finished first"] += 1
            p.communicate()
            counts[self.resume_outcome(out, delay=0.01)] += 1
            shutil.rmtree(out, ignore_errors=True)
        self.record(
            "random SIGKILL of a writing subprocess, then the same call",
            counts,
            f"({states['killed']} killed mid-job, {states['finished first']} finished first; one job {total:.1f} s)",
        )

    def two_writers(self) -> None:
        trials = 2 if self.quick else 5
        counts = Counter[str]()
        for i in range(trials):
            out = self.out()
            a = self.subprocess(out, delay=0.25)
            deadline = time.time() + 60
            while not (out / "_done").exists() and time.time() < deadline and a.poll() is None:
                time.sleep(0.05)
            # the second writer: the same settings, or other ones (n_steps 8 vs 4)
            b = self.subprocess(out, delay=0.25, n_steps=4 if i % 2 == 0 else 8)
            b_out, _ = b.communicate()
            a_out, _ = a.communicate()
            b_refused = b.returncode == 3 and "being written by another job" in b_out
            a_ok = a.returncode == 0 and identical(out, self.ref(delay=0.25))
            if not (b_refused and a_ok):
                print(
                    f"    second writer: rc {b.returncode}: {b_out.strip()[-300:]};",
                    f"first: rc {a.returncode}: {a_out.strip()[-300:]}",
                )
            counts["refused" if (b_refused and a_ok) else "other"] += 1
            shutil.rmtree(out, ignore_errors=True)
        self.record("two writer processes on one store (2nd refused, 1st identical)", counts)

    def changed_data(self) -> None:
        import cdig

        counts = Counter[str]()
        for row in (4, 13, 23) if not self.quick else (13,):
            out = self.out()
            shutil.copytree(self.ref(), out)
            try:
                self.job.run(out, changed_row=row)
                counts["other"] += 1
            except cdig.CdigValueError as e:
                ok = "of the data changed" in str(e) and identical(out, self.ref())
                counts["refused" if ok else "other"] += 1
        # a partial store (chunks 0..3 done), then the data of chunk 2 changes
        out = self.out()
        p = self.subprocess(out, delay=0.05)
        while not (out / "_done").exists() and p.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        try:
            self.job.run(out, changed_row=7)
            counts["other"] += 1
        except cdig.CdigValueError as e:
            counts["refused" if "of the data changed" in str(e) or "other settings" in str(e) else "other"] += 1
        self.record("changed data (a row of a later chunk), complete and partial stores", counts)

    def changed_model(self) -> None:
        import cdig

        counts = Counter[str]()
        for base, changed in (("base", "weights"), ("base", "relu"), ("plain", "plain_changed")):
            out = self.out()
            self.job.run(out, base)
            try:
                self.job.run(out, changed)
                counts["other"] += 1
            except cdig.CdigValueError as e:
                counts["refused" if "other settings" in str(e) and "model" in str(e) else "other"] += 1
        self.record("changed model: weights; Tanh -> ReLU same weights; a plain function's code", counts)

    def damaged_chunks(self) -> None:
        import zarr

        import cdig

        counts = Counter[str]()
        seen = Counter[str]()
        arrays = ["time/values", "fourier/delta", "target", "_data_sha256"]
        for array in arrays:
            for how in ("delete", "flip", "truncate"):
                out = self.out()
                shutil.copytree(self.ref(), out)
                z = zarr.open_group(str(out), mode="r")[array]
                k = 0 if array == "_data_sha256" else self.rng.randrange(z.shape[0] // z.chunks[0])
                f = out / array / z.metadata.encode_chunk_key((k,) + (0,) * (z.ndim - 1))
                data = f.read_bytes()
                if how == "delete":
                    f.unlink()
                elif how == "flip":
                    b = bytearray(data)
                    b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
                    f.write_bytes(bytes(b))
                else:
                    f.write_bytes(data[: self.rng.randrange(len(data))])
                if cdig.open_explained(out).verify():
                    seen["found"] += 1
                counts[self.resume_outcome(out)] += 1
        self.record(
            f"damaged chunk (delete / flip a byte / truncate) of {', '.join(arrays)}",
            counts,
            f"(verify() found {seen['found']} of {sum(counts.values())} before the repair)",
        )

    def disk_full(self) -> None:
        import cdig

        counts = Counter[str]()
        mnt = self.tmp / "small"
        mnt.mkdir()
        sizes = (96, 160, 224) if not self.quick else (160,)  # KiB; the whole store takes about 300
        real = hasattr(os, "geteuid") and os.geteuid() == 0 and self._mount(mnt, sizes[0])
        if real:
            subprocess.run(["umount", str(mnt)], capture_output=True)
        how = f"a real tmpfs of {'/'.join(map(str, sizes))} KiB, then grown" if real else "an injected ENOSPC (not root)"
        for i, size in enumerate(sizes):
            out = mnt / f"s{i}.zarr"
            err = None
            if real:
                self._mount(mnt, size)
                try:
                    try:
                        self.job.run(out)
                    except cdig.CdigValueError as e:
                        err = str(e)
                    subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
                    ok = err is not None and "\n" not in err and "space" in err
                    counts[self.resume_outcome(out) if ok else "other"] += 1
                finally:
                    subprocess.run(["umount", str(mnt)], capture_output=True)
                continue
            from zarr.storage import LocalStore

            orig = LocalStore.set
            n = [0]

            async def full(self_: Any, key: str, value: Any, n: list[int] = n, at: int = 20 + 15 * i, orig: Any = orig) -> None:
                n[0] += 1
                if n[0] > at:
                    raise OSError(errno.ENOSPC, "No space left on device")
                await orig(self_, key, value)

            LocalStore.set = full
            try:
                self.job.run(out)
            except cdig.CdigValueError as e:
                err = str(e)
            finally:
                LocalStore.set = orig
            ok = err is not None and "\n" not in err and "space" in err
            counts[self.resume_outcome(out) if ok else "other"] += 1
        self.record("disk full while writing, then resumed", counts, f"({how}; the error is one line)")

    @staticmethod
    def _mount(mnt: Path, kib: int) -> bool:
        return (
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(mnt)], capture_output=True).returncode == 0
        )

    def threads(self) -> None:
        import threading

        import cdig

        counts = Counter[str]()
        # the reference is written from a thread too: torch's intra-op thread count is per thread, so a
        # thread's sums may differ from the main thread's in the last bit
        ref = self.tmp / "ref-thread.zarr"
        t = threading.Thread(target=self.job.run, args=(ref, "base", 0.02))
        t.start()
        t.join()
        for _ in range(2 if self.quick else 5):
            out = self.out()
            results: list[str] = []
            model = self.job.model("base", 0.02)

            def write(model: Any = model, out: Path = out, results: list[str] = results) -> None:
                try:
                    kw: dict[str, Any] = dict(target="predicted", batch_size=3, n_steps=4, progress=False)
                    cdig.explain_dataset(model, self.job.data(), out, ("time", "fourier"), **kw)  # one model, 2 threads
                    results.append("done")
                except cdig.CdigValueError as e:
                    results.append("refused" if "being written by another job" in str(e) else f"other: {e}")

            ts = [threading.Thread(target=write) for _ in range(2)]
            for t in ts:
                t.start()
                time.sleep(0.3)
            for t in ts:
                t.join()
            ok = sorted(results) == ["done", "refused"] and identical(out, ref)
            if not ok:
                print("    threads:", results)
            counts["refused" if ok else "other"] += 1
        self.record("two threads writing one store (2nd refused, 1st identical)", counts)

    def table(self) -> str:
        lines = ["| fault | trials | identical | refused | other |", "|---|---|---|---|---|"]
        for fault, c, note in self.rows:
            lines.append(
                f"| {fault} {note} | {sum(c.values())} | {c['identical']} | {c['refused']} | {c['other']} |".replace("  ", " ")
            )
        return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials (about a minute)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    probe = Probe(args.quick, args.seed)
    t = time.perf_counter()
    try:
        probe.ref()
        for step in (
            probe.injected_kills,
            probe.random_sigkills,
            probe.two_writers,
            probe.changed_data,
            probe.changed_model,
            probe.damaged_chunks,
            probe.disk_full,
            probe.threads,
        ):
            step()
    finally:
        shutil.rmtree(probe.tmp, ignore_errors=True)
    print()
    print(probe.table())
    other = sum(c["other"] for _, c, _ in probe.rows)
    print(f"\n{sum(sum(c.values()) for _, c, _ in probe.rows)} trials, {other} 'other', {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
