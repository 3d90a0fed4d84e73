"""The real-data examples: every script in ``examples/`` runs with ``--quick``, every notebook executes.

Each asserts on what the example claims — accuracy above chance, small completeness errors, where
the attribution lands — not only that it ran. About a minute on one core in all.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cdig.testing import requires_matplotlib, requires_nbclient, requires_sklearn, requires_torch

pytestmark = [pytest.mark.slow, requires_torch, requires_matplotlib, requires_sklearn]

real = pytest.importorskip("cdig.datasets.real")
if not real.available():
    pytest.skip("sktime's data files are not installed (pip install 'cdig[examples]')", allow_module_level=True)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))
NOTEBOOKS = sorted(p.name for p in (EXAMPLES / "notebooks").glob("*.ipynb"))


def _script(name: str, needs: tuple[str, ...] = ()) -> Callable[[Path], dict | None]:
    def make(tmp: Path) -> dict | None:
        if not all(importlib.util.find_spec(m) for m in needs):
            return None  # the test skips
        env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        return dict(args=[sys.executable, str(EXAMPLES / name), str(tmp / "out"), "--quick"], cwd=tmp, env=env, timeout=300)

    return make


#: What a script needs beyond cdig's examples extra.
NEEDS = {"minirocket_shapley.py": ("aeon",)}

# Executed by nbclient in a fresh interpreter (its kernel is one anyway); the executed notebook is written to OUT.
_EXECUTE = """
import sys, nbclient, nbformat
src, cwd, out = sys.argv[1:]
nb = nbformat.read(src, as_version=4)
nbclient.NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, out)
"""


def _notebook(name: str) -> Callable[[Path], dict | None]:
    def make(tmp: Path) -> dict | None:
        if not all(importlib.util.find_spec(m) for m in ("nbformat", "nbclient", "ipykernel")):
            return None  # the test skips (requires_nbclient)
        env = {**os.environ, "CDIG_QUICK": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        args = [sys.executable, "-c", _EXECUTE, str(EXAMPLES / "notebooks" / name), str(tmp), str(tmp / "executed.ipynb")]
        return dict(args=args, cwd=tmp, env=env, timeout=600)

    return make


# Every script and notebook is a real run in a fresh interpreter (about a minute in all); they start with
# the session, one at a time, on the core the other tests leave idle (tests/conftest.py).
BACKGROUND_JOBS = {
    **{f"script {name}": _script(name, NEEDS.get(name, ())) for name in SCRIPTS},
    **{f"notebook {name}": _notebook(name) for name in NOTEBOOKS},
}


def run_script(background, name: str) -> tuple[dict, Path, str]:
    proc = background.result(f"script {name}")
    if proc is None:
        pytest.skip(f"{name} needs {', '.join(NEEDS[name])}")
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    out = proc.tmp / "out"
    return json.loads((out / "summary.json").read_text()), out, proc.stdout


def test_every_script_has_a_test():
    assert SCRIPTS == [
        "acsf1_fourier.py",
        "airline_trendseason.py",
        "basicmotions_ica.py",
        "ecg_mitdb.py",
        "minirocket_shapley.py",
    ]
    assert NOTEBOOKS == ["acsf1_fourier.ipynb", "airline_trendseason.ipynb"]


@pytest.mark.background("script acsf1_fourier.py")
def test_acsf1_fourier(background):
    s, out, stdout = run_script(background, "acsf1_fourier.py")
    assert s["accuracy"] >= 0.4  # ten classes, chance 0.1 (0.68 quick, 0.84 full)
    assert max(s["max_relative_delta"].values()) < 0.01
    share = dict(zip(s["bands"], s["attribution_share"]))
    assert share["40 s line"] + share["20 s line"] > 0.5  # where most of the power is, too
    assert abs(sum(s["attribution_share"]) - 1) < 1e-3 and abs(sum(s["power_share"]) - 1) < 1e-3
    for name in ("time.npz", "fourier.npz", "bands.npz", "fourier.png", "bands.png", "band_shares.png"):
        assert (out / name).is_file(), name
    assert "held-out accuracy" in stdout and "completeness" in stdout


@pytest.mark.background("script basicmotions_ica.py")
def test_basicmotions_ica(background):
    s, out, _ = run_script(background, "basicmotions_ica.py")
    assert s["accuracy"] >= 0.75  # four activities, chance 0.25
    assert max(s["max_relative_delta"].values()) < 0.01
    assert len(s["components"]) == 6 and s["per_class"]
    # running is decided by an accelerometer-dominated component
    assert "acc" in s["components"][s["per_class"]["Running"]["top"]].split("+")[0]
    for name in ("time.npz", "ica.npz", "ica.png", "ica_per_class.png"):
        assert (out / name).is_file(), name


@pytest.mark.background("script ecg_mitdb.py")
def test_ecg_mitdb(background):
    s, out, _ = run_script(background, "ecg_mitdb.py")
    assert s["top_is_anomalous"]  # the score's maximum is in the annotated segment
    assert s["score_anomalous_max"] > s["score_normal_max"]
    assert max(s["max_relative_delta"].values()) < 0.01
    assert abs(s["peak_s"][0] - s["premature_r_s"]) < 0.05  # the time map peaks at the premature beat
    for name in ("time.npz", "stft.npz", "time.png", "stft.png"):
        assert (out / name).is_file(), name


@pytest.mark.background("script airline_trendseason.py")
def test_airline_trendseason(background):
    s, out, _ = run_script(background, "airline_trendseason.py")
    assert s["mape"] < s["mape_repeat_last_year"]  # better than repeating the last year
    assert s["max_abs_delta"] < 1e-3  # log passengers
    shares = s["mean_share_per_step"]
    assert len(shares) == 12 and all(abs(sum(row) - 1) < 1e-3 for row in shares)
    # the seasonal pattern carries the far horizon; the trend matters most for the next months
    assert shares[-1][1] > 0.5 and shares[0][0] > shares[-1][0]
    for name in ("trend_h1.png", "trend_h12.png", "shares.png", "trend_h1.npz"):
        assert (out / name).is_file(), name


@pytest.mark.background("script minirocket_shapley.py")
def test_minirocket_shapley(background):
    """Exact Shapley values (efficiency to round-off: each recording's values add up to f(x) - f(baseline)),
    a sampled estimate consistent with them, and the files."""
    s, out, stdout = run_script(background, "minirocket_shapley.py")
    for name in ("bands.png", "ica.png", "bands.npz", "ica.npz"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert s["accuracy"] >= 0.75  # four activities, chance 0.25
    assert len(s["explained"]) == 2 and set(s["domains"]) == {"bands", "ica"}
    for name, n_players in (("bands", 5), ("ica", 6)):
        d = s["domains"][name]
        exact, sampled, se = (np.asarray(d[k]) for k in ("exact", "sampled", "standard_error"))
        assert exact.shape == sampled.shape == se.shape == (2, n_players) and len(d["players"]) == n_players
        # efficiency: cdig's own residual, and the values against the outputs it reports (rounded to 1e-6)
        assert d["max_abs_delta"] <= 1e-9
        change = np.asarray(d["output"]) - np.asarray(d["baseline_output"])
        np.testing.assert_allclose(exact.sum(axis=1), change, rtol=0, atol=n_players * 1e-6)
        # the sampled permutations estimate the same values
        assert np.all(np.abs(sampled - exact) <= 5 * se + 2e-6)
    assert "exact Shapley values" in stdout and "efficiency" in stdout


@requires_nbclient
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.background(f"notebook {n}")) for n in NOTEBOOKS])
def test_notebook_executes(name, background):
    nbformat = pytest.importorskip("nbformat")
    committed = nbformat.read(EXAMPLES / "notebooks" / name, as_version=4)
    assert not any(c.get("outputs") for c in committed.cells if c.cell_type == "code"), "commit notebooks without outputs"
    proc = background.result(f"notebook {name}")
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-6000:]}"
    tmp_path = proc.tmp
    nb = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert [c.source for c in nb.cells] == [c.source for c in committed.cells]
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
