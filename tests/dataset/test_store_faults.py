"""Nothing lost, nothing mixed, nothing deleted: the data-set store under crashes, races and damage.

A "kill" is simulated by a BaseException raised from the Zarr store's write path at write number k
(and from every write after it: a dead process writes nothing more); the same call then resumes.
Every resumed or repaired store is compared, array for array and attribute for attribute, with an
uninterrupted run's.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import cdig
from cdig.core.errors import CdigWarning
from cdig.testing import store_differences

zarr = pytest.importorskip("zarr")
torch = pytest.importorskip("torch")
from zarr.storage import LocalStore  # noqa: E402

from cdig.dataset.store import ChunkDamage, Store, check_group_name  # noqa: E402

DOMAINS = ("time", "fourier")
KW = dict(target="predicted", batch_size=3, n_steps=4, progress=False)


class Killed(BaseException):
    """The process died here (not an Exception: nothing may catch it and carry on)."""


def _model(act=torch.nn.Tanh):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 6), act(), torch.nn.Linear(6, 3)).double().eval()


def _x():
    return np.random.default_rng(0).normal(size=(10, 2, 16))


def run(out, x=None, model=None, **kw):
    return cdig.explain_dataset(model or _model(), _x() if x is None else x, out, DOMAINS, **{**KW, **kw})


def assert_identical(a, b):
    assert store_differences(a, b) == []
    assert cdig.open_explained(a).verify() == []


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_files(a, b):
    """Byte-identical trees (every chunk file and every zarr.json): the arrays and attributes are equal."""
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    assert [k for k in fa if fa[k] != fb[k]] == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run(out)
    return out


def _fail_writes(monkeypatch, after, exc):
    """Writes 1..after succeed; every later one raises ``exc()``."""
    orig = LocalStore.set
    count = [0]

    async def set(self, key, value):
        count[0] += 1
        if count[0] > after:
            raise exc()
        return await orig(self, key, value)

    monkeypatch.setattr(LocalStore, "set", set)
    return count


def test_a_kill_after_each_of_the_first_50_writes_resumes_to_the_identical_store(reference, tmp_path):
    survived = 0
    for k in range(50):
        out = tmp_path / f"k{k}.zarr"
        with pytest.MonkeyPatch.context() as mp:
            count = _fail_writes(mp, k, Killed)
            try:
                run(out)
                survived += 1
            except Killed:
                pass
            assert count[0] > k or survived, k
        run(out)  # the same call again
        assert cdig.open_explained(out).complete, k
        assert_same_files(out, reference)
        shutil.rmtree(out)
    assert_identical(reference, reference)  # (and the comparison itself reads every array)
    assert survived == 0  # every one of the 50 was a real interruption (a run writes more than 50 times)


def test_full_disk_says_so_in_one_line_and_the_store_resumes(reference, tmp_path):
    out = tmp_path / "s.zarr"
    with pytest.MonkeyPatch.context() as mp:
        _fail_writes(mp, 30, lambda: OSError(errno.ENOSPC, "No space left on device"))
        with pytest.raises(cdig.CdigValueError, match="No space left on device.*free some space and run the same call") as e:
            run(out)
    assert "\n" not in str(e.value)
    run(out)
    assert_identical(out, reference)


# --- never delete or overwrite what cdig did not write ------------------------------------------
def test_overwrite_refuses_a_folder_that_is_not_a_cdig_store(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    for overwrite in (False, True):
        with pytest.raises(cdig.CdigValueError, match="is not a cdig store.*will not delete it") as e:
            run(user, overwrite=overwrite)
        assert "pass overwrite=True" not in str(e.value)
    assert (user / "thesis.tex").read_text() == "years of work" and sorted(p.name for p in user.iterdir()) == ["thesis.tex"]
    f = tmp_path / "file.zarr"
    f.write_text("data")
    with pytest.raises(cdig.CdigValueError, match="is a file, not a cdig store"):
        run(f, overwrite=True)
    assert f.read_text() == "data"


def test_overwrite_replaces_a_cdig_store_and_an_empty_folder_is_used(reference, tmp_path):
    out = tmp_path / "s.zarr"
    run(out, n_steps=8)
    with pytest.raises(cdig.CdigValueError, match="other settings.*n_steps: 8 -> 4"):
        run(out)
    run(out, overwrite=True)
    assert_identical(out, reference)
    empty = tmp_path / "empty"
    empty.mkdir()
    run(empty)
    assert_identical(empty, reference)


def test_damaged_root_metadata_says_damaged_and_overwrite_repairs_it(reference, tmp_path):
    out = tmp_path / "s.zarr"
    shutil.copytree(reference, out)
    (out / "zarr.json").write_bytes(b'{"zarr_format": 3, "node_ty')
    with pytest.raises(cdig.CdigValueError, match="damaged cdig store.*overwrite=True"):
        run(out)
    with pytest.raises(cdig.CdigValueError, match="damaged cdig store"):
        cdig.open_explained(out)
    run(out, overwrite=True)
    assert_identical(out, reference)


# --- one writer -----------------------------------------------------------------------------
def test_a_second_writer_in_this_process_is_refused(tmp_path):
    out = tmp_path / "s.zarr"
    run(out)
    holder = Store(out, cdig.open_explained(out).settings, 10, 3)  # holds the lock, as a running job does
    try:
        errors = []

        def second():
            try:
                run(out)
            except cdig.CdigValueError as e:
                errors.append(str(e))

        t = threading.Thread(target=second)
        t.start()
        t.join()
        assert len(errors) == 1 and "is being written by another job" in errors[0] and "this process" in errors[0]
        with pytest.raises(cdig.CdigValueError, match="being written by another job"):
            run(out, overwrite=True)  # not even overwrite=True takes a store from its writer
    finally:
        holder.close()
    run(out)  # released: fine again


def test_a_second_writer_process_is_refused_with_its_pid(tmp_path):
    out = tmp_path / "s.zarr"
    out.mkdir()
    code = textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(out)!r}, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("locked", flush=True)
        sys.stdin.read()
    """)
    pytest.importorskip("fcntl")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(cdig.CdigValueError, match="being written by another job") as e:
            run(out)
        if sys.platform.startswith("linux"):
            assert f"pid {p.pid}" in str(e.value)
    finally:
        p.communicate("")
    run(out)  # the holder exited: its lock went with it


