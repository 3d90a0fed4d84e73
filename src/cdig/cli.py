"""The ``cdig`` command line (an edge: it uses the public API, and the core never imports it).

Each subcommand is one ``_add_<name>`` function that declares its arguments and the function that
runs it; :data:`COMMANDS` lists them, so ``explain`` or ``report`` are one function each. Heavy
imports (torch, scikit-learn, matplotlib) happen inside the runners, so ``cdig --help`` is instant
and works without them.

Examples
--------
>>> parser = build_parser()
>>> args = parser.parse_args(["demo", "--out", "here", "--epochs", "3", "--steps", "auto"])
>>> args.command, args.out, args.epochs, args.steps
('demo', 'here', 3, 'auto')
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import __version__

__all__ = ["main", "build_parser", "COMMANDS"]


# --- argument types: argparse turns their ArgumentTypeError into "cdig demo: error: ..." and exit 2
def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is out of range; expected an integer {bounds}")
        return value

    parse.__name__ = "integer"
    return parse


def _int_or_word(words: tuple[str, ...], minimum: int, what: str) -> Callable[[str], int | str]:
    """An argument that is one of ``words`` or an integer ``>= minimum`` (e.g. ``--steps auto``)."""

    def parse(text: str) -> int | str:
        if text.strip().lower() in words:
            return text.strip().lower()
        try:
            value = int(text)
        except ValueError:
            choices = " / ".join(repr(w) for w in words)
            raise argparse.ArgumentTypeError(f"{text!r} is neither {what} nor {choices}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be {what} (>= {minimum})")
        return value

    parse.__name__ = what
    return parse


_steps = _int_or_word(("auto",), 1, "a positive integer")


# --- subcommands --------------------------------------------------------------------------------
def _add_demo(sub: Any) -> None:
    from .demo import DEFAULT_EPOCHS, DEFAULT_STEPS
    from .demo_real import REAL_EPOCHS

    p = sub.add_parser(
        "demo",
        help="train a small CNN on the shipped synthetic data set and explain it in time, Fourier and ICA domains",
        description=(
            "Train a small 1-D CNN (seconds on a CPU) on cdig's shipped synthetic data set, whose class is "
            "decided by an 8-12 Hz oscillation of one independent source; explain held-out samples in the "
            "time, Fourier and ICA domains; check that the explanations recover the planted band and source."
        ),
        epilog=(
            "Writes into --out: time.npz, fourier.npz, ica.npz (cdig.Attribution.load reads them), "
            "explained.npz (the explained samples), summary.json (accuracy, completeness deltas, "
            "planted-truth checks, settings) and time.png, fourier.png, ica.png, fourier_mean.png. "
            "Needs torch, scikit-learn and matplotlib: pip install 'cdig[all]'. "
            "With --real: time.npz, fourier.npz, bands.npz, explained.npz, summary.json (accuracy, deltas, "
            "attribution vs power per band) and time.png, fourier.png, bands.png, band_shares.png."
        ),
    )
    p.add_argument(
        "--real",
        action="store_true",
        help="run the real-data demo instead: a CNN on the ACSF1 appliance power curves (UCR archive, "
        "read from sktime's installed files), explained in time, Fourier and named frequency "
        "bands; needs pip install 'cdig[examples]'",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=_DefaultOut("cdig-demo"),
        help="folder for the results, created if needed (default: cdig-demo, or cdig-demo-real with --real)",
    )
    p.add_argument(
        "--samples",
        metavar="N",
        type=_int_at_least(2, 100),
        default=32,
        help="held-out samples to explain, half of each class (with --real: taken in turn from the 10 "
        "classes), 2-100 (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        metavar="E",
        type=_int_at_least(1),
        default=None,
        help=f"training epochs (default: {DEFAULT_EPOCHS}, or {REAL_EPOCHS} with --real)",
    )
    p.add_argument(
        "--steps",
        metavar="S",
        type=_steps,
        default=DEFAULT_STEPS,
        help="integration points per sample (Gauss-Legendre), or 'auto' for the adaptive rule (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=_int_at_least(0), default=0, help="seed of the data split, the training and the ICA (default: %(default)s)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier cdig run in --out (only the files cdig wrote there)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    p.set_defaults(run=_run_demo)


class _DefaultOut(str):
    """``--out``'s default, told apart from the same name typed by the user (``--real`` changes it)."""


