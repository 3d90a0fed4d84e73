"""The real-data examples: every script in ``examples/`` runs with ``--quick``, every notebook executes.

Each asserts on what the example claims — accuracy above chance, small completeness errors, where
the attribution lands — not only that it ran. About a minute on one core in all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdig.testing import requires_matplotlib, requires_nbclient, requires_sklearn, requires_torch

pytestmark = [pytest.mark.slow, requires_torch, requires_matplotlib, requires_sklearn]

real = pytest.importorskip("cdig.datasets.real")
if not real.available():
    pytest.skip("sktime's data files are not installed (pip install 'cdig[examples]')", allow_module_level=True)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))
NOTEBOOKS = sorted(p.name for p in (EXAMPLES / "notebooks").glob("*.ipynb"))


def run_script(name: str, tmp_path: Path) -> tuple[dict, Path, str]:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), str(out), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads((out / "summary.json").read_text()), out, proc.stdout


def test_every_script_has_a_test():
    assert SCRIPTS == ["acsf1_fourier.py", "airline_trendseason.py", "basicmotions_ica.py", "ecg_mitdb.py"]
    assert NOTEBOOKS == ["acsf1_fourier.ipynb", "airline_trendseason.ipynb"]


def test_acsf1_fourier(tmp_path):
    s, out, stdout = run_script("acsf1_fourier.py", tmp_path)
    assert s["accuracy"] >= 0.4  # ten classes, chance 0.1 (0.68 quick, 0.84 full)
    assert max(s["max_relative_delta"].values()) < 0.01
    share = dict(zip(s["bands"], s["attribution_share"]))
    assert share["40 s line"] + share["20 s line"] > 0.5  # where most of the power is, too
    assert abs(sum(s["attribution_share"]) - 1) < 1e-3 and abs(sum(s["power_share"]) - 1) < 1e-3
    for name in ("time.npz", "fourier.npz", "bands.npz", "fourier.png", "bands.png", "band_shares.png"):
        assert (out / name).is_file(), name
    assert "held-out accuracy" in stdout and "completeness" in stdout


def test_basicmotions_ica(tmp_path):
    s, out, _ = run_script("basicmotions_ica.py", tmp_path)
    assert s["accuracy"] >= 0.75  # four activities, chance 0.25
    assert max(s["max_relative_delta"].values()) < 0.01
    assert len(s["components"]) == 6 and s["per_class"]
    # running is decided by an accelerometer-dominated component
    assert "acc" in s["components"][s["per_class"]["Running"]["top"]].split("+")[0]
    for name in ("time.npz", "ica.npz", "ica.png", "ica_per_class.png"):
        assert (out / name).is_file(), name


def test_ecg_mitdb(tmp_path):
    s, out, _ = run_script("ecg_mitdb.py", tmp_path)
    assert s["top_is_anomalous"]  # the score's maximum is in the annotated segment
    assert s["score_anomalous_max"] > s["score_normal_max"]
    assert max(s["max_relative_delta"].values()) < 0.01
    assert abs(s["peak_s"][0] - s["premature_r_s"]) < 0.05  # the time map peaks at the premature beat
    for name in ("time.npz", "stft.npz", "time.png", "stft.png"):
        assert (out / name).is_file(), name


def test_airline_trendseason(tmp_path):
    s, out, _ = run_script("airline_trendseason.py", tmp_path)
    assert s["mape"] < s["mape_repeat_last_year"]  # better than repeating the last year
    assert s["max_abs_delta"] < 1e-3  # log passengers
    shares = s["mean_share_per_step"]
    assert len(shares) == 12 and all(abs(sum(row) - 1) < 1e-3 for row in shares)
    # the seasonal pattern carries the far horizon; the trend matters most for the next months
    assert shares[-1][1] > 0.5 and shares[0][0] > shares[-1][0]
    for name in ("trend_h1.png", "trend_h12.png", "shares.png", "trend_h1.npz"):
        assert (out / name).is_file(), name


@requires_nbclient
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("CDIG_QUICK", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(EXAMPLES / "notebooks" / name, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "stream"
    )
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 1, "the notebook's figures did not render"
    if name.startswith("acsf1"):
        assert result["accuracy"] >= 0.4 and result["max_relative_delta"] < 0.01
        # the explorer: written, and shown in the notebook
        assert result["explorer_bytes"] > 1e6 and (tmp_path / "acsf1_explorer.html").is_file()
        frames = [
            o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "acsf1_explorer.html" in str(o.get("data", {}))
        ]
        assert frames and "<iframe" in frames[0]["data"]["text/html"]
        assert result["attribution_share"]["40 s line"] + result["attribution_share"]["20 s line"] > 0.5
    else:
        assert result["mape"] < result["mape_repeat_last_year"] and result["max_abs_delta"] < 1e-3
        assert result["mean_share_per_step"][-1][1] > 0.5


def test_notebooks_match_their_generator(tmp_path):
    """The committed notebooks are what ``examples/notebooks/_make.py`` writes."""
    nbformat = pytest.importorskip("nbformat")
    import importlib.util

    spec = importlib.util.spec_from_file_location("_make", EXAMPLES / "notebooks" / "_make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    for stem, cells in make.NOTEBOOKS.items():
        committed = nbformat.read(EXAMPLES / "notebooks" / f"{stem}.ipynb", as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in cells], f"re-run _make.py for {stem}"
