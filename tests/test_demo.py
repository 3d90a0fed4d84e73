"""``cdig.demo.run_demo``: the files it writes and the planted truth it must recover."""

import json

import numpy as np
import pytest

import cdig
from cdig.demo import DEFAULT_EPOCHS, DEFAULT_STEPS, _balanced, run_demo
from cdig.testing import requires_matplotlib, requires_sklearn

pytestmark = [requires_sklearn, requires_matplotlib]

torch = pytest.importorskip("torch")

NPZ = ("time.npz", "fourier.npz", "ica.npz", "explained.npz")
PNG = ("time.png", "fourier.png", "ica.png", "fourier_mean.png")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The demo with its default settings (about 5 s on one CPU core)."""
    out = tmp_path_factory.mktemp("demo")
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    summary = run_demo(out, progress=False, verbose=False)
    return out, summary, (threads, deterministic)


def test_writes_maps_summary_and_figures(default_run):
    out, summary, _ = default_run
    for name in NPZ + PNG + ("summary.json",):
        assert (out / name).is_file(), name
        assert name in summary["files"]
    for name in PNG:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text()) == summary


def test_summary_keys_and_settings(default_run):
    _, s, _ = default_run
    assert {
        "accuracy",
        "deltas",
        "fourier",
        "ica",
        "data",
        "model",
        "explained",
        "settings",
        "runtime_s",
        "files",
        "out_dir",
        "cdig_version",
    } <= set(s)
    assert set(s["deltas"]) == {"time", "fourier", "ica"}
    assert {"max_abs_delta", "max_relative_delta"} <= set(s["deltas"]["fourier"])
    assert {"top_bin_in_band_fraction", "band_hz"} <= set(s["fourier"])
    assert {"planted_component", "planted_correlation", "top_is_planted_fraction"} <= set(s["ica"])
    assert s["settings"]["epochs"] == DEFAULT_EPOCHS and s["settings"]["n_steps"] == DEFAULT_STEPS
    assert s["explained"]["n"] == 32 and s["explained"]["n_class1"] == 16
    assert s["data"]["n_train"] == 300 and s["data"]["n_test"] == 100


def test_planted_truth_is_recovered(default_run):
    _, s, _ = default_run
    assert s["accuracy"] >= 0.9
    assert s["fourier"]["top_bin_in_band_fraction"] >= 0.8
    assert s["fourier"]["top_bin_in_band_fraction_class0"] <= 0.2
    assert s["ica"]["planted_correlation"] > 0.95
    assert s["ica"]["top_is_planted_fraction"] >= 0.8
    for d in s["deltas"].values():
        assert d["max_relative_delta"] < 0.01


def test_maps_load_back_as_attributions(default_run):
    out, s, _ = default_run
    fourier = cdig.Attribution.load(out / "fourier.npz")
    assert fourier.domain == "fourier" and fourier.values.shape == (32, 3, 129)
    assert fourier.units["frequency"] == "Hz"
    ica = cdig.Attribution.load(out / "ica.npz")
    assert ica.values.shape == (32, 3) and ica.extras["per_time"].shape == (32, 3, 256)
    with np.load(out / "explained.npz") as f:
        assert f["x"].shape == (32, 3, 256)
        assert f["index"].tolist() == s["explained"]["index"]
        np.testing.assert_array_equal(f["predicted"], s["explained"]["predicted"])


def test_torch_settings_are_restored(default_run):
    *_, (threads, deterministic) = default_run
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


@pytest.fixture
def no_png(monkeypatch):
    """Figures drawn but not rendered to PNG (most of a reduced run's time): the runs below check the
    maps, the summary and what is printed; the figures are checked on the default run above."""
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", lambda self, *args, **kwargs: None)


def test_reduced_run_is_deterministic_and_prints(tmp_path, capsys, no_png):
    kw = dict(n_explain=6, epochs=4, n_steps=16, seed=1, progress=False)
    a = run_demo(tmp_path / "a", **kw)
    printed = capsys.readouterr().out
    assert str((tmp_path / "a").resolve()) in printed and "accuracy" in printed
    b = run_demo(tmp_path / "b", verbose=False, **kw)
    assert a["accuracy"] == b["accuracy"] >= 0.9
    assert a["explained"] == b["explained"] and a["model"]["train_loss"] == b["model"]["train_loss"]
    assert a["fourier"]["top_bin_in_band_fraction"] >= 0.8
    np.testing.assert_array_equal(
        cdig.Attribution.load(tmp_path / "a" / "time.npz").values, cdig.Attribution.load(tmp_path / "b" / "time.npz").values
    )


def test_auto_steps(tmp_path, no_png):
    s = run_demo(tmp_path, n_explain=2, epochs=4, n_steps="auto", progress=False, verbose=False)
    assert s["settings"]["method"] == "gausskronrod_adaptive"
    assert max(d["max_relative_delta"] for d in s["deltas"].values()) < 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_explain": 1}, "n_explain"),
        ({"n_explain": 101}, "n_explain"),
        ({"n_explain": 4.0}, "n_explain"),
        ({"epochs": 0}, "epochs"),
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": "many"}, "n_steps"),
        ({"seed": -1}, "seed"),
        ({"epochs": True}, "epochs"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_demo(tmp_path, progress=False, verbose=False, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing written


def test_balanced_pick_alternates_classes():
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    idx = np.arange(8)
    assert _balanced(idx, y, 4).tolist() == [1, 0, 2, 3]
    assert sorted(y[_balanced(idx, y, 6)].tolist()) == [0, 0, 0, 1, 1, 1]
    assert y[_balanced(idx, y, 8)].sum() == 5  # more than there are of class 0: the rest from class 1