def test_without_fcntl_a_lock_file_holds_and_a_stale_one_is_taken_over(tmp_path, monkeypatch):
    """Where ``fcntl`` is missing (Windows), the lock is ``_cdig/lock`` holding ``pid@host``."""
    import socket

    monkeypatch.setitem(sys.modules, "fcntl", None)  # ``import fcntl`` now raises ImportError
    out = tmp_path / "s.zarr"
    run(out)
    holder = Store(out, cdig.open_explained(out).settings, 10, 3)
    lock = out / "_cdig" / "lock"
    try:
        assert lock.read_text() == f"{os.getpid()}@{socket.gethostname()}"
        with pytest.raises(cdig.CdigValueError, match=f"being written by another job \\(pid {os.getpid()}@"):
            run(out)
    finally:
        holder.close()
    assert not lock.exists()
    # a job that died without releasing its lock: its pid no longer runs on this host
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid}@{socket.gethostname()}")
    run(out)  # taken over
    assert not lock.exists() and cdig.open_explained(out).verify() == []
    # a live holder on another host is never taken over
    lock.write_text(f"{os.getpid()}@another-host")
    with pytest.raises(cdig.CdigValueError, match="delete .*lock if that job is gone"):
        run(out)


# --- fingerprints ------------------------------------------------------------------------------
def test_changed_rows_in_a_later_chunk_are_refused(reference, tmp_path):
    out = tmp_path / "s.zarr"
    shutil.copytree(reference, out)
    x = _x()
    x[7, 0, 3] += 1e-9  # chunk 2 (rows 6..8)
    with pytest.raises(cdig.CdigValueError, match=r"rows 6\.\.8 \(chunk 2\) of the data changed"):
        run(out, x=x)
    assert_identical(out, reference)


def test_changed_rows_of_a_stream_unmark_what_this_run_wrote(reference, tmp_path):
    out = tmp_path / "s.zarr"
    x = _x()

    def batches(x, stop=None):
        for i, s in enumerate(range(0, 10, 3)):
            if i == stop:
                raise KeyboardInterrupt
            yield x[s : s + 3]

    with pytest.raises(KeyboardInterrupt):
        cdig.explain_dataset(_model(), batches(x, stop=3), out, DOMAINS, **{**KW, "batch_size": None})
    ds = cdig.open_explained(out)
    assert ds.done() == frozenset({0, 1, 2})
    # un-mark chunk 1 (as if never written) and change chunk 2: chunk 1 is written from the new stream,
    # then chunk 2's change is seen and chunk 1 unmarked again: the store keeps only the old data's rows
    with zarr.config.set({"array.write_empty_chunks": True}):  # as cdig writes it: every chunk a file
        zarr.open_group(str(out), mode="r+")["_done"][1] = False
    y = x.copy()
    y[7] += 1.0
    with pytest.raises(cdig.CdigValueError, match=r"rows 6\.\.8 \(chunk 2\) of the data changed"):
        cdig.explain_dataset(_model(), batches(y), out, DOMAINS, **{**KW, "batch_size": None})
    assert cdig.open_explained(out).done() == frozenset({0, 2})