def _prepare_out(out: str, force: bool, clear: bool = False) -> None:
    """Check ``--out`` before any work (:func:`cdig.results.check_out_dir`); with ``force`` and
    ``clear``, the files of the earlier cdig run there are removed now."""
    from .core.errors import CdigError
    from .results import ResultWriter, check_out_dir

    try:
        if check_out_dir(out, overwrite=force) and force and clear:
            ResultWriter(out, overwrite=True)
    except CdigError as e:
        raise CliError(f"--out {_squash(e)}") from None


@contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C back until the block ends, then raise it. A KeyboardInterrupt raised while torch or
    TensorFlow imports or loads a model runs through their C++ (pybind11) and aborts the process
    (SIGABRT, no message) instead of unwinding; the user waits for the load to finish instead."""
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # not ours to change: a thread, or an embedding program's own handler
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _run_demo(args: argparse.Namespace) -> int:
    from .backends import get_backend_by_name
    from .core.errors import CdigError

    with _interrupt_after():  # torch's import, see there; run_demo reports a missing torch itself
        try:
            get_backend_by_name("torch")
        except (ImportError, CdigError):
            pass
    out = ("cdig-demo-real" if args.real else "cdig-demo") if isinstance(args.out, _DefaultOut) else str(args.out)
    _prepare_out(out, args.force, clear=True)  # the demo's writer is made before the training
    if args.real:
        from .demo_real import REAL_EPOCHS, run_real_demo

        run_real_demo(
            out,
            n_explain=args.samples,
            epochs=args.epochs or REAL_EPOCHS,
            n_steps=args.steps,
            seed=args.seed,
            progress=args.progress,
            verbose=True,
        )
        return 0
    from .demo import DEFAULT_EPOCHS, run_demo

    run_demo(
        out,
        n_explain=args.samples,
        epochs=args.epochs or DEFAULT_EPOCHS,
        n_steps=args.steps,
        seed=args.seed,
        progress=args.progress,
        verbose=True,
    )
    return 0


# --- explain --------------------------------------------------------------------------------------
class CliError(Exception):
    """A problem with the user's files or options: one line, ``cdig COMMAND: error: ...``, exit status 2."""


def _domain_names() -> list[str]:
    """Domain names ``cdig explain`` accepts (derived from the registered domains): :data:`cdig.DOMAINS`,
    then those made from --fs alone (``needs_fs``, e.g. ``bands``, EEG rhythms)."""
    from .domains import names

    return names(with_fs=True)


def _hz_domains() -> list[str]:
    """The domains of :func:`_domain_names` that need --fs."""
    from .domains import DOMAINS

    return [d for d in _domain_names() if d not in DOMAINS]


#: Domains with a figure in :mod:`cdig.plot`.
_EXPLAIN_DESCRIPTION = """\
Explain a saved model's output on a data file with cross-domain Integrated Gradients, in the time
domain and in other domains (Fourier spectrum, independent components, ...), and write the maps,
a summary and figures into one folder.

The target is, by default, the model's predicted class of each sample (the argmax of its output)
when the output has more than one column, and the output itself when it is one scalar per sample.
Attributions start from the zero signal (--baseline zero) or the mean of the explained samples
(--baseline mean); their completeness error (delta) is reported per domain in summary.json."""

