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
from typing import Any, Callable, Sequence

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


def _steps(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a positive integer nor 'auto'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer (or 'auto')")
    return value


# --- subcommands --------------------------------------------------------------------------------
def _add_demo(sub: Any) -> None:
    from .demo import DEFAULT_EPOCHS, DEFAULT_STEPS

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
            "Needs torch, scikit-learn and matplotlib: pip install 'cdig[all]'."
        ),
    )
    p.add_argument("--out", metavar="DIR", default="cdig-demo",
                   help="folder for the results, created if needed (default: %(default)s)")
    p.add_argument("--samples", metavar="N", type=_int_at_least(2, 100), default=32,
                   help="held-out samples to explain, half of each class, 2-100 (default: %(default)s)")
    p.add_argument("--epochs", metavar="E", type=_int_at_least(1), default=DEFAULT_EPOCHS,
                   help="training epochs (default: %(default)s)")
    p.add_argument("--steps", metavar="S", type=_steps, default=DEFAULT_STEPS,
                   help="integration points per sample (Gauss-Legendre), or 'auto' for the adaptive rule "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="seed of the data split, the training and the ICA (default: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, n_explain=args.samples, epochs=args.epochs, n_steps=args.steps, seed=args.seed,
             progress=args.progress, verbose=True)
    return 0


#: The subcommands, in the order ``cdig --help`` lists them.
COMMANDS: tuple[Callable[[Any], None], ...] = (_add_demo,)


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
    A missing optional dependency is reported in one line with the install hint, status 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except ImportError as e:
        print(f"cdig {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print(f"cdig {args.command}: interrupted", file=sys.stderr)
        return 130
