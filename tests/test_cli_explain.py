"""``cdig explain``: every model format × every data format end to end, the errors, the help."""

import json
import warnings

import numpy as np
import pytest

from cdig.cli import main

C, T, N = 2, 16, 3
FAST = ["--steps", "8", "--no-progress"]


def _write_ts(path, x):
    with open(path, "w") as f:
        f.write(
            f"@problemName toy\n@univariate false\n@dimensions {x.shape[1]}\n@equalLength true\n"
            f"@seriesLength {x.shape[2]}\n@classLabel true a b\n@data\n"
        )
        for i, row in enumerate(x):
            f.write(":".join(",".join(repr(float(v)) for v in dim) for dim in row) + f":{'ab'[i % 2]}\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Data as (N, C, T) in each format, plus channels-last copies for Keras' .npy/.npz."""
    d = tmp_path_factory.mktemp("data")
    x = np.random.default_rng(0).standard_normal((N, C, T)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.savez(d / "x.npz", X=x, y=np.arange(N))
    np.savetxt(d / "x.csv", x.reshape(N, C * T), delimiter=",")
    _write_ts(d / "x.ts", x)
    xl = x.transpose(0, 2, 1).copy()
    np.save(d / "xl.npy", xl)
    np.savez(d / "xl.npz", X=xl, y=np.arange(N))
    return d


@pytest.fixture(scope="module")
def torch_models(tmp_path_factory):
    torch = pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(C, 3, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(3 * (T - 2), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(d / "m.pt"))
    ep = torch.export.export(model, (torch.randn(4, C, T),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, d / "m.pt2")
    scalar = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, 1), torch.nn.Flatten(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(scalar), str(d / "scalar.pt"))
    return d


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    keras = pytest.importorskip("keras")
    d = tmp_path_factory.mktemp("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((T, C)), keras.layers.Conv1D(3, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' "HDF5 is legacy" notice and numpy-2 chatter
        model.save(d / "k.keras")
        model.save(d / "k.h5")
        model.export(str(d / "saved"), verbose=False)
    return d


def _check_outputs(out, domains, n=N):
    summary = json.loads((out / "summary.json").read_text())
    assert all((out / name).is_file() for name in summary["files"])
    assert set(summary["deltas"]) == set(domains)
    for name in domains:
        assert f"{name}.npz" in summary["files"]
        assert summary["deltas"][name]["max_relative_delta"] < 1e-3
    assert summary["data"]["explained_shape"][0] == n and len(summary["target"]["per_sample"]) == n
    return summary


DATA_ARGS = {
    "npy": ["x.npy"],
    "npz": ["x.npz", "--npz-key", "X"],
    "csv": ["x.csv", "--channels", str(C)],
    "ts": ["x.ts"],
}


@pytest.mark.parametrize("data", list(DATA_ARGS))
@pytest.mark.parametrize("model", ["m.pt", "m.pt2"])
def test_torch_models_on_every_data_format(torch_models, files, tmp_path, model, data, capsys):
    args = DATA_ARGS[data]
    out = tmp_path / "out"
    code = main(["explain", str(torch_models / model), str(files / args[0]), *args[1:], "--out", str(out), "--fs", "16", *FAST])
    assert code == 0, capsys.readouterr().err
    summary = _check_outputs(out, ["time", "fourier"])
    assert summary["model"]["framework"] == "torch" and summary["settings"]["time_axis"] == 2
    assert {"time.png", "fourier.png"} <= set(summary["files"])
    assert str(out.resolve()) in capsys.readouterr().out


KERAS_DATA = {"npy": ["xl.npy"], "npz": ["xl.npz", "--npz-key", "X"], "csv": DATA_ARGS["csv"], "ts": ["x.ts"]}


@pytest.mark.parametrize("data", list(KERAS_DATA))
@pytest.mark.parametrize("model", ["k.keras", "k.h5", "saved"])
def test_keras_models_on_every_data_format(keras_models, files, tmp_path, model, data, capsys):
    args = KERAS_DATA[data]
    out = tmp_path / "out"
    code = main(
        ["explain", str(keras_models / model), str(files / args[0]), *args[1:], "--out", str(out), "--domain", "fourier", *FAST]
    )
    assert code == 0, capsys.readouterr().err
    summary = _check_outputs(out, ["fourier"])
    assert summary["model"]["framework"] == ("tensorflow" if model == "saved" else "keras")
    assert summary["data"]["explained_shape"] == [N, T, C]  # CSV and .ts are given to Keras channels last


def test_saved_model_maps_equal_the_keras_models(keras_models, files, tmp_path, capsys):
    import cdig

    outs = {}
    for model in ("k.keras", "saved"):
        out = tmp_path / model
        assert (
            main(["explain", str(keras_models / model), str(files / "xl.npy"), "--out", str(out), "--domain", "fourier", *FAST])
            == 0
        ), capsys.readouterr().err
        outs[model] = cdig.Attribution.load(out / "fourier.npz")
    np.testing.assert_allclose(outs["saved"].values, outs["k.keras"].values, rtol=1e-5, atol=1e-7)
    (tmp_path / "empty").mkdir()
    assert main(["explain", str(tmp_path / "empty"), str(files / "xl.npy"), "--out", str(tmp_path / "o")]) == 2
    assert "not a TensorFlow SavedModel" in capsys.readouterr().err


def test_more_domains_options_and_notes(torch_models, files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "explain",
            str(torch_models / "m.pt"),
            str(files / "x.npy"),
            "--out",
            str(out),
            "--domain",
            "fourier",
            "--domain",
            "ica",
            "--domain",
            "dct",
            "--domain",
            "bands",
            "--fs",
            "64",
            "--target",
            "1",
            "--baseline",
            "mean",
            "--samples",
            "2",
            "--batch-size",
            "5",
            *FAST,
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = _check_outputs(out, ["fourier", "ica", "dct", "bands"], n=2)
    assert summary["target"]["per_sample"] == [1, 1]
    assert summary["settings"]["baseline"] == "mean" and summary["settings"]["internal_batch_size"] == 5
    assert {"fourier.png", "ica.png", "dct.png", "bands.png", "summary.png"} <= set(summary["files"])
    assert not any("no figure" in note for note in summary["notes"])
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - the test extra installs xarray
        assert any("xarray is not installed" in note for note in summary["notes"])
        return
    import cdig

    assert {f"{d}.nc" for d in ("fourier", "ica", "dct", "bands")} <= set(summary["files"]), summary["notes"]
    for d in ("fourier", "bands"):
        att = cdig.Attribution.load(out / f"{d}.npz")
        with xr.open_dataset(out / f"{d}.nc") as ds:
            da = ds[f"{d}_attribution"]
            assert da.dims == ("sample", *att.dims) and da.attrs["units"] == str(att.units)
            np.testing.assert_array_equal(da.values, att.values)
            np.testing.assert_array_equal(ds["delta"].values, att.delta)
            for k in set(att.dims) & set(att.coords):
                np.testing.assert_array_equal(da[k].values, np.asarray(att.coords[k]))


def test_default_target_is_argmax_or_the_scalar(torch_models, files, tmp_path):
    import torch

    main(["explain", str(torch_models / "m.pt"), str(files / "x.npy"), "--out", str(tmp_path / "a"), *FAST])
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        logits = torch.jit.load(str(torch_models / "m.pt"))(torch.from_numpy(np.load(files / "x.npy")))
    assert summary["target"]["per_sample"] == logits.argmax(1).tolist()
    assert (
        main(
            [
                "explain",
                str(torch_models / "scalar.pt"),
                str(files / "x.npy"),
                "--out",
                str(tmp_path / "b"),
                "--steps",
                "auto",
                "--no-figures",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["target"]["per_sample"] == [None] * N and summary["settings"]["method"] == "gausskronrod_adaptive"
    for row in summary["deltas"].values():  # "auto" certifies the map: its estimated error is reported
        assert row["max_relative_delta"] <= 1e-3 + 1e-12 and 0 <= row["max_relative_map_error"] <= 1e-3
    assert not any(name.endswith(".png") for name in summary["files"])
    assert (
        main(
            [
                "explain",
                str(torch_models / "scalar.pt"),
                str(files / "x.npy"),
                "--target",
                "argmax",
                "--out",
                str(tmp_path / "c"),
                *FAST,
            ]
        )
        == 2
    )


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("cdig explain: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_errors_name_the_file_in_one_line(torch_models, files, tmp_path, capsys):
    out = ["--out", str(tmp_path / "o"), *FAST]
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "broken.pt").write_bytes(b"not a model")
    err = _error(capsys, ["explain", str(tmp_path / "model.onnx"), str(files / "x.npy"), *out])
    assert "model.onnx" in err and "unknown model file type" in err
    err = _error(capsys, ["explain", str(tmp_path / "broken.pt"), str(files / "x.npy"), *out])
    assert "broken.pt" in err and "cannot load as TorchScript" in err
    err = _error(capsys, ["explain", str(torch_models / "m.pt"), str(tmp_path / "nope.npy"), *out])
    assert "nope.npy" in err and "not found" in err
    err = _error(capsys, ["explain", str(torch_models / "m.pt"), str(files / "x.npz"), *out])
    assert "x.npz" in err and "--npz-key" in err
    # univariate CSV (N, C*T) given to a 2-channel Conv1d model: the model's own error, with the shape
    err = _error(capsys, ["explain", str(torch_models / "m.pt"), str(files / "x.csv"), *out])
    assert "m.pt" in err and "x.csv" in err and f"shape ({N}, {C * T})" in err and "refuses" in err
    err = _error(capsys, ["explain", str(torch_models / "m.pt"), str(files / "x.npy"), "--domain", "bands", *out])
    assert "bands domain needs the sampling rate" in err and "--fs" in err
    err = _error(capsys, ["explain", str(torch_models / "m.pt"), str(files / "x.npy"), "--target", "7", *out])
    assert "m.pt" in err and "--target 7 is out of range" in err


def test_keras_model_refusing_the_layout(keras_models, files, tmp_path, capsys):
    err = _error(capsys, ["explain", str(keras_models / "k.keras"), str(files / "x.npy"), "--out", str(tmp_path / "o"), *FAST])
    assert "k.keras" in err and f"shape ({N}, {C}, {T})" in err
    assert "incompatible with the layer" in err and "\x1b" not in err  # Keras' message, without its bold codes


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--domain", "spectrum"], "unknown domain 'spectrum'; accepted: time, fourier"),
        (["--fs", "0"], "--fs: 0.0 must be a positive finite number"),
        (["--target", "first"], "neither an output index nor 'auto'"),
        (["--baseline", "noise"], "invalid choice: 'noise'"),
        (["--samples", "0"], "--samples: 0 is out of range"),
    ],
)
def test_bad_options_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["explain", "m.pt", "x.npy", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "cdig explain: error:" in err and message in err


def test_help_reads_like_a_man_page(capsys):
    with pytest.raises(SystemExit) as e:
        main(["explain", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "usage: cdig explain",
        "MODEL",
        "DATA",
        "MODEL FORMATS",
        "DATA FORMATS",
        "EXAMPLES",
        "torch.export.save",
        ".keras",
        ".npz",
        "--npz-key",
        "--channels",
        ".ts",
        "UCR/UEA",
        "--domain",
        "--target",
        "--fs",
        "--steps",
        "--baseline",
        "--time-axis",
        "--internal-batch-size",
        "--samples",
        "summary.json",
        "Exit status",
        "--domain-file",
        "DOMAINS",
        "NAME=LOW-HIGH",
        "--method",
        "--rtol",
        "--max-steps",
        "--output KEY_OR_INDEX",
        "--output-key",
        "--quiet",
        "--verbose",
    ):
        assert text in out, text
    assert "  cdig explain model.pt X_test.npy" in out  # the epilog keeps its layout
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "explain" in capsys.readouterr().out


def test_old_option_names_still_work_and_say_so(torch_models, files, tmp_path, capsys):
    """--batch-size (path points, not rows) is now --internal-batch-size; --target argmax is --target predicted."""
    assert (
        main(
            [
                "explain",
                str(torch_models / "m.pt"),
                str(files / "x.npy"),
                "--out",
                str(tmp_path / "old"),
                "--batch-size",
                "5",
                "--target",
                "argmax",
                *FAST,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "--batch-size is deprecated" in out and "--target argmax is deprecated" in out
    old = json.loads((tmp_path / "old" / "summary.json").read_text())
    assert (
        main(
            [
                "explain",
                str(torch_models / "m.pt"),
                str(files / "x.npy"),
                "--out",
                str(tmp_path / "new"),
                "--internal-batch-size",
                "5",
                "--target",
                "predicted",
                *FAST,
            ]
        )
        == 0
    )
    new = json.loads((tmp_path / "new" / "summary.json").read_text())
    assert old["settings"]["internal_batch_size"] == new["settings"]["internal_batch_size"] == 5
    assert old["target"] == new["target"] and old["deltas"] == new["deltas"]
    assert (
        main(
            [
                "explain",
                str(torch_models / "m.pt"),
                str(files / "x.npy"),
                "--out",
                str(tmp_path / "both"),
                "--batch-size",
                "5",
                "--internal-batch-size",
                "6",
                *FAST,
            ]
        )
        == 2
    )