_EXPLAIN_EPILOG = """\
MODEL FORMATS
  .pt, .pth       TorchScript: torch.jit.save(torch.jit.script(model), "model.pt")
  .pt2            torch.export: torch.export.save(torch.export.export(model, (x,),
                  dynamic_shapes=...), "model.pt2"); give it a dynamic batch dimension
  .keras, .h5     Keras: model.save("model.keras")
  DIR/            a TensorFlow SavedModel folder (saved_model.pb): model.export("DIR") in
                  Keras 3, or tf.saved_model.save; its 'serve' endpoint or 'serving_default'

SECURITY: a model file is code: explain only models you trust.
  Loading or running a model may run what its author put in it. cdig refuses, unless you
  give --trust-model: a .pt2 holding pickles (weights, constants or sample inputs that are
  not plain tensors) or compiled code; a SavedModel whose functions touch files, run Python
  or use the network (WriteFile, ReadFile, PyFunc, ...); Keras Lambda layers (Python
  bytecode). TorchScript runs TorchScript only. No check makes an untrusted model safe:
  run those in a sandbox. See docs/security.md.

DATA FORMATS
  .npy            the array as saved: (N, C, T) for PyTorch, (N, T, C) for Keras, or (N, T)
  .npz            one array of the archive: --npz-key NAME (not needed if it holds one)
  .csv            one series per row, comma-separated, no header: (N, T); with --channels C
                  each row holds C consecutive series of equal length: (N, C, T)
  .ts             UCR/UEA (sktime) time-series file, equal-length series without '?';
                  read as (N, C, T), class labels ignored
  CSV and .ts data are given to Keras and SavedModel models channels last, as (N, T, C).

OUTPUT (in --out DIR: a new or empty folder, or one cdig wrote; --force replaces
        the files of an earlier cdig run there, never files cdig did not write)
  DOMAIN.npz      one map per domain (cdig.Attribution.load reads it)
  DOMAIN.nc       the same as NetCDF, when xarray is installed
  DOMAIN.png      a figure of the first explained sample in that domain
  summary.png     every domain of the first explained sample on one page
  summary.json    per-domain max |delta| and relative delta, targets, settings, files
  .cdig-results.json  the marker: the files cdig wrote there

EXAMPLES
  cdig explain model.pt X_test.npy --fs 250 --out results
  cdig explain model.pt2 data.npz --npz-key X --domain fourier --domain ica --target 1
  cdig explain model.keras ECG200_TEST.ts --domain time --domain fourier --steps auto
  cdig explain model.pt signals.csv --channels 3 --samples 10 --baseline mean

Exit status: 0 on success, 2 for bad options, files, a refused model or a full disk (one
line on stderr), 1 when a needed package (torch, keras, scikit-learn, matplotlib) is
missing, 130 when interrupted (Ctrl-C)."""


def _domain_name(text: str) -> str:
    key = text.strip().lower()
    if key not in _domain_names():
        raise argparse.ArgumentTypeError(f"unknown domain {text!r}; accepted: {', '.join(_domain_names())}")
    return key


_target = _int_or_word(("auto", "predicted", "argmax"), 0, "an output index")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a positive finite number")
    return value