def test_changed_architecture_with_the_same_weights_is_refused(tmp_path):
    out = tmp_path / "s.zarr"
    run(out)
    relu = _model(torch.nn.ReLU)
    with pytest.raises(cdig.CdigValueError, match="other settings"):
        run(out, model=relu)


def test_a_model_that_cannot_be_fingerprinted_warns_on_resume(tmp_path, monkeypatch):
    from cdig.backends.torch import TorchBackend

    monkeypatch.setattr(TorchBackend, "model_digest", lambda self, model: None)
    out = tmp_path / "s.zarr"
    with pytest.raises(KeyboardInterrupt):
        x = _x()

        def batches():
            yield x[:3]
            raise KeyboardInterrupt

        cdig.explain_dataset(_model(), batches(), out, DOMAINS, **{**KW, "batch_size": None})
    with pytest.warns(CdigWarning, match="could not be fingerprinted"):
        cdig.explain_dataset(_model(), (x[s : s + 3] for s in range(0, 10, 3)), out, DOMAINS, **{**KW, "batch_size": None})


# --- damage ------------------------------------------------------------------------------------
def _damage(path, how):
    if how == "delete":
        path.unlink()
    elif how == "flip":
        b = bytearray(path.read_bytes())
        b[len(b) // 2] ^= 0x10
        path.write_bytes(bytes(b))
    else:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize("array", ["time/values", "fourier/delta", "target"])
@pytest.mark.parametrize("how", ["delete", "flip", "truncate"])
def test_a_damaged_chunk_is_found_refused_on_read_and_recomputed_on_resume(reference, tmp_path, array, how):
    out = tmp_path / "s.zarr"
    shutil.copytree(reference, out)
    z = zarr.open_group(str(out), mode="r")[array]
    chunk = out / array / z.metadata.encode_chunk_key((1,) + (0,) * (z.ndim - 1))
    _damage(chunk, how)
    ds = cdig.open_explained(out)
    found = ds.verify()
    assert [(d.array, d.chunk) for d in found] == [(array, 1)], found
    assert isinstance(found[0], ChunkDamage) and ("missing" if how == "delete" else "damaged") in found[0].problem
    domain = array.split("/")[0] if "/" in array else "time"
    with pytest.raises(cdig.CdigValueError, match=f"{array} chunk 1 is") as e:
        ds.attribution(domain)
    assert "\n" not in str(e.value) and "Zstd" not in type(e.value).__name__
    ds.attribution(domain, rows=slice(0, 3))  # the sound rows still read
    with pytest.warns(CdigWarning, match="damaged chunks found and recomputed"):
        run(out)
    assert_identical(out, reference)


def test_missing_array_metadata_rebuilds_the_layout(reference, tmp_path):
    out = tmp_path / "s.zarr"
    shutil.copytree(reference, out)
    (out / "fourier" / "coords" / "frequency" / "zarr.json").write_text("{")
    assert [d.chunk for d in cdig.open_explained(out).verify()] == [None]
    with pytest.warns(CdigWarning, match="damaged"):
        run(out)
    assert_identical(out, reference)


def test_a_deleted_done_array_is_seen_and_everything_recomputed(reference, tmp_path):
    out = tmp_path / "s.zarr"
    shutil.copytree(reference, out)
    (out / "_done" / "c" / "0").unlink()
    assert [(d.array, d.chunk) for d in cdig.open_explained(out).verify()] == [("_done", None)]
    with pytest.warns(CdigWarning, match="damaged"):
        run(out)
    assert_identical(out, reference)


def test_a_partial_store_refuses_rows_not_written(tmp_path, monkeypatch):
    out = tmp_path / "s.zarr"
    write = Store.write

    def dies_at_chunk_2(self, k, *a):
        if k == 2:
            raise Killed
        return write(self, k, *a)

    monkeypatch.setattr(Store, "write", dies_at_chunk_2)
    with pytest.raises(Killed):
        run(out)
    ds = cdig.open_explained(out)
    assert ds.done() == frozenset({0, 1}) and not ds.complete
    assert ds.attribution("time", slice(0, 6)).values.shape == (6, 2, 16)
    with pytest.raises(cdig.CdigValueError, match=r"rows 6\.\.8 \(chunk 2\) are not written yet"):
        ds.attribution("time")


# --- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", "a/b", "_done", ".hidden", "", "target", "x\\y"])
def test_unsafe_domain_names_are_refused(name, tmp_path):
    with pytest.raises(cdig.CdigValueError, match="cannot name a group of the store"):
        check_group_name(name)
    d = cdig.domains.resolve("time")[0]
    d.name = name
    with pytest.raises(cdig.CdigValueError, match=f"domain name {name!r}".replace("\\", "\\\\").replace(".", "\\.")):
        cdig.explain_dataset(_model(), _x(), tmp_path / "s.zarr", [d], **KW)
    assert not (tmp_path / "s.zarr").exists()
