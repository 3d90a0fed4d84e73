"""``cdig explain`` reaches every domain with its parameters (``--domain NAME:KEY=VALUE,...``,
``--domain-file``), the integration rule (``--method``, ``--rtol``, ``--max-steps``) and structured
outputs (``--output``), checked against closed forms of a linear model and independent references."""

import json
import warnings

import numpy as np
import pytest

import cdig
from cdig import cli
from cdig.cli import DOMAIN_EXAMPLES, build_parser, main, parse_domain

torch = pytest.importorskip("torch")

C, T, N, K, FS = 2, 64, 3, 2, 64.0
FAST = ["--steps", "4", "--no-progress", "--no-figures", "--quiet"]


class DictOut(torch.nn.Module):
    """A linear model returning a dict, as Hugging Face-style models do: {"loss": (N,), "logits": (N, K)}."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = x.flatten(1) @ self.w.T
        return {"loss": logits.sum(1), "logits": logits}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A linear TorchScript model f(x) = W flatten(x) (no bias: f(0) = 0), its weights, data and a dict-output twin."""
    d = tmp_path_factory.mktemp("domains")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((K, C * T)).astype(np.float32)
    x = rng.standard_normal((N, C, T)).astype(np.float32)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, K, bias=False))
    with torch.no_grad():
        linear[1].weight.copy_(torch.from_numpy(w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(linear), str(d / "m.pt"))
        torch.jit.save(torch.jit.script(DictOut(torch.from_numpy(w))), str(d / "dict.pt"))
    np.save(d / "x.npy", x)
    return d, w.astype(np.float64), x.astype(np.float64)


def _run(inputs, out, *args, model="m.pt"):
    d = inputs[0]
    assert main(["explain", str(d / model), str(d / "x.npy"), "--out", str(out), *FAST, *map(str, args)]) == 0
    return json.loads((out / "summary.json").read_text())


def _load(out, name):
    return cdig.Attribution.load(out / f"{name}.npz")


def _f(w, x, k):
    """The linear model's output ``k`` (one index, or one per sample): the independent reference of completeness."""
    out = x.reshape(len(x), -1) @ w.T
    return out[np.arange(len(x)), np.broadcast_to(np.asarray(k), (len(x),))]


# --- the syntax ------------------------------------------------------------------------------
def test_every_parameter_of_every_domain_is_reachable():
    """Derived from the registry: each domain's constructor parameters of a plain type parse back to
    their defaults (no list of domains or parameters is kept by hand)."""
    table = cli._domain_table()
    assert set(cdig.domains.registered()) <= set(table)
    checked = 0
    for name, cls in table.items():
        params = cli._parameters(cls).values()
        if any(p.default is p.empty and p.name != "fs" for p in params):
            continue  # stft, trend, basis: tested with their required values below
        for p in params:
            if isinstance(p.default, (bool, int, float, str)) and not isinstance(p.default, np.generic):
                spec = parse_domain(f"{name}:{p.name}={str(p.default).lower() if isinstance(p.default, bool) else p.default}")
                assert spec.params[p.name] == p.default and type(spec.params[p.name]) is type(p.default), (name, p.name)
                checked += 1
    assert checked >= 10
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["explain"].format_help().split())  # type: ignore[union-attr]
    for name, cls in table.items():
        assert f" {name} " in help_text, name
        for p in cli._parameters(cls):
            assert p in help_text or p in ("fs", "bands"), (name, p)


@pytest.mark.parametrize("text", DOMAIN_EXAMPLES)
def test_the_help_examples_parse(text):
    assert parse_domain(text).domain == text.split(":")[0]


def test_values_are_typed_by_the_constructor_hints():
    assert parse_domain("STFT:n_fft=64,hop=16,center=false").params == {"n_fft": 64, "hop_length": 16, "center": False}
    assert parse_domain("wavelet:wavelet=db4,level=none").params == {"wavelet": "db4", "level": None}
    assert parse_domain("cepstrum:eps=1").params == {"eps": 1.0}  # an int where a float goes
    assert parse_domain("bands:alpha=8-13,beta=13:30,low=0.5..4,remainder=rest").params == {
        "bands": {"alpha": (8.0, 13.0), "beta": (13.0, 30.0), "low": (0.5, 4.0)},
        "remainder": "rest",
    }
    assert parse_domain("stft:n_fft=8,window=[1,2,3,4,4,3,2,1]").params["window"] == (1, 2, 3, 4, 4, 3, 2, 1)
    assert parse_domain("trend:period=12,name=season").params == {"period": 12, "name": "season"}


