"""The command line under faults and hostile input: one line on stderr, exit 2 (130 on Ctrl-C), no
traceback, and never a file replaced that cdig did not write."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from cdig.cli import main
from cdig.results import MARKER

torch = pytest.importorskip("torch")

C, T, N = 2, 16, 3
FAST = ["--steps", "4", "--no-progress", "--no-figures"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(d / "m.pt"))
    np.save(d / "x.npy", np.random.default_rng(0).standard_normal((N, C, T)).astype(np.float32))
    return d


def _fails(argv, capsys, *names, status=2):
    """Run ``cdig argv``; it must end with ``status`` and one line naming each of ``names``."""
    assert main([str(a) for a in argv]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"cdig {argv[0]}: "), err
    for name in names:
        assert str(name) in err, (name, err)
    return err


def _explain(inputs, out, *extra, model=None):
    return ["explain", model or inputs / "m.pt", inputs / "x.npy", "--out", out, *FAST, *extra]


# --- --out of cdig explain: checked before the model or the data is read ---------------------
def test_out_is_checked_before_the_model_is_loaded(inputs, tmp_path, capsys):
    missing_model = tmp_path / "no-such-model.pt"  # were it read first, the error would name it
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    err = _fails(_explain(inputs, a_file, model=missing_model), capsys, "--out", a_file)
    assert "not a folder" in err and a_file.read_text() == "mine"
    err = _fails(_explain(inputs, a_file / "below", model=missing_model), capsys, "--out", a_file / "below")
    assert "is a file" in err and not (a_file / "below").exists()


def test_out_read_only(inputs, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(locked) else real(p, mode))
    _fails(_explain(inputs, locked), capsys, "--out", locked, "not writable")
    _fails(_explain(inputs, locked / "new"), capsys, "--out", locked, "not writable")
    assert not any(locked.iterdir())


def _without_write_permission(argv):
    """``argv`` as a process that file permissions apply to: as it is for a user; for root (who writes
    into read-only folders) through ``setpriv`` without the capabilities that bypass them."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return argv  # pragma: no cover - CI runs as a user
    if shutil.which("setpriv") is None:  # pragma: no cover
        pytest.skip("root writes into read-only folders, and setpriv is not there to drop that right")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *argv]


@pytest.mark.parametrize("command", ["explain", "demo", "report"])
def test_out_read_only_for_real(inputs, tmp_path, command):
    """A folder made read-only with chmod 0o555: one line, exit 2, nothing written, in a real process."""
    locked = tmp_path / "locked"
    if command == "report":
        assert main([str(a) for a in _explain(inputs, locked, "--domain", "time")]) == 0
    else:
        locked.mkdir()
    before = sorted(p.name for p in locked.iterdir())
    argv = {
        "explain": ["explain", inputs / "m.pt", inputs / "x.npy", "--out", locked],
        "demo": ["demo", "--out", locked],
        "report": ["report", locked],
    }[command]
    locked.chmod(0o555)
    try:
        run = subprocess.run(
            _without_write_permission([sys.executable, "-m", "cdig", *map(str, argv)]),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if run.returncode != 2 and "setpriv" in run.stderr:  # pragma: no cover - a container that forbids it
            pytest.skip(f"setpriv cannot drop the capability here: {run.stderr.strip()}")
    finally:
        locked.chmod(0o755)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"cdig {command}: error: "), run.stderr
    assert str(locked) in run.stderr and "not writable" in run.stderr
    assert sorted(p.name for p in locked.iterdir()) == before and run.stdout == ""


@pytest.fixture
def no_work(monkeypatch):
    """Every loader the commands call (models, data, result folders, torch, the demos' work), recording
    the calls: a refused --out must come before all of them."""
    import cdig.backends
    import cdig.demo
    import cdig.demo_real
    import cdig.io
    import cdig.report

    calls = []
    for module, name in [
        (cdig.io, "load_model"),
        (cdig.io, "load_data"),
        (cdig.report, "read_folder"),
        (cdig.backends, "get_backend_by_name"),
        (cdig.demo, "run_demo"),
        (cdig.demo_real, "run_real_demo"),
    ]:
        monkeypatch.setattr(module, name, lambda *a, _name=name, **k: calls.append(_name))
    return calls


