"""Models as people have them: each library's model explained once in the form docs/models.md shows.

Prints two markdown tables:

1. library / model x glue lines x runs x completeness x time. *Glue lines*: lines of user code beyond
   building the model and the data and the ``cdig.explain`` call itself (0 for a module passed as it is,
   1 for a ``lambda`` around it or a transposition of the data). *Runs*: ``yes``, or ``no`` with the
   error's text. *Completeness*: ``max |delta| / |f(x) - f(x0)|`` over the samples and the domains
   explained (``n_steps="auto"``, ``rtol=1e-3``; float32 models carry round-off besides). *Time*: the
   ``cdig.explain`` call alone, wall clock, once (the first call of a framework includes its compilation),
   on the machine printed below the tables.
2. Each refused form x the exact error text a user sees.

braindecode and tsai do not install beside torch 2.13 CPU (see docs/models.md); their rows use the
layer-for-layer rebuilds of ``tests/models/_builders.py`` (loaded from there). The other rows use the
real packages (transformers, skorch, aeon, flax), built from configs with tiny sizes (no download); a
missing package makes its rows read ``no (... not installed)``.

PyTorch cases run first, TensorFlow (aeon) and JAX (flax) after; the refused forms run with all three
imported, as in a session that uses them side by side.

    python benchmarks/models_table.py                      # about a minute on 2 CPU cores
    python benchmarks/models_table.py --json models.json   # also write the rows as JSON
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe_machine

ROOT = Path(__file__).resolve().parents[1]
AUTO = dict(n_steps="auto")


def _builders() -> Any:
    """tests/models/_builders.py: the braindecode and tsai rebuilds (torch and numpy only)."""
    name = "_cdig_tests_model_builders"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "models" / "_builders.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class Case:
    library: str
    model: str
    glue: int
    form: str
    runs: str = ""
    completeness: float | None = None
    seconds: float | None = None


# --------------------------------------------------------------------------------------------
# the cases: each builds the model and data (not timed) and returns the explain call (timed)
# --------------------------------------------------------------------------------------------


def _patchtst_config() -> Any:
    return _builders().patchtst_config()


def hf_classifier() -> Callable[[], Any]:
    import torch
    from transformers import PatchTSTForClassification

    import cdig

    model = PatchTSTForClassification(_patchtst_config())  # training mode, as built: explained in eval mode
    x = torch.randn(4, 32, 3)
    return lambda: cdig.explain(model, x, ("time", "fourier"), time_axis=1, target=1, **AUTO)


def hf_forecaster() -> Callable[[], Any]:
    import torch
    from transformers import PatchTSTForPrediction

    import cdig

    model = PatchTSTForPrediction(_patchtst_config()).eval()
    x = torch.randn(4, 32, 3)
    return lambda: cdig.explain(model, x, ("time", "fourier"), time_axis=1, target=(3, 1), **AUTO)


def hf_time_series_transformer() -> Callable[[], Any]:
    import torch
    from transformers import TimeSeriesTransformerForPrediction

    import cdig

    cfg = _builders().time_series_transformer_config()
    model = TimeSeriesTransformerForPrediction(cfg).eval()
    n, past = 2, 18
    steps = torch.arange(past + 4, dtype=torch.float32)
    series = 2.0 + torch.sin(2 * torch.pi * steps / 6) + 0.3 * torch.randn(n, past + 4)
    x = series[:, :past]
    kwargs = {
        "past_time_features": (steps[:past] / past).expand(n, past)[..., None],
        "past_observed_mask": torch.ones(n, past),
        "future_time_features": (steps[past:] / past).expand(n, 4)[..., None],
        "future_values": series[:, past:],
    }
    return lambda: cdig.explain(
        model,
        x,
        ("time", "fourier"),
        target=0,
        baselines=x.mean(1, keepdim=True),
        additional_forward_args=kwargs,
        output=lambda out: out.params[1],
        **AUTO,
    )


def _epochs() -> tuple[Any, Any]:
    import mne

    mne.set_log_level("ERROR")
    r = np.random.default_rng(0)
    sfreq, n_times = 128.0, 128
    t = np.arange(n_times) / sfreq
    data = 1e-5 * (np.sin(2 * np.pi * 10 * t) * r.normal(size=(6, 4, 1)) + r.normal(size=(6, 4, n_times)))
    epochs = mne.EpochsArray(data, mne.create_info(["C3", "Cz", "C4", "Pz"], sfreq, "eeg"))
    ica = mne.preprocessing.ICA(n_components=4, random_state=0).fit(epochs)
    return epochs, ica


def eegnet_mne() -> Callable[[], Any]:
    import cdig

    B = _builders()
    epochs, ica = _epochs()
    model = B.EEGNet(4, 2, 128, F1=4, kernel_length=32).eval()
    x = epochs.get_data()  # float64, volts
    return lambda: cdig.explain(lambda v: model(1e6 * v), x, ("time", cdig.ICA(ica)), target=1, fs=epochs.info["sfreq"], **AUTO)


def shallow_mne() -> Callable[[], Any]:
    import cdig

    B = _builders()
    epochs, _ = _epochs()
    model = B.ShallowFBCSPNet(4, 2, 128, n_filters_time=8, filter_time_length=13, n_filters_spat=8)
    x = epochs.get_data(units="uV")
    B.warm_up(model, x)  # training mode, with BatchNorm statistics
    return lambda: cdig.explain(model, x, ("time", "fourier"), target=1, fs=epochs.info["sfreq"], **AUTO)


def skorch_eegnet() -> Callable[[], Any]:
    import torch
    from skorch import NeuralNetClassifier

    import cdig

    B = _builders()
    epochs, _ = _epochs()
    x = epochs.get_data(units="uV").astype("float32")
    net = NeuralNetClassifier(
        B.EEGNet(4, 2, 128, F1=4, kernel_length=32),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=1,
        batch_size=3,
        train_split=None,
        verbose=0,
    ).fit(x, np.array([0, 1] * 3))
    return lambda: cdig.explain(net, x, ("time", "fourier"), target=1, fs=epochs.info["sfreq"], **AUTO)


def tst_plus() -> Callable[[], Any]:
    import torch

    import cdig

    B = _builders()
    model = B.TSTPlus(3, 2, 24, n_layers=2, d_model=16, n_heads=2, d_ff=32, dropout=0.1)
    x = torch.randn(4, 3, 24)
    B.warm_up(model, x)
    return lambda: cdig.explain(model, x, ("time", "fourier"), target=1, **AUTO)


def inception_time() -> Callable[[], Any]:
    import torch

    import cdig

    B = _builders()
    model = B.InceptionTime(3, 2, 24, nf=4, depth=3, ks=8)
    x = torch.randn(4, 3, 24)
    B.warm_up(model, x)
    return lambda: cdig.explain(model, x, ("time", "fourier"), target=1, **AUTO)


def _aeon_data() -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(0)
    x = r.normal(size=(16, 2, 32)).astype("float32")
    y = np.arange(16) % 2
    x[:, 0] += np.sin(2 * np.pi * (2 + 2 * y)[:, None] * np.arange(32) / 32)
    return x, y


def aeon_case(name: str, **kwargs: Any) -> Callable[[], Callable[[], Any]]:
    def build() -> Callable[[], Any]:
        import aeon.classification.deep_learning as deep

        import cdig

        x, y = _aeon_data()
        est = getattr(deep, name)(n_epochs=2, batch_size=8, verbose=False, random_state=0, **kwargs).fit(x, y)
        return lambda: cdig.explain(est, x[:4].transpose(0, 2, 1), ("time", "fourier"), target=1, **AUTO)

    return build


def _flax_nets() -> tuple[Any, Any]:
    import jax.numpy as jnp
    from flax import linen, nnx

    class Net(nnx.Module):
        def __init__(self, rngs: Any) -> None:
            self.conv = nnx.Conv(2, 4, kernel_size=(5,), rngs=rngs)
            self.bn = nnx.BatchNorm(4, rngs=rngs)
            self.drop = nnx.Dropout(0.2, rngs=rngs)
            self.out = nnx.Linear(4 * 16, 2, rngs=rngs)

        def __call__(self, x: Any) -> Any:
            h = self.drop(jnp.tanh(self.bn(self.conv(x))))
            return self.out(h.reshape(h.shape[0], -1))

    class LinenNet(linen.Module):
        @linen.compact
        def __call__(self, x: Any, train: bool = False) -> Any:
            h = linen.BatchNorm(use_running_average=not train)(linen.Conv(4, (5,))(x))
            h = linen.Dropout(0.2, deterministic=not train)(jnp.tanh(h))
            return linen.Dense(2)(h.reshape(h.shape[0], -1))

    return Net, LinenNet


def _flax_x() -> Any:
    import jax.numpy as jnp

    return jnp.asarray(np.random.default_rng(1).normal(size=(3, 16, 2)), jnp.float32)


def flax_nnx() -> Callable[[], Any]:
    from flax import nnx

    import cdig

    Net, _ = _flax_nets()
    net = Net(nnx.Rngs(0))
    net.eval()
    x = _flax_x()
    return lambda: cdig.explain(net, x, ("time", "fourier"), target=1, **AUTO)


def flax_linen() -> Callable[[], Any]:
    import jax

    import cdig

    _, LinenNet = _flax_nets()
    module, x = LinenNet(), _flax_x()
    variables = module.init(jax.random.key(0), x)
    return lambda: cdig.explain(lambda v: module.apply(variables, v, train=False), x, ("time", "fourier"), target=1, **AUTO)


CASES: list[tuple[Case, Callable[[], Callable[[], Any]]]] = [
    (Case("Hugging Face", "PatchTSTForClassification", 0, "module in training mode; time_axis=1"), hf_classifier),
    (Case("Hugging Face", "PatchTSTForPrediction", 0, "target=(step, channel)"), hf_forecaster),
    (
        Case("Hugging Face", "TimeSeriesTransformerForPrediction", 0, "keyword args dict, output=callable"),
        hf_time_series_transformer,
    ),
    (Case("braindecode-style + MNE", "EEGNet (rebuilt), time + MNE ICA", 1, "lambda x: model(1e6 * x), float64"), eegnet_mne),
    (Case("braindecode-style + MNE", "ShallowFBCSPNet (rebuilt)", 0, "module in training mode, uV"), shallow_mne),
    (Case("skorch", "NeuralNetClassifier(EEGNet)", 0, "the fitted net"), skorch_eegnet),
    (Case("tsai-style", "TSTPlus (rebuilt)", 0, "module in training mode, x[mask] = 0"), tst_plus),
    (Case("tsai-style", "InceptionTime (rebuilt)", 0, "module in training mode"), inception_time),
    (
        Case("aeon", "FCNClassifier", 1, "the estimator; x.transpose(0, 2, 1)"),
        aeon_case("FCNClassifier", n_layers=2, n_filters=[8, 8], kernel_size=[5, 3]),
    ),
    (
        Case("aeon", "ResNetClassifier", 1, "the estimator; x.transpose(0, 2, 1)"),
        aeon_case("ResNetClassifier", n_residual_blocks=1, n_conv_per_residual_block=2, n_filters=[4], kernel_size=[3, 3]),
    ),
    (Case("flax", "nnx module", 0, "the module"), flax_nnx),
    (Case("flax", "linen module", 1, "lambda v: module.apply(variables, v, train=False)"), flax_linen),
]


# --------------------------------------------------------------------------------------------
# refused forms
# --------------------------------------------------------------------------------------------


def refused_forms() -> list[tuple[str, Callable[[], Any]]]:
    """(form, the call) for each form cdig refuses; each builds what it needs when called."""

    def training_lambda() -> Any:
        import torch
        from transformers import PatchTSTForClassification

        import cdig

        model = PatchTSTForClassification(_patchtst_config())
        return cdig.explain(
            lambda v: model(past_values=v).prediction_logits, torch.randn(2, 32, 3), "time", time_axis=1, target=1
        )

    def scalar_first_field() -> Any:
        import torch
        from transformers import PatchTSTForPrediction

        import cdig

        model = PatchTSTForPrediction(_patchtst_config()).eval()
        future = {"future_values": torch.randn(2, 4, 3)}
        return cdig.explain(model, torch.randn(2, 32, 3), "time", time_axis=1, target=(0, 0), additional_forward_args=future)

    def tuple_output() -> Any:
        import torch
        from transformers import PatchTSTForClassification

        import cdig

        model = PatchTSTForClassification(_patchtst_config()).eval()
        return cdig.explain(model, torch.randn(2, 32, 3), "time", time_axis=1, target=1, output=lambda out: tuple(out.values()))

    def unfitted_skorch() -> Any:
        from skorch import NeuralNetClassifier

        import cdig

        net = NeuralNetClassifier(_builders().EEGNet(4, 2, 128, F1=4, kernel_length=32))
        return cdig.explain(net, np.zeros((2, 4, 128), "float32"), "time")

    def aeon_ensemble() -> Any:
        from aeon.classification.deep_learning import InceptionTimeClassifier

        import cdig

        return cdig.explain(InceptionTimeClassifier(n_classifiers=2), np.zeros((2, 32, 2), "float32"), "time")

    def aeon_unfitted() -> Any:
        from aeon.classification.deep_learning import FCNClassifier

        import cdig

        return cdig.explain(FCNClassifier(), np.zeros((2, 32, 2), "float32"), "time")

    def linen_unbound() -> Any:
        import cdig

        _, LinenNet = _flax_nets()
        return cdig.explain(LinenNet(), _flax_x(), "time", target=1)

    def nnx_training_lambda() -> Any:
        from flax import nnx

        import cdig

        Net, _ = _flax_nets()
        net = Net(nnx.Rngs(0))  # training mode
        return cdig.explain(lambda v: net(v), _flax_x(), "time", target=1)

    def numpy_function_no_model() -> Any:
        import cdig

        return cdig.explain(lambda v: (v**2).sum((1, 2)), np.ones((2, 4, 128)), "time")

    return [
        ("PyTorch module in training mode (BatchNorm, dropout) behind a function", training_lambda),
        ("ModelOutput whose first field is a scalar loss, output=None", scalar_first_field),
        ("output= selecting a tuple, not a tensor", tuple_output),
        ("skorch net not initialized", unfitted_skorch),
        ("aeon ensemble (InceptionTimeClassifier)", aeon_ensemble),
        ("aeon deep learner not fitted", aeon_unfitted),
        ("unbound flax.linen module", linen_unbound),
        ("flax.nnx module in training mode behind a function", nnx_training_lambda),
        ("numpy input, a function reaching no model, torch + TensorFlow + JAX imported", numpy_function_no_model),
    ]


# --------------------------------------------------------------------------------------------
# running and printing
# --------------------------------------------------------------------------------------------


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: " + " ".join(str(e).split())


def run_case(case: Case, build: Callable[[], Callable[[], Any]]) -> Case:
    try:
        call = build()
    except ImportError as e:
        case.runs = f"no ({e.name or e} not installed)"
        return case
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the training-mode notice is expected where a module is passed as it is
            t0 = time.perf_counter()
            maps = call()
            case.seconds = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - the table reports what the user would see
        case.runs = "no: " + _one_line(e)
        return case
    case.runs = "yes"
    case.completeness = float(max(np.max(a.relative_delta) for a in maps.values()))
    return case


def run_refusal(call: Callable[[], Any]) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except ImportError as e:
        return f"(skipped: {e.name or e} not installed)"
    except Exception as e:  # noqa: BLE001 - the text is the point
        return _one_line(e)
    return "(not refused: it runs)"


def _md_row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", default=None, help="write the rows and the machine to this JSON file")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    a = p.parse_args(argv)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cases = [run_case(case, build) for case, build in CASES]
    refusals = [(form, run_refusal(call)) for form, call in refused_forms()]

    print("| library | model | glue lines | form | runs | completeness | time |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        comp = "" if c.completeness is None else f"{c.completeness:.1e}"
        secs = "" if c.seconds is None else f"{c.seconds:.2f} s"
        print(_md_row([c.library, c.model, c.glue, c.form, c.runs, comp, secs]))
    print()
    print("| refused form | the error a user sees |")
    print("|---|---|")
    for form, text in refusals:
        print(_md_row([form, text]))
    machine = describe_machine("cpu")
    print(
        f"\n{machine['cpu']}, {machine['usable_cores']} usable cores, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), load average {machine['load_average']}; completeness is "
        "max |delta| / |f(x) - f(x0)|, n_steps='auto', rtol=1e-3; time: one call, compilation included"
    )
    if a.json:
        payload = {"machine": machine, "cases": [asdict(c) for c in cases], "refused": dict(refusals)}
        Path(a.json).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
