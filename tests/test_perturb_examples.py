"""The perturbation example ``examples/minirocket_shapley.py``, run in-process with ``--quick``.

It checks what the example claims: exact Shapley values (efficiency to round-off: each recording's
values add up to ``f(x) - f(baseline)``), a sampled estimate consistent with them, and its files.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from cdig.testing import requires_matplotlib, requires_sklearn

pytestmark = [pytest.mark.slow, requires_matplotlib, requires_sklearn]

real = pytest.importorskip("cdig.datasets.real")
pytest.importorskip("aeon")
if "BasicMotions" not in real.available():
    pytest.skip("aeon's (or sktime's) data files are not installed", allow_module_level=True)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "minirocket_shapley.py"


def test_minirocket_shapley(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--out", str(out), "--quick"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    stdout = capsys.readouterr().out

    for name in ("bands.png", "ica.png", "bands.npz", "ica.npz", "summary.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
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