@pytest.mark.parametrize(
    "text, words",
    [
        ("spectrum", ["unknown domain 'spectrum'", "accepted: time, fourier"]),
        ("stft:nfft=64", ["stft: unknown parameter 'nfft'", "n_fft (an integer, required)", "hop_length"]),
        ("stft:n_fft=abc", ["stft: n_fft=abc is not an integer", "parameters of stft"]),
        ("stft:n_fft=6.5", ["n_fft=6.5 is not an integer"]),
        ("stft", ["stft needs n_fft", "--domain stft:n_fft="]),
        ("trend:period=12,period=6", ["period is given twice"]),
        ("stft:n_fft", ["'n_fft' is not KEY=VALUE"]),
        ("wavelet:level=true", ["level=true is not an integer or none"]),
        ("bands:alpha=8-x", ["bands: unknown parameter 'alpha'", "NAME=LOW-HIGH entries of bands"]),
    ],
)
def test_bad_domains_are_one_line_before_anything_is_loaded(inputs, tmp_path, capsys, monkeypatch, text, words):
    import cdig.io

    monkeypatch.setattr(cdig.io, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit) as e:
        main(["explain", "m.pt", "x.npy", "--out", str(tmp_path / "o"), "--domain", text])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("cdig explain: error: argument --domain"), err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "o").exists()


