"""``cdig demo --real`` (:func:`cdig.demo_real.run_real_demo`): ACSF1 from sktime's files, the files it writes."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import cdig
from cdig.cli import main
from cdig.demo_real import ACSF1_BANDS, _round_robin, run_real_demo
from cdig.testing import requires_matplotlib

pytestmark = [pytest.mark.slow, requires_matplotlib]

torch = pytest.importorskip("torch")
real = pytest.importorskip("cdig.datasets.real")
if not real.available():
    pytest.skip("sktime's data files are not installed (pip install 'cdig[examples]')", allow_module_level=True)

NPZ = ("time.npz", "fourier.npz", "bands.npz", "explained.npz")
PNG = ("time.png", "fourier.png", "bands.png", "band_shares.png")


# ``python -m cdig ARGS`` with CdigWarning an error, as in the test process
_CDIG = """
import runpy, sys, warnings
import cdig
warnings.filterwarnings("error", category=cdig.CdigWarning)
sys.argv[0] = "cdig"
runpy.run_module("cdig", run_name="__main__", alter_sys=True)
"""


def _cli_run(tmp: Path) -> dict:
    argv = ["demo", "--real", "--out", str(tmp / "out"), "--epochs", "40", "--samples", "12", "--steps", "8", "--no-progress"]
    return dict(args=[sys.executable, "-c", _CDIG, *argv], cwd=tmp, env=dict(os.environ), timeout=600)


# ``cdig demo --real`` with a short training (about 5 s on one core, in a fresh interpreter): it starts
# with the session, on the core the other tests leave idle (tests/conftest.py).
BACKGROUND_JOBS = {"cdig demo --real": _cli_run}


@pytest.fixture(scope="module")
def cli_run(background):
    proc = background.result("cdig demo --real")
    out = proc.tmp / "out"
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.returncode, out, json.loads((out / "summary.json").read_text())


@pytest.mark.background("cdig demo --real")
def test_cli_writes_the_demo_files(cli_run):
    code, out, s = cli_run
    assert code == 0
    for name in NPZ + PNG + ("summary.json",):
        assert (out / name).is_file(), name
        assert name in s["files"]
    for name in PNG:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.background("cdig demo --real")
def test_the_classifier_learns_and_completeness_holds(cli_run):
    _, _, s = cli_run
    assert s["data"]["name"] == "ACSF1" and s["data"]["n_test"] == 100 and s["data"]["fs"] == 0.1
    assert s["accuracy"] >= 0.4  # ten classes: chance is 0.1 (0.68 with these settings, 0.84 by default)
    assert s["settings"]["epochs"] == 40 and s["settings"]["n_steps"] == 8
    assert set(s["deltas"]) == {"time", "fourier", "bands"}
    for d in s["deltas"].values():
        assert d["max_relative_delta"] < 0.01


@pytest.mark.background("cdig demo --real")
def test_band_shares_are_shares(cli_run):
    _, _, s = cli_run
    b = s["bands"]
    assert b["names"] == [*ACSF1_BANDS, "other"]
    assert abs(sum(b["attribution_share"]) - 1) < 1e-3 and abs(sum(b["power_share"]) - 1) < 1e-3  # rounded to 4 digits
    # most of ACSF1's power is in the 40 s pulse train's two lines, and so is most of the attribution
    lines = [b["names"].index("40 s line"), b["names"].index("20 s line")]
    assert sum(b["power_share"][i] for i in lines) > 0.7
    assert sum(b["attribution_share"][i] for i in lines) > 0.5


@pytest.mark.background("cdig demo --real")
def test_explained_npz_follows_the_demo_conventions(cli_run):
    _, out, s = cli_run
    with np.load(out / "explained.npz") as f:
        assert f["x"].shape == (12, 1, 1460) and f["x"].dtype == np.float32
        assert f["y"].tolist() == s["explained"]["y"]
        assert f["predicted"].tolist() == s["explained"]["predicted"]
        assert f["index"].tolist() == s["explained"]["index"]
    fourier = cdig.Attribution.load(out / "fourier.npz")
    assert fourier.values.shape == (12, 1, 731) and fourier.units["frequency"] == "Hz"
    bands = cdig.Attribution.load(out / "bands.npz")
    np.testing.assert_allclose(bands.values.sum(axis=(1, 2)), fourier.values.sum(axis=(1, 2)), rtol=1e-6, atol=1e-6)
    assert sorted(set(s["explained"]["y"])) == list(range(10))  # taken in turn from every class


def test_default_out_folder_differs_from_the_synthetic_demo(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr("cdig.demo_real.run_real_demo", lambda out, **kw: seen.update(out=out, **kw))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--real", "--no-progress"]) == 0
    assert seen["out"] == "cdig-demo-real" and seen["epochs"] == 150 and seen["n_explain"] == 32
    assert main(["demo", "--real", "--out", "cdig-demo", "--no-progress"]) == 0
    assert seen["out"] == "cdig-demo"  # typed by the user: kept


def test_missing_sktime_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("cdig.datasets.real._roots", list)
    assert main(["demo", "--real", "--out", str(tmp_path / "x"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cdig demo: error:" in err and "pip install 'cdig[examples]'" in err and "sktime" in err


def test_round_robin_and_argument_checks():
    y = np.repeat(np.arange(3), 4)
    assert _round_robin(y, 5).tolist() == [0, 1, 4, 5, 8]
    with pytest.raises(ValueError, match="n_explain=1"):
        run_real_demo("unused", n_explain=1)
    with pytest.raises(ValueError, match="epochs=0"):
        run_real_demo("unused", epochs=0)


def test_training_helpers_check_their_arguments():
    from cdig.demo import make_model, train_classifier, train_regressor

    model = make_model(1, 2)
    X = np.zeros((4, 1, 32), dtype=np.float32)
    with pytest.raises(cdig.CdigValueError, match="epochs=0"):
        train_classifier(model, X, np.zeros(4, dtype=np.int64), 0)
    with pytest.raises(cdig.CdigValueError, match="X has 4 samples and the targets 3"):
        train_regressor(model, X, np.zeros((3, 2), dtype=np.float32), 1)