def _snapshot(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["explain", "demo", "report", "report --explorer-out"])
@pytest.mark.parametrize("case", ["existing file", "read-only folder", "a folder of the user's", "below a file"])
def test_out_failure_modes_before_any_work(inputs, tmp_path, capsys, monkeypatch, no_work, command, case):
    """Each refused --out: one line naming it, exit 2, no model, data, folder or framework loaded, nothing
    written or removed (the read-only folder by its os.access, as root writes anyway)."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (mine / "page.html").write_text("<html>my page</html>")
    results = tmp_path / "results"  # what cdig report reads: never reached
    results.mkdir()
    target = {
        "existing file": mine / "page.html",
        "read-only folder": mine / "new" if command.startswith("report") else mine,
        "a folder of the user's": mine,
        "below a file": mine / "page.html" / "x.html",
    }[case]
    if case == "read-only folder":
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(mine) else real(p, mode))
        if command.startswith("report"):
            target = mine / "page2.html"
    before = _snapshot(tmp_path)
    flag = "--explorer-out" if command == "report --explorer-out" else "--out"
    argv = {
        "explain": ["explain", inputs / "m.pt", inputs / "x.npy", "--out", target],
        "demo": ["demo", "--out", target],
        "report": ["report", results, "--out", target],
        "report --explorer-out": ["report", results, "--explorer-out", target],
    }[command]
    words = {
        ("explain", "existing file"): "exists and is not a folder",
        ("explain", "read-only folder"): "not writable",
        ("explain", "a folder of the user's"): "not a folder cdig wrote",
        ("explain", "below a file"): "is a file",
        ("report", "existing file"): "exists and is not a page cdig wrote",
        ("report", "read-only folder"): "is not writable",
        ("report", "a folder of the user's"): "is a folder",
        ("report", "below a file"): "does not exist",
    }[("explain" if command == "demo" else command.split()[0], case)]
    for force in ([], ["--force"]):
        _fails([*argv, *force], capsys, flag, target, words)
        assert no_work == [], no_work
    assert _snapshot(tmp_path) == before


def test_a_folder_of_the_users_files_is_never_written(inputs, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "time.npz").write_bytes(b"my own file of the same name")
    (mine / "notes.txt").write_text("keep me")
    for force in ([], ["--force"]):
        err = _fails(_explain(inputs, mine, *force), capsys, "--out", mine, "not a folder cdig wrote")
        assert "notes.txt" in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "time.npz"]
    assert (mine / "time.npz").read_bytes() == b"my own file of the same name"


def test_earlier_results_are_replaced_only_with_force(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(a) for a in _explain(inputs, out, "--domain", "time", "--domain", "dct")]) == 0
    (out / "notes.txt").write_text("the user's, added later")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _fails(_explain(inputs, out, "--domain", "time"), capsys, "--out", out, "--force", "earlier cdig run")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    capsys.readouterr()
    assert main([str(a) for a in _explain(inputs, out, "--domain", "time", "--force")]) == 0
    names = {p.name for p in out.iterdir()}
    assert "dct.npz" not in names  # the earlier run's map is gone: no mixed folder
    assert {"time.npz", "summary.json", MARKER, "notes.txt"} <= names
    assert (out / "notes.txt").read_text() == "the user's, added later"
    assert set(json.loads((out / MARKER).read_text())["files"]) == set(json.loads((out / "summary.json").read_text())["files"])


def test_full_disk_while_writing(inputs, tmp_path, capsys, monkeypatch):
    import cdig.core.attribution as attribution

    def full(self, path):
        open(path, "wb").close()  # a file begun, then the disk fills
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(attribution.Attribution, "save", full)
    out = tmp_path / "out"
    err = _fails(_explain(inputs, out), capsys, "--out", out, "No space left on device", "--force")
    assert json.loads((out / MARKER).read_text())["files"] == ["time.npz"]  # the half file is known as cdig's
    monkeypatch.undo()
    assert main([str(a) for a in _explain(inputs, out, "--force")]) == 0  # and the next run may replace it
    assert err


# --- data files -----------------------------------------------------------------------------
def test_ts_with_class_labels_promised_but_missing(inputs, tmp_path, capsys):
    ts = tmp_path / "nolabels.ts"
    ts.write_text("@problemName x\n@classLabel true a b\n@data\n" + "\n".join(",".join(["1.0"] * T) for _ in range(N)) + "\n")
    _fails(["explain", inputs / "m.pt", ts, "--out", tmp_path / "o", *FAST], capsys, "nolabels.ts, line 4", "@classLabel")


def test_npz_with_an_object_array(inputs, tmp_path, capsys):
    npz = tmp_path / "obj.npz"
    np.savez(npz, X=np.array([{"a": 1}, None], dtype=object))
    _fails(["explain", inputs / "m.pt", npz, "--out", tmp_path / "o", *FAST], capsys, "obj.npz", "'X'", "Object arrays")


# --- cdig report on hand-edited folders ------------------------------------------------------
@pytest.fixture
def result_dir(inputs, tmp_path):
    out = tmp_path / "res"
    assert main([str(a) for a in _explain(inputs, out, "--domain", "time", "--domain", "fourier")]) == 0
    return out


def _summary(d, **changes):
    s = json.loads((d / "summary.json").read_text())
    s.update(changes)
    (d / "summary.json").write_text(json.dumps(s))


def _npz(d, name, drop=None, **changes):
    with np.load(d / name) as z:
        arrays = {k: z[k] for k in z.files if k != drop}
    np.savez(d / name, **{**arrays, **changes})


HAND_EDITS = {
    "malformed JSON": (lambda d: (d / "summary.json").write_text('{"files": ['), "summary.json", "not readable JSON"),
    "summary not an object": (lambda d: (d / "summary.json").write_text("[1, 2]"), "summary.json", "expected an object"),
    "files of the wrong type": (lambda d: _summary(d, files=5), "summary.json", "'files'"),
    "schema version a string": (lambda d: _summary(d, schema_version="2"), "summary.json", "schema_version"),
    "npz missing a key": (lambda d: _npz(d, "time.npz", drop="delta"), "time.npz", "delta"),
    "listed map without values": (lambda d: _npz(d, "time.npz", drop="values"), "time.npz", "no cdig Attribution"),
    "values of the wrong shape": (lambda d: _npz(d, "time.npz", values=np.zeros((N, C, T - 1))), "time.npz", "coordinate"),
    "values not numbers": (lambda d: _npz(d, "fourier.npz", values=np.array([["a"]] * N)), "fourier.npz", "dtype"),
    "not an npz": (lambda d: (d / "time.npz").write_text("hello"), "time.npz", "not a zip archive"),
    "truncated npz": (lambda d: (d / "time.npz").write_bytes((d / "time.npz").read_bytes()[:-200]), "time.npz", ".npz"),
    "meta not an object": (lambda d: _npz(d, "fourier.npz", meta=np.array("[1, 2]")), "fourier.npz", "Attribution"),
    "different batch sizes": (
        lambda d: _npz(
            d,
            "fourier.npz",
            **{k: np.load(d / "fourier.npz")[k][:1] for k in ("values", "delta", "output", "baseline_output", "n_steps")},
        ),
        "res",
        "different sizes",
    ),
}


@pytest.mark.parametrize("case", list(HAND_EDITS))
def test_report_on_hand_edited_folders(result_dir, capsys, case):
    pytest.importorskip("matplotlib")
    edit, name, words = HAND_EDITS[case]
    edit(result_dir)
    _fails(["report", result_dir], capsys, name, words)
    assert not (result_dir / "report.html").exists()


def test_report_without_summary_still_works(result_dir, capsys):
    pytest.importorskip("matplotlib")
    (result_dir / "summary.json").unlink()  # the maps alone are a readable folder
    assert main(["report", str(result_dir), "--samples", "1"]) == 0


def test_report_never_replaces_a_file_it_did_not_write(result_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    page = tmp_path / "page.html"
    page.write_text("<html>my page</html>")
    for force in ([], ["--force"]):
        _fails(["report", result_dir, "--out", page, *force], capsys, "--out", page, "not a page cdig wrote")
    assert page.read_text() == "<html>my page</html>"

    argv = ["report", str(result_dir), "--samples", "1", "--top-k", "2"]
    assert main(argv) == 0
    first = (result_dir / "report.html").read_text()
    _fails(argv, capsys, "report.html", "--force")
    assert (result_dir / "report.html").read_text() == first
    assert main([*argv, "--title", "again", "--force"]) == 0
    assert "again" in (result_dir / "report.html").read_text()


def test_report_full_disk(result_dir, capsys, monkeypatch):
    pytest.importorskip("matplotlib")

    def full(fd):  # the page's bytes reach the disk when flushed: there the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    _fails(["report", result_dir, "--samples", "1"], capsys, "--out", "report.html", "No space left on device")
    assert sorted(p.name for p in result_dir.iterdir() if "report" in p.name) == []  # no half page left


# --- Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_is_one_line_and_status_130(inputs, tmp_path):
    """SIGINT while ``python -m cdig explain`` works (importing torch, loading, or integrating)."""
    big = tmp_path / "big.npy"
    np.save(big, np.random.default_rng(1).standard_normal((256, C, T)).astype(np.float32))
    argv = [sys.executable, "-m", "cdig", "explain", str(inputs / "m.pt"), str(big), "--out", str(tmp_path / "o")]
    argv += ["--steps", "4000", "--no-progress", "--no-figures", "--domain", "time", "--internal-batch-size", "64"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # cdig's own code runs once torch is being loaded (cdig.io imports it for the model); a Ctrl-C while
    # Python imports the cdig package itself, before any of its code runs, is Python's to report
    maps, deadline = f"/proc/{proc.pid}/maps", time.monotonic() + 60
    while os.path.exists(maps) and "libtorch" not in open(maps).read() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5 if os.path.exists(maps) else 3.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err)
    assert err == "cdig explain: interrupted\n", err


def test_demo_out_is_checked_first_and_force_clears_only_cdig_files(inputs, tmp_path, capsys, monkeypatch):
    import cdig.demo

    seen = []
    monkeypatch.setattr(cdig.demo, "run_demo", lambda out, **kw: seen.append(sorted(p.name for p in os.scandir(out))))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2")
    _fails(["demo", "--out", mine, "--force"], capsys, "--out", mine, "not a folder cdig wrote")
    out = tmp_path / "out"
    assert main([str(a) for a in _explain(inputs, out, "--domain", "time")]) == 0
    (out / "notes.txt").write_text("mine")
    _fails(["demo", "--out", out], capsys, "--out", out, "--force")
    assert seen == []  # refused before any training
    assert main(["demo", "--out", str(out), "--force", "--no-progress"]) == 0
    assert seen == [[MARKER, "notes.txt"]]  # the earlier run's files gone, the user's kept


# --- what the command prints: warnings and errors in one clean line each ------------------------
class _Noisy(torch.nn.Module):
    """A model that warns on every call (with a colour code and a line break) and is not linear."""

    def __init__(self, fail: str | None = None) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(C * T, 2)
        self.fail = fail

    def forward(self, x):
        if self.fail:
            raise RuntimeError(self.fail)
        warnings.warn("\x1b[1mnoisy\x1b[0m model:\n   it warns on every call", UserWarning, stacklevel=1)
        return torch.tanh(3 * self.lin(x.flatten(1)))


@pytest.fixture
def noisy(monkeypatch):
    import cdig.io

    models = {}

    def load(path, trusted=False):
        return models.setdefault("model", _Noisy(fail=os.environ.get("CDIG_TEST_FAIL"))), "torch"

    monkeypatch.setattr(cdig.io, "load_model", load)
    return models


def test_warnings_are_one_clean_line_each_once(inputs, tmp_path, capsys, noisy):
    argv = _explain(inputs, tmp_path / "o", "--steps", "2", "--method", "riemann_left")
    assert main([str(a) for a in argv]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err.count("cdig explain: warning: UserWarning: noisy model: it warns on every call") == 1, err
    convergence = [line for line in err if "ConvergenceWarning" in line]
    assert convergence and all(line.startswith("cdig explain: warning: ConvergenceWarning: [") for line in convergence)
    assert any("--steps auto" in line and "--rtol" in line for line in convergence), convergence  # the CLI's words
    assert not any("n_steps" in line or ".py:" in line or "\x1b" in line for line in err), err
    assert len(err) == len(set(err)) == 1 + len(convergence)


def test_quiet_prints_nothing_and_verbose_says_where(inputs, tmp_path, capsys, noisy):
    assert main([str(a) for a in _explain(inputs, tmp_path / "q", "--quiet")]) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "q" / "summary.json").is_file()
    assert main([str(a) for a in _explain(inputs, tmp_path / "v", "-v")]) == 0
    err = capsys.readouterr().err
    assert "UserWarning: noisy model" in err and "test_cli_faults.py:" in err
    with pytest.raises(SystemExit):
        main(["explain", "m.pt", "x.npy", "--quiet", "--verbose"])


def test_errors_lose_their_colour_codes(inputs, tmp_path, capsys, noisy, monkeypatch):
    monkeypatch.setenv("CDIG_TEST_FAIL", "\x1b[1mInput 0 of layer\x1b[0m is incompatible:\n  \x1b[31mexpected 3\x1b[0m")
    err = _fails(_explain(inputs, tmp_path / "o"), capsys, "m.pt", "refuses")
    assert "Input 0 of layer is incompatible: expected 3" in err and "\x1b" not in err


def test_unexpected_errors_are_one_line_and_verbose_shows_the_traceback(inputs, tmp_path, capsys, monkeypatch):
    import cdig

    def broken(*args, **kwargs):
        raise ZeroDivisionError("\x1b[1mboom\x1b[0m")

    monkeypatch.setattr(cdig, "explain", broken)
    err = _fails(_explain(inputs, tmp_path / "a"), capsys, "unexpected ZeroDivisionError: boom", "--verbose", status=1)
    assert "\x1b" not in err
    assert main([str(a) for a in _explain(inputs, tmp_path / "b", "--verbose")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "in broken" in err
    assert err.splitlines()[-1].startswith("cdig explain: error: unexpected ZeroDivisionError: boom")


def test_a_finished_run_is_kept_when_out_fails_afterwards(inputs, tmp_path, capsys, monkeypatch):
    """--out passes its check, then cannot take the results (made read-only, removed, full): the maps
    go to a new temporary folder, which the one error line names."""
    import tempfile

    import cdig
    from cdig.results import ResultWriter

    def refused(self, maps):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(ResultWriter, "save_maps", refused)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = tmp_path / "out"
    err = _fails(_explain(inputs, out, "--domain", "time"), capsys, "--out", out, "Permission denied", "the maps are saved in")
    (rescued,) = tmp_path.glob("cdig-explain-rescued-*")
    assert str(rescued) in err
    att = cdig.Attribution.load(rescued / "time.npz")
    x = np.load(inputs / "x.npy")
    assert att.values.shape == x.shape and np.allclose(
        att.values.reshape(N, -1).sum(1), att.output - att.baseline_output, rtol=1e-4
    )


# --- cdig report: the report and the explorer -------------------------------------------------------
def test_report_writes_the_explorer_beside_it(result_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("plotly")
    from cdig.report import is_cdig_report

    argv = ["report", str(result_dir), "--samples", "1", "--explorer-samples", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "report.html" in out and "explorer.html" in out
    page = (result_dir / "explorer.html").read_text(encoding="utf-8")
    assert is_cdig_report(result_dir / "explorer.html") and "cdig explorer" in page[:2000]
    before = (result_dir / "explorer.html").read_bytes()
    _fails(argv, capsys, "--out", "report.html", "--force")  # nothing replaced without --force
    assert (result_dir / "explorer.html").read_bytes() == before
    assert main([*argv, "--force", "--title", "again"]) == 0 and "again" in (result_dir / "explorer.html").read_text()
    capsys.readouterr()
    elsewhere = tmp_path / "pages"
    elsewhere.mkdir()
    argv = ["report", str(result_dir), "--out", str(elsewhere / "r.html"), "--explorer-out", str(elsewhere / "x.html")]
    assert main([*argv, "--samples", "1", "--explorer-samples", "1"]) == 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["r.html", "x.html"]
    assert main(["report", str(result_dir), "--out", str(elsewhere / "only.html"), "--no-explorer", "--samples", "1"]) == 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["only.html", "r.html", "x.html"]
    capsys.readouterr()
    _fails(
        ["report", result_dir, "--out", elsewhere / "same.html", "--explorer-out", elsewhere / "same.html"], capsys, "different"
    )


def test_report_without_plotly_writes_the_report_and_says_so(result_dir, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly now fails
    assert main(["report", str(result_dir), "--samples", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("cdig report: warning: explorer not written: plotly")
    assert "pip install 'cdig[plot]'" in captured.err and "--no-explorer" in captured.err
    assert (result_dir / "report.html").is_file() and not (result_dir / "explorer.html").exists()
    assert main(["report", str(result_dir), "--out", str(tmp_path / "r.html"), "--explorer-out", str(tmp_path / "x.html")]) == 1
    assert "--explorer-out" in capsys.readouterr().err and not (tmp_path / "r.html").exists()
