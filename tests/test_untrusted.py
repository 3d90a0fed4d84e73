"""A model file is code: what would run code from the file is refused unless the caller trusts it.

Each malicious file here plants a marker file when its code runs. The tests show the threat is real
(torch's or TensorFlow's own loader runs it), that cdig refuses it by default with a message naming
``--trust-model`` / ``trusted=True`` (marker absent), and that ``trusted=True`` is what lets it load.
"""

import io
import json
import logging
import warnings
import zipfile

import numpy as np
import pytest

from cdig.cli import main
from cdig.core.errors import CdigValueError
from cdig.io import load_model

torch = pytest.importorskip("torch")


class _Planted:
    """Unpickled, it creates ``marker`` and returns ``value`` (what the file's author would hide in it)."""

    def __init__(self, marker, value_expr):
        self.expr = f"(open({str(marker)!r}, 'w').close(), {value_expr})[1]"

    def __reduce__(self):
        return (eval, (self.expr,))


def _exported(path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    ep = torch.export.export(model, (torch.randn(3, 2, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, path)
    return model


def _rewrite(src, dst, change):
    """Copy the zip ``src`` to ``dst``, ``change(name, data)`` giving each member's new bytes (None: dropped)."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as out:
        for info in z.infolist():
            data = change(info.filename, z.read(info))
            if data is not None:
                out.writestr(info.filename, data)


def _pickled(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture
def normal_pt2(tmp_path):
    path = tmp_path / "ok.pt2"
    return path, _exported(path)


def test_an_ordinary_export_needs_no_pickle_and_loads_by_default(normal_pt2):
    path, model = normal_pt2
    with zipfile.ZipFile(path) as z:
        configs = [json.loads(z.read(n)) for n in z.namelist() if n.endswith("_config.json")]
    assert configs and not any(meta["use_pickle"] for c in configs for meta in c["config"].values())
    loaded, framework = load_model(path)  # trusted=False is the default
    x = torch.randn(5, 2, 4)
    assert framework == "torch"
    torch.testing.assert_close(loaded(x), model(x))


def test_pickled_weights_run_nothing_unless_trusted(normal_pt2, tmp_path):
    path, _ = normal_pt2
    marker, evil = tmp_path / "PWNED", tmp_path / "evil.pt2"

    def change(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            config["config"]["1.weight"]["use_pickle"] = True
            return json.dumps(config).encode()
        if name.endswith(config_path_of_weight):
            return _pickled(_Planted(marker, "__import__('torch').nn.Parameter(__import__('torch').zeros(2, 8))"))
        return data

    with zipfile.ZipFile(path) as z:
        cfg = json.loads(next(z.read(n) for n in z.namelist() if n.endswith("model_weights_config.json")))
    config_path_of_weight = "data/weights/" + cfg["config"]["1.weight"]["path_name"]
    _rewrite(path, evil, change)

    with pytest.raises(CdigValueError, match=r"refused.*'1\.weight' stored as a pickle.*--trust-model.*trusted=True"):
        load_model(evil)
    assert not marker.exists()

    model, _ = load_model(evil, trusted=True)  # the caller's explicit word: now the file's code runs
    assert marker.exists()
    out = model(torch.randn(2, 2, 4))
    torch.testing.assert_close(out[0], out[1])  # the planted zero weight is what it holds: only the bias is left


def test_pickled_sample_inputs_run_nothing_unless_trusted(normal_pt2, tmp_path):
    """No flag marks them: torch tries the safe unpickler and falls back to the unsafe one on its own."""
    path, _ = normal_pt2
    marker, evil = tmp_path / "PWNED", tmp_path / "evil.pt2"
    planted = _Planted(marker, "((__import__('torch').randn(3, 2, 4),), {})")
    _rewrite(path, evil, lambda name, data: _pickled(planted) if name.endswith("data/sample_inputs/model.pt") else data)

    noisy = logging.getLogger("torch._export.serde.serialize")  # pytest raises on torch's broken log call
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.load(evil)  # the threat is real: torch's own loader runs it
    finally:
        noisy.setLevel(level)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CdigValueError, match=r"refused.*sample_inputs/model\.pt, a pickle of more than plain tensors"):
        load_model(evil)
    assert not marker.exists()
    load_model(evil, trusted=True)
    assert marker.exists()


def test_compiled_code_and_opaque_objects_are_refused(normal_pt2, tmp_path):
    path, _ = normal_pt2
    so = tmp_path / "so.pt2"
    root = zipfile.ZipFile(path).namelist()[0].split("/")[0]
    _rewrite(path, so, lambda name, data: data)
    with zipfile.ZipFile(so, "a") as z:
        z.writestr(f"{root}/data/aotinductor/model/model.so", b"\x7fELF")
    with pytest.raises(CdigValueError, match=r"compiled code \(data/aotinductor/model/model\.so\)"):
        load_model(so)

    opaque = tmp_path / "opaque.pt2"

    def change(name, data):
        if name.endswith("model_constants_config.json"):
            return json.dumps({"config": {"c": {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": False}}}).encode()
        return data

    _rewrite(path, opaque, change)
    with pytest.raises(CdigValueError, match=r"'c' stored as a pickle"):
        load_model(opaque)


def test_cli_refuses_before_anything_runs_and_trust_model_loads(normal_pt2, tmp_path, capsys):
    path, _ = normal_pt2
    marker, evil = tmp_path / "PWNED", tmp_path / "evil.pt2"
    planted = _Planted(marker, "((__import__('torch').randn(3, 2, 4),), {})")
    _rewrite(path, evil, lambda name, data: _pickled(planted) if name.endswith("data/sample_inputs/model.pt") else data)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 2, 4)).astype(np.float32))
    out = tmp_path / "out"
    argv = ["explain", str(evil), str(tmp_path / "x.npy"), "--out", str(out), "--steps", "4", "--no-progress", "--no-figures"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "--trust-model" in err and "evil.pt2" in err
    assert not marker.exists() and not out.exists()
    assert main([*argv, "--trust-model"]) == 0
    assert marker.exists() and (out / "summary.json").is_file()


def test_help_says_a_model_file_is_code(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a model file is code: explain only models you trust" in text and "--trust-model" in text


def test_savedmodel_that_writes_files_is_refused(tmp_path):
    tf = pytest.importorskip("tensorflow")
    written = tmp_path / "written.txt"

    class Writes(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.ones((4, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(written), "from the model")
            return tf.matmul(x, self.w)

    # ordinary SavedModels (Keras model.export) still load by default: tests/test_cli_explain.py
    tf.saved_model.save(Writes(), str(tmp_path / "writes"))
    x = np.ones((2, 4), np.float32)
    with pytest.raises(CdigValueError, match=r"refused.*WriteFile \(in __inference_serve.*--trust-model"):
        load_model(tmp_path / "writes")
    assert not written.exists()
    model, _ = load_model(tmp_path / "writes", trusted=True)
    model(tf.constant(x))
    assert written.read_text() == "from the model"  # so the refusal above is what kept the file away


def test_keras_safe_mode_stays_on_unless_trusted(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    asked = []
    monkeypatch.setattr(keras.saving, "load_model", lambda path, compile, safe_mode: asked.append(safe_mode))
    (tmp_path / "m.keras").write_bytes(b"stub")
    load_model(tmp_path / "m.keras")
    load_model(tmp_path / "m.keras", trusted=True)
    assert asked == [True, False]  # safe_mode refuses Lambda layers (Python bytecode in the file)
