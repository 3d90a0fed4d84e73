"""cdig.explain_dataset: every source kind, targets, the store's contents, refusal of mixed settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig

zarr = pytest.importorskip("zarr")

N, C, T = 11, 2, 32


def _model():
    torch.manual_seed(0)
    return (
        torch.nn.Sequential(torch.nn.Conv1d(C, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * T, 3))
        .double()
        .eval()
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, C, T)), rng.integers(0, 3, N)


KW = dict(n_steps=8, progress=False)


def _same(ds, ref, names=("time", "fourier")):
    for name in names:
        a = ds.attribution(name)
        np.testing.assert_allclose(a.values, ref[name].values, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.delta, ref[name].delta, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(a.output, ref[name].output, rtol=1e-12)
        assert a.dims == ref[name].dims
        for k in ref[name].coords:
            np.testing.assert_array_equal(a.coords[k], ref[name].coords[k])


def test_array_store_equals_one_big_explanation(data, tmp_path):
    x, _ = data
    model = _model()
    ds = cdig.explain_dataset(model, x, tmp_path / "s.zarr", ("time", "fourier"), target=1, batch_size=4, **KW)
    ref = cdig.explain(model, torch.from_numpy(x), ("time", "fourier"), target=1, n_steps=8)
    assert ds.rows == N and ds.complete and ds.done() == frozenset({0, 1, 2})
    _same(ds, ref)
    assert "chunks" not in repr(ds) and "complete" in repr(ds)
    assert ds.settings["data"]["rows"] == N and ds.settings["model"]["weights"]


def test_auto_stores_the_map_error_estimate(data, tmp_path):
    x, _ = data
    model = _model()
    kw = dict(target=1, n_steps="auto", rtol=1e-4)
    ds = cdig.explain_dataset(model, x, tmp_path / "s.zarr", ("time", "fourier"), batch_size=4, progress=False, **kw)
    ref = cdig.explain(model, torch.from_numpy(x), ("time", "fourier"), **kw)
    for name in ("time", "fourier"):
        a = ds.attribution(name)
        assert set(a.error_estimate) == {"relative", "absolute"}
        np.testing.assert_allclose(a.error_estimate["relative"], ref[name].error_estimate["relative"], rtol=1e-6)
    fixed = cdig.explain_dataset(model, x, tmp_path / "f.zarr", "time", target=1, batch_size=4, **KW)
    assert fixed.attribution("time").error_estimate is None


def _loader(x, y, bs):
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=False)


@pytest.mark.parametrize("kind", ["memmap", "tensor", "loader", "dataset", "list", "generator", "tfdata"])
def test_every_source_kind_gives_the_same_maps(data, tmp_path, kind):
    x, y = data
    model = _model()
    if kind == "memmap":
        mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=x.dtype, shape=x.shape)
        mm[:] = x
        src = np.load(tmp_path / "x.npy", mmap_mode="r")
    elif kind == "tensor":
        src = torch.from_numpy(x)
    elif kind == "loader":
        src = _loader(x, y, 4)
    elif kind == "dataset":
        src = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    elif kind == "list":
        src = [x[i : i + 5] for i in range(0, N, 5)]
    elif kind == "generator":
        src = ((x[i : i + 3], y[i : i + 3]) for i in range(0, N, 3))
    else:
        tf = pytest.importorskip("tensorflow")
        src = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    ds = cdig.explain_dataset(model, src, tmp_path / "s.zarr", ("time", "fourier"), target=2, batch_size=4, **KW)
    ref = cdig.explain(model, torch.from_numpy(x), ("time", "fourier"), target=2, n_steps=8)
    assert ds.rows == N and ds.complete
    _same(ds, ref)


def test_row_targets_predicted_and_label(data, tmp_path):
    x, y = data
    model = _model()
    ds = cdig.explain_dataset(model, x, tmp_path / "p.zarr", "fourier", target="predicted", batch_size=4, **KW)
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    np.testing.assert_array_equal(ds.group["target"][:], pred)
    att = ds.attribution("fourier")
    assert att.target == pred.tolist()
    ref = cdig.explain(model, torch.from_numpy(x), "fourier", target=pred.tolist(), n_steps=8)["fourier"]
    np.testing.assert_allclose(att.values, ref.values, rtol=1e-10, atol=1e-12)

    lab = cdig.explain_dataset(model, _loader(x, y, 5), tmp_path / "l.zarr", "fourier", target="label", **KW)
    np.testing.assert_array_equal(lab.group["target"][:], y)
    with pytest.raises(cdig.CdigValueError, match="batches of \\(x, y\\)"):
        cdig.explain_dataset(model, x, tmp_path / "n.zarr", "fourier", target="label", **KW)


def test_stores_with_other_settings_are_refused_never_mixed(data, tmp_path):
    x, _ = data
    model = _model()
    out = tmp_path / "s.zarr"
    cdig.explain_dataset(model, x, out, "fourier", target=0, batch_size=4, **KW)
    with pytest.raises(cdig.CdigValueError, match="other settings.*n_steps"):
        cdig.explain_dataset(model, x, out, "fourier", target=0, batch_size=4, n_steps=16, progress=False)
    other = _model()
    with torch.no_grad():
        other[0].weight.add_(0.1)
    with pytest.raises(cdig.CdigValueError, match="other settings.*model"):
        cdig.explain_dataset(other, x, out, "fourier", target=0, batch_size=4, **KW)
    with pytest.raises(cdig.CdigValueError, match="other settings.*data"):
        cdig.explain_dataset(model, x + 1, out, "fourier", target=0, batch_size=4, **KW)
    ds = cdig.explain_dataset(model, x, out, "fourier", target=0, batch_size=4, n_steps=16, overwrite=True, progress=False)
    assert ds.settings["n_steps"] == 16
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("hello")
    with pytest.raises(cdig.CdigValueError, match="not a cdig store"):
        cdig.explain_dataset(model, x, tmp_path / "junk", "fourier", target=0, **KW)


def test_refuses_what_cannot_be_chunked(data, tmp_path):
    x, y = data
    model = _model()
    with pytest.raises(cdig.CdigValueError, match="fit it once"):
        cdig.explain_dataset(model, x, tmp_path / "a.zarr", "ica", **KW)
    shuffled = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=4, shuffle=True)
    with pytest.raises(cdig.CdigValueError, match="shuffle=False"):
        cdig.explain_dataset(model, shuffled, tmp_path / "b.zarr", "time", target=0, **KW)
    with pytest.raises(cdig.CdigTypeError, match="not a list"):
        cdig.explain_dataset(model, x, tmp_path / "c.zarr", "time", target=[0] * N, **KW)
    with pytest.raises(cdig.CdigValueError, match="string target"):
        cdig.explain_dataset(model, x, tmp_path / "c.zarr", "time", target="argmax", **KW)
    with pytest.raises(cdig.CdigValueError, match="engine"):
        cdig.explain_dataset(model, x, tmp_path / "c.zarr", "time", target=0, engine="spark", **KW)
    with pytest.raises(cdig.CdigTypeError, match="cannot read rows"):
        cdig.explain_dataset(model, 42, tmp_path / "c.zarr", "time", target=0, **KW)
    with pytest.raises(cdig.CdigValueError, match="batch_size"):
        cdig.explain_dataset(model, x, tmp_path / "c.zarr", "time", target=0, batch_size=0, **KW)


def test_fitted_ica_is_fine(data, tmp_path):
    from sklearn.decomposition import FastICA

    x, _ = data
    model = _model()
    ica = FastICA(whiten="unit-variance", random_state=0).fit(x.transpose(0, 2, 1).reshape(-1, C))
    ds = cdig.explain_dataset(model, x, tmp_path / "i.zarr", [cdig.ICA(ica)], target=0, batch_size=5, **KW)
    ref = cdig.explain(model, torch.from_numpy(x), [cdig.ICA(ica)], target=0, n_steps=8)
    _same(ds, ref, names=("ica",))