def test_domain_values_the_constructor_refuses(inputs, tmp_path, capsys, monkeypatch):
    import cdig.io

    monkeypatch.setattr(cdig.io, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    d = inputs[0]
    for args, words in [
        (["--domain", "stft:n_fft=0"], ["--domain stft:n_fft=0: n_fft=0", "parameters of stft"]),
        (["--domain", "trend:period=12,edges=mirror"], ["--domain trend:period=12,edges=mirror", "edges"]),
        (
            ["--domain", "bands:alpha=8-13,beta=30-40", "--fs", "50"],
            ["beta [30, 40) Hz", "Nyquist frequency 25 Hz", "NAME=LOW-HIGH"],
        ),
        (["--domain", "bands"], ["the bands domain needs the sampling rate: give --fs HZ"]),
        (["--domain", "stft:n_fft=8", "--domain", "stft:n_fft=16"], ["both make a result named 'stft'", "name=stft2"]),
    ]:
        assert main(["explain", str(d / "m.pt"), str(d / "x.npy"), "--out", str(tmp_path / "o"), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("cdig explain: error: "), err
        for w in words:
            assert w in err, (w, err)
    assert not (tmp_path / "o").exists()


# --- the maps: closed forms of the linear model ------------------------------------------------
def test_domains_with_parameters_end_to_end(inputs, tmp_path):
    d, w, x = inputs
    out = tmp_path / "o"
    s = _run(
        inputs,
        out,
        "--fs", FS, "--target", 1,
        "--domain", "time",
        "--domain", "stft:n_fft=16,hop=4",
        "--domain", "bands:alpha=8-13,beta=13-30",
        "--domain", "trend:period=8",
        "--domain", "wavelet:wavelet=db2,level=2",
        "--domain", "stft:n_fft=8,hop=4,name=stft8",
    )  # fmt: skip
    assert s["settings"]["domains"] == ["time", "stft", "bands", "trend", "wavelet", "stft8"]
    assert s["settings"]["domain_options"]["stft8"] == "stft:n_fft=8,hop=4,name=stft8"
    f1 = _f(w, x, 1)
    time_map = _load(out, "time")
    np.testing.assert_allclose(time_map.values, w[1].reshape(C, T) * x, rtol=1e-4, atol=1e-5)  # IG of a linear model
    for name in s["settings"]["domains"]:
        a = _load(out, name)
        total = a.values.reshape(N, -1).sum(1) if name != "bands" else a.values.sum(axis=(1, 2))
        np.testing.assert_allclose(total, f1, rtol=1e-4, atol=1e-4, err_msg=name)  # completeness
    stft = _load(out, "stft")
    assert stft.settings["domain"]["n_fft"] == 16 and stft.settings["domain"]["hop_length"] == 4
    ref = torch.stft(torch.zeros(T), 16, hop_length=4, center=True, window=torch.hann_window(16), return_complex=True)
    assert stft.values.shape == (N, C, *ref.shape)  # (frequencies, frames) as torch frames it
    assert _load(out, "stft8").values.shape[-2:] == (5, 1 + T // 4)
    bands = _load(out, "bands")
    assert list(bands.coords["band"]) == ["alpha", "beta", "other"]
    freqs = np.fft.rfftfreq(T, 1 / FS)
    per_bin = bands.extras["per_bin"]
    for b, (lo, hi) in enumerate([(8, 13), (13, 30)]):  # each band: the Fourier bins in [lo, hi), counted here
        np.testing.assert_allclose(bands.values[..., b], per_bin[..., (freqs >= lo) & (freqs < hi)].sum(-1), rtol=1e-6, atol=1e-9)
    assert _load(out, "trend").settings["domain"]["period"] == 8
    wav = _load(out, "wavelet")
    assert wav.settings["domain"]["wavelet"] == "db2" and wav.settings["domain"]["level"] == 2
    assert wav.values.reshape(N, C, -1).shape[-1] == T  # periodization: T/4 + T/4 + T/2 coefficients


def test_default_bands_at_a_low_rate_leave_out_what_lies_above_nyquist(inputs, tmp_path, capsys):
    d, w, x = inputs
    out = tmp_path / "o"
    assert (
        main(["explain", str(d / "m.pt"), str(d / "x.npy"), "--out", str(out), "--domain", "bands", "--fs", "50", *FAST[:-1]])
        == 0
    )
    printed = capsys.readouterr().out
    assert "gamma [30, 100) Hz" in printed and "Nyquist frequency 25 Hz" in printed and "bands:NAME=LOW-HIGH" in printed
    bands = _load(out, "bands")
    assert list(bands.coords["band"]) == ["delta", "theta", "alpha", "beta", "other"]
    assert bands.coords["band_high"][3] == 25.0  # beta [13, 30) clipped at Nyquist by the domain
    targets = json.loads((out / "summary.json").read_text())["target"]["per_sample"]
    np.testing.assert_allclose(bands.values.sum(axis=(1, 2)), _f(w, x, targets), rtol=1e-4, atol=1e-5)


def test_pca_fitted_on_the_data_matches_sklearn(inputs, tmp_path):
    """--domain pca: the attribution of component k is, for a linear model, sum_t z_k(t) B_k.W_t with
    B sklearn's PCA of the pooled time steps (signs as sklearn fixes them)."""
    sklearn = pytest.importorskip("sklearn.decomposition")
    d, w, x = inputs
    out = tmp_path / "o"
    _run(inputs, out, "--domain", "pca", "--target", 0)
    pca = sklearn.PCA(n_components=C, svd_solver="full").fit(x.transpose(0, 2, 1).reshape(-1, C))
    b, mean = pca.components_, pca.mean_
    wt = w[0].reshape(C, T)  # the gradient, the same at every point of the path
    z = np.einsum("kc,nct->nkt", b, x - mean[:, None])
    z0 = np.einsum("kc,ct->kt", b, -mean[:, None])  # the zero signal's coefficients
    expected = np.einsum("nkt,kc,ct->nk", z - z0, b, wt)
    a = _load(out, "pca")
    assert a.values.shape == (N, C)
    np.testing.assert_allclose(a.values, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.values.sum(1), _f(w, x, 0), rtol=1e-4, atol=1e-5)


def test_domain_file_json_and_toml_say_the_same_as_domain(inputs, tmp_path, capsys):
    (tmp_path / "doms.json").write_text(
        json.dumps({"stft": {"n_fft": 16, "hop_length": 4}, "rhythms": {"domain": "bands", "alpha": [8, 13]}})
    )
    (tmp_path / "doms.toml").write_text('[stft]\nn_fft = 16\nhop = 4\n\n[rhythms]\ndomain = "bands"\nalpha = [8, 13]\n')
    by_flag = _run(
        inputs, tmp_path / "a", "--fs", FS, "--domain", "stft:n_fft=16,hop=4", "--domain", "bands:alpha=8-13,name=rhythms"
    )
    for f in ("doms.json", "doms.toml"):
        by_file = _run(inputs, tmp_path / f"out-{f}", "--fs", FS, "--domain-file", tmp_path / f)
        assert by_file["settings"]["domains"] == by_flag["settings"]["domains"] == ["stft", "rhythms"]
        for name in ("stft", "rhythms"):
            assert _load(tmp_path / f"out-{f}", name).settings["domain"] == _load(tmp_path / "a", name).settings["domain"]
    (tmp_path / "bad.toml").write_text("[stft]\nn_fft = 'sixteen'\n")
    (tmp_path / "bad.json").write_text('{"stft": {')
    (tmp_path / "bad.yaml").write_text("stft: {}")
    for f, words in [
        ("bad.toml", "n_fft='sixteen' is not an integer"),
        ("bad.json", "not readable JSON"),
        ("bad.yaml", "give a .json or .toml file"),
        ("none.json", "cannot read it"),
    ]:
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(["explain", "m", "x", "--domain-file", str(tmp_path / f)])
        err = capsys.readouterr().err
        assert e.value.code == 2 and words in err and str(tmp_path / f) in err and err.count("\n") == 1, err


# --- the integration rule and structured outputs -------------------------------------------------
def test_method_rtol_and_max_steps(inputs, tmp_path, capsys):
    d, w, x = inputs
    s = _run(inputs, tmp_path / "auto", "--domain", "time", "--steps", "auto", "--rtol", "1e-4", "--max-steps", 60)
    assert s["settings"]["rtol"] == 1e-4 and s["settings"]["max_steps"] == 60
    assert s["settings"]["method"] == "gausskronrod_adaptive"
    s = _run(inputs, tmp_path / "left", "--domain", "time", "--method", "riemann_left")
    assert s["settings"]["method"] == "riemann_left" and s["settings"]["rtol"] is None
    a = _load(tmp_path / "left", "time")
    assert a.settings["method"] == "riemann_left"
    np.testing.assert_allclose(a.values.reshape(N, -1).sum(1), _f(w, x, s["target"]["per_sample"]), rtol=1e-4)
    for args, words in [
        (["--steps", "20000"], "--steps=20000 is too large for method='gausslegendre'"),
        (["--steps", "1", "--method", "riemann_trapezoid"], "--steps 1 --method riemann_trapezoid"),
    ]:
        assert main(["explain", str(d / "m.pt"), str(d / "x.npy"), "--out", str(tmp_path / "bad"), *args]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    for args in (["--rtol", "0"], ["--rtol", "1.5"], ["--max-steps", "14"], ["--method", "simpson"]):
        with pytest.raises(SystemExit) as e:
            main(["explain", "m.pt", "x.npy", *args])
        assert e.value.code == 2
    assert not (tmp_path / "bad").exists()


def test_output_selects_a_tensor_of_a_structured_output(inputs, tmp_path, capsys):
    d, w, x = inputs
    for sel in (["--output", "logits"], ["--output", "1"], ["--output-key", "logits"]):
        out = tmp_path / "-".join(sel)
        s = _run(inputs, out, "--domain", "time", "--target", 1, *sel, model="dict.pt")
        assert s["target"]["output_shape"] == [K]
        np.testing.assert_allclose(_load(out, "time").values, w[1].reshape(C, T) * x, rtol=1e-4, atol=1e-5)
    s = _run(inputs, tmp_path / "first", "--domain", "time", model="dict.pt")  # default: the first tensor, "loss"
    assert s["target"]["output_shape"] == []
    np.testing.assert_allclose(_load(tmp_path / "first", "time").values, (w[0] + w[1]).reshape(C, T) * x, rtol=1e-4, atol=1e-5)
    for sel, words in [
        (["--output", "logit"], "--output 'logit' is not in the model's output dict(loss: shape (1,), logits: shape (1, 2))"),
        (["--output", "5"], "--output 5 does not index the model's output"),
        (["--output-key", "1"], "--output '1' is not in the model's output"),
    ]:
        assert main(["explain", str(d / "dict.pt"), str(d / "x.npy"), "--out", str(tmp_path / "bad"), *FAST, *sel]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):
        main(["explain", "m.pt", "x.npy", "--output", "a", "--output-key", "b"])


def test_the_documented_commands_parse():
    """Every --domain of the command lines in README.md and docs/quickstart.md parses."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = 0
    for page in (root / "README.md", root / "docs" / "quickstart.md"):
        for line in re.findall(r"^cdig explain .*$", page.read_text(), flags=re.M) + re.findall(
            r"`(cdig explain [^`]*)`", page.read_text()
        ):
            words = shlex.split(line.split("#")[0])
            for flag, value in zip(words, words[1:]):
                if flag == "--domain" and not value.startswith("NAME"):  # NAME:KEY=VALUE: the syntax itself
                    parse_domain(value)
                    found += 1
    assert found >= 8
