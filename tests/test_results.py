"""``cdig.results`` (the one writer and reader of result folders), ``Attribution.to_xarray``, the training
helpers' home and the one progress bar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import cdig
from cdig import Attribution
from cdig.core.errors import CdigValueError
from cdig.results import EXPLAINED, SCHEMA_VERSION, SUMMARY, ResultWriter, deltas_summary, read_results

N = 3


def _map(
    domain: str, dims: tuple[str, ...], shape: tuple[int, ...], coords: dict, units: dict | None = None, **kw
) -> Attribution:
    values = np.arange(N * int(np.prod(shape)), dtype=float).reshape(N, *shape) - 2.0
    return Attribution(
        values,
        domain,
        dims,
        coords,
        delta=np.array([1e-3, -2e-3, 0.0]),
        output=np.array([1.0, 2.0, 3.0]),
        baseline_output=np.zeros(N),
        n_steps=np.full(N, 8),
        target=[0, 1, 1],
        units=units or {},
        settings={"method": "gausslegendre", "nested": {"fs": 100.0}},
        **kw,
    )


@pytest.fixture
def maps() -> dict[str, Attribution]:
    return {
        "fourier": _map(
            "fourier",
            ("channel", "frequency"),
            (2, 4),
            {"channel": np.arange(2), "frequency": np.array([0.0, 25.0, 50.0, 75.0])},
            {"frequency": "Hz"},
        ),
        "ica": _map("ica", ("component",), (2,), {"component": np.arange(2)}),
    }


# --- the writer and the reader ----------------------------------------------------------------
def test_written_folder_reads_back(tmp_path, maps):
    w = ResultWriter(tmp_path / "new" / "out")  # created with its parents
    w.save_maps(maps)
    w.save_explained(x=np.zeros((N, 2, 8)), predicted=np.array([0, 1, 1]))
    summary = w.write_summary({"accuracy": 0.75, "deltas": deltas_summary(maps)})
    out = tmp_path / "new" / "out"
    assert summary["schema_version"] == SCHEMA_VERSION == 1 and summary["cdig_version"] == cdig.__version__
    assert summary["files"] == ["fourier.npz", "ica.npz", EXPLAINED, SUMMARY]
    assert all((out / f).is_file() for f in summary["files"])
    assert json.loads((out / SUMMARY).read_text()) == summary
    assert summary["out_dir"] == str(out.resolve())
    assert summary["deltas"]["fourier"]["max_abs_delta"] == pytest.approx(2e-3)

    r = read_results(out)
    assert r.schema_version == 1 and r.n == N and list(r.maps) == ["fourier", "ica"] and not r.ignored
    np.testing.assert_array_equal(r.maps["fourier"].values, maps["fourier"].values)
    np.testing.assert_array_equal(r.explained["predicted"], [0, 1, 1])
    assert r.summary["accuracy"] == 0.75


def test_folders_without_a_schema_version_are_version_1(tmp_path, maps):
    maps["ica"].save(tmp_path / "ica.npz")
    maps["fourier"].save(tmp_path / "fourier.npz")
    (tmp_path / SUMMARY).write_text(json.dumps({"files": ["ica.npz", "fourier.npz", SUMMARY]}))  # as before
    r = read_results(tmp_path)
    assert r.schema_version == 1 and list(r.maps) == ["ica", "fourier"]
    from cdig.report import read_folder

    assert list(read_folder(tmp_path).maps) == ["ica", "fourier"]


@pytest.mark.parametrize(
    ("version", "match"),
    [(SCHEMA_VERSION + 1, "newer cdig"), ("1", "positive integer"), (0, "positive integer"), (True, "positive integer")],
)
def test_unknown_schema_versions_are_refused(tmp_path, maps, version, match):
    maps["ica"].save(tmp_path / "ica.npz")
    (tmp_path / SUMMARY).write_text(json.dumps({"schema_version": version}))
    with pytest.raises(CdigValueError, match=match):
        read_results(tmp_path)


def test_reader_errors_name_the_file(tmp_path, maps):
    with pytest.raises(CdigValueError, match="no such folder"):
        read_results(tmp_path / "nope")
    (tmp_path / SUMMARY).write_text("{not json")
    with pytest.raises(CdigValueError, match="summary.json: not readable JSON"):
        read_results(tmp_path)
    (tmp_path / SUMMARY).unlink()
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(CdigValueError, match="no maps found"):
        read_results(tmp_path)
    maps["ica"].save(tmp_path / "ica.npz")
    assert read_results(tmp_path).ignored == ["other.npz"]


class _Figure:
    def savefig(self, path: Path, dpi: int) -> None:
        Path(path).write_bytes(b"\x89PNG fake at %d dpi" % dpi)


def _broken() -> _Figure:
    raise RuntimeError("no figure today")


def test_figures_fail_loudly_or_become_notes(tmp_path):
    w = ResultWriter(tmp_path)
    w.save_figures({"a": _Figure, "b": _broken, "c": _Figure}, dpi=72, progress=True, keep_going=True)
    assert w.files == ["a.png", "c.png"] and w.notes == ["no figure for b: no figure today"]
    assert (tmp_path / "a.png").read_bytes() == b"\x89PNG fake at 72 dpi"
    with pytest.raises(RuntimeError, match="no figure today"):
        ResultWriter(tmp_path, overwrite=True).save_figures({"b": _broken})


def test_netcdf_files_match_the_maps(tmp_path, maps):
    pytest.importorskip("xarray")
    w = ResultWriter(tmp_path)
    w.save_netcdf(maps)
    if w.notes:  # pragma: no cover - no NetCDF engine
        pytest.skip(w.notes[0])
    import xarray as xr

    assert w.files == ["fourier.nc", "ica.nc"]
    with xr.open_dataset(tmp_path / "fourier.nc") as ds:
        np.testing.assert_array_equal(ds["fourier_attribution"].values, maps["fourier"].values)
        np.testing.assert_array_equal(ds["frequency"].values, [0.0, 25.0, 50.0, 75.0])
        assert ds["frequency"].attrs["units"] == "Hz"
        assert json.loads(ds.attrs["settings"]) == {"method": "gausslegendre", "nested": {"fs": 100.0}}


# --- Attribution.to_xarray ----------------------------------------------------------------------
def test_to_xarray_has_the_sample_dim_coords_and_per_sample_values(maps):
    pytest.importorskip("xarray")
    a = maps["fourier"]
    ds = a.to_xarray()
    da = ds["fourier_attribution"]
    assert da.dims == ("sample", "channel", "frequency") and da.shape == (N, 2, 4)
    np.testing.assert_array_equal(da.values, a.values)
    np.testing.assert_array_equal(da["frequency"].values, a.coords["frequency"])
    assert da.attrs == {"domain": "fourier", "units": str(a.units)} and ds["frequency"].attrs == {"units": "Hz"}
    for k in ("delta", "output", "baseline_output", "n_steps"):
        assert ds[k].dims == ("sample",)
        np.testing.assert_array_equal(ds[k].values, getattr(a, k))
    assert ds.attrs["domain"] == "fourier" and json.loads(ds.attrs["dims"]) == ["channel", "frequency"]
    assert json.loads(ds.attrs["target"]) == [0, 1, 1]
    assert "bands_attribution" in a.to_xarray("bands")  # named by the caller (the map's key)


def test_to_xarray_places_extra_coords_and_error_estimates():
    pytest.importorskip("xarray")
    wav = _map(
        "wavelet",
        ("channel", "coefficient"),
        (1, 4),
        {
            "channel": np.arange(1),
            "coefficient": np.arange(4),
            "band": np.array([0, 0, 1, 1]),
            "band_name": np.array(["A1", "D1", "D2"]),
            "time": np.array([0.0, 0.5, 0.0, 0.5]),
        },
        {"time": "s"},
        error_estimate={"absolute": np.ones(N), "relative": np.full(N, 0.1)},
    )
    ds = wav.to_xarray()
    assert ds["band"].dims == ("coefficient",) and ds["time"].dims == ("coefficient",)
    assert ds["time"].attrs["units"] == "s"
    assert ds["band_name"].dims == ("band_name",) and ds["band_name"].values.tolist() == ["A1", "D1", "D2"]
    np.testing.assert_array_equal(ds["error_estimate_relative"].values, np.full(N, 0.1))
    assert ds["wavelet_attribution"].dims == ("sample", "channel", "coefficient")


# --- training helpers and the progress bar ----------------------------------------------------
def test_training_helpers_live_in_cdig_training():
    import cdig.demo
    import cdig.training

    for name in ("make_model", "train_classifier", "train_regressor"):
        assert getattr(cdig.demo, name) is getattr(cdig.training, name)
    assert cdig.demo.deltas_summary is deltas_summary


def test_all_progress_goes_through_one_bar():
    src = Path(cdig.__file__).parent
    users = sorted(
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if "from tqdm" in (text := p.read_text(encoding="utf-8")) or "import tqdm" in text
    )
    assert users == ["_progress.py"]


def test_progress_counts_and_shows_stats(monkeypatch, capsys):
    import builtins

    from cdig._progress import Progress

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    bar = Progress(True, 2, "training", unit="epoch")
    bar(1, loss=0.25)
    bar(1, loss=0.125)
    bar.close()
    err = capsys.readouterr().err
    assert "training: 2/2 epochs loss 0.125" in err
    Progress(False, 2, "off")(1, loss=1.0)
    assert capsys.readouterr().err == ""
