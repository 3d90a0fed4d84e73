"""Nothing lost: a job killed at any point resumes and writes the store an uninterrupted run writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import cdig
from cdig.testing import store_differences

pytestmark = pytest.mark.slow

zarr = pytest.importorskip("zarr")
torch = pytest.importorskip("torch")

SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np, torch, cdig
    torch.set_num_threads(1)

    class Slow(torch.nn.Module):
        def __init__(self, delay):
            super().__init__()
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(),
                                           torch.nn.Linear(4 * 32, 3)).double()
            self.delay = delay

        def forward(self, x):
            time.sleep(self.delay)
            return self.net(x)

    def run(out, delay):
        x = np.random.default_rng(0).normal(size=(24, 2, 32))
        return cdig.explain_dataset(Slow(delay).eval(), x, out, ("time", "fourier"), target="predicted",
                                    batch_size=3, n_steps=8, progress=False)

    if __name__ == "__main__":
        run(sys.argv[1], float(sys.argv[2]))
""")


def assert_identical(a, b):
    assert store_differences(a, b) == []


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return path


def _import(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("cdig_job", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_killed_subprocess_resumes_to_the_identical_store(script, tmp_path):
    job = _import(script)
    reference = tmp_path / "reference.zarr"
    job.run(str(reference), 0.02)  # the model's fingerprint covers its code and attributes: the same delay

    out = tmp_path / "killed.zarr"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # the job's module is loaded as "cdig_job" there as here (not as __main__): the same model, the same fingerprint
    load = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('cdig_job', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.run(sys.argv[2], float(sys.argv[3]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", load, str(script), str(out), "0.02"], env=env)
    try:
        deadline = time.time() + 120
        done = 0
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                done = int(zarr.open_group(str(out), mode="r")["_done"][:].sum())
            except Exception:  # noqa: BLE001 - not created yet
                continue
            if done >= 2:
                break
        assert proc.poll() is None, "the job finished before it could be killed; slow it down"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = cdig.open_explained(out)
    assert not partial.complete and 2 <= len(partial.done()) < 8
    assert "partial" in repr(partial)

    job.run(str(out), 0.02)  # the same call again: resumes
    assert cdig.open_explained(out).complete
    assert_identical(out, reference)


def test_interrupted_in_process_at_every_chunk_boundary(script, tmp_path):
    job = _import(script)
    reference = tmp_path / "reference.zarr"
    job.run(str(reference), 0.0)
    x = np.random.default_rng(0).normal(size=(24, 2, 32))
    model = job.Slow(0.0).eval()
    for stop in (1, 4, 7):
        out = tmp_path / f"stop{stop}.zarr"

        def failing():
            for i, start in enumerate(range(0, 24, 3)):
                if i == stop:  # noqa: B023 - the generator is consumed within this iteration
                    raise KeyboardInterrupt
                yield x[start : start + 3]

        with pytest.raises(KeyboardInterrupt):
            cdig.explain_dataset(model, failing(), out, ("time", "fourier"), target="predicted", n_steps=8, progress=False)
        assert cdig.open_explained(out).done() == frozenset(range(stop))
        # resume from the array itself (same rows, same chunks): the data's description matches
        # only when the first chunk is the same, which it is
        with pytest.raises(cdig.CdigValueError, match="other settings"):
            job.run(str(out), 0.0)  # an array source is another kind of source than a generator
        cdig.explain_dataset(
            model,
            (x[s : s + 3] for s in range(0, 24, 3)),
            out,
            ("time", "fourier"),
            target="predicted",
            n_steps=8,
            progress=False,
        )
        done = cdig.open_explained(out)
        assert done.complete and done.rows == 24
        a, b = done.attribution("fourier"), cdig.open_explained(reference).attribution("fourier")
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.target, b.target)