def _add_explain(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="explain a saved model (TorchScript, torch.export, Keras) on a data file (.npy, .npz, .csv, .ts)",
        description=_EXPLAIN_DESCRIPTION,
        epilog=_EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="the model file: .pt/.pth, .pt2, .keras, .h5, or a SavedModel folder; a model file is code: "
        "explain only models you trust",
    )
    p.add_argument("data", metavar="DATA", help="the data file: .npy, .npz, .csv or .ts")
    p.add_argument(
        "--domain",
        dest="domains",
        metavar="NAME",
        action="append",
        type=_domain_name,
        help=f"a domain to explain in, repeatable: {', '.join(_domain_names())} (default: time and fourier)",
    )
    p.add_argument(
        "--target",
        type=_target,
        default="auto",
        help="output index to explain for every sample, 'predicted' (the predicted class; "
        "'argmax' is its old, deprecated name) or "
        "'auto': the predicted class for outputs with several columns, the output itself when scalar "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--fs",
        metavar="HZ",
        type=_positive_float,
        default=None,
        help=f"sampling rate in Hz: coordinates in s and Hz (needed by the {', '.join(_hz_domains())} domain)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default="cdig-explain",
        help="folder for the results: new, empty, or written by cdig (default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the results of an earlier cdig run in --out (only the files cdig wrote there)",
    )
    p.add_argument(
        "--trust-model",
        action="store_true",
        help="load a model file even when loading or running it can run code from the file (pickles, "
        "compiled code, file or Python ops, Keras Lambda layers): only for files from someone you trust",
    )
    p.add_argument(
        "--steps",
        metavar="S",
        type=_steps,
        default=50,
        help="Gauss-Legendre points per sample, or 'auto' for the adaptive rule (default: %(default)s)",
    )
    p.add_argument(
        "--baseline",
        choices=("zero", "mean"),
        default="zero",
        help="the reference signal: zeros, or the mean of the explained samples (default: %(default)s)",
    )
    p.add_argument(
        "--time-axis",
        metavar="AXIS",
        type=int,
        default=None,
        help="axis of the data holding time (default: -1 for PyTorch, 1 for Keras; 1 for 2-D data)",
    )
    p.add_argument(
        "--internal-batch-size",
        metavar="B",
        type=_int_at_least(1),
        default=None,
        dest="batch_size",
        help="path points per forward/backward pass, as internal_batch_size in cdig.explain "
        "(default: as many as fit 2**24 values)",
    )
    p.add_argument(
        "--batch-size",
        metavar="B",
        type=_int_at_least(1),
        default=None,
        dest="old_batch_size",
        help="deprecated name of --internal-batch-size (it counts path points, not data rows)",
    )
    p.add_argument(
        "--samples", metavar="N", type=_int_at_least(1), default=None, help="explain only the first N samples (default: all)"
    )
    p.add_argument("--npz-key", metavar="KEY", default=None, help="which array of an .npz data file")
    p.add_argument(
        "--channels",
        metavar="C",
        type=_int_at_least(1),
        default=None,
        help="CSV data: split each row into C series, giving (N, C, T) (default: univariate (N, T))",
    )
    p.add_argument("--no-figures", dest="figures", action="store_false", help="write no figures")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    p.set_defaults(run=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np

    from .core.errors import CdigError
    from .io import load_data, load_model, predict
    from .results import ResultWriter, deltas_summary

    _prepare_out(args.out, args.force)  # before any file is read: a refused --out costs nothing
    t_start = time.perf_counter()
    notes_early = []
    if args.old_batch_size is not None:
        if args.batch_size is not None and args.batch_size != args.old_batch_size:
            raise CliError("--batch-size is the old name of --internal-batch-size: give one of them")
        args.batch_size = args.old_batch_size
        notes_early.append("--batch-size is deprecated: it is --internal-batch-size (path points per pass)")
    if args.target == "argmax":
        args.target = "predicted"
        notes_early.append("--target argmax is deprecated: it is --target predicted")
    domains = list(dict.fromkeys(args.domains or ["time", "fourier"]))
    needs_hz = [d for d in domains if d in _hz_domains()]
    if needs_hz and args.fs is None:
        raise CliError(f"the {', '.join(needs_hz)} domain needs the sampling rate: give --fs HZ")
    try:
        with _interrupt_after():  # the framework is imported here
            x = load_data(args.data, npz_key=args.npz_key, channels=args.channels)
            model, framework = load_model(args.model, trusted=args.trust_model)
    except CdigError as e:
        raise CliError(str(e)) from None
    n_total = len(x)
    if args.samples is not None:
        x = x[: args.samples]
    from_file_layout = Path(args.data).suffix.lower() in (".csv", ".ts") and x.ndim == 3
    if framework in ("keras", "tensorflow") and from_file_layout:
        x = np.ascontiguousarray(x.transpose(0, 2, 1))  # (N, C, T) -> Keras' channels last
    try:
        first = predict(model, framework, x[:1])
    except Exception as e:  # noqa: BLE001 - the model's own error, reported with the data's shape
        raise CliError(
            f"{args.model}: the model refuses data of shape {x.shape} from {args.data} (first sample, shape "
            f"{x[:1].shape}): {_squash(e)}"
        ) from None
    try:
        out = predict(model, framework, x, args.batch_size or 256) if len(x) > 1 else first
    except Exception as e:  # noqa: BLE001
        raise CliError(
            f"{args.model}: the model runs one sample but fails on a batch of {min(len(x), args.batch_size or 256)} "
            f"(a torch.export program needs a dynamic batch dimension): {_squash(e)}"
        ) from None
    target, target_note = _choose_target(args.target, out, args.model)

    import cdig

    doms = [cdig.domains.make(d, fs=args.fs) if d in _hz_domains() else d for d in domains]
    baselines = x.mean(axis=0, keepdims=True) if args.baseline == "mean" else None
    try:
        maps = cdig.explain(  # numpy in: the model's backend converts it
            model,
            x,
            doms,
            target=target,
            baselines=baselines,
            n_steps=args.steps,
            internal_batch_size=args.batch_size,
            time_axis=args.time_axis,
            fs=args.fs,
            backend={"torch": "torch", "tensorflow": "tensorflow"}.get(framework),
            progress=args.progress,
        )
    except CdigError as e:
        raise CliError(f"{args.model} on {args.data} (shape {x.shape}): {_squash(e)}") from None
    t_explain = time.perf_counter() - t_start

    writer: ResultWriter | None = None
    try:
        writer = ResultWriter(args.out, overwrite=args.force)
        writer.notes.extend(notes_early)
        writer.save_maps(maps)
        writer.save_netcdf(maps)
        if args.figures:
            from functools import partial

            import matplotlib  # noqa: F401 - missing: exit status 1 with the install hint, not one note per figure

            from .plot import plot_attribution
            from .plot import summary as plot_summary

            draws = {
                name: partial(plot_attribution, att, 0, title=f"{name} IG of the first explained sample")
                for name, att in maps.items()
            }
            draws["summary"] = partial(plot_summary, maps, 0, title="The first explained sample in every domain")
            writer.save_figures(draws, progress=args.progress, desc="cdig explain: figures", keep_going=True)
        summary = writer.write_summary(
            {
                "model": {"file": str(Path(args.model).resolve()), "framework": framework},
                "data": {"file": str(Path(args.data).resolve()), "n_samples": n_total, "explained_shape": list(x.shape)},
                "target": {
                    "rule": target_note,
                    "per_sample": _jsonable_target(target, len(x)),
                    "output_shape": list(out.shape[1:]),
                },
                "deltas": deltas_summary(maps),
                "settings": {
                    "domains": domains,
                    "n_steps": args.steps,
                    "method": "gausskronrod_adaptive" if args.steps == "auto" else "gausslegendre",
                    "baseline": args.baseline,
                    "fs": args.fs,
                    "time_axis": next(iter(maps.values())).settings.get("time_axis"),
                    "internal_batch_size": args.batch_size,
                    "samples": args.samples,
                    "npz_key": args.npz_key,
                    "channels": args.channels,
                },
                "runtime_s": {"explain": round(t_explain, 3), "total": round(time.perf_counter() - t_start, 3)},
                "notes": writer.notes,
            }
        )
    except CdigError as e:
        raise CliError(f"--out {_squash(e)}") from None
    except OSError as e:  # a full disk, a folder removed or made read-only meanwhile
        written = f"; cdig's files so far are listed in {Path(args.out) / '.cdig-results.json'}" if writer else ""
        raise CliError(
            f"--out {args.out}: cannot write the results ({_squash(e)}){written}; fix that and run again with --force"
        ) from None
    print(
        f"cdig explain: {len(x)} sample(s) of {args.data} in {', '.join(maps)}; max relative |delta| "
        + ", ".join(f"{k} {v['max_relative_delta']:.1e}" for k, v in summary["deltas"].items())
        + (
            "; estimated relative map error "
            + ", ".join(
                f"{k} {v['max_relative_map_error']:.1e}" for k, v in summary["deltas"].items() if "max_relative_map_error" in v
            )
            if args.steps == "auto"
            else ""
        )
    )
    for note in summary["notes"]:
        print(f"  note: {note}")
    print(f"  wrote {len(summary['files'])} files to {summary['out_dir']}: {', '.join(summary['files'])}")
    return 0


def _squash(e: BaseException) -> str:
    from .core.errors import one_line

    return one_line(e)


def _choose_target(choice: int | str, out: Any, model_path: str) -> tuple[Any, str]:
    import numpy as np

    rest = out.shape[1:]
    scalar = len(rest) == 0 or (len(rest) == 1 and rest[0] == 1)
    if isinstance(choice, int):
        if scalar or len(rest) != 1 or choice >= rest[0]:
            raise CliError(f"{model_path}: --target {choice} is out of range for the model's output of shape {tuple(out.shape)}")
        return choice, f"output {choice}"
    if scalar:
        if choice in ("predicted", "argmax"):
            raise CliError(
                f"{model_path}: --target {choice} needs an output with several columns; the model's "
                f"output has shape {tuple(out.shape)} (leave --target at auto for a scalar output)"
            )
        return (None if len(rest) == 0 else 0), "the scalar output"
    if len(rest) == 1:
        return np.argmax(out, axis=1).tolist(), "predicted: the predicted class (argmax) of each sample"
    raise CliError(
        f"{model_path}: the model's output has shape {tuple(out.shape)}; explain it from Python with "
        "cdig.explain(..., target=(index, ...)) (the command line explains scalar or (N, K) outputs)"
    )


def _jsonable_target(target: Any, n: int) -> list[Any]:
    return list(target) if isinstance(target, list) else [target] * n


# --- report ---------------------------------------------------------------------------------------
def _add_report(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML page about the maps in a folder written by 'cdig demo' or 'cdig explain'",
        description=(
            "Read the maps (*.npz Attributions) of a folder written by 'cdig demo' or 'cdig explain' and write "
            "one HTML page with everything inline (figures as PNG, no other files): completeness per domain, "
            "maps averaged per predicted class (when the folder says which), and for the first samples a "
            "figure of every domain and each domain's top coefficients."
        ),
        epilog="Python: cdig.report.write_report(maps, 'report.html', y=...). Needs matplotlib: pip install 'cdig[plot]'.",
    )
    p.add_argument("folder", metavar="DIR", help="the folder written by cdig demo or cdig explain")
    p.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="the HTML file to write, which must not exist yet (default: DIR/report.html)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace --out when it is a report cdig wrote (other files are never replaced)",
    )
    p.add_argument(
        "--samples",
        metavar="N",
        type=_int_at_least(1),
        default=8,
        help="samples (the first ones) with their own figures and tables (default: %(default)s)",
    )
    p.add_argument(
        "--top-k",
        metavar="K",
        type=_int_at_least(1),
        default=10,
        help="coefficients per table, by largest |attribution| (default: %(default)s)",
    )
    p.add_argument("--title", metavar="T", default=None, help="the page's title (default: 'cdig report: DIR')")
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.errors import CdigError
    from .report import read_folder, write_report

    folder = Path(args.folder)
    out = Path(args.out) if args.out else folder / "report.html"
    try:
        if folder.is_dir():  # otherwise read_folder says what is wrong with DIR
            _check_report_out(out, args.force)
        found = read_folder(folder)
        write_report(
            found.maps,
            out,
            x=found.x,
            y=found.y,
            y_label=found.y_label,
            y_true=found.y_true,
            class_names=found.class_names,
            samples=args.samples,
            top_k=args.top_k,
            title=args.title or f"cdig report: {folder.resolve().name}",
            info=found.info,
        )
    except CdigError as e:
        raise CliError(_squash(e)) from None
    except OSError as e:
        raise CliError(f"--out {out}: cannot write the report ({_squash(e)})") from None
    except Exception as e:  # noqa: BLE001 - a hand-edited folder whose values the page cannot show
        raise CliError(f"{folder}: cannot make a report of this folder ({type(e).__name__}: {_squash(e)})") from None
    n = len(next(iter(found.maps.values())).values)
    print(f"cdig report: {n} sample(s) in {', '.join(found.maps)}; wrote {out} ({out.stat().st_size // 1024} kB)")
    return 0


