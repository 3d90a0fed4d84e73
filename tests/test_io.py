"""cdig.io: models and data from files, with errors that name the file."""

import numpy as np
import pytest

from cdig import CdigValueError
from cdig.io import load_data, load_model, predict, read_ts
from cdig.testing import requires_torch

TS_HEADER = "@problemName toy\n@univariate false\n@dimensions 2\n@equalLength true\n@classLabel true a b\n@data\n"


def _write(path, text):
    path.write_text(text)
    return path


def test_ts_multivariate_equal_length(tmp_path):
    p = _write(tmp_path / "x.ts", "# comment\n" + TS_HEADER + "1,2,3:4,5,6:a\n7,8,9:10,11,12:b\n")
    x, labels = read_ts(p)
    assert x.shape == (2, 2, 3) and labels == ["a", "b"]
    np.testing.assert_array_equal(x[1, 1], [10, 11, 12])
    got = load_data(p)
    assert got.dtype == np.float32 and got.shape == (2, 2, 3)


def test_ts_without_class_labels(tmp_path):
    p = _write(tmp_path / "x.ts", "@problemName toy\n@classLabel false\n@data\n1,2\n3,4\n")
    x, labels = read_ts(p)
    assert x.shape == (2, 1, 2) and labels == []


@pytest.mark.parametrize(
    "body, message",
    [
        ("1,2,3:4,5,6:a\n7,8:10,11:b\n", "unequal lengths"),
        ("1,?,3:4,5,6:a\n", "missing values ('?')"),
        ("1,x,3:4,5,6:a\n", "line 7: non-numeric"),
        ("1,2,3:a\n4,5,6:7,8,9:b\n", "different numbers of dimensions"),
    ],
)
def test_ts_errors_name_the_file(tmp_path, body, message):
    p = _write(tmp_path / "bad.ts", TS_HEADER + body)
    with pytest.raises(CdigValueError, match="bad.ts") as e:
        load_data(p)
    assert message in str(e.value)


def test_ts_without_data_section(tmp_path):
    with pytest.raises(CdigValueError, match="no '@data' line"):
        load_data(_write(tmp_path / "h.ts", "@problemName toy\n"))


def test_npy_npz_csv(tmp_path):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "one.npz", a)
    np.savez(tmp_path / "two.npz", X=a, y=np.zeros(2))
    np.savetxt(tmp_path / "a.csv", a.reshape(2, 12), delimiter=",")
    for x in (
        load_data(tmp_path / "a.npy"),
        load_data(tmp_path / "one.npz"),
        load_data(tmp_path / "two.npz", npz_key="X"),
        load_data(tmp_path / "a.csv", channels=3),
    ):
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, a)
    assert load_data(tmp_path / "a.csv").shape == (2, 12)
    with pytest.raises(CdigValueError, match="two.npz: holds 2 arrays .*--npz-key"):
        load_data(tmp_path / "two.npz")
    with pytest.raises(CdigValueError, match="two.npz: has no array 'Z'"):
        load_data(tmp_path / "two.npz", npz_key="Z")
    with pytest.raises(CdigValueError, match="a.csv: rows of 12 values cannot be split into --channels 5"):
        load_data(tmp_path / "a.csv", channels=5)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("x.txt", "1", "unknown data file type '.txt'"),
        ("missing.npy", None, "data file not found"),
        ("bad.npy", "not numpy", "cannot read as .npy"),
        ("bad.csv", "a,b\n1,2\n", "cannot read as CSV"),
        ("nan.csv", "1,nan\n", "NaN or Inf"),
    ],
)
def test_data_errors_name_the_file(tmp_path, name, content, message):
    p = tmp_path / name
    if content is not None:
        p.write_text(content)
    with pytest.raises(CdigValueError, match=name) as e:
        load_data(p)
    assert message in str(e.value)


def test_data_of_wrong_rank(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(CdigValueError, match=r"v.npy: the data has shape \(5,\)"):
        load_data(tmp_path / "v.npy")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("m.onnx", b"x", "unknown model file type '.onnx'"),
        ("gone.pt", None, "model file not found"),
        ("junk.pt", b"junk", "cannot load as TorchScript"),
        ("junk.pt2", b"junk", "cannot load as a torch.export program"),
    ],
)
@requires_torch
def test_model_errors_name_the_file(tmp_path, name, content, message):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(CdigValueError, match=name) as e:
        load_model(p)
    assert message in str(e.value)


def test_exported_program_survives_eval_and_predicts(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    ep = torch.export.export(model, (torch.randn(3, 2, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, tmp_path / "m.pt2")
    loaded, framework = load_model(tmp_path / "m.pt2")
    loaded.eval()  # the bare exported module refuses eval(); the wrapper must not
    x = np.random.default_rng(0).standard_normal((5, 2, 4)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(predict(loaded, framework, x, batch_size=2), want, rtol=1e-5, atol=1e-6)


def test_missing_framework_says_which_file_needs_it(tmp_path, monkeypatch):
    import sys

    (tmp_path / "m.keras").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ImportError, match=r"m.keras: reading .keras files needs keras: pip install keras"):
        load_model(tmp_path / "m.keras")