def _check_report_out(out: Any, force: bool) -> None:
    """``cdig report --out``: a new file in a writable folder, or with ``--force`` a report cdig wrote."""
    import os

    from .report import is_cdig_report

    if out.is_dir():
        raise CliError(f"--out {out}: is a folder; give a file name, e.g. {out / 'report.html'}")
    if out.exists() or out.is_symlink():
        if not is_cdig_report(out):
            raise CliError(f"--out {out}: exists and is not a report cdig wrote; not replaced, give another --out")
        if not force:
            raise CliError(f"--out {out}: exists (a report cdig wrote); give --force to replace it, or another --out")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: its folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise CliError(f"--out {out}: its folder {out.parent} is not writable")


#: The subcommands, in the order ``cdig --help`` lists them.
COMMANDS: tuple[Callable[[Any], None], ...] = (_add_demo, _add_explain, _add_report)


def build_parser() -> argparse.ArgumentParser:
    """The ``cdig`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="cdig",
        description="Cross-Domain Integrated Gradients: explain time-series models in time, frequency, "
        "independent components and more.",
        epilog="Run 'cdig COMMAND --help' for a command's options. Python API: import cdig; cdig.explain(...).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cdig`` command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    ``--help``, ``--version`` and argument errors exit through argparse (``SystemExit`` with 0 or 2).
    A problem with the user's files or options (:class:`CliError`, any :class:`cdig.CdigError`, an
    ``OSError`` such as a full disk) is one line, status 2; a missing optional dependency is reported
    in one line with the install hint, status 1; Ctrl-C, wherever it lands, is one line, status 130.
    """
    from .core.errors import CdigError, one_line

    command = "cdig"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        command = f"cdig {args.command}"
        return int(args.run(args))
    except CliError as e:
        print(f"{command}: error: {e}", file=sys.stderr)
        return 2
    except CdigError as e:
        print(f"{command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"{command}: error: {one_line(e)}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        import signal

        if argv is None:  # run as the ``cdig`` program: a second Ctrl-C ends the process at once, quietly
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # (not when called from Python: its handler stays)
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
